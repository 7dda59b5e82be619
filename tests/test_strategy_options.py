"""Strategy options: NAME:OPTION=VALUE on the command line, checked in one line."""

from __future__ import annotations

import pytest

from pinbench import strategies
from pinbench.model.errors import UsageError
from pinbench.strategies import Option, Strategy

from .helpers import assert_one_line_error, pinbench


class Sized(Strategy):
    name = "sized"
    options = (Option("stack", 2048, 16, 1 << 30, "the stack's first size, bytes"),
               Option("pool", 0, 0, 1, "1 pools boxes"))


def test_options_default_and_name_the_variant():
    s = Sized()
    assert s.option("stack") == 2048 and s.name == "sized"
    v = s.configured("stack=4096")
    assert v.option("stack") == 4096 and v.option("pool") == 0
    assert v.name == "sized:stack=4096" and v.base_name == "sized" and s.option("stack") == 2048
    # defaults are not spelled, and the declared order is the name's
    assert s.configured("pool=1:stack=2048").name == "sized:pool=1"
    assert s.configured("pool=1:stack=0x1000").name == "sized:stack=4096:pool=1"
    # a variant of a variant keeps one base name, its values merged (validate configures
    # `always_heap:clang=1` with the settings always_heap asks validated too)
    w = v.configured("pool=1")
    assert w.name == "sized:stack=4096:pool=1" and w.base_name == "sized" and w.option("stack") == 4096
    assert v.configured("stack=4096").name == v.name


@pytest.mark.parametrize("settings, says", [
    ("stack=0", "option 'stack' (the stack's first size, bytes) must be a whole number from 16 to"),
    ("stack=big", "got 'big'"),
    ("pool=2", "from 0 to 1, got '2'"),
    ("depth=3", "strategy 'sized' has no option 'depth'; its options: stack, pool"),
    ("stack", "'stack' is not OPTION=VALUE; write e.g. sized:stack=2048"),
])
def test_a_bad_option_is_one_line(settings, says):
    with pytest.raises(UsageError) as caught:
        Sized().configured(settings)
    text = str(caught.value)
    assert says in text and "\n" not in text


def test_a_fiber_whose_frames_overflow_its_stack_stops_in_one_line(tmp_path):
    """1001 frames of 136 bytes (64-byte header, 64 of locals, a pointer)
    need 136,136 bytes with the leaf's io leaf: more than 128 KiB; the
    message names the task, what it needed at the frame that did not fit,
    and the option that gives it more."""
    done = pinbench("run", "--counts-only", "-w", "chain", "-p", "depth=1000", "-p", "tasks=2",
                    "-s", "fiber", "-a", "system", "--engine", "interpreted", "-o", tmp_path / "out", cwd=tmp_path)
    assert_one_line_error(done, "chain under fiber: a task of 'level_1000' needs a stack of at least "
                          "131,104 bytes, more than the 131,072 its stack has; run it with -s fiber:stack=262144")
    # The option is the fix (interpreted as above: the compiled engine of a
    # 1,000-level chain is 4 MB of C, 20 s of gcc, and counts the same: test_engine.py).
    ok = pinbench("run", "--counts-only", "-w", "chain", "-p", "depth=1000", "-p", "tasks=2",
                  "-s", "fiber:stack=262144", "-a", "system", "--engine", "interpreted", "-o", tmp_path / "out2",
                  cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr[-2000:]


@pytest.mark.parametrize("spec, says", [
    ("go_stack:start=0", "option 'start' (bytes of a new goroutine's stack (Go: 2048)) must be a whole number from 2,048"),
    ("fiber:stack=0", "option 'stack' (usable bytes of each stack, rounded up to 4 KiB pages) must be a whole number "
                      "from 4,096"),
    ("swift_slab:slab=16", "option 'slab' (bytes of a slab, its 32-byte header included (Swift: 1016)) must be a "
                           "whole number from 64"),
    ("dotnet:pool=-1", "option 'pool'"),
    ("loom:stack=1k", "got '1k'"),
])
def test_a_storage_option_out_of_range_is_one_line_exit_2(tmp_path, spec, says):
    done = pinbench("run", "--counts-only", "-w", "chain", "-s", spec, "-o", tmp_path / "out", cwd=tmp_path)
    assert_one_line_error(done, says)


def test_the_built_in_strategies_look_different_in_every_figure():
    names = list(strategies.BUILTIN)
    # Each built-in is drawn in the colour and marker it declares (never one
    # handed out), and no two share either.
    assert [strategies.color_of(n) for n in names] == [strategies.BUILTIN[n].color for n in names]
    assert [strategies.marker_of(n) for n in names] == [strategies.BUILTIN[n].marker for n in names]
    assert all(strategies.BUILTIN[n].color and strategies.BUILTIN[n].marker for n in names)
    assert len({strategies.color_of(n) for n in names}) == len(names)
    assert len({strategies.marker_of(n) for n in names}) == len(names)
    # a variant is a strategy of its own in the figures: a colour no built-in has
    assert strategies.color_of("fiber:stack=262144") not in {strategies.color_of(n) for n in names}


def test_a_strategy_without_options_says_so():
    with pytest.raises(UsageError, match="strategy 'pinbox' has no option 'x'; its options: none"):
        strategies.get("pinbox:x=1")
    with pytest.raises(UsageError, match="unknown strategy 'nope'"):
        strategies.get("nope:x=1")


def test_halo_elide_args_is_an_option_and_a_bad_value_is_one_line_from_the_cli(tmp_path):

    assert strategies.get("halo").option("elide_args") == 0
    assert strategies.get("halo:elide_args=1").name == "halo:elide_args=1"
    assert strategies.get("halo:elide_args=0").name == "halo"
    done = pinbench("run", "--quick", "--counts-only", "-w", "chain", "-s", "halo:elide_args=2",
                    "-o", tmp_path / "out", cwd=tmp_path)
    assert_one_line_error(done, "strategy 'halo': option 'elide_args'", "from 0 to 1, got '2'")


def test_a_placement_the_executor_cannot_follow_is_refused_in_one_line():
    """A growing stack, or a virtual thread, holds one path of calls: a
    plug-in that pushes a join's arms on it is refused when it is planned."""
    from pinbench.bench.workloads import get_workload
    from pinbench.model.layout import STACK
    from pinbench.strategies.go_stack import GoStack
    from pinbench.strategies.loom import Loom

    def pushing_every_edge(base):
        return type(f"PushAll{base.__name__}", (base,), {
            "name": f"push_all_{base.name}", "place_edge": lambda self, program, edge: STACK})

    program = get_workload("fanout").compile({})
    with pytest.raises(UsageError, match="a growing stack holds plain calls only"):
        pushing_every_edge(GoStack)().plan(program)
    with pytest.raises(UsageError, match="a virtual thread runs one path of calls"):
        pushing_every_edge(Loom)().plan(program)


def test_spellings_of_the_same_options_are_one_benchmark():
    """A results folder names a variant one way, however it was typed:
    options in decimal, defaults left out; two spellings are one benchmark."""
    from pinbench.bench.suite import build_suite

    def names(strategy_flag):
        return [bench.strategy for bench in build_suite(["chain"], [strategy_flag], ["system"])]

    assert names("fiber:stack=0x40000") == names("fiber:stack=262144") == ["fiber:stack=262144"]
    assert names("fiber:stack=131072,fiber,fiber:stack=0x20000") == ["fiber"]


def test_halo_elide_late_and_always_heap_clang_are_options():
    """halo's branch-ratio-0 variant and always_heap at clang's sizes: each
    an option with its native counterpart and the flags clang needs."""
    late = strategies.get("halo:elide_late=1")
    assert late.name == "halo:elide_late=1" and late.native == "clang"
    assert late.compiler_flags == ("-mllvm", "-coro-elide-branch-ratio=0")
    assert strategies.get("halo").compiler_flags == ()
    assert strategies.get("always_heap").native == "c++"
    assert strategies.get("always_heap:clang=1").native == "clang"
    with pytest.raises(UsageError, match="option 'clang'.*from 0 to 1, got '2'"):
        strategies.get("always_heap:clang=2")


def test_a_place_that_is_no_place_is_refused_in_one_line():
    """place_edge must answer one of the four places; a number that is not
    one (a byte count by mistake) is refused when the strategy is planned."""
    from pinbench.bench.workloads import get_workload
    from pinbench.strategies.pinbox import PinBox

    class Misplaced(PinBox):
        name = "misplaced"

        def place_edge(self, program, edge):
            return 88

    with pytest.raises(UsageError, match="place_edge returned 88, not a place; return INLINE, BOX, STACK or OWN"):
        Misplaced().plan(get_workload("chain").compile({}))
