"""The await tree as a workload: the same Program the TOML loader builds,
and the workload file that loads back into it.

Every body is a function; every await a step: ``call``, ``join``,
``select``, or ``io(1)`` for a leaf wait. The native sizes come from each
function's ``rust`` table (model/rust_frame.py), so no ``locals`` or
``work`` stands in for them; ``locals`` is the bytes of the body's own state
(its largest state without the awaited futures), which is what the
strategies without a compiler to ask (stacks, slabs, chunks) and g++'s
frames count.
"""

from __future__ import annotations


from ...model.errors import UsageError
from ...model.program import MAX_LOCALS, MAX_NAME, Program, postorder
from ...model.rust_frame import frame_to_table
from ..escape import comment_text


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string: a quote, a backslash and every
    control character escaped (TOML forbids them raw, DEL included); any
    other character as it is (an escaped surrogate pair is not TOML)."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


ENTRY = "tasks"  # the synthetic entry when several roots are imported: it spawns each once


def roots_of(bodies: dict) -> list:
    """The bodies no other body awaits, in file order."""
    awaited = {c for b in bodies.values() for a in b.awaits for c, _ in a.children}
    return [b for b in bodies.values() if b.key not in awaited and not b.leaf]


def pick_roots(bodies: dict, wanted: list, source: str) -> list:
    """``--root`` names: a body's path, its workload name, or for a block
    (or an async closure) FILE:LINE:COL."""
    if not wanted:
        return roots_of(bodies)
    picked = []
    for name in wanted:
        match = [b for b in bodies.values() if not b.leaf and name in (
            b.path, b.name, b.path.partition("@")[2], b.key)]
        if not match:
            raise UsageError(f"{source}: no async fn or block '{name}'; --root takes a path such as "
                             "app::serve or a block's FILE:LINE:COL (the summary lists them)")
        picked.extend(m for m in match if m not in picked)
    return picked


def reachable(bodies: dict, roots: list) -> list:
    order, seen, stack = [], set(), [r.key for r in reversed(roots)]
    while stack:
        key = stack.pop()
        if key in seen:
            continue
        seen.add(key)
        order.append(bodies[key])
        children = [c for a in bodies[key].awaits for c, _ in a.children]
        stack.extend(c for c in reversed(children) if c not in seen)
    return order


def own_bytes(body) -> int:
    """The body's own state: its largest state's fields besides the awaitee."""
    return min(MAX_LOCALS, max([0] + [sum(b for _, _, b in a.locals) for a in body.awaits]))


def back_edges(bodies: dict, entry_keys: list) -> set:
    """(body key, await index, child index) of every edge that closes a
    cycle, found by the compiler's own walk (depth first, in step order)."""
    back, state = set(), {}
    for root in entry_keys:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(_edges(bodies[root])))]
        while stack:
            key, edges = stack[-1]
            edge = next(edges, None)
            if edge is None:
                state[key] = 2
                stack.pop()
                continue
            where, child = edge
            if state.get(child) == 1:
                back.add((key, *where))
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(_edges(bodies[child]))))
    return back


def _edges(body):
    for i, a in enumerate(body.awaits):
        for j, (child, _) in enumerate(a.children):
            yield (i, j), child


def durations(bodies: dict, order: list, back: set) -> dict:
    """Ticks per body (docs/model.md "Durations") with every leaf wait one tick."""
    def awaited(key):
        return [c for i, a in enumerate(bodies[key].awaits) for j, (c, _) in enumerate(a.children)
                if (key, i, j) not in back]

    ticks = {}
    for body in (bodies[key] for key in postorder([b.key for b in order], awaited)):
        total = 0
        for i, a in enumerate(body.awaits):
            if a.kind == "leaf":
                total += 1
                continue
            kids = [ticks.get(c, 0) for j, (c, _) in enumerate(a.children) if (body.key, i, j) not in back]
            if kids:
                total += min(kids) if a.kind == "select" else max(kids)
        ticks[body.key] = total
    return ticks


def build_program(bodies: dict, roots: list, workload: str):
    """(Program, text of the workload file) for ``roots`` and what they await."""
    order = reachable(bodies, roots)
    back = back_edges(bodies, [r.key for r in roots])
    ticks = durations(bodies, order, back)
    program = Program(workload, entry=roots[0].name if len(roots) == 1 else ENTRY)
    lines = ["# Imported by `pinbench import rust` from rustc's -Zprint-type-sizes.",
             "# Each [fn.NAME.rust] table is rustc's layout of that future (docs/workload-files.md).",
             "", "[workload]", f"name = {toml_string(workload)}",
             f"entry = {toml_string(program.entry)}", ""]
    if len(roots) > 1:
        main = program.fn(ENTRY)
        steps = []
        for r in roots:
            main.spawn(r.name)
            steps.append(f"  {{ spawn = {toml_string(r.name)} }},")
        lines += [f"[fn.{ENTRY}]  # every root, one task each", "steps = [", *steps, "]", ""]
    for body in order:
        builder = program.fn(body.name, locals=own_bytes(body), native=body.frame)
        steps = []
        for i, a in enumerate(body.awaits):
            names = [bodies[c].name for c, _ in a.children]
            boxed = [b for _, b in a.children]
            limit = 1 if any((body.key, i, j) in back for j in range(len(names))) else None
            kind = a.kind
            if kind == "select" and len({ticks[c] for c, _ in a.children}) < len(names):
                kind = "join"  # arms that tie cannot be a select the executor decides the same way every time
            limit_text = f", limit = {limit}" if limit is not None else ""
            if kind == "call":
                builder.call(names[0], limit=limit, boxed=boxed[0])
                text = f"{{ call = {toml_string(names[0])}" + (", boxed = true" if boxed[0] else "") + limit_text + " }"
            elif kind in ("join", "select"):
                (builder.join(*names, limit=limit, boxed=boxed) if kind == "join" else builder.select(*names, boxed=boxed))
                flags = ", ".join("true" if b else "false" for b in boxed)
                text = (f"{{ {kind} = [{', '.join(toml_string(n) for n in names)}]"
                        + (f", boxed = [{flags}]" if any(boxed) else "") + (limit_text if kind == "join" else "") + " }")
            else:
                builder.io(1)
                text = "{ io = 1 }"
            steps.append(f"  {text},  # {_comment(a)}")
        lines += [f"[fn.{body.name}]  # {_comment_path(body)}", f"locals = {own_bytes(body)}",
                  "steps = [", *steps, "]", f"[fn.{body.name}.rust]"]
        for key, value in frame_to_table(body.frame).items():
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return program, "\n".join(lines)


def _comment(a) -> str:
    return _one_line(f"await {a.awaitee} ({a.bytes:,} bytes)")


def _comment_path(body) -> str:
    return _one_line(f"{body.path}: {body.size:,} bytes, alignment {body.align}")


def _one_line(text: str) -> str:
    """User text (rustc's names come from the crate) in a TOML comment."""
    return comment_text(" ".join(text.split()))


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }" if value else "{}"
    return "[" + ", ".join(_toml_value(v) for v in value) + "]"


def workload_name(text: str) -> str:
    """The crate's or file's name as a workload name: one printable line of
    at most MAX_NAME characters (model/program.py's rule)."""
    name = "".join(c if c.isprintable() else "?" for c in " ".join(text.split()))[:MAX_NAME]
    return name or "imported"
