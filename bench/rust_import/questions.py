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

from ...model.errors import UsageError
from ...model.native import imported_size, rust_sizes
from ...strategies import BUILTIN
from ..console import one_line
from ..formatting import grouped
from ..metrics import BY_NAME
from ...model.program import OP_CALL, OP_JOIN, OP_SELECT

DEFAULT_MAX_FUTURE_BYTES = 16384  # clippy's large_futures threshold
_SEARCH_BUDGET = 20_000  # model evaluations for the exact fewest-boxes search


def source_boxed(program) -> np.ndarray:
    pinned = program.edge_pinned if program.edge_pinned is not None else np.zeros_like(program.edge_back)
    return (program.edge_back | pinned).astype(np.int64)


def sizes_with(program, boxed) -> list:
    """Every future's size with ``boxed`` edges boxed (the whole program)."""
    return rust_sizes(program, boxed, [False] * len(program.fn_names))


class Sizer:
    """The imported futures' sizes as compiled, and what boxing a few more
    edges changes, recomputing only the futures that hold the changed ones
    inline (their inline ancestors, callees first): the questions below ask
    this once per edge, so a whole-program recomputation each time would make
    an import quadratic in the size of the crate."""

    def __init__(self, program):
        self.program = program
        self.base = source_boxed(program)
        n = len(program.fn_names)
        self.edge_fn = np.repeat(np.repeat(np.arange(n), program.fn_step_count), program.step_edge_count)
        self.sizes, self.aligns = [0] * n, [8] * n
        parents = [[] for _ in range(n)]  # callee -> the functions holding it inline
        for e in np.flatnonzero(self.base == 0):
            parents[int(program.edge_callee[e])].append(int(self.edge_fn[e]))
        self.parents = parents
        self.order = {fn: i for i, fn in enumerate(program.view.callees_first())}
        for fn in sorted(self.order, key=self.order.get):
            self._size(fn, self.base, self.sizes, self.aligns)

    def _size(self, fn, boxed, sizes, aligns) -> None:
        frame = self.program.fn_native[fn] if self.program.fn_native else None
        if frame is not None:
            sizes[fn], aligns[fn] = imported_size(self.program, fn, frame, boxed, sizes.__getitem__, aligns)

    def ancestors(self, fns) -> list:
        """``fns`` and every function holding one of them inline, callees first."""
        seen, stack = set(fns), list(fns)
        while stack:
            for parent in self.parents[stack.pop()]:
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        return sorted(seen, key=lambda f: self.order.get(f, -1))

    def boxing(self, edges) -> tuple:
        """(sizes, boxed) with ``edges`` boxed too; sizes is a dict overlay of
        the functions whose size changed: read it with ``size(sizes, fn)``."""
        boxed = self.base.copy()
        boxed[list(edges)] = 1
        sizes, aligns = _Overlay(self.sizes), _Overlay(self.aligns)
        for fn in self.ancestors({int(self.edge_fn[e]) for e in edges}):
            self._size(fn, boxed, sizes, aligns)
        return sizes, boxed


class _Overlay(dict):
    """A few changed values over a base list."""

    def __init__(self, base):
        super().__init__()
        self.base = base

    def __missing__(self, fn):
        return self.base[fn]


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


def box_here(program, sizer=None) -> list:
    """Per edge not yet boxed under a root: (edge, root, root's size now,
    root's size if boxed, bytes of the allocation it adds per task)."""
    sizer = sizer or Sizer(program)
    the_roots = set(roots(program))
    out = []
    for e in sorted({e for r in the_roots for e in _inline_edges_under(program, r, sizer.base)}):
        after, _ = sizer.boxing([e])
        for fn in after:  # every future holding the edge inline was recomputed
            if fn in the_roots:
                out.append((e, fn, sizer.sizes[fn], after[fn], sizer.sizes[int(program.edge_callee[e])]))
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
    return found


def fewest_boxes(program, limit: int, sizer=None):
    """(edges, exact): the fewest inline edges to box so that every future
    allocated per task (each root, and each boxed child) is at most
    ``limit`` bytes; exact when the search finished within its budget,
    else greedy (the largest inline child first). (None, True) when no
    choice fits (a future too big by its own fields)."""
    sizer = sizer or Sizer(program)
    the_roots = roots(program)

    def too_big(chosen) -> list:
        sizes, boxed = sizer.boxing(chosen)
        allocated = set(the_roots) | {int(program.edge_callee[e]) for e in np.flatnonzero(boxed)}
        return [f for f in allocated if sizes[f] > limit]

    over = too_big(())
    if not over:
        return [], True
    # Only edges below a future that is too big can help (boxing shrinks
    # what holds the child, nothing else).
    candidates = sorted({e for f in over for e in _inline_edges_under(program, f, sizer.base)}
                        | {e for r in the_roots for e in _inline_edges_under(program, r, sizer.base)
                           if r in over})
    evaluations = 0
    for k in range(1, len(candidates) + 1):
        for chosen in itertools.combinations(candidates, k):
            evaluations += 1
            if evaluations > _SEARCH_BUDGET:
                return _greedy(program, sizer, candidates, too_big), False
            if not too_big(chosen):
                return list(chosen), True
    return None, True


def _greedy(program, sizer, candidates, too_big):
    chosen = []
    for e in sorted(candidates, key=lambda e: -sizer.sizes[int(program.edge_callee[e])]):
        chosen.append(e)
        if not too_big(chosen):
            return chosen
    return None


def edge_text(program, e: int) -> str:
    """``parent -> child (await N)``, with rustc's names."""
    step = int(np.searchsorted(program.step_edge_start, e, side="right")) - 1
    while int(program.step_edge_count[step]) == 0:  # steps without edges share the next one's start
        step -= 1
    parent = int(np.searchsorted(program.fn_step_start, step, side="right")) - 1
    while int(program.fn_step_count[parent]) == 0:  # so do functions without steps
        parent -= 1
    number = step - int(program.fn_step_start[parent]) + 1
    return f"{label(program, parent)} -> {label(program, int(program.edge_callee[e]))} (await {number})"


def report(program, limit: int = DEFAULT_MAX_FUTURE_BYTES, top: int = 5, rows: int = 25) -> str:
    """The answers as text: the terminal summary and ``explain``'s section."""
    if not program.fn_native or not any(program.fn_native):
        return ""
    sizer = Sizer(program)
    base, sizes = sizer.base, sizer.sizes
    out = ["Biggest roots (rustc's sizes, the children inline as compiled):"]
    for root in sorted(roots(program), key=lambda r: -sizes[r])[:top]:
        out += ["  " + line for line in tree_lines(program, root, sizes, base)]
    out.append("")
    out.append("Per async body: size, largest suspend state:")
    order = sorted((f for f, n in enumerate(program.fn_native) if n is not None), key=lambda f: -sizes[f])
    for fn in order[:rows]:
        frame = program.fn_native[fn]
        out.append(f"  {label(program, fn)}: {sizes[fn]:,} bytes, alignment {frame.align}")
        if frame.largest:
            out.append(f"    largest state: {frame.largest}")
    if len(order) > rows:
        out.append(f"  ... and {len(order) - rows:,} smaller")
    out.append("")
    twice = [(fn, name, size) for fn in order for name, size in program.fn_native[fn].twice]
    if twice:
        out.append("Captures stored twice (an upvar and a local of the same name in one state):")
        out += [f"  {label(program, fn)}: `{name}`, {size:,} bytes wasted" for fn, name, size in twice[:rows]]
        if len(twice) > rows:
            out.append(f"  ... and {len(twice) - rows:,} more, {sum(t[2] for t in twice[rows:]):,} bytes")
        out.append("")
    out.append("Box here (the root's size if that child were Box::pin'ned; the allocation it adds per task):")
    advice = box_here(program, sizer)
    for e, root, now, after, alloc in sorted(advice, key=lambda r: r[3] - r[2])[:rows]:
        out.append(f"  {edge_text(program, e)}: {label(program, root)} {now:,} -> {after:,} bytes, "
                   f"+1 allocation of {alloc:,} bytes")
    if len(advice) > rows:
        out.append(f"  ... and {len(advice) - rows:,} more that save less")
    if not advice:
        out.append("  (every awaited child is already boxed)")
    chosen, exact = fewest_boxes(program, limit, sizer)
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


def strategies_text(per_root: list) -> str:
    """Each root as one task under every strategy, run by the executor
    (counts only, its interpreter): allocations and bytes allocated per
    task (metrics.py's). ``per_root``: (label, program whose entry is that root)."""
    from ..runner import execute  # deferred: loads the executor, which explain and report need not

    allocs, size = BY_NAME["allocs_per_task"], BY_NAME["bytes_per_task"]
    lines = ["", f"The same trees under every strategy ({allocs.label} / {size.label}; "
                 "pinbench explain draws each layout):"]
    header = ["strategy"] + [label_ for label_, _ in per_root]
    rows, notes = [header], []
    for name in BUILTIN:
        row = [name]
        for _, program in per_root:
            try:
                metrics = execute(program, name, "system")
            except UsageError as error:  # a task this strategy cannot hold (a fiber's fixed stack)
                row.append("does not fit")
                notes.append(f"{name}: {one_line(error)}")
                continue
            row.append(f"{grouped(metrics[allocs.name], 0)} / {grouped(metrics[size.name], 0)}")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines += ["  " + "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths)))
              for r in rows]
    lines += [f"  note: {note}" for note in dict.fromkeys(notes)]
    return "\n".join(lines) + "\n"
