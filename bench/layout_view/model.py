"""The memory of one task as the model lays it out: what
:mod:`.text` prints (``pinbench explain``) and :mod:`.figure` draws (the
layout diagrams of ``pinbench report``), and the words both use.

From a compiled program and a strategy's :class:`~pinbench.strategies.Layout`
this builds the task's memory **at its largest moment**: the allocations as
a list of :class:`Block` s (the task's own allocation first, then every box,
cell and handle vector it owns, in the order a walk from the root meets
their pointers), each block holding its :class:`Frame`. Sizes are the
native ones the run counts (``Layout.fn_bytes``, docs/model.md "Native
frame sizes"): a frame is drawn as its state (what the compiler keeps:
parameters, locals live across the await, the state index, awaiters; and
the pointer to its Rc cell) followed by what the step shown holds — its
children inline, pointers to boxed ones, an io or yield leaf, join handles.

Which moment: a function whose body awaits several things in turn (``work``,
``call(a)``, ``io``, ``call(b)``...) holds the children of only one step at a
time. The view shows, for each function, **the step whose children occupy
the most**: the most bytes counting everything below them (inline frames,
boxes, cells, handle vectors), then the most blocks, then the most of the
frame, and the first such step on a tie. Every child of a ``join`` or
``select`` is live at once, so they are all shown, side by side. A Rust
generator is polled inside one poll of its consumer, so the consumer's
future never holds it (a boxed one is drawn as a block without an owner).
For ``chain`` and ``fanout`` every frame is live together while the leaves
wait on io, so the view's block count and bytes are exactly the run's
``allocs_per_task`` and ``bytes_per_task`` (the tests assert it, for every
strategy).

Strategies that keep frames on stacks, in slabs or in chunks
(docs/model.md, "Storage") draw them there: a goroutine's or fiber's stack
with its frames one after another and its reserved size, a Swift task's
allocation and its slabs (each context after a 16-byte header), a virtual
thread's chunk with its frozen frames; .NET's boxes are its state machines,
each copied into its box at its first suspension. A frame's pointer to the
next frame on the same stack is a ``link``.

Spawned tasks are tasks of their own (each its own allocation and its own
view); a task's view names them in ``spawns`` but does not draw them. Deep
or exponential trees are cut at :data:`MAX_FRAMES` frames: what lies below
is counted (``elided_blocks``, ``elided_bytes``) but not materialised.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from ... import strategies as strategy_registry
from ...model.layout import (
    BOX_ON_SUSPEND, CHUNKS, HANDLE_VEC, HEAP, IO_LEAF, JOIN_HANDLE, POINTER, SLABS, STACK, STACKS,
)
from ...model.program import OP_CALL, OP_GEN, OP_IO, OP_JOIN, OP_SELECT, OP_SPAWN, OP_YIELD
from ..workloads import get_workload

YIELD_LEAF = 1  # rustc: the yield leaf is a bool
YIELD_AWAITER = 4  # g++: yield_now's awaiter holds a waiter id

# Frames materialised per task view; the rest is summarised (counted only).
MAX_FRAMES = 5000

# The words for each kind of block, one set for the text and the figure:
# kind -> (one, many).
BLOCK_WORDS = {
    "task": ("task box", "task boxes"),
    "box": ("box", "boxes"),
    "cell": ("Rc cell", "Rc cells"),
    "handles": ("handle Vec", "handle Vecs"),
    "slab": ("slab", "slabs"),
    "stack": ("stack", "stacks"),
    "chunk": ("stack chunk", "stack chunks"),
}
# A bottom-up compiler allocates coroutine frames, not boxed futures (.NET's
# boxes, though bottom-up, hold state machines copied in: boxes).
HEAP_FRAME_WORDS = {"task": ("task frame", "task frames"), "box": ("heap frame", "heap frames")}
# The words for a frame's parts, where a figure or a line names them.
PART_WORDS = {
    "header": "state", "locals": "locals", "io": "io", "yield": "yield",
    "handle": "handle", "handles": "Vec", "unused": "unused",
}


def block_word(view: TaskView, kind: str, count: int = 1) -> str:
    """``box``, ``heap frames``...: what ``count`` blocks of ``kind`` are called."""
    words = HEAP_FRAME_WORDS.get(kind) if view.bottom_up and view.storage != BOX_ON_SUSPEND else None
    one, many = words or BLOCK_WORDS[kind]
    return one if count == 1 else many


@dataclass(eq=False)
class Part:
    """A piece of a frame: ``offset`` is from the start of its block."""

    kind: str  # "header", "locals", "cell_ptr", "pointer", "link", "io", "yield", "handle",
    # "handles", "unused", "slab_header", or "frame" for a child frame stored inline
    offset: int
    size: int
    label: str
    frame: Frame | None = None  # kind "frame": the inline child
    target: Block | None = None  # pointers: the block pointed to (None: no child now)


@dataclass(eq=False)
class Frame:
    """One invocation's frame, inside a block at ``offset``."""

    fn: str
    offset: int
    size: int
    rdepth: int
    step: int | None  # the step shown (1-based), None when the body awaits nothing
    step_text: str
    parts: list = field(default_factory=list)
    collapsed: bool = False  # past MAX_FRAMES: size only, no parts

    def walk(self, depth: int = 0):
        """(frame, nesting depth) for this frame and every inline frame in it,
        depth first in part order (a stack of our own: nesting can be deep)."""
        stack = [(self, depth)]
        while stack:
            frame, d = stack.pop()
            yield frame, d
            stack.extend((part.frame, d + 1) for part in reversed(frame.parts) if part.frame is not None)

    @property
    def nesting(self) -> int:
        """How many frames deep the inline nesting goes (1: no inline child)."""
        return 1 + max((d for _, d in self.walk()), default=0)


@dataclass(eq=False)
class Block:
    """One allocation: a task's root frame, a boxed child frame, an Rc cell
    or a Vec of join handles."""

    number: int  # 1-based, in walk order
    kind: str  # one of BLOCK_WORDS
    size: int
    fn: str  # the function whose frame or locals it holds ("" for handles)
    frame: Frame | None = None  # task and box blocks
    owner: tuple | None = None  # (block number, offset) of the pointer to it
    label: str = ""
    frames: list = field(default_factory=list)  # stacks, slabs, chunks: the frames after ``frame``
    used: int = 0  # stacks, slabs, chunks: the bytes in use (``size`` is what is reserved)
    headers: list = field(default_factory=list)  # slabs: (offset, size) of each header


@dataclass
class TaskView:
    """One task's memory at its largest moment under one strategy."""

    workload: str
    params: dict
    strategy: str
    bottom_up: bool
    moves: bool
    header_bytes: int
    entry: str
    blocks: list
    elided_blocks: int = 0
    elided_bytes: int = 0
    spawns: list = field(default_factory=list)  # text notes
    choices: dict = field(default_factory=dict)  # fn -> step shown, when it had a choice
    storage: int = HEAP  # where frames that are not inline live (model/layout.py)
    stack_grows: bool = False
    stack_usable: int = 0  # a fixed stack's bytes for frames

    @property
    def frames_are(self) -> str:
        """Whose frame sizes these are."""
        if self.storage != HEAP:
            return "frames are the model's own (header, locals, child area)"
        return f"frames sized as {'g++' if self.bottom_up else 'rustc'} lays them out"

    @property
    def block_count(self) -> int:
        return len(self.blocks) + self.elided_blocks

    @property
    def total_bytes(self) -> int:
        return sum(b.size for b in self.blocks) + self.elided_bytes

    def kind_counts(self) -> dict:
        counts = {}
        for block in self.blocks:
            counts[block.kind] = counts.get(block.kind, 0) + 1
        return counts


# -- building -------------------------------------------------------------------


class _Builder:
    def __init__(self, program, layout):
        self.p = program
        self.layout = layout
        self.op = program.step_op.tolist()
        self.arg = program.step_arg.tolist()
        self.wait = program.step_wait.tolist()
        self.edge_start = program.step_edge_start.tolist()
        self.edge_count = program.step_edge_count.tolist()
        self.callee = program.edge_callee.tolist()
        self.back = program.edge_back.tolist()
        self.limit = program.edge_limit.tolist()
        self.fn_start = program.fn_step_start.tolist()
        self.fn_count = program.fn_step_count.tolist()
        self.size = layout.fn_bytes.tolist()  # the native sizes, as the run counts them
        self.bottom_up = bool(layout.bottom_up)
        self.cell = layout.fn_cell_size.tolist()
        self.boxed = layout.edge_boxed.tolist()
        self.place = layout.edge_place.tolist()
        self.storage = int(layout.storage)
        self.slab = {}  # SLABS: task block number -> the slab its contexts are bumped in
        self.task_of = {}  # SLABS: slab block number -> its task's block number
        self.blocks = []
        self.frames = 0
        self.elided_blocks = 0
        self.elided_bytes = 0
        self.spawns = []
        self.choices = {}
        self.held = {}  # (fn, rdepth) -> what ``holds`` returns, for every invocation
        for f, r in program.invocations_callees_first():  # a chain of 10,000 functions is as fine as one of 10
            self.held[(f, r)] = self._holds_one(f, r)

    # What a step's children hold (beyond the parent's own block).

    def children(self, step: int, r: int):
        """(edge, callee, rdepth or None if recursion-skipped) per edge."""
        first = self.edge_start[step]
        for e in range(first, first + self.edge_count[step]):
            g = self.callee[e]
            if not self.back[e]:
                yield e, g, r
            elif r < self.limit[e]:
                yield e, g, r + 1
            else:
                yield e, g, None

    def step_holds(self, step: int, r: int):
        """(bytes, blocks) allocated below one step of an invocation."""
        op = self.op[step]
        nbytes = nblocks = 0
        if op in (OP_CALL, OP_GEN, OP_JOIN, OP_SELECT):
            for e, g, rg in self.children(step, r):
                if rg is None:
                    continue
                below_bytes, below_blocks, _ = self.holds(g, rg)
                nbytes += below_bytes
                nblocks += below_blocks
                if self.boxed[e]:
                    nbytes += self.size[g]
                    nblocks += 1
        elif op == OP_SPAWN and self.wait[step] and self.arg[step] > 1:
            if any(rg is not None for _, _, rg in self.children(step, r)):
                nbytes, nblocks = 8 * self.arg[step], 1
        return nbytes, nblocks

    def holds(self, fn: int, r: int):
        """(bytes, blocks, chosen step) an invocation holds outside the
        storage of its own frame at its largest moment: its cell and what
        lies below the step chosen. The step chosen holds the most bytes
        below it, then the most blocks, then fills the most of the child
        area (an io leaf, an inline child); the first on a tie; None when
        no step holds or stores anything."""
        return self.held[(fn, r)]

    def _holds_one(self, fn: int, r: int):
        """``holds`` of one invocation, its children's being known."""
        best, best_key = None, (0, 0, 0)
        for step in range(self.fn_start[fn], self.fn_start[fn] + self.fn_count[fn]):
            nbytes, nblocks = self.step_holds(step, r)
            candidate = (nbytes, nblocks, self.area_used(step, r))
            if candidate > best_key:
                best, best_key = step, candidate
        nbytes, nblocks = best_key[0], best_key[1]
        if self.cell[fn]:
            nbytes += self.cell[fn]
            nblocks += 1
        return (nbytes, nblocks, best)

    def in_frame(self, op: int) -> bool:
        """Whether a step's children are held in the frame: a Rust consumer
        polls its generator within one poll, so the future never holds it."""
        return not (op == OP_GEN and not self.bottom_up)

    def slot(self, e: int) -> int:
        """Bytes a child takes in its parent: its frame inline, or the pointer
        to its box (a fat one for a Rust recursive edge)."""
        if not self.boxed[e]:
            return self.size[self.callee[e]]
        return 2 * POINTER if self.back[e] and not self.bottom_up else POINTER

    def area_used(self, step: int, r: int) -> int:
        """Bytes of the frame the step's children and leaf take while it waits."""
        op = self.op[step]
        if op in (OP_CALL, OP_GEN, OP_JOIN, OP_SELECT):
            if not self.in_frame(op):
                return 0
            first = self.edge_start[step]
            return sum(self.slot(e) for e in range(first, first + self.edge_count[step]))
        if op == OP_IO:
            return IO_LEAF
        if op == OP_YIELD:
            return YIELD_AWAITER if self.bottom_up else YIELD_LEAF
        if op == OP_SPAWN and self.wait[step]:
            return JOIN_HANDLE if self.arg[step] == 1 else HANDLE_VEC
        return 0

    # Materialising blocks and frames.

    def new_block(self, kind, size, fn, owner, label):
        block = Block(len(self.blocks) + 1, kind, int(size), fn, None, owner, label)
        self.blocks.append(block)
        return block

    def frame(self, fn: int, r: int, block: Block, base: int) -> Frame:
        p = self.p
        name = p.fn_names[fn]
        self.frames += 1
        fr = Frame(name, base, self.size[fn], r, None, "")
        if self.frames > MAX_FRAMES:
            fr.collapsed = True
            nbytes, nblocks, _ = self.holds(fn, r)
            self.elided_bytes += nbytes
            self.elided_blocks += nblocks
            return fr
        # The frame's own state first (the compiler's: parameters, locals
        # live across the await, the state index, awaiters), the children
        # and leaf of the step shown at its end.
        at = base
        if self.cell[fn]:
            ptr = Part("cell_ptr", at, POINTER, "-> cell")
            fr.parts.append(ptr)
            ptr.target = self.new_block(
                "cell", self.cell[fn], name, (block.number, at),
                f"Rc<RefCell<[u8; {int(p.fn_locals[fn])}]>> of {name}",
            )
            at += POINTER
        step = self.holds(fn, r)[2]
        used = self.area_used(step, r) if step is not None else 0
        area_start = max(at, base + self.size[fn] - used)
        if area_start > at:
            fr.parts.append(Part("header", at, area_start - at, PART_WORDS["header"]))
        if step is not None:
            start = self.fn_start[fn]
            fr.step = step - start + 1
            fr.step_text = p.step_text(step)
            awaiting = [
                s for s in range(start, start + self.fn_count[fn]) if self.area_used(s, r) > 0
            ]
            if len(awaiting) > 1:
                self.choices.setdefault(name, f"step {fr.step} {fr.step_text}")
            self.step_parts(fr, step, r, block, area_start)
        return fr

    def step_parts(self, fr: Frame, step: int, r: int, block: Block, area_start: int) -> int:
        """Append the parts of the step shown; return where they end."""
        op = self.op[step]
        names = self.p.fn_names
        if op == OP_IO:
            fr.parts.append(Part("io", area_start, IO_LEAF, f"io({self.arg[step]})"))
            return area_start + IO_LEAF
        if op == OP_YIELD:
            size = self.area_used(step, r)
            fr.parts.append(Part("yield", area_start, size, "yield_now"))
            return area_start + size
        if op == OP_SPAWN:
            count, callee = self.arg[step], names[self.callee[self.edge_start[step]]]
            live = any(rg is not None for _, _, rg in self.children(step, r))
            if live:
                how = "awaits" if self.wait[step] else "detached"
                self.spawns.append(
                    f"{fr.fn} spawns {count} task{'s' if count != 1 else ''} running "
                    f"{callee} ({how}); each is a task of its own"
                )
            if not self.wait[step]:
                return area_start
            if count == 1:
                fr.parts.append(Part("handle", area_start, JOIN_HANDLE, "handle"))
                return area_start + JOIN_HANDLE
            part = Part("handles", area_start, HANDLE_VEC, f"Vec of {count} handles")
            fr.parts.append(part)
            if live:
                part.target = self.new_block(
                    "handles", 8 * count, "", (block.number, area_start),
                    f"{count} join handles of {fr.fn}",
                )
            return area_start + HANDLE_VEC
        end = area_start
        for e, g, rg in self.children(step, r):
            at = end
            if not self.in_frame(op):  # held by the poll, outside the future
                if rg is not None and self.boxed[e]:
                    self.box(g, rg, None)
                elif rg is not None and self.cell[g]:
                    self.new_block(
                        "cell", self.cell[g], names[g], None,
                        f"Rc<RefCell<[u8; {int(self.p.fn_locals[g])}]>> of {names[g]}",
                    )
                continue
            if self.boxed[e]:
                part = Part("pointer", at, self.slot(e), f"-> {names[g]}")
                fr.parts.append(part)
                if rg is not None:
                    part.target = self.box(g, rg, (block.number, at), e)
                    if part.target is block:  # the next frame on this stack
                        part.kind, part.target = "link", None
                else:
                    part.label = f"{names[g]}: past the recursion limit"
            else:
                child = self.frame(g, rg if rg is not None else r, block, at)
                fr.parts.append(Part("frame", at, self.size[g], names[g], frame=child))
            end = at + self.slot(e)
        return end

    def box(self, fn: int, r: int, owner, edge: int | None = None) -> Block | None:
        name = self.p.fn_names[fn]
        if self.frames >= MAX_FRAMES:
            nbytes, nblocks, _ = self.holds(fn, r)
            self.elided_bytes += self.size[fn] + nbytes
            self.elided_blocks += 1 + nblocks
            return None
        pushed = edge is not None and self.place[edge] == STACK
        if pushed and self.storage in (STACKS, CHUNKS):  # the next frame on the caller's stack or chunk
            block = self.blocks[owner[0] - 1]
            return self.push(block, fn, r, block.used)
        if pushed and self.storage == SLABS:  # a context bumped in its task's slabs
            return self.bump(fn, r, self.task_of.get(owner[0], owner[0]))
        if self.storage in (STACKS, CHUNKS):  # a stack (a virtual thread) of its own
            return self.base(fn, r, owner, "stack" if self.storage == STACKS else "chunk")
        kind = "task" if self.storage == SLABS else "box"  # a child task, with slabs of its own
        block = self.new_block(kind, self.size[fn], name, owner, name)
        block.used = self.size[fn]
        block.frame = self.frame(fn, r, block, 0)
        return block

    def base(self, fn: int, r: int, owner, kind: str) -> Block:
        """A stack or chunk with ``fn``'s frame at its start."""
        name = self.p.fn_names[fn]
        block = self.new_block(kind, 0, name, owner, name)
        block.used = self.size[fn]
        block.frame = self.frame(fn, r, block, 0)
        return block

    def push(self, block: Block, fn: int, r: int, at: int) -> Block:
        block.used = at + self.size[fn]
        block.frames.append(self.frame(fn, r, block, at))
        return block

    def bump(self, fn: int, r: int, task: int) -> Block:
        """Swift's task allocator: a 16-byte header and the context (rounded
        up to 16) in the task's current slab, else in a new one."""
        s = self.layout
        need = s.alloc_header + -(-self.size[fn] // s.alloc_align) * s.alloc_align
        slab = self.slab.get(task)
        if slab is None or slab.used + need > slab.size:
            slab = self.slab[task] = self.new_block("slab", s.slab_header + max(s.stack_bytes, need), "", None,
                                                    f"slab of #{task}'s allocator")
            self.task_of[slab.number] = task
            slab.used = s.slab_header
            slab.headers.append((0, s.slab_header))
        start = slab.used
        slab.used = start + need  # before the frames its callees bump above it
        slab.headers.append((start, s.alloc_header))
        slab.frames.append(self.frame(fn, r, slab, start + s.alloc_header))
        return slab

    def build(self) -> list:
        entry = self.p.entry
        name = self.p.fn_names[entry]
        if self.storage in (STACKS, CHUNKS):
            self.base(entry, 0, None, "stack" if self.storage == STACKS else "chunk")
        else:
            root = self.new_block("task", self.size[entry], name, None, name)
            root.used = self.size[entry]
            root.frame = self.frame(entry, 0, root, 0)
        for block in self.blocks:  # what a stack or chunk reserves for the frames on it
            block.frames.sort(key=lambda frame: frame.offset)
            if block.kind == "stack":
                block.size = self.stack_size(block)
            elif block.kind == "chunk":
                s = self.layout  # sized exactly: its frames, the JDK's entry and park frames, its metadata
                block.size = block.used + s.stack_base + s.stack_top + s.stack_extra
        return self.blocks

    def stack_size(self, block: Block) -> int:
        """What a stack reserves once its frames were pushed, by the
        executor's rule (cython_core: stack_new, stack_push, stack_grow):
        each push checks, and a growth doubles until its need fits."""
        s = self.layout
        if not s.stack_grows:
            return s.stack_bytes + s.stack_extra  # fixed, with its guard page
        index = {name: i for i, name in enumerate(self.p.fn_names)}
        size, depth = s.stack_bytes, s.stack_base
        for frame in [block.frame, *block.frames]:
            fn = index[frame.fn]
            if depth + s.fn_stack_check[fn] + s.stack_guard > size:
                size *= 2
                while depth + s.fn_stack_need[fn] + s.stack_guard > size:
                    size *= 2
            depth += self.size[fn]
        return int(size)


def task_view(program, strategy) -> TaskView:
    """The memory of one task of ``program`` under ``strategy`` (a name or a
    Strategy) at its largest moment."""
    if isinstance(strategy, str):
        strategy = strategy_registry.get(strategy)
    layout = strategy.plan(program)
    builder = _Builder(program, layout)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * MAX_FRAMES + 1000))  # frames nest at most MAX_FRAMES deep
    try:
        blocks = builder.build()
    finally:
        sys.setrecursionlimit(limit)
    return TaskView(
        workload=program.name,
        params=dict(program.params),
        strategy=strategy.name,
        bottom_up=bool(layout.bottom_up),
        moves=bool(layout.moves),
        header_bytes=int(layout.header_bytes),
        entry=program.fn_names[program.entry],
        blocks=blocks,
        elided_blocks=builder.elided_blocks,
        elided_bytes=builder.elided_bytes,
        spawns=list(dict.fromkeys(builder.spawns)),
        choices=builder.choices,
        storage=int(layout.storage),
        stack_grows=bool(layout.stack_grows),
        stack_usable=int(layout.stack_bytes),
    )


def views_for(workload_name: str, params: dict, strategy_names) -> list:
    """A TaskView per strategy for a workload (built-in name or .toml path)
    and typed parameters (missing ones take their defaults)."""
    program = get_workload(workload_name).compile(params)
    return [task_view(program, name) for name in strategy_names]
