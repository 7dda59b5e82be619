"""`pinbench validate`: native Rust and C++ programs against the model.

The agreement tests compile one Rust program (every case, three variants)
and one C++ program (every case) once per session, run each case once and
assert that allocation counts, checksums, bytes allocated, the root frame
and every function's frame size equal the model's exactly, for every
strategy. Times are only reported.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

from pathlib import Path

import pytest

from pinbench.model.errors import UsageError
from pinbench.bench.validate import (
    MAX_RUNS_PER_ROUND,
    RUNS_PER_ROUND,
    WARM_NS_PER_ROUND,
    _run_native,
    runs_per_round,
    STRATEGIES,
    counterparts,
    disagreements,
    format_results,
    select_cases,
    speed_table,
    timing_table,
    validate,
)
from pinbench import strategies as strategy_registry
from pinbench.bench import engine
from pinbench.bench.validate import clang, toolchain
from pinbench.bench.validate.backend import BACKENDS

from .helpers import pinbench
from .programs import finished_while_queued_program, mixed_program, random_programs
from .oracles.checksum import expected_checksum

pytestmark = pytest.mark.native  # builds and runs rustc, g++ programs

HAVE_RUSTC = toolchain.find_rustc() is not None
HAVE_CXX = toolchain.find_cxx() is not None
HAVE_CC = engine.find_compiler() is not None
needs_compilers = pytest.mark.skipif(
    not (HAVE_RUSTC and HAVE_CXX), reason="rustc and g++ are needed to compare native programs"
)


CASES = (
    [
        ("chain", {"depth": depth, "borrow": borrow, "tasks": 3})
        for borrow in ("all", "none", "10")
        for depth in (0, 3, 5)
    ]
    + [
        ("chain", {"depth": 2, "waits": 0, "locals": 0, "tasks": 2}),
        ("chain", {"depth": 4, "waits": 3, "locals": 100, "borrow": "01", "tasks": 2}),
        ("fanout", {"k": 3, "depth": 2, "borrow": "10", "tasks": 2}),
        ("spawn_many", {"tasks": 1}),
        ("spawn_many", {"tasks": 50}),
        ("spawn_size", {"size": 16, "tasks": 7}),
        ("spawn_size", {"size": 1000, "tasks": 5}),
        ("skynet", {"fanout": 3, "levels": 3}),
        ("generator", {"items": 10, "borrow": True, "tasks": 3}),
        ("generator", {"items": 10, "borrow": False, "tasks": 3}),
        ("yield_many", {"yields": 4, "tasks": 3}),
        ("select_loop", {"iterations": 1, "tasks": 2}),
        ("select_loop", {"iterations": 7, "tasks": 3}),
        ("server", {"requests": 5}),
    ]
)


# The backends compared with counting allocators here (clang's: tests/test_validate_clang.py;
# Go's, Java's and Boost's held memory: tests/test_validate_go.py, test_validate_loom_fiber.py),
# and the strategies they are the counterparts of.
COUNTING = [name for name in ("rust", "c++") if BACKENDS[name].counts]
COUNTED = [s for s in STRATEGIES if counterparts()[s].name in COUNTING]
# What the fixture validates: those strategies, each with the option settings it asks validated too.
VALIDATED = list(counterparts({name: strategy_registry.get(name) for name in COUNTED}))


def _case_id(case) -> str:
    if not isinstance(case, tuple):
        return case.name
    name, params = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in params.items())


ALL_CASES = CASES + [mixed_program(), finished_while_queued_program()] + random_programs(12)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("native-cache")


@pytest.fixture(scope="session")
def results():
    if not (HAVE_RUSTC and HAVE_CXX):
        pytest.skip("rustc and g++ are needed to compare native programs")
    # clang's counterparts (halo, always_heap:clang=1): tests/test_validate_clang.py.
    # The session's engine cache (conftest.py), not a cache of its own: the
    # model's engines of the first ten random programs are those
    # tests/test_engine.py builds first (its COST), not compiled again.
    return validate(ALL_CASES, repeat=1, languages=COUNTING, strategies=COUNTED)


@needs_compilers
def test_both_sides_time_a_case_equally_often(results):
    """Every engine of the model and the native program run a case as many
    times, and a short case more than RUNS_PER_ROUND times (repeat=1 here),
    so that its minimum is taken over enough warm runs."""
    timed = results[results["native"].isin(["g++", "rustc"])]
    assert len(timed) > 0
    assert (timed["runs_native"] == timed["runs_model"]).all()
    assert (timed.groupby(["case", "strategy"])["runs_model"].nunique() == 1).all()
    assert timed["runs_model"].between(RUNS_PER_ROUND, MAX_RUNS_PER_ROUND).all()
    assert timed["runs_model"].max() > RUNS_PER_ROUND


@pytest.mark.parametrize("language", ["rust", "c++"])
def test_a_timing_program_runs_each_case_as_often_as_it_is_told(language, cache_dir):
    """``argv[1 + k]``: the runs of case k, 0 or none: not run (validate runs
    one case per process); no argument: every case once."""
    backend = BACKENDS[language]
    tool = backend.find()
    if tool is None:
        pytest.skip(f"no {language} compiler")
    from pinbench.bench.workloads import get_workload

    programs = [get_workload("spawn_many").compile({"tasks": n}) for n in (3, 5)]
    strategy = "always_heap" if language == "c++" else "pinbox"
    layout = strategy_registry.get(strategy).plan(programs[0])
    key = backend.variant(layout)
    cases = [(p.view, [strategy_registry.get(strategy).plan(p)]) for p in programs]
    tool = dataclasses.replace(tool, flags=(*tool.flags, *backend.flags(key)))
    binary = toolchain.compile_cached(tool, backend.generate(cases, key), cache_dir)

    def runs(args):
        return [(row["program"], len(row["ns"])) for row in _run_native(tool, binary, 60, args)]

    assert runs([0, 4]) == [(1, 4)]
    assert runs([3]) == [(0, 3)]
    assert runs([2, 5]) == [(0, 2), (1, 5)]
    assert runs([]) == [(0, 1), (1, 1)]


@pytest.mark.parametrize("language", ["rust", "c++"])
def test_a_native_executor_allocates_nothing_of_its_own_in_a_warm_run(language, cache_dir):
    """The executor's tables (task slots and their free list, run queue,
    waiters, timer wheel) grow in the first run and are kept, as the
    model's are: a later run makes no allocation of the executor's own
    (a std::deque queue allocated a block every 32 items; docs/validation.md,
    "The executors' own allocations"). What a first run's growth leaves in
    the heap is not checked here: a Vec of free ids, which grew only then,
    passes this test."""
    backend = BACKENDS[language]
    tool = backend.find()
    if tool is None:
        pytest.skip(f"no {language} compiler")
    from pinbench.bench.workloads import get_workload

    cases = [
        ("yield_many", {"tasks": 300, "yields": 5}),
        ("fanout", {"tasks": 40, "k": 3, "depth": 2}),
        ("select_loop", {"iterations": 20, "tasks": 30}),
        ("spawn_many", {"tasks": 500}),
        ("skynet", {"fanout": 4, "levels": 4}),
    ]
    programs = [get_workload(name).compile(params) for name, params in cases]
    strategy = "always_heap" if language == "c++" else "pinbox"
    plan = strategy_registry.get(strategy).plan
    key = backend.variant(plan(programs[0]))
    tool = dataclasses.replace(tool, flags=(*tool.flags, *backend.flags(key)))
    binary = toolchain.compile_cached(tool, backend.generate([(p.view, [plan(p)]) for p in programs], key), cache_dir)
    for k in range(len(cases)):
        (row,) = _run_native(tool, binary, 60, [0] * k + [3])
        assert (row["program"], len(row["ns"]), row["book_allocs"]) == (k, 3, 0), cases[k]


@needs_compilers
def test_progress_names_each_case_of_each_round():
    lines = []
    validate([("chain", {"depth": 1, "tasks": 2}), ("spawn_many", {"tasks": 3})], repeat=2,
             languages=["rust"], strategies=["pinbox"], engines=["interpreted"], log=lines.append)
    cases = [line.split(": ")[0] for line in lines if ", case " in line]
    assert cases == [f"round {r}/2, case {c}/2" for r in (1, 2) for c in (1, 2)]


@pytest.mark.parametrize("elapsed, runs", [
    (WARM_NS_PER_ROUND * 10, RUNS_PER_ROUND),  # a long case: the cold run and one warm
    (WARM_NS_PER_ROUND, 2),
    (WARM_NS_PER_ROUND / 10, 11),  # ten warm runs of a tenth each
    (WARM_NS_PER_ROUND / 10 + 1, 11),
    (WARM_NS_PER_ROUND / 10 - 1, 12),
    (1, MAX_RUNS_PER_ROUND),
    (0, MAX_RUNS_PER_ROUND),
])
def test_a_short_case_runs_until_its_warm_runs_fill_the_round(elapsed, runs):
    assert runs_per_round(elapsed) == runs


@needs_compilers
@pytest.mark.parametrize("index", range(len(ALL_CASES)), ids=[_case_id(c) for c in ALL_CASES])
def test_native_counts_and_checksums_equal_the_model(results, index):
    rows = results[results["case"] == index]
    engines = results.attrs["engines"]
    assert sorted(rows["strategy"]) == sorted(VALIDATED * len(engines))
    assert sorted(rows["engine"]) == sorted(engines * len(VALIDATED))
    assert set(COUNTED) == {"always_heap", "anchor_box", "pinbox", "rc"}
    for row in rows[rows["strategy"].isin(COUNTED)].itertuples():  # both engines' counts, natively
        assert row.native == ("g++" if row.strategy == "always_heap" else "rustc")
        where = f"{row.workload} {row.params} {row.strategy}"
        assert row.allocs_native == row.allocs_model, where
        assert row.checksum_native == row.checksum_model, where
        assert row.tasks_native == row.tasks_model, where
        assert row.frees_native == row.allocs_native, where  # the native program leaks nothing
        # The bytes the model reports are the compilers': every frame's size,
        # the root's, and so every byte allocated.
        assert list(row.fn_frames_model) == list(row.fn_frames_native), where
        assert row.frame_model == row.size_of_native, where
        assert row.bytes_model == row.bytes_native, where
    # And the model's checksum is the independent oracle's.
    case = ALL_CASES[index]
    if isinstance(case, tuple):
        from pinbench.bench.workloads import get_workload

        wl = get_workload(case[0])
        program = wl.compile(wl.parse_params({k: str(v).lower() for k, v in case[1].items()}))
    else:
        program = case
    assert set(rows["checksum_model"]) == {expected_checksum(program)}


@needs_compilers
def test_the_design_table_holds_for_real_compilers(results):
    """docs/workloads.md's chain counts per task, natively: D+1, 1+B', 1, 1+B."""
    chain = results[(results["workload"] == "chain") & (results["case"] < 9) & results["strategy"].isin(COUNTED)]
    for row in chain.itertuples():
        depth = row.param_values["depth"]
        borrow = row.param_values["borrow"]
        levels = {"all": set(range(depth + 1)), "none": set()}.get(
            borrow, {i for i in range(depth + 1) if borrow[i % len(borrow)] == "1"}
        )
        want = {
            "always_heap": depth + 1,
            "anchor_box": 1 + len(levels - {depth}),
            "pinbox": 1,
            "rc": 1 + len(levels),
        }[row.strategy]
        assert row.allocs_per_task_native == want, (depth, borrow, row.strategy)


@needs_compilers
def test_tables_for_the_report(results):
    assert disagreements(results) == []
    timing = timing_table(results)
    assert list(timing.columns) == [
        "case", "workload", "params", "engine", "ratio", "model_ratio", "native", "native_ratio", "carry",
    ]
    engines = results.attrs["engines"]
    assert engines == (["compiled", "interpreted"] if HAVE_CC else ["interpreted"])
    # every strategy timed against a counting backend (not the held-memory ones), beside the reference
    timed = [s for s in VALIDATED if counterparts()[s].counts]
    assert len(timing) == (len(timed) - 1) * len(ALL_CASES) * len(engines)
    assert (timing["model_ratio"] > 0).all()
    timing = timing[timing["native"].notna()]  # clang's are not selected here
    assert set(timing["ratio"]) == {"always_heap/pinbox", "anchor_box/pinbox", "rc/pinbox"}
    assert set(timing["native"]) == {"g++/rustc", "rustc/rustc"}
    assert (timing["native_ratio"] > 0).all()
    speed = speed_table(results)
    assert len(speed) == len(timed) * len(ALL_CASES) * len(engines)
    assert set(speed["engine"]) == set(engines)
    speed = speed[speed["native"].notna()]
    assert len(speed) == 4 * len(ALL_CASES) * len(engines)
    assert (speed["model_over_native"] > 0).all()
    text = format_results(results)
    assert "agree" in text and "DIFFER" not in text
    markdown = format_results(results, markdown=True).splitlines()
    assert sum(line.startswith("|---|") for line in markdown) == 3


def test_a_disagreement_is_reported():
    import pandas as pd

    row = {
        "case": 0, "workload": "chain", "params": "defaults", "strategy": "rc", "native": "rustc",
        "allocs_model": 10, "allocs_native": 11, "checksum_model": 5, "checksum_native": 5,
        "allocs_agree": False, "checksum_agree": True,
    }
    lines = disagreements(pd.DataFrame([row]))
    assert lines == ["chain defaults / rc (rustc): 11 native allocations against 10 in the model"]
    lines = disagreements(pd.DataFrame([dict(row, engine="compiled")]))
    assert lines == ["chain defaults / rc (rustc, compiled engine): 11 native allocations against 10 in the model"]


# -- failures are one line, never a traceback -------------------------------------------


def _run_cli(args, env_extra=None, path=None):
    env = dict(os.environ)
    env.update(env_extra or {})
    if path is not None:
        env["PATH"] = path
        env.pop("RUSTC", None)
        env.pop("CXX", None)
        env["CLANG"] = os.path.join(path, "no-clang")  # not the ziglang package's either
    return subprocess.run(
        [sys.executable, "-m", "pinbench.bench.validate", *args],
        capture_output=True, text=True, env=env, timeout=300,
    )


@pytest.mark.skipif(not HAVE_RUSTC, reason="rustc is needed to see it fail")
def test_a_program_that_does_not_compile_fails_with_the_compilers_message(cache_dir):
    done = _run_cli(
        ["-w", "chain", "--quick", "--language", "rust", "--cache-dir", str(cache_dir)],
        {"PINBENCH_VALIDATE_BREAK": "rust"},
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1
    assert "rustc failed to compile the generated program" in errors[0]
    assert "main.rs" in errors[0] and "error: expected" in errors[0]
    assert done.stdout == ""


@pytest.mark.skipif(not HAVE_CXX, reason="g++ is needed to see it fail")
def test_a_cpp_program_that_does_not_compile_fails_in_process(cache_dir):
    def breaks(language, source):
        return source.replace("co_return", "co_retrun", 1) if language == "c++" else source

    with pytest.raises(UsageError) as failure:
        validate([("spawn_many", {"tasks": 2})], repeat=1, cache_dir=cache_dir,
                 languages=["c++"], source_hook=breaks)
    message = str(failure.value)
    assert "g++ failed to compile the generated program" in message
    assert "main.cpp" in message and "error:" in message
    assert "\n" not in message


def test_a_missing_toolchain_is_skipped_with_a_clear_message(tmp_path):
    done = _run_cli(
        ["-w", "spawn_many", "-p", "tasks=3", "--cache-dir", str(tmp_path)], path=str(tmp_path)
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "rustc not found" in done.stdout and "skipping the rust counterparts" in done.stdout
    assert "g++ not found" in done.stdout and "skipping the c++ counterparts" in done.stdout
    assert "clang 22 not found" in done.stdout and "skipping the clang counterparts" in done.stdout
    assert "no native program was run" in done.stdout


def test_a_named_language_without_its_compiler_is_one_line(tmp_path):
    """By default a missing compiler skips its language; named with
    --language, the user asked for it: one line, exit 2."""
    done = _run_cli(["-w", "spawn_many", "-p", "tasks=3", "--language", "rust", "--cache-dir", str(tmp_path)],
                    path=str(tmp_path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "pinbench: error: --language rust needs rustc, which is not found; set RUSTC or put rustc on the PATH"]


def test_a_missing_toolchain_in_process(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("RUSTC", raising=False)
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setenv("CLANG", str(tmp_path / "no-clang"))
    results = validate([("chain", {"depth": 1, "tasks": 2})], repeat=1, cache_dir=tmp_path)
    assert results["native"].isna().all()
    assert any("rustc not found" in note for note in results.attrs["notes"])
    assert any("g++ not found" in note for note in results.attrs["notes"])
    assert disagreements(results) == []


def test_every_step_has_a_native_counterpart():
    from pinbench.model.program import OP_NAMES
    from pinbench.bench.validate import common

    assert sorted(common.SUPPORTED_OPS) == list(range(len(OP_NAMES)))
    assert {n for n, _ in select_cases(["all"])} >= {"select_loop", "server"}


def test_a_step_outside_the_subset_is_refused_in_one_line(monkeypatch):
    """A step a future model adds is refused until both generators have it."""
    from pinbench.model.program import OP_SELECT
    from pinbench.bench.validate import common

    monkeypatch.setattr(common, "SUPPORTED_OPS", tuple(op for op in common.SUPPORTED_OPS if op != OP_SELECT))
    with pytest.raises(UsageError) as refused:
        validate([("select_loop", {"iterations": 2, "tasks": 1})], repeat=1, languages=[])
    message = str(refused.value)
    assert message.startswith("workload 'select_loop' has no native counterpart: function 'main'")
    assert "uses select" in message and "\n" not in message


def test_bad_usage_is_one_line(tmp_path):
    done = _run_cli(["-w", "chain", "-p", "nonsense=1", "--cache-dir", str(tmp_path)])
    assert done.returncode == 2
    assert "no selected workload has a parameter 'nonsense'" in done.stderr
    assert "Traceback" not in done.stderr


# -- cases and cache ---------------------------------------------------------------------


def test_cases_from_flags():
    cases = select_cases(["chain"], ["depth=0,3", "borrow=all,none"])
    assert [(n, p["depth"], p["borrow"]) for n, p in cases] == [
        ("chain", 0, "all"), ("chain", 0, "none"), ("chain", 3, "all"), ("chain", 3, "none"),
    ]
    default = select_cases()
    assert {n for n, _ in default} >= {"chain", "fanout", "spawn_many", "spawn_size", "skynet", "generator"}
    assert {p["borrow"] for n, p in default if n == "generator"} == {True, False}
    assert dict(select_cases(["select_loop"]))["select_loop"]["iterations"] == 100  # rustc's compile time
    assert dict(select_cases(["select_loop"], ["iterations=7"]))["select_loop"]["iterations"] == 7
    quick = dict(select_cases(["skynet"], quick=True))
    assert quick["skynet"]["levels"] < 6


def test_one_cache_root_for_every_build(monkeypatch, tmp_path):
    """Engines, native programs and branch environments live under one
    root, chosen by one rule (bench/cache.py)."""
    from pinbench.bench import cache

    def folders():
        return cache.cache_root(cache.ENGINES), cache.cache_root(cache.NATIVE), cache.cache_root(cache.ENVS)

    monkeypatch.delenv("PINBENCH_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    home = Path("~/.cache/pinbench").expanduser()
    assert folders() == (home / "engines", home / "native", home / "envs")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert folders() == tuple(tmp_path / "xdg" / "pinbench" / k for k in ("engines", "native", "envs"))
    monkeypatch.setenv("PINBENCH_CACHE", str(tmp_path / "env"))
    assert folders() == tuple(tmp_path / "env" / k for k in ("engines", "native", "envs"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PINBENCH_CACHE", "relative")  # absolute, for processes started elsewhere
    assert cache.cache_root(cache.NATIVE) == tmp_path / "relative" / "native"
    assert cache.cache_root(cache.NATIVE, tmp_path / "flag") == tmp_path / "flag" / "native"
    assert cache.cache_root(cache.ENGINES, tmp_path / "flag") == tmp_path / "flag" / "engines"


@pytest.mark.skipif(not HAVE_CXX, reason="g++ is needed to compile")
def test_builds_are_cached_by_source_and_compiler(tmp_path):
    tool = toolchain.find_cxx()
    source = "int main() { return 0; }\n"
    first = toolchain.compile_cached(tool, source, tmp_path)
    stamp = first.stat().st_mtime_ns
    again = toolchain.compile_cached(tool, source, tmp_path)
    assert again == first and again.stat().st_mtime_ns == stamp
    other = toolchain.compile_cached(tool, source + "// changed\n", tmp_path)
    assert other != first
    assert toolchain.run_binary(first, [], 30, "g++") == ""


@needs_compilers  # the native ratios need both (without rustc: tests/test_fresh_checkout.py)
def test_saved_validation_becomes_the_reports_fidelity_figure(tmp_path):
    """`validate --save DIR` writes validation.json; `report DIR` draws it."""
    import json

    folder = tmp_path / "run"
    done = pinbench("run", "--quick", "--counts-only", "-w", "chain", "-s", "pinbox", "-a", "system", "-o", folder,
                    cwd=tmp_path, timeout=None)
    assert done.returncode == 0, done.stderr
    done = pinbench("validate", "-w", "chain", "--quick", "--repeat", "1", "--save", folder, cwd=tmp_path, timeout=None)
    assert done.returncode == 0, done.stderr
    saved = json.loads((folder / "validation.json").read_text())
    assert saved["format"] == "pinbench-validation"
    pairs = {row["ratio"] for row in saved["timing"]}
    clang_too = ["always_heap:clang=1", "halo", "halo:elide_late=1"] if clang.find() else []
    assert pairs == {f"{s}/pinbox" for s in ["always_heap", "anchor_box", "rc", *clang_too]}
    assert all(row["model_ratio"] > 0 and row["native_ratio"] > 0 for row in saved["timing"])
    engines = ["compiled", "interpreted"] if HAVE_CC else ["interpreted"]
    assert saved["engines"] == engines  # and every row says which engine it timed
    for table in ("cases", "timing", "speed"):
        assert sorted({row["engine"] for row in saved[table]}) == engines
    done = pinbench("report", folder, cwd=tmp_path, timeout=None)
    assert done.returncode == 0, done.stderr
    png = folder / "figures" / "fidelity-1.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert "Model against native programs" in (folder / "report.html").read_text()


# -- one language, and bad numbers ---------------------------------------------------------


@pytest.mark.skipif(not HAVE_CXX, reason="g++ is needed to run one language alone")
def test_one_language_alone_reports_no_disagreement(tmp_path, capsys):
    """--language c++ leaves the Rust strategies without a native row:
    that is no disagreement (it was a TypeError and exit 1)."""
    from pinbench.bench.cli import main

    status = main(["validate", "-w", "chain", "-p", "depth=1", "-p", "tasks=2", "--repeat", "1",
                   "--language", "c++", "--engine", "interpreted", "--cache-dir", str(tmp_path)])
    out = capsys.readouterr()
    assert status == 0, out.err
    assert "native runs agree with the model" in out.out and "bytes:" in out.out


@pytest.mark.skipif(not HAVE_RUSTC, reason="rustc is needed to validate anchor_box")
def test_one_strategy_alone_builds_only_its_language(tmp_path, capsys):
    """-s anchor_box: its rows alone, and only its counterpart (rustc) is
    compiled; no other language's compiler runs."""
    import json

    from pinbench.bench.cli import main

    status = main(["validate", "-w", "chain", "-p", "depth=1", "-p", "tasks=2", "--repeat", "1", "-s", "anchor_box",
                   "--engine", "interpreted", "--cache-dir", str(tmp_path / "cache"), "--save", str(tmp_path / "run")])
    out = capsys.readouterr()
    assert status == 0, out.err
    assert "all 1 native runs agree with the model" in out.out
    compiled = [line for line in out.err.splitlines() if "compiling the" in line]
    assert len(compiled) == 1 and "compiling the rust program" in compiled[0], out.err
    saved = json.loads((tmp_path / "run" / "validation.json").read_text())
    assert {row["strategy"] for row in saved["cases"]} == {"anchor_box"}


@pytest.mark.parametrize("args, needle", [
    (["--timeout", "nan"], "argument --timeout: 'nan' is not a number of seconds"),
    (["--timeout", "inf"], "argument --timeout: 'inf' is not a number of seconds"),
    (["--timeout", "0"], "argument --timeout: '0' is out of range"),
    (["--repeat", "0"], "argument --repeat: '0' is out of range; give 1 to 100"),
    (["--repeat", "1000000000"], "argument --repeat: '1000000000' is out of range; give 1 to 100"),
    (["--repeat", "two"], "argument --repeat: 'two' is not a whole number"),
    (["--language", "both"], "unknown language 'both'"),
    (["--engine", "both"], "unknown engine 'both'"),
    (["-s", "pinbox,nope"], "unknown strategy 'nope'; choose one of: always_heap,"),
    (["-s", "dotnet"], "strategy 'dotnet' has no native counterpart to validate against; choose from: always_heap,"),
])
def test_bad_numbers_and_names_are_one_line(capsys, args, needle):
    from pinbench.bench.cli import main

    assert main(["validate", "-w", "chain", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pinbench: error: ") and needle in err, err


def test_help_offers_only_values_that_work(capsys):
    """Every value --help names for --language and --engine is accepted."""
    from pinbench.bench.cli import main
    from pinbench.bench.validate import LANGUAGES

    assert main(["validate", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    language = text.split("--language L ")[1].split(";")[0]
    assert language == " or ".join(LANGUAGES)
    engines = text.split("--engine E ")[1].split(";")[0]
    assert engines.endswith(" or ".join(engine.ENGINES))


def test_held_figures_compare_after_their_class():
    from pinbench.bench.validate.backend import Held, nearest_power

    assert [nearest_power(x) for x in (0, 1, 2047, 2048, 2075.9, 2896, 2897, 4097.6)] == [0, 1, 2048, 2048, 2048,
                                                                                         2048, 4096, 4096]
    stack = Held("reserved", "reserved_bytes_per_task", classify=nearest_power)
    assert stack.agrees(2048 + 2048 / 64, 2075.9) and not stack.agrees(2048, 4096.0)
    assert stack.classes(2080.0, 4097.6) == (2048, 4096)
    chunks = Held("blocks", "blocks_per_task", tolerance=0.10)
    assert chunks.agrees(110, 100) and not chunks.agrees(111, 100)
    with pytest.raises(ValueError, match="not one of reserved, blocks"):
        Held("rss", "peak_rss_bytes")


def test_a_case_too_big_for_the_model_is_a_note_not_the_end_of_validate(monkeypatch):
    """The default cases hold skynet at 10^6 leaves, which fiber's 132 KiB
    stacks cannot hold in memory: that (case, strategy) is left out with a
    note naming it, and every other row is still made."""
    from pinbench.bench import runner

    resident = int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    # 48 MiB beyond what the process holds: 1,111 fibers' stacks need 147 MiB, the rest KiBs
    monkeypatch.setattr(runner, "default_memory_limit", lambda: resident + 48 * 2**20)
    case = ("skynet", {"fanout": 10, "levels": 3})
    table = validate([case], repeat=1, languages=(), engines=["interpreted"])
    assert "fiber" not in set(table["strategy"])
    assert set(table["strategy"]) == set(STRATEGIES) - {"fiber"}
    notes = [n for n in table.attrs["notes"] if "not validated" in n and "fiber" in n]
    assert len(notes) == 1 and "memory limit" in notes[0], table.attrs["notes"]


def _spawn_many_job():
    from pinbench.bench.workloads import get_workload

    program = get_workload("spawn_many").compile({"tasks": 50})
    return (program, strategy_registry.get("pinbox").plan(program), "system", None)


def test_the_models_timing_worker_is_single_threaded_as_the_natives_are():
    """glibc's malloc locks once a process has had a second thread; the
    timing process imports only bench/worker.py and starts none (the
    native programs never do), and times every job, one after another."""
    from pinbench.bench.validate import model_timing

    jobs = [_spawn_many_job(), _spawn_many_job()]
    round_ns = model_timing.times(jobs, [3, 5], 1 << 30, 120)
    assert [len(r) for r in round_ns] == [3, 5] and all(ns > 0 for r in round_ns for ns in r)


def test_a_job_that_fails_in_the_timing_worker_says_why():
    """Each job runs in a child of the timing process; its error still
    reaches the user's one line."""
    from pinbench.bench.validate import model_timing

    program, layout, allocator, _ = _spawn_many_job()
    with pytest.raises(UsageError, match="timing worker failed: .*nonexistent-engine.so"):
        model_timing.times([(program, layout, allocator, "/nonexistent-engine.so")], [2], 1 << 30, 120)


def test_a_multithreaded_process_refuses_to_time(monkeypatch, capsys):
    from pinbench.bench import worker

    monkeypatch.setattr(worker, "single_threaded", lambda: False)
    assert worker.rounds_main([2]) == 1
    assert "started a second thread" in capsys.readouterr().err


@pytest.mark.parametrize("thread", [False, True])
def test_single_threaded_says_whether_a_thread_ever_started(thread):
    start = "import threading; t = threading.Thread(target=int); t.start(); t.join(); " if thread else ""
    said = subprocess.run([sys.executable, "-c", start + "from pinbench.bench.worker import single_threaded; "
                           "print(single_threaded())"], capture_output=True, text=True, check=True).stdout.strip()
    assert said == ("False" if thread else "True") or said == "None"  # None: not glibc 2.32+
