"""The allocation rules of docs/workloads.md, written out as formulas.

Each function returns the exact totals the model predicts for one run of a
built-in workload under one strategy: allocations, bytes allocated, polls,
moved bytes, refcount operations, tasks. They are derived by hand from
docs/model.md and share no code with model/layout.py, so a test that
compares the two can fail.
"""

from __future__ import annotations

H = {"always_heap": 56, "anchor_box": 40, "pinbox": 40, "rc": 40}
PTR = 8
IO_LEAF = 16
CELL = 24
MOVES = {"always_heap": False, "anchor_box": True, "pinbox": True, "rc": True}


def a8(n):
    return (n + 7) // 8 * 8


def borrow_levels(borrow: str, depth: int) -> set[int]:
    if borrow == "all":
        return set(range(depth + 1))
    if borrow == "none":
        return set()
    return {i for i in range(depth + 1) if borrow[i % len(borrow)] == "1"}


def chain_frames(strategy, depth, waits, locals_, borrows):
    """Per-level frame size and which levels are separate allocations
    (beyond the task's own), for one chain whose top is the task root or not."""
    h = H[strategy]
    sizes = []
    for i in range(depth + 1):
        in_cell = strategy == "rc" and i in borrows
        own = h + (PTR if in_cell else a8(locals_))
        if i == 0:
            child = IO_LEAF if waits else 0
        elif strategy == "always_heap" or (strategy == "anchor_box" and (i - 1) in borrows):
            child = PTR
        else:
            child = sizes[i - 1]
        sizes.append(own + child)
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


def fanout(strategy, k, depth, borrow, locals, tasks):
    b = borrow_levels(borrow, depth)
    one = chain_one(strategy, depth, 1, locals, b, is_root=False)
    h = H[strategy]
    boxed_child = strategy == "always_heap" or (strategy == "anchor_box" and depth in b)
    root = h + k * (PTR if boxed_child else one["top_size"])
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


def _spawner(strategy, count, child_size):
    """A root that spawns ``count`` tasks of ``child_size`` and awaits them all."""
    h = H[strategy]
    root = h + (PTR if count == 1 else 24)
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
    return _spawner(strategy, tasks, H[strategy])


def spawn_size(strategy, size, tasks):
    return _spawner(strategy, tasks, H[strategy] + a8(size))


def yield_many(strategy, yields, tasks):
    size = H[strategy] + (8 if yields else 0)
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
    size = H[strategy] + (PTR if fanout == 1 else 24)
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
    h = H[strategy]
    borrows = borrow is True or borrow == "true"
    in_cell = strategy == "rc" and borrows
    gen_size = h + (PTR if in_cell else 64)
    boxed = strategy == "always_heap" or (strategy == "anchor_box" and borrows)
    main = h + (PTR if boxed else gen_size)
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
    h = H[strategy]
    rc = strategy == "rc"
    read = h + (PTR if rc else 256) + IO_LEAF
    timeout = h + IO_LEAF
    if strategy == "always_heap":
        read_slot, timeout_slot = PTR, PTR
    elif strategy == "anchor_box":
        read_slot, timeout_slot = PTR, timeout
    else:
        read_slot, timeout_slot = read, timeout
    main = h + (PTR if rc else 64) + read_slot + timeout_slot
    i = iterations
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
    h = H[strategy]
    query = h + 128 + IO_LEAF
    if strategy == "always_heap":
        handle = h + 1024 + max(IO_LEAF, PTR)
        allocs, nbytes = 2, handle + query
    elif strategy == "rc":
        handle = h + PTR + max(IO_LEAF, query)
        allocs, nbytes = 2, handle + CELL + 1024
    else:  # query does not borrow, so anchor_box keeps it inline like pinbox
        handle = h + 1024 + max(IO_LEAF, query)
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


RULES = {
    "chain": chain,
    "fanout": fanout,
    "spawn_many": spawn_many,
    "spawn_size": spawn_size,
    "yield_many": yield_many,
    "skynet": skynet,
    "generator": generator,
    "select_loop": select_loop,
    "server": server,
}
