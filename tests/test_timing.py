"""Timing and latency: pyperf's tools read what pinbench writes, open-loop
latency counts from the scheduled arrival, and the overhead is measured.

No test here asserts how fast anything is: the machines are shared and
noisy. Timing checks compare quantities measured in the same run.
"""

import subprocess
import sys

import numpy as np
import pytest

from pinbench import strategies
from pinbench.bench import timing
from pinbench.bench.timing import Spec, measure_latency
from pinbench.bench.workloads import get_workload
from pinbench.cython_core import _executor

from .helpers import pinbench


def test_pyperf_compare_to_reads_two_pinbench_runs(tmp_path):
    for name in ("a", "b"):
        done = pinbench(
            "run", "--quick", "-w", "yield_many", "-s", "pinbox,always_heap", "--name", name, cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr
    files = [str(tmp_path / "results" / name / "pyperf.json") for name in ("a", "b")]
    compare = subprocess.run(
        [sys.executable, "-m", "pyperf", "compare_to", *files, "--table"],
        capture_output=True, text=True,
    )
    assert compare.returncode == 0, compare.stderr
    assert "yield_many" in compare.stdout and "pinbox" in compare.stdout


def server(rate, requests):
    workload = get_workload("server")
    params = workload.parse_params({"rate": str(rate), "requests": str(requests)})
    program = workload.compile(params)
    return program, strategies.get("pinbox").plan(program), workload.arrivals(params)


def test_a_stalled_executor_shows_in_latency_from_scheduled_arrival():
    """The classic coordinated-omission trap: requests that arrive while the
    executor is stalled only start after it. Measured from when they started,
    they look fast; measured from when they were due, the stall shows."""
    program, layout, arrivals = server(rate=20_000, requests=2000)  # one every 50 us
    stall = 20_000_000  # 20 ms, once, after 500 requests
    result = _executor.run(
        program, layout, "system", latency_stride=1, latency_capacity=2000,
        arrivals_ns=arrivals, stall_after_tasks=500, stall_ns=stall,
    )
    latency = np.asarray(result["latency_ns"], dtype=np.int64)
    started_late = np.asarray(result["late_ns"], dtype=np.int64)
    naive = latency - started_late  # what a closed-loop harness would report
    assert len(latency) == 2000 and result["live_blocks_end"] == 0
    # Requests due during the stall waited for it: the worst one about 20 ms.
    assert latency.max() >= stall // 2
    # Every request due during the stall (~20 ms at 20k/s: ~400) is delayed...
    delayed = (latency >= stall // 4).sum()
    assert delayed >= 100
    # ...but timed from when it started, only the few already in flight when
    # the stall hit show it: the naive view hides most of the damage.
    assert (naive >= stall // 4).sum() < delayed / 4


def test_a_compiled_engine_samples_latency_and_stalls_where_it_finishes_tasks():
    """A compiled engine finishes its tasks itself (tasks.h): the latency
    sample and the tests' stall are on its out-of-line path, which this
    fails without. (How many requests were in flight at the stall depends
    on the machine's load, so only what the stall must do is asserted.)"""
    from pinbench.bench import engine

    program, layout, arrivals = server(rate=20_000, requests=2000)
    stall = 20_000_000
    result = _executor.run(
        program, layout, "system", latency_stride=1, latency_capacity=2000,
        arrivals_ns=arrivals, stall_after_tasks=500, stall_ns=stall, engine=engine.compiled(program, layout),
    )
    latency = np.asarray(result["latency_ns"], dtype=np.int64)
    assert len(latency) == 2000 and len(result["late_ns"]) == 2000 and result["live_blocks_end"] == 0
    assert latency.max() >= stall // 2 and (latency >= stall // 4).sum() >= 100


def test_open_loop_run_follows_the_schedule_and_counts_like_closed():
    program, layout, arrivals = server(rate=50_000, requests=500)
    closed = _executor.run(program, layout, "pool")
    opened = _executor.run(program, layout, "pool", arrivals_ns=arrivals)
    for key in ("allocs", "frees", "bytes_allocated", "polls", "moved_bytes", "checksum", "tasks"):
        assert opened[key] == closed[key], key
    # The run cannot end before the last request is due.
    assert opened["elapsed_ns"] >= int(arrivals[-1])
    assert opened["live_blocks_end"] == 0


def test_latency_sampling_takes_every_kth_task():
    workload = get_workload("spawn_many")
    program = workload.compile({"tasks": 999})
    layout = strategies.get("rc").plan(program)
    result = _executor.run(program, layout, "bump", latency_stride=10, latency_capacity=1000)
    assert len(result["latency_ns"]) == 100  # tasks 0, 10, ..., 990 of the 1000
    small = _executor.run(program, layout, "bump", latency_stride=1, latency_capacity=7)
    assert len(small["latency_ns"]) == 7 and small["latency_dropped"] == 1000 - 7


def test_measure_latency_reports_percentiles_and_overhead():
    spec = Spec("chain", "chain", {"depth": 4, "tasks": 200}, "anchor_box", "pool", 200, 1 << 33)
    out = measure_latency(spec, "quick")
    assert out["latency_from"] == "spawn" and out["latency_stride"] == 16
    assert out["latency_samples"] == 13  # ceil(200 / 16)
    assert 0 < out["p50_ns"] <= out["p90_ns"] <= out["p99_ns"] <= out["p999_ns"] <= out["max_ns"]
    assert out["latency_overhead_pairs"] >= 3
    served = measure_latency(
        Spec("server", "server", {"rate": 100_000, "requests": 300, "seed": 1}, "pinbox", "system", 300, 1 << 33),
        "quick",
    )
    assert served["latency_from"] == "scheduled arrival" and served["latency_samples"] == 300
    assert "late_start_p99_ns" in served


def test_latency_runs_past_their_budget_stop_at_one_of_each(monkeypatch):
    """A benchmark whose runs take longer than LATENCY_SECONDS (here: any)
    records one run and one pair, where the default mode takes three
    runs and at least three pairs."""
    monkeypatch.setitem(timing.LATENCY_SECONDS, "default", 0.0)
    spec = Spec("chain", "chain", {"depth": 4, "tasks": 200}, "anchor_box", "pool", 200, 1 << 33)
    out = measure_latency(spec, "default")
    assert out["latency_samples"] == 13 and out["latency_overhead_pairs"] == 1  # ceil(200 / 16): one run


@pytest.mark.parametrize("bad", [[3, 1, 2], [1, 2]])
def test_arrivals_are_checked(bad):
    program, layout, _ = server(rate=1000, requests=3)
    with pytest.raises(ValueError):
        _executor.run(program, layout, "system", arrivals_ns=np.array(bad, dtype=np.uint64))
