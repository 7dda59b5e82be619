"""Timing: pyperf measures every benchmark; the executor measures latency.

Time per task comes from pyperf's own machinery: worker processes,
warm-ups, calibrated loops and its statistics, so the values, their spread
and the JSON file are pyperf's. The master (``Timer``, inside ``pinbench
run``) registers each benchmark with one ``pyperf.Runner``; pyperf re-runs
``python -m pinbench.bench.worker --specs FILE`` for its workers, which
time the run from the tables the master wrote (bench/worker.py: they
import neither numpy nor the model). ``inner_loops`` is the run's task
count, so pyperf's values are seconds per task.

Whether a time can be trusted is :func:`statistics.trust`'s call: the 95%
bootstrap interval of the median within ±5% of it. Where it is wider,
``Timer.time`` asks pyperf for more values, one worker process at a time,
within a time cap (``MORE_SECONDS``, ``MORE_SHARE``). pyperf's workers are
pinned to a CPU where the machine allows it (``environment.worker_cpus``).

Latency is not pyperf's business: the executor samples it inside the hot
loop (every ``LATENCY_STRIDE``-th task, two clock reads each), in separate
runs in the master, interleaved with runs that record nothing so the
instrumentation's own cost is measured in the same process.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import statistics
import time
from dataclasses import asdict, replace
from functools import lru_cache

import numpy as np

from .. import strategies
from ..cython_core import _executor
from . import engine as engines
from .environment import worker_cpus
from .metrics import PERCENTILES
from .statistics import OUTLIER_CLASSES, trust
from .worker import Spec, fix_malloc, runner, time_runs, write_tables
from .workloads import get_workload

# pyperf settings per run mode: processes, values per process, warm-ups,
# minimum time per value (s). Quick is for CI; rigorous for numbers you publish.
MODES = {
    "quick": {"processes": 1, "values": 3, "warmups": 1, "min_time": 0.01},
    "default": {"processes": 3, "values": 5, "warmups": 1, "min_time": 0.05},
    "rigorous": {"processes": 12, "values": 10, "warmups": 2, "min_time": 0.1},
}

# Modes whose loops per value pyperf calibrates in a process of its own;
# the others take them from the counting run (see Timer.time).
CALIBRATED = ("rigorous",)

# Sample one task in this many (closed-loop workloads): two clock reads per
# sampled task keep the overhead near 1% even for tasks of ~100 ns.
LATENCY_STRIDE = 16
LATENCY_REPEATS = {"quick": 1, "default": 3, "rigorous": 5}
# The overhead is the ratio of medians of interleaved runs with recording
# on and off; pairs repeat until each side has run this long (s), at most
# MAX_OVERHEAD_PAIRS times, so tiny runs are not judged on clock noise.
OVERHEAD_BUDGET = {"quick": 0.02, "default": 0.1, "rigorous": 0.3}
MAX_OVERHEAD_PAIRS = 200
# What the latency runs of one benchmark may take (s): past it, no more
# repeats and no more pairs beyond the first of each (a run of seconds
# needs neither for its percentiles or its overhead).
LATENCY_SECONDS = {"quick": 0.5, "default": 3.0, "rigorous": 20.0}

# More values where a benchmark is not trusted yet (statistics.trust): after
# pyperf's processes, one more worker process at a time, with the same loops,
# warm-ups and values per process, until the interval is narrow enough, or
# the next worker (expected to take as long as the last) would take the
# benchmark's extra time past MORE_SECONDS, or the run's extra time past
# MORE_SHARE of the time its first rounds took. On an idle machine few
# benchmarks need any; on a busy one a run takes at most 1 + MORE_SHARE
# times as long.
MORE_SECONDS = {"quick": 1.0, "default": 4.0, "rigorous": 20.0}
MORE_SHARE = 0.5

# What pyperf's first rounds of one benchmark may take (s), estimated from
# the counting run: past it, fewer processes, then fewer values per process
# (at least MIN_VALUES), so one slow benchmark cannot take a suite's time;
# its interval then says whether it is trusted. Rigorous takes what it takes.
# (select_loop under fiber took 148 s of a default run when its workers
# mapped each of its stacks, 2 s a run.)
FIRST_SECONDS = {"quick": 2.0, "default": 8.0}
MIN_VALUES = 3


@lru_cache(maxsize=4)
def _prepare(workload: str, params_json: str, strategy: str, engine: str, library: str):
    wl = get_workload(workload)
    program = wl.compile(json.loads(params_json))
    layout = strategies.get(strategy).plan(program)
    # The master built the engine before timing: the library the spec names
    # is loaded as it is (no compiler probed, nothing built), else the cache's.
    compiled = None
    if engine == engines.COMPILED:
        compiled = engines.load_built(library, program, layout) if library else engines.compiled(program, layout)
    return wl, program, layout, compiled


def prepare(spec: Spec):
    return _prepare(spec.workload, json.dumps(spec.params, sort_keys=True), spec.strategy, spec.engine,
                    spec.engine_library)


def with_tables(spec: Spec, path, name: str | None = None) -> Spec:
    """``spec`` with the executor's tables written to ``path`` for a worker
    process (bench/worker.py: pyperf's, the instruction counter's) and its
    engine named by absolute path, so the worker builds and plans nothing.
    ``name``: how the spec names the tables file, for a worker that runs
    elsewhere (default ``path``)."""
    _, program, layout, compiled = prepare(spec)
    write_tables(path, program, layout)
    return replace(spec, tables=str(name or path),
                   engine_library=os.path.abspath(compiled.path) if compiled else "")


def within_first_seconds(processes: int, values: int, warmups: int, seconds_per_value: float,
                         budget: float) -> tuple:
    """(processes, values per process) for pyperf's first rounds of one
    benchmark: as asked, or, where they would take longer than ``budget``
    seconds, fewer processes first, then fewer values (not below
    MIN_VALUES, nor below one process)."""
    def seconds(p, v):
        return p * (v + warmups) * seconds_per_value

    while processes > 1 and seconds(processes, values) > budget:
        processes -= 1
    while values > MIN_VALUES and seconds(processes, values) > budget:
        values -= 1
    return processes, values


def sample_until_trusted(values: list, more, cap: float, estimate: float, clock=time.monotonic) -> tuple:
    """Add ``more()``'s values to ``values`` until :func:`statistics.trust`
    trusts them, or the next call, expected to take as long as the last
    (``estimate`` before the first), would end past ``cap`` seconds from
    now. Return (values, seconds spent)."""
    values = list(values)
    start = clock()
    while not trust(values)["trusted"] and clock() - start + estimate <= cap:
        before = clock()
        values += more()
        estimate = clock() - before
    return values, clock() - start


class Timer:
    """The master side: one pyperf Runner for a whole ``pinbench run``."""

    def __init__(self, specs_path, mode: str):
        self.mode = mode
        self.specs: list[str] = []  # every spec so far, as JSON
        self.specs_path = str(specs_path)
        self.runner = runner(self.specs_path, MODES[mode])
        # Workers must find the engines the master built, built the same way.
        inherit = ",".join(engines.ENVIRONMENT)
        cpus = worker_cpus()
        self.runner.parse_args(["--quiet", "--inherit-environ", inherit, "--specs", self.specs_path]
                               + (["--affinity", cpus] if cpus else []))
        # The counting runs in this process give the workers their loops
        # (time), so they run under the workers' malloc rules (worker.py).
        fix_malloc()
        self.first_seconds = 0.0  # pyperf's first rounds, every benchmark so far
        self.more_seconds = 0.0  # the extra workers', every benchmark so far

    def time(self, spec: Spec, seconds_per_run: float | None = None):
        """Run pyperf's workers for ``spec``; return the pyperf.Benchmark.

        Benchmarks are timed in the order given; the spec file the workers
        read grows by one each time, so a worker finds its benchmark at the
        index pyperf gives it.

        ``seconds_per_run`` (the counting run's time): outside
        :data:`CALIBRATED` modes the loops per value come from it -- the
        power of two that makes a value last ``min_time``, as pyperf's
        calibration picks -- so pyperf starts no calibration process (the
        quick and default suites spend most of their time starting
        processes). Rigorous calibrates. Where the first rounds would take
        longer than ``FIRST_SECONDS``, they take fewer processes and values
        (:func:`within_first_seconds`).

        Where the values are not trusted yet, more workers add to them
        (:func:`sample_until_trusted`, within ``MORE_SECONDS`` and
        ``MORE_SHARE``); their runs join the returned benchmark.
        """
        args = self.runner.args
        saved = args.loops, args.processes, args.values
        if self.mode not in CALIBRATED and seconds_per_run:
            wanted = MODES[self.mode]["min_time"] / seconds_per_run
            args.loops = 1 << max(0, math.ceil(math.log2(max(wanted, 1.0))))
            args.processes, args.values = within_first_seconds(
                args.processes, args.values, args.warmups, args.loops * seconds_per_run, FIRST_SECONDS[self.mode])
        try:
            return self._time(spec)
        finally:
            args.loops, args.processes, args.values = saved

    def _time(self, spec: Spec):
        """pyperf's first rounds, as the runner's arguments say, then more
        workers while the values are not trusted (time)."""
        args = self.runner.args
        processes = args.processes
        spec = self._for_workers(spec)  # once: the extra workers read the same tables
        started = time.monotonic()
        benchmark = self._bench(spec)
        first = time.monotonic() - started
        self.first_seconds += first
        cap = min(MORE_SECONDS[self.mode], MORE_SHARE * self.first_seconds - self.more_seconds)
        rounds = 0

        def more():
            nonlocal rounds
            rounds += 1
            # The loops the first rounds ran, so the new values are like theirs.
            args.loops, args.processes = benchmark.get_runs()[-1].get_loops(), 1
            extra = self._bench(replace(spec, label=f"{spec.label} (more {rounds})"))
            for run in extra.get_runs():  # the same benchmark: its name, not the helper spec's
                benchmark.add_run(pyperf_run(run, {"name": spec.label}))
            return list(extra.get_values())

        _, spent = sample_until_trusted(benchmark.get_values(), more, cap, first / processes)
        self.more_seconds += spent
        return benchmark

    def _for_workers(self, spec: Spec) -> Spec:
        return with_tables(spec, f"{self.specs_path}.{len(self.specs)}.tables")

    def _bench(self, spec: Spec):
        # Each spec encoded once: the file holds every benchmark so far (a
        # worker finds its own at pyperf's index), rewritten for each worker.
        self.specs.append(json.dumps(asdict(spec)))
        with open(self.specs_path, "w") as f:
            f.write("[" + ", ".join(self.specs) + "]")
        # pyperf prints each result (even with --quiet); pinbench reports its own.
        with contextlib.redirect_stdout(io.StringIO()):
            return self.runner.bench_time_func(spec.label, time_runs, spec, inner_loops=spec.tasks)


def pyperf_run(run, metadata: dict):
    """A copy of a pyperf.Run with some of its metadata replaced."""
    import pyperf

    return pyperf.Run(run.values, warmups=run.warmups, metadata={**run.get_metadata(), **metadata},
                      collect_metadata=False)


def timing_metrics(benchmark) -> dict:
    """The summary pinbench keeps of a pyperf benchmark (values in s per task):
    pyperf's mean and spread, and whether the time can be trusted
    (:func:`statistics.trust`: the bootstrap interval of the median and the
    outliers)."""
    values = benchmark.get_values()
    mean = statistics.fmean(values)
    stdev = statistics.stdev(values) if len(values) > 1 else 0.0
    judged = trust(values)
    return {
        "ns_per_task_mean": mean * 1e9,
        "ns_per_task_stdev": stdev * 1e9,
        "ns_per_task_median": judged["median"] * 1e9,
        "timing_values": len(values),
        "tasks_per_second": 1.0 / mean if mean else 0.0,
        "timing_cv": stdev / mean if mean else 0.0,
        "noisy": not judged["trusted"],
        "ns_per_task_ci_low": judged["low"] * 1e9,
        "ns_per_task_ci_high": judged["high"] * 1e9,
        "timing_within": judged["within"],
        **{f"outliers_{name}": judged["outliers"][name] for name in OUTLIER_CLASSES},
    }


def measure_latency(spec: Spec, mode: str) -> dict:
    """Latency percentiles, and what recording them costs.

    Closed-loop workloads sample every ``LATENCY_STRIDE``-th task, from spawn
    to completion. Open-loop workloads (``server``) record every request
    from its *scheduled* arrival, so a stalled executor shows its queueing
    delay; their timed runs follow the arrival schedule.
    """
    workload, program, layout, compiled = prepare(spec)
    arrivals = workload.arrivals(program.params) if workload.open_loop else None
    stride = 1 if arrivals is not None else LATENCY_STRIDE
    capacity = spec.tasks // stride + 1

    def one(record: bool) -> dict:
        return _executor.run(
            program, layout, spec.allocator, spec.memory_limit,
            latency_stride=stride if record else 0, latency_capacity=capacity,
            arrivals_ns=arrivals, engine=compiled,
        )

    started = time.monotonic()

    def over_budget() -> bool:
        return time.monotonic() - started > LATENCY_SECONDS[mode]

    samples, late = [], []
    for repeat in range(LATENCY_REPEATS[mode]):
        if repeat and over_budget():
            break
        result = one(True)
        samples.append(result["latency_ns"])
        late.append(result["late_ns"])
    lat = np.concatenate(samples)
    out = {name: float(np.percentile(lat, q)) for name, q in PERCENTILES.items()} if len(lat) else {}
    out["max_ns"] = float(lat.max()) if len(lat) else 0.0
    out["latency_samples"] = int(len(lat))
    out["latency_stride"] = stride
    out["latency_from"] = "scheduled arrival" if arrivals is not None else "spawn"
    if arrivals is not None:
        out["late_start_p99_ns"] = float(np.percentile(np.concatenate(late), 99))
    else:
        # Recording on vs off, interleaved in this process: the ratio of the medians.
        on, off = [], []
        while (sum(off) < OVERHEAD_BUDGET[mode] * 1e9 and len(off) < MAX_OVERHEAD_PAIRS
               or len(off) < 3) and not (off and over_budget()):
            off.append(one(False)["elapsed_ns"])
            on.append(one(True)["elapsed_ns"])
        out["latency_overhead"] = statistics.median(on) / statistics.median(off) - 1.0
        out["latency_overhead_pairs"] = len(off)
    return out
