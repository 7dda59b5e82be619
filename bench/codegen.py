"""The compiled engine's code generator: one (program, layout) -> C.

Every function of the program becomes C functions with everything the
interpreter (cython_core/_executor.pyx) reads from arrays folded in as
constants: a poll (top-down) or resume (bottom-up) that is a ``switch`` over
the function's steps, a drop, and for parents of bottom-up coroutines the
code a finishing child runs. Frames are the very bytes the interpreter uses
(the layout's sizes and offsets), built, moved, freed and counted in the
same order, so every counter is the same under both engines (the tests
assert it); the executor's loop, queue, timer wheel, tasks, waiters and
allocators are called through ``pb_services`` (cython_core/runtime.h).

The generated code mirrors the interpreter statement by statement: when
one changes, so must the other (tests/test_engine.py compares them on every
workload, strategy and allocator and on random programs).

Long bodies repeat themselves (``yield_many``: a million ``yield_now``;
``select_loop``: ``work, select(fast), work, select(slow)`` again and
again), so a run of steps repeating with a short period is emitted once,
as a loop over its steps' indices (the step index in the header stays the
interpreter's). A repetition may place its children further on in the
frame (halo gives every elided call and select its own space): a child's
place is then its first one plus a stride times the repetition, which the
step index gives, so such runs fold too.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

import numpy as np

from ..model import program as ops
from ..model.layout import BOX, BOX_ON_SUSPEND, CHUNKS, HEAP, INLINE, STACK
from ..model.native import CLANG
from .emitter import Emitter
from .escape import comment_text

# Bump whenever the generated code changes: it is part of the cache key.
GENERATOR_VERSION = 10  # 2: frames count their native size (fn_bytes); 3: stacks and slabs;
# 4: a move copies only where the native program does (layout.copied_moves);
# 5: repeating steps whose children's places move by a stride fold into loops;
# 6: a top-down call whose child is always built waits on the child's poll alone;
# 7: the layout's facts tasks.h branches on are constants (PB_LAYOUT_*);
# 8: each root's poll is a function of its own (root<f>), tail-called by poll_root;
# the entry tasks spawned by the engine (spawn_entries); PB_HEAP engines finish
# their tasks (pb_task_done_block); PB_F_STARTED only where a cell or locals need it;
# 9: a function that never suspends keeps its locals on its poll's stack (fn_stack_locals);
# 10: ... in a poll not inlined, and its work folds only where the native program's may (not clang's)

# The longest work step on the poll's stack unrolled in full: rustc -O
# (LLVM) unrolls the work loop in full up to 32 bytes and keeps the loop
# from 48 (docs/validation.md, "Locals on the poll's stack").
FULL_UNROLL_WORK = 32

# Longest period of repeating steps that is folded into a loop.
MAX_PERIOD = 16

_AWAITS_CHILDREN = (ops.OP_CALL, ops.OP_JOIN, ops.OP_SELECT)


@dataclass(frozen=True)
class _Edge:
    pos: int  # position among the step's callees
    callee: int
    back: bool
    limit: int
    boxed: bool
    offset: int
    place: int  # INLINE, BOX, STACK or OWN (model/layout.py)
    # In a folded segment whose repetitions place the child further on
    # (halo: every elided call or select its own space in the frame), the
    # bytes the slot moves per repetition; the segment's first step and
    # period give the repetition from the frame's pc.
    stride: int = 0
    first: int = 0
    period: int = 1

    def slot(self, fr: str) -> str:
        """The address, in C, of the child's place (inline) or box pointer in the frame ``fr``."""
        if not self.stride:
            return f"{fr} + {self.offset}"
        repetition = f"((pb_hdr *){fr})->pc"
        if self.first:
            repetition = f"({repetition} - {self.first}u)"
        if self.period > 1:
            repetition = f"{repetition} / {self.period}u"
        sign = "+" if self.stride > 0 else "-"
        return f"{fr} + ({self.offset} {sign} {abs(self.stride)} * (int64_t)({repetition}))"


@dataclass(frozen=True)
class _Step:
    op: int
    arg: int
    wait: bool
    edges: tuple


@dataclass(frozen=True)
class _Segment:
    """Steps start .. start + period * repeats - 1 of a function, where
    step start + i is ``steps[i % period]``."""

    start: int
    period: int
    repeats: int
    steps: tuple

    @property
    def end(self) -> int:
        return self.start + self.period * self.repeats


def fingerprint(program, layout) -> str:
    """A hash of everything the generated code depends on."""
    h = hashlib.sha256()
    for name in (
        "fn_locals", "fn_generator", "fn_step_start", "fn_step_count", "step_op", "step_arg",
        "step_wait", "step_edge_start", "step_edge_count", "edge_callee", "edge_back", "edge_limit",
    ):
        h.update(name.encode())
        h.update(np.ascontiguousarray(getattr(program, name), dtype=np.int64).tobytes())
    h.update(f"entry={program.entry}".encode())
    for name in (
        "fn_size", "fn_bytes", "fn_locals_offset", "fn_cell_size", "fn_stack_locals", "fn_child_offset",
        "edge_boxed", "edge_offset",
    ):
        h.update(name.encode())
        h.update(np.ascontiguousarray(getattr(layout, name), dtype=np.int64).tobytes())
    h.update(f"bottom_up={bool(layout.bottom_up)} moves={bool(layout.moves)} storage={layout.storage}".encode())
    h.update(f"copied_moves={tuple(layout.copied_moves)}".encode())
    h.update(np.ascontiguousarray(layout.edge_place, dtype=np.int64).tobytes())
    h.update(f"header={layout.header_bytes} frame_compiler={layout.frame_compiler}".encode())
    return h.hexdigest()


def segments(ids: list) -> list:
    """(start, period, repeats) covering ``ids`` in order: at each position
    the period (up to MAX_PERIOD) whose repetition covers the most steps,
    else a single step."""
    n = len(ids)
    if n == 0:
        return []
    arr = np.asarray(ids, dtype=np.int64)
    # next_diff[p][j]: the first k >= j with ids[k] != ids[k + p] (n - p if none)
    next_diff = {}
    for p in range(1, min(MAX_PERIOD, n // 2) + 1):
        same = arr[:-p] == arr[p:]
        idx = np.where(~same, np.arange(n - p), n - p)
        next_diff[p] = np.minimum.accumulate(idx[::-1])[::-1]
    out = []
    i = 0
    while i < n:
        best_p, best_r = 1, 1
        for p, nd in next_diff.items():
            if i + 2 * p > n:
                break
            repeats = (int(nd[i]) - i + p) // p
            if repeats >= 2 and p * repeats > best_p * best_r:
                best_p, best_r = p, repeats
        out.append((i, best_p, best_r))
        i += best_p * best_r
    return out


class _Gen:
    def __init__(self, program, layout):
        self.p = program
        self.l = layout
        self.bottom_up = bool(layout.bottom_up)
        self.moves = bool(layout.moves)
        self.n = len(program.fn_names)
        self.out = Emitter()
        # The layout's facts per edge, read with the program's view (model/program_view.py).
        self.edge_facts = (layout.edge_boxed.tolist(), layout.edge_offset.tolist(), layout.edge_place.tolist())
        # Stacks and slabs (bottom-up only): frames come from the core's
        # frame_new/frame_release, and a growing stack may move a frame.
        self.storage = int(layout.storage) != HEAP
        # .NET and Java: a frame about to suspend moves (boxed; frozen into a chunk)
        self.boxes_on_suspend = int(layout.storage) in (BOX_ON_SUSPEND, CHUNKS)
        self.chunks = int(layout.storage) == CHUNKS
        # Whether the native program's work loop is open to its optimizer,
        # so constants in it may fold: rustc's and g++'s are; clang's is
        # opaque on purpose (bench/validate/clang.py: the locals are data).
        self.folds_work = not (self.bottom_up and layout.frame_compiler == CLANG)
        self.fn_steps = [self._steps(f) for f in range(self.n)]
        self.fn_segments = [self._segments(f) for f in range(self.n)]
        spawns = program.step_edge_start[program.step_op == ops.OP_SPAWN]
        spawned = set(program.edge_callee[spawns].tolist())
        self.roots = sorted(spawned | {int(program.entry)})
        self.generator = [bool(g) for g in program.fn_generator]

    # -- the program, per function ----------------------------------------

    def _steps(self, f: int) -> list:
        """The function's steps; identical steps are one object (bodies can
        have a million steps, mostly alike)."""
        boxed, offset, place = self.edge_facts
        steps, interned = [], {}
        for step in self.p.view.functions[f].steps:
            edges = tuple((pos, e.callee, e.back, e.limit, bool(boxed[e.index]), offset[e.index], place[e.index])
                          for pos, e in enumerate(step.edges))
            sig = (step.op, step.arg, step.wait, edges)
            found = interned.get(sig)
            if found is None:
                found = interned[sig] = _Step(step.op, step.arg, step.wait, tuple(_Edge(*edge) for edge in edges))
            steps.append(found)
        return steps

    def _segments(self, f: int) -> list:
        """The function's steps as segments: runs of steps that repeat the
        same shape (everything but where the children go) become loops
        when each child's place is the same in every repetition or moves
        on by the same bytes (a stride, as halo gives every elided call or
        select its own space); other runs of that shape fall back to runs
        of identical steps."""
        steps = self.fn_steps[f]
        exact: dict = {}
        ids = [exact.setdefault(id(step), len(exact)) for step in steps]
        shape_of: dict = {}
        shapes: dict = {}
        for step in steps:
            if id(step) not in shape_of:
                shape = (step.op, step.arg, step.wait,
                         tuple((e.pos, e.callee, e.back, e.limit, e.boxed, e.place) for e in step.edges))
                shape_of[id(step)] = shapes.setdefault(shape, len(shapes))
        out = []
        for start, period, repeats in segments([shape_of[id(step)] for step in steps]):
            folded = self._folded(steps, start, period, repeats)
            if folded is not None:
                out.append(folded)
                continue
            end = start + period * repeats
            out.extend(_Segment(start + first, p, r, tuple(steps[start + first : start + first + p]))
                       for first, p, r in segments(ids[start:end]))
        return out

    @staticmethod
    def _folded(steps: list, start: int, period: int, repeats: int) -> _Segment | None:
        """Steps ``start`` .. of one shape repeating as one segment, each
        child's place moving by a constant stride per repetition; None
        when some place does not."""
        once = tuple(steps[start : start + period])
        if repeats == 1 or not any(step.edges for step in once):  # no places: the steps are the same
            return _Segment(start, period, repeats, once)
        strides = [[b.offset - a.offset for a, b in zip(step.edges, steps[start + period + k].edges)]
                   for k, step in enumerate(once)]
        for j in range(2, repeats):
            for k, step in enumerate(once):
                again = steps[start + j * period + k]
                if again is step and not any(strides[k]):
                    continue
                if any(e.offset != a.offset + j * d for e, a, d in zip(again.edges, step.edges, strides[k])):
                    return None
        if not any(map(any, strides)):
            return _Segment(start, period, repeats, once)
        moved = tuple(
            _Step(step.op, step.arg, step.wait, tuple(
                dataclasses.replace(e, stride=d, first=start, period=period) if d else e
                for e, d in zip(step.edges, strides[k])))
            for k, step in enumerate(once))
        return _Segment(start, period, repeats, moved)

    def size(self, f: int) -> int:
        return int(self.l.fn_size[f])

    def counted(self, f: int) -> int:
        """What a frame of ``f`` counts (allocated, live, moved): the native size."""
        return int(self.l.fn_bytes[f])

    def cell(self, f: int) -> int:
        return int(self.l.fn_cell_size[f])

    def moves_word(self) -> str:
        """pb_engine.moves, as the executor sets its own from the layout (runtime.h)."""
        bits = ["PB_MOVED"] if self.moves else []
        bits += [f"PB_COPIES_INTO << {place}" for place in self.l.copied_moves]
        return f"(uint32_t)({' | '.join(bits) or '0'})"

    def loff(self, f: int) -> int:
        return int(self.l.fn_locals_offset[f])

    def coff(self, f: int) -> int:
        return int(self.l.fn_child_offset[f])

    def frame_locals(self, f: int) -> int:
        """Bytes of locals in the frame (none in a cell or on the stack)."""
        return 0 if self.cell(f) else self.coff(f) - self.loff(f)

    def stack_locals(self, f: int) -> int:
        return int(self.l.fn_stack_locals[f])

    # -- emitting ----------------------------------------------------------

    def locals_of(self, f: int, fr: str) -> str:
        if self.cell(f):
            return f"(*(char **)({fr} + {self.loff(f)}) + PB_CELL_HEADER)"
        if self.stack_locals(f):
            return "locals"  # the poll's own array (poll)
        return f"({fr} + {self.loff(f)})"

    def start(self, f: int, fr: str, h: str):
        """First entry: the cell, or zeroed locals (the interpreter's start)."""
        self.out.line(f"{h}->flags |= PB_F_STARTED;")
        cell = self.cell(f)
        if cell:
            self.out.line(
                "{",
                f"    char *cell = pb_mem_alloc(ex, {cell});",
                "    if (cell == NULL) {",
                f"        {h}->flags &= ~(uint32_t)PB_F_STARTED;",
                "    } else {",
                f"        memset(cell, 0, {cell});",
                "        ((uint64_t *)cell)[0] = 1;",
                "        ((uint64_t *)cell)[1] = 1;",
                f"        *(char **)({fr} + {self.loff(f)}) = cell;",
                "    }",
                "}",
            )
        elif self.frame_locals(f):
            self.out.line(f"memset({fr} + {self.loff(f)}, 0, {self.frame_locals(f)});")

    def release_cell(self, f: int, fr: str, h: str):
        cell = self.cell(f)
        if cell:
            self.out.line(
                f"if ({h}->flags & PB_F_STARTED) {{",
                "    ex->c.refcount_ops += 1;",
                f"    pb_mem_free(ex, *(char **)({fr} + {self.loff(f)}), {cell});",
                "}",
            )

    def await_begins(self, f: int):
        if self.cell(f):
            self.out.line("ex->c.refcount_ops += 2;")

    def work(self, f: int, n: int, fr: str, h: str, fresh: bool = False):
        """``fresh``: no step before this one changed acc, so it is still
        the 0 it was built with, a constant the compiler may fold."""
        if n <= 0:
            return
        # On the poll's stack, as in LLVM's code for rustc's program: a loop
        # this short is unrolled in full, the zeroed bytes it reads fold
        # away, and only the bytes it writes and reads stay.
        unrolled = self.folds_work and self.stack_locals(f) and n <= FULL_UNROLL_WORK
        self.out.line(
            "{",
            f"    unsigned char *mem = (unsigned char *){self.locals_of(f, fr)};",
            f"    uint64_t acc = {'0' if fresh and self.folds_work else f'{h}->acc'};",
            "    int64_t i;",
            *([f"#pragma GCC unroll {n}"] if unrolled else []),
            f"    for (i = 0; i < {n}; i++) {{",
            "        unsigned char b = (unsigned char)(mem[i] + (acc & 0xff) + 1);",
            "        mem[i] = b;",
            "        acc = (acc ^ b) * PB_FNV_PRIME;",
            "    }",
            f"    {h}->acc = acc;",
            "}",
        )

    @staticmethod
    def rdepth(edge: _Edge, h: str = "h") -> str:
        return f"{h}->rdepth + 1" if edge.back else f"{h}->rdepth"

    @staticmethod
    def taken(edge: _Edge, h: str = "h") -> str | None:
        """The condition for a back edge to be taken; None: always."""
        if not edge.back:
            return None
        return f"{h}->rdepth < {edge.limit}u" if edge.limit > 0 else "0 /* limit 0 */"

    def child_at(self, e: _Edge, fr: str = "frame") -> str:
        if e.boxed:
            return f"*(char **)({e.slot(fr)})"
        return f"(((pb_hdr *)({e.slot(fr)}))->pc == PB_PC_DONE ? NULL : {e.slot(fr)})"

    def empty_slot(self, e: _Edge, fr: str = "frame") -> str:
        if e.boxed:
            return f"*(char **)({e.slot(fr)}) = NULL;"
        return f"((pb_hdr *)({e.slot(fr)}))->pc = PB_PC_DONE;"

    def free_frame(self, f: int, frame: str) -> str:
        if self.storage:
            return f"ex->svc->frame_release(ex, {frame});"
        return f"pb_mem_free_as(ex, {frame}, {self.size(f)}, {self.counted(f)});"

    def construct_call(self, e: _Edge, arg: str, dest: str) -> str:
        """c<callee>(...): with storage, where the frame goes, and the frame
        whose stack it is pushed on (which may move: ``frame`` follows)."""
        call = f"c{e.callee}(ex, {arg}, {self.rdepth(e)}, {dest}"
        if not self.storage:
            return call + ")"
        return call + (", PB_STACK, &frame)" if e.place == STACK else f", {e.place}, NULL)")

    def release_child(self, e: _Edge, child: str, fr: str = "frame"):
        if e.boxed:
            self.out.line(
                self.free_frame(e.callee, child),
                f"*(char **)({e.slot(fr)}) = NULL;",
            )
        else:
            self.out.line(f"((pb_hdr *){child})->pc = PB_PC_DONE;")

    def drop_children(self, step: _Step, fr: str = "frame", var: str = "sib"):
        """Drop every child of the step still alive (drop, select losers)."""
        out = self.out
        with out.block("{"):
            out.line(f"char *{var};")
            for e in step.edges:
                out.line(f"{var} = {self.child_at(e, fr)};")
                with out.block(f"if ({var} != NULL) {{"):
                    out.line(f"d{e.callee}(ex, {var});")
                    self.release_child(e, var, fr)

    def begin_children(self, f: int, step: _Step):
        """Construct every child of a call/join/select step (the
        interpreter's begin_children); the caller declares ``built`` and
        ``child``."""
        out = self.out
        width = len(step.edges)
        for e in step.edges:
            cond = self.taken(e)
            with out.block(f"if ({cond}) {{" if cond else None, "} else {"):
                arg = f"h->arg * {width}ULL + {e.pos}ULL"
                dest = "NULL" if e.boxed else e.slot("frame")
                call = self.construct_call(e, arg, dest)
                if not e.boxed and not self.bottom_up:
                    out.line(f"{call};", "built += 1;")
                else:
                    out.line(f"child = {call};")
                    if self.storage and e.place == STACK:
                        out.line("h = (pb_hdr *)frame;  /* the stack may have moved it */")
                    if e.boxed:
                        out.line("if (child == NULL) {", f"    {self.empty_slot(e)}")
                    with out.block("} else {" if e.boxed else "{"):
                        if e.boxed:
                            out.line(f"*(char **)({e.slot('frame')}) = child;")
                        if self.bottom_up:
                            out.line(
                                "((pb_bhdr *)child)->parent = frame;",
                                f"((pb_bhdr *)child)->slot = {e.pos};",
                                "((pb_bhdr *)child)->task = ((pb_bhdr *)frame)->task;",
                            )
                        out.line("built += 1;")
            if cond:
                out.line(f"    {self.empty_slot(e)}", "}")
        out.line("h->flags |= PB_F_ACTIVE;", "h->pending = (uint32_t)built;")
        if self.cell(f):
            out.line("if (built)", "    ex->c.refcount_ops += 2;")

    # -- steps ---------------------------------------------------------------

    def step(self, f: int, step: _Step, label: str, suspend: str, fresh: bool = False):
        """The code of one step; ``suspend`` is what a pending poll returns;
        ``fresh``: acc is still 0 (Emitter.work)."""
        op = step.op
        if op == ops.OP_WORK:
            self.work(f, step.arg, "frame", "h", fresh)
        elif op in _AWAITS_CHILDREN:
            if self.bottom_up:
                self.bottom_up_children(f, step, label)
            else:
                self.top_down_children(f, step, label)
        elif op == ops.OP_IO:
            self.io(f, step)
        elif op == ops.OP_YIELD:
            self.yield_now(f)
        elif op == ops.OP_SPAWN:
            self.spawn(f, step, suspend)
        elif op == ops.OP_GEN:
            self.gen(step)
        else:  # pragma: no cover - compile() admits no other op
            raise ValueError(f"unknown step code {op}")

    def first_poll_builds(self, f: int, step: _Step):
        """Top-down: the step's first poll builds its children (a block's
        opening; ``child`` declared for the rest of it)."""
        out = self.out
        out.line("char *child;")
        with out.block("if (!(h->flags & PB_F_ACTIVE)) {"):
            out.line("int built = 0;")
            self.begin_children(f, step)

    def top_down_children(self, f: int, step: _Step, label: str):
        out = self.out
        select = step.op == ops.OP_SELECT
        if step.op == ops.OP_CALL and self.taken(step.edges[0]) is None:
            self.top_down_call(f, step)
            return
        out.line("{")
        with out.indented():
            self.first_poll_builds(f, step)
            for e in step.edges:
                out.line(f"child = {self.child_at(e)};")
                with out.block(f"if (child != NULL && p{e.callee}(ex, task, child)) {{"):
                    out.line("pb_fold(h, ((pb_hdr *)child)->acc);")
                    self.release_child(e, "child")
                    out.line("h->pending -= 1;")
                    if select:
                        self.drop_children(step)
                        out.line(f"goto {label};")
            out.line("if (h->pending)", "    return 0;")
        if select:
            out.line(f"{label}:")  # a label stands at the depth of its block's braces
        out.line("    h->flags &= ~(uint32_t)PB_F_ACTIVE;", "}")

    def top_down_call(self, f: int, step: _Step):
        """An awaited child that is always built: pending is 1 from its
        construction until it completes, so the poll's own result says
        whether to wait (the join's count and its check are not needed). An
        inline child is never done while its parent waits at this step; a
        boxed one is missing only when its allocation failed (the error set),
        and the step then goes on, as a join with nothing built does."""
        out = self.out
        (e,) = step.edges
        out.line("{")
        with out.indented():
            self.first_poll_builds(f, step)
            out.line(f"child = {self.child_at(e) if e.boxed else e.slot('frame')};")
            with out.block("if (child != NULL) {" if e.boxed else None):
                out.line(f"if (!p{e.callee}(ex, task, child))", "    return 0;", "pb_fold(h, ((pb_hdr *)child)->acc);")
                self.release_child(e, "child")
        out.line("    h->flags &= ~(uint32_t)PB_F_ACTIVE;", "}")

    def bottom_up_children(self, f: int, step: _Step, label: str):
        out = self.out
        select = step.op == ops.OP_SELECT
        with out.block("if (!(h->flags & PB_F_ACTIVE)) {"):
            out.line("char *child;", "int built = 0;")
            self.begin_children(f, step)
            if step.op == ops.OP_CALL:
                out.line("if (built)", f"    return {self.child_at(step.edges[0])};")
            else:
                out.line("h->flags |= PB_F_LAUNCHING;")
                for e in step.edges:
                    if select:
                        out.line("if (h->flags & PB_F_WON)", f"    goto {label};")
                    out.line(f"child = {self.child_at(e)};", "if (child != NULL)", "    run_co(ex, child);")
                if select:
                    out.line(f"{label}:")
                out.line("h->flags &= ~(uint32_t)PB_F_LAUNCHING;")
                if select:
                    with out.block("if (h->flags & PB_F_WON) {", "} else if (h->pending) {"):
                        self.drop_children(step)
                else:
                    out.line("if (h->pending) {")
                with out.indented():
                    self.suspending()
                    out.line("return NULL;")
                out.line("}")
        if step.op == ops.OP_CALL:
            out.line("h->flags &= ~(uint32_t)PB_F_ACTIVE;")
        else:
            out.line("h->flags &= ~(uint32_t)(PB_F_ACTIVE | PB_F_WON);")

    def suspending(self, extra: str = ""):
        """.NET: a frame about to suspend moves from the thread's stack into a box."""
        if self.boxes_on_suspend:
            self.out.line("ex->svc->suspending(ex, &frame);", "h = (pb_hdr *)frame;", *([extra] if extra else []))

    def io(self, f: int, step: _Step):
        out = self.out
        leaf = f"leaf = (pb_io_leaf *)(frame + {self.coff(f)});"
        with out.block("{"):
            out.line(f"pb_io_leaf *{leaf}")
            with out.block("if (!(h->flags & PB_F_ACTIVE)) {"):
                self.suspending(leaf)
                out.line(f"leaf->waiter = ex->svc->sleep(ex, task, frame, {step.arg});", "h->flags |= PB_F_ACTIVE;")
                self.await_begins(f)
                out.line("return " + ("NULL;" if self.bottom_up else "0;"))
            if not self.bottom_up:
                out.line(
                    "if (ex->waiters[leaf->waiter].state != PB_W_FIRED)",
                    "    return 0;",
                    "ex->svc->waiter_release(ex, leaf->waiter);",
                )
            out.line("h->flags &= ~(uint32_t)PB_F_ACTIVE;")

    def yield_now(self, f: int):
        out = self.out
        with out.block("if (!(h->flags & PB_F_ACTIVE)) {"):
            if self.bottom_up:
                self.suspending()
                out.line(
                    f"pb_io_leaf *leaf = (pb_io_leaf *)(frame + {self.coff(f)});",
                    "leaf->waiter = ex->svc->waiter_new(ex, task, frame, PB_W_QUEUED);",
                    "ex->svc->enqueue(ex, task, frame, leaf->waiter);",
                    "h->flags |= PB_F_ACTIVE;",
                )
                self.await_begins(f)
                out.line("return NULL;")
            else:
                out.line("h->flags |= PB_F_ACTIVE;")
                self.await_begins(f)
                out.line("ex->svc->wake_task(ex, task);", "return 0;")
        out.line("h->flags &= ~(uint32_t)PB_F_ACTIVE;")

    def spawn(self, f: int, step: _Step, suspend: str):
        out = self.out
        e = step.edges[0]
        count, wait = step.arg, step.wait
        arg = f"h->arg * {count}ULL + (uint64_t)i"
        coff = self.coff(f)
        if not self.storage:  # the root a block of its own: tasks.h, inline, its sizes constants
            spawn = f"{self.spawn_block(e.callee)}{arg}, {self.rdepth(e)}, "
        else:
            spawn = f"ex->svc->spawn_task(ex, {e.callee}u, {arg}, {self.rdepth(e)}, "
        cond = self.taken(e)
        launch = "if (!(h->flags & PB_F_ACTIVE)) {" if wait else None
        # Top-down, a poll before the spawned tasks are done returns (bottom-up is resumed when they are).
        with out.block(launch, "} else {" if self.bottom_up else "} else if (h->pending) {"):
            with out.block(f"if ({cond}) {{" if cond else None), out.block("{"):
                out.line("int64_t i;")
                if wait:
                    self.spawn_waited(f, count, spawn, suspend)
                else:
                    with out.block(f"for (i = 0; i < {count}; i++) {{"):
                        out.line(f"{spawn}NULL, NULL, task);", "if (ex->error)", "    break;")
        if not wait:
            return
        if not self.bottom_up:
            out.line("    return 0;", "} else {")
        with out.indented():
            out.line("int64_t i;")
            if count > 1:
                out.line(f"uint64_t *handles = ((pb_handle_vec *)(frame + {coff}))->ptr;")
            else:
                out.line(f"uint64_t *handles = (uint64_t *)(frame + {coff});")
            out.line(f"for (i = 0; i < {count}; i++)", "    pb_fold(h, handles[i]);")
            if count > 1:
                out.line(f"pb_mem_free(ex, (char *)handles, {8 * count}ULL);")
            out.line("h->flags &= ~(uint32_t)PB_F_ACTIVE;")
        out.line("}")

    def spawn_waited(self, f: int, count: int, spawn: str, suspend: str):
        """Spawn the tasks a step waits for, their handles in the frame
        (one) or in a vector it owns (more)."""
        out = self.out
        coff = self.coff(f)
        out.line("uint64_t *handles;")
        self.suspending()
        if count > 1:
            out.line(
                f"pb_handle_vec *vec = (pb_handle_vec *)(frame + {coff});",
                f"vec->ptr = (uint64_t *)pb_mem_alloc(ex, {8 * count}ULL);",
            )
        with out.block("if (vec->ptr != NULL) {" if count > 1 else "{"):
            if count > 1:
                out.line(f"vec->cap = {count};", f"vec->len = {count};", "handles = vec->ptr;")
            else:
                out.line(f"handles = (uint64_t *)(frame + {coff});")
            out.line("h->flags |= PB_F_ACTIVE;", f"h->pending = {count}u;")
            self.await_begins(f)
            with out.block(f"for (i = 0; i < {count}; i++) {{"):
                out.line(
                    f"{spawn}&handles[i], frame, task);",
                    "if (ex->error)",
                    "    break;  /* the run stops (memory limit): the rest are never spawned */",
                )
            out.line(f"return {suspend};")

    def gen(self, step: _Step):
        """``for item in g`` over n items, synchronously (run_generator)."""
        out = self.out
        e = step.edges[0]
        g, items = e.callee, step.arg
        cond = self.taken(e)
        dest = "NULL" if e.boxed else e.slot("frame")
        with out.block(f"if ({cond}) {{" if cond else None), out.block("{"):
            out.line(f"char *gen = {self.construct_call(e, 'h->arg', dest)};")
            with out.block("if (gen != NULL) {" if e.boxed else "{"):
                out.line("pb_hdr *gh = (pb_hdr *)gen;", "int64_t j;")
                with out.block(f"for (j = 0; j < {items + 1}; j++) {{"):
                    out.line("ex->c.polls += 1;")
                    with out.block("if (j == 0) {"):
                        self.start(g, "gen", "gh")
                    out.line(f"if (j == {items})", "    break;")
                    for s in self.fn_steps[g]:
                        self.work(g, s.arg, "gen", "gh")
                    out.line("pb_fold(h, gh->acc + gh->arg);")
                self.release_cell(g, "gen", "gh")
                out.line("gh->pc = PB_PC_DONE;")
                if e.boxed:
                    out.line(self.free_frame(g, "gen"))

    # -- functions -----------------------------------------------------------

    def case_label(self, seg: _Segment) -> str:
        if seg.end - 1 == seg.start:
            return f"case {seg.start}:"
        return f"case {seg.start} ... {seg.end - 1}:"

    def body(self, f: int, suspend: str):
        """The switch over the steps, resuming at ``h->pc``."""
        out = self.out
        out.line("switch (h->pc) {")
        fresh = True  # only detached spawns so far: nothing changed acc
        for n, seg in enumerate(self.fn_segments[f]):
            with out.case(self.case_label(seg)):
                if seg.repeats == 1 and seg.period == 1:
                    out.line(f"if (ex->error) return {suspend};")
                    self.step(f, seg.steps[0], f"done_{n}", suspend, fresh)
                    out.line(f"h->pc = {seg.start + 1};")
                else:
                    with out.block("for (;;) {"):
                        cycle = seg.period > 1
                        if cycle:
                            out.line(f"switch ((h->pc - {seg.start}u) % {seg.period}u) {{")
                        for k, step in enumerate(seg.steps):
                            with out.case(f"case {k}:" if cycle else None):
                                out.line(f"if (ex->error) return {suspend};")
                                self.step(f, step, f"done_{n}_{k}", suspend)
                                out.line("h->pc++;")
                                if cycle and k + 1 < seg.period:
                                    out.line("PB_FALLTHROUGH;")
                        if cycle:
                            out.line("}")
                        out.line(f"if (h->pc == {seg.end}u)", "    break;")
                out.line("PB_FALLTHROUGH;")
            fresh = fresh and all(s.op == ops.OP_SPAWN and not s.wait for s in seg.steps)
        out.line("default:", "    break;", "}")

    def entry_kind(self, f: int) -> str:
        """How p<f> or r<f> is declared: inline into its callers, but for a
        function with locals on its stack, whose array would otherwise sit
        in the frame of every caller it is inlined into, at each level of a
        recursion; not inlined, it is on the C stack only while it runs
        (it calls nothing)."""
        return "static PB_NOINLINE" if self.stack_locals(f) else "static inline"

    def entry_fn(self, f: int):
        """p<f> (top-down: 1 when returned) or r<f> (bottom-up: the frame to
        transfer to): count the entry, start, run the steps, finish."""
        out = self.out
        if self.bottom_up:
            out.line(f"{self.entry_kind(f)} char *r{f}(pb_ex *ex, char *frame)")
            suspend, done = "NULL", "return child_finished(ex, frame);"
        else:
            out.line(f"{self.entry_kind(f)} int p{f}(pb_ex *ex, uint32_t task, char *frame)")
            suspend, done = "0", "return 1;"
        with out.block("{"):
            if self.bottom_up and self.chunks:  # frozen: thawed back onto the carrier first
                out.line(
                    "if (((pb_bhdr *)frame)->stack != NULL",
                    "        && ((pb_bhdr *)frame)->stack->vthread != ((pb_bhdr *)frame)->stack) {",
                    "    frame = ex->svc->thaw(ex, frame);",
                    "    if (frame == NULL)",
                    "        return NULL;",
                    "}",
                )
            out.line("pb_hdr *h = (pb_hdr *)frame;")
            if self.bottom_up:
                out.line("uint32_t task = ((pb_bhdr *)frame)->task;")
            out.line("(void)task;", "ex->c.polls += 1;")
            if self.stack_locals(f):
                # It never suspends: this is its only poll, and its locals
                # live on the poll's stack, as natively (the compiler keeps
                # only the bytes its work reads).
                out.line(f"unsigned char locals[{self.stack_locals(f)}];",
                         f"memset(locals, 0, {self.stack_locals(f)});")
            elif self.cell(f) or self.frame_locals(f):
                # Nothing reads PB_F_STARTED of a function without a cell
                # or locals, so it is not set: a test and a store less per poll.
                with out.block("if (!(h->flags & PB_F_STARTED)) {"):
                    self.start(f, "frame", "h")
            self.body(f, suspend)
            self.finish(f)
            out.line(done)
        out.line("")

    def finish(self, f: int):
        self.out.line("h->acc = pb_value_of(h);")
        self.release_cell(f, "frame", "h")
        self.out.line("h->pc = PB_PC_DONE;")

    def drop_action(self, f: int, step: _Step) -> bool:
        op = step.op
        return (
            op in _AWAITS_CHILDREN
            or op == ops.OP_IO
            or (op == ops.OP_YIELD and self.bottom_up)
            or (op == ops.OP_SPAWN and step.wait and step.arg > 1)
        )

    def emit_drop_action(self, f: int, step: _Step):
        op = step.op
        if op in _AWAITS_CHILDREN:
            self.drop_children(step)
        elif op in (ops.OP_IO, ops.OP_YIELD):
            self.out.line(
                "{",
                f"    uint32_t waiter = ((pb_io_leaf *)(frame + {self.coff(f)}))->waiter;",
                "    if (waiter != PB_NO_WAITER)",
                "        ex->svc->waiter_cancel(ex, waiter);",
                "}",
            )
        else:
            self.out.line(
                "{",
                f"    pb_handle_vec *vec = (pb_handle_vec *)(frame + {self.coff(f)});",
                "    pb_mem_free(ex, (char *)vec->ptr, 8 * vec->cap);",
                "}",
            )

    def per_step_switch(self, f: int, pc: str, wanted, emit_one):
        """switch (pc) over the steps for which ``wanted(step)``, each case
        running ``emit_one(step)`` (which must not fall through)."""
        out = self.out
        out.line(f"switch ({pc}) {{")
        for seg in self.fn_segments[f]:
            subs = [(k, s) for k, s in enumerate(seg.steps) if wanted(s)]
            if not subs:
                continue
            with out.case(self.case_label(seg)):
                if seg.period == 1:
                    emit_one(seg.steps[0])
                else:
                    out.line(f"switch (({pc} - {seg.start}u) % {seg.period}u) {{")
                    for k, s in subs:
                        with out.case(f"case {k}:"):
                            emit_one(s)
                    out.line("default:", "    break;", "}", "break;")
        out.line("default:", "    break;", "}")

    def drop_fn(self, f: int):
        out = self.out

        def one(step):
            self.emit_drop_action(f, step)
            out.line("break;")

        out.line(f"static inline void d{f}(pb_ex *ex, char *frame)")
        with out.block("{"):
            out.line("pb_hdr *h = (pb_hdr *)frame;", "(void)ex;", "if (h->pc == PB_PC_DONE)", "    return;")
            if any(self.drop_action(f, s) for seg in self.fn_segments[f] for s in seg.steps):
                with out.block("if (h->flags & PB_F_ACTIVE) {"):
                    self.per_step_switch(f, "h->pc", lambda s: self.drop_action(f, s), one)
            self.release_cell(f, "frame", "h")
            out.line("h->pc = PB_PC_DONE;")
        out.line("")

    def is_parent(self, f: int) -> bool:
        return any(s.op in _AWAITS_CHILDREN for seg in self.fn_segments[f] for s in seg.steps)

    def finished_in_fn(self, f: int):
        """A child of ``f`` finished (the interpreter's child_finished)."""
        out = self.out

        def one(step):
            out.line("pb_fold(p, ((pb_hdr *)child)->acc);")
            if len(step.edges) == 1:
                self.release_child(step.edges[0], "child")
            else:
                out.line("switch (slot) {")
                for e in step.edges:
                    with out.case(f"case {e.pos}:"):
                        self.release_child(e, "child")
                        out.line("break;")
                out.line("default:", "    break;", "}")
            out.line("p->pending -= 1;")
            if step.op == ops.OP_CALL:
                out.line("return frame;")
            elif step.op == ops.OP_SELECT:
                out.line("p->flags |= PB_F_WON;", "if (p->flags & PB_F_LAUNCHING)", "    return NULL;")
                self.drop_children(step)
                out.line("return frame;")
            else:
                out.line(
                    "if (p->pending == 0 && !(p->flags & PB_F_LAUNCHING))",
                    "    return frame;",
                    "return NULL;",
                )

        out.line(f"static inline char *k{f}(pb_ex *ex, char *frame, char *child)")
        with out.block("{"):
            out.line("pb_hdr *p = (pb_hdr *)frame;", "uint32_t slot = ((pb_bhdr *)child)->slot;", "(void)ex;",
                     "(void)slot;")
            self.per_step_switch(f, "p->pc", lambda s: s.op in _AWAITS_CHILDREN, one)
            out.line("return NULL;")
        out.line("")

    def construct_fn(self, f: int):
        """Build a future for ``f``: the interpreter's construct. A future
        is written where it lives (its header); a move into a place where
        the native program copies it (``copied_moves``: an inline slot when
        ``dest`` is given, else a box) also copies the rest of its ``size``
        bytes as the staging buffer holds them (the same bytes the
        interpreter copies from there; writing the header straight into
        place lets the poll that follows read it without waiting for a
        block copy to land)."""
        size, header = self.size(f), int(self.l.header_bytes)
        copied = {INLINE, BOX} & set(self.l.copied_moves) if size > header else set()
        if self.storage:
            self.out.line(
                f"static inline char *c{f}(pb_ex *ex, uint64_t arg, uint32_t rdepth, char *dest, int place,",
                "                         char **near)",
                "{",
                "    pb_hdr *h;",
                "    pb_stack *st = NULL;",
                "    if (dest == NULL) {",
                f"        dest = ex->svc->frame_new(ex, {f}u, place, near);",
                "        if (dest == NULL)",
                "            return NULL;",
                "        st = ((pb_bhdr *)dest)->stack;",
                "    }",
            )
        else:
            self.out.line(
                f"static inline char *c{f}(pb_ex *ex, uint64_t arg, uint32_t rdepth, char *dest)",
                "{",
                "    pb_hdr *h;",
                *(["    char *slot = dest;"] if len(copied) == 1 else []),  # where it goes decides the copy
                "    if (dest == NULL) {",
                f"        dest = pb_mem_alloc_as(ex, {size}, {self.counted(f)});",
                "        if (dest == NULL)",
                "            return NULL;",
                "    }",
            )
        self.out.line(
            "    h = (pb_hdr *)dest;",
            f"    h->fn = {f};",
            "    h->pc = 0;",
            "    h->iter = 0;",
            "    h->pending = 0;",
            "    h->rdepth = rdepth;",
            "    h->flags = 0;",
            "    h->arg = arg;",
            "    h->acc = 0;",
        )
        if self.bottom_up:
            self.out.line(
                "    ((pb_bhdr *)h)->parent = NULL;",
                "    ((pb_bhdr *)h)->slot = 0;",
                "    ((pb_bhdr *)h)->task = 0;",
            )
            if self.storage:
                self.out.line("    ((pb_bhdr *)h)->stack = st;")
        if copied:
            copy = f"memcpy(dest + {header}, ex->staging + {header}, {size - header});"
            if len(copied) == 2:
                self.out.line(f"    {copy}")
            else:
                self.out.line(f"    if (slot {'!=' if INLINE in copied else '=='} NULL)", f"        {copy}")
        if self.moves:
            self.out.line(f"    ex->c.moved_bytes += {self.counted(f)};")
        self.out.line("    return dest;", "}", "")

    def spawn_block(self, f: int) -> str:
        """The opening of a call to tasks.h's spawn of a task of ``f``, its
        sizes as constants; the argument, rdepth and awaiter follow."""
        return f"pb_spawn_block(ex, {f}u, {self.size(f)}, {self.counted(f)}, {int(self.l.fn_runtime[f])}, "

    def task_done(self, f: int, task: str) -> str:
        """A statement that finishes task ``task`` whose root, of ``f``, returned:
        its block freed with its sizes as constants (tasks.h)."""
        return f"pb_task_done_block(ex, {task}, {self.size(f)}, {self.counted(f)}, {int(self.l.fn_runtime[f])});"

    def entry_spawn(self):
        """The executor's entry tasks, spawned with the entry's sizes as
        constants (runtime.h, pb_engine.spawn_entries): the spawn inline,
        as a spawn step's, not a call to the executor's spawn_task."""
        self.out.line(
            "static uint32_t spawn_entries(pb_ex *ex, uint64_t first, uint64_t count)",
            "{",
            "    uint64_t i;",
            "    uint32_t id = PB_NO_WAITER;",
            "    for (i = first; i < first + count; i++) {",
            f"        id = {self.spawn_block(int(self.p.entry))}i, 0, NULL, NULL, 0);",
            "        if (id == PB_NO_WAITER)",
            "            break;",
            "    }",
            "    return id;",
            "}",
            "",
        )

    def dispatch(self, signature: str, cases: list, default: str):
        """A function (or, without a signature, the rest of the open one)
        that switches on the frame's function: cases are (fn, statement...)."""
        frame = "b->parent" if not signature else ("root" if "root" in signature else "frame")
        out = self.out
        if signature:
            out.line(signature, "{")
        with out.indented():
            out.line(f"switch (((pb_hdr *){frame})->fn) {{")
            for f, *statements in cases:
                with out.case(f"case {f}:"):
                    out.line(*statements)
            with out.case("default:"):
                out.line(default)
            out.line("}")
        out.line("}", "")

    # -- the whole file --------------------------------------------------------

    def generate(self, key: str) -> str:
        normal = [f for f in range(self.n) if not self.generator[f]]
        mode = "bottom-up (resume)" if self.bottom_up else "top-down (poll)"
        self.out.line(
            # No strategy is named: the C follows from the program and the
            # layout's facts alone, so strategies whose layouts agree (pinbox,
            # anchor_box and rc where nothing borrows) share one engine, one build.
            f"/* pinbench compiled engine: program '{comment_text(self.p.name)}', {mode}.",
            f" * Generated by bench/codegen.py (version {GENERATOR_VERSION}); do not edit.",
            f" * key {key} */",
            # the layout's facts tasks.h branches on, as constants (tasks.h)
            f"#define PB_LAYOUT_BOTTOM_UP(ex) {int(self.bottom_up)}",
            f"#define PB_LAYOUT_MOVES(ex) {self.moves_word()}",
            f"#define PB_LAYOUT_RUNTIME_INSIDE(ex) {int(bool(self.l.runtime_inside))}",
            '#include "runtime.h"',
            "",
        )
        for f in range(self.n):
            self.out.line(f"/* {f}: {comment_text(self.p.fn_names[f])} */")
        self.out.line("")
        for f in normal:
            if self.bottom_up:
                self.out.line(f"{self.entry_kind(f)} char *r{f}(pb_ex *ex, char *frame);")
                if self.is_parent(f):
                    self.out.line(f"static inline char *k{f}(pb_ex *ex, char *frame, char *child);")
            else:
                self.out.line(f"{self.entry_kind(f)} int p{f}(pb_ex *ex, uint32_t task, char *frame);")
            self.out.line(f"static inline void d{f}(pb_ex *ex, char *frame);")
        if self.bottom_up:
            self.out.line(
                "static void run_co(pb_ex *ex, char *frame);",
                "static char *child_finished(pb_ex *ex, char *frame);",
            )
        self.out.line("")
        for f in range(self.n):
            self.construct_fn(f)
        for f in normal:
            self.drop_fn(f)
            self.entry_fn(f)
            if self.bottom_up and self.is_parent(f):
                self.finished_in_fn(f)
        if self.bottom_up:
            self.out.line(
                "static char *child_finished(pb_ex *ex, char *frame)",
                "{",
                "    pb_bhdr *b = (pb_bhdr *)frame;",
                "    if (b->parent == NULL) {",
            )
            with self.out.indented(), self.out.indented():
                if self.storage:
                    self.out.line("ex->svc->task_done(ex, b->task);")
                else:  # the task finished here, its sizes constants
                    self.out.line("switch (b->h.fn) {")
                    for f in self.roots:
                        with self.out.case(f"case {f}:"):
                            self.out.line(self.task_done(f, "b->task"), "break;")
                    self.out.line("}")
                self.out.line("return NULL;")
            self.out.line("    }")
            self.dispatch("", [(f, f"return k{f}(ex, b->parent, frame);")
                               for f in normal if self.is_parent(f)], "return NULL;")
            self.dispatch("static char *resume_any(pb_ex *ex, char *frame)",
                          [(f, f"return r{f}(ex, frame);") for f in normal], "return NULL;")
            self.out.line(
                "static void run_co(pb_ex *ex, char *frame)",
                "{",
                "    while (frame != NULL)",
                "        frame = resume_any(ex, frame);",
                "}",
                "",
            )
        else:
            # Each root's poll in a function of its own, which poll_root
            # tail-calls: inlined into poll_root, the largest would make
            # every task's poll save and restore the registers it needs.
            for f in self.roots:
                self.out.line(f"static PB_NOINLINE int root{f}(pb_ex *ex, uint32_t task, char *root)", "{")
                if self.storage:
                    self.out.line(f"    return p{f}(ex, task, root);")
                else:  # the task finished here, its sizes constants (runtime.h, poll)
                    self.out.line(f"    if (!p{f}(ex, task, root))", "        return 0;",
                                  f"    {self.task_done(f, 'task')}", "    return 0;")
                self.out.line("}", "")
            self.dispatch("static int poll_root(pb_ex *ex, uint32_t task, char *root)",
                          [(f, f"return root{f}(ex, task, root);") for f in self.roots], "return 0;")
        self.dispatch("static void drop_root(pb_ex *ex, char *root)",
                      [(f, f"d{f}(ex, root);", "return;") for f in self.roots], "return;")
        if not self.storage:
            self.entry_spawn()
        sizes = ", ".join(str(int(v)) for v in self.l.fn_size)
        steps = ", ".join(str(int(v)) for v in self.p.fn_step_count)
        cells = ", ".join(str(int(v)) for v in self.l.fn_cell_size)
        counted = ", ".join(str(int(v)) for v in self.l.fn_bytes)
        self.out.line(
            f"static const int64_t fn_size[{self.n}] = {{{sizes}}};",
            f"static const int64_t fn_bytes[{self.n}] = {{{counted}}};",
            f"static const int64_t fn_cell[{self.n}] = {{{cells}}};",
            f"static const int64_t fn_steps[{self.n}] = {{{steps}}};",
            "",
            "const pb_engine *pb_engine_get(void)",
            "{",
            "    static const pb_engine engine = {",
            "        PB_RUNTIME_ABI,",
            "        (uint32_t)sizeof(pb_ex),",
            f"        {self.n}u,",
            f"        {1 if self.bottom_up else 0}u,",
            f"        {self.moves_word()},",
            f"        {int(self.l.storage)}u,",
            "        fn_size,",
            "        fn_bytes,",
            "        fn_cell,",
            "        fn_steps,",
            f"        {'NULL' if self.bottom_up else 'poll_root'},",
            f"        {'run_co' if self.bottom_up else 'NULL'},",
            "        drop_root,",
            f"        {'NULL' if self.storage else 'spawn_entries'},",
            "    };",
            "    return &engine;",
            "}",
        )
        return self.out.text("\n")


def generate(program, layout, key: str | None = None) -> str:
    """The C source of the engine for ``program`` under ``layout``."""
    return _Gen(program, layout).generate(key or fingerprint(program, layout))
