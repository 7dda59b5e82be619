"""The command line, run for real in subprocesses, and the layers under it
(suite, results folder, environment) in process.

Every bad input must give exit status 2, exactly one line on stderr and no
traceback; an interrupted run must leave a readable, incomplete results
folder and exit 130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import csv
import functools
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time

import pyperf
import pytest

from pinbench import strategies
from pinbench.bench import cli, environment, metrics, results, runner, suite, timing
from pinbench.bench import statistics as trust_statistics
from pinbench.bench.formatting import compact
from pinbench.model.errors import UsageError
from pinbench.bench.runner import ALLOCATORS, execute
from pinbench.bench.workloads import WORKLOADS, get_workload

from . import helpers
from .helpers import assert_one_line_error, start_pinbench

STRATEGIES = list(strategies.available())
pinbench = functools.partial(helpers.pinbench, columns=100)  # tables 100 columns wide
CHAIN_PARAMS = ["depth", "borrow", "waits", "locals"]
EXPECTED_COLUMNS = (
    ["workload", "strategy", "allocator"]
    + CHAIN_PARAMS
    + ["param_tasks"]
    + [
        "tasks", "allocs_per_task", "bytes_per_task", "peak_live_bytes", "peak_bytes_per_task",
        "moved_bytes", "refcount_ops", "polls_per_task", "root_frame_bytes", "checksum",
        "live_blocks_end", "allocs", "frees", "bytes_allocated", "peak_live_blocks", "polls",
        "ticks", "live_bytes_end", "peak_live_tasks", "peak_bytes_per_live_task",
        "copied_bytes", "copied_bytes_per_task", "peak_reserved_bytes", "reserved_bytes_per_task", "stack_growths",
        "runtime_bytes", "runtime_bytes_per_task", "peak_held_bytes", "peak_held_tasks", "held_bytes_per_live_task",
        "runtime_live_end",
        "ns_per_task_single",
        "ns_per_task_mean", "ns_per_task_stdev", "ns_per_task_median", "timing_values",
        "tasks_per_second", "timing_cv", "noisy",
        "ns_per_task_ci_low", "ns_per_task_ci_high", "timing_within",
        "outliers_low_severe", "outliers_low_mild", "outliers_high_mild", "outliers_high_severe",
        "p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns", "latency_samples", "latency_overhead",
        "instructions_per_task", "estimated_cycles_per_task",
        "bookkeeping_bytes_per_task", "allocator_bytes_per_task", "bookkeeping_peak_bytes", "allocator_peak_bytes",
        "rss_start_bytes", "peak_rss_bytes",
    ]
)


def read_csv(path):
    with open(path, newline="") as file:
        reader = csv.reader(file)
        header = next(reader)
        return header, [dict(zip(header, row)) for row in reader]


# -- a real quick run, shared by several tests ----------------------------------------


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("quick")
    out = cwd / "run"
    done = pinbench(
        "run", "--quick", "--workload", "chain,spawn_many", "--strategy", "all",
        "--allocator", "system", "--output", out, cwd=cwd,
    )
    assert done.returncode == 0, done.stderr
    return cwd, out, done


def test_list_names_every_workload_strategy_and_allocator(tmp_path):
    done = pinbench("list", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    for name in list(WORKLOADS) + STRATEGIES + list(ALLOCATORS) + list(suite.SUITES):
        assert re.search(rf"\b{name}\b", done.stdout), name
    # parameters with their defaults and ranges
    assert "depth=8 (0..1,000)" in done.stdout
    assert "levels=6 (0..12)" in done.stdout
    assert all(len(line) <= 100 for line in done.stdout.splitlines())


def test_quick_run_writes_results_json(quick_run):
    _, out, done = quick_run
    doc = json.loads((out / "results.json").read_text())
    assert doc["format"] == "pinbench-results"
    assert doc["schema_version"] == results.SCHEMA_VERSION == 1
    assert doc["complete"] is True
    assert doc["mode"] == "quick"
    assert doc["command"] == [
        "pinbench", "run", "--quick", "--workload", "chain,spawn_many", "--strategy", "all",
        "--allocator", "system", "--output", str(out),
    ]
    assert doc["benchmarks_planned"] == 2 * len(STRATEGIES) == len(doc["benchmarks"])
    assert [(b["workload"], b["strategy"], b["allocator"]) for b in doc["benchmarks"]] == [
        (w, s, "system") for w in ("chain", "spawn_many") for s in STRATEGIES
    ]
    chain = doc["benchmarks"][0]
    assert chain["params"] == {"depth": 8, "borrow": "all", "waits": 1, "locals": 64, "tasks": 100}
    assert doc["benchmarks"][-1]["params"] == {"tasks": 1000}
    env = doc["environment"]
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert env["pinbench"] == doc["pinbench_version"]
    assert env["logical_cores"] == os.cpu_count()
    assert doc["started"] <= doc["finished"]
    assert sorted(p.name for p in out.iterdir()) == ["metrics.csv", "pyperf.json", "results.json"]
    # the run's metadata (issue: CPU, cores, kernel, versions, commit, mode, times)
    for key in ("cpu", "kernel", "cython", "compiler", "core_compiler", "git_commit", "git_dirty"):
        assert key in env, key
    assert doc["timing"] is True


def test_quick_run_times_every_benchmark_with_pyperf(quick_run):
    cwd, out, _ = quick_run
    doc = json.loads((out / "results.json").read_text())
    suite = pyperf.BenchmarkSuite.load(str(out / "pyperf.json"))
    names = suite.get_benchmark_names()
    assert len(names) == len(doc["benchmarks"]) == 2 * len(STRATEGIES)
    for bench, name in zip(doc["benchmarks"], names):
        m = bench["metrics"]
        values = suite.get_benchmark(name).get_values()
        # pinbench's figures are pyperf's values (s per task), in ns
        assert m["timing_values"] == len(values) >= 3
        assert m["ns_per_task_mean"] == pytest.approx(statistics.fmean(values) * 1e9)
        assert m["ns_per_task_stdev"] == pytest.approx(statistics.stdev(values) * 1e9)
        assert m["tasks_per_second"] == pytest.approx(1e9 / m["ns_per_task_mean"])
        # Trusted: the median's bootstrap interval (over every value, extra
        # workers' included) within 5% of the median on both sides.
        median, low, high = trust_statistics.median_interval(values)
        assert (m["ns_per_task_median"], m["ns_per_task_ci_low"], m["ns_per_task_ci_high"]) == pytest.approx(
            (median * 1e9, low * 1e9, high * 1e9))
        assert m["ns_per_task_median"] == pytest.approx(statistics.median(values) * 1e9)
        assert m["noisy"] == (not (low >= 0.95 * median and high <= 1.05 * median))
        assert 0 < m["p50_ns"] <= m["p90_ns"] <= m["p99_ns"] <= m["p999_ns"] <= m["max_ns"]
        # every 16th task is sampled: chain spawns 100, spawn_many 1001
        assert m["latency_samples"] == -(-m["tasks"] // 16)
        assert "latency_overhead" in m
    # pyperf's own tools read the file unchanged
    stats = subprocess.run(
        [sys.executable, "-m", "pyperf", "stats", str(out / "pyperf.json")],
        capture_output=True, text=True,
    )
    assert stats.returncode == 0, stats.stderr
    assert names[0] in stats.stdout and "Mean +- std dev" in stats.stdout


def test_quick_run_metrics_csv(quick_run):
    _, out, _ = quick_run
    header, rows = read_csv(out / "metrics.csv")
    assert header == EXPECTED_COLUMNS
    assert len(rows) == 2 * len(STRATEGIES)
    chain = [r for r in rows if r["workload"] == "chain"]
    spawn = [r for r in rows if r["workload"] == "spawn_many"]
    assert [r["strategy"] for r in chain] == STRATEGIES == [r["strategy"] for r in spawn]
    assert {r["allocator"] for r in rows} == {"system"}
    assert all(r["live_blocks_end"] == "0" and r["live_bytes_end"] == "0" for r in rows)
    # parameters: chain's own; empty where spawn_many has none
    assert {(r["depth"], r["borrow"], r["waits"], r["locals"], r["param_tasks"]) for r in chain} == {
        ("8", "all", "1", "64", "100")
    }
    assert {(r["depth"], r["borrow"], r["param_tasks"]) for r in spawn} == {("", "", "1000")}
    # one checksum per workload, whatever the strategy; spawn_many sums 0..999
    program = get_workload("chain").compile({"tasks": 100})
    assert {r["checksum"] for r in chain} == {str(execute(program, "pinbox", "system")["checksum"])}
    assert {r["checksum"] for r in spawn} == {str(sum(range(1000)))}
    # the allocation rules of docs/workloads.md for chain (D = 8, every level borrows)
    allocs = {r["strategy"]: r["allocs_per_task"] for r in chain}
    assert (allocs["always_heap"], allocs["anchor_box"], allocs["pinbox"], allocs["rc"]) == (
        "9.0", "9.0", "1.0", "10.0",
    )
    assert {r["tasks"] for r in chain} == {"100"} and {r["tasks"] for r in spawn} == {"1001"}
    # the CSV holds the JSON's numbers
    doc = json.loads((out / "results.json").read_text())
    for row, bench in zip(rows, doc["benchmarks"]):
        for column in ("allocs", "bytes_allocated", "peak_live_bytes", "moved_bytes", "polls", "checksum"):
            assert row[column] == str(bench["metrics"][column])


def test_param_sweep_runs_each_value(tmp_path):
    out = tmp_path / "sweep"
    done = pinbench(
        "run", "--quick", "--counts-only", "--workload", "chain", "--param", "depth=1,3", "--strategy", "all",
        "--allocator", "system", "--output", out, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    _, rows = read_csv(out / "metrics.csv")
    assert [r["depth"] for r in rows] == ["1"] * len(STRATEGIES) + ["3"] * len(STRATEGIES)
    assert [r["strategy"] for r in rows] == STRATEGIES * 2
    heap = [r["allocs_per_task"] for r in rows if r["strategy"] == "always_heap"]
    assert heap == ["2.0", "4.0"]  # D + 1 frames
    assert {r["param_tasks"] for r in rows} == {"100"}


def test_show_prints_the_table(quick_run):
    cwd, out, _ = quick_run
    done = pinbench("show", out, cwd=cwd)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[0] == str(out)
    assert "mode: quick" in lines[1]
    # Two tables: the counts, then the timing (pyperf and latency).
    assert sum(line.startswith("chain ") for line in lines) == 2
    assert sum(line.startswith("spawn_many ") for line in lines) == 2
    for strategy in STRATEGIES:
        assert sum(f" {strategy} " in line for line in lines) == 4
    timing = lines[next(i for i, line in enumerate(lines) if "time/task" in line):]
    assert re.search(r"^chain\s+always_heap\s+system\s+[\d.]+ [nu]s ±\d+%", "\n".join(timing), re.M)
    assert "incomplete" not in done.stdout
    assert "499500" in done.stdout  # spawn_many's checksum, shown once
    assert all(len(line) <= 100 for line in lines)


def test_show_never_cuts_numbers_on_a_narrow_screen(quick_run):
    cwd, out, _ = quick_run
    done = pinbench("show", out, cwd=cwd, columns=60)
    assert done.returncode == 0, done.stderr
    chain = json.loads((out / "results.json").read_text())["benchmarks"][0]["metrics"]["checksum"]
    assert str(chain) in done.stdout
    assert "…" not in done.stdout
    assert sum(line.startswith("spawn_many ") for line in done.stdout.splitlines()) == 2


def test_run_summary_and_refusal_to_overwrite(quick_run):
    cwd, out, done = quick_run
    assert "chain" in done.stdout and str(out) in done.stdout
    again = pinbench("run", "--quick", "--counts-only", "--workload", "chain", "--output", out, cwd=cwd)
    assert_one_line_error(again, "already holds a run", "--force")
    assert json.loads((out / "results.json").read_text())["complete"] is True


def _table(stdout: str) -> tuple[list, list]:
    """(column headers, rows of cells) of the one rich table in ``stdout``:
    a header's lines joined per column, each row's cells stripped."""
    lines = stdout.splitlines()
    heads = [[c.strip() for c in line.split("┃")[1:-1]] for line in lines if line.startswith("┃")]
    headers = [" ".join(part for part in column if part) for column in zip(*heads)]
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in lines if line.startswith("│")]
    return headers, rows


def _ratio_text(value: float, best: float) -> str:
    ratio = value / best
    return f"{ratio:.0f}" if ratio >= 100 else f"{ratio:.1f}" if ratio >= 10 else f"{ratio:.2f}"


def test_run_headline_is_one_table_of_every_strategy_relative_to_the_best(quick_run):
    """The mission's question in one table: per workload, every strategy's
    held bytes (first), allocations and time per task, each with its ratio
    to the best strategy's, as the results hold them."""
    _, out, done = quick_run
    assert done.stdout.count("┏") == 1  # one table
    headers, rows = _table(done.stdout)
    assert headers == ["workload", "strategy", "held B /live task", "x best", "allocs /task", "x best",
                       "time /task", "x best"]
    doc = json.loads((out / "results.json").read_text())
    assert len(rows) == len(doc["benchmarks"]) == 2 * len(STRATEGIES)
    for i, workload in enumerate(("chain", "spawn_many")):
        benches = [b for b in doc["benchmarks"] if b["workload"] == workload]
        mine = rows[i * len(STRATEGIES):(i + 1) * len(STRATEGIES)]
        assert [row[1] for row in mine] == [b["strategy"] for b in benches] == STRATEGIES
        held = [b["metrics"]["held_bytes_per_live_task"] for b in benches]
        times = [b["metrics"]["ns_per_task_median"] for b in benches]
        for row, bench, h, t in zip(mine, benches, held, times):
            assert row[2] == compact(h) and row[3] == _ratio_text(h, min(held))
            assert row[7] == _ratio_text(t, min(times))
            assert row[6].endswith("!") == bench["metrics"]["noisy"]
        allocs = [float(row[4]) for row in mine]
        if workload == "chain":  # docs/workloads.md: D + 1, 1 + B', 1, 1 + B for depth 8, every level borrowing
            assert allocs[:4] == [9, 9, 1, 10]
            assert [row[5] for row in mine[:4]] == ["9.00", "9.00", "1.00", "10.0"]
    assert rows[0][0] == "chain" and rows[len(STRATEGIES)][0] == "spawn_many"


def test_a_long_run_says_how_long_it_should_take_before_it_starts(quick_run, tmp_path):
    """The full suite's expected duration is its benchmarks times the
    declared cost of one in its mode, said before anything is compiled
    (then stopped there); a run under a minute is not forecast."""
    each = suite.SECONDS_PER_BENCHMARK["default"]
    size = len(WORKLOADS) * len(STRATEGIES) * len(ALLOCATORS)  # the registries' matrix, not build_suite's count
    minutes, noisy = round(size * each / 60), round(size * each * (1 + timing.MORE_SHARE) / 60)  # extra values
    process = start_pinbench("run", "--suite", "full", "-o", tmp_path / "full", cwd=tmp_path)
    first = process.stderr.readline().rstrip("\n")
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=120)
    assert first == (f"pinbench: suite full: {size} benchmarks, expected to take about {minutes} min "
                     f"({each:g} s a benchmark in default mode; up to {noisy} min where noisy timings take extra "
                     "values), plus compiling the engines not yet cached")
    assert process.returncode == 130 and "Traceback" not in rest
    _, _, done = quick_run  # two workloads' benchmarks of 0.3 s
    assert "expected to take" not in done.stderr


def test_force_overwrites(tmp_path):
    out = tmp_path / "r"
    args = ["run", "--quick", "--counts-only", "-w", "yield_many", "-a", "pool", "--output", out]
    assert pinbench(*args, "-s", "pinbox", cwd=tmp_path).returncode == 0
    done = pinbench(*args, "-s", "rc", "--force", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    doc = results.read_results(out)
    assert [b["strategy"] for b in doc["benchmarks"]] == ["rc"]


def test_default_folder_is_a_timestamp_or_name(tmp_path):
    args = ["run", "--quick", "--counts-only", "-w", "yield_many", "-s", "pinbox", "-a", "pool"]
    assert pinbench(*args, cwd=tmp_path).returncode == 0
    assert pinbench(*args, "--name", "nightly", cwd=tmp_path).returncode == 0
    names = sorted(p.name for p in (tmp_path / "results").iterdir())
    assert len(names) == 2 and names[1] == "nightly"
    assert re.fullmatch(r"\d{8}-\d{6}", names[0])
    assert (tmp_path / "results" / names[0] / "results.json").is_file()


def test_plugin_strategy_is_listed_and_runs(tmp_path):
    (tmp_path / "pinbench_cli_plugin.py").write_text(
        "from pinbench.strategies import Strategy\n"
        "class BoxAll(Strategy):\n"
        "    summary = 'every child boxed, polled top-down'\n"
        "    origin = 'a test plug-in'\n"
        "    def box_edge(self, program, edge):\n"
        "        return True\n"
        "STRATEGY = BoxAll()\n"
    )
    dist = tmp_path / "pinbench_cli_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: pinbench-cli-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[pinbench.strategies]\nbox_all = pinbench_cli_plugin:STRATEGY\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "COLUMNS": "100"}
    cmd = [sys.executable, "-m", "pinbench.bench.cli"]
    listed = subprocess.run([*cmd, "list"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"box_all +. top-down +. every child boxed", listed.stdout), listed.stdout
    assert "(plug-in)" in listed.stdout
    run = subprocess.run(
        [*cmd, "run", "--quick", "--counts-only", "-w", "chain", "-a", "pool", "-o", "out"],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )
    assert run.returncode == 0, run.stderr
    doc = results.read_results(tmp_path / "out")
    by_strategy = {b["strategy"]: b["metrics"] for b in doc["benchmarks"]}
    assert list(by_strategy) == STRATEGIES + ["box_all"]
    assert by_strategy["box_all"]["allocs_per_task"] == 9  # D + 1 boxes, like always_heap
    assert by_strategy["box_all"]["checksum"] == by_strategy["pinbox"]["checksum"]


# -- bad input: exit 2, one line, no traceback -------------------------------------------


@pytest.mark.parametrize(
    "args, needles",
    [
        (["run", "--workload", "nope"], ["unknown workload 'nope'", "chain"]),
        (["run", "--strategy", "nope"], ["unknown strategy 'nope'", "pinbox"]),
        (["run", "--allocator", "nope"], ["unknown allocator 'nope'", "system, pool, bump"]),
        (["run", "--param", "nosuch=1"], ["'nosuch'", "chain: depth"]),
        (["run", "--workload", "spawn_many", "--param", "depth=1"], ["'depth'", "spawn_many: tasks"]),
        (["run", "--param", "depth=-1"], ["depth=-1", "0 to 1000"]),
        (["run", "--param", "borrow=12"], ["borrow='12'"]),
        (["run", "--param", "depth"], ["NAME=V1,V2"]),
        (["run", "--param", "depth=1", "--param", "depth=2"], ["given twice"]),
        (["run", "--workload", "skynet", "--param", "levels=9"], ["leaves"]),
        (["run", "--memory-limit", "lots"], ["--memory-limit", "(see pinbench run --help)"]),
        (["run", "--engine", "fast"], ["invalid engine 'fast'", "compiled, interpreted", "(see pinbench run --help)"]),
        (["run", "--bogus"], ["unrecognized arguments: --bogus", "(see pinbench run --help)"]),
        (["run", "--name", "a/b"], ["--name"]),
        (["run", "--name", "x", "--output", "y"], ["not allowed with"]),
        (["run", "--suite", "nope"], ["unknown suite 'nope'", "default, quick, full", "(see pinbench run --help)"]),
        (["run", "--quick", "--suite", "full"], ["--quick runs the quick suite, not 'full'"]),
        (["compare-branches", "main", "HEAD", "--suite", "nope"], ["unknown suite 'nope'"]),
        (["show"], ["DIR", "(see pinbench show --help)"]),
        ([], ["COMMAND", "(see pinbench --help)"]),
        (["frobnicate"], ["invalid choice"]),
    ],
)
def test_bad_arguments(tmp_path, args, needles):
    assert_one_line_error(pinbench(*args, cwd=tmp_path), *needles)
    assert not (tmp_path / "results").exists()


TOML_ERRORS = {
    "syntax": ("[fn.main\nlocals = 1\n", "TOML syntax error"),
    "callee": ('[fn.main]\nsteps = [{ call = "missing" }]\n', "'missing' is not defined"),
    "recursion": ('[fn.main]\nsteps = [{ call = "main" }]\n', "limit"),
    "type": ('[fn.main]\nlocals = "big"\n', "locals='big'"),
}


@pytest.mark.parametrize("kind", sorted(TOML_ERRORS))
def test_bad_workload_file(tmp_path, kind):
    text, needle = TOML_ERRORS[kind]
    path = tmp_path / f"{kind}.toml"
    path.write_text(text)
    done = pinbench("run", "--counts-only", "--workload", path, "--output", tmp_path / "out", cwd=tmp_path)
    line = assert_one_line_error(done, needle)
    assert str(path) in line
    assert not (tmp_path / "out").exists()


def test_workload_file_runs(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text('[workload]\nname = "tiny"\ntasks = 3\n[fn.main]\nlocals = 8\nsteps = [{ work = 8 }, { io = 1 }]\n')
    done = pinbench("run", "--counts-only", "-w", path, "-a", "bump", "--output", tmp_path / "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    doc = results.read_results(tmp_path / "out")
    assert {(b["workload"], b["workload_file"], b["metrics"]["tasks"]) for b in doc["benchmarks"]} == {
        ("tiny", str(path), 3)
    }


def test_memory_limit_stops_cleanly(tmp_path):
    done = pinbench("run", "-w", "chain", "-a", "all", "--memory-limit", "0.000001", "--output", tmp_path / "out",
                    cwd=tmp_path)
    # narrated: building the engines first (when they are not cached) reports its progress
    assert_one_line_error(done, f"0 of {len(STRATEGIES) * len(ALLOCATORS)} benchmarks finished", narrated=True)
    assert not (tmp_path / "out").exists()


@pytest.fixture
def damaged(tmp_path, quick_run):
    """Folders whose results.json is broken in each way show must refuse."""
    good = json.loads((quick_run[1] / "results.json").read_text())
    folders = {}
    for name, text in {
        "truncated": json.dumps(good)[:500],
        "foreign": json.dumps({"name": "some other tool", "version": 3}),
        "future": json.dumps({**good, "schema_version": 999}),
        "list": "[1, 2, 3]",
        "broken": json.dumps({**good, "benchmarks": [{"workload": "chain"}]}),
    }.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "results.json").write_text(text)
        folders[name] = folder
    (tmp_path / "empty").mkdir()
    folders["empty"] = tmp_path / "empty"
    folders["missing"] = tmp_path / "missing"
    return folders


@pytest.mark.parametrize(
    "kind, needles",
    [
        ("missing", ["no results folder"]),
        ("empty", ["has no results.json"]),
        ("truncated", ["not valid JSON"]),
        ("foreign", ["not a pinbench results document"]),
        ("list", ["not a pinbench results document"]),
        ("future", ["schema_version 999", "schema_version 1"]),
        ("broken", ["damaged"]),
    ],
)
def test_show_refuses_bad_folders(tmp_path, damaged, kind, needles):
    assert_one_line_error(pinbench("show", damaged[kind], cwd=tmp_path), *needles)
    with pytest.raises(UsageError, match=needles[0].replace("(", r"\(")):
        results.read_results(damaged[kind])


# -- interruption ---------------------------------------------------------------------------


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_run_keeps_what_finished(tmp_path, signum, status):
    out = tmp_path / "big"
    proc = start_pinbench(
        "run", "--quick", "--workload", "skynet", "--param", "levels=5", "--strategy", "all",
        "--allocator", "all", "--output", out, cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 120
        while not (out / "results.json").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no results.json after 120 s"
            time.sleep(0.02)
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    planned = len(STRATEGIES) * len(ALLOCATORS)
    assert proc.returncode == status, stderr
    assert "Traceback" not in stderr
    doc = results.read_results(out)
    finished = len(doc["benchmarks"])
    assert doc["complete"] is False
    assert doc["benchmarks_planned"] == planned
    assert 1 <= finished < planned
    _, rows = read_csv(out / "metrics.csv")
    assert len(rows) == finished
    assert {r["checksum"] for r in rows} == {str(sum(range(10**5)))}
    assert stderr.strip().splitlines()[-1] == (
        f"pinbench: interrupted: {finished} of {planned} benchmarks finished; partial results in {out}"
    )
    assert sorted(p.name for p in out.iterdir()) == ["metrics.csv", "pyperf.json", "results.json"]
    # pyperf.json holds exactly the finished, timed benchmarks
    assert len(pyperf.BenchmarkSuite.load(str(out / "pyperf.json")).get_benchmarks()) == finished
    shown = pinbench("show", out, cwd=tmp_path)
    assert shown.returncode == 0
    assert f"incomplete: {finished} of {planned} benchmarks finished" in shown.stdout


# -- bugs are reported: exit 1 ------------------------------------------------------------


def _run_in_process(tmp_path, monkeypatch, capsys, tamper):
    real = runner.execute

    def fake(program, strategy, allocator, memory_limit=None, engine="interpreted"):
        metrics = real(program, strategy, allocator, memory_limit, engine)
        tamper(strategy, allocator, metrics)
        return metrics

    monkeypatch.setattr(runner, "execute", fake)
    monkeypatch.chdir(tmp_path)
    status = cli.main(["run", "--quick", "--counts-only", "-w", "chain", "-a", "system,pool", "--output", "out"])
    return status, capsys.readouterr()


def test_leak_is_a_bug(tmp_path, monkeypatch, capsys):
    def leak(strategy, allocator, metrics):
        if (strategy, allocator) == ("rc", "pool"):
            metrics["live_blocks_end"], metrics["live_bytes_end"] = 2, 96

    status, captured = _run_in_process(tmp_path, monkeypatch, capsys, leak)
    assert status == 1
    assert "BUG" in captured.err
    assert "chain" in captured.err and "rc / pool ended with 2 live blocks (96 bytes)" in captured.err
    assert results.read_results(tmp_path / "out")["complete"] is True
    assert cli.main(["show", str(tmp_path / "out")]) == 1


def test_checksum_mismatch_is_a_bug(tmp_path, monkeypatch, capsys):
    def skew(strategy, allocator, metrics):
        if strategy == "pinbox":
            metrics["checksum"] = (metrics["checksum"] + 1) % 2**64

    status, captured = _run_in_process(tmp_path, monkeypatch, capsys, skew)
    assert status == 1
    assert "checksums differ" in captured.err and "pinbox/system, pinbox/pool" in captured.err


def test_clean_run_in_process_exits_0(tmp_path, monkeypatch, capsys):
    status, captured = _run_in_process(tmp_path, monkeypatch, capsys, lambda *a: None)
    assert status == 0, captured.err
    assert "BUG" not in captured.err


# -- the layers under the CLI ----------------------------------------------------------------


def test_atomic_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "results.json"
    results.atomic_write_text(target, "one")
    results.atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert os.listdir(tmp_path) == ["results.json"]

    def fail(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError):
        results.atomic_write_text(target, "three")
    assert target.read_text() == "two"  # the old version survives a failed write
    assert os.listdir(tmp_path) == ["results.json"]


def test_results_round_trip_and_dataframe(tmp_path):
    run = {
        "complete": False,
        "command": ["pinbench", "run"],
        "mode": "default",
        "started": "2024-01-01T00:00:00+00:00",
        "finished": "2024-01-01T00:00:01+00:00",
        "benchmarks_planned": 3,
        "environment": {"hostname": "h"},
        "benchmarks": [
            {"workload": "skynet", "strategy": "rc", "allocator": "bump",
             "params": {"fanout": 10, "levels": 2},
             "metrics": {"checksum": 2**64 - 1, "tasks": 111, "live_blocks_end": 0}},
            {"workload": "generator", "strategy": "rc", "allocator": "bump",
             "params": {"items": 5, "borrow": False, "tasks": 3},
             "metrics": {"checksum": 7, "tasks": 3, "live_blocks_end": 0}},
        ],
    }
    results.write_results(tmp_path, run)
    doc = results.read_results(tmp_path)
    assert doc["benchmarks"] == run["benchmarks"]
    assert (doc["complete"], doc["benchmarks_planned"]) == (False, 3)
    header, rows = read_csv(tmp_path / "metrics.csv")
    assert header[:8] == [
        "workload", "strategy", "allocator", "fanout", "levels", "items", "borrow", "param_tasks",
    ]
    assert header[8:] == list(results.METRIC_COLUMNS) == list(metrics.CSV_COLUMNS)
    assert rows[0]["checksum"] == str(2**64 - 1)  # u64 stays exact
    assert (rows[0]["items"], rows[1]["fanout"], rows[1]["borrow"]) == ("", "", "False")
    assert rows[1]["param_tasks"] == "3"


def test_a_run_document_writes_back_the_results_json_it_read(tmp_path):
    """Commands read results.json as a RunDocument and write it through
    RunDocument.write (merge, compare-branches): a file in pinbench's layout
    with every optional section, and a key this pinbench does not know,
    comes back byte for byte; a field the file lacks reads as None."""
    entry = {"workload": "chain", "strategy": "rc", "allocator": "pool", "params": {"depth": 2},
             "metrics": {"allocs": 3, "frame_bytes": {"main": 48}}, "workload_file": "w.toml",
             "seconds": 0.5, "case": 4, "machine": {"hostname": "h"}}
    layout = {
        "format": results.FORMAT, "schema_version": results.SCHEMA_VERSION, "pinbench_version": "0.0.9",
        "complete": True, "command": ["pinbench", "run"], "mode": "quick", "timing": False,
        "instructions": {"tool": "valgrind"}, "started": "2024-01-01T00:00:00", "finished": None,
        "benchmarks_planned": 2, "environment": {"hostname": "h", "git_dirty": False}, "benchmarks": [entry],
        "skipped": [{"benchmark": "chain/fiber/system", "reason": "too big"}],
        "engine": {"engine": "interpreted"}, "suite": {"name": "default"},
        "shard": {"index": 1, "count": 2}, "merged": {"shards": 2}, "branch_run": {"arm": "a"},
        "written_by_a_newer_pinbench": [1, 2],
    }
    text = json.dumps(layout, indent=2) + "\n"
    (tmp_path / "results.json").write_text(text)
    doc = results.RunDocument.read(tmp_path)
    assert (doc.mode, doc.shard, doc.branch_run, doc.benchmarks) == ("quick", {"index": 1, "count": 2},
                                                                    {"arm": "a"}, [entry])
    assert doc.machine_of(entry) == {"hostname": "h"}
    (tmp_path / "out").mkdir()
    doc.write(tmp_path / "out")
    assert (tmp_path / "out" / "results.json").read_text() == text
    minimal = {"format": results.FORMAT, "schema_version": results.SCHEMA_VERSION, "benchmarks": []}
    (tmp_path / "results.json").write_text(json.dumps(minimal))
    doc = results.RunDocument.read(tmp_path)
    assert (doc.mode, doc.started, doc.benchmarks_planned, doc.complete, doc.pinbench_version) == (None,) * 5
    assert (doc.environment, doc.engine, doc.skipped, doc.command) == ({}, {}, [], [])


def test_storable_metrics_drop_sample_arrays():
    import numpy as np

    kept = results.storable_metrics(
        {"allocs": 3, "n": np.int64(4), "samples": np.zeros(5), "frame_bytes": {"main": 48}}
    )
    assert kept == {"allocs": 3, "n": 4, "frame_bytes": {"main": 48}}
    assert type(kept["n"]) is int


# The default suite's parameters beside each workload's defaults, written
# out (not read from the registry): what costs too much for a first run.
FIRST_RUN = {"skynet": {"levels": 4}}


def _params(workload: str, given: dict) -> dict:
    return WORKLOADS[workload].parse_params({k: str(v) for k, v in given.items()})


def test_default_suite_is_every_workload_and_strategy_under_the_system_allocator():
    benches = suite.build_suite()
    assert len(benches) == len(WORKLOADS) * len(STRATEGIES)
    assert [(b.workload, b.strategy, b.allocator) for b in benches] == [
        (w, s, "system") for w in WORKLOADS for s in STRATEGIES
    ]
    assert [b.params for b in benches] == [_params(b.workload, FIRST_RUN.get(b.workload, {})) for b in benches]
    assert suite.build_suite(suite="default") == benches
    assert suite.FIRST_RUN_PARAMS == FIRST_RUN and suite.SUITES["default"].mode == "default"
    # -a replaces the suite's allocators
    every = suite.build_suite(workloads=["chain"], allocators=["all"])
    assert [(b.strategy, b.allocator) for b in every] == [(s, a) for s in STRATEGIES for a in ALLOCATORS]


def test_quick_suite_is_the_default_matrix_at_small_parameters():
    benches = suite.build_suite(suite="quick")
    assert [(b.workload, b.strategy, b.allocator) for b in benches] == [
        (w, s, "system") for w in WORKLOADS for s in STRATEGIES
    ]
    assert [b.params for b in benches] == [_params(b.workload, WORKLOADS[b.workload].quick) for b in benches]
    assert suite.SUITES["quick"].mode == "quick"


def test_full_suite_is_every_workload_strategy_allocator():
    benches = suite.build_suite(suite="full")
    assert len(benches) == len(WORKLOADS) * len(STRATEGIES) * len(ALLOCATORS)
    assert [(b.workload, b.strategy, b.allocator) for b in benches] == [
        (w, s, a) for w in WORKLOADS for s in STRATEGIES for a in ALLOCATORS
    ]
    assert all(b.params == WORKLOADS[b.workload].parse_params({}) for b in benches)
    assert suite.SUITES["full"].mode == "default"
    with pytest.raises(UsageError, match="unknown suite 'nope'; choose one of: default, quick, full"):
        suite.build_suite(suite="nope")


def test_selection_text_names_the_suite_where_its_mode_does_not():
    """The history keys its series by the mode and this line: the full and
    quick suites in their own modes keep the lines they had before suites
    had names (their series go on); the rest name their suite."""
    assert suite.selection_text(suite="full") == "-w all -s all -a all"
    assert suite.selection_text(suite="full", mode="rigorous") == "-w all -s all -a all"
    assert suite.selection_text(["chain"], suite="quick") == "-w chain -s all -a all"
    assert suite.selection_text(suite="quick", mode="rigorous") == "--suite quick -w all -s all -a all"
    assert suite.selection_text(params=["depth=1,2"]) == "--suite default -w all -s all -a all -p depth=1,2"


def test_quick_params_are_valid_and_used():
    assert set(suite.QUICK_PARAMS) <= set(WORKLOADS)
    assert suite.QUICK_PARAMS == {name: w.quick for name, w in WORKLOADS.items() if w.quick}
    for name, small in suite.QUICK_PARAMS.items():
        workload = WORKLOADS[name]
        parsed = workload.parse_params({k: str(v) for k, v in small.items()})
        assert {k: parsed[k] for k in small} == small
    benches = suite.build_suite(suite="quick", strategies=["pinbox"], allocators=["pool"])
    assert {b.workload: {k: b.params[k] for k in suite.QUICK_PARAMS[b.workload]} for b in benches} == {
        name: small for name, small in suite.QUICK_PARAMS.items() if name in WORKLOADS
    }
    assert suite.QUICK_PARAMS["select_loop"] == {"iterations": 100, "tasks": 10}
    assert suite.QUICK_PARAMS["skynet"] == {"levels": 4}


def test_filters_and_sweeps():
    benches = suite.build_suite(
        workloads=["chain,spawn_many", "chain"], strategies=["rc", "pinbox,rc"],
        allocators=["all"], params=["depth=1,3,01", "borrow=none,all"],
    )
    labels = [(b.workload, b.params.get("depth"), b.params.get("borrow"), b.strategy, b.allocator) for b in benches]
    chain = [(1, "none"), (1, "all"), (3, "none"), (3, "all")]
    assert labels == [
        ("chain", d, br, s, a) for d, br in chain for s in ("rc", "pinbox") for a in ALLOCATORS
    ] + [("spawn_many", None, None, s, a) for s in ("rc", "pinbox") for a in ALLOCATORS]
    with pytest.raises(UsageError, match="no selected workload has a parameter 'k'"):
        suite.build_suite(workloads=["chain"], params=["k=2"])
    with pytest.raises(UsageError, match="valid parameters|not allowed"):
        suite.build_suite(workloads=["chain"], params=["depth=x"])


def test_environment_never_fails_and_finds_the_commit(tmp_path):
    env = environment.collect()
    assert set(env) >= {
        "cpu", "logical_cores", "kernel", "os", "python", "python_implementation", "cython",
        "numpy", "compiler", "pinbench", "git_commit", "git_dirty", "hostname",
    }
    assert env["numpy"] == __import__("numpy").__version__
    here = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=os.path.dirname(environment.__file__),
        capture_output=True, text=True,
    )
    if here.returncode == 0:
        assert env["git_commit"] == here.stdout.strip()
        assert env["git_dirty"] in (True, False)
    assert environment.git_state(tmp_path) == (None, None)
    json.dumps(env)  # serializable as is
