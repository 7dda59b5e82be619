"""The builder and compiler: exact arrays, the depth-first walk, durations
and every static rule of docs/model.md."""

import dataclasses

import numpy as np
import pytest

from pinbench.model.program import (
    MAX_LOCALS,
    OP_CALL,
    OP_GEN,
    OP_IO,
    OP_JOIN,
    OP_NAMES,
    OP_SELECT,
    OP_SPAWN,
    OP_WORK,
    OP_YIELD,
    Program,
)

from .helpers import assert_usage_error

ARRAY_FIELDS = [
    "fn_locals", "fn_borrows", "fn_generator", "fn_step_start", "fn_step_count",
    "fn_postorder", "step_op", "step_arg", "step_wait", "step_edge_start",
    "step_edge_count", "edge_callee", "edge_back", "edge_limit",
]


def every_kind() -> Program:
    p = Program("kinds", tasks=3)
    p.fn("main", locals=32, borrows=True) \
        .work(32).call("a").join("a", "b").select("a", "c").io(4).yield_now() \
        .spawn("b", count=5, wait=False).gen("g", 7).spawn("a")
    p.fn("a").io(1)
    p.fn("b", locals=8).work(8)
    p.fn("c").io(2)
    p.fn("g", locals=16, borrows=True, generator=True).work(3)
    return p


def test_op_codes_are_the_contract():
    assert (OP_WORK, OP_CALL, OP_JOIN, OP_SELECT, OP_IO, OP_YIELD, OP_SPAWN, OP_GEN) == tuple(range(8))
    assert OP_NAMES == ("work", "call", "join", "select", "io", "yield_now", "spawn", "gen")


def test_every_step_kind_compiles_to_exact_arrays():
    c = every_kind().compile()
    assert c.name == "kinds"
    assert c.fn_names == ("main", "a", "b", "c", "g")
    assert (c.entry, c.tasks, c.max_io, c.params) == (0, 3, 4, {})
    assert c.fn_locals.tolist() == [32, 0, 8, 0, 16]
    assert c.fn_borrows.tolist() == [1, 0, 0, 0, 1]
    assert c.fn_generator.tolist() == [0, 0, 0, 0, 1]
    assert c.fn_step_start.tolist() == [0, 9, 10, 11, 12]
    assert c.fn_step_count.tolist() == [9, 1, 1, 1, 1]
    assert c.step_op.tolist() == [
        OP_WORK, OP_CALL, OP_JOIN, OP_SELECT, OP_IO, OP_YIELD, OP_SPAWN, OP_GEN, OP_SPAWN,
        OP_IO, OP_WORK, OP_IO, OP_WORK,
    ]
    assert c.step_arg.tolist() == [32, 0, 0, 0, 4, 0, 5, 7, 1, 1, 8, 2, 3]
    assert c.step_wait.tolist() == [0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]
    assert c.step_edge_start.tolist() == [0, 0, 1, 3, 5, 5, 5, 6, 7, 8, 8, 8, 8]
    assert c.step_edge_count.tolist() == [0, 1, 2, 2, 0, 0, 1, 1, 1, 0, 0, 0, 0]
    assert c.edge_callee.tolist() == [1, 1, 2, 1, 3, 2, 4, 1]
    assert c.edge_back.tolist() == [0] * 8
    assert c.edge_limit.tolist() == [-1] * 8


def test_arrays_are_contiguous_int64():
    c = every_kind().compile()
    for name in ARRAY_FIELDS:
        array = getattr(c, name)
        assert array.dtype == np.int64, name
        assert array.flags.c_contiguous, name
        assert array.ndim == 1, name


def test_compiled_program_is_frozen():
    c = every_kind().compile()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.tasks = 5


def test_builders_are_accepted_as_callees_and_entry():
    p = Program("refs")
    leaf = p.fn("leaf").io(1)
    main = p.fn("main").call(leaf)
    p.entry = main
    c = p.compile()
    assert c.entry == 1
    assert c.edge_callee.tolist() == [0]
    assert c.fn_index("leaf") == 0
    with pytest.raises(KeyError):
        c.fn_index("nope")


def test_entry_defaults_to_the_first_function():
    p = Program("first")
    p.fn("start").call("other")
    p.fn("other")
    assert p.compile().entry == 0


def test_back_edges_follow_the_walk_in_program_order():
    # a reaches b then c; c -> b closes the cycle (b is on the stack); the
    # later a -> c finds c finished, so it is not a back edge.
    p = Program("order")
    p.fn("a").call("b").call("c")
    p.fn("b").call("c")
    p.fn("c").call("b", limit=2)
    c = p.compile()
    assert c.edge_callee.tolist() == [1, 2, 2, 1]
    assert c.edge_back.tolist() == [0, 0, 0, 1]
    assert c.edge_limit.tolist() == [-1, -1, -1, 2]
    assert c.fn_postorder.tolist() == [2, 1, 0]

    # Swap a's calls: now b -> c closes the cycle, and c -> b is a tree edge.
    p = Program("order")
    p.fn("a").call("c").call("b")
    p.fn("b").call("c", limit=1)
    p.fn("c").call("b")
    c = p.compile()
    assert c.edge_back.tolist() == [0, 0, 1, 0]
    assert c.edge_limit.tolist() == [-1, -1, 1, -1]
    assert c.fn_postorder.tolist() == [1, 2, 0]


def test_a_join_limit_applies_only_to_its_back_edges():
    p = Program("mixed")
    p.fn("f").join("leaf", "f", "leaf", limit=2)
    p.fn("leaf").io(1)
    c = p.compile()
    assert c.edge_callee.tolist() == [1, 0, 1]
    assert c.edge_back.tolist() == [0, 1, 0]
    assert c.edge_limit.tolist() == [-1, 2, -1]


def test_spawn_back_edge_with_limit():
    p = Program("tree")
    p.fn("node").spawn("node", count=4, wait=True, limit=0)
    c = p.compile()
    assert (c.edge_back.tolist(), c.edge_limit.tolist()) == ([1], [0])


def test_durations_follow_the_model():
    c = every_kind().compile()
    # work 0 + call a 1 + join max(1, 0) + select min(1, 2) + io 4 + yield 0
    # + detached spawn 0 + gen 0 + waiting spawn of a 1
    assert c.duration(0) == 8
    assert [c.duration(f) for f in range(1, 5)] == [1, 0, 2, 0]


def test_durations_honour_recursion_limits():
    p = Program("rec")
    p.fn("f").io(1).call("f", limit=3)
    c = p.compile()
    assert [c.duration(0, r) for r in range(6)] == [4, 3, 2, 1, 1, 1]

    # A skipped join child is absent: only the leaf counts at the limit.
    p = Program("rec_join")
    p.fn("f").join("f", "slow", limit=1).io(1)
    p.fn("slow").io(5)
    c = p.compile()
    # rdepth 1: max(slow 5) + 1 = 6; rdepth 0: max(f@1 = 6, slow 5) + 1 = 7
    assert [c.duration(0, 0), c.duration(0, 1), c.duration(0, 9)] == [7, 6, 6]


def test_duration_rejects_bad_arguments():
    c = every_kind().compile()
    with pytest.raises(IndexError):
        c.duration(5)
    with pytest.raises(ValueError):
        c.duration(0, -1)


def test_deep_programs_compile_without_python_recursion():
    p = Program("deep", entry="f4999")
    p.fn("f0").io(2)
    for i in range(1, 5000):
        p.fn(f"f{i}").call(f"f{i - 1}")
    c = p.compile()
    assert c.entry == 4999
    assert c.fn_postorder.tolist() == list(range(5000))
    assert c.duration(4999) == 2


def test_describe_lists_functions_and_compresses_runs():
    p = Program("demo", tasks=2)
    p.fn("main", locals=8, borrows=True).work(8).yield_now().yield_now().yield_now() \
        .call("main", limit=2).spawn("g_user", count=3, wait=False)
    p.fn("g_user").gen("g", 4)
    p.fn("g", generator=True)
    assert p.compile().describe() == "\n".join([
        "workload 'demo': entry main, 2 tasks, max io 0",
        "fn main (locals 8, borrows):",
        "        1  work(8)",
        "      2-4  yield_now() x 3",
        "        5  call('main', limit=2)",
        "        6  spawn('g_user', count=3, wait=False)",
        "fn g_user (locals 0):",
        "        1  gen('g', 4)",
        "fn g (generator, locals 0):",
        "           (empty body)",
    ])


def test_select_ties_are_checked_only_at_reached_depths():
    # s runs only at rdepth 0, where its arms take 2 and 1 ticks; at rdepth
    # 1 (reached by x alone) they would tie, which must not matter.
    p = Program("reach")
    p.fn("s").select("a", "b").call("x")
    p.fn("a").call("x")
    p.fn("b").io(1)
    p.fn("x").io(1).call("x", limit=1)
    c = p.compile()
    assert [c.duration(1, 0), c.duration(2, 0)] == [2, 1]
    assert c.duration(1, 1) == c.duration(2, 1) == 1


def test_a_skipped_waiting_spawn_does_not_count_in_a_select_arm():
    p = Program("skipped")
    p.fn("main").select("arm", "t")
    p.fn("arm").io(1).spawn("arm", wait=True, limit=0)
    p.fn("t").io(2)
    assert p.compile().edge_limit.tolist() == [-1, -1, 0]


# -- errors ----------------------------------------------------------------


def one_fn(**fn_kwargs) -> Program:
    p = Program("x")
    p.fn("main", **fn_kwargs)
    return p


def test_unknown_callee_names_function_step_and_fix():
    for add in (
        lambda f: f.call("ghost"),
        lambda f: f.join("ghost"),
        lambda f: f.select("ghost"),
        lambda f: f.spawn("ghost"),
        lambda f: f.gen("ghost", 1),
    ):
        p = Program("x")
        add(p.fn("main").io(1))
        assert_usage_error(
            p.compile, "workload 'x'", "function 'main' step 2", "'ghost' is not defined",
            "define it or fix the name",
        )


def test_callee_must_be_a_name():
    p = Program("x")
    p.fn("main").call(3)
    assert_usage_error(p.compile, "function 'main' step 1 call(3)", "callee 3 is not a function name")


@pytest.mark.parametrize("entry", ["nope", 7, ["main"]])
def test_unknown_entry(entry):
    p = Program("x", entry=entry)
    p.fn("main")
    assert_usage_error(p.compile, "workload 'x'", "the entry", "is not defined")


def test_duplicate_and_invalid_function_names():
    p = Program("x")
    p.fn("main")
    p.fn("main")
    assert_usage_error(p.compile, "function 'main' is defined twice", "rename or remove one")
    for bad in ("", "9lives", "has space", "ünï", 5):
        p = Program("x")
        p.fn(bad)
        assert_usage_error(p.compile, "workload 'x'", f"function name {bad!r} is not valid")


def test_program_level_errors():
    assert_usage_error(Program("x").compile, "workload 'x': no functions are defined")
    for name in ("", "two\nlines", None):
        assert_usage_error(lambda: Program(name).compile(), f"workload name {name!r} is not valid")
    for tasks in (0, -1, 2.0, "3", True, 10**8):
        p = Program("x", tasks=tasks)
        p.fn("main")
        assert_usage_error(p.compile, "workload 'x'", f"tasks={tasks!r} must be a whole number from 1")


@pytest.mark.parametrize("locals_", [-1, 1.5, "big", True, MAX_LOCALS + 1])
def test_bad_locals(locals_):
    assert_usage_error(
        one_fn(locals=locals_).compile,
        "function 'main'", f"locals={locals_!r} must be a whole number of bytes from 0",
    )


@pytest.mark.parametrize("key", ["borrows", "generator"])
@pytest.mark.parametrize("value", [3, "yes", None])
def test_bad_flags(key, value):
    assert_usage_error(one_fn(**{key: value}).compile, "function 'main'", f"{key}={value!r} must be true or false")


@pytest.mark.parametrize(
    "add, step_text, fragment",
    [
        (lambda f: f.work(-1), "work(-1)", "from 0 to the function's locals (8)"),
        (lambda f: f.work(9), "work(9)", "from 0 to the function's locals (8)"),
        (lambda f: f.work(2.0), "work(2.0)", "from 0 to the function's locals (8)"),
        (lambda f: f.io(0), "io(0)", "the ticks must be a whole number from 1"),
        (lambda f: f.io(-3), "io(-3)", "the ticks must be a whole number from 1"),
        (lambda f: f.io("2"), "io('2')", "the ticks must be a whole number from 1"),
        (lambda f: f.spawn("leaf", count=0), "spawn('leaf', count=0, wait=True)", "count must be"),
        (lambda f: f.spawn("leaf", wait="yes"), "wait='yes'", "wait must be true or false"),
        (lambda f: f.gen("g", -1), "gen('g', -1)", "the item count must be a whole number from 0"),
        (lambda f: f.call("leaf", limit=-1), "call('leaf', limit=-1)", "limit must be a whole number from 0"),
        (lambda f: f.join(), "join()", "it has no callees"),
        (lambda f: f.select(), "select()", "it has no callees"),
    ],
)
def test_bad_step_values(add, step_text, fragment):
    p = Program("x")
    add(p.fn("main", locals=8).yield_now())
    p.fn("leaf")
    p.fn("g", generator=True)
    assert_usage_error(p.compile, "workload 'x': function 'main' step 2", step_text, fragment)


def test_generator_rules():
    for use in (
        lambda f: f.call("g"),
        lambda f: f.join("g"),
        lambda f: f.select("g"),
        lambda f: f.spawn("g"),
    ):
        p = Program("x")
        use(p.fn("main"))
        p.fn("g", generator=True)
        assert_usage_error(p.compile, "function 'main' step 1", "'g' is a generator, which only gen can use")

    p = Program("x")
    p.fn("main").gen("plain", 3)
    p.fn("plain")
    assert_usage_error(p.compile, "function 'main' step 1 gen('plain', 3)", "'plain' is not a generator")

    p = Program("x")
    p.fn("main").gen("g", 3)
    p.fn("g", locals=8, generator=True).work(8).io(1)
    assert_usage_error(p.compile, "function 'g' step 2 io(1)", "generator 'g' may contain only work steps")

    p = Program("x", entry="g")
    p.fn("main").gen("g", 1)
    p.fn("g", generator=True)
    assert_usage_error(p.compile, "the entry 'g' is a generator")


def test_unreachable_function():
    p = Program("x")
    p.fn("main").call("used")
    p.fn("used")
    p.fn("orphan").call("used")
    assert_usage_error(p.compile, "function 'orphan' is not reachable from the entry 'main'")


@pytest.mark.parametrize(
    "add, step_text",
    [
        (lambda f: f.call("main"), "call('main')"),
        (lambda f: f.join("leaf", "main"), "join('leaf', 'main')"),
        (lambda f: f.spawn("main", wait=False), "spawn('main', count=1, wait=False)"),
    ],
)
def test_back_edge_without_limit(add, step_text):
    p = Program("x")
    add(p.fn("main").call("leaf"))
    p.fn("leaf")
    assert_usage_error(
        p.compile, "function 'main' step 2", step_text, "recursion the format cannot express",
        "add limit=N",
    )


def test_select_arm_cannot_close_a_cycle():
    p = Program("x")
    p.fn("main").io(1).call("r")
    p.fn("r").select("main", "t")
    p.fn("t").io(1)
    assert_usage_error(p.compile, "function 'r' step 1 select('main', 't')", "select arms cannot carry a limit")


def test_limit_on_a_non_back_edge():
    for add in (
        lambda f: f.call("leaf", limit=2),
        lambda f: f.join("leaf", "leaf", limit=2),
        lambda f: f.spawn("leaf", limit=0),
    ):
        p = Program("x")
        add(p.fn("main"))
        p.fn("leaf")
        assert_usage_error(p.compile, "function 'main' step 1", "has a limit but no callee of it closes a cycle")


@pytest.mark.parametrize(
    "arm_body",
    [
        lambda p: p.fn("arm").io(1).spawn("t"),  # directly
        lambda p: (p.fn("arm").call("mid"), p.fn("mid").spawn("t", count=2)),  # through call
        lambda p: (p.fn("arm").join("t", "mid"), p.fn("mid").spawn("t")),  # through join
        lambda p: (p.fn("arm").select("mid", "t"), p.fn("mid").io(5).spawn("t")),  # through select
        lambda p: p.fn("arm").io(1).spawn("arm", limit=1),  # a back edge taken at rdepth 0
        lambda p: p.fn("arm").io(1).spawn("t", wait=False),  # detached: its value would leak
    ],
)
def test_select_arm_may_not_spawn(arm_body):
    p = Program("x")
    p.fn("main").select("arm", "t")
    p.fn("t").io(2)
    arm_body(p)
    assert_usage_error(
        p.compile, "function 'main' step 1 select('arm', 't')", "arm 'arm'", "spawns tasks",
    )


def test_select_arms_must_take_different_ticks():
    p = Program("x")
    p.fn("main").work(0).select("a", "b")
    p.fn("a").io(2)
    p.fn("b").yield_now().io(1).io(1)
    assert_usage_error(
        p.compile, "function 'main' step 2 select('a', 'b')",
        "arms 'a' and 'b' both finish after 2 ticks", "make their durations differ",
    )
    p = Program("x")
    p.fn("main").select("a", "a")
    p.fn("a").io(1)
    assert_usage_error(p.compile, "arms 'a' and 'a' both finish after 1 tick,")


def test_select_tie_reported_at_its_recursion_depth():
    # rec at rdepth 0: deep takes 1 + rec@1 = 2 ticks, quick 1. At rdepth 1
    # deep's call is skipped, so both take 1 tick.
    p = Program("x")
    p.fn("rec").select("deep", "quick")
    p.fn("deep").io(1).call("rec", limit=1)
    p.fn("quick").io(1)
    assert_usage_error(
        p.compile, "function 'rec' step 1", "both finish after 1 tick at recursion depth 1",
    )
