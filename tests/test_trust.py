"""Whether a time can be trusted (bench/statistics.py's ``trust``, run's
noise flag): the median's bootstrap interval within ±5%, outliers by Tukey's
fences, and more values within a time cap where the interval is wide.

The samples are constructed (seeded), so each classification is exact.
Expected outlier counts come from fences computed here by hand, from the
sorted sample's ranks, not from the code under test.
"""

import os
import random
import statistics as py_statistics
import subprocess
import sys

import numpy as np
import pyperf
import pytest

from pinbench.bench import environment
from pinbench.bench import statistics as stats
from pinbench.bench import timing
from pinbench.model.errors import UsageError
from pinbench.bench.timing import Spec, sample_until_trusted, timing_metrics, within_first_seconds

from .helpers import assert_one_line_error, pinbench


def tight(n=30, seed=1):
    """n values evenly spread over 99.5..100.5, shuffled: no tails, so no outliers."""
    values = list(np.linspace(99.5, 100.5, n))
    random.Random(seed).shuffle(values)
    return values


def test_a_tight_sample_is_trusted():
    verdict = stats.trust(tight())
    assert verdict["trusted"] is True
    assert verdict["low"] <= verdict["median"] <= verdict["high"]
    assert verdict["within"] < 0.01
    assert verdict["median"] == py_statistics.median(tight())


def test_a_bimodal_sample_is_flagged():
    """Half the values at 100, half at 130 (a fast and a slow core): the
    median could be either, and the interval says so."""
    rng = np.random.default_rng(2)
    values = list(rng.normal(100.0, 0.3, 15)) + list(rng.normal(130.0, 0.3, 15))
    verdict = stats.trust(values)
    assert verdict["trusted"] is False
    assert verdict["low"] < 101 and verdict["high"] > 129  # the interval spans both modes
    assert verdict["within"] > stats.TRUST_WITHIN


def test_the_interval_is_judged_at_five_percent_on_either_side():
    """[95, 100, 105] resamples to medians of 95, 100 or 105: the interval is
    [95, 105], exactly ±5%: trusted. 94 instead of 95 is 6% below: flagged."""
    assert stats.median_interval([95.0, 100.0, 105.0]) == (100.0, 95.0, 105.0)
    assert stats.trust([95.0, 100.0, 105.0])["trusted"] is True
    assert stats.trust([94.0, 100.0, 105.0])["trusted"] is False
    assert stats.trust([94.0, 100.0, 105.0])["within"] == pytest.approx(0.06)


def test_one_value_is_never_trusted():
    verdict = stats.trust([100.0])
    assert (verdict["median"], verdict["low"], verdict["high"], verdict["trusted"]) == (100.0, 100.0, 100.0, False)


def test_the_interval_is_the_same_for_the_same_values():
    values = list(np.random.default_rng(3).lognormal(0.0, 0.2, 25))
    assert stats.median_interval(values) == stats.median_interval(list(values))


@pytest.mark.parametrize("seed", range(40))
def test_the_interval_is_scipys_percentile_bootstrap(seed):
    """median_interval writes the percentile bootstrap out (scipy.stats
    costs a run's process a second to import): it must be what
    scipy.stats.bootstrap gives for the same seed, to the last bits of the
    quantile's interpolation."""
    from scipy.stats import bootstrap

    rng = np.random.default_rng(seed)
    values = rng.lognormal(0.0, rng.uniform(0.01, 0.5), int(rng.integers(2, 40))) * 1e-6
    if seed % 4 == 0:
        values = np.round(values, 8)  # ties
    median, low, high = stats.median_interval(list(values))
    expected = bootstrap((values,), np.median, vectorized=True, axis=-1, confidence_level=stats.CONFIDENCE,
                         n_resamples=stats.BOOTSTRAP_RESAMPLES, method="percentile",
                         **stats._seed()).confidence_interval
    assert median == float(np.median(values))
    assert low == pytest.approx(float(expected.low), rel=1e-12)
    assert high == pytest.approx(float(expected.high), rel=1e-12)
    assert low <= median <= high


def test_a_run_judges_its_timings_without_importing_scipy_stats():
    code = ("import sys; from pinbench.bench import statistics as s; s.trust([1.0, 1.1, 0.9, 1.05]); "
            "print('scipy.stats' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stdout + done.stderr


def hand_fences(values):
    """Tukey's fences from quartiles at ranks p * (n - 1) of the sorted
    sample (the samples below put both on whole ranks)."""
    ordered = sorted(values)
    n = len(ordered)
    assert (n - 1) % 4 == 0
    q1, q3 = ordered[(n - 1) // 4], ordered[3 * (n - 1) // 4]
    iqr = q3 - q1
    return q1 - 3 * iqr, q1 - 1.5 * iqr, q3 + 1.5 * iqr, q3 + 3 * iqr


def test_outliers_are_counted_by_tukeys_fences():
    # 17 values: Q1 at rank 4 (10), Q3 at rank 12 (12), IQR 2; fences 4, 7, 15, 18.
    sample = [-40.0, 4.0, 7.0, 9.5, 10.0, 10.0, 11.0, 11.0, 11.0, 11.0, 12.0, 12.0, 12.0, 15.0, 16.0, 18.0, 19.0]
    severe_low, mild_low, mild_high, severe_high = hand_fences(sample)
    assert (severe_low, mild_low, mild_high, severe_high) == (4.0, 7.0, 15.0, 18.0)
    expected = {
        "low_severe": sum(v < severe_low for v in sample),  # -40
        "low_mild": sum(severe_low <= v < mild_low for v in sample),  # 4, on the severe fence: mild
        "high_mild": sum(mild_high < v <= severe_high for v in sample),  # 16, and 18 on the severe fence
        "high_severe": sum(v > severe_high for v in sample),  # 19
    }
    assert expected == {"low_severe": 1, "low_mild": 1, "high_mild": 2, "high_severe": 1}
    shuffled = sample[:]
    random.Random(4).shuffle(shuffled)
    assert stats.outliers(shuffled) == expected


def test_no_outliers_in_a_sample_of_equal_values():
    assert stats.outliers([5.0] * 9) == dict.fromkeys(stats.OUTLIER_CLASSES, 0)


def benchmark_of(values_per_run, name="bench"):
    runs = [pyperf.Run(values, metadata={"name": name, "loops": 1}, collect_metadata=False)
            for values in values_per_run]
    return pyperf.Benchmark(runs)


def test_one_severe_outlier_no_longer_flags_a_tight_benchmark():
    """stdev/mean flagged this one (one slow value of 30 makes cv 36%); the
    median's interval is tight, and the outlier is counted instead."""
    values = [v * 1e-9 for v in tight(29)] + [300e-9]
    m = timing_metrics(benchmark_of([values[:15], values[15:]]))
    assert m["timing_cv"] > 0.10  # the old rule's flag
    assert m["noisy"] is False
    assert m["outliers_high_severe"] == 1
    assert m["outliers_low_severe"] + m["outliers_low_mild"] + m["outliers_high_mild"] == 0
    assert m["ns_per_task_ci_low"] <= m["ns_per_task_median"] <= m["ns_per_task_ci_high"]
    assert m["timing_values"] == 30


def test_a_bimodal_benchmark_is_noisy_in_its_metrics():
    fast, slow = [100e-9] * 5, [130e-9] * 5
    m = timing_metrics(benchmark_of([fast, slow, [100e-9, 130e-9, 100e-9, 130e-9, 115e-9]]))
    assert m["noisy"] is True
    assert m["ns_per_task_ci_low"] == pytest.approx(100.0) and m["ns_per_task_ci_high"] == pytest.approx(130.0)


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_more_values_stop_at_the_cap():
    """A benchmark that never settles: each round takes 0.3 s, the cap is
    1 s: three rounds (0.9 s), as a fourth would end at 1.2 s."""
    clock = FakeClock()
    calls = []

    def more():
        calls.append(clock.now)
        clock.now += 0.3
        return [80.0, 120.0]

    values, spent = sample_until_trusted([80.0, 100.0, 120.0], more, cap=1.0, estimate=0.3, clock=clock)
    assert len(calls) == 3
    assert spent == pytest.approx(0.9)
    assert len(values) == 3 + 3 * 2


def test_no_more_values_when_the_first_round_would_pass_the_cap():
    clock = FakeClock()
    values, spent = sample_until_trusted([80.0, 120.0], lambda: pytest.fail("called"), cap=0.5, estimate=0.6,
                                         clock=clock)
    assert (values, spent) == ([80.0, 120.0], 0.0)


def test_more_values_stop_once_trusted():
    """Wide at first; one round of tight values pulls the median's interval
    within ±5%, and no second round runs."""
    clock = FakeClock()
    calls = []

    def more():
        calls.append(1)
        clock.now += 0.1
        return [100.0] * 20

    first = [80.0, 100.0, 120.0]
    assert not stats.trust(first)["trusted"]
    values, _ = sample_until_trusted(first, more, cap=10.0, estimate=0.1, clock=clock)
    assert len(calls) == 1 and stats.trust(values)["trusted"]


def test_first_rounds_that_would_take_too_long_take_fewer_processes_then_values():
    """(processes, values per process) for one warm-up and 8 s."""
    assert within_first_seconds(3, 5, 1, 0.1, 8.0) == (3, 5)  # 1.8 s: as asked
    assert within_first_seconds(3, 5, 1, 0.6, 8.0) == (2, 5)  # 10.8 s with three processes, 7.2 with two
    assert within_first_seconds(3, 5, 1, 2.0, 8.0) == (1, 3)  # 12 s in one process; 8 with three values
    assert within_first_seconds(3, 5, 1, 10.0, 8.0) == (1, timing.MIN_VALUES)  # never fewer


def test_a_slow_benchmark_is_timed_in_fewer_rounds(tmp_path, monkeypatch, timer_factory):
    """For real: a counting run said to take 0.5 s gets one worker of
    MIN_VALUES values in the default mode (a warm-up and three values, 2 s:
    within 2 s, where three workers of five would take 9); the runner's own
    settings are back afterwards."""
    monkeypatch.setattr(stats, "TRUST_WITHIN", 10.0)  # trusted at once: no extra workers
    monkeypatch.setitem(timing.FIRST_SECONDS, "default", 2.0)
    timer = timer_factory(tmp_path / "specs.json", "default")
    spec = Spec("chain-slow", "chain", {"depth": 2, "tasks": 50}, "pinbox", "system", 50, 1 << 33)
    bench = timer.time(spec, 0.5)
    runs = [r for r in bench.get_runs() if r.values]
    assert len(runs) == 1 and bench.get_nvalue() == timing.MIN_VALUES
    assert {r.get_loops() for r in runs} == {1}
    args = timer.runner.args
    assert (args.processes, args.values) == (timing.MODES["default"]["processes"], timing.MODES["default"]["values"])


def test_timer_adds_workers_runs_to_the_same_benchmark(tmp_path, monkeypatch, timer_factory):
    """For real, with pyperf's workers: nothing is ever trusted here
    (TRUST_WITHIN < 0), so workers are added until the cap. Their runs join
    the benchmark under its own name, with its loops."""
    monkeypatch.setattr(stats, "TRUST_WITHIN", -1.0)
    monkeypatch.setitem(timing.MORE_SECONDS, "quick", 60.0)
    monkeypatch.setattr(timing, "MORE_SHARE", 3.0)  # up to three times what the first worker took
    timer = timer_factory(tmp_path / "specs.json", "quick")
    spec = Spec("chain-test", "chain", {"depth": 2, "tasks": 50}, "pinbox", "system", 50, 1 << 33)
    bench = timer.time(spec, 1e-4)
    runs = [r for r in bench.get_runs() if r.values]
    assert len(runs) >= 2  # the first worker's, and at least one more
    assert {r.get_metadata()["name"] for r in bench.get_runs()} == {"chain-test"}
    assert {r.get_loops() for r in runs} == {runs[0].get_loops()}
    assert bench.get_nvalue() == 3 * len(runs)
    assert timer.more_seconds > 0
    assert timing_metrics(bench)["noisy"] is True
    assert len(list(tmp_path.glob("*.tables"))) == 1  # the extra workers read the first one's tables


# -- CPU affinity -----------------------------------------------------------------


def test_workers_go_to_the_last_cpu_where_there_are_two_or_more(monkeypatch):
    monkeypatch.delenv(environment.AFFINITY_ENV, raising=False)
    monkeypatch.setattr(environment, "_isolated_cpus", lambda: "")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert environment.worker_cpus() == "3"
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert environment.worker_cpus() == "1"  # this 2-core machine: CPU 0 left to the rest
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {5})
    assert environment.worker_cpus() is None  # one CPU: nothing to choose
    monkeypatch.setattr(environment, "_isolated_cpus", lambda: "2-3")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert environment.worker_cpus() is None  # pyperf pins to the isolated CPUs itself


def test_affinity_can_be_chosen_or_turned_off(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setenv(environment.AFFINITY_ENV, "none")
    assert environment.worker_cpus() is None
    monkeypatch.setenv(environment.AFFINITY_ENV, "0,2-3")
    assert environment.worker_cpus() == "0,2-3"
    for bad in ("7", "1-0", "x", "1,,2"):
        monkeypatch.setenv(environment.AFFINITY_ENV, bad)
        with pytest.raises(UsageError, match="PINBENCH_AFFINITY"):
            environment.worker_cpus()


def test_a_bad_affinity_is_one_line_and_exit_2(tmp_path):
    cpus = sorted(os.sched_getaffinity(0))
    done = pinbench("run", "--quick", "-w", "chain", "-s", "pinbox", "-o", tmp_path / "out", cwd=tmp_path,
                    env={environment.AFFINITY_ENV: str(cpus[-1] + 1)})
    assert_one_line_error(done, "PINBENCH_AFFINITY", "none", narrated=True)  # after the engine build lines
    assert not (tmp_path / "out").exists()
