"""Executor behaviour beyond the built-in workloads: recursion, cancellation,
memory limits, and the contract between the program format and the C core."""

import ctypes

import pytest

from pinbench.model import program as prog
from pinbench.model.errors import UsageError
from pinbench.model.program import Program
from pinbench import strategies
from pinbench.bench.runner import execute
from pinbench.cython_core import _executor

from .oracles.checksum import expected_checksum
from .oracles.rules import glibc_chunk
from .programs import MEASURED

STRATEGIES = list(strategies.BUILTIN)


def test_op_codes_match_the_program_format():
    for name, code in _executor.OP_CODES.items():
        assert prog.OP_NAMES[code] == name
        assert getattr(prog, "OP_" + {"yield_now": "YIELD"}.get(name, name.upper())) == code


def recursive_tree():
    """A binary tree of calls through a back edge, with select cancellation inside."""
    p = Program("tree", tasks=3)
    p.fn("node", locals=32, borrows=True).work(8).join("node", "node", limit=4).call("race").work(8)
    p.fn("race", locals=16).select("quick", "slow")
    p.fn("quick", locals=64, borrows=True).work(16).io(1).work(16)
    p.fn("slow", locals=8).yield_now().io(2).work(8)
    return p.compile()


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("allocator", ["system", "pool", "bump"])
def test_recursion_with_cancellation_frees_everything(strategy, allocator):
    program = recursive_tree()
    m = execute(program, strategy, allocator)
    assert m["checksum"] == expected_checksum(program)
    assert m["live_blocks_end"] == 0 and m["live_bytes_end"] == 0
    assert m["frees"] == m["allocs"]
    # 31 node invocations per task (a full binary tree of depth 4), each with a race.
    invocations = 31 * (1 + 1 + 2)
    if strategy == "always_heap":
        assert m["allocs"] == 3 * invocations
    elif strategy == "pinbox":
        # The back edges are boxed; everything else is inline: the task plus 30 boxes.
        assert m["allocs"] == 3 * 31


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("allocator", ["system", "pool", "bump"])
def test_rounds_back_to_back_count_what_one_run_counts(strategy, allocator):
    """Rounds run without leaving C (how pyperf's loops and validate's runs
    are timed) start each from where a new run would: every count of the
    last round, the bookkeeping's peak included, is a single run's."""
    program = recursive_tree()
    layout = strategies.get(strategy).plan(program)
    _executor.drop_kept_tables()
    _executor.run(program, layout, allocator)  # the tables a later run keeps
    single = _executor.run(program, layout, allocator)
    rounds = _executor.run(program, layout, allocator, rounds=3)
    assert {k: v for k, v in rounds.items() if k not in MEASURED} == \
        {k: v for k, v in single.items() if k not in MEASURED}
    assert rounds["live_blocks_end"] == 0 and rounds["frees"] == rounds["allocs"]
    assert len(rounds["round_ns"]) == 3 and rounds["elapsed_ns"] == sum(rounds["round_ns"])
    assert list(single["round_ns"]) == [single["elapsed_ns"]]


def test_rounds_need_a_closed_loop_without_latency():
    program = recursive_tree()
    layout = strategies.get("pinbox").plan(program)
    with pytest.raises(ValueError, match="rounds must be at least 1"):
        _executor.run(program, layout, rounds=0)
    with pytest.raises(ValueError, match="1 with latency"):
        _executor.run(program, layout, rounds=2, latency_stride=1, latency_capacity=10)


def test_recursive_edges_are_boxed_by_inline_strategies():
    program = recursive_tree()
    for name in ("anchor_box", "pinbox", "rc"):
        layout = strategies.get(name).plan(program)
        for e in range(len(program.edge_callee)):
            if program.edge_back[e]:
                assert layout.edge_boxed[e] == 1


def test_a_run_over_the_memory_limit_stops_cleanly():
    p = Program("big", tasks=1000)
    p.fn("main", locals=4096).work(8).io(1)  # worked on, so held across the io
    program = p.compile()
    with pytest.raises(UsageError, match="needs more than"):
        execute(program, "pinbox", "system", memory_limit=1 << 20)
    # The executor itself reports what it counted and freed everything.
    layout = strategies.get("pinbox").plan(program)
    with pytest.raises(_executor.ExecutorError) as err:
        _executor.run(program, layout, "pool", 1 << 20)
    assert err.value.counters["live_blocks_end"] == 0
    assert err.value.counters["live_bytes_end"] == 0


def test_detached_spawns_count_in_the_checksum():
    p = Program("detached", tasks=2)
    p.fn("main", locals=8).spawn("bg", count=3, wait=False).work(8)
    p.fn("bg", locals=8).io(2).work(8)
    program = p.compile()
    values = {execute(program, s, "system")["checksum"] for s in STRATEGIES}
    assert values == {expected_checksum(program)}


def _malloc_footprint(request: int) -> int:
    """What a block of that many bytes takes from this process's malloc (the
    sanitizers' under tools/sanitize.sh, where it is not glibc's chunk): its
    usable size and the size word."""
    libc = ctypes.CDLL(None)  # the malloc every library here calls, interposed or not
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.malloc_usable_size.restype = ctypes.c_size_t
    libc.malloc_usable_size.argtypes = [ctypes.c_void_p]
    libc.free.argtypes = [ctypes.c_void_p]
    block = libc.malloc(request)
    try:
        return libc.malloc_usable_size(block) + ctypes.sizeof(ctypes.c_size_t)
    finally:
        libc.free(block)


@pytest.mark.parametrize("engine", ["interpreted", "compiled"])
def test_the_allocator_is_asked_for_the_native_frames_size(engine):
    """Where a native compiler's frame is larger than the executor's (the
    root of fanout under anchor_box: rustc's 288 bytes, the executor's
    104), the block asked of the allocator is the larger, so that glibc
    places and coalesces as under the native program. One task: the root
    and each of the k children's boxed levels are live together."""
    from pinbench.bench.workloads import get_workload

    workload = get_workload("fanout")
    params = workload.parse_params({"k": "8", "depth": "2", "locals": "0", "tasks": "1"})
    program = workload.compile(params)
    layout = strategies.get("anchor_box").plan(program)
    asked = [max(int(size), int(native)) for size, native in zip(layout.fn_size, layout.fn_bytes)]
    root = program.fn_names.index("root")
    assert layout.fn_bytes[root] > layout.fn_size[root]  # the case this test is about
    levels = [i for i, name in enumerate(program.fn_names) if name.startswith("level_")]
    # The core reckons a block's footprint by glibc's rule, or by the usable
    # size where malloc is not glibc's (a sanitized build; a compiled engine
    # is never sanitized): the same figure under glibc.
    expected = {rule(asked[root]) + params["k"] * sum(rule(asked[i]) for i in levels)
                for rule in (glibc_chunk, _malloc_footprint)}
    run = execute(program, "anchor_box", "system", engine=engine)
    assert run["allocs_per_task"] == 1 + params["k"] * len(levels)  # every level boxed
    assert run["allocator_peak_bytes"] in expected
