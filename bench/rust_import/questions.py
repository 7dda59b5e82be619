"""What an import is for, answered from the program and the model alone.

Everything here reads a compiled program whose functions carry rustc's
layouts (``fn_native``), so it answers the same for a fresh import and for
a workload file loaded later (``pinbench explain``):

- the biggest roots, as trees with rustc's names;
- per async body its size, its largest suspend state and what that holds;
- captures stored twice (recorded at import, in the summary);
- per awaited child: the root's size if that child were ``Box::pin``ned;
- the fewest edges to box so that every future fits under a limit.
"""

from __future__ import annotations

import itertools

import numpy as np

from ...model.native import rust_sizes
from ...strategies import BUILTIN
from ..formatting import grouped
from ..metrics import BY_NAME
from ...model.program import OP_CALL, OP_JOIN, OP_SELECT

DEFAULT_MAX_FUTURE_BYTES = 16384  # clippy's large_futures threshold
_SEARCH_BUDGET = 20_000  # model evaluations for the exact fewest-boxes search


def source_boxed(program) -> np.ndarray:
    pinned = program.edge_pinned if program.edge_pinned is not None else np.zeros_like(program.edge_back)
    return (program.edge_back | pinned).astype(np.int64)


def sizes_with(program, boxed) -> list:
    return rust_sizes(program, boxed, [False] * len(program.fn_names))


def label(program, fn: int) -> str:
    frame = program.fn_native[fn] if program.fn_native else None
    return frame.path if frame is not None else program.fn_names[fn]


def roots(program) -> list:
    """The imported roots: the entry, or what the synthetic entry spawns."""
    entry = int(program.entry)
    if program.fn_native and program.fn_native[entry] is not None:
        return [entry]
    start, count = int(program.fn_step_start[entry]), int(program.fn_step_count[entry])
    return [int(program.edge_callee[int(program.step_edge_start[s])]) for s in range(start, start + count)]


def edges_of(program, fn: int):
    """(edge, step op) of each child edge of ``fn``, in step order."""
    start, count = int(program.fn_step_start[fn]), int(program.fn_step_count[fn])
    for s in range(start, start + count):
        first = int(program.step_edge_start[s])
        for e in range(first, first + int(program.step_edge_count[s])):
            yield e, int(program.step_op[s])


def tree_lines(program, root: int, sizes, boxed, depth_limit=12) -> list:
    """The await tree under ``root``: one line per edge, indented."""
    lines = [f"{label(program, root)}  {sizes[root]:,} bytes"]

    def walk(fn, depth, seen):
        for e, op in edges_of(program, fn):
            child = int(program.edge_callee[e])
            how = "boxed" if boxed[e] else "inline"
            kind = {OP_CALL: "", OP_JOIN: "join ", OP_SELECT: "select "}.get(op, "")
            lines.append(f"{'  ' * depth}- {kind}{label(program, child)}  {sizes[child]:,} bytes, {how}")
            if child not in seen and depth < depth_limit and not program.edge_back[e]:
                walk(child, depth + 1, seen | {child})

    walk(root, 1, {root})
    return lines


def box_here(program) -> list:
    """Per edge not yet boxed: (edge, root, root's size now, root's size if
    boxed, bytes of the allocation it adds per task)."""
    base = source_boxed(program)
    now = sizes_with(program, base)
    out = []
    for root in roots(program):
        for e in _inline_edges_under(program, root, base):
            trial = base.copy()
            trial[e] = 1
            after = sizes_with(program, trial)
            out.append((e, root, now[root], after[root], now[int(program.edge_callee[e])]))
    return out


def _inline_edges_under(program, root: int, boxed) -> list:
    found, stack, seen = [], [root], {root}
    while stack:
        fn = stack.pop()
        for e, _ in edges_of(program, fn):
            child = int(program.edge_callee[e])
            if not boxed[e]:
                found.append(e)
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return sorted(set(found))


def fewest_boxes(program, limit: int):
    """(edges, exact) the fewest inline edges to box so that every future
    allocated per task (each root, and each boxed child) is at most
    ``limit`` bytes; exact when the search finished within its budget,
    else greedy (the largest inline child first). None if no choice fits
    (a future too big by its own fields)."""
    base = source_boxed(program)
    candidates = sorted({e for r in roots(program) for e in _inline_edges_under(program, r, base)})

    def fits(chosen) -> bool:
        trial = base.copy()
        trial[list(chosen)] = 1
        sizes = sizes_with(program, trial)
        allocated = set(roots(program)) | {int(program.edge_callee[e]) for e in np.flatnonzero(trial)}
        return all(sizes[f] <= limit for f in allocated)

    if fits(()):
        return [], True
    evaluations = 0
    for k in range(1, len(candidates) + 1):
        for chosen in itertools.combinations(candidates, k):
            evaluations += 1
            if evaluations > _SEARCH_BUDGET:
                return _greedy(program, base, candidates, fits), False
            if fits(chosen):
                return list(chosen), True
    return None, True


def _greedy(program, base, candidates, fits):
    sizes = sizes_with(program, base)
    chosen = []
    for e in sorted(candidates, key=lambda e: -sizes[int(program.edge_callee[e])]):
        chosen.append(e)
        if fits(chosen):
            return chosen
    return None


def edge_text(program, e: int) -> str:
    """``parent -> child (await N)``, with rustc's names."""
    step = int(np.searchsorted(program.step_edge_start, e, side="right")) - 1
    parent = int(np.searchsorted(program.fn_step_start, step, side="right")) - 1
    # several functions may have no steps: take the last whose steps start at or before this one
    while int(program.fn_step_count[parent]) == 0 or int(program.fn_step_start[parent]) > step:
        parent -= 1
    number = step - int(program.fn_step_start[parent]) + 1
    return f"{label(program, parent)} -> {label(program, int(program.edge_callee[e]))} (await {number})"


def report(program, limit: int = DEFAULT_MAX_FUTURE_BYTES, top: int = 5) -> str:
    """The answers as text: the terminal summary and ``explain``'s section."""
    if not program.fn_native or not any(program.fn_native):
        return ""
    base = source_boxed(program)
    sizes = sizes_with(program, base)
    out = ["Biggest roots (rustc's sizes, the children inline as compiled):"]
    for root in sorted(roots(program), key=lambda r: -sizes[r])[:top]:
        out += ["  " + line for line in tree_lines(program, root, sizes, base)]
    out.append("")
    out.append("Per async body: size, largest suspend state:")
    order = sorted((f for f, n in enumerate(program.fn_native) if n is not None), key=lambda f: -sizes[f])
    for fn in order:
        frame = program.fn_native[fn]
        out.append(f"  {label(program, fn)}: {sizes[fn]:,} bytes, alignment {frame.align}")
        if frame.largest:
            out.append(f"    largest state: {frame.largest}")
    out.append("")
    twice = [(fn, name, size) for fn in order for name, size in program.fn_native[fn].twice]
    if twice:
        out.append("Captures stored twice (an upvar and a local of the same name in one state):")
        out += [f"  {label(program, fn)}: `{name}`, {size:,} bytes wasted" for fn, name, size in twice]
        out.append("")
    out.append("Box here (the root's size if that child were Box::pin'ned; the allocation it adds per task):")
    rows = box_here(program)
    for e, root, now, after, alloc in sorted(rows, key=lambda r: r[3] - r[2])[:20]:
        out.append(f"  {edge_text(program, e)}: {label(program, root)} {now:,} -> {after:,} bytes, "
                   f"+1 allocation of {alloc:,} bytes")
    if not rows:
        out.append("  (every awaited child is already boxed)")
    chosen, exact = fewest_boxes(program, limit)
    out.append("")
    if chosen is None:
        out.append(f"No set of boxes brings every future under {limit:,} bytes: some future is that big by itself.")
    elif not chosen:
        out.append(f"Every future already fits under {limit:,} bytes.")
    else:
        out.append(f"Box {'this edge' if len(chosen) == 1 else f'these {len(chosen)} edges'} to fit every future under {limit:,} bytes "
                   f"({'fewest allocations' if exact else 'greedy, the search was too large'}):")
        out += [f"  {edge_text(program, e)}" for e in chosen]
    return "\n".join(out) + "\n"


def strategies_text(program) -> str:
    """One task of the workload under every strategy, run by the executor
    (counts only, its interpreter): the columns are metrics.py's."""
    from ..runner import execute  # deferred: loads the executor, which explain and report need not

    columns = [BY_NAME[name] for name in ("allocs_per_task", "bytes_per_task", "peak_bytes_per_live_task")]
    lines = ["", "The same tree under every strategy (pinbench explain draws each layout):"]
    lines.append("  " + " | ".join(["strategy"] + [c.label for c in columns]))
    for name in BUILTIN:
        metrics = execute(program, name, "system")
        lines.append("  " + " | ".join([name] + [grouped(metrics[c.name], 0) for c in columns]))
    return "\n".join(lines) + "\n"
