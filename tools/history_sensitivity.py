"""How sensitive the history's timing change points are (docs/history.md).

    python tools/history_sensitivity.py [TRIALS]

Seeded synthetic series of 30 runs with pyperf-like noise (the model of
tests/test_history.py: 3 processes x 5 values, 2% noise per process, 1% per
value, one value in 20 hit by +20%), a step at run 15 of each size below,
through ``history.timing_changes``. A step is *found* when exactly one change
point is reported within one run of it, *exact* when at it; a flat series
(step 0) should have none.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, for tests/

from pinbench.bench import history  # noqa: E402
from tests.test_history import POINTS, STEP_AT, pyperf_like  # noqa: E402


def main(trials: int) -> None:
    print(f"{trials} trials per row, {POINTS} runs, step at run {STEP_AT}, "
          f"penalty factor {history.PENALTY_FACTOR}, segments of at least {history.MIN_SEGMENT} runs")
    for step in (0.0, 0.02, 0.03, 0.05, 0.10):
        found = exact = any_change = 0
        for seed in range(trials):
            changes = history.timing_changes(pyperf_like(10_000 + seed, step))
            any_change += bool(changes)
            found += len(changes) == 1 and abs(changes[0] - STEP_AT) <= 1
            exact += changes == [STEP_AT]
        if step:
            print(f"step {step:4.0%}: found {found / trials:6.1%}, at the exact run {exact / trials:6.1%}")
        else:
            print(f"flat     : a false change point in {any_change / trials:6.1%} of the series")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
