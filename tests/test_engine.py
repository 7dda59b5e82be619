"""The compiled engine (bench/codegen.py, bench/engine.py) against the interpreter.

Both engines run the same frames through the same executor loop, so every
counter must be bit-identical: for every built-in workload x strategy x
allocator, workload files, plug-in strategies (top-down and bottom-up,
boxing and celling everything), runs stopped by the memory limit, open-loop
runs, and seeded random programs over every step (selects included). Then
the cache (a hit, two concurrent builders, a corrupt entry), the build
failure path and the generated C's warnings.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pinbench import strategies
from pinbench.bench import cache, codegen, compare, engine, results
from pinbench.model.errors import UsageError
from pinbench.model.program import Program
from pinbench.bench.runner import ALLOCATORS
from pinbench.bench.suite import QUICK_PARAMS
from pinbench.bench.workloads import WORKLOADS, get_workload
from pinbench.cython_core import _executor
from pinbench.strategies.base import BOTTOM_UP, BOX, INLINE, OWN, Strategy

from .helpers import COUNTERS, pinbench
from .oracles.checksum import expected_checksum
from .programs import mixed_program, random_programs, random_select_programs, resident_after_trim

ROOT = Path(__file__).resolve().parents[1]
HAVE_CC = engine.find_compiler() is not None
pytestmark = pytest.mark.skipif(not HAVE_CC, reason="the compiled engine needs a C compiler")



@pytest.fixture
def engine_cache(tmp_path, monkeypatch):
    """An engine cache of the test's own (the session's is shared by the
    xdist workers: an entry damaged here must not be one another test is
    loading), and a process that has loaded nothing from it."""
    monkeypatch.setenv("PINBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(engine, "_loaded", {})
    return cache.cache_root(cache.ENGINES)


def counters(result) -> dict:
    out = {name: result[name] for name in COUNTERS}
    out["latency_samples"] = len(result["latency_ns"])
    return out


def run_both(program, layout, allocator="system", **kwargs):
    """(interpreted, compiled) counters of the same run; errors are compared too."""
    compiled = engine.compiled(program, layout)
    results = []
    for eng in (None, compiled):
        try:
            results.append(("ok", counters(_executor.run(program, layout, allocator, engine=eng, **kwargs))))
        except _executor.ExecutorError as err:
            results.append((err.kind, counters(err.counters)))
    return results


def assert_same(program, layout, allocator="system", **kwargs):
    interpreted, compiled = run_both(program, layout, allocator, **kwargs)
    assert compiled == interpreted, f"{program.name} under {layout.strategy}/{allocator}"
    assert interpreted[1]["live_blocks_end"] == 0
    return interpreted


def build_all(programs, strategy_objects):
    """Compile every pair at once (in parallel), as a run does."""
    pairs = [(p, s.plan(p)) for p in programs for s in strategy_objects]
    engine.prepare(pairs)
    return pairs


# -- plug-in strategies: policy only, so they compile like built-ins ---------------
# Their moves copy where they say (copied_moves: a box and a task's root; every
# place; inline children only), so each way of copying is run.


class BoxEverything(Strategy):
    name = "box_everything"
    copied_moves = (BOX, OWN)

    def box_edge(self, program, edge):
        return True


class CellEverything(Strategy):
    name = "cell_everything"
    copied_moves = (INLINE, BOX, OWN)

    def locals_in_cell(self, program, fn):
        return True


class MovingCoroutines(Strategy):
    """Bottom-up, but futures built by value and moved, some children inline."""

    name = "moving_coroutines"
    polling = BOTTOM_UP
    moves = True
    copied_moves = (INLINE,)

    def box_edge(self, program, edge):
        return bool(program.edge_back[edge]) or edge % 2 == 0

    def locals_in_cell(self, program, fn):
        return fn % 2 == 1


PLUGINS = (BoxEverything(), CellEverything(), MovingCoroutines())
# Every built-in, and halo with join and select children elided too (inline bottom-up children).
BUILTIN = tuple(strategies.BUILTIN.values()) + (strategies.get("halo:elide_args=1"),)


def quick_programs():
    return [wl.compile(QUICK_PARAMS.get(name, {})) for name, wl in WORKLOADS.items()]


# -- equivalence -------------------------------------------------------------------


def test_every_builtin_workload_strategy_and_allocator_counts_the_same():
    pairs = build_all(quick_programs(), BUILTIN)
    assert len(pairs) == len(WORKLOADS) * len(BUILTIN)
    for program, layout in pairs:
        for allocator in ALLOCATORS:
            assert_same(program, layout, allocator)


def test_workload_files_count_the_same():
    wl = get_workload(str(ROOT / "examples" / "echo.toml"))
    program = wl.compile({})
    for program, layout in build_all([program], BUILTIN + PLUGINS):
        assert_same(program, layout, "pool")


def test_plugin_strategies_count_the_same():
    programs = quick_programs() + [mixed_program()]
    for program, layout in build_all(programs, PLUGINS):
        assert_same(program, layout, "system")


def test_locals_live_where_the_native_compiler_keeps_them():
    """A function that never suspends keeps its locals on its poll's stack
    under rustc and clang (no room in the frame), g++ in its frame; one that
    suspends keeps worked locals in its frame everywhere. The values are the
    model's either way, the two engines count the same, and a generator run
    in the middle of a stack-locals body (its own locals worked or not)
    leaves that body's bytes alone."""
    p = Program("stack_locals", entry="main", tasks=2)
    p.fn("main").spawn("leaf", count=3, wait=True).call("kept")
    p.fn("leaf", locals=100).work(16).gen("worked", 3).gen("idle", 2).work(40).spawn("tail", count=2, wait=False)
    p.fn("worked", locals=24, generator=True).work(8)
    p.fn("idle", locals=48, generator=True).work(0)
    p.fn("tail", locals=4000).work(32)
    p.fn("kept", locals=64).work(8).io(1).work(8)
    program = p.compile()
    fn = {name: i for i, name in enumerate(program.fn_names)}
    on_stack = {  # strategy: the functions whose locals are on the stack
        "pinbox": {"leaf", "tail"}, "anchor_box": {"leaf", "tail"}, "rc": {"leaf", "tail"},
        "halo": {"leaf", "tail"}, "always_heap:clang=1": {"leaf", "tail"}, "always_heap": set(),
    }
    for name, stack in on_stack.items():
        layout = strategies.get(name).plan(program)
        for f, locals_ in (("leaf", 104), ("tail", 4000)):
            assert layout.fn_stack_locals[fn[f]] == (locals_ if f in stack else 0), (name, f)
            in_frame = layout.fn_child_offset[fn[f]] - layout.fn_locals_offset[fn[f]]
            assert in_frame == (0 if f in stack else locals_), (name, f)
        assert layout.fn_stack_locals[fn["kept"]] == 0 and layout.fn_stack_locals[fn["worked"]] == 0
        assert layout.fn_child_offset[fn["kept"]] - layout.fn_locals_offset[fn["kept"]] == 64
        assert layout.fn_child_offset[fn["idle"]] - layout.fn_locals_offset[fn["idle"]] == (
            48 if name == "always_heap" else 0), name  # never read: only g++ keeps it
    for program_, layout in build_all([program], [strategies.get(name) for name in on_stack]):
        interpreted = assert_same(program_, layout)
        assert interpreted[1]["checksum"] == expected_checksum(program), layout.strategy
    # A bottom-up layout of another compiler is sized as g++'s (native.py),
    # so its locals stay in its frames as g++'s do.
    other = MovingCoroutines()
    other.frame_compiler = "icc"
    assert not other.plan(program).fn_stack_locals.any()
    # The short work on stack locals folds where the native program's may
    # (rustc's work loop is inlined), not under clang's (opaque on purpose).
    for name, folds in (("pinbox", True), ("halo", False)):
        source = codegen.generate(program, strategies.get(name).plan(program))
        assert ("#pragma GCC unroll 16" in source) is folds, name  # leaf's work(16); work(40) stays a loop
        assert ("uint64_t acc = 0;" in source) is folds, name
        assert "#pragma GCC unroll 40" not in source
        # Its array is on the C stack only while it runs: its poll is not inlined.
        entry = f"char *r{fn['leaf']}(" if name == "halo" else f"int p{fn['leaf']}("
        assert f"static PB_NOINLINE {entry}pb_ex *ex" in source, name


@pytest.fixture(scope="module")
def random_engines():
    """Seeded random programs over every step (selects included) and their
    engines under every built-in and two plug-ins, built once for the
    file: one test counts with them, another reads what their builds said
    (the tests of a module-scoped fixture run on one worker, conftest.py)."""
    programs = random_programs(10) + random_select_programs(14, seed=9)
    return programs, build_all(programs, BUILTIN + PLUGINS[:1] + PLUGINS[2:])


def test_random_programs_count_the_same(random_engines):
    programs, pairs = random_engines
    assert sum(1 for p in programs if 3 in p.step_op.tolist()) >= 8  # selects are there
    assert len(pairs) == len(programs) * (len(BUILTIN) + 2)
    for program, layout in pairs:
        assert_same(program, layout, "pool")


def test_a_run_stopped_by_the_memory_limit_counts_the_same():
    """The limit counts the resident size a run starts from, which moves by
    a few pages from one run to the next; every task's root frame here is a
    MiB, so a limit set half a frame past the eighth task stops both engines
    at the same allocation whatever those pages do: while the generated poll
    of ``main`` spawns them."""
    p = Program("big", tasks=1)
    p.fn("main", locals=8).work(1).spawn("big", count=40)
    p.fn("big", locals=1 << 20, borrows=True).work(8).call("mid").io(1)
    p.fn("mid", locals=256, borrows=True).join("leaf", "leaf").work(3)
    p.fn("leaf", locals=64).io(2)
    program = p.compile()
    roomy = [s.configured("stack=4194304") if s.name == "fiber" else s for s in BUILTIN]  # 1 MiB frames
    for program, layout in build_all([program], roomy):
        for allocator in ("system", "pool"):
            limit = resident_after_trim() + (8 << 20) + (1 << 19)
            interpreted, compiled = run_both(program, layout, allocator, memory_limit=limit)
            assert interpreted[0] == "memory limit", f"{layout.strategy}/{allocator}"
            assert interpreted[1]["polls"] > 0  # stopped while polling
            assert compiled == interpreted, f"{layout.strategy}/{allocator}"
            assert compiled[1]["live_blocks_end"] == 0


# What an open-loop run fixes whatever the clock does (ticks, polls and
# peaks depend on when the requests arrive relative to the loop).
CLOCK_FREE = ("allocs", "frees", "bytes_allocated", "live_bytes_end", "live_blocks_end",
              "moved_bytes", "refcount_ops", "tasks", "checksum", "latency_samples")


def test_open_loop_and_latency_sampling_count_the_same():
    wl = get_workload("server")
    program = wl.compile({"requests": 200, "rate": 10**7})
    arrivals = wl.arrivals(program.params)
    for program, layout in build_all([program], BUILTIN):
        interpreted, compiled = run_both(program, layout, "system", arrivals_ns=arrivals,
                                         latency_stride=1, latency_capacity=300)
        assert interpreted[0] == compiled[0] == "ok"
        assert {k: compiled[1][k] for k in CLOCK_FREE} == {k: interpreted[1][k] for k in CLOCK_FREE}
        assert compiled[1]["latency_samples"] == 200
    chain = get_workload("chain").compile({"tasks": 100})
    for program, layout in build_all([chain], BUILTIN):
        assert_same(program, layout, "bump", latency_stride=7, latency_capacity=5)


def test_long_and_deep_programs_compile_compactly():
    """Five thousand yields, two thousand selects and a hundred nested
    levels: repeating steps become one loop, so the C stays small (under
    every built-in: halo's elided select children, each select's at its own
    place in the frame, are a loop over places a stride apart); deep
    nesting compiles to nested inline polls; the counts stay the same.
    (Longer bodies generate as compactly, but the layout's native sizes
    take time quadratic in a body's length under the Rust strategies.)"""
    yields = get_workload("yield_many").compile({"yields": 5000, "tasks": 1})
    deep = get_workload("chain").compile({"depth": 100, "tasks": 3})
    selects = get_workload("select_loop").compile({"iterations": 2000, "tasks": 2})
    few = {"yield_many": get_workload("yield_many").compile({"yields": 50, "tasks": 1}),
           "select_loop": get_workload("select_loop").compile({"iterations": 20, "tasks": 2})}
    for program in (yields, selects):
        source = codegen.generate(program, strategies.get("pinbox").plan(program))
        assert len(source) < 20_000, program.name
        for strategy in BUILTIN:  # a hundred times the steps: the same C but for a few longer numbers
            fewer = few[program.name]
            grown = len(codegen.generate(program, strategy.plan(program))) - len(
                codegen.generate(fewer, strategy.plan(fewer)))
            assert grown < 100, (program.name, strategy.name, grown)
    for program, layout in build_all([yields, deep, selects], BUILTIN):
        assert_same(program, layout, "pool")


def test_repeating_steps_whose_places_do_not_step_evenly_count_the_same():
    """halo:elide_args=1 gives every select's arms their own place in main's
    frame; with two iterations' places swapped (a layout as valid: the same
    arms, the same sizes) the places no longer move by one stride, so the
    selects cannot fold into one loop over places, and the counts stay the same."""
    program = get_workload("select_loop").compile({"iterations": 12, "tasks": 2})
    layout = strategies.get("halo:elide_args=1").plan(program)
    offsets = layout.edge_offset.copy()
    main = program.view.functions[program.entry]
    fourth, eighth = (main.steps[2 * i + 1].edges for i in (4, 8))  # both race read_fast and the timeout
    for a, b in zip(fourth, eighth):
        offsets[a.index], offsets[b.index] = offsets[b.index], offsets[a.index]
    swapped = dataclasses.replace(layout, edge_offset=offsets)
    assert len(codegen.generate(program, swapped)) > 2 * len(codegen.generate(program, layout))
    for each in (layout, swapped):
        assert_same(program, each, "pool")


def test_step_runs_fold_into_loops():
    assert codegen.segments([]) == []
    assert codegen.segments([5] * 7) == [(0, 1, 7)]
    assert codegen.segments([1, 2, 1, 3, 1, 2, 1, 3, 9]) == [(0, 4, 2), (8, 1, 1)]
    assert codegen.segments([1, 2, 3]) == [(0, 1, 1), (1, 1, 1), (2, 1, 1)]


def test_an_engine_for_another_program_is_refused():
    a = get_workload("chain").compile({"depth": 2, "tasks": 2})
    b = get_workload("chain").compile({"depth": 3, "tasks": 2})
    layout_a = strategies.get("pinbox").plan(a)
    with pytest.raises(ValueError, match="another program"):
        _executor.run(b, strategies.get("pinbox").plan(b), engine=engine.compiled(a, layout_a))
    with pytest.raises(ValueError, match="another program or strategy"):
        _executor.run(a, strategies.get("always_heap").plan(a), engine=engine.compiled(a, layout_a))
    # The same number of functions, other frame sizes (locals) or steps (waits).
    for params in ({"locals": 8}, {"waits": 2}):
        c = get_workload("chain").compile({"depth": 2, "tasks": 2, **params})
        with pytest.raises(ValueError, match="another program"):
            _executor.run(c, strategies.get("pinbox").plan(c), engine=engine.compiled(a, layout_a))
    with pytest.raises(ValueError, match="another program"):  # anchor_box boxes what pinbox inlines
        _executor.run(a, strategies.get("anchor_box").plan(a), engine=engine.compiled(a, layout_a))
    # Frames of the same sizes: rc keeps 8 bytes of locals in a cell (a pointer).
    d = get_workload("chain").compile({"depth": 2, "tasks": 2, "locals": 8})
    d_pinbox, d_rc = strategies.get("pinbox").plan(d), strategies.get("rc").plan(d)
    assert list(d_pinbox.fn_size) == list(d_rc.fn_size)
    with pytest.raises(ValueError, match="another program"):
        _executor.run(d, d_rc, engine=engine.compiled(d, d_pinbox))
    class Unmoved(Strategy):  # pinbox's sizes, built in place
        name, moves = "unmoved", False
    with pytest.raises(ValueError, match="another program"):
        _executor.run(d, Unmoved().plan(d), engine=engine.compiled(d, d_pinbox))
    with pytest.raises(ValueError, match="another program"):  # moved, but copied as well
        _executor.run(d, Copied().plan(d), engine=engine.compiled(d, Moved().plan(d)))


class Moved(Strategy):
    """Futures moved into place, written where they live (as rustc builds them)."""

    name = "moved"


class Copied(Moved):
    """The same moves, copying the future wherever it goes."""

    name, copied_moves = "copied", (OWN, INLINE, BOX)


def test_a_copy_in_a_move_changes_no_count():
    # moved_bytes counts the language's move, whether or not it copies.
    program = get_workload("fanout").compile({"k": 3, "depth": 2, "tasks": 4, "locals": 200})
    for eng in (None, engine.compiled(program, Copied().plan(program))):
        copied = counters(_executor.run(program, Copied().plan(program), engine=eng))
        assert copied["moved_bytes"] > 0
        in_place_layout = Moved().plan(program)
        in_place = counters(_executor.run(program, in_place_layout,
                                          engine=eng and engine.compiled(program, in_place_layout)))
        assert copied == in_place


def test_copied_moves_need_moves_and_a_place_a_move_goes():
    program = get_workload("chain").compile({"depth": 2, "tasks": 2})
    with pytest.raises(UsageError, match="needs futures built by value"):
        type("InPlace", (Strategy,), {"name": "in_place", "moves": False, "copied_moves": (BOX,)})().plan(program)
    with pytest.raises(UsageError, match="places INLINE"):
        type("Stacked", (Strategy,), {"name": "stacked", "copied_moves": (2,)})().plan(program)


# -- the generated C -----------------------------------------------------------------


def test_generated_c_compiles_without_warnings(random_engines):
    """Engines are built with engine.WARNING_FLAGS (-Wall -Wextra -Wshadow
    -Wstrict-prototypes, at -O2 as a run builds them); each manifest keeps
    what the compiler said, which must be nothing: every workload and a
    program of every step under every built-in and plug-in, and the random
    programs' engines (the counting test's builds)."""
    programs = quick_programs() + [mixed_program()]
    assert {"-Wall", "-Wextra", "-Wshadow", "-Wstrict-prototypes"} <= set(engine.WARNING_FLAGS)
    for program, layout in build_all(programs, BUILTIN + PLUGINS) + random_engines[1]:
        built = engine.compiled(program, layout)
        assert built.compiler.flags == engine.DEFAULT_FLAGS
        output = engine.manifest_of(built)["compiler_output"]
        assert output == "", (program.name, layout.strategy, output[:2000])


def test_a_warning_is_kept_in_the_manifest(engine_cache, monkeypatch):
    """The check above can fail: an engine whose C draws a warning (an
    unused variable, appended as the break hook appends its error) keeps it."""
    program, layout = small_pair(depth=2)
    source = codegen.generate(program, layout) + "\nstatic int pb_test_unused(void) { int unused; return 0; }\n"
    monkeypatch.setattr(codegen, "generate", lambda *args, **kwargs: source)
    output = engine.manifest_of(engine.compiled(program, layout))["compiler_output"]
    assert "unused" in output and "warning" in output


# -- the cache -------------------------------------------------------------------------


def small_pair(depth=3, tasks=2):
    """A small program; the engine depends on its shape, not its task count."""
    program = get_workload("chain").compile({"depth": depth, "tasks": tasks})
    return program, strategies.get("rc").plan(program)


def test_a_cached_engine_is_loaded_not_rebuilt(engine_cache, monkeypatch):
    program, layout = small_pair(depth=4)
    first = engine.compiled(program, layout)
    assert first.path.parent == engine_cache and first.path.is_file()
    assert first.path.with_suffix(".c").is_file()  # the source stays beside it
    engine._loaded.clear()  # as in a new process

    def no_build(*args):
        raise AssertionError("rebuilt a cached engine")

    monkeypatch.setattr(engine, "_build", no_build)
    again = engine.compiled(program, layout)
    assert again.path == first.path
    assert run_both(program, layout)[1][1]["checksum"] == run_both(program, layout)[0][1]["checksum"]


def test_the_key_covers_compiler_flags_and_generator(monkeypatch):
    program, layout = small_pair()
    source = codegen.generate(program, layout)
    compiler = engine.find_compiler()
    key = engine.build_key(source, compiler)
    other_flags = engine.Compiler(compiler.command, compiler.version, ("-O1",))
    assert engine.build_key(source, other_flags) != key
    monkeypatch.setattr(codegen, "GENERATOR_VERSION", codegen.GENERATOR_VERSION + 1)
    assert engine.build_key(source, compiler) != key


def test_a_corrupt_entry_is_rebuilt(engine_cache):
    """A file at the entry's name that is not a loadable engine (garbage, a
    truncated library) is rebuilt. Only entries this process has not loaded
    yet, as a new process meets them (a loaded library stays mapped)."""
    valid = engine.compiled(*small_pair()).path.read_bytes()
    for depth, damage in ((5, b"not a shared library"), (6, valid[:300])):
        program, layout = small_pair(depth=depth)
        compiler = engine.find_compiler()
        _, key = engine._needed(program, layout, compiler)
        path = engine_cache / f"{key}.so"
        path.write_bytes(damage)
        rebuilt = engine.compiled(program, layout)
        assert rebuilt.path == path and path.stat().st_size > 1000
        interpreted, compiled = run_both(program, layout)
        assert compiled == interpreted


BUILDER = textwrap.dedent(
    """
    import sys
    from pinbench import strategies
    from pinbench.bench import engine
    from pinbench.bench.workloads import get_workload
    from pinbench.cython_core import _executor
    program = get_workload("fanout").compile({"k": 3, "depth": 4, "tasks": 7})
    layout = strategies.get("anchor_box").plan(program)
    eng = engine.compiled(program, layout)
    print(_executor.run(program, layout, engine=eng)["checksum"], eng.path)
    """
)


def test_two_processes_building_the_same_entry_at_once(tmp_path):
    env = dict(os.environ, PINBENCH_CACHE=str(tmp_path))
    procs = [
        subprocess.Popen([sys.executable, "-c", BUILDER], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outputs]
    lines = {out.strip() for out, _ in outputs}
    assert len(lines) == 1  # the same checksum, the same entry
    entries = sorted(p.name for p in (tmp_path / "engines").iterdir())
    assert len([e for e in entries if e.endswith(".so")]) == 1
    assert not [e for e in entries if e.endswith(".tmp")]  # no half-written leftovers


def test_a_failed_build_is_one_line_naming_the_source(monkeypatch):
    monkeypatch.setenv(engine.BREAK_ENV, "1")
    program, layout = small_pair(depth=7)
    with pytest.raises(UsageError) as err:
        engine.compiled(program, layout)
    message = str(err.value)
    assert "\n" not in message
    assert "failed to compile the generated engine" in message
    source = message.split("generated engine ")[1].split(":")[0]
    assert source.endswith(".c") and Path(source).is_file()
    assert "error" in message.lower()


def test_a_missing_compiler_is_a_clear_choice(monkeypatch):
    monkeypatch.setenv("PINBENCH_CC", "/nonexistent/cc")
    name, note = engine.default_engine()
    assert name == "interpreted"
    assert note.count("\n") == 0 and "interpreted" in note
    with pytest.raises(UsageError, match="--engine interpreted"):
        engine.compiled(*small_pair())
    monkeypatch.delenv("PINBENCH_CC")
    assert engine.default_engine() == ("compiled", None)


def test_bad_engine_names_are_one_line():
    with pytest.raises(UsageError, match="unknown engine 'fast'; choose one of: compiled, interpreted"):
        engine.check_engine("fast")


# -- the command line ------------------------------------------------------------------


def cli_run(folder, *extra, cache):
    done = pinbench("run", "--quick", "--counts-only", "-w", "chain,select_loop", "-s", "pinbox,always_heap",
                    "-a", "system", "--output", folder, *extra, cwd=folder.parent,
                    env={"PINBENCH_CACHE": str(cache)})
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def engine_runs(tmp_path_factory):
    """The same small suite, counted under each engine through the CLI
    (with an empty cache of its own, so the builds happen and show)."""
    root = tmp_path_factory.mktemp("engines")
    compiled = cli_run(root / "compiled", cache=root / "cache")  # the default where a C compiler works
    cli_run(root / "interpreted", "--engine", "interpreted", cache=root / "cache")
    return root, compiled


def test_run_uses_the_compiled_engine_by_default_and_records_it(engine_runs):
    root, done = engine_runs
    doc = results.read_results(root / "compiled")
    compiler = engine.find_compiler()
    assert doc["engine"] == {"engine": "compiled", "engine_compiler": compiler.version, "engine_flags": "-O2"}
    assert results.read_results(root / "interpreted")["engine"] == {"engine": "interpreted"}
    built = [line for line in done.stderr.splitlines() if "engines in" in line]
    assert built == [built[0]] and built[0].startswith("pinbench: compiled 4 engines in ")
    assert len(list((root / "cache" / "engines").glob("*.so"))) == 4
    shown = pinbench("show", root / "compiled", cwd=root, columns=200)
    assert f"engine: compiled ({compiler.version}, -O2)" in shown.stdout
    report = pinbench("report", root / "compiled", cwd=root)
    assert report.returncode == 0, report.stderr
    html = (root / "compiled" / "report.html").read_text()
    assert "compiled (" in html and "-O2" in html


def test_compare_across_engines_compares_counts_but_gives_no_timing_verdict(engine_runs):
    root, _ = engine_runs
    done = pinbench("compare", root / "interpreted", root / "compiled", cwd=root, columns=200)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 of 4 benchmarks have identical deterministic metrics" in done.stdout
    warning = [line for line in done.stdout.splitlines() if "different engines" in line]
    assert len(warning) == 1 and "no timing verdict" in warning[0]
    # With timings on both sides (a twofold slowdown), the engines decide
    # whether there is a verdict at all.
    base, head = compare.load_run(root / "interpreted"), compare.load_run(root / "compiled")
    keys = [compare.benchmark_key(b) for b in base["doc"].benchmarks]
    base["values"] = {k: [[1e-6 * (1 + 0.01 * i) for i in range(5)] for _ in range(6)] for k in keys}
    head["values"] = {k: [[2 * v for v in run] for run in base["values"][k]] for k in keys}
    across = compare.compare_runs(base, head)
    assert not across["timing"] and all(b["timing"] is None for b in across["benchmarks"])
    assert not across["verdict"]["failed"]
    head["doc"].engine = {"engine": "interpreted"}
    same = compare.compare_runs(base, head)
    assert same["timing"] and same["verdict"]["timing_regressions"] == 4


def test_a_failed_build_stops_the_run_in_one_line(tmp_path):
    done = pinbench("run", "--quick", "--counts-only", "-w", "chain", "-s", "rc", "-a", "system",
                    "--output", tmp_path / "out", cwd=tmp_path, env={engine.BREAK_ENV: "1"})
    errors = [line for line in done.stderr.splitlines() if line.startswith("pinbench: error:")]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert len(errors) == 1
    assert "failed to compile the generated engine" in errors[0] and ".c:" in errors[0]
    assert "error" in errors[0].split("generated engine")[1]
    assert not (tmp_path / "out").exists()


def test_without_a_compiler_run_falls_back_to_interpreted_with_a_note(tmp_path):
    done = pinbench("run", "--quick", "--counts-only", "-w", "chain", "-s", "pinbox", "-a", "system",
                    "--output", tmp_path / "out", cwd=tmp_path, env={"PINBENCH_CC": "/nonexistent/cc"})
    assert done.returncode == 0, done.stderr
    notes = [line for line in done.stderr.splitlines() if "no working C compiler" in line]
    assert len(notes) == 1 and "interpreted" in notes[0]
    assert results.read_results(tmp_path / "out")["engine"] == {"engine": "interpreted"}
