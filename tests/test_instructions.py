"""Instruction counts: deterministic, order-independent, and what they claim.

The counts come from valgrind's callgrind (bench/instructions.py). valgrind
is required where the suite runs in CI (.ci/run installs it); elsewhere a
machine without it says so in the skip reason pytest prints (-rs).
"""

import csv
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from pinbench.bench import compare, instructions, runner, timing
from pinbench.bench.results import RunDocument
from pinbench.model.errors import UsageError
from pinbench.bench.suite import build_suite

from .helpers import assert_one_line_error, in_ci, needs_valgrind, pinbench

pytestmark = pytest.mark.native  # counts under valgrind



def test_estimated_cycles_is_iai_callgrinds_formula():
    # 1000 instruction fetches, 300 reads, 200 writes; 10 + 20 + 30 L1 misses,
    # of which 2 + 3 + 4 also missed the last level.
    events = {"Ir": 1000, "Dr": 300, "Dw": 200, "I1mr": 10, "D1mr": 20, "D1mw": 30,
              "ILmr": 2, "DLmr": 3, "DLmw": 4}
    l1_hits = 1500 - 60
    ll_hits = 60 - 9
    assert instructions.estimated_cycles(events) == l1_hits + 5 * ll_hits + 35 * 9


def test_callgrind_totals_with_trailing_zeros_omitted(tmp_path):
    out = tmp_path / "callgrind.1.1"
    out.write_text("version: 1\nevents: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw\n"
                   "fl= x\n0 5\ntotals: 100 20 10 3\n")
    assert instructions.read_callgrind_totals(out) == {
        "Ir": 100, "Dr": 20, "Dw": 10, "I1mr": 3, "D1mr": 0, "D1mw": 0,
        "ILmr": 0, "DLmr": 0, "DLmw": 0,
    }


def test_a_callgrind_file_without_totals_is_one_clear_error(tmp_path):
    out = tmp_path / "callgrind.1.1"
    out.write_text("version: 1\n")
    with pytest.raises(UsageError, match="no events/totals"):
        instructions.read_callgrind_totals(out)


def test_without_valgrind_the_reason_names_the_fix(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    reason = instructions.unavailable_reason()
    assert "valgrind" in reason and "apt-get install valgrind" in reason
    with pytest.raises(UsageError):
        instructions.check_available()


def _specs(workloads, strategies):
    specs = []
    for bench in build_suite(workloads=workloads, strategies=strategies, suite="quick"):
        spec = timing.Spec(bench.label, bench.workload, dict(bench.params), bench.strategy,
                           bench.allocator, 0, runner.default_memory_limit())
        _, program, _, _ = timing.prepare(spec)
        tasks = runner.execute(program, bench.strategy, bench.allocator)["tasks"]
        specs.append(timing.Spec(**{**spec.__dict__, "tasks": tasks}))
    return specs


@needs_valgrind
def test_counts_of_the_same_suite_are_identical_across_processes(tmp_path, record_property):
    suite = _specs(["chain", "spawn_many"], ["all"])
    first = instructions.Counter(tmp_path / "a").count(suite)
    second = instructions.Counter(tmp_path / "b").count(suite)
    assert first == second
    # A benchmark counted alone is not held to its count after the others:
    # a child forked later finds the heap and the mappings placed a little
    # differently, by up to 1% (docs/comparing.md). Recorded, not asserted;
    # the gate compares suites counted in the same order, exact (above).
    (alone, alone_checksum), = instructions.Counter(tmp_path / "c").count(suite[-1:])
    (last, last_checksum) = first[-1]
    assert alone_checksum == last_checksum
    record_property("alone_vs_in_suite", {name: alone[name] / value - 1 for name, value in last.items()})
    # Every count is of the loop that really ran: the same checksum as a plain run.
    for spec, (metrics, checksum) in zip(suite, first):
        _, program, _, _ = timing.prepare(spec)
        assert checksum == runner.execute(program, spec.strategy, spec.allocator)["checksum"]
        assert metrics["instructions_per_task"] > 0
        assert metrics["estimated_cycles_per_task"] >= metrics["instructions_per_task"]


@needs_valgrind
def test_the_count_is_of_the_loop_only_so_it_scales_with_the_work(tmp_path):
    """Twice the tasks, twice the instructions, within the loop's fixed setup:
    interpreter start-up and imports (tens of millions of instructions) are
    not in the count."""
    small, large = (
        timing.Spec(f"chain{n}", "chain", {"depth": 4, "tasks": n, "locals": 64},
                    "pinbox", "system", n * 1, runner.default_memory_limit())
        for n in (200, 400)
    )
    (a, _), (b, _) = instructions.Counter(tmp_path).count([small, large])
    total_small = a["instructions_per_task"] * 200
    total_large = b["instructions_per_task"] * 400
    assert 1.9 < total_large / total_small < 2.1
    assert total_small < 5_000_000


# -- the gate ---------------------------------------------------------------------


def _run(instructions_per_task, counted=True):
    metrics = {"allocs": 100, "checksum": 7, "live_blocks_end": 0}
    if instructions_per_task is not None:
        metrics.update(instructions_per_task=instructions_per_task,
                       estimated_cycles_per_task=2 * instructions_per_task)
    doc = {"benchmarks": [{"workload": "chain", "strategy": "pinbox", "allocator": "system",
                           "params": {"depth": 8}, "metrics": metrics}],
           "complete": True, "benchmarks_planned": 1, "mode": "quick", "environment": {},
           "instructions": {"tool": "valgrind"} if counted else None}
    return {"path": "x", "doc": RunDocument.from_dict(doc), "values": None}


@pytest.mark.parametrize("head, kind", [
    (10_000, None),              # identical: no change at all
    (10_050, "change"),          # +0.5%: listed, within the 1% threshold
    (10_200, "regression"),      # +2%
    (9_800, "improvement"),      # -2%
])
def test_instructions_fail_beyond_the_threshold_only(head, kind):
    comparison = compare.compare_runs(_run(10_000), _run(head))
    (bench,) = comparison["benchmarks"]
    kinds = {c["metric"]: c["kind"] for c in bench["changes"]}
    assert kinds.get("instructions_per_task") == kind
    assert comparison["verdict"]["failed"] == (kind == "regression")
    if kind == "regression":
        assert "instructions_per_task 10,000 -> 10,200 (+2.0%)" in comparison["verdict"]["line"]


def test_the_instructions_threshold_is_an_option():
    assert not compare.compare_runs(_run(10_000), _run(10_200), instructions_threshold=0.05)["verdict"]["failed"]
    assert compare.compare_runs(_run(10_000), _run(10_020), instructions_threshold=0.001)["verdict"]["failed"]


def test_counts_on_one_side_only_are_not_compared_and_that_is_said():
    comparison = compare.compare_runs(_run(None, counted=False), _run(10_200))
    (bench,) = comparison["benchmarks"]
    assert not bench["changes"] and not comparison["verdict"]["failed"]
    assert any("only the head run counted instructions" in w for w in comparison["warnings"])


# -- the command line ------------------------------------------------------------


def test_instructions_without_valgrind_is_one_line_before_anything_runs(tmp_path):
    done = pinbench("run", "--quick", "--instructions", "-w", "chain", "-o", tmp_path / "out", cwd=tmp_path,
                    env={"PATH": str(Path(sys.executable).parent)})
    assert_one_line_error(done, "--instructions needs valgrind", "apt-get install valgrind")
    assert not (tmp_path / "out").exists()


@needs_valgrind
def test_a_run_with_instructions_stores_shows_and_draws_them(tmp_path):
    out = tmp_path / "out"
    done = pinbench("run", "--quick", "--counts-only", "--instructions", "-w", "spawn_many",
                    "-s", "pinbox,always_heap", "-o", out, cwd=tmp_path, columns=120)
    assert done.returncode == 0, done.stderr
    assert "instructions: spawn_many" in done.stderr  # progress of the counting pass
    assert "instructions per task / estimated cycles per task" in " ".join(done.stdout.split())
    doc = json.loads((out / "results.json").read_text())
    assert doc["complete"] and doc["instructions"]["options"][0] == "--tool=callgrind"
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert all(float(r["instructions_per_task"]) > 0 for r in rows)
    assert all(float(r["estimated_cycles_per_task"]) >= float(r["instructions_per_task"]) for r in rows)
    shown = pinbench("show", out, cwd=tmp_path, columns=120)
    assert shown.returncode == 0 and "instructions per task" in " ".join(shown.stdout.split())
    assert pinbench("report", out, cwd=tmp_path).returncode == 0
    assert (out / "figures" / "instructions-per-task.png").is_file()
    assert "Instructions per task" in (out / "report.html").read_text()


@needs_valgrind
def test_valgrind_from_the_users_path_and_a_relative_engine_cache(tmp_path, monkeypatch, capsys):
    """The counting process runs with a fixed PATH and in a scratch folder:
    valgrind is the one the user's PATH finds (here a wrapper that leaves a
    mark), and a relative PINBENCH_CACHE still leads it to the run's engines."""
    from pinbench.bench import engine
    from pinbench.bench.cli import main

    if engine.find_compiler() is None and not in_ci():
        pytest.skip("the compiled engine needs a C compiler")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "valgrind"
    wrapper.write_text(f"#!/bin/sh\ncase \"$*\" in *--tool=callgrind*) touch {tmp_path / 'ran'};; esac\n"
                       f"exec {shutil.which('valgrind')} \"$@\"\n")  # marks the counting run, not --version
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PINBENCH_CACHE", "relative-cache")
    assert main(["run", "--counts-only", "--instructions", "-w", "chain", "-p", "depth=1", "-p", "tasks=2",
                 "-s", "pinbox", "-a", "system", "--engine", "compiled", "-o", "out"]) == 0, capsys.readouterr().err
    assert (tmp_path / "ran").exists()
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert doc["complete"] and doc["benchmarks"][0]["metrics"]["instructions_per_task"] > 0
