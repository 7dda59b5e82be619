"""`pinbench compare`: matching, the exact gate, the timing statistics, the
three output formats, the saved comparison and its figure, and every bad
input (exit status 2, one line).

The A/A tests use real runs: comparing a run with itself, and comparing
independent timed runs of the same code (merged into arms the way
compare-branches merges its rounds), where the timing gate must never fire.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import shutil

import numpy as np
import pytest

from pinbench.bench import branches, compare, compare_report, statistics
from pinbench.model.errors import UsageError

from . import helpers
from .helpers import assert_one_line_error

pinbench = functools.partial(helpers.pinbench, columns=100)

SMALL = ["--quick", "-w", "yield_many,chain", "-s", "pinbox,always_heap"]
TIMED = ["-w", "yield_many", "-s", "pinbox,always_heap", "-a", "system", "-p", "tasks=100"]
TIMED_NAMES = {"yield_many/pinbox/system", "yield_many/always_heap/system"}


@pytest.fixture(scope="module")
def counts_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("counts") / "run"
    done = pinbench("run", *SMALL, "--counts-only", "--output", folder, cwd=folder.parent)
    assert done.returncode == 0, done.stderr
    return folder


@pytest.fixture(scope="module")
def timed_runs(tmp_path_factory):
    """Two timed runs of the same code, one after the other, in pyperf's
    default mode (3 worker processes per benchmark: the unit the timing
    statistics count)."""
    root = tmp_path_factory.mktemp("timed")
    folders = []
    for i in range(2):
        folder = root / f"run{i}"
        done = pinbench("run", *TIMED, "--output", folder, cwd=root)
        assert done.returncode == 0, done.stderr
        folders.append(folder)
    return folders


def edited_copy(source, target, edit):
    """A copy of a results folder whose results.json went through ``edit(doc)``."""
    shutil.copytree(source, target)
    doc = json.loads((target / "results.json").read_text())
    edit(doc)
    (target / "results.json").write_text(json.dumps(doc, indent=2))
    return target


def find(doc, workload, strategy):
    return next(b for b in doc["benchmarks"] if b["workload"] == workload and b["strategy"] == strategy)


# -- A/A ----------------------------------------------------------------------------


def test_a_run_compared_with_itself_has_no_regression(counts_run):
    done = pinbench("compare", counts_run, counts_run, cwd=counts_run)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no regression" in done.stdout
    assert "4 of 4 benchmarks have identical deterministic metrics" in done.stdout
    assert "no timing" in done.stdout  # a --counts-only folder has no pyperf.json: said, not hidden


def test_a_timed_run_compared_with_itself_has_no_regression(timed_runs):
    done = pinbench("compare", timed_runs[0], timed_runs[0], "--format", "json", cwd=timed_runs[0])
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["timing"] and not result["verdict"]["failed"]
    for bench in result["benchmarks"]:
        t = bench["timing"]
        assert t["ratio"] == pytest.approx(1.0) and t["p_value"] == pytest.approx(1.0)
        # 3 worker processes x 5 values, and one more process at a time where
        # the median's interval was wide (timing.MORE_SECONDS)
        assert t["n_base"] >= 3 and t["values_base"] == 5 * t["n_base"]
        assert t["ci_low"] <= 1.0 <= t["ci_high"] and t["verdict"] == "not significant"


def test_the_timing_gate_catches_a_slowdown_beyond_the_noise(timed_runs, tmp_path):
    """Real values (both runs merged as compare-branches merges rounds: 6
    pyperf runs a side) against the same values slowed down past their own
    spread: caught. Against themselves: not."""
    doc, timed = branches.merge_rounds(timed_runs, "arm a")
    branches.write_arm(tmp_path / "a", doc, timed)
    base = compare.load_run(tmp_path / "a")
    assert compare.compare_runs(base, copy.deepcopy(base))["verdict"]["failed"] is False
    slow = copy.deepcopy(base)
    for key, per_run in base["values"].items():
        means = statistics.run_means(per_run)
        factor = 1.2 * max(means) / min(means)  # every HEAD run above every BASE run
        slow["values"][key] = [[v * factor for v in run] for run in per_run]
    caught = compare.compare_runs(base, slow)
    assert caught["verdict"]["failed"] and caught["verdict"]["timing_regressions"] == 2
    assert all(b["timing"]["verdict"] == "slower" for b in caught["benchmarks"])
    assert "REGRESSION: 2 regression(s)" in caught["verdict"]["line"]


def test_synthetic_a_a_false_alarms_stay_below_alpha():
    """1,000 A/A comparisons of 6 runs a side drawn from one noisy
    distribution (15% spread, like a busy 2-core VM): significance comes at
    about alpha (0.01), a regression (significance and the whole interval
    beyond +10%) more rarely still. With the Benjamini-Hochberg adjustment,
    a whole suite's A/A comparison fails at most about alpha of the time."""
    rng = np.random.default_rng(7)
    significant = regressions = 0
    for _ in range(1000):
        t = statistics.timing_statistics(rng.lognormal(0, 0.15, 6), rng.lognormal(0, 0.15, 6))
        significant += t["significant"]
        regressions += t["regression"]
    assert significant <= 15 and regressions <= 5
    adjusted = statistics.adjust_p_values([0.001, 0.02, 0.5, 0.04])
    assert adjusted == pytest.approx([0.004, 0.04, 0.5, 0.04 * 4 / 3])


def test_timing_statistics_detect_a_real_slowdown_and_are_reproducible():
    rng = np.random.default_rng(1)
    base = rng.lognormal(0, 0.05, 10)
    head = rng.lognormal(0, 0.05, 10) * 1.3
    first = statistics.timing_statistics(base, head)
    assert first["verdict"] == "slower" and first["regression"]
    assert first["ci_low"] > 1.1 and first["p_value"] < 0.05
    assert statistics.timing_statistics(base, head) == first  # fixed bootstrap seed
    faster = statistics.timing_statistics(head, base)
    assert faster["verdict"] == "faster" and not faster["regression"]
    small = statistics.timing_statistics(base, base * 1.05)  # significant, but under the threshold
    assert small["significant"] and not small["regression"] and small["verdict"] == "within threshold"
    few = statistics.timing_statistics(base[:3], head[:3])  # 3 vs 3: p can never be below 0.05
    assert not few["regression"] and statistics.smallest_p_value(3, 3) > 0.05
    # Values of one pyperf run count once: 2 runs of 5 values a side cannot be significant.
    runs = statistics.timing_statistics([list(base[:5]), list(base[5:])], [list(head[:5]), list(head[5:])])
    assert runs["n_base"] == 2 and runs["values_base"] == 10 and not runs["regression"]


# -- deterministic changes -------------------------------------------------------------


def test_an_extra_allocation_is_a_regression_named_in_the_markdown(counts_run, tmp_path):
    def more(doc):
        m = find(doc, "chain", "pinbox")["metrics"]
        m["allocs"] += 100
        m["allocs_per_task"] = m["allocs"] / m["tasks"]

    head = edited_copy(counts_run, tmp_path / "head", more)
    done = pinbench("compare", counts_run, head, "--format", "markdown", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith(":x: **pinbench: REGRESSION") and "chain/pinbox/system" in first
    assert "| `chain/pinbox/system` | allocs | 100 | 200 | +100 (+100.0%) | **regression** |" in done.stdout
    assert "### Regressions" in done.stdout


@pytest.mark.parametrize(
    "metric, delta, status, exit_code",
    [
        ("bytes_allocated", +8, "regression", 1),
        ("peak_live_bytes", +8, "regression", 1),
        ("live_blocks_end", +1, "regression", 1),  # a leak
        ("checksum", +1, "regression", 1),
        ("allocs", -50, "improved", 0),
        ("polls", +3, "changed", 0),  # listed, but not a regression
        ("moved_bytes", +64, "changed", 0),
    ],
)
def test_deterministic_metrics_are_compared_exactly(counts_run, tmp_path, metric, delta, status, exit_code):
    def edit(doc):
        find(doc, "yield_many", "always_heap")["metrics"][metric] += delta

    head = edited_copy(counts_run, tmp_path / "head", edit)
    done = pinbench("compare", counts_run, head, "--format", "json", cwd=tmp_path)
    assert done.returncode == exit_code, done.stderr
    result = json.loads(done.stdout)
    (bench,) = [b for b in result["benchmarks"] if b["changes"]]
    assert bench["name"] == "yield_many/always_heap/system"
    assert bench["status"] == status
    assert [c["metric"] for c in bench["changes"]] == [metric]


def test_fail_on_change_fails_on_any_deterministic_change(counts_run, tmp_path):
    def edit(doc):
        find(doc, "chain", "always_heap")["metrics"]["polls"] += 1

    head = edited_copy(counts_run, tmp_path / "head", edit)
    assert pinbench("compare", counts_run, head, cwd=tmp_path).returncode == 0
    done = pinbench("compare", counts_run, head, "--fail-on-change", cwd=tmp_path)
    assert done.returncode == 1
    assert "changed deterministic metrics: chain/always_heap/system (polls)" in " ".join(done.stdout.split())


def test_one_sided_benchmarks_are_listed_and_fail_only_with_strict(counts_run, tmp_path):
    def drop(doc):
        doc["benchmarks"] = [b for b in doc["benchmarks"] if b["workload"] != "chain" or b["strategy"] != "pinbox"]

    head = edited_copy(counts_run, tmp_path / "head", drop)
    done = pinbench("compare", counts_run, head, cwd=tmp_path)
    assert done.returncode == 0
    assert "only in base (1): chain/pinbox/system" in done.stdout
    done = pinbench("compare", counts_run, head, "--strict", cwd=tmp_path)
    assert done.returncode == 1
    assert "on one side only (--strict)" in done.stdout
    done = pinbench("compare", head, counts_run, "--strict", "--format", "json", cwd=tmp_path)
    assert done.returncode == 1 and json.loads(done.stdout)["head_only"][0]["name"] == "chain/pinbox/system"


def test_different_machines_and_modes_are_compared_with_a_warning(counts_run, tmp_path):
    def elsewhere(doc):
        doc["environment"]["hostname"] = "another-machine"
        doc["mode"] = "default"

    head = edited_copy(counts_run, tmp_path / "head", elsewhere)
    done = pinbench("compare", counts_run, head, "--format", "json", cwd=tmp_path)
    assert done.returncode == 0
    warnings = json.loads(done.stdout)["warnings"]
    assert any("different machines" in w and "another-machine" in w for w in warnings)
    assert any("different modes" in w for w in warnings)


def test_timed_against_counts_only_compares_counts_and_says_so(counts_run, timed_runs, tmp_path):
    done = pinbench("compare", counts_run, timed_runs[0], "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["timing"] is False
    assert any("the base folder has no pyperf.json" in w for w in result["warnings"])
    assert all(b["timing"] is None and not b["changes"] for b in result["benchmarks"])


# -- output, saving, the figure ----------------------------------------------------------


def test_text_markdown_and_json_outputs(timed_runs, tmp_path):
    a, b = timed_runs[0], timed_runs[1]
    text = pinbench("compare", a, b, cwd=tmp_path)
    assert text.returncode == 0
    assert "time per task, HEAD/BASE" in text.stdout and "yield_many/pinbox/system" in text.stdout
    # 3 runs a side (the default mode's processes) can never be significant; a
    # noisy machine's extra values may add runs. Mann-Whitney's smallest
    # two-sided p for n and m runs is 2 / C(n + m, n), times the benchmarks
    # compared (the correction's worst case).
    runs = [(bench["timing"]["n_base"], bench["timing"]["n_head"]) for bench in json.loads(
        pinbench("compare", a, b, "--format", "json", cwd=tmp_path).stdout)["benchmarks"] if bench["timing"]]
    too_few = min(2 / math.comb(n + m, n) for n, m in runs) * len(runs) >= 0.01
    assert ("too few independent timings" in " ".join(text.stdout.split())) == too_few, runs
    markdown = pinbench("compare", a, b, "--format", "markdown", cwd=tmp_path)
    assert markdown.stdout.startswith(":white_check_mark: **pinbench: no regression")
    assert "| benchmark | base | head | HEAD/BASE | 95% interval | p | runs | verdict |" in markdown.stdout
    as_json = json.loads(pinbench("compare", a, b, "--format", "json", cwd=tmp_path).stdout)
    assert as_json["format"] == "pinbench-comparison" and as_json["timing"] is True
    assert {b_["name"] for b_ in as_json["benchmarks"]} == TIMED_NAMES


def test_save_writes_comparison_json_for_the_report_and_the_figure_draws_it(timed_runs, tmp_path):
    head = tmp_path / "head"
    shutil.copytree(timed_runs[1], head)
    done = pinbench("compare", timed_runs[0], head, "--save", "--threshold", "5%", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    saved = compare.load_comparison(head)
    assert saved["settings"]["threshold"] == 0.05 and len(saved["benchmarks"]) == 2
    written = compare_report.comparison_figure(saved, tmp_path / "fig")
    assert [p.suffix for p in written] == [".png", ".svg"]
    assert written[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in written[1].read_text()[:2000]
    # A path to the folder works too, and counts-only comparisons draw the exact ratios.
    assert compare_report.comparison_figure(head, tmp_path / "again.png")[0].name == "again.png"
    assert compare.load_comparison(tmp_path) is None  # no comparison there


def test_counts_only_figure(counts_run, tmp_path):
    def more(doc):
        find(doc, "chain", "pinbox")["metrics"]["allocs"] += 100

    head = edited_copy(counts_run, tmp_path / "head", more)
    result = compare.compare_runs(compare.load_run(counts_run), compare.load_run(head))
    png, svg = compare_report.comparison_figure(result, tmp_path / "counts")
    assert png.stat().st_size > 1000 and svg.stat().st_size > 1000


def test_threshold_parsing():
    assert compare.parse_threshold("10%") == pytest.approx(0.10)
    assert compare.parse_threshold("0.05") == pytest.approx(0.05)
    assert compare.parse_threshold("5") == pytest.approx(0.05)
    with pytest.raises(ValueError):
        compare.parse_threshold("ten")


# -- bad input: exit 2, one line -------------------------------------------------------------


def _cut(folder, tmp_path, name, parts):
    """A copy of ``folder`` whose file ``name`` keeps only the first 1/``parts`` of its text."""
    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    text = (bad / name).read_text()
    (bad / name).write_text(text[: len(text) // parts])
    return bad


def _truncated(folder, tmp_path):
    return _cut(folder, tmp_path, "results.json", 2)


def _foreign(folder, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "results.json").write_text(json.dumps({"name": "some other tool", "benchmarks": []}))
    return bad


def _future(folder, tmp_path):
    return edited_copy(folder, tmp_path / "bad", lambda doc: doc.update(schema_version=99))


def _no_results(folder, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    return bad


def _truncated_pyperf(folder, tmp_path):
    return _cut(folder, tmp_path, "pyperf.json", 3)


def _foreign_pyperf(folder, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    (bad / "pyperf.json").write_text(json.dumps({"hello": "world"}))
    return bad


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda folder, tmp: tmp / "missing", "no results folder at"),
        (_no_results, "has no results.json"),
        (_truncated, "is not valid JSON"),
        (_foreign, "is not a pinbench results document"),
        (_future, "schema_version 99"),
        (_truncated_pyperf, "pyperf.json is not valid JSON"),
        (_foreign_pyperf, "is not a pyperf benchmark file"),
    ],
    ids=["missing", "no-results", "truncated", "foreign", "schema", "truncated-pyperf", "foreign-pyperf"],
)
@pytest.mark.parametrize("side", ["base", "head"])
def test_unreadable_input_is_one_line_and_exit_2(timed_runs, tmp_path, make, needle, side):
    bad = make(timed_runs[0], tmp_path)
    args = (bad, timed_runs[0]) if side == "base" else (timed_runs[0], bad)
    assert_one_line_error(pinbench("compare", *args, cwd=tmp_path), needle)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["only-one"], "the following arguments are required: HEAD"),
        (["a", "b", "--format", "html"], "invalid choice: 'html'"),
        (["a", "b", "--threshold", "ten"], "is not a threshold"),
        (["a", "b", "--alpha", "2"], "out of range"),
        (["a", "b", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(tmp_path, args, needle):
    assert_one_line_error(pinbench("compare", *args, cwd=tmp_path), needle)


def test_load_comparison_rejects_a_foreign_file(tmp_path):
    (tmp_path / "comparison.json").write_text("{}")
    with pytest.raises(UsageError, match="not a pinbench comparison"):
        compare.load_comparison(tmp_path)
