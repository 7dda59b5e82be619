"""How many of a run's benchmarks each noise rule flags, on the run's own
pyperf values (docs/timing.md, "Trust"):

    python tools/noise_flags.py RUN [RUN ...]
    python tools/noise_flags.py --normal      # how strict ±5% is for normal values

For each results folder: the benchmarks flagged by the old rule (stdev/mean
of pyperf's values over 10%), by the new one (the 95% bootstrap interval of
the median wider than ±5%) on pyperf's first processes alone, and by the new
one on every value, the extra workers' included (what the run recorded).
Runs timed before the extra workers existed have none: the last two agree.

``--normal``: the share of 200 seeded samples of normal values (15 or 120
of them, the default and rigorous counts) that the new rule trusts, at
several stdev/mean.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import numpy as np
import pyperf

from pinbench.bench.results import read_results
from pinbench.bench.statistics import OUTLIER_CLASSES, trust
from pinbench.bench.timing import MODES

OLD_CV = 0.10  # the rule before issue 20: stdev / mean over 10%


def flags(folder: str) -> dict:
    doc = read_results(folder)
    first_processes = MODES[doc.get("mode", "default")]["processes"]
    suite = pyperf.BenchmarkSuite.load(str(Path(folder) / "pyperf.json"))
    out = {"benchmarks": 0, "old": 0, "new_first": 0, "new_all": 0, "extra_values": 0,
           **dict.fromkeys(OUTLIER_CLASSES, 0)}
    for bench in suite.get_benchmarks():
        runs = [run.values for run in bench.get_runs() if run.values]
        first = [v for values in runs[:first_processes] for v in values]
        every = [v for values in runs for v in values]
        out["benchmarks"] += 1
        out["old"] += len(first) > 1 and statistics.stdev(first) / statistics.fmean(first) > OLD_CV
        out["new_first"] += not trust(first)["trusted"]
        judged = trust(every)
        out["new_all"] += not judged["trusted"]
        out["extra_values"] += len(every) - len(first)
        for name in OUTLIER_CLASSES:
            out[name] += judged["outliers"][name]
    return out


def normal_pass_rates() -> None:
    rng = np.random.default_rng(0)
    for n, cvs in ((15, (0.04, 0.05, 0.065, 0.08, 0.10)), (120, (0.10, 0.15, 0.20, 0.25))):
        for cv in cvs:
            trusted = [trust(list(rng.normal(100.0, 100.0 * cv, n)))["trusted"] for _ in range(200)]
            print(f"{n} values, stdev/mean {cv:.1%}: trusted {np.mean(trusted):.0%}")


def main(folders: list) -> None:
    for folder in folders:
        f = flags(folder)
        n = f["benchmarks"]
        share = lambda k: f"{f[k]} ({f[k] / n:.0%})"  # noqa: E731
        print(f"{folder}: {n} benchmarks; flagged by stdev/mean > 10%: {share('old')}; "
              f"by the median's interval, first processes: {share('new_first')}; "
              f"every value ({f['extra_values']} extra): {share('new_all')}; outliers "
              + ", ".join(f"{k.replace('_', ' ')} {f[k]}" for k in OUTLIER_CLASSES))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    normal_pass_rates() if sys.argv[1:] == ["--normal"] else main(sys.argv[1:])
