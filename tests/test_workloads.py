"""The built-in workloads: exact program shapes, parameter parsing and the
one-line errors for bad names and values."""

from pathlib import Path

import numpy as np
import pytest

from pinbench.model.program import OP_NAMES
from pinbench.bench.workloads import (
    WORKLOADS,
    Param,
    borrow_levels,
    get_workload,
    load_workload_file,
)

from .helpers import assert_usage_error

ECHO = Path(__file__).resolve().parent.parent / "examples" / "echo.toml"


def build(name, **params):
    return get_workload(name).compile(params)


def body(c, fn_name):
    """(step names, args) of one function's steps."""
    f = c.fn_index(fn_name)
    start, count = int(c.fn_step_start[f]), int(c.fn_step_count[f])
    return [OP_NAMES[op] for op in c.step_op[start:start + count]], c.step_arg[start:start + count].tolist()


def callees(c, fn_name):
    """Callee names of one function's edges, in order."""
    f = c.fn_index(fn_name)
    start, count = int(c.fn_step_start[f]), int(c.fn_step_count[f])
    if count == 0:
        return []
    first = int(c.step_edge_start[start])
    last = int(c.step_edge_start[start + count - 1] + c.step_edge_count[start + count - 1])
    return [c.fn_names[g] for g in c.edge_callee[first:last].tolist()]


# -- the registry ---------------------------------------------------------


def test_registry_order_and_descriptions():
    assert list(WORKLOADS) == [
        "chain", "fanout", "spawn_many", "yield_many", "spawn_size", "skynet", "generator",
        "select_loop", "million", "server",
    ]
    for name, workload in WORKLOADS.items():
        assert workload.name == name
        for text in (workload.summary, workload.origin):
            assert text and "\n" not in text
        for param in workload.params:
            assert param.help and param.validate(name, param.default) == param.default


def test_parameters_and_defaults():
    defaults = {
        name: {p.name: p.default for p in workload.params} for name, workload in WORKLOADS.items()
    }
    assert defaults == {
        "chain": {"depth": 8, "borrow": "all", "waits": 1, "locals": 64, "tasks": 1000},
        "fanout": {"k": 8, "depth": 2, "borrow": "all", "locals": 64, "tasks": 1000},
        "spawn_many": {"tasks": 10000},
        "yield_many": {"yields": 100, "tasks": 1000},
        "spawn_size": {"size": 1024, "tasks": 1000},
        "skynet": {"fanout": 10, "levels": 6},
        "generator": {"items": 1000, "borrow": True, "tasks": 100},
        "select_loop": {"iterations": 1000, "tasks": 100},
        "million": {"tasks": 10000},
        "server": {"rate": 100000, "requests": 10000, "seed": 1},
    }
    ranges = {
        (w, p.name): (p.minimum, p.maximum)
        for w, workload in WORKLOADS.items() for p in workload.params if p.kind == "int"
    }
    assert ranges[("chain", "depth")] == (0, 1000)
    assert ranges[("chain", "waits")] == (0, 1000)
    assert ranges[("chain", "locals")] == (0, 65536)
    assert ranges[("fanout", "k")] == (1, 10000)
    assert ranges[("spawn_size", "size")] == (16, 65536)
    assert ranges[("skynet", "fanout")] == (2, 100)
    assert ranges[("skynet", "levels")] == (0, 12)
    assert ranges[("generator", "items")] == (0, 10**7)
    assert ranges[("select_loop", "iterations")] == (1, 10**5)
    assert ranges[("yield_many", "yields")] == (0, 10**6)
    assert all(ranges[(w, "tasks")] == (1, 10**7) for w in WORKLOADS if (w, "tasks") in ranges)


def test_unknown_workload_lists_the_known_ones():
    assert_usage_error(
        lambda: get_workload("chian"),
        "unknown workload 'chian'", "known: chain, fanout, spawn_many, yield_many, spawn_size, "
        "skynet, generator, select_loop",
    )


def test_compiled_programs_record_their_parameters():
    c = get_workload("chain").compile({"depth": 2})
    assert c.params == {"depth": 2, "borrow": "all", "waits": 1, "locals": 64, "tasks": 1000}


# -- parameters -------------------------------------------------------------


def test_parse_params_types_values_and_fills_defaults():
    chain = get_workload("chain")
    assert chain.parse_params({"depth": "3", "borrow": "10", "tasks": " 5 "}) == {
        "depth": 3, "borrow": "10", "waits": 1, "locals": 64, "tasks": 5,
    }
    generator = get_workload("generator")
    for text, value in [("true", True), ("False", False), ("yes", True), ("0", False)]:
        assert generator.parse_params({"borrow": text})["borrow"] is value


def test_unknown_parameter_lists_the_valid_ones():
    assert_usage_error(
        lambda: get_workload("chain").parse_params({"deph": "3"}),
        "workload 'chain' has no parameter 'deph'", "valid parameters: depth, borrow, waits, locals, tasks",
    )
    assert_usage_error(
        lambda: get_workload("skynet").compile({"tasks": 3}),
        "workload 'skynet' has no parameter 'tasks'", "valid parameters: fanout, levels",
    )


@pytest.mark.parametrize(
    "workload, raw, fragments",
    [
        ("chain", {"depth": "abc"}, ("parameter depth='abc'", "a whole number from 0 to 1000")),
        ("chain", {"depth": "1001"}, ("parameter depth=1001", "a whole number from 0 to 1000")),
        ("chain", {"waits": "-1"}, ("parameter waits=-1", "from 0 to 1000")),
        ("chain", {"locals": "1e3"}, ("parameter locals='1e3'", "from 0 to 65536")),
        ("chain", {"tasks": "0"}, ("parameter tasks=0", "from 1 to 10000000")),
        ("chain", {"borrow": "12"}, ("parameter borrow='12'", '"all", "none" or a string of 0s and 1s')),
        ("chain", {"borrow": ""}, ("parameter borrow=''",)),
        ("fanout", {"borrow": "ALL"}, ("parameter borrow='ALL'",)),
        ("fanout", {"k": "0"}, ("parameter k=0", "from 1 to 10000")),
        ("spawn_size", {"size": "8"}, ("parameter size=8", "from 16 to 65536")),
        ("skynet", {"levels": "13"}, ("parameter levels=13", "from 0 to 12")),
        ("generator", {"borrow": "maybe"}, ("parameter borrow='maybe'", "true or false")),
        ("select_loop", {"iterations": "0"}, ("parameter iterations=0", "from 1 to 100000")),
        ("yield_many", {"yields": "2000000"}, ("parameter yields=2000000", "from 0 to 1000000")),
    ],
)
def test_bad_parameter_values(workload, raw, fragments):
    assert_usage_error(lambda: get_workload(workload).parse_params(raw), f"workload '{workload}'", *fragments)


@pytest.mark.parametrize("value", [-1, True, 2.0, "3"])
def test_compile_validates_typed_values(value):
    assert_usage_error(lambda: build("chain", depth=value), "workload 'chain': parameter depth=")


def test_param_kinds_parse_the_command_line_form():
    p = Param("n", "int", 1, "a count", minimum=1, maximum=9)
    assert p.parse("w", "9") == 9
    assert p.allowed_text() == "a whole number from 1 to 9"
    assert_usage_error(lambda: p.parse("w", "10"), "workload 'w': parameter n=10 is not allowed")


def test_combinations_over_the_frame_budget_are_rejected():
    assert_usage_error(
        lambda: build("chain", depth=1000, tasks=10**7),
        "workload 'chain'", "GiB of frames", "lower tasks, depth or locals",
    )
    assert_usage_error(
        lambda: get_workload("spawn_size").parse_params({"size": "65536", "tasks": "10000000"}),
        "workload 'spawn_size'", "lower tasks or size",
    )
    assert_usage_error(
        lambda: build("fanout", k=10000, depth=1000), "workload 'fanout'", "lower tasks, k, depth or locals",
    )


# -- chain and fanout -----------------------------------------------------------


def test_chain_default_shape():
    c = build("chain")
    assert c.fn_names == tuple(f"level_{i}" for i in range(9))
    assert (c.entry, c.tasks) == (8, 1000)
    assert body(c, "level_0") == (["work", "io", "work"], [64, 1, 64])
    for level in range(1, 9):
        assert body(c, f"level_{level}") == (["work", "call", "work"], [64, 0, 64])
        assert callees(c, f"level_{level}") == [f"level_{level - 1}"]
    assert c.fn_locals.tolist() == [64] * 9
    assert c.fn_borrows.tolist() == [1] * 9
    assert c.edge_back.tolist() == [0] * 8
    assert [c.duration(f) for f in range(9)] == [1] * 9


@pytest.mark.parametrize(
    "borrow, depth, flags",
    [
        ("all", 3, [1, 1, 1, 1]),
        ("none", 3, [0, 0, 0, 0]),
        ("10", 4, [1, 0, 1, 0, 1]),
        ("011", 5, [0, 1, 1, 0, 1, 1]),
        ("1", 2, [1, 1, 1]),
        ("0001", 1, [0, 0]),
    ],
)
def test_chain_borrow_patterns_read_from_the_leaf_up(borrow, depth, flags):
    assert build("chain", borrow=borrow, depth=depth).fn_borrows.tolist() == flags
    assert borrow_levels(borrow, depth + 1) == [bool(f) for f in flags]


def test_chain_without_locals_or_waits():
    c = build("chain", depth=2, locals=0, waits=3)
    assert body(c, "level_0") == (["io"] * 3, [1, 1, 1])
    assert body(c, "level_2") == (["call"], [0])
    assert c.duration(c.entry) == 3
    c = build("chain", depth=0, locals=0, waits=0)
    assert c.fn_names == ("level_0",)
    assert c.entry == 0
    assert c.fn_step_count.tolist() == [0]


def test_fanout_shape():
    c = build("fanout", k=3, depth=1, borrow="01", locals=16, tasks=5)
    assert c.fn_names == ("root", "level_0", "level_1")
    assert (c.entry, c.tasks) == (0, 5)
    assert body(c, "root") == (["join"], [0])
    assert callees(c, "root") == ["level_1"] * 3
    assert c.fn_locals.tolist() == [0, 16, 16]
    assert c.fn_borrows.tolist() == [0, 0, 1]
    assert body(c, "level_0") == (["work", "io", "work"], [16, 1, 16])
    assert body(c, "level_1") == (["work", "call", "work"], [16, 0, 16])
    assert c.edge_back.tolist() == [0] * 4
    assert c.duration(0) == 1


# -- tokio's benchmarks and skynet -------------------------------------------------


def test_million_shape():
    c = build("million", tasks=123)
    assert c.fn_names == ("main",)
    assert (c.entry, c.tasks) == (0, 123)  # every task spawned at tick 0
    assert body(c, "main") == (["io"], [1])  # each sleeps one tick on a timer of its own


def test_spawn_many_shape():
    c = build("spawn_many", tasks=123)
    assert c.fn_names == ("main", "leaf")
    assert (c.entry, c.tasks) == (0, 1)
    assert body(c, "main") == (["spawn"], [123])
    assert c.step_wait.tolist() == [1]
    assert callees(c, "main") == ["leaf"]
    assert c.fn_step_count.tolist() == [1, 0]
    assert c.fn_locals.tolist() == [0, 0]


def test_yield_many_shape():
    c = build("yield_many", yields=4, tasks=9)
    assert c.fn_names == ("main",)
    assert c.tasks == 9
    assert body(c, "main") == (["yield_now"] * 4, [0] * 4)
    assert build("yield_many", yields=0).fn_step_count.tolist() == [0]


def test_spawn_size_shape():
    c = build("spawn_size", size=4096, tasks=50)
    assert c.fn_names == ("main", "sized")
    assert c.tasks == 1
    assert body(c, "main") == (["spawn"], [50])
    assert c.step_wait.tolist()[0] == 1
    assert body(c, "sized") == (["work"], [16])
    assert c.fn_locals.tolist() == [0, 4096]
    assert c.fn_borrows.tolist() == [0, 0]


def test_skynet_shape():
    c = build("skynet")
    assert c.fn_names == ("node",)
    assert (c.entry, c.tasks) == (0, 1)
    assert body(c, "node") == (["spawn"], [10])
    assert c.step_wait.tolist() == [1]
    assert c.edge_callee.tolist() == [0]
    assert c.edge_back.tolist() == [1]
    assert c.edge_limit.tolist() == [6]
    assert c.fn_locals.tolist() == [0]
    assert build("skynet", levels=0).edge_limit.tolist() == [0]


def skynet_value(c, arg=0, rdepth=0):
    """The model's value of a node: the sum of its children's values, or its
    argument when its spawn is skipped at the recursion limit."""
    spawn = int(c.fn_step_start[0])
    edge = int(c.step_edge_start[spawn])
    if rdepth >= c.edge_limit[edge]:
        return arg
    width = int(c.step_arg[spawn])
    return sum(skynet_value(c, arg * width + i, rdepth + 1) for i in range(width))


@pytest.mark.parametrize("fanout, levels", [(10, 3), (3, 2), (2, 5), (7, 0)])
def test_skynet_leaves_return_their_ordinals(fanout, levels):
    leaves = fanout ** levels
    c = build("skynet", fanout=fanout, levels=levels)
    assert skynet_value(c) == leaves * (leaves - 1) // 2


def test_skynet_guards_the_number_of_leaves():
    assert build("skynet", fanout=10, levels=7).edge_limit.tolist() == [7]
    assert_usage_error(
        lambda: get_workload("skynet").parse_params({"fanout": "100", "levels": "4"}),
        "workload 'skynet'", "fanout=100 and levels=4 make 100000000 leaves", "lower fanout or levels",
    )


# -- generators and select ---------------------------------------------------------


def test_generator_shape():
    c = build("generator", items=12, tasks=3)
    assert c.fn_names == ("main", "numbers")
    assert c.tasks == 3
    assert body(c, "main") == (["gen"], [12])
    assert callees(c, "main") == ["numbers"]
    assert body(c, "numbers") == (["work"], [8])
    assert c.fn_generator.tolist() == [0, 1]
    assert c.fn_locals.tolist() == [0, 64]
    assert c.fn_borrows.tolist() == [0, 1]
    assert build("generator", borrow=False).fn_borrows.tolist() == [0, 0]


def test_select_loop_shape_and_winners():
    c = build("select_loop", iterations=4, tasks=2)
    assert c.fn_names == ("main", "read_fast", "read_slow", "timeout")
    assert c.tasks == 2
    assert body(c, "main") == (["work", "select"] * 4, [8, 0] * 4)
    assert callees(c, "main") == ["read_fast", "timeout", "read_slow", "timeout"] * 2
    assert body(c, "read_fast") == (["work", "io", "work"], [32, 1, 32])
    assert body(c, "read_slow") == (["work", "io", "work"], [32, 3, 32])
    assert body(c, "timeout") == (["io"], [2])
    assert c.fn_locals.tolist() == [64, 256, 256, 0]
    assert c.fn_borrows.tolist() == [1, 1, 1, 0]
    # Even iterations: the read wins after 1 tick; odd: the timeout after 2.
    assert [c.duration(f) for f in range(4)] == [6, 1, 3, 2]
    assert c.max_io == 3


def test_select_loop_single_iteration_has_no_slow_read():
    c = build("select_loop", iterations=1)
    assert c.fn_names == ("main", "read_fast", "timeout")
    assert c.duration(0) == 1


# -- workload files ---------------------------------------------------------------


def test_workload_files_stand_where_names_do():
    for workload in (load_workload_file(ECHO), get_workload(str(ECHO))):
        assert workload.name == "echo"
        assert workload.params == ()
        assert workload.origin == str(ECHO)
        c = workload.compile({})
        assert c.fn_names[0] == "main"
        assert c.tasks == 100
        assert c.params == {}
        assert_usage_error(
            lambda: workload.parse_params({"tasks": "5"}),
            "workload 'echo' has no parameter 'tasks'; it takes no parameters",
        )


def test_bad_workload_file_is_a_usage_error(tmp_path):
    assert_usage_error(lambda: get_workload(str(tmp_path / "none.toml")), "none.toml: no such workload file")


def test_server_is_open_loop_with_a_seeded_poisson_schedule():
    server = get_workload("server")
    params = server.parse_params({"rate": "1000", "requests": "5000", "seed": "7"})
    arrivals = server.arrivals(params)
    assert server.open_loop and not get_workload("chain").open_loop
    assert len(arrivals) == 5000 and np.all(np.diff(arrivals.astype(np.int64)) >= 0)
    assert np.array_equal(arrivals, server.arrivals(params))  # seeded: the same schedule
    other = server.arrivals(dict(params, seed=8))
    assert not np.array_equal(arrivals, other)
    # 5000 requests at 1000/s span about 5 s (a Poisson process: within 10%).
    assert 4.5e9 < arrivals[-1] < 5.5e9
    program = server.compile(params)
    assert program.tasks == 5000 and program.fn_names == ("handle", "query")
