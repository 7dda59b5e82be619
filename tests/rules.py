"""The allocation rules of docs/workloads.md, written out as formulas.

Each function returns the exact totals the model predicts for one run of a
built-in workload under one strategy: allocations, bytes allocated, polls,
moved bytes, refcount operations, tasks. They are derived by hand from
docs/model.md (the native frame sizes for each workload's functions worked
out one by one) and share no code with model/layout.py or
model/native.py, so a test that compares them can fail.
"""

from __future__ import annotations

# Native frame sizes (docs/model.md, "Native frame sizes"), written out per
# workload by hand. Rust: a future is 13 bytes of prefix (the captured
# arg: u64 and rdepth: u32, a one-byte state) plus what is held across its
# awaits; with a single await everything sits in that prefix, rounded up to
# 8. g++: a frame starts with 81 bytes (resume and destroy pointers, the
# 40-byte task promise, its own handle, arg, rdepth, the suspend index, two
# flags, the initial awaiter), then the locals, acc (8-aligned), the folded
# flag, every step's awaiters in order and the final awaiter (1 byte).
PTR = 8
CELL = 24
MOVES = {"always_heap": False, "anchor_box": True, "pinbox": True, "rc": True, "halo": False}
RUST_PREFIX = 13
GXX_HEAD = 81
IO = 16


def a8(n):
    return (n + 7) // 8 * 8


def borrow_levels(borrow: str, depth: int) -> set[int]:
    if borrow == "all":
        return set(range(depth + 1))
    if borrow == "none":
        return set()
    return {i for i in range(depth + 1) if borrow[i % len(borrow)] == "1"}


def rust_locals(strategy, locals_, borrows):
    """What a Rust future keeps of its locals across every await, and what
    each await adds for them: the Rc and its clone under rc, the array and
    the reference to it when borrowed, the array alone when only worked on."""
    if strategy == "rc" and borrows:
        return PTR, PTR
    if borrows and locals_:
        return locals_ + PTR, 0
    return locals_, 0


def gxx_level(locals_, waits=None):
    """A chain level's g++ frame: the leaf (waits given) or a calling level."""
    base = a8(GXX_HEAD + locals_) + 8  # locals, acc
    if waits is not None:
        return a8(base + IO * waits + 1)
    return a8(base + 1) + 3 * PTR + 8  # folded; the task, its awaiter, the result; final awaiter


def chain_frames(strategy, depth, waits, locals_, borrows):
    """Per-level native frame sizes, level 0 (the leaf) first."""
    sizes = []
    for i in range(depth + 1):
        if strategy == "always_heap":
            sizes.append(gxx_level(locals_, waits if i == 0 else None))
            continue
        kept, per_await = rust_locals(strategy, locals_, i in borrows)
        if i == 0:
            if waits == 0:
                size = a8(RUST_PREFIX)  # no await: nothing is kept
            elif waits == 1:
                size = a8(RUST_PREFIX + 8 + 8 + kept + IO + per_await)  # arg, acc
            else:  # several awaits share one variant's storage
                size = a8(RUST_PREFIX + 8 + 8 + kept) + IO + per_await
        else:
            boxed = strategy == "anchor_box" and (i - 1) in borrows
            child = PTR if boxed else sizes[i - 1]
            size = a8(RUST_PREFIX + 8 + 8 + child + kept + per_await)  # arg, acc's temporary
        sizes.append(size)
    return sizes


def chain_one(strategy, depth, waits, locals_, borrows, is_root=True):
    """Totals for one chain (levels 0..depth) as a task or as a joined child."""
    sizes = chain_frames(strategy, depth, waits, locals_, borrows)
    top = depth
    if strategy == "always_heap":
        allocs = depth + 1
        nbytes = sum(sizes)
    elif strategy == "pinbox":
        allocs = 1 if is_root else 0
        nbytes = sizes[top] if is_root else 0
    elif strategy == "anchor_box":
        boxed = [i for i in borrows if i != top or not is_root]
        allocs = (1 if is_root else 0) + len(boxed)
        nbytes = (sizes[top] if is_root else 0) + sum(sizes[i] for i in boxed)
    else:  # rc
        allocs = (1 if is_root else 0) + len(borrows)
        nbytes = (sizes[top] if is_root else 0) + len(borrows) * (CELL + a8(locals_))
    moved = sum(sizes) if MOVES[strategy] else 0
    refs = 0
    if strategy == "rc":
        for i in borrows:
            awaits = waits if i == 0 else 1
            refs += 2 * awaits + 1
    return {"allocs": allocs, "bytes": nbytes, "moved": moved, "refs": refs, "top_size": sizes[top]}


def chain(strategy, depth, borrow, waits, locals, tasks):
    b = borrow_levels(borrow, depth)
    one = chain_one(strategy, depth, waits, locals, b)
    if strategy == "always_heap":
        polls = 2 * depth + 1 + waits
    else:
        polls = (waits + 1) * (depth + 1)
    return {
        "tasks": tasks,
        "allocs": tasks * one["allocs"],
        "bytes_allocated": tasks * one["bytes"],
        "polls": tasks * polls,
        "moved_bytes": tasks * one["moved"],
        "refcount_ops": tasks * one["refs"],
        "root_frame_bytes": one["top_size"],
    }


def join_root(strategy, slots):
    """A function without locals whose one step joins or selects ``slots``
    (each child's MaybeDone size under Rust; their count under g++)."""
    if strategy == "always_heap":
        # acc, folded; the join_all (a task each, parent handle, count), its
        # result, a reference to it; final awaiter
        return a8(a8(GXX_HEAD) + 8 + 1) + 8 * len(slots) + 16 + 16 + 8 + 8
    # arg, acc, folded; each MaybeDone, a Pin<&mut> to each, the poll_fn
    # closure's reference to each Pin
    return a8(RUST_PREFIX + 8 + 8 + 1 + sum(slots) + 16 * len(slots))


def fanout(strategy, k, depth, borrow, locals, tasks):
    b = borrow_levels(borrow, depth)
    one = chain_one(strategy, depth, 1, locals, b, is_root=False)
    boxed_child = strategy == "anchor_box" and depth in b
    root = join_root(strategy, [16 if boxed_child else one["top_size"] + 8] * k)
    allocs = 1 + k * one["allocs"]
    nbytes = root + k * one["bytes"]
    moved = (root + k * one["moved"]) if MOVES[strategy] else 0
    polls = 2 * (1 + k * (depth + 1))  # the same top-down and bottom-up (docs/workloads.md)
    return {
        "tasks": tasks,
        "allocs": tasks * allocs,
        "bytes_allocated": tasks * nbytes,
        "polls": tasks * polls,
        "moved_bytes": tasks * moved,
        "refcount_ops": tasks * k * one["refs"],
        "root_frame_bytes": root,
    }


def spawner(strategy, count):
    """A function whose one step spawns ``count`` tasks and awaits them."""
    if strategy == "always_heap":
        # acc, folded; [Vec, loop counter] or the handle; the result, the
        # awaiter (32); final awaiter
        return a8(a8(GXX_HEAD) + 8 + 1) + (24 + 8 if count > 1 else 8) + 8 + 32 + 8
    # arg, acc's temporary; [Vec, its slice iterator] and the handle
    return a8(RUST_PREFIX + 8 + 8 + (24 + 16 if count > 1 else 0) + 8)


def empty(strategy, locals_=0):
    """A function that never awaits (its locals, if any, only worked on)."""
    if strategy == "always_heap":
        return a8(a8(GXX_HEAD + locals_) + 8 + 1)  # locals, acc, final awaiter
    return a8(RUST_PREFIX)


def _spawner(strategy, count, child_size):
    """A root that spawns ``count`` tasks of ``child_size`` and awaits them all."""
    root = spawner(strategy, count)
    vec = 0 if count == 1 else 1
    return {
        "tasks": 1 + count,
        "allocs": 1 + vec + count,
        "bytes_allocated": root + count * child_size + (8 * count if vec else 0),
        "polls": 2 + count,
        "moved_bytes": (root + count * child_size) if MOVES[strategy] else 0,
        "refcount_ops": 0,
        "root_frame_bytes": root,
    }


def spawn_many(strategy, tasks):
    return _spawner(strategy, tasks, empty(strategy))


def spawn_size(strategy, size, tasks):
    return _spawner(strategy, tasks, empty(strategy, size))


def yield_many(strategy, yields, tasks):
    if strategy == "always_heap":
        size = a8(a8(GXX_HEAD) + 8 + 4 * yields + 1)  # acc, a 4-byte awaiter per yield
    elif yields == 0:
        size = a8(RUST_PREFIX)
    elif yields == 1:
        size = a8(RUST_PREFIX + 8 + 8 + 1)  # arg, acc, the yield leaf
    else:
        size = a8(RUST_PREFIX + 8 + 8) + 8  # the leaf in each await's own storage
    return {
        "tasks": tasks,
        "allocs": tasks,
        "bytes_allocated": tasks * size,
        "polls": tasks * (yields + 1),
        "moved_bytes": tasks * size if MOVES[strategy] else 0,
        "refcount_ops": 0,
        "root_frame_bytes": size,
    }


def skynet(strategy, fanout, levels):
    internal = sum(fanout**i for i in range(levels))
    leaves = fanout**levels
    tasks = internal + leaves
    size = spawner(strategy, fanout)
    return {
        "tasks": tasks,
        "allocs": tasks + internal,  # every internal node also has its Vec of handles
        "bytes_allocated": tasks * size + internal * 8 * fanout,
        "polls": 2 * internal + leaves,
        "moved_bytes": tasks * size if MOVES[strategy] else 0,
        "refcount_ops": 0,
        "root_frame_bytes": size,
    }


def generator(strategy, items, borrow, tasks):
    borrows = borrow is True or borrow == "true"
    in_cell = strategy == "rc" and borrows
    if strategy == "always_heap":
        main = a8(a8(GXX_HEAD) + 8 + 1) + 8 + 8  # acc, folded, the generator's handle, final awaiter
        # resume, destroy, 8-byte promise, handle, arg, rdepth (+4), n, index,
        # two flags, initial awaiter: 61; 64 bytes of locals, acc, the loop
        # counter, co_yield's awaiter and the final one
        gen_size = a8(61 + 64) + 8 + 8 + 2
        gen_size = a8(gen_size)
    else:
        # The consumer polls the generator inside one poll: it never holds it.
        main = a8(RUST_PREFIX)
        kept, _ = rust_locals(strategy, 64, borrows)
        # captured arg, rdepth, n and the state (21); arg, acc, the range,
        # the yield leaf (16) and the locals, all in the one await's prefix
        gen_size = a8(21 + 8 + 8 + 16 + 16 + kept)
    boxed = strategy == "always_heap" or (strategy == "anchor_box" and borrows)
    allocs = 1 + (1 if boxed else 0) + (1 if in_cell else 0)
    nbytes = main + (gen_size if boxed else 0) + (CELL + 64 if in_cell else 0)
    return {
        "tasks": tasks,
        "allocs": tasks * allocs,
        "bytes_allocated": tasks * nbytes,
        "polls": tasks * (items + 2),
        "moved_bytes": tasks * (main + gen_size) if MOVES[strategy] else 0,
        "refcount_ops": tasks * (1 if in_cell else 0),
        "root_frame_bytes": main,
    }


def select_loop(strategy, iterations, tasks):
    rc = strategy == "rc"
    i = iterations
    if strategy == "always_heap":
        read = gxx_level(256, waits=1)
        timeout = gxx_level(0, waits=1)
        # 64 bytes of locals, acc, folded; per select: select_any (two tasks,
        # parent handle, winner) 32, its result 16, a reference 8; final awaiter
        main = a8(a8(GXX_HEAD + 64) + 8 + 1) + 56 * i + 8
    else:
        kept, per_await = rust_locals(strategy, 256, True)
        read = a8(RUST_PREFIX + 8 + 8 + kept + IO + per_await)
        timeout = a8(RUST_PREFIX + 8 + 8 + IO)
        read_slot = 16 if strategy == "anchor_box" else read + 8  # MaybeDone of the box, or of the future
        own = read_slot + (timeout + 8) + 16 + 16  # the two MaybeDones, two Pins, the closure
        main_kept, main_per_await = rust_locals(strategy, 64, True)
        if i == 1:  # one await: all in the prefix (no rdepth: no later child)
            main = a8(RUST_PREFIX + 8 + 8 + 1 + main_kept + own + main_per_await)
        else:  # arg, acc, rdepth, folded, the locals; each select its own storage
            tag = 1 if 3 + i <= 256 else 2
            main = a8(12 + tag + 8 + 8 + 4 + 1 + main_kept) + own + main_per_await
    if strategy == "always_heap":
        allocs, nbytes = 1 + 2 * i, main + i * (read + timeout)
        polls = 1 + 4 * i
    else:
        evens, odds = (i + 1) // 2, i // 2
        polls = 1 + 4 * evens + 5 * odds
        if strategy == "pinbox":
            allocs, nbytes = 1, main
        elif strategy == "anchor_box":
            allocs, nbytes = 1 + i, main + i * read
        else:
            allocs, nbytes = 2 + i, main + (CELL + 64) + i * (CELL + 256)
    return {
        "tasks": tasks,
        "allocs": tasks * allocs,
        "bytes_allocated": tasks * nbytes,
        "polls": tasks * polls,
        "moved_bytes": tasks * (main + i * (read + timeout)) if MOVES[strategy] else 0,
        "refcount_ops": tasks * (5 * i + 1) if rc else 0,
        "root_frame_bytes": main,
    }


def server(strategy, rate, requests, seed):
    """Deterministic counts come from the closed run (every request at tick 0);
    the open-loop schedule only changes timing."""
    if strategy == "always_heap":
        query = gxx_level(128, waits=1)
        # 1024 bytes of locals, acc, folded; io awaiter, the call's task,
        # awaiter and result, io awaiter; final awaiter
        handle = a8(a8(GXX_HEAD + 1024) + 8 + 1) + IO + 24 + IO + 8
        allocs, nbytes = 2, handle + query
    else:
        query = a8(RUST_PREFIX + 8 + 8 + 128 + IO)
        kept, per_await = rust_locals(strategy, 1024, True)
        # three awaits: arg, acc, rdepth, folded and the locals in the
        # prefix; the largest await's own storage is the call's: acc's
        # temporary and the query's future
        handle = a8(RUST_PREFIX + 8 + 8 + 4 + 1 + kept) + 8 + query + per_await
        if strategy == "rc":
            allocs, nbytes = 2, handle + CELL + 1024
        else:  # query does not borrow, so anchor_box keeps it inline like pinbox
            allocs, nbytes = 1, handle
    return {
        "tasks": requests,
        "allocs": requests * allocs,
        "bytes_allocated": requests * nbytes,
        "polls": requests * 6,
        "moved_bytes": requests * (handle + query) if MOVES[strategy] else 0,
        "refcount_ops": requests * 7 if strategy == "rc" else 0,
        "root_frame_bytes": handle,
    }


# -- halo: g++'s frames, the directly awaited ones inside their caller's ----------
#
# docs/workloads.md ("halo"): a `call` child's frame is elided into its
# caller's, each call site its own space (sum over the steps); join and
# select children are elided only with elide_args=1; spawned tasks and
# generators keep heap frames. The frames are always_heap's (the g++ sizes
# above); what changes is which of them are allocations, and the counted
# root frame, which holds everything elided into it. Frames are built in
# place (nothing moves) and resumed bottom-up: polls are always_heap's.
# Peak live bytes: every task of these workloads is live at once at its
# peak, with all its frames (an elided frame is live as long as its host).


def halo_chain(elide, depth, borrow, waits, locals, tasks):
    frames = chain_frames("always_heap", depth, waits, locals, borrow_levels(borrow, depth))
    task = sum(frames)  # every level inside level_D's frame: one block
    return {
        "tasks": tasks, "allocs": tasks, "bytes_allocated": tasks * task,
        "polls": tasks * (2 * depth + 1 + waits), "moved_bytes": 0, "refcount_ops": 0,
        "root_frame_bytes": task, "peak_live_bytes": tasks * task,
    }


def halo_fanout(elide, k, depth, borrow, locals, tasks):
    chain_bytes = sum(chain_frames("always_heap", depth, 1, locals, borrow_levels(borrow, depth)))
    root = join_root("always_heap", [0] * k)  # the g++ join root: its k task handles
    task = root + k * chain_bytes
    return {
        "tasks": tasks,
        "allocs": tasks * (1 if elide else 1 + k),  # each joined chain one block, or all in the root
        "bytes_allocated": tasks * task,
        "polls": tasks * 2 * (1 + k * (depth + 1)),
        "moved_bytes": 0, "refcount_ops": 0,
        "root_frame_bytes": task if elide else root,
        "peak_live_bytes": tasks * task,
    }


def halo_select_loop(elide, iterations, tasks):
    if not elide:  # the arms are heap frames: always_heap's counts
        return select_loop("always_heap", iterations, tasks)
    read, timeout = gxx_level(256, waits=1), gxx_level(0, waits=1)
    main = a8(a8(GXX_HEAD + 64) + 8 + 1) + 56 * iterations + 8
    task = main + iterations * (read + timeout)  # every select's two arms, each in its own space
    return {
        "tasks": tasks, "allocs": tasks, "bytes_allocated": tasks * task,
        "polls": tasks * (1 + 4 * iterations), "moved_bytes": 0, "refcount_ops": 0,
        "root_frame_bytes": task, "peak_live_bytes": tasks * task,
    }


def halo_server(elide, rate, requests, seed):
    query = gxx_level(128, waits=1)
    handle = a8(a8(GXX_HEAD + 1024) + 8 + 1) + IO + 24 + IO + 8
    return {
        "tasks": requests, "allocs": requests, "bytes_allocated": requests * (handle + query),
        "polls": requests * 6, "moved_bytes": 0, "refcount_ops": 0,
        "root_frame_bytes": handle + query, "peak_live_bytes": requests * (handle + query),
    }


def halo_as_always_heap(general):
    """A workload without call, join or select edges: nothing is elided, so
    halo counts exactly what always_heap counts."""
    def rule(elide, **params):
        return general("always_heap", **params)
    return rule


def _with_halo(general, halo_rule):
    def rule(strategy, **params):
        base, _, settings = strategy.partition(":")
        if base == "halo":
            return halo_rule(settings == "elide_args=1", **params)
        return general(strategy, **params)
    return rule


RULES = {
    "chain": _with_halo(chain, halo_chain),
    "fanout": _with_halo(fanout, halo_fanout),
    "spawn_many": _with_halo(spawn_many, halo_as_always_heap(spawn_many)),
    "spawn_size": _with_halo(spawn_size, halo_as_always_heap(spawn_size)),
    "yield_many": _with_halo(yield_many, halo_as_always_heap(yield_many)),
    "skynet": _with_halo(skynet, halo_as_always_heap(skynet)),
    "generator": _with_halo(generator, halo_as_always_heap(generator)),
    "select_loop": _with_halo(select_loop, halo_select_loop),
    "server": _with_halo(server, halo_server),
}
