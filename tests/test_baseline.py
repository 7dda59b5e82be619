"""The CI gate on the model's numbers: the quick suite's exact counts against
the baseline kept in the repository (baselines/quick).

Any change of a deterministic metric (allocations, bytes, peak live bytes,
moves, refcount operations, polls, ticks, checksums, frame sizes), and any
benchmark added or removed, fails this test until the baseline is updated on
purpose, with the one command in UPDATE (run at the top of the repository,
then commit baselines/quick).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from . import helpers

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "baselines" / "quick"
pinbench = functools.partial(helpers.pinbench, columns=120, timeout=600)
UPDATE = "pinbench run --quick --counts-only --allocator all --output baselines/quick --force"


def test_the_baseline_is_the_output_of_the_update_command():
    doc = json.loads((BASELINE / "results.json").read_text())
    assert doc["command"] == UPDATE.split()
    assert doc["complete"] and doc["timing"] is False and doc["mode"] == "quick"
    assert (BASELINE / "metrics.csv").is_file() and not (BASELINE / "pyperf.json").exists()


def test_the_models_numbers_match_the_baseline(tmp_path):
    now = tmp_path / "now"
    args = UPDATE.split()[1:]
    args[args.index("baselines/quick")] = str(now)
    done = pinbench(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    done = pinbench("compare", BASELINE, now, "--strict", "--fail-on-change", cwd=tmp_path)
    assert done.returncode == 0, (
        "The model's exact numbers differ from the baseline in baselines/quick. If the change is "
        f"intended, update the baseline at the top of the repository with\n\n    {UPDATE}\n\nand commit "
        f"it with the change.\n\n{done.stdout}{done.stderr}"
    )
