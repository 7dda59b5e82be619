"""`pinbench history`: the SQLite database and the change points.

The targets of issue 21, as seeded (so deterministic) tests:

* a planted 5% step in a deterministic series is found at the right commit,
  every time (exact values: no statistics);
* a 5% step in a timing series with pyperf-like noise is found in at least
  9 of 10 trials (36 of 40: ten trials alone would pass or fail on one);
* a flat timing series has no change point (40 of them).

The noise model is the one docs/history.md measures: each point is the mean
of 3 pyperf worker processes x 5 values (pinbench's default mode), each
process off by N(0, 2%) (a process lands on a fast or slow core), each
value by N(0, 1%), and one value in 20 hit by interference (+20%).
"""

from __future__ import annotations

import json
import shutil
import sqlite3

import numpy as np
import pytest

from pinbench.bench import history

from .helpers import assert_one_line_error, pinbench

TRIALS = 40
POINTS = 30
STEP_AT = 15


def pyperf_like(seed: int, step: float = 0.0, points: int = POINTS, at: int = STEP_AT) -> list:
    """A timing series (ns per task) with a step of ``step`` from point ``at``."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(points):
        level = 1000.0 * (1 + step if i >= at else 1)
        processes = level * (1 + rng.normal(0, 0.02, size=(3, 1)))
        values = processes * (1 + rng.normal(0, 0.01, size=(3, 5)))
        values = np.where(rng.random((3, 5)) < 0.05, values * 1.2, values)
        out.append(float(values.mean()))
    return out


def test_a_timing_step_of_5_percent_is_found_in_9_of_10_trials_and_a_flat_series_has_none():
    found, exact = 0, 0
    for seed in range(TRIALS):
        changes = history.timing_changes(pyperf_like(seed, 0.05))
        # Found: one change point, within one run of the step.
        found += len(changes) == 1 and abs(changes[0] - STEP_AT) <= 1
        exact += changes == [STEP_AT]
    print(f"\n5% timing step: found {found}/{TRIALS}, at the exact run {exact}/{TRIALS}")
    assert found >= TRIALS * 9 // 10
    false = [seed for seed in range(TRIALS) if history.timing_changes(pyperf_like(100 + seed))]
    assert false == []


def test_an_exact_series_changes_exactly_where_its_value_does():
    values = [1000] * STEP_AT + [1050] * (POINTS - STEP_AT)  # a planted 5% step
    assert history.exact_changes(values) == [STEP_AT]
    assert history.exact_changes([7] * 10) == []
    assert history.exact_changes([1, 1, 2, 1]) == [2, 3]  # a change back is a change too


def make_runs(source, root, count: int, edit) -> list:
    """``count`` copies of a results folder as runs of successive commits,
    each results.json edited by ``edit(doc, i)``."""
    folders = []
    for i in range(count):
        folder = root / f"run{i:02d}"
        shutil.copytree(source, folder)
        doc = json.loads((folder / "results.json").read_text())
        doc["environment"]["git_commit"] = f"{i:02d}" + "c" * 38
        doc["started"] = f"2026-01-{i + 1:02d}T00:00:00+00:00"
        edit(doc, i)
        (folder / "results.json").write_text(json.dumps(doc))
        folders.append(folder)
    return folders


@pytest.fixture(scope="module")
def counts_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("history") / "run"
    done = pinbench("run", "--quick", "--counts-only", "-w", "chain", "-s", "pinbox,rc", "-o", folder,
                    cwd=folder.parent)
    assert done.returncode == 0, done.stderr
    return folder


def test_history_add_show_report_find_a_planted_step_at_its_commit(counts_run, tmp_path):
    def plant(doc, i):  # pinbox allocates 5% more bytes from run 6 on
        for bench in doc["benchmarks"]:
            if bench["strategy"] == "pinbox" and i >= 6:
                bench["metrics"]["bytes_allocated"] = bench["metrics"]["bytes_allocated"] * 21 // 20

    runs = make_runs(counts_run, tmp_path, 10, plant)
    db = tmp_path / "h.sqlite"
    done = pinbench("history", "add", *runs, "--db", db, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = sqlite3.connect(db).execute("SELECT count(*) FROM measurements").fetchone()[0]
    again = pinbench("history", "add", runs[3], "--db", db, cwd=tmp_path)  # the same run twice: a no-op
    assert again.returncode == 0 and "already in the history" in again.stdout
    assert sqlite3.connect(db).execute("SELECT count(*) FROM measurements").fetchone()[0] == rows

    base = json.loads((counts_run / "results.json").read_text())
    before = next(b for b in base["benchmarks"] if b["strategy"] == "pinbox")["metrics"]["bytes_allocated"]
    after = before * 21 // 20
    (pinbox,) = [s for s in history.series(db, "bytes_allocated") if s.benchmark.endswith("/pinbox/system")]
    assert [(c.index, c.before_commit[:2], c.after_commit[:2], c.before, c.after) for c in pinbox.changes] == [
        (6, "05", "06", before, after)]
    assert [s.changes for s in history.series(db, "bytes_allocated") if "/rc/" in s.benchmark] == [[]]
    shown = pinbench("history", "show", "--metric", "bytes_allocated", "--db", db, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "1 change point(s) of bytes_allocated in 2 series" in shown.stdout
    assert f"05{'c' * 10}..06{'c' * 10} {before} -> {after} (+{after / before - 1:.1%})" in shown.stdout
    drawn = pinbench("history", "report", "--metric", "bytes_allocated", "--db", db, "-o", tmp_path / "fig",
                     cwd=tmp_path)
    assert drawn.returncode == 0, drawn.stderr
    assert (tmp_path / "fig" / "history-bytes_allocated.png").stat().st_size > 0
    # The checksum (above 2^63) comes back exactly.
    (series,) = [s for s in history.series(db, "checksum") if "/pinbox/" in s.benchmark]
    assert set(series.values) == {base["benchmarks"][0]["metrics"]["checksum"]} and series.values[0] > 2**63


def test_timing_series_are_per_machine(counts_run, tmp_path):
    values = pyperf_like(3, 0.05, points=12, at=6)

    def timed(doc, i):
        doc["environment"]["hostname"] = "one" if i % 2 else "two"
        for bench in doc["benchmarks"]:
            bench["metrics"]["ns_per_task_mean"] = values[i]

    db = tmp_path / "h.sqlite"
    assert pinbench("history", "add", *make_runs(counts_run, tmp_path, 12, timed), "--db", db,
                    cwd=tmp_path).returncode == 0
    found = history.series(db, "ns_per_task_mean", "/pinbox/")
    assert sorted(s.machine.split(" ")[0] for s in found) == ["one", "two"]
    assert all(len(s.values) == 6 for s in found)


def test_bad_history_input_is_one_line(counts_run, tmp_path):
    assert_one_line_error(pinbench("history", "show", "--db", tmp_path / "none.sqlite", cwd=tmp_path),
                          "no history database")
    (tmp_path / "junk.sqlite").write_text("not a database")
    assert_one_line_error(pinbench("history", "show", "--db", tmp_path / "junk.sqlite", cwd=tmp_path),
                          "is not a pinbench history database")
    db = tmp_path / "h.sqlite"
    assert pinbench("history", "add", counts_run, "--db", db, cwd=tmp_path).returncode == 0
    assert_one_line_error(pinbench("history", "show", "--metric", "nonsense", "--db", db, cwd=tmp_path),
                          "the history has no nonsense", "allocs")
    assert_one_line_error(pinbench("history", "add", tmp_path, "--db", db, cwd=tmp_path), "has no results.json")


def test_a_history_that_cannot_be_written_or_was_damaged_is_one_line(counts_run, tmp_path):
    """Found by an adversarial pass: each of these was a traceback, or wrote
    into a file that was not a history."""
    import os
    import stat

    db = tmp_path / "h.sqlite"
    assert pinbench("history", "add", counts_run, "--db", db, cwd=tmp_path).returncode == 0
    show = ("history", "show", "--metric", "allocs_per_task", "--db")
    # The figure's folder is a file.
    (tmp_path / "afile").write_text("x")
    assert_one_line_error(pinbench("history", "report", "--metric", "allocs_per_task", "--db", db,
                                   "-o", tmp_path / "afile", cwd=tmp_path), "cannot write", "afile")
    # A read-only history is read (show and report need no write permission); add says why it cannot.
    db.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    try:
        shown = pinbench(*show, db, cwd=tmp_path)
        assert shown.returncode == 0 and "change point(s) of allocs_per_task" in shown.stdout, shown.stderr
        if os.geteuid() != 0:  # root writes read-only files anyway
            assert_one_line_error(pinbench("history", "add", counts_run, "--db", db, cwd=tmp_path), "read-only")
    finally:
        db.chmod(stat.S_IRUSR | stat.S_IWUSR)
    # Another program's SQLite database is not read, and not written into.
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    before = other.read_bytes()
    assert_one_line_error(pinbench(*show, other, cwd=tmp_path), "is not a pinbench history database")
    assert other.read_bytes() == before
    # A folder where the file should be.
    assert_one_line_error(pinbench(*show, tmp_path, cwd=tmp_path), "is not a file")
    # A value that is not a number (edited by hand, another tool).
    with sqlite3.connect(db) as edit:
        edit.execute("UPDATE measurements SET value = 'abc' WHERE metric = 'allocs_per_task'")
    assert_one_line_error(pinbench(*show, db, cwd=tmp_path), "is damaged", "not a number")
