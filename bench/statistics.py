"""Timing statistics: whether one benchmark's time can be trusted, and how
two sets of pyperf runs differ, and whether it matters.

**Trust** (``run``'s noise flag, :func:`trust`): the median of a
benchmark's values, the 95% bootstrap confidence interval of that median
(percentile method, fixed seed, as ``scipy.stats.bootstrap`` computes it) and its outliers
classified by Tukey's fences as criterion does (mild beyond 1.5 IQR from the
quartiles, severe beyond 3). A benchmark is trusted when the interval lies
within ±:data:`TRUST_WITHIN` of the median. ``docs/timing.md`` explains it.

**Comparison**: the numbers behind ``compare``'s timing verdict, apart from its matching
of benchmarks (:mod:`compare`): the ratio HEAD/BASE of the mean time per
task over the mean of each pyperf run, a bootstrap confidence interval of
that ratio (``scipy.stats.bootstrap``, percentile method, fixed seed: the
same input gives the same output), a two-sided Mann-Whitney U test
(``scipy.stats.mannwhitneyu``) and the Benjamini-Hochberg adjustment across
a comparison's benchmarks (``scipy.stats.false_discovery_control``).
``docs/comparing.md`` explains the rules for users.
"""

from __future__ import annotations

import inspect
import math
import warnings

import numpy as np

DEFAULT_THRESHOLD = 0.10  # a timing change smaller than this never fails
# Family-wise: the Mann-Whitney p-values of a comparison's benchmarks are
# adjusted together (Benjamini-Hochberg), so an A/A comparison of a whole
# suite fires with a chance below this, not once per 1/alpha benchmarks.
DEFAULT_ALPHA = 0.01
CONFIDENCE = 0.95  # of the bootstrap interval
BOOTSTRAP_RESAMPLES = 5000
BOOTSTRAP_SEED = 20240501  # fixed: the same two folders always give the same interval
MIN_RUNS_FOR_INTERVAL = 3  # a side: the bootstrap of two numbers is no interval worth printing
# A benchmark's time is trusted when the CONFIDENCE bootstrap interval of
# its median lies within this fraction of the median on both sides.
TRUST_WITHIN = 0.05
# Tukey's fences, as criterion classifies outliers: beyond MILD_FENCE x IQR
# from the quartiles a value is a mild outlier, beyond SEVERE_FENCE x IQR a
# severe one. Quartiles interpolate linearly between ranks (numpy's default,
# criterion's too).
MILD_FENCE = 1.5
SEVERE_FENCE = 3.0
OUTLIER_CLASSES = ("low_severe", "low_mild", "high_mild", "high_severe")


def median_interval(values) -> tuple:
    """(median, low, high): the median of ``values`` and the CONFIDENCE
    bootstrap interval of it (percentile method, BOOTSTRAP_RESAMPLES
    resamples, seeded: the same values give the same interval). One value
    has no interval: low = high = the value.

    The percentile bootstrap written out, as ``scipy.stats.bootstrap``
    computes it (the same resamples from the same generator, the same
    quantiles: tests/test_trust.py checks the two agree): every timed run
    judges its benchmarks, and importing scipy.stats costs a `pinbench run`
    process about a second, more than a quick benchmark's timing."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("no values")
    median = float(np.median(x))
    if x.size < 2:
        return median, median, median
    resamples = np.random.default_rng(BOOTSTRAP_SEED).integers(0, x.size, (BOOTSTRAP_RESAMPLES, x.size))
    alpha = (1 - CONFIDENCE) / 2
    low, high = np.quantile(np.median(x[resamples], axis=-1), [alpha, 1 - alpha])
    return median, float(low), float(high)


def outliers(values) -> dict:
    """How many of ``values`` lie beyond Tukey's fences: {class: count} for
    each of OUTLIER_CLASSES (criterion's classification; a value exactly on
    a fence is not beyond it)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return dict.fromkeys(OUTLIER_CLASSES, 0)
    q1, q3 = np.percentile(x, [25, 75])
    iqr = q3 - q1
    severe_low, mild_low = q1 - SEVERE_FENCE * iqr, q1 - MILD_FENCE * iqr
    mild_high, severe_high = q3 + MILD_FENCE * iqr, q3 + SEVERE_FENCE * iqr
    return {
        "low_severe": int(np.sum(x < severe_low)),
        "low_mild": int(np.sum((x >= severe_low) & (x < mild_low))),
        "high_mild": int(np.sum((x > mild_high) & (x <= severe_high))),
        "high_severe": int(np.sum(x > severe_high)),
    }


def trust(values) -> dict:
    """Whether a benchmark's time can be trusted: its median, the bootstrap
    interval of the median, the interval's widest side relative to the
    median (``within``), ``trusted`` (``within`` <= TRUST_WITHIN; one value
    is never trusted: it has no interval) and the outliers by class."""
    median, low, high = median_interval(values)
    within = max(median - low, high - median) / median if median > 0 else math.inf
    return {
        "median": median, "low": low, "high": high, "within": within,
        "trusted": len(values) >= 2 and within <= TRUST_WITHIN,
        "outliers": outliers(values),
    }


def _seed() -> dict:
    """The bootstrap's fixed seed, under the name this scipy takes."""
    rng_arg = "rng" if "rng" in _bootstrap_parameters() else "random_state"
    return {rng_arg: np.random.default_rng(BOOTSTRAP_SEED)}


def _ratio_of_means(base, head, axis=-1):
    return np.mean(head, axis=axis) / np.mean(base, axis=axis)


def run_means(runs) -> list:
    """One number per independent measurement: the mean of each pyperf run
    (worker process). A flat list of numbers is taken as one value per run.

    The values of one process are not independent of each other: on a busy
    machine a whole process lands on a fast or a slow core (we saw 2.8 us in
    one process and 6 us in the next for the same benchmark), so the
    statistics count processes, not values."""
    out = []
    for run in runs:
        if isinstance(run, (list, tuple)):
            if run:
                out.append(sum(run) / len(run))
        else:
            out.append(float(run))
    return out


def timing_statistics(
    base_runs, head_runs, threshold: float = DEFAULT_THRESHOLD, alpha: float = DEFAULT_ALPHA,
    p_adjusted: float | None = None,
) -> dict:
    """HEAD/BASE of the mean time per task, its bootstrap interval, the
    Mann-Whitney p-value and the verdict (see the module docstring), over
    the mean of each pyperf run (:func:`run_means`). ``p_adjusted`` is the
    p-value after the correction for the comparison's other benchmarks
    (:func:`compare_runs` passes it); alone, the raw p-value is used.

    ``verdict`` is one of "slower" (a regression), "faster", "within
    threshold" (significant, but not surely beyond the threshold), "not
    significant" or "too few runs"."""
    out = raw_timing_statistics(base_runs, head_runs)
    return judge_timing(out, threshold, alpha, out["p_value"] if p_adjusted is None else p_adjusted)


def raw_timing_statistics(base_runs, head_runs) -> dict:
    """The numbers of :func:`timing_statistics`, before any verdict."""
    from scipy import stats  # deferred: scipy loads only when timing is compared

    base = np.asarray(run_means(base_runs), dtype=float)
    head = np.asarray(run_means(head_runs), dtype=float)
    count = lambda runs: sum(len(r) if isinstance(r, (list, tuple)) else 1 for r in runs)  # noqa: E731
    out = {
        "base_mean_ns": float(base.mean() * 1e9) if base.size else None,
        "head_mean_ns": float(head.mean() * 1e9) if head.size else None,
        "base_stdev_ns": float(base.std(ddof=1) * 1e9) if base.size > 1 else None,
        "head_stdev_ns": float(head.std(ddof=1) * 1e9) if head.size > 1 else None,
        "n_base": int(base.size),
        "n_head": int(head.size),
        "values_base": count(base_runs),
        "values_head": count(head_runs),
        "ratio": None,
        "ci_low": None,
        "ci_high": None,
        "confidence": CONFIDENCE,
        "p_value": None,
        "p_adjusted": None,
        "significant": False,
        "regression": False,
        "improvement": False,
        "verdict": "too few runs",
    }
    if not base.size or not head.size or base.mean() <= 0:
        return out
    out["ratio"] = float(head.mean() / base.mean())
    if base.size < 2 or head.size < 2:
        return out
    intervals = min(base.size, head.size) >= MIN_RUNS_FOR_INTERVAL
    low = high = math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate samples give NaN, handled below
        p_value = float(stats.mannwhitneyu(head, base, alternative="two-sided").pvalue)
        try:
            if intervals:
                interval = stats.bootstrap(
                    (base, head), _ratio_of_means, vectorized=True, paired=False, axis=-1,
                    confidence_level=CONFIDENCE, n_resamples=BOOTSTRAP_RESAMPLES,
                    method="percentile", **_seed(),
                ).confidence_interval
                low, high = float(interval.low), float(interval.high)
        except ValueError:
            low = high = math.nan
    out["p_value"] = 1.0 if math.isnan(p_value) else p_value
    if not (math.isnan(low) or math.isnan(high)):
        out["ci_low"], out["ci_high"] = low, high
    return out


def judge_timing(out: dict, threshold: float, alpha: float, p_adjusted) -> dict:
    """The verdict: "slower" (a regression) only when the (adjusted) p-value
    is below alpha and the whole interval lies above 1 + threshold."""
    out["p_adjusted"] = p_adjusted
    if p_adjusted is None or out["ratio"] is None:
        return out
    out["significant"] = p_adjusted < alpha
    low, high = out["ci_low"], out["ci_high"]
    if low is None:  # no interval (too few runs): never a regression
        out["verdict"] = "within threshold" if out["significant"] else "not significant"
    elif out["significant"] and low > 1.0 + threshold:
        out["regression"], out["verdict"] = True, "slower"
    elif out["significant"] and high < 1.0 - threshold:
        out["improvement"], out["verdict"] = True, "faster"
    elif out["significant"]:
        out["verdict"] = "within threshold"
    else:
        out["verdict"] = "not significant"
    return out


def adjust_p_values(p_values: list) -> list:
    """Benjamini-Hochberg adjusted p-values (``scipy.stats.false_discovery_control``).

    A comparison tests every benchmark at once: without a correction, 36
    benchmarks at alpha 0.05 would give an A/A comparison a false alarm most
    of the time. Under A/A every finding is false, and there the
    Benjamini-Hochberg procedure bounds the chance of *any* finding by alpha."""
    if not p_values:
        return []
    from scipy import stats  # deferred: scipy loads only when timing is compared

    if hasattr(stats, "false_discovery_control"):  # scipy >= 1.11
        return [float(p) for p in stats.false_discovery_control(p_values, method="bh")]
    m = len(p_values)  # the same step-up procedure, for older scipy
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p_values[i] * m / rank)
        adjusted[i] = running
    return adjusted


def _bootstrap_parameters():
    from scipy import stats  # deferred: scipy loads only when timing is compared

    return inspect.signature(stats.bootstrap).parameters


def smallest_p_value(n_base: int, n_head: int) -> float:
    """The smallest two-sided Mann-Whitney p-value ``n_base`` and ``n_head``
    values can give (exact test, no ties): below alpha, a change can be found."""
    if n_base < 1 or n_head < 1:
        return 1.0
    return min(1.0, 2.0 / math.comb(n_base + n_head, n_base))
