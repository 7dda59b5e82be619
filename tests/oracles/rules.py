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


class IoLeaf(int):
    """The io leaf's 16 bytes: marks a frame whose function waits on io."""


IO = IoLeaf(16)


def a8(n):
    return (n + 7) // 8 * 8


def borrow_levels(borrow: str, depth: int) -> set[int]:
    if borrow == "all":
        return set(range(depth + 1))
    if borrow == "none":
        return set()
    return {i for i in range(depth + 1) if borrow[i % len(borrow)] == "1"}


def chain_headline(strategy: str, depth: int, borrow: str):
    """docs/workloads.md's headline: a chain task's allocations under a heap
    strategy (None for a storage strategy, whose test derives its own)."""
    b = borrow_levels(borrow, depth)
    return {
        "always_heap": depth + 1,
        "anchor_box": 1 + len(b - {depth}),
        "pinbox": 1,
        "rc": 1 + len(b),
        "halo": 1,  # every level's frame inside the root's
        "halo:elide_args=1": 1,
        "halo:elide_late=1": 1,
        "always_heap:clang=1": depth + 1,
    }.get(strategy)


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


# -- clang 22's frames: halo, and always_heap:clang=1 ---------------------------
#
# docs/model.md ("Bottom-up: a clang 22 coroutine frame"), worked out here per
# workload. A clang frame is the resume and destroy pointers and the promise
# (56 bytes; a generator's 24), then what lives across a suspension, each
# field at its alignment, packed as LLVM packs a frame: by falling alignment,
# and a gap before an aligned field filled first by the largest field that
# fits it without padding. operator new gets the end rounded up to 8 (a
# generator's too); an elided call's alloca, the end
# rounded up to the largest alignment (16 with an array of 16 bytes or more).
TASK_HEAD, GEN_HEAD = 56, 24
P8, I32, B1 = (8, 8), (4, 4), (1, 1)
IO_AW = (16, 8)


def pack(head, fields):
    """(end, alignment) of ``fields`` after ``head`` bytes, as the docs say:
    at each offset the most aligned field that needs no padding there (the
    largest of them); when none does, pad to the nearest offset one can use."""
    todo = sorted(fields, key=lambda f: (-f[1], -f[0]))
    end = head
    while todo:
        fits = [f for f in todo if end % f[1] == 0]
        if not fits:
            end = min(-(-end // a) * a for _, a in todo)
            continue
        todo.remove(fits[0])
        end += fits[0][0]
    return end, max([8] + [a for _, a in fields])


def heap(head, fields):
    end, _ = pack(head, fields)
    return a8(end)


def alloca(head, fields):
    end, align = pack(head, fields)
    return (-(-end // align) * align, align)


def array(n):
    return (n, 16 if n >= 16 else 1)


def clang_leaf(locals_, waits):
    """level_0: work, io x waits, work; acc (once worked) lives across every io."""
    if waits == 0:
        return [P8, B1, B1]  # arg; the suspend index, the initial awaiter: nothing suspends
    worked = [P8, array(locals_)] if locals_ else []
    return [IO_AW, P8, *worked, B1]


def clang_level(locals_, child=None):
    """A calling level: work, call, work; ``child`` its elided callee's alloca."""
    worked = [P8, array(locals_)] if locals_ else []
    return [P8, P8, P8, *worked, B1, *([child] if child else [])]  # task, awaiter, arg, ..., index


def clang_chain(depth, waits, locals_, elide):
    """(heap size of each level, the root's counted size, the root's alloca)."""
    own = [clang_leaf(locals_, waits)] + [clang_level(locals_) for _ in range(depth)]
    inner = alloca(TASK_HEAD, own[0])
    for level in range(1, depth + 1):
        inner = alloca(TASK_HEAD, clang_level(locals_, inner))
    top = own[0] if depth == 0 else clang_level(locals_, alloca_chain(depth - 1, waits, locals_))
    return [heap(TASK_HEAD, f) for f in own], heap(TASK_HEAD, top), inner


def alloca_chain(depth, waits, locals_):
    inner = alloca(TASK_HEAD, clang_leaf(locals_, waits))
    for _ in range(depth):
        inner = alloca(TASK_HEAD, clang_level(locals_, inner))
    return inner


def clang_task(frames, allocs, tasks, polls, root, peak=None):
    total = sum(frames)
    return {"tasks": tasks, "allocs": tasks * allocs, "bytes_allocated": tasks * total,
            "polls": tasks * polls, "moved_bytes": 0, "refcount_ops": 0, "root_frame_bytes": root,
            **({"peak_live_bytes": peak} if peak is not None else {})}


def halo_chain(strategy, depth, borrow, waits, locals, tasks):
    polls = 2 * depth + 1 + waits
    levels, elided_root, _ = clang_chain(depth, waits, locals, True)
    if strategy == "always_heap:clang=1":
        return clang_task(levels, depth + 1, tasks, polls, levels[-1])
    # every call is its function's first await and no recursion: all inside the root
    return clang_task([elided_root], 1, tasks, polls, elided_root, tasks * elided_root)


def halo_fanout(strategy, k, depth, borrow, locals, tasks):
    join = (8 * k + 16, 8)  # join_all: a task per child, parent handle, count
    levels, elided_top, inner = clang_chain(depth, 1, locals, True)
    polls = 2 * (1 + k * (depth + 1))
    if strategy == "always_heap:clang=1":
        root = heap(TASK_HEAD, [join, P8, B1])
        return clang_task([root] + k * levels, 1 + k * (depth + 1), tasks, polls, root)
    if strategy == "halo:elide_args=1":  # the joined chains inside the root too
        root = heap(TASK_HEAD, [join, P8, B1] + [inner] * k)
        return clang_task([root], 1, tasks, polls, root, tasks * root)
    root = heap(TASK_HEAD, [join, P8, B1])  # each joined chain one block of its own
    return clang_task([root] + [elided_top] * k, 1 + k, tasks, polls, root, tasks * (root + k * elided_top))


def clang_spawner(count, recursive=False):
    handles = [(24, 8)] if count > 1 else [P8]  # the Vec, or the one handle
    return heap(TASK_HEAD, [(32, 8), *handles, P8, *([I32] if recursive else []), B1])  # wait_handles, arg


CLANG_EMPTY = heap(TASK_HEAD, [P8, B1, B1])  # arg, index, initial awaiter: 72


def halo_spawn_many(strategy, tasks):
    return _clang_spawner(tasks, CLANG_EMPTY)


def halo_spawn_size(strategy, size, tasks):
    return _clang_spawner(tasks, CLANG_EMPTY)  # its locals are worked on, never across a suspension


def _clang_spawner(count, child):
    root = clang_spawner(count)
    vec = 0 if count == 1 else 1
    return {"tasks": 1 + count, "allocs": 1 + vec + count,
            "bytes_allocated": root + count * child + (8 * count if vec else 0),
            "polls": 2 + count, "moved_bytes": 0, "refcount_ops": 0, "root_frame_bytes": root}


def halo_yield_many(strategy, yields, tasks):
    size = heap(TASK_HEAD, [(4, 4), P8, B1] if yields else [P8, B1, B1])
    return clang_task([size], 1, tasks, yields + 1, size)


def halo_skynet(strategy, fanout, levels):
    internal = sum(fanout**i for i in range(levels))
    leaves = fanout**levels
    tasks = internal + leaves
    size = clang_spawner(fanout, recursive=True)  # its spawn recurses: rdepth lives on
    return {"tasks": tasks, "allocs": tasks + internal, "bytes_allocated": tasks * size + internal * 8 * fanout,
            "polls": 2 * internal + leaves, "moved_bytes": 0, "refcount_ops": 0, "root_frame_bytes": size}


def halo_generator(strategy, items, borrow, tasks):
    main = CLANG_EMPTY  # iterating a generator never suspends main
    gen_size = heap(GEN_HEAD, [P8, P8, P8, P8, array(64), B1, B1])  # arg, n, counter, acc, locals
    return clang_task([main, gen_size], 2, tasks, items + 2, main)


def clang_read(locals_):
    """read_fast/read_slow/query: work, io, work."""
    return [IO_AW, P8, P8, array(locals_), B1]


def halo_select_loop(strategy, iterations, tasks):
    i = iterations
    # main: select_any (two tasks, parent, winner) 32, arg, its locals, acc
    # before each select, the folded flag across every select after the
    # first: kept as the earlier selects' winners (an int each: a select's
    # `any` is its winner >= 0)
    main_fields = [(32, 8), P8, array(64)] + [P8] * i + [I32] * (i - 1) + [B1]
    read, timeout = clang_read(256), [IO_AW, P8, B1]
    polls = 1 + 4 * i
    if strategy == "halo:elide_args=1":  # every select's two arms inside main
        arms = [alloca(TASK_HEAD, read), alloca(TASK_HEAD, timeout)] * i
        main = heap(TASK_HEAD, main_fields + arms)
        return clang_task([main], 1, tasks, polls, main, tasks * main)
    main = heap(TASK_HEAD, main_fields)
    return clang_task([main] + i * [heap(TASK_HEAD, read), heap(TASK_HEAD, timeout)], 1 + 2 * i, tasks, polls,
                      main)


def halo_server(strategy, rate, requests, seed):
    query = clang_read(128)
    # handle: io, work, call query, work, io: the io awaiters share one slot
    # (the call's awaiter in it too), the call's task, the locals, arg, acc
    # across the call and across the last io
    handle = [IO_AW, P8, array(1024), P8, P8, P8, B1]
    if strategy == "halo:elide_late=1":  # query is called after the read's await
        root = heap(TASK_HEAD, handle + [alloca(TASK_HEAD, query)])
        return clang_task([root], 1, requests, 6, root, requests * root)
    sizes = [heap(TASK_HEAD, handle), heap(TASK_HEAD, query)]
    peak = requests * sum(sizes) if strategy != "always_heap:clang=1" else None
    return clang_task(sizes, 2, requests, 6, sizes[0], peak)


CLANG_RULES = {
    "chain": halo_chain, "fanout": halo_fanout, "spawn_many": halo_spawn_many, "spawn_size": halo_spawn_size,
    "yield_many": halo_yield_many, "skynet": halo_skynet, "generator": halo_generator,
    "select_loop": halo_select_loop, "server": halo_server,
}


def _with_halo(general, workload):
    def rule(strategy, **params):
        if strategy.partition(":")[0] == "halo" or strategy == "always_heap:clang=1":
            return CLANG_RULES[workload](strategy, **params)
        return general(strategy, **params)
    return rule


RULES = {
    "chain": _with_halo(chain, "chain"),
    "fanout": _with_halo(fanout, "fanout"),
    "spawn_many": _with_halo(spawn_many, "spawn_many"),
    "spawn_size": _with_halo(spawn_size, "spawn_size"),
    "yield_many": _with_halo(yield_many, "yield_many"),
    "skynet": _with_halo(skynet, "skynet"),
    "generator": _with_halo(generator, "generator"),
    "select_loop": _with_halo(select_loop, "select_loop"),
    "server": _with_halo(server, "server"),
    # million's one function is a chain's lone leaf without locals: it waits on io once.
    "million": lambda strategy, tasks: RULES["chain"](strategy, depth=0, borrow="none", waits=1, locals=0,
                                                      tasks=tasks),
}


# -- stacks and slabs (docs/model.md, "Storage") --------------------------------
#
# swift_slab and fiber count the model's own frames: a 64-byte
# header (the bottom-up state, parent link, slot, task and stack), the
# locals (8-aligned) and the child area: the largest of its steps' -- a
# pointer per child of a call, join, select or generator, an io leaf (16),
# a yield leaf (8), a join handle (8) or a handle Vec (24). Each workload
# below lists, per task, the stacks (or task allocations) it starts and the
# frames it pushes on them, in order; the storage rules replay them.
#
# go_stack counts Go's frames instead, as `go build -gcflags=-S` (Go 1.19.8)
# lays out the programs bench/validate/go.py writes: the locals (8-aligned)
# and 40 bytes beside them in a function that parks on a channel (an io
# leaf; 8 more per further wait), 32 in one that calls and has more than
# one byte of locals, 24 in one without; its return address included. A goroutine's stack holds 56 bytes below its first
# frame (newproc1 leaves 32 at the top, goexit's PC, the `go` statement's
# closure of 16). Each function's prologue checks the stack (obj6.go
# stacksplit): a frame of at most StackSmall = 128 bytes (return address
# aside) grows it when the stack pointer, its return address pushed, is at
# most 928 bytes from the end; a bigger one when the stack pointer less
# its frame beyond 128 is. newstack doubles the stack, again while the
# frame and the 928 bytes do not fit. A goroutine parking on a channel
# first runs chanrecv1 (40, nosplit), chanrecv (144), acquireSudog (112,
# nosplit), newobject (40), mallocgc (120) and heapBitsSetType (272) on its
# stack (go build -gcflags=runtime=-S), each split one checking it. What a
# growth counts as copied: the bytes in use below the frame pushed. A
# function that joins, selects, spawns or drives a generator keeps the
# model's frame (Go's was not measured), checked by the same prologue rule.

FRAME_HEAD = 64
GO_START, GO_GUARD, GO_SMALL, GO_BASE = 2048, 928, 128, 56
GO_PARK = ((40, False), (144, True), (112, False), (40, True), (120, True), (272, True))
FIBER_STACK, PAGE = 128 * 1024, 4096
SLAB, SLAB_HEAD, ALLOC_HEAD = 984, 32, 16


def frame(locals_=0, area=0, waits=1):
    """The model's frame (its io leaf is 16 bytes however many ``waits``)."""
    return FRAME_HEAD + a8(locals_) + area


class GoFrame(int):
    """Go's frame size, and whether its function parks on a channel."""

    parks = False


def go_frame(locals_=0, area=0, waits=1):
    parks = isinstance(area, IoLeaf)  # IO itself, not a sum that happens to be 16
    size = GoFrame(a8(locals_) + (40 + 8 * (waits - 1) if parks else 32 if locals_ > 1 else 24))
    size.parks = parks
    return size


model_frame = frame  # go_stack too, for a join, select, spawn or generator (Go's frame not measured)


def frame_of(strategy):
    """The frame rule a storage strategy counts by."""
    return go_frame if strategy == "go_stack" else frame


def a16(n):
    return (n + 15) // 16 * 16


def glibc_chunk(request):
    """The chunk glibc's malloc carves for a request: the request and
    malloc's 8-byte size word, rounded up to 16, at least 32
    (tests/c/test_allocators.c checks the rule against the C library)."""
    return max(32, a16(request + 8))


class Storage:
    """The rules of one stack-based strategy, replayed over stack events."""

    def __init__(self, strategy):
        self.strategy = strategy
        self.allocs = self.bytes = self.copied = self.growths = 0

    def block(self, nbytes):
        self.allocs += 1
        self.bytes += nbytes

    def new(self, size):
        """A stack (or task allocation) with a base frame of ``size``."""
        if self.strategy == "swift_slab":
            self.block(size)  # the task and its root's context: one allocation
            return {"slabs": [], "current": None}
        if self.strategy == "fiber":
            self.block(FIBER_STACK + PAGE)  # the stack and its guard page
            stack = {"cap": FIBER_STACK, "used": 0}
        else:
            self.block(GO_START)
            stack = {"cap": GO_START, "used": GO_BASE}
        self.push(stack, size)
        return stack

    def push(self, stack, size):
        if self.strategy == "swift_slab":
            return self._bump(stack, ALLOC_HEAD + a16(size))
        if self.strategy == "fiber":
            assert stack["used"] + size <= stack["cap"], "overflow"
        else:  # Go: the function's prologue, then its park path's, in order
            offset = 0
            for each, splits in ((int(size), True), *(GO_PARK if getattr(size, "parks", False) else ())):
                sp = stack["used"] + offset + 8  # its return address pushed
                if splits and sp + max(each - 8 - GO_SMALL, 0) + GO_GUARD >= stack["cap"]:
                    cap = stack["cap"] * 2
                    while cap - sp < each - 8 + GO_GUARD:
                        cap *= 2
                    self.block(cap)
                    self.copied += stack["used"]
                    self.growths += 1
                    stack["cap"] = cap
                offset += each
        stack["used"] += size
        return size

    def pop(self, stack, size):
        if self.strategy == "swift_slab":
            slab = stack["slabs"][stack["current"]]
            slab[1] -= ALLOC_HEAD + a16(size)
            if slab[1] == 0 and stack["current"] > 0:
                stack["current"] -= 1
        else:
            stack["used"] -= size

    def _bump(self, stack, need):
        slabs, i = stack["slabs"], stack["current"]
        if i is None and slabs:
            i = 0
        if i is None or slabs[i][1] + need > slabs[i][0]:
            if i is not None and i + 1 < len(slabs) and need <= slabs[i + 1][0]:
                i += 1
            else:
                freed = sum(cap for cap, _ in slabs[(i or 0) + 1:]) if i is not None else 0
                del slabs[(i + 1 if i is not None else 0):]
                cap = max(SLAB, ALLOC_HEAD + max(need - ALLOC_HEAD, freed))
                self.block(SLAB_HEAD + cap)
                slabs.append([cap, 0])
                i = len(slabs) - 1
        slabs[i][1] += need
        stack["current"] = i

    def totals(self, tasks, polls, root, extra_allocs=0, extra_bytes=0):
        return {
            "tasks": tasks,
            "allocs": self.allocs + extra_allocs,
            "bytes_allocated": self.bytes + extra_bytes,
            "polls": polls,
            "moved_bytes": 0,
            "refcount_ops": 0,
            "root_frame_bytes": root,
            "copied_bytes": self.copied,
            "stack_growths": self.growths,
        }


def held_while_waiting(workload, strategy, **params):
    """(blocks, bytes) one task of chain or fanout holds while its leaves
    wait (every task at once), by the stack, slab and chunk rules."""
    frame = frame_of(strategy)
    levels = [frame(params["locals"], IO if i == 0 else PTR) for i in range(params["depth"] + 1)]
    arms = 1 if workload == "chain" else params["k"]
    roots = [] if workload == "chain" else [model_frame(0, PTR * arms)]
    if strategy == "loom":  # each thread parked: frozen in one chunk of its frames and the JDK's
        levels = [jdk_frame(params["locals"], parks=i == 0) for i in range(params["depth"] + 1)]
        held = roots + [sum(levels)] * arms
        return len(held), sum(size + JDK_PARK + JDK_ENTRY + CHUNK_EXTRA for size in held)
    st = Storage(strategy)
    stacks = [st.new(root) for root in roots]
    for _ in range(arms):
        stacks.append(st.new(levels[-1]))
        for size in reversed(levels[:-1]):
            st.push(stacks[-1], size)
    if strategy == "swift_slab":
        return st.allocs, st.bytes  # the tasks and slabs, all kept
    cap = (lambda s: FIBER_STACK + PAGE) if strategy == "fiber" else (lambda s: s["cap"])
    return len(stacks), sum(cap(s) for s in stacks)


def storage_chain(strategy, depth, borrow, waits, locals, tasks):
    frame = frame_of(strategy)
    levels = [frame(locals, (IO if waits else 0) if i == 0 else PTR, waits) for i in range(depth + 1)]
    st = Storage(strategy)
    for _ in range(tasks):
        stack = st.new(levels[depth])
        for i in range(depth - 1, -1, -1):
            st.push(stack, levels[i])
    return st.totals(tasks, tasks * (2 * depth + 1 + waits), levels[depth])


def storage_fanout(strategy, k, depth, borrow, locals, tasks):
    frame = frame_of(strategy)
    levels = [frame(locals, IO if i == 0 else PTR) for i in range(depth + 1)]
    root = model_frame(0, PTR * k)
    st = Storage(strategy)
    for _ in range(tasks):
        st.new(root)
        for _ in range(k):  # every arm on a stack (a child task) of its own
            stack = st.new(levels[depth])
            for i in range(depth - 1, -1, -1):
                st.push(stack, levels[i])
    return st.totals(tasks, tasks * 2 * (1 + k * (depth + 1)), root)


def _storage_spawner(strategy, count, child):
    frame = frame_of(strategy)
    root = model_frame(0, 24 if count > 1 else 8)
    st = Storage(strategy)
    st.new(root)
    for _ in range(count):
        st.new(child)
    vec = count > 1
    return st.totals(1 + count, 2 + count, root, 1 if vec else 0, 8 * count if vec else 0)


def storage_spawn_many(strategy, tasks):
    return _storage_spawner(strategy, tasks, frame_of(strategy)())


def storage_spawn_size(strategy, size, tasks):
    return _storage_spawner(strategy, tasks, frame_of(strategy)(size))


def storage_yield_many(strategy, yields, tasks):
    frame = frame_of(strategy)
    main = frame(0, 8 if yields else 0)
    st = Storage(strategy)
    for _ in range(tasks):
        st.new(main)
    return st.totals(tasks, tasks * (yields + 1), main)


def storage_skynet(strategy, fanout, levels):
    frame = frame_of(strategy)
    internal = sum(fanout**i for i in range(levels))
    tasks = internal + fanout**levels
    node = model_frame(0, 24 if fanout > 1 else 8)
    st = Storage(strategy)
    for _ in range(tasks):
        st.new(node)
    vecs = internal if fanout > 1 else 0
    return st.totals(tasks, 2 * internal + fanout**levels, node, vecs, vecs * 8 * fanout)


def storage_generator(strategy, items, borrow, tasks):
    frame = frame_of(strategy)
    main, numbers = model_frame(0, PTR), frame(64)
    st = Storage(strategy)
    for _ in range(tasks):
        stack = st.new(main)
        if strategy == "swift_slab":  # a callee's context in the task's slabs
            st.push(stack, numbers)
            st.pop(stack, numbers)
        else:  # a coroutine of its own (iter.Pull, a fiber)
            st.new(numbers)
    return st.totals(tasks, tasks * (items + 2), main)


def storage_select_loop(strategy, iterations, tasks):
    frame = frame_of(strategy)
    main, read, timeout = model_frame(64, 2 * PTR), frame(256, IO), frame(0, IO)
    st = Storage(strategy)
    for _ in range(tasks):
        st.new(main)
        for _ in range(iterations):  # both arms run concurrently: each on its own
            st.new(read)
            st.new(timeout)
    return st.totals(tasks, tasks * (1 + 4 * iterations), main)


def storage_server(strategy, rate, requests, seed):
    frame = frame_of(strategy)
    handle, query = frame(1024, IO, 2), frame(128, IO)  # handle: io, call query, io
    st = Storage(strategy)
    for _ in range(requests):
        stack = st.new(handle)
        st.push(stack, query)
    return st.totals(requests, requests * 6, handle)


STORAGE_RULES = {
    "chain": storage_chain,
    "fanout": storage_fanout,
    "spawn_many": storage_spawn_many,
    "spawn_size": storage_spawn_size,
    "yield_many": storage_yield_many,
    "skynet": storage_skynet,
    "generator": storage_generator,
    "select_loop": storage_select_loop,
    "server": storage_server,
    "million": lambda strategy, tasks: storage_chain(strategy, 0, "none", 1, 0, tasks),
}


# dotnet: a task's root (Task.Run) and a generator (an iterator object) are
# boxes from the start; any other frame runs on the thread's stack and is
# boxed -- copied once -- when it first suspends, with every caller
# awaiting it in a plain call; a frame that never suspends never allocates.


def _dotnet(tasks, polls, root, boxed=(), extra_boxes=(), extra_allocs=0, extra_bytes=0):
    """``boxed``: frames boxed on suspension, per task; ``extra_boxes``:
    frames that are boxes from the start besides the root, per task."""
    per_task_allocs = 1 + len(boxed) + len(extra_boxes)
    per_task_bytes = root + sum(boxed) + sum(extra_boxes)
    return {
        "tasks": tasks[0], "allocs": tasks[1] * per_task_allocs + extra_allocs,
        "bytes_allocated": tasks[1] * per_task_bytes + extra_bytes, "polls": polls, "moved_bytes": 0,
        "refcount_ops": 0, "root_frame_bytes": root, "copied_bytes": tasks[1] * sum(boxed), "stack_growths": 0,
    }


def dotnet_chain(depth, borrow, waits, locals, tasks):
    levels = [frame(locals, (IO if waits else 0) if i == 0 else PTR) for i in range(depth + 1)]
    boxed = levels[:depth] if waits else []  # the leaf's io suspends every level below the root
    return _dotnet((tasks, tasks), tasks * (2 * depth + 1 + waits), levels[depth], boxed)


def dotnet_fanout(k, depth, borrow, locals, tasks):
    levels = [frame(locals, IO if i == 0 else PTR) for i in range(depth + 1)]
    return _dotnet((tasks, tasks), tasks * 2 * (1 + k * (depth + 1)), frame(0, PTR * k), levels * k)


def _dotnet_spawner(count, child):
    vec = count > 1
    root = frame(0, 24 if count > 1 else 8)
    return _dotnet((1 + count, 1), 2 + count, root, (), [child] * count, 1 if vec else 0, 8 * count if vec else 0)


def dotnet_skynet(fanout, levels):
    internal = sum(fanout**i for i in range(levels))
    tasks = internal + fanout**levels
    vecs = internal if fanout > 1 else 0
    return _dotnet((tasks, tasks), 2 * internal + fanout**levels, frame(0, 24 if fanout > 1 else 8),
                   extra_allocs=vecs, extra_bytes=vecs * 8 * fanout)


def dotnet_select_loop(iterations, tasks, pool=0):
    main, read, timeout = frame(64, 2 * PTR), frame(256, IO), frame(0, IO)
    both = [read, timeout] * iterations  # both arms suspend on io before either wins
    out = _dotnet((tasks, tasks), tasks * (1 + 4 * iterations), main, both)
    if pool and tasks == 1:  # one task: each select's arms are back in their pools before the next
        fresh = [read, timeout] + ([read] if iterations > 1 else [])  # read_fast, timeout, read_slow
        out["allocs"], out["bytes_allocated"] = 1 + len(fresh), main + sum(fresh)
    return out


DOTNET_RULES = {
    "chain": dotnet_chain,
    "fanout": dotnet_fanout,
    "spawn_many": lambda tasks: _dotnet_spawner(tasks, frame()),
    "spawn_size": lambda size, tasks: _dotnet_spawner(tasks, frame(size)),
    "yield_many": lambda yields, tasks: _dotnet((tasks, tasks), tasks * (yields + 1), frame(0, 8 if yields else 0)),
    "skynet": dotnet_skynet,
    "generator": lambda items, borrow, tasks: _dotnet((tasks, tasks), tasks * (items + 2), frame(0, PTR), (),
                                                      [frame(64)]),
    "select_loop": dotnet_select_loop,
    "server": lambda rate, requests, seed: _dotnet((requests, requests), requests * 6, frame(1024, IO),
                                                   [frame(128, IO)]),
    "million": lambda tasks: dotnet_chain(0, "none", 1, 0, tasks),
}


# loom: each virtual thread (a task, a join or select arm) replays its own
# events: its first frame waits frozen in a chunk of its size (and room for
# the JDK's frames of a park there); calls push frames on the carrier;
# parking freezes the carrier's frames, with the JDK's park frames above
# them (and its entry frames below the thread's first frame), into the
# newest chunk if it has room, else into a new chunk of their size (an empty
# chunk too small is dropped first); running again thaws the newest chunk,
# whole under 4000 bytes, else its top frame (and the park frames); a return
# into a frozen frame thaws the same way. A chunk counts 16 bytes of
# metadata beside its frames.
#
# The frames are JDK 25's, from what its chunks hold (docs/validation.md,
# "loom"): a parked chain thread's StackChunk is 48 + S + 8*ceil(S/256)
# bytes, S = 16 + 144 + leaf + depth * level, measured at locals 0, 8, 16,
# 24, 32, 40, 48, 64, 128, 256 and depths 0, 1, 3:
#   leaf  80  80  96  96 112 112 128 144 208 336
#   level 32  48  64  64  80  80  96 112 176 304
# A level is C2's 16 bytes of return address and frame pointer, its spill
# slots for the running sum and each local word, rounded to 16 bytes, and 16
# more when it has locals; a leaf holds 48 more instead (the park path C2
# inlines into it), locals or not. Of the 144, 64 are Continuation.yield0's frame (above the frames)
# and 80 Continuation.enter's (below the thread's first frame), per
# -XX:CompileCommand=print. A function that yields is taken to be one that
# parks; one that joins, selects, waits for spawned tasks or drives a
# generator keeps the model's frame (only the chain was measured).

THAW_ALL_BELOW, CHUNK_EXTRA = 4000, 16
JDK_PARK, JDK_ENTRY = 64, 80


def jdk_frame(locals_=0, parks=False):
    """C2's frame of a generated Java method with ``locals_`` bytes of long locals."""
    words = -(-locals_ // 8)
    return 16 + a16(8 * (words + 1)) + (48 if parks else 16 if words else 0)


class Chunk:
    def __init__(self, cap):
        self.cap, self.frames, self.entry, self.park = cap, [], 0, 0

    def depth(self):
        return sum(self.frames) + self.entry + self.park


class VirtualThread:
    def __init__(self, totals, first):
        self.t = totals
        self.carrier = []
        self.chunks = []  # oldest first
        self._new_chunk(first + JDK_ENTRY + JDK_PARK)
        self.chunks[-1].frames.append(first)
        self.thaw()  # it first runs

    def _new_chunk(self, cap):
        self.t["allocs"] += 1
        self.t["bytes"] += cap + CHUNK_EXTRA
        self.chunks.append(Chunk(cap))

    def thaw(self):
        c = self.chunks[-1]
        whole = c.depth() < THAW_ALL_BELOW
        take = c.frames[:] if whole else c.frames[-1:]
        self.t["copied"] += c.depth() if whole else sum(take) + c.park
        del c.frames[len(c.frames) - len(take):]
        self.carrier[:0] = take
        c.park = 0
        if whole:
            c.entry = 0
        if not c.frames and len(self.chunks) > 1:
            self.chunks.pop()

    def call(self, size):
        self.carrier.append(size)

    def freeze(self):
        """Park: the carrier's frames, the park frames above them and, when
        they hold the thread's first frame, the entry frames below."""
        first = not any(c.frames for c in self.chunks)
        need = sum(self.carrier) + JDK_PARK + (JDK_ENTRY if first else 0)
        if self.chunks and self.chunks[-1].cap - self.chunks[-1].depth() < need:
            if not self.chunks[-1].frames:
                self.chunks.pop()  # empty and too small
            self._new_chunk(need)
        elif not self.chunks:
            self._new_chunk(need)
        c = self.chunks[-1]
        c.frames.extend(self.carrier)
        c.park = JDK_PARK
        c.entry += JDK_ENTRY if first else 0
        self.t["copied"] += need
        self.carrier = []

    def park_and_resume(self):
        self.freeze()
        self.thaw()

    def ret(self):
        self.carrier.pop()
        if not self.carrier and any(c.frames for c in self.chunks):
            self.thaw()  # the return barrier


def _loom_totals():
    return {"allocs": 0, "bytes": 0, "copied": 0}


def _loom(t, tasks, polls, root, extra_allocs=0, extra_bytes=0):
    return {
        "tasks": tasks, "allocs": t["allocs"] + extra_allocs, "bytes_allocated": t["bytes"] + extra_bytes,
        "polls": polls, "moved_bytes": 0, "refcount_ops": 0, "root_frame_bytes": root,
        "copied_bytes": t["copied"], "stack_growths": 0,
    }


def _loom_path(t, levels, waits):
    """A virtual thread running levels[-1] down to levels[0], which waits."""
    v = VirtualThread(t, levels[-1])
    for size in reversed(levels[:-1]):
        v.call(size)
    for _ in range(waits):
        v.park_and_resume()
    for _ in levels:
        v.ret()


def loom_chain(depth, borrow, waits, locals, tasks):
    levels = [jdk_frame(locals, parks=i == 0 and waits > 0) for i in range(depth + 1)]
    t = _loom_totals()
    for _ in range(tasks):
        _loom_path(t, levels, waits)
    return _loom(t, tasks, tasks * (2 * depth + 1 + waits), levels[depth])


def _loom_parked_once(t, size, parks=1):
    """A virtual thread of one frame that parks ``parks`` times (awaiting
    children or a yield) before it returns."""
    v = VirtualThread(t, size)
    for _ in range(parks):
        v.park_and_resume()
    v.ret()


def loom_fanout(k, depth, borrow, locals, tasks):
    levels = [jdk_frame(locals, parks=i == 0) for i in range(depth + 1)]
    root = model_frame(0, PTR * k)
    t = _loom_totals()
    for _ in range(tasks):
        for _ in range(k):
            _loom_path(t, levels, 1)
        _loom_parked_once(t, root)
    return _loom(t, tasks, tasks * 2 * (1 + k * (depth + 1)), root)


def _loom_spawner(count, child):
    root = model_frame(0, 24 if count > 1 else 8)
    t = _loom_totals()
    _loom_parked_once(t, root)
    for _ in range(count):
        _loom_parked_once(t, child, parks=0)
    vec = count > 1
    return _loom(t, 1 + count, 2 + count, root, 1 if vec else 0, 8 * count if vec else 0)


def loom_skynet(fanout, levels):
    internal = sum(fanout**i for i in range(levels))
    tasks = internal + fanout**levels
    node = model_frame(0, 24 if fanout > 1 else 8)
    t = _loom_totals()
    for _ in range(internal):
        _loom_parked_once(t, node)
    for _ in range(fanout**levels):
        _loom_parked_once(t, node, parks=0)
    vecs = internal if fanout > 1 else 0
    return _loom(t, tasks, 2 * internal + fanout**levels, node, vecs, vecs * 8 * fanout)


def loom_yield_many(yields, tasks):
    main = jdk_frame(parks=yields > 0)
    t = _loom_totals()
    for _ in range(tasks):
        _loom_parked_once(t, main, parks=yields)
    return _loom(t, tasks, tasks * (yields + 1), main)


def loom_generator(items, borrow, tasks):
    main = model_frame(0, PTR)
    t = _loom_totals()
    for _ in range(tasks):  # the generator's frame comes and goes on the carrier
        _loom_parked_once(t, main, parks=0)
    return _loom(t, tasks, tasks * (items + 2), main)


def loom_select_loop(iterations, tasks):
    main, read, timeout = model_frame(64, 2 * PTR), jdk_frame(256, True), jdk_frame(0, True)
    t = _loom_totals()
    for _ in range(tasks):
        _loom_parked_once(t, main, parks=iterations)  # each select parks it once
        for i in range(iterations):  # both arms park on io; the loser is dropped frozen
            read_wins = i % 2 == 0
            for size, wins in ((read, read_wins), (timeout, not read_wins)):
                v = VirtualThread(t, size)
                v.freeze()  # parks: frozen ...
                if wins:
                    v.thaw()  # ... and the winner runs again
    return _loom(t, tasks, tasks * (1 + 4 * iterations), main)


def loom_server(rate, requests, seed):
    handle, query = jdk_frame(1024, True), jdk_frame(128, True)  # handle: io, call query, io
    t = _loom_totals()
    for _ in range(requests):
        v = VirtualThread(t, handle)
        v.park_and_resume()  # io(1)
        v.call(query)
        v.park_and_resume()  # the query's io(2)
        v.ret()
        v.park_and_resume()  # io(1)
        v.ret()
    return _loom(t, requests, requests * 6, handle)


LOOM_RULES = {
    "chain": loom_chain,
    "fanout": loom_fanout,
    "spawn_many": lambda tasks: _loom_spawner(tasks, jdk_frame()),
    "spawn_size": lambda size, tasks: _loom_spawner(tasks, jdk_frame(size)),
    "yield_many": loom_yield_many,
    "skynet": loom_skynet,
    "generator": loom_generator,
    "select_loop": loom_select_loop,
    "server": loom_server,
    "million": lambda tasks: loom_chain(0, "none", 1, 0, tasks),
}
STORAGE_STRATEGIES = ("go_stack", "swift_slab", "fiber", "dotnet", "loom")


def expected(workload, strategy, **params):
    """Every exact count of ``workload`` under ``strategy`` (any built-in)."""
    if strategy == "dotnet":
        return DOTNET_RULES[workload](**params)
    if strategy == "loom":
        return LOOM_RULES[workload](**params)
    if strategy in STORAGE_STRATEGIES:
        return STORAGE_RULES[workload](strategy, **params)
    return {**RULES[workload](strategy, **params), "copied_bytes": 0, "stack_growths": 0}


# -- what a task holds: its blocks and its runtime's own objects ------------------
#
# Each runtime's task object, read from its source (the versions are those
# docs/model.md names, "The runtimes' task objects"), written out here
# without looking at strategies/*.py:
G = 416  # Go 1.19.8: runtime.G is 392 bytes (sizeof_test.go), malloc'd in the 416-byte class
TOKIO_HEADER, TOKIO_CORE_FIELDS, TOKIO_TRAILER = 32, 8 + 8, 16 + 16  # tokio 1.24.2 task/core.rs
# VirtualThread, VThreadContinuation, its Runnable and runContinuation lambda, Thread's
# interruptLock, the root thread container's ConcurrentHashMap node (JDK 25, GC.class_histogram)
VIRTUAL_THREAD = 168 + 48 + 24 + 16 + 16 + 32
STACK_CHUNK = 12 + 4 * 4 + 4 + 1 + 8 + 4  # header; parent, size, sp, argsize; cont, flags, pc, maxThawingSize
DOTNET_BOX = 16 + (4 + 4 + 5 * 8) + 8 + 8 + 8  # header; Task; m_result; _moveNextAction, Context
DOTNET_ITERATOR = 16  # an iterator object's header
SWIFT_TASK = 24 * 8 + 3 * 8 + 8  # AsyncTask (24 words), FutureFragment, a u64 result
FIBER_CONTROL = 256 + 64  # Boost's 32-byte record, placed at a 256-byte boundary, 64 bytes above the frames


def tokio_extra(future):
    """A tokio task cell's bytes beyond its future: Stage<T> adds a word
    to the future, and holds at least Finished's 32 bytes."""
    stage = max(a8(future) + 8, 32)
    return TOKIO_HEADER + TOKIO_CORE_FIELDS + stage + TOKIO_TRAILER - future


def chunk_object(counted):
    """A stack chunk's object beside its ``counted`` bytes (frames and
    metadata): its header and fields, and a GC bitmap of one bit per
    4-byte narrow oop, in whole 8-byte words."""
    return a8(STACK_CHUNK) + 8 * -(-counted // 256)


def held(workload, strategy, **params):
    """(runtime bytes per task, held bytes per live task) for a workload
    whose tasks are all alive at once, parked at their leaf: million, or a
    chain with one wait whose stack does not grow."""
    if workload == "million":
        workload, params = "chain", {"depth": 0, "borrow": "none", "waits": 1, "locals": 0,
                                     "tasks": params["tasks"]}
    assert workload == "chain" and params["waits"] == 1
    tasks, depth = params["tasks"], params["depth"]
    totals = expected("chain", strategy, **params)
    per_task = totals["bytes_allocated"] // tasks  # every block a parked chain allocated is still held
    levels = [frame(params["locals"], IO if i == 0 else PTR) for i in range(depth + 1)]
    base = strategy.partition(":")[0]
    if base in ("always_heap", "halo"):  # a C++ coroutine's task is its frames
        return 0, per_task
    if base in ("pinbox", "anchor_box", "rc"):  # tokio's cell around the root future
        extra = tokio_extra(totals["root_frame_bytes"])
        return extra, per_task + extra
    if base == "dotnet":  # the root's box and a box per level below, each with its Task fields
        return DOTNET_BOX * (depth + 1), sum(levels) + DOTNET_BOX * (depth + 1)
    if base == "loom":  # the root's first chunk, then (deeper) one chunk of the parked chain
        levels = [jdk_frame(params["locals"], parks=i == 0) for i in range(depth + 1)]
        jdk = JDK_PARK + JDK_ENTRY + CHUNK_EXTRA  # the JDK's own frames and the chunk's metadata
        first, parked = levels[-1] + jdk, sum(levels) + jdk
        chunks = [first] if depth == 0 else [first, parked]
        return VIRTUAL_THREAD + sum(chunk_object(c) for c in chunks), parked + chunk_object(parked) + VIRTUAL_THREAD
    _, nbytes = held_while_waiting("chain", strategy, **params)
    extra = {"go_stack": G, "swift_slab": SWIFT_TASK, "fiber": FIBER_CONTROL}[base]
    inside = base == "fiber"  # the fiber's control block is in its mapping, held already
    return extra, nbytes + (0 if inside else extra)


# -- explain's headline: the blocks a chain task holds at its largest moment ------
#
# What docs/model.md calls the blocks beyond the task's own, one and many,
# for the strategies that hold more than one: always_heap's callee frames
# (each a heap-allocated coroutine frame), anchor_box's boxed futures, rc's
# cells of borrowed locals, .NET's boxes (a state machine copied in at each
# level's first suspension) and Swift's slabs.
EXTRA_BLOCKS = {
    "always_heap": ("heap frame", "heap frames"),
    "anchor_box": ("box", "boxes"),
    "rc": ("Rc cell", "Rc cells"),
    "dotnet": ("box", "boxes"),
    "swift_slab": ("slab", "slabs"),
}


def explain_headline(strategy, depth, borrow, locals_):
    """``always_heap: 1001 allocations: the task's own + 1000 heap frames``:
    explain's first words for one chain task. A heap strategy holds what it
    allocates (chain_headline); a stack-based one, with every level entered
    and the leaf waiting: one stack (go_stack; fiber's fixed stack even when
    the frames overflow it), one chunk (loom: the chain frozen in one), the
    root's box and one per level below (dotnet: every level suspends), or
    the task's allocation and its slabs (swift_slab, by the slab rules)."""
    n = chain_headline(strategy, depth, borrow)
    if n is None:
        if strategy == "swift_slab":
            n, _ = held_while_waiting("chain", strategy, depth=depth, locals=locals_)
        else:
            n = {"go_stack": 1, "fiber": 1, "loom": 1, "dotnet": depth + 1}[strategy]
    if n == 1:
        return f"{strategy}: 1 allocation"
    one, many = EXTRA_BLOCKS[strategy]
    return f"{strategy}: {n} allocations: the task's own + {n - 1} {one if n == 2 else many}"
