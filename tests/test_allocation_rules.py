"""The allocation rules, asserted exactly for every workload and strategy.

Expected values come from tests/oracles/rules.py (formulas derived by hand from
docs/model.md); checksums from tests/oracles/checksum.py (an independent evaluator).
"""

import pytest

from pinbench import strategies
from pinbench.bench.runner import execute
from pinbench.bench.workloads import WORKLOADS

from .oracles.checksum import expected_checksum
from .oracles.rules import STORAGE_STRATEGIES, chain_headline, expected
from .programs import run_workload

# Every built-in, halo with each option set (join and select children elided too; calls after a
# suspension elided too) and always_heap at clang's frame sizes.
STRATEGIES = list(strategies.BUILTIN) + ["halo:elide_args=1", "halo:elide_late=1", "always_heap:clang=1"]
ALLOCATORS = ["system", "pool", "bump"]
EXACT = ["tasks", "allocs", "bytes_allocated", "polls", "moved_bytes", "refcount_ops", "root_frame_bytes",
         "copied_bytes", "stack_growths"]


def check(workload, strategy, allocator="system", **params):
    program, parsed, m = run_workload(workload, strategy, allocator, **params)
    want = expected(workload, strategy, **parsed)
    assert set(EXACT) <= set(want)
    got = {k: m[k] for k in want}  # EXACT, and the peak where the rule gives it (halo's)
    assert got == want, f"{workload} {parsed} under {strategy}"
    assert m["frees"] == m["allocs"]
    assert m["live_blocks_end"] == 0 and m["live_bytes_end"] == 0
    return program, m


# chain: the table of docs/workloads.md, depths 0-16, several borrow patterns.
@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("depth", list(range(17)))
@pytest.mark.parametrize("borrow", ["all", "none", "10", "01", "110"])
def test_chain_rules(strategy, depth, borrow):
    program, m = check("chain", strategy, depth=depth, borrow=borrow, waits=1, locals=24, tasks=3)
    # docs/workloads.md's headline counts per task, a heap strategy's beside its rules.
    per_task = chain_headline(strategy, depth, borrow)
    if strategy in STORAGE_STRATEGIES:  # a stack (plus its growths) or a task and its slabs
        # a level's frame: 64 + 24 + 8 = 96 bytes; in a slab with its header: 112,
        # eight to a 984-byte slab
        per_task = 1 + (m["stack_growths"] / 3 if strategy == "go_stack" else 0) + (
            -(-depth // (984 // 112)) if strategy == "swift_slab" else 0) + (
            depth if strategy == "dotnet" else 0)  # every level below the root suspends
        if strategy == "loom":  # the first chunk, and a bigger one for the whole chain parked
            per_task = 1 if depth == 0 else 2
    assert m["allocs_per_task"] == per_task
    # Every task waits on io, so all are live at once at the peak (what a
    # stack-based strategy holds beside its frames: peak_reserved_bytes).
    if strategy not in STORAGE_STRATEGIES:
        assert m["peak_live_bytes"] == m["bytes_allocated"] == m["peak_reserved_bytes"]
    elif strategy not in ("dotnet", "loom"):  # their boxes or chunks beside the frames still running
        assert m["peak_live_bytes"] == 3 * sum(m["frame_bytes"].values())


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("waits,locals_", [(0, 0), (0, 64), (3, 8), (5, 100)])
def test_chain_waits_and_locals(strategy, waits, locals_):
    check("chain", strategy, depth=5, borrow="101", waits=waits, locals=locals_, tasks=2)


def test_pinbox_is_one_block_of_root_size_and_always_heap_the_sum_of_frames():
    program, _, pin = run_workload("chain", "pinbox", depth=6, tasks=5)
    assert pin["bytes_per_task"] == pin["root_frame_bytes"] == pin["frame_bytes"]["level_6"]
    program, _, heap = run_workload("chain", "always_heap", depth=6, tasks=5)
    assert heap["bytes_per_task"] == sum(heap["frame_bytes"].values())


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize(
    "workload,params",
    [
        ("fanout", {"k": 3, "depth": 2, "borrow": "all", "locals": 16, "tasks": 2}),
        ("fanout", {"k": 5, "depth": 4, "borrow": "10", "locals": 64, "tasks": 3}),
        ("fanout", {"k": 1, "depth": 0, "borrow": "none", "locals": 0, "tasks": 1}),
        # stacks past 4000 bytes (loom thaws one frame at a time), past 2 KiB (Go grows)
        ("chain", {"depth": 8, "borrow": "all", "waits": 2, "locals": 1024, "tasks": 3}),
        ("chain", {"depth": 12, "borrow": "10", "waits": 3, "locals": 600, "tasks": 2}),
        ("fanout", {"k": 2, "depth": 6, "borrow": "none", "locals": 2000, "tasks": 2}),
        ("spawn_many", {"tasks": 1}),
        ("spawn_many", {"tasks": 100}),
        ("spawn_size", {"size": 16, "tasks": 7}),
        ("spawn_size", {"size": 8192, "tasks": 20}),
        ("yield_many", {"yields": 0, "tasks": 3}),
        ("yield_many", {"yields": 50, "tasks": 10}),
        ("skynet", {"fanout": 10, "levels": 3}),
        ("skynet", {"fanout": 3, "levels": 5}),
        ("generator", {"items": 0, "borrow": "true", "tasks": 2}),
        ("generator", {"items": 100, "borrow": "true", "tasks": 3}),
        ("generator", {"items": 100, "borrow": "false", "tasks": 3}),
        ("select_loop", {"iterations": 1, "tasks": 2}),
        ("select_loop", {"iterations": 10, "tasks": 2}),
        ("select_loop", {"iterations": 11, "tasks": 3}),
        ("server", {"requests": 1}),
        ("server", {"requests": 40, "rate": 5000}),
        ("million", {"tasks": 1}),
        ("million", {"tasks": 300}),
    ],
)
def test_workload_rules(workload, params, strategy):
    check(workload, strategy, **params)


SMALL = {
    "chain": {"depth": 4, "borrow": "10", "waits": 2, "tasks": 5},
    "fanout": {"k": 3, "depth": 2, "tasks": 4},
    "spawn_many": {"tasks": 50},
    "yield_many": {"yields": 7, "tasks": 5},
    "spawn_size": {"size": 100, "tasks": 6},
    "skynet": {"fanout": 4, "levels": 3},
    "generator": {"items": 9, "tasks": 4},
    "select_loop": {"iterations": 9, "tasks": 3},
    "server": {"requests": 30},
    "million": {"tasks": 40},
}


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_checksum_identical_for_every_strategy_and_allocator(workload):
    small = SMALL.get(workload, WORKLOADS[workload].quick)  # a new workload: its quick parameters
    program, _, _ = run_workload(workload, "pinbox", **small)
    want = expected_checksum(program)
    seen = {}
    for strategy in STRATEGIES:
        for allocator in ALLOCATORS:
            _, _, m = run_workload(workload, strategy, allocator, **small)
            seen[(strategy, allocator)] = m["checksum"]
            assert m["live_blocks_end"] == 0 and m["live_bytes_end"] == 0
    assert set(seen.values()) == {want}, seen


@pytest.mark.parametrize("allocator", ALLOCATORS)
def test_counts_do_not_depend_on_the_allocator(allocator):
    _, _, base = run_workload("select_loop", "anchor_box", "system", iterations=20, tasks=4)
    _, _, other = run_workload("select_loop", "anchor_box", allocator, iterations=20, tasks=4)
    for key in EXACT + ["peak_live_bytes", "peak_live_blocks", "checksum", "ticks"]:
        assert other[key] == base[key], key


def test_skynet_million_leaves_answer():
    _, _, m = run_workload("skynet", "pinbox", fanout=10, levels=6)
    assert m["checksum"] == 499999500000
    assert m["tasks"] == 1_111_111
    assert m["live_blocks_end"] == 0


def test_peak_per_live_task_does_not_charge_tasks_that_never_overlap():
    """Two spawned tasks awaited one after the other: at the peak the root and
    one child are live, so the peak per live task is half the peak, not a
    third (the peak over all tasks run). Frame sizes derived by hand
    (docs/model.md, "Native frame sizes")."""
    from pinbench.model.program import Program

    p = Program("serial", tasks=1)
    p.fn("main").spawn("leaf", count=1).spawn("leaf", count=1)
    p.fn("leaf")
    program = p.compile()
    # rustc: main holds arg, rdepth (before the second spawn) in its prefix
    # (13 + 8 + 4 -> 32) and each await's temporary and handle (16); an empty
    # leaf is its 13-byte prefix (16). g++: main is 81 bytes, acc at 88,
    # folded, two (handle, result, 32-byte awaiter) groups, the final
    # awaiter: 208; the leaf 81, acc at 88, final awaiter: 104.
    for strategy, root, leaf in (("pinbox", 48, 16), ("always_heap", 208, 104)):
        m = execute(program, strategy, "system")
        assert m["peak_live_bytes"] == root + leaf, strategy
        assert m["peak_live_tasks"] == 2, strategy
        assert m["peak_bytes_per_live_task"] == (root + leaf) / 2, strategy
        assert m["peak_bytes_per_task"] == (root + leaf) / 3, strategy


@pytest.mark.parametrize("iterations", [1, 2, 7])
def test_dotnet_pooled_boxes_are_reused(iterations):
    """pool=2: one task's selects run one after the other, so each arm's box
    is back in its method's pool before the next select needs one."""
    program, parsed, m = run_workload("select_loop", "dotnet:pool=2", iterations=iterations, tasks=1)
    got = {k: m[k] for k in EXACT}
    assert got == expected("select_loop", "dotnet", pool=2, **parsed)
    assert m["frees"] == m["allocs"] and m["live_blocks_end"] == 0 and m["live_bytes_end"] == 0


def test_dotnet_a_method_that_never_suspends_never_allocates():
    _, _, m = run_workload("chain", "dotnet", depth=6, waits=0, tasks=4)
    assert m["allocs"] == 4 and m["copied_bytes"] == 0  # the task roots (Task.Run) alone


def test_halo_gives_each_awaited_call_its_own_space_and_keeps_join_children_on_the_heap():
    """Sequential awaits do not share the child area under halo (the sum of
    the elided frames, not the largest); by default only the call before
    main's first suspension is elided (clang 22's branch ratio), every call
    with elide_late=1; a join's children are heap frames unless
    elide_args=1. clang frames by hand (docs/model.md, "Bottom-up: a clang
    22 coroutine frame"): a leaf that waits on io once is 56 bytes of head,
    its io awaiter (16), arg (8) and the suspend index (1): 81, 88 on the
    heap and as an alloca; main is 56, the join's awaiter (32, the slot the
    calls' awaiters share), the calls' tasks (one more 8-byte slot), arg
    and acc across the second call and across the join (8 each), the index:
    121, 128; each elided leaf adds its 88."""
    from pinbench.model.program import Program

    p = Program("halo_sum", tasks=2)
    p.fn("main").call("a").call("b").join("a", "b")
    p.fn("a").io(1)
    p.fn("b").io(1)
    program = p.compile()
    main, leaf = 128, 88
    heap = execute(program, "always_heap:clang=1", "system")
    assert heap["frame_bytes"] == {"main": main, "a": leaf, "b": leaf}
    assert heap["allocs"] == 2 * 5 and heap["bytes_allocated"] == 2 * (main + 4 * leaf)
    halo = execute(program, "halo", "system")  # a elided; b comes after a's await
    assert halo["root_frame_bytes"] == main + leaf
    assert halo["allocs"] == 2 * (1 + 1 + 2) and halo["bytes_allocated"] == 2 * (main + 4 * leaf)
    late = execute(program, "halo:elide_late=1", "system")
    # a and b each in their own space, not one 88-byte area shared by both
    assert late["root_frame_bytes"] == main + 2 * leaf
    assert late["allocs"] == 2 * (1 + 2) and late["bytes_allocated"] == 2 * (main + 4 * leaf)
    elided = execute(program, "halo:elide_args=1", "system")  # a and the join's two, not b
    assert elided["root_frame_bytes"] == main + 3 * leaf
    assert elided["allocs"] == 2 * 2 and elided["bytes_allocated"] == 2 * (main + 4 * leaf)
    for m in (halo, late, elided):
        assert m["polls"] == heap["polls"] and m["checksum"] == heap["checksum"] == expected_checksum(program)
        assert m["moved_bytes"] == 0 and m["live_blocks_end"] == 0 and m["live_bytes_end"] == 0


def test_halo_elides_no_call_inside_a_recursive_cycle():
    """f calls g and g calls f back (a back edge): f and g are one strongly
    connected component, and clang has split f before it looks at f's call
    of g (CoroAnnotationElide runs per SCC, on presplit callers only): g's
    frame stays on the heap though the edge is not a back edge. main's call
    of f crosses components and is elided."""
    from pinbench.model.program import Program

    p = Program("cycle", tasks=1)
    p.fn("main").call("f")
    p.fn("f").call("g")
    p.fn("g").io(1).call("f", limit=1)
    program = p.compile()
    heap = execute(program, "always_heap:clang=1", "system")
    for name in ("halo", "halo:elide_late=1"):
        halo = execute(program, name, "system")
        # main, f, g, f again (the back edge), g again: f inside main, the rest apart
        assert heap["allocs"] == 5 and halo["allocs"] == 4, name
        assert halo["bytes_allocated"] == heap["bytes_allocated"], name


def test_halo_keeps_recursive_spawned_and_generator_frames_on_the_heap():
    from pinbench.model.program import Program

    p = Program("halo_heap", tasks=1)
    p.fn("main").call("rec").spawn("leaf", count=1).gen("numbers", 3)
    p.fn("rec").io(1).call("rec", limit=2)
    p.fn("leaf")
    p.fn("numbers", locals=8, generator=True).work(8)
    program = p.compile()
    for name in ("halo", "halo:elide_args=1", "halo:elide_late=1"):
        halo = execute(program, name, "system")
        heap = execute(program, "always_heap:clang=1", "system")
        # rec's first frame is elided into main; its two recursive calls,
        # the spawned leaf and the generator are heap frames, as always_heap's
        assert halo["allocs"] == heap["allocs"] - 1, name
        assert halo["bytes_allocated"] == heap["bytes_allocated"], name
        assert halo["checksum"] == heap["checksum"] == expected_checksum(program)
        assert halo["live_blocks_end"] == 0
