"""The history of runs: an SQLite database of every metric of every run
added, its series per benchmark, and the change points in each series.

One table, one row per measured value, keyed by where it comes from::

    measurements(commit_sha, date, machine, suite, engine, benchmark, metric, value)

``date`` is when the run started (runs of one commit are told apart by
it), ``machine`` where the benchmark ran (a merged run's benchmarks each
keep their own), ``suite`` the run's mode and suite flags
(``quick -w all -s all -a all``), ``benchmark`` the pyperf name
(``chain[depth=8,...]/pinbox/system``). Adding a run twice inserts
nothing (``INSERT OR IGNORE`` on that key). ``value`` has no declared type:
counts stay exact integers, times are floats, and a checksum above 2^63
(SQLite's integers are signed 64-bit) is kept as its decimal text.

A series is one metric of one benchmark of one suite and engine, in the
order the runs started. Deterministic metrics (counts, instruction counts:
the same on every machine) form one series across machines; measured ones
(times) one series per machine, since times compare only within one.

Change points:

* deterministic series: any change of the value is a change point, at the
  first run that has the new value. No statistics: the values are exact.
* measured series: ruptures' PELT search (``ruptures.Pelt``, least-squares
  cost, so a change of the mean) on the series divided by its median, with
  the penalty ruptures' documentation gives for that cost,
  ``sigma^2 log(n)``, times :data:`PENALTY_FACTOR`; sigma is the series'
  noise, estimated robustly from successive differences (the median
  absolute deviation, so a step does not inflate it). Each segment holds at
  least :data:`MIN_SEGMENT` runs, so one outlier is no change.
  ``docs/history.md`` has the measured sensitivity.
"""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..model.errors import UsageError
from .records import BenchmarkRecord
from .engine import engine_text
from .metrics import BY_NAME
from .results import RunDocument

DEFAULT_DB = Path("results") / "history.sqlite"
SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS measurements (
    commit_sha TEXT NOT NULL,
    date TEXT NOT NULL,
    machine TEXT NOT NULL,
    suite TEXT NOT NULL,
    engine TEXT NOT NULL,
    benchmark TEXT NOT NULL,
    metric TEXT NOT NULL,
    value,
    PRIMARY KEY (commit_sha, date, machine, suite, engine, benchmark, metric)
) WITHOUT ROWID
"""
_INT64 = (-(1 << 63), (1 << 63) - 1)

# Timing change points (see the module docstring; docs/history.md measures them).
PENALTY_FACTOR = 6.0
MIN_SEGMENT = 3


# -- the database ------------------------------------------------------------------


@contextlib.contextmanager
def database(path, create: bool = False):
    """An open connection to the history at ``path``: writable and created
    when missing with ``create`` (history add), else read-only, so reading
    needs no write permission and never writes into a file that is not a
    history. Committed when the block ends well; every problem is one line."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise UsageError(f"{path} is not a file; give --db the history database's file")
    if not create and not path.is_file():
        raise UsageError(f"no history database at {path}; `pinbench history add RUN` makes one (or pass --db)")
    if create and path.is_file() and not os.access(path, os.W_OK):
        raise UsageError(f"{path} is read-only; history add writes into it (make it writable or choose another --db)")
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path)
        else:
            db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except (OSError, sqlite3.Error) as error:
        raise UsageError(
            f"cannot open the history database {path}: {error}; check that its folder exists and is writable, "
            "or choose another --db"
        ) from None
    try:
        with db:  # one transaction: a failed add leaves the database as it was
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise UsageError(f"{path} has history schema {version}; this pinbench reads {SCHEMA_VERSION} only")
            if create:
                db.execute(SCHEMA)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif version != SCHEMA_VERSION:
                raise UsageError(f"{path} is not a pinbench history database; `pinbench history add RUN` makes one")
            yield db
    except sqlite3.Error as error:
        raise UsageError(f"{path} is not a pinbench history database ({error})") from None
    finally:
        db.close()


def machine_name(machine: dict) -> str:
    """One machine as text: host (cpu, cores)."""
    return f"{machine.get('hostname')} ({machine.get('cpu')}, {machine.get('logical_cores')} cores)"


def suite_name(doc: RunDocument) -> str:
    """The run's mode and suite flags (runs from before pinbench recorded
    the flags: the mode alone)."""
    selection = (doc.suite or {}).get("selection")
    mode = "default" if doc.mode is None else doc.mode
    return f"{mode} {selection}" if selection else str(mode)


def _stored(value):
    """A metric value as SQLite keeps it exactly; None for what is no number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, int) and not _INT64[0] <= value <= _INT64[1]:
        return str(value)
    return value


def rows_of(folder) -> list:
    """The measurement rows of one results folder."""
    doc = RunDocument.read(folder)
    commit = doc.environment.get("git_commit")
    if not commit:
        raise UsageError(f"{folder} records no git commit (a run outside a pinbench checkout); "
                         "the history orders runs by commit")
    if not doc.started:
        raise UsageError(f"{folder} records no start date; the history orders runs by it")
    suite, engine = suite_name(doc), engine_text(doc)
    rows = []
    for entry in doc.benchmarks:
        machine = machine_name(doc.machine_of(entry))
        name = BenchmarkRecord.of(entry).label
        for metric, value in entry["metrics"].items():
            value = _stored(value)
            if value is not None:
                rows.append((commit, doc.started, machine, suite, engine, name, metric, value))
    return rows


def add_runs(db_path, folders: list) -> list:
    """Add every folder's run; ``[(folder, rows added, rows in the run)]``.
    Every folder is read before anything is written."""
    runs = [(folder, rows_of(folder)) for folder in folders]
    out = []
    with database(db_path, create=True) as db:
        for folder, rows in runs:
            before = db.total_changes
            db.executemany("INSERT OR IGNORE INTO measurements VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            out.append((folder, db.total_changes - before, len(rows)))
    return out


# -- series and change points --------------------------------------------------------


@dataclass
class ChangePoint:
    index: int  # the first point with the new level
    before_commit: str  # the last commit at the old level
    after_commit: str  # the first commit at the new level
    before: float  # the old level (value, or segment mean)
    after: float

    @property
    def size(self) -> float | None:
        """The relative change, e.g. 0.05 for 5% more (None from zero)."""
        return (self.after - self.before) / self.before if self.before else None


@dataclass
class Series:
    benchmark: str
    suite: str
    engine: str
    machine: str | None  # None: a deterministic metric, one series across machines
    dates: list = field(default_factory=list)
    commits: list = field(default_factory=list)
    values: list = field(default_factory=list)
    changes: list = field(default_factory=list)


def deterministic(metric: str) -> bool:
    """Counts and instruction counts are exact; undeclared metrics are not."""
    return BY_NAME[metric].deterministic if metric in BY_NAME else False


def series(db_path, metric: str, benchmark: str | None = None) -> list:
    """Every series of ``metric`` (benchmarks whose name contains
    ``benchmark``), its points in date order and its change points."""
    exact = deterministic(metric)
    with database(db_path) as db:
        rows = db.execute(
            "SELECT benchmark, suite, engine, machine, date, commit_sha, value FROM measurements "
            "WHERE metric = ? AND instr(benchmark, ?) > 0 ORDER BY benchmark, suite, engine, date, machine",
            (metric, benchmark or ""),
        ).fetchall()
        if not rows:
            known = [m for (m,) in db.execute("SELECT DISTINCT metric FROM measurements ORDER BY metric")]
            what = f" of a benchmark matching '{benchmark}'" if benchmark else ""
            raise UsageError(f"the history has no {metric}{what}; it has: {', '.join(known) or 'nothing yet'}")
    found = {}
    for name, suite, engine, machine, date, commit, value in rows:
        key = (name, suite, engine, None if exact else machine)
        one = found.setdefault(key, Series(*key))
        one.dates.append(date)
        one.commits.append(commit)
        one.values.append(_stored_value(db_path, name, value))
    for one in found.values():
        indices = exact_changes(one.values) if exact else timing_changes(one.values)
        one.changes = [_change_point(one, i, exact, indices) for i in indices]
    return list(found.values())


def _stored_value(db_path, benchmark: str, value):
    """A value as add stored it: a number, or an integer too large for
    SQLite as its decimal text; anything else means the file was damaged."""
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value):
        return value
    raise UsageError(
        f"{db_path} is damaged: {benchmark} has the value {value!r:.40}, not a number; "
        "rebuild the history with pinbench history add"
    )


def exact_changes(values: list) -> list:
    """Where an exact series changes: every index whose value differs from
    the one before. Exact values need no statistics."""
    return [i for i in range(1, len(values)) if values[i] != values[i - 1]]


def timing_changes(values: list) -> list:
    """Where a measured series changes level, by ruptures' PELT (see the
    module docstring): the first index of each new segment."""
    import ruptures  # deferred: loaded only when a measured series is read

    x = np.asarray(values, dtype=float)
    if len(x) < 2 * MIN_SEGMENT or not np.all(np.isfinite(x)) or np.median(x) <= 0:
        return []
    x = x / np.median(x)
    steps = np.diff(x)
    sigma = 1.4826 * np.median(np.abs(steps - np.median(steps))) / np.sqrt(2)
    if sigma == 0:  # a flat series, or one too coarse to have noise
        return exact_changes(list(x))
    penalty = PENALTY_FACTOR * sigma**2 * np.log(len(x))
    ends = ruptures.Pelt(model="l2", min_size=MIN_SEGMENT, jump=1).fit(x.reshape(-1, 1)).predict(pen=penalty)
    return [int(end) for end in ends[:-1]]


def _change_point(one: Series, index: int, exact: bool, indices: list) -> ChangePoint:
    if exact:
        before, after = one.values[index - 1], one.values[index]
    else:  # the means of the segments on either side
        bounds = [0, *indices, len(one.values)]
        k = bounds.index(index)
        before = float(np.mean(one.values[bounds[k - 1]:index]))
        after = float(np.mean(one.values[index:bounds[k + 1]]))
    return ChangePoint(index, one.commits[index - 1], one.commits[index], before, after)
