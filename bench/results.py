"""The results folder: ``results.json`` (every metric, the environment, how the
run was made) and ``metrics.csv`` (one tidy row per benchmark).

Both files are written atomically (temporary file in the same folder, fsync,
``os.replace``): a reader sees the previous complete version or the new one,
never half a file, even if the run is killed mid-write. ``results/README.md``
describes the format for users.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from ..model.errors import UsageError
from .environment import MACHINE_KEYS
from .formatting import params_text
from . import metrics as metrics_registry
from .metrics import CSV_COLUMNS
from .records import BenchmarkRecord
from .records import names as benchmark_names
from .shapes import (
    ANY_NUMBER,
    COUNT,
    FLAG,
    NUMBER,
    SCALAR,
    TEXT,
    DictOf,
    Fields,
    Kind,
    ListOf,
    OneOf,
    Opt,
    is_number,
    mismatch,
)

SCHEMA_VERSION = 1
# Marks a JSON document as ours, so a foreign results.json is told apart
# from a damaged one.
FORMAT = "pinbench-results"
RESULTS_FILE = "results.json"
CSV_FILE = "metrics.csv"
PYPERF_FILE = "pyperf.json"  # pyperf's own format: `python -m pyperf stats/compare_to` read it

KEY_COLUMNS = ("workload", "strategy", "allocator")
# metrics.csv: these follow the parameter columns, in this order (metrics.py).
METRIC_COLUMNS = CSV_COLUMNS
# A parameter whose name is already a column (chain's `tasks` parameter
# versus the `tasks` metric, which also counts spawned tasks) gets this prefix.
PARAM_PREFIX = "param_"
_FIXED_COLUMNS = frozenset(KEY_COLUMNS + METRIC_COLUMNS)
# Optional keys of a run, kept as they are: which suite it ran (docs/scaling.md),
# which shard of it (run --shard), which shards a merged run holds (merge),
# which arm of a compare-branches job it is.
RUN_EXTRAS = ("suite", "shard", "merged", "branch_run")
# Optional keys of a benchmark entry: the workload file it came from, its wall
# time in seconds (what --balance reads), its case's position in a sharded
# suite, and, in a merged run, the machine it ran on (environment.MACHINE_KEYS).
ENTRY_EXTRAS = ("workload_file", "seconds", "case", "machine")


# What every command may read of a results document (bench/shapes.py): a
# field of another type is one line naming it, never a traceback.
PARAM_VALUE = Kind("a string, number or true/false", lambda v: isinstance(v, (str, bool)) or is_number(v))
BENCHMARK_SHAPE = Fields(
    required={"workload": TEXT, "strategy": TEXT, "allocator": TEXT, "params": DictOf(PARAM_VALUE),
              "metrics": Fields(optional={m.name: Opt(FLAG if m.unit == metrics_registry.FLAG else ANY_NUMBER)
                                          for m in metrics_registry.METRICS})},
    optional={"workload_file": TEXT, "seconds": NUMBER, "case": Opt(COUNT), "machine": DictOf(SCALAR)},
)
RUN_SHAPE = Fields(
    required={"benchmarks": ListOf(BENCHMARK_SHAPE)},
    optional={
        "pinbench_version": TEXT, "complete": FLAG, "command": ListOf(TEXT), "mode": TEXT, "timing": FLAG,
        "instructions": Opt(DictOf(OneOf("a string, number or list", (SCALAR, ListOf(SCALAR))))),
        "started": Opt(TEXT), "finished": Opt(TEXT), "benchmarks_planned": COUNT,
        "environment": Fields(optional={"git_commit": Opt(TEXT)}, others=SCALAR),  # the commit is cut and joined
        "engine": DictOf(TEXT),
        "skipped": ListOf(Fields(required={"benchmark": TEXT, "reason": TEXT})),
        "suite": Fields(optional={"name": TEXT, "selection": TEXT, "digest": TEXT, "benchmarks": COUNT}),
        "shard": Fields(required={"index": COUNT, "count": COUNT},
                        optional={"cases": COUNT, "suite_cases": COUNT, "balance": TEXT, "options": DictOf(SCALAR)}),
        "merged": Fields(optional={"shards": COUNT, "present": ListOf(COUNT), "missing": ListOf(COUNT),
                                   "machines": COUNT}),
        "branch_run": DictOf(SCALAR),
    },
)


# -- writing ----------------------------------------------------------------


@contextlib.contextmanager
def writing(path):
    """Turn a failed write under ``path`` (a read-only folder, a full disk)
    into a one-line UsageError naming it."""
    try:
        yield
    except OSError as error:
        raise UsageError(
            f"cannot write {path}: {error.strerror or error}; check the folder's permissions and free "
            "space, or choose another folder"
        ) from None


def atomic_write_text(path, text: str, check=None):
    """Replace ``path`` with ``text`` atomically (same-folder temporary file,
    flush + fsync, ``os.replace``); the temporary file never outlives a failure.
    ``check(temporary path)``, if given, may refuse the text by raising
    before it takes ``path``'s name."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        if check is not None:
            check(tmp)
        os.replace(tmp, path)
    except BaseException:  # KeyboardInterrupt included: leave no temporary file
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def replace_folder(folder: Path, staging: Path) -> None:
    """Put the complete new folder ``staging`` in the place of ``folder``
    (a run, a merged run or comparison): every file of the old one goes with
    it. Two renames, so at every moment one of them is whole on disk (the
    old one under a hidden name for an instant)."""
    old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
    try:
        os.replace(folder, old)
        os.replace(staging, folder)
    except OSError as error:
        with contextlib.suppress(OSError):
            if not folder.exists():
                os.replace(old, folder)
        raise UsageError(
            f"cannot replace {folder} with the new one: {error.strerror}; the new one is in {staging}"
        ) from None
    shutil.rmtree(old, ignore_errors=True)


def _fsync_dir(folder: Path):
    """Make the rename itself durable (best effort: not every OS allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass
class RunDocument:
    """A results document (``results.json``) as a value: the run's facts
    as fields, its benchmarks as the entries they are on disk (dicts:
    workload, strategy, allocator, params, metrics and the
    :data:`ENTRY_EXTRAS`; :attr:`records` names them). Every command reads
    a run with :meth:`read` and writes one with :meth:`write`, so the
    file's layout is made in one place (:meth:`to_dict`).

    A field the document lacks reads as None (``mode``, ``started``,
    ``benchmarks_planned``, ``pinbench_version``...) or empty (``command``,
    ``environment``, ``engine``, ``skipped``): each reader says what it
    shows for it. Keys this pinbench does not know are kept in ``other``."""

    benchmarks: list = field(default_factory=list)
    complete: bool | None = False
    command: list = field(default_factory=list)
    mode: str | None = "default"  # "quick" or "default"
    timing: bool | None = False
    instructions: dict | None = None  # how instruction counts were made (--instructions), or None
    started: str | None = None  # ISO times
    finished: str | None = None
    benchmarks_planned: int | None = None  # None: as many as there are
    environment: dict = field(default_factory=dict)
    engine: dict = field(default_factory=dict)  # empty in runs from before the compiled engine
    skipped: list = field(default_factory=list)  # benchmarks of a suite that did not fit: {benchmark, reason}
    suite: dict | None = None
    shard: dict | None = None
    merged: dict | None = None
    branch_run: dict | None = None
    pinbench_version: str | None = __version__
    other: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, doc: dict) -> RunDocument:
        """The run of a results document (as :func:`read_results` checked it)."""
        known = {name: doc.get(name) for name in _FIELDS if name in doc}
        for name in ("command", "environment", "engine", "skipped"):
            known[name] = known.get(name) or type(_DEFAULTS[name])()
        for name in ("mode", "pinbench_version", "complete", "timing"):
            known.setdefault(name, None)
        other = {key: value for key, value in doc.items() if key not in _FIELDS and key not in _HEADER}
        return cls(**known, other=other)

    @classmethod
    def read(cls, folder) -> RunDocument:
        """The run in ``folder`` (or at a results.json path); every problem
        is a one-line UsageError (:func:`read_results`)."""
        return cls.from_dict(read_results(folder))

    def to_dict(self) -> dict:
        """The results.json document: its keys in one order, the optional
        ones only when they hold something."""
        doc = {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "pinbench_version": self.pinbench_version,
            "complete": bool(self.complete),
            "command": list(self.command),
            "mode": self.mode,
            "timing": bool(self.timing),
            "instructions": self.instructions,
            "started": self.started,
            "finished": self.finished,
            "benchmarks_planned": len(self.benchmarks) if self.benchmarks_planned is None else self.benchmarks_planned,
            "environment": self.environment,
            "benchmarks": [entry_document(entry) for entry in self.benchmarks],
        }
        if self.skipped:
            doc["skipped"] = [dict(s) for s in self.skipped]
        if self.engine:
            doc["engine"] = dict(self.engine)
        for key in RUN_EXTRAS:
            if getattr(self, key) is not None:
                doc[key] = getattr(self, key)
        doc.update(self.other)
        return doc

    def write(self, folder) -> Path:
        """``metrics.csv``, then ``results.json``, into ``folder``: whenever
        results.json exists the CSV next to it is at least as new."""
        folder = Path(folder)
        write_document(folder, self.to_dict())
        return folder

    @property
    def records(self) -> list:
        """Each benchmark's identity (:class:`records.BenchmarkRecord`), in order."""
        return [BenchmarkRecord.of(entry) for entry in self.benchmarks]

    def names(self) -> dict:
        """``{key: short name}`` of the benchmarks (:func:`records.names`)."""
        return benchmark_names(self.benchmarks)

    @property
    def strategies(self) -> list:
        """The strategies of the benchmarks, in order of first appearance."""
        return list(dict.fromkeys(entry["strategy"] for entry in self.benchmarks))

    @property
    def all_done(self) -> bool:
        """Every planned benchmark finished, or was skipped because it does not fit."""
        return len(self.benchmarks) + len(self.skipped) == self.benchmarks_planned

    def machine_of(self, entry: dict) -> dict:
        """The machine a benchmark ran on (:data:`environment.MACHINE_KEYS`):
        its own in a merged run, where each shard's benchmarks keep theirs,
        else the run's."""
        return entry.get("machine") or {key: self.environment.get(key) for key in MACHINE_KEYS}


_HEADER = ("format", "schema_version")  # constants: the document is pinbench's, of this schema
_FIELDS = tuple(name for name in RunDocument.__dataclass_fields__ if name != "other")
_DEFAULTS = RunDocument()
_DEFAULTS = {name: getattr(_DEFAULTS, name) for name in _FIELDS}


def entry_document(bench: dict) -> dict:
    """A benchmark's entry as results.json holds it: the five keys, then
    the :data:`ENTRY_EXTRAS` that hold something."""
    entry = {
        "workload": bench["workload"],
        "strategy": bench["strategy"],
        "allocator": bench["allocator"],
        "params": dict(bench.get("params", {})),
        "metrics": storable_metrics(bench["metrics"]),
    }
    for key in ENTRY_EXTRAS:
        if bench.get(key) is not None:
            entry[key] = bench[key]
    return entry


def _scalar(value):
    """A JSON scalar for ``value`` (numpy scalars unwrapped), else None."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value, True
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:
        return item(), True
    return None, False


def storable_metrics(metrics: dict) -> dict:
    """The metrics that belong in results.json: scalars, and flat dicts of
    scalars (``frame_bytes``). Raw sample arrays (the executor's per-task
    latencies) are left out: they are summarized elsewhere, not stored."""
    kept = {}
    for name, value in metrics.items():
        if isinstance(value, dict):
            pairs = {str(k): _scalar(v) for k, v in value.items()}
            if all(ok for _, ok in pairs.values()):
                kept[name] = {k: v for k, (v, _) in pairs.items()}
            continue
        value, ok = _scalar(value)
        if ok:
            kept[name] = value
    return kept


def write_results(folder, run: dict) -> Path:
    """Write ``results.json`` and ``metrics.csv`` for a run given as a dict
    of :class:`RunDocument`'s fields into ``folder``."""
    return RunDocument(**run).write(folder)


def write_document(folder: Path, doc: dict) -> None:
    """``metrics.csv``, then ``results.json``, of a results document."""
    csv_text = metrics_csv(doc)
    with writing(folder):
        atomic_write_text(folder / CSV_FILE, csv_text)
        atomic_write_text(folder / RESULTS_FILE, json.dumps(doc, indent=2) + "\n")


def write_pyperf(folder, benchmarks: list) -> None:
    """pyperf's own JSON for the timed benchmarks, written atomically."""
    import pyperf  # deferred: pyperf loads only when a run is timed

    if not benchmarks:
        return
    path = Path(folder) / PYPERF_FILE
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with writing(path):
            pyperf.BenchmarkSuite(benchmarks).dump(str(tmp), replace=True)
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


# -- reading ----------------------------------------------------------------


def load_json(path: Path):
    """A JSON file's content; an unreadable, non-UTF-8 or damaged file is a
    one-line UsageError (results.json and pyperf.json alike)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text; the file is damaged") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(
            f"{path} is not valid JSON (truncated or damaged? {error.msg} at line "
            f"{error.lineno}, column {error.colno}); re-run the benchmarks"
        ) from None
    except RecursionError:  # the C parser stops at Python's recursion limit
        raise UsageError(
            f"{path} nests arrays or objects hundreds of levels deep, which no file pinbench writes "
            "does; it is damaged or not pinbench's: re-run the benchmarks"
        ) from None


def read_results(folder) -> dict:
    """The results document in ``folder`` (or at a results.json path).

    Every problem is a one-line UsageError: no such folder, no results.json,
    unreadable or truncated JSON, a JSON document that is not pinbench
    results, or a schema version this pinbench cannot read.
    """
    folder = Path(folder)
    if folder.name == RESULTS_FILE and folder.is_file():
        folder = folder.parent
    if not folder.exists():
        raise UsageError(f"no results folder at {folder}; give the folder a `pinbench run` wrote")
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder; give the folder a `pinbench run` wrote")
    path = folder / RESULTS_FILE
    if not path.is_file():
        raise UsageError(
            f"{folder} has no {RESULTS_FILE}; it is not a pinbench results folder "
            "(or its run finished no benchmark)"
        )
    doc = load_json(path)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise UsageError(
            f"{path} is not a pinbench results document (no \"format\": \"{FORMAT}\"); "
            "give a folder a `pinbench run` wrote"
        )
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        hint = (
            "written by a newer pinbench; upgrade pinbench"
            if isinstance(version, int) and version > SCHEMA_VERSION
            else "re-run the benchmarks"
        )
        raise UsageError(
            f"{path} has schema_version {version!r}, but pinbench {__version__} reads "
            f"schema_version {SCHEMA_VERSION} only ({hint})"
        )
    _check_document(path, doc)
    return doc


def _check_document(path: Path, doc: dict):
    problem = mismatch(doc, RUN_SHAPE)
    if problem:
        raise UsageError(f"{path} is damaged: {problem}; re-run the benchmarks")


# -- the table ----------------------------------------------------------------


def param_column(name: str) -> str:
    """The metrics.csv column of parameter ``name``."""
    return PARAM_PREFIX + name if name in _FIXED_COLUMNS else name


def param_names(doc: dict) -> list:
    """Every parameter name in the document, in order of first appearance."""
    names = []
    for bench in doc["benchmarks"]:
        for name in bench["params"]:
            if name not in names:
                names.append(name)
    return names


def metrics_table(doc: dict) -> tuple:
    """The metrics.csv table of a results document: (columns, rows), one
    row per benchmark; workload, strategy, allocator, one column per
    parameter (None where a workload lacks it), then METRIC_COLUMNS."""
    names = param_names(doc)
    columns = list(KEY_COLUMNS) + [param_column(n) for n in names] + list(METRIC_COLUMNS)
    rows = []
    for bench in doc["benchmarks"]:
        row = [bench[key] for key in KEY_COLUMNS]
        row += [bench["params"].get(name) for name in names]
        row += [bench["metrics"].get(metric) for metric in METRIC_COLUMNS]
        rows.append(row)
    return columns, rows


def _csv_field(value) -> str:
    """A value as metrics.csv writes it: exact ints (checksums are u64), a
    float's shortest repr, empty for a missing one."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


def metrics_csv(doc: dict) -> str:
    """metrics.csv's text (the csv module: a run writes it after every
    benchmark, and pandas would cost each run process a third of a second
    to import)."""
    columns, rows = metrics_table(doc)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_csv_field(value) for value in row] for row in rows)
    return out.getvalue()


# -- analysis of a results document ---------------------------------------------------


def find_problems(doc: RunDocument) -> list:
    """Bugs visible in a results document: live blocks or bytes at the end
    of a run (a leak), and checksums that differ within one workload and
    parameter set (a strategy or allocator that computes something else)."""
    problems = []
    checksums = {}
    for bench in doc.benchmarks:
        m = bench["metrics"]
        record = BenchmarkRecord.of(bench)
        where = record.described
        blocks, nbytes = m.get("live_blocks_end"), m.get("live_bytes_end")
        if blocks or nbytes:
            problems.append(f"{where} ended with {blocks} live blocks ({nbytes} bytes): frames leaked")
        if m.get("runtime_live_end"):
            problems.append(f"{where} ended with {m['runtime_live_end']} bytes of runtime task objects live: leaked")
        checksums.setdefault(record.case, {}).setdefault(m.get("checksum"), []).append(record.variant)
    for (workload, _, params), by_value in checksums.items():
        if len(by_value) > 1:
            detail = "; ".join(f"{value} from {', '.join(who)}" for value, who in by_value.items())
            problems.append(f"{workload} {params_text(dict(params))}: checksums differ ({detail})")
    return problems


def groups(doc: RunDocument) -> list:
    """Benchmarks grouped by workload and parameters, in document order."""
    groups = {}
    for bench in doc.benchmarks:
        groups.setdefault(BenchmarkRecord.of(bench).case, []).append(bench)
    return list(groups.values())
