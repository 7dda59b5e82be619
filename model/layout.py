"""From a strategy's answers to bytes: frame sizes, offsets, cells.

The rules are those of docs/model.md ("Frames"); every strategy shares them,
so a strategy only decides *where* things go, never how big they are.
The result, ``Layout``, is a set of int64 arrays the executor reads in C:
its own frames (``fn_size``, the offsets), and the native size of each
frame (``fn_bytes``, from ``native.py``), which is what it counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import UsageError
from .native import CLANG, GXX, RUSTC, clang_sizes, gxx_sizes, locals_kept, rust_sizes
from .program import OP_CALL, OP_GEN, OP_IO, OP_SPAWN, OP_YIELD

TOP_DOWN = "top_down"  # Rust futures: the task is polled from its root
BOTTOM_UP = "bottom_up"  # C++ coroutines: a finishing frame resumes its parent

# Header sizes in bytes (docs/model.md, "Frames"): the top-down header holds the
# state discriminant, loop counter, pending count, recursion depth, flags, the
# argument and the running value; bottom-up adds the parent pointer, the
# slot/task ids a finishing coroutine needs to resume its parent, and the
# stack it lives on (storage other than the heap).
TOP_DOWN_HEADER = 40
BOTTOM_UP_HEADER = 64

# Where a child frame lives (``Layout.edge_place``; docs/model.md, "Storage").
INLINE = 0  # inside its parent's frame
BOX = 1  # a heap block of its own (the parent keeps a pointer)
STACK = 2  # pushed on its parent's stack or slabs (the parent keeps a pointer)
OWN = 3  # the base of a stack (or slabs) of its own: a concurrent child

# How a strategy stores the frames that are not inline (``Layout.storage``).
HEAP = 0  # each in a heap block of its own
STACKS = 1  # on contiguous stacks: a task's, and one per concurrent child
SLABS = 2  # bumped in a task's slabs (the task's own allocation holds its root)
BOX_ON_SUSPEND = 3  # on the thread's stack until its first suspension, then a box of its own
CHUNKS = 4  # on the carrier's stack while running, frozen into heap chunks while suspended

POINTER = 8
IO_LEAF = 16  # waiter id, state, deadline
YIELD_LEAF = 8  # state, waiter id
JOIN_HANDLE = 8
HANDLE_VEC = 24  # pointer, capacity, length; the handles are a heap block
CELL_HEADER = 24  # Rc strong + weak counts, RefCell borrow flag
# A frame beyond this (1 TiB) could never be allocated; refusing it keeps every
# size far below 2^63, so the int64 arrays and the executor's sums never overflow.
MAX_FRAME_BYTES = 1 << 40


def align8(n: int) -> int:
    return (int(n) + 7) & ~7


@dataclass(frozen=True)
class Layout:
    """Where every frame, child and cell of a program lives under one strategy."""

    strategy: str
    bottom_up: bool
    moves: bool  # built by value and moved into place: moved_bytes counts the language's move
    header_bytes: int
    fn_size: np.ndarray  # the executor's frame: its header, every slot, children inline
    fn_bytes: np.ndarray  # the native frame's size: what a box, task or move of it counts
    fn_locals_offset: np.ndarray  # where the locals (or the cell pointer) start
    fn_cell_size: np.ndarray  # 0 when the locals are not in a cell
    # Bytes of locals the poll keeps on its own stack, zeroed as it starts
    # (0: in the frame, in a cell, or unused): a function that never
    # suspends, whose native future keeps none (native.locals_kept); the
    # frame then has no room for them.
    fn_stack_locals: np.ndarray
    fn_child_offset: np.ndarray  # start of the child area
    edge_boxed: np.ndarray  # 1 when the child has its own allocation
    edge_offset: np.ndarray  # slot of the child (or its pointer) in the parent frame
    # Storage (docs/model.md, "Storage"): where each non-inline child goes and
    # the sizes the executor follows; heap strategies leave the defaults.
    edge_place: np.ndarray  # INLINE, BOX, STACK or OWN per edge
    storage: int = HEAP
    stack_grows: bool = False
    stack_bytes: int = 0  # STACKS: a new stack's size; SLABS: a slab's usable bytes
    stack_guard: int = 0  # STACKS: bytes at a stack's end that frames may not use
    # STACKS and CHUNKS, where the runtime's own frame sizes are known
    # (strategy.stack_frame): a new stack's bytes in use below its first
    # frame (CHUNKS: the continuation's entry frames, in the chunk holding a
    # thread's first frame); how many bytes of the executor's frames a
    # counted byte may stand for (its blocks hold cap times this); per
    # function, what its push checks and what a growth must make room for,
    # beyond the stack's depth (stack_checks; STACKS only).
    stack_base: int = 0
    stack_top: int = 0  # CHUNKS: the runtime's park frames, frozen above the frames of a thread that parks
    stack_small: int = 0  # StackSmall: a frame up to this checks the stack pointer alone
    stack_scale: int = 1
    fn_stack_check: np.ndarray | None = None
    fn_stack_need: np.ndarray | None = None
    stack_extra: int = 0  # counted beyond the size: a guard page (STACKS); a chunk's metadata (CHUNKS)
    slab_header: int = 0
    alloc_header: int = 0
    alloc_align: int = 1
    pool: int = 0  # BOX_ON_SUSPEND: finished boxes kept per function for reuse
    thaw_all_below: int = 0  # CHUNKS: a chunk holding fewer bytes is thawed whole, else its top frame
    # The runtime's own task objects (docs/model.md, "The runtimes' task
    # objects"; each strategy's module cites its source): the bytes that come
    # with a frame of each function when it starts a task (heap storage), a
    # stack, slabs or virtual thread of its own, or a box; ``runtime_inside``
    # when they sit inside the strategy's own blocks (counted there already);
    # a stack chunk's object header and fields, and its GC bitmap's 8 bytes
    # per ``chunk_bitmap`` bytes (CHUNKS).
    fn_runtime: np.ndarray | None = None
    # Whose frame sizes ``fn_bytes`` are (bottom-up heap layouts: "g++" or
    # "clang"), and the flags that compiler needs to make this layout's
    # choices (its native counterpart is compiled with them).
    frame_compiler: str = GXX
    compiler_flags: tuple = ()
    runtime_inside: bool = False
    chunk_object: int = 0
    chunk_bitmap: int = 0
    # Where a move copies the future's bytes, as the native program does
    # (INLINE, BOX, or OWN: a task's root; strategy.copied_moves); a move
    # anywhere else writes the future where it lives and copies nothing.
    copied_moves: tuple = ()

    def frame_size(self, fn: int) -> int:
        """The bytes a run reports for a frame of ``fn``: the compiler's."""
        return int(self.fn_bytes[fn])


def compute_layout(strategy, program) -> Layout:
    n_fns = len(program.fn_names)
    n_edges = len(program.edge_callee)
    edge_place = np.array([strategy.place_edge(program, e) for e in range(n_edges)], dtype=np.int64)
    edge_boxed = (edge_place != INLINE).astype(np.int64)
    storage = strategy.storage_plan()
    check_storage(strategy, program, edge_place, storage)
    in_cell = [strategy.locals_in_cell(program, f) for f in range(n_fns)]
    in_frame = locals_in_frame(strategy, program, in_cell)
    fn_stack_locals = np.array(
        [0 if in_cell[f] or in_frame[f] or not program.view.functions[f].works else align8(program.fn_locals[f])
         for f in range(n_fns)],
        dtype=np.int64,
    )
    header = strategy.header_bytes
    # Steps reuse one child area (the largest step's), or each step has its
    # own (their sum): the one place this is decided, for the executor's
    # frames here and for the native sizes (gxx_sizes).
    shared = bool(strategy.shares_child_area)

    fn_size = np.full(n_fns, -1, dtype=np.int64)
    edge_offset = np.zeros(n_edges, dtype=np.int64)
    fn_child_offset = np.zeros(n_fns, dtype=np.int64)
    fn_cell_size = np.array(
        [CELL_HEADER + align8(program.fn_locals[f]) if in_cell[f] else 0 for f in range(n_fns)],
        dtype=np.int64,
    )

    def check_size(fn: int, size: int) -> None:
        if size > MAX_FRAME_BYTES:
            raise UsageError(
                f"under strategy '{strategy.name}', a frame of '{program.fn_names[fn]}' would hold "
                f"{size:,} bytes, beyond the {MAX_FRAME_BYTES:,} a frame may have; make the inline "
                "nesting narrower or shallower (fewer or smaller join/call children per level)"
            )

    def step_storage(step, child_offset: int, fn: int) -> int:
        if step.holds_children:
            used = 0
            for e in step.edges:  # side by side, in order
                check_size(fn, child_offset + used)  # before it goes into an int64
                edge_offset[e.index] = child_offset + used
                used += POINTER if edge_boxed[e.index] else int(fn_size[e.callee])
            return used
        if step.op == OP_IO:
            return IO_LEAF
        if step.op == OP_YIELD:
            return YIELD_LEAF
        if step.op == OP_SPAWN and step.wait:
            return JOIN_HANDLE if step.arg == 1 else HANDLE_VEC
        return 0  # work, detached spawn

    # Callees first (model/program_view.py): every inline child is sized
    # before its parent, however deep the nesting. A child not sized yet is
    # the parent's own ancestor: a recursive function stored inline.
    for fn in program.view.callees_first():
        function = program.view.functions[fn]
        for step in function.steps:
            for e in step.edges if step.holds_children else ():
                if not edge_boxed[e.index] and fn_size[e.callee] < 0:
                    raise UsageError(
                        f"strategy '{strategy.name}' stores recursive function "
                        f"'{program.fn_names[e.callee]}' inline in itself; box its back edges"
                    )
        locals_part = POINTER if in_cell[fn] else align8(program.fn_locals[fn]) if in_frame[fn] else 0
        child_offset = header + locals_part
        areas = []
        for step in function.steps:
            before = 0 if shared else sum(areas)  # the earlier steps' areas, when not shared
            areas.append(step_storage(step, child_offset + before, fn))
        size = child_offset + (max(areas, default=0) if shared else sum(areas))
        check_size(fn, size)
        fn_child_offset[fn] = child_offset
        fn_size[fn] = size

    bottom_up = strategy.polling == BOTTOM_UP
    stack_check = stack_need = None
    if storage["storage"] != HEAP:
        fn_bytes = fn_size.copy()  # no compiler to ask: the frame counted is the model's own
        if storage["storage"] == STACKS:
            fn_bytes, stack_check, stack_need, scale = stack_checks(strategy, program, fn_size)
            storage = {**storage, "stack_scale": scale}
        elif storage["storage"] == CHUNKS:
            frames = runtime_frames(strategy, program, fn_size)
            if frames is not None:
                fn_bytes = np.array(frames, dtype=np.int64)
                storage = {**storage, "stack_scale": frame_scale(fn_size, frames)}
    elif not bottom_up:
        fn_bytes = rust_sizes(program, edge_boxed, in_cell)
    elif strategy.frame_compiler == CLANG:
        fn_bytes = clang_sizes(program, edge_boxed)
    else:
        fn_bytes = gxx_sizes(program, edge_boxed, shared)
    fn_runtime = [strategy.runtime_bytes(program, f, int(fn_bytes[f])) for f in range(n_fns)]
    return Layout(
        strategy=strategy.name,
        bottom_up=bottom_up,
        moves=bool(strategy.moves),
        header_bytes=header,
        fn_size=fn_size,
        fn_bytes=np.array(fn_bytes, dtype=np.int64),
        fn_locals_offset=np.full(n_fns, header, dtype=np.int64),
        fn_cell_size=fn_cell_size,
        fn_stack_locals=fn_stack_locals,
        fn_child_offset=fn_child_offset,
        edge_boxed=edge_boxed,
        edge_offset=edge_offset,
        edge_place=edge_place,
        fn_runtime=np.array(fn_runtime, dtype=np.int64),
        fn_stack_check=np.array(fn_bytes if stack_check is None else stack_check, dtype=np.int64),
        fn_stack_need=np.array(fn_bytes if stack_need is None else stack_need, dtype=np.int64),
        frame_compiler=strategy.frame_compiler,
        compiler_flags=tuple(strategy.compiler_flags),
        copied_moves=copied_moves(strategy),
        **storage,
    )


def locals_in_frame(strategy, program, in_cell) -> list:
    """Whether each function's locals live in its frame between polls: as
    the native compiler of a heap layout keeps them (rustc top-down, g++ or
    clang bottom-up: native.locals_kept); always under the other storages,
    whose frames are the runtime's own."""
    if strategy.storage_plan()["storage"] != HEAP:
        return [bool(program.fn_locals[f]) and not in_cell[f] for f in range(len(program.fn_names))]
    # The compiler whose sizes fn_bytes takes (compute_layout): g++ for any
    # bottom-up layout but clang's.
    compiler = RUSTC if strategy.polling != BOTTOM_UP else CLANG if strategy.frame_compiler == CLANG else GXX
    return [locals_kept(program, f, in_cell[f], compiler) for f in range(len(program.fn_names))]


def copied_moves(strategy) -> tuple:
    """The places a strategy's moves copy into (``strategy.copied_moves``),
    sorted, once checked: only a strategy with moves has any, and only the
    places a heap layout builds a future into."""
    places = tuple(sorted({int(p) for p in strategy.copied_moves}))
    if places and not strategy.moves:
        raise UsageError(f"strategy '{strategy.name}': copied_moves needs futures built by value (moves = True)")
    if not set(places) <= {INLINE, BOX, OWN}:
        raise UsageError(f"strategy '{strategy.name}': copied_moves holds places INLINE ({INLINE}), "
                         f"BOX ({BOX}) or OWN ({OWN}: a task's root), got {places}")
    return places


def stack_checks(strategy, program, fn_size) -> tuple:
    """``(fn_bytes, fn_stack_check, fn_stack_need, stack_scale)`` for STACKS.

    Without the runtime's frame sizes (``strategy.stack_frame`` None for
    every function) a frame counts the model's own bytes and a push checks
    that they and the guard fit. With them (Go; a function it gives None
    keeps the model's size): a frame counts the runtime's bytes, and a
    push runs the checks of Go's function prologues (cmd/internal/obj/x86
    ``stacksplit``, Go 1.19): a function whose frame (return address
    aside) is at most ``stack_small`` grows the stack when the stack
    pointer, its return address pushed, is at the guard; a bigger one when
    the stack pointer less its frame beyond ``stack_small`` is -- equal
    counts (``JLS``), hence the byte added. So do the split frames of the
    runtime's path when the function waits (``strategy.wait_path``: a
    goroutine parking on a channel), each above the last; the deepest check
    is the push's, and a growth doubles until that frame and the guard fit
    (runtime ``newstack``: ``funcMaxSPDelta`` + ``_StackGuard``).
    """
    frames = runtime_frames(strategy, program, fn_size)
    if frames is None:
        return fn_size.copy(), None, None, 1
    small = strategy.storage_plan().get("stack_small", 0)
    checks, needs = [], []
    for f, size in enumerate(frames):
        best = None
        offset, path = 0, [(size, True), *strategy.wait_path(program, f)]
        for frame, splits in path:
            if splits:
                check = offset + POINTER + max(frame - POINTER - small, 0) + 1
                if best is None or check > best[0]:
                    best = (check, offset + frame)
            offset += frame
        checks.append(best[0])
        needs.append(best[1])
    return np.array(frames, dtype=np.int64), checks, needs, frame_scale(fn_size, frames)


def runtime_frames(strategy, program, fn_size):
    """Each function's frame at the runtime's own size (``strategy.stack_frame``;
    the model's where it gives None), or None when it gives none at all."""
    frames = [strategy.stack_frame(program, f) for f in range(len(program.fn_names))]
    if all(size is None for size in frames):
        return None
    return [int(fn_size[f]) if size is None else size for f, size in enumerate(frames)]


def frame_scale(fn_size, frames) -> int:
    """How many bytes of the executor's frames a counted byte may stand for:
    a block of ``cap`` counted bytes holds ``cap`` times this, so any frames
    whose runtime sizes fit ``cap`` fit it at the executor's sizes."""
    scale = max((-(-int(fn_size[f]) // max(int(frames[f]), 1)) for f in range(len(frames))), default=1)
    return max(scale, 1)


def check_storage(strategy, program, edge_place, storage: dict) -> None:
    """What the executor can follow: stacks and slabs are bottom-up frames
    built in place; a stack that grows (and so moves) holds one path of
    calls, whose frames it can find and fix, so only plain calls go on it."""
    kind = storage["storage"]
    used = {int(p) for p in edge_place}
    if not used <= {INLINE, BOX, STACK, OWN}:
        raise UsageError(f"strategy '{strategy.name}': place_edge returned {sorted(used - {INLINE, BOX, STACK, OWN})[0]}, "
                         "not a place; return INLINE, BOX, STACK or OWN (pinbench.model.layout)")
    if kind == HEAP and used & {STACK, OWN}:
        raise UsageError(f"strategy '{strategy.name}' puts frames on stacks but its storage is 'heap'")
    if kind == HEAP:
        return
    if strategy.polling != BOTTOM_UP or strategy.moves:
        raise UsageError(f"strategy '{strategy.name}': stacks and slabs need bottom-up resumption "
                         "and frames built in place (polling = BOTTOM_UP, moves = False)")
    if kind in (BOX_ON_SUSPEND, CHUNKS) and INLINE in used:
        raise UsageError(f"strategy '{strategy.name}': a frame boxed when it suspends moves, so its "
                         "children cannot be inline in it")
    pushed_ops = program.edge_op[edge_place == STACK]  # what each frame pushed on a stack is
    if kind == CHUNKS and not np.isin(pushed_ops, (OP_CALL, OP_GEN)).all():
        raise UsageError(f"strategy '{strategy.name}': a virtual thread runs one path of calls "
                         "(put join and select children on threads of their own)")
    if storage.get("stack_grows") and (not (pushed_ops == OP_CALL).all() or INLINE in used):
        raise UsageError(f"strategy '{strategy.name}': a growing stack holds plain calls only "
                         "(put join, select and generator children on stacks of their own)")
