"""Merge the shards of one sweep (``run --shard K/N`` in N jobs) into one
results folder, and the shards of ``compare-branches --shard`` into one
comparison.

A merged run is a run like any other (results.json, metrics.csv,
pyperf.json), with two differences: each benchmark keeps the machine it ran
on (``"machine"``, which compare reads: a timing verdict only between the
same machine), and ``"merged"`` says which shards it holds. Shards must be
of one sweep: the same pinbench, commit, suite, options, engine and balance;
anything else is refused in one line, as are two folders of the same shard.
A missing shard is named; ``partial=True`` merges without it and marks the
run incomplete.

The output folder is written whole in a hidden folder beside it, then
renamed into place: a reader sees no folder or the finished one.
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from ..model.errors import UsageError
from . import compare as cmp
from .branches import write_arm
from .results import PYPERF_FILE, RESULTS_FILE, RunDocument, replace_folder, writing
from .records import BenchmarkRecord
from .shapes import COUNT, Fields, mismatch

write_run = write_arm  # one results folder: pyperf.json, metrics.csv, results.json (bench/commands/merge.py)

ARMS = ("a", "b")  # compare-branches' output: OUTDIR/a (base), OUTDIR/b (head)

# What the shards of one sweep share, in the order a disagreement is reported.
AGREEMENT = (
    ("commit", lambda doc: doc.environment.get("git_commit")),
    ("suite", lambda doc: doc.suite),
    ("options", lambda doc: (doc.mode, doc.timing, doc.shard.get("options"))),
    ("shard count", lambda doc: doc.shard["count"]),
    ("balance", lambda doc: doc.shard.get("balance")),
)
# ... and what shards that ran something share: an empty shard of
# compare-branches measured nothing, so no arm's pinbench or engine ran it.
MEASURED_AGREEMENT = (
    ("pinbench version", lambda doc: doc.pinbench_version),
    ("engine", lambda doc: doc.engine),
    ("instruction settings", lambda doc: doc.instructions),
)


HINTS = {
    # The default engine falls back to the interpreter when a job has too
    # much C left to compile (engine.MAX_DEFAULT_SOURCE), which depends on its cache.
    "engine": "; run every shard with the same --engine",
}


def is_comparison(folder) -> bool:
    """Whether ``folder`` is what compare-branches writes (a/ and b/)."""
    return all((Path(folder) / arm / RESULTS_FILE).is_file() for arm in ARMS)


# What merge reads of a shard beyond any run's fields (results.RUN_SHAPE).
SHARD_SHAPE = Fields(required={"shard": Fields(required={"index": COUNT, "count": COUNT})})


def _read_shard(folder) -> RunDocument:
    doc = RunDocument.read(folder)
    if doc.shard is None:
        raise UsageError(f"{folder} is not a shard (its run had no --shard K/N); merge joins the shards of one sweep")
    problem = mismatch({"shard": doc.shard}, SHARD_SHAPE)
    if problem is None and not 1 <= doc.shard["index"] <= doc.shard["count"]:
        problem = f"shard.index {doc.shard['index']} is not within 1 to shard.count {doc.shard['count']}"
    if problem:
        raise UsageError(f"{Path(folder) / RESULTS_FILE} is damaged: {problem}; re-run the shard")
    return doc


def _check_shards(folders: list, docs: list, partial: bool) -> list:
    """The shard numbers missing from ``docs``, after refusing shards of
    different sweeps and shards given twice."""
    measured = [(folder, doc) for folder, doc in zip(folders, docs) if doc.benchmarks]
    for group, rules in ((list(zip(folders, docs)), AGREEMENT), (measured, MEASURED_AGREEMENT)):
        if not group:
            continue
        first, reference = group[0]
        for folder, doc in group[1:]:
            for what, value in rules:
                if value(doc) != value(reference):
                    raise UsageError(
                        f"{folder} and {first} are not shards of one sweep: their {what} differs "
                        f"({_short(value(doc))} vs {_short(value(reference))}){HINTS.get(what, '')}"
                    )
    seen = {}
    for folder, doc in zip(folders, docs):
        index = doc.shard["index"]
        if index in seen:
            raise UsageError(f"{seen[index]} and {folder} are both shard {index}/{doc.shard['count']}: "
                             "the shards overlap; give each shard once")
        seen[index] = folder
    count = docs[0].shard["count"]  # the same in every shard (AGREEMENT)
    missing = [k for k in range(1, count + 1) if k not in seen]
    if missing and not partial:
        raise UsageError(
            f"shard(s) {', '.join(f'{k}/{count}' for k in missing)} missing; give every shard's folder, "
            "or pass --partial to merge what is here (marked incomplete)"
        )
    return missing


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def merge_runs(folders: list, partial: bool = False) -> tuple[RunDocument, list]:
    """``(results document, pyperf benchmarks)`` of the shards in
    ``folders``, benchmarks in the suite's order."""
    if not folders:
        raise UsageError("no shard folders given")
    docs = [_read_shard(folder) for folder in folders]
    missing = _check_shards(folders, docs, partial)
    entries, timed, where = [], {}, {}
    for folder, doc in zip(folders, docs):
        timings = {}
        if (Path(folder) / PYPERF_FILE).exists():
            timings = {b.get_name(): b for b in cmp.load_pyperf_suite(Path(folder) / PYPERF_FILE)}
        for order, entry in enumerate(doc.benchmarks):
            key = cmp.benchmark_key(entry)
            if key in where:
                raise UsageError(
                    f"{where[key]} and {folder} both ran {BenchmarkRecord.of(entry).label}: the shards overlap")
            where[key] = folder
            entry = dict(entry, machine=doc.machine_of(entry))
            case = entry.get("case")
            entries.append(((case if isinstance(case, int) else -1, doc.shard["index"], order), entry))
            name = BenchmarkRecord.of(entry).label
            if name in timings:
                timed[key] = timings[name]
    entries.sort(key=lambda item: item[0])
    first = copy.deepcopy(next((doc for doc in docs if doc.benchmarks), docs[0]))
    merged = replace(
        first,
        shard=None,
        benchmarks=[entry for _, entry in entries],
        complete=not missing and all(doc.complete for doc in docs),
        started=min(doc.started or "" for doc in docs) or None,
        finished=max(doc.finished or "" for doc in docs) or None,
        benchmarks_planned=(first.suite or {}).get("benchmarks", len(entries)),
        merged={"shards": first.shard["count"], "present": sorted(doc.shard["index"] for doc in docs),
                "missing": missing,
                "machines": len({tuple(sorted(e["machine"].items(), key=str)) for _, e in entries})},
        skipped=[s for doc in docs for s in doc.skipped],
    )
    pyperf_benchmarks = [timed[cmp.benchmark_key(e)] for _, e in entries if cmp.benchmark_key(e) in timed]
    return merged, pyperf_benchmarks


def merge_comparisons(folders: list, partial: bool = False) -> tuple[dict, dict]:
    """Each arm's shards merged (``{arm: (doc, pyperf benchmarks)}``) and
    one comparison of the merged arms, with the settings the shards were
    judged by and every shard's own notes (arms that could not run, bugs)."""
    arms = {arm: merge_runs([Path(folder) / arm for folder in folders], partial) for arm in ARMS}
    saved = [cmp.load_comparison(Path(folder) / "b") for folder in folders]
    for folder, comparison in zip(folders, saved):
        if comparison is None:
            raise UsageError(f"{folder} has no b/{cmp.COMPARISON_FILE}; give folders compare-branches --shard wrote")
        if comparison["settings"] != saved[0]["settings"]:
            raise UsageError(f"{folder} and {folders[0]} are not shards of one sweep: their gate settings differ")
    return arms, saved


def judge(staged: Path, saved: list) -> dict:
    """The one comparison of the merged arms in ``staged`` (saved in b/)."""
    settings = saved[0]["settings"]
    comparison = cmp.compare_runs(
        cmp.load_run(staged / "a"), cmp.load_run(staged / "b"), threshold=settings["threshold"],
        alpha=settings["alpha"], instructions_threshold=settings["instructions_threshold"],
        strict=settings["strict"], fail_on_change=settings["fail_on_change"],
    )
    branches = [c.get("branches") or {} for c in saved]
    info = {}  # refs, commits, rounds...: the same in every shard (an empty one records fewer)
    for shard in branches:
        comparison["warnings"] += shard.get("notes", [])
        info.update({k: v for k, v in shard.items() if k not in ("notes", "failed", "seconds")})
    comparison["branches"] = {
        **info,
        "seconds": round(sum(b.get("seconds", 0) for b in branches), 1),
        "failed": any(b.get("failed") for b in branches),
    }
    cmp.save_comparison(comparison, staged / "b")
    return comparison


@contextlib.contextmanager
def staging(out: Path, force: bool, inputs=()):
    """A hidden folder beside ``out`` to write into; renamed to ``out`` when
    the block ends well (with ``force`` replacing what was there,
    :func:`results.replace_folder`), removed otherwise. ``force`` replaces
    only a folder that holds a run or a comparison, and never one of the
    ``inputs``, a folder above them or the current folder."""
    out = Path(out)
    if out.is_symlink():
        raise UsageError(f"{out} is a link; give -o a folder's own path")
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder; choose another -o")
    where = out.resolve()
    for folder in [*inputs, Path.cwd()]:
        inside = Path(folder).resolve()
        if where == inside or where in inside.parents:
            what = "the current folder" if folder == Path.cwd() else f"the shard {folder}"
            raise UsageError(f"-o {out} would replace {what}, or a folder holding it; choose another -o")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise UsageError(f"{out} is not empty; choose another -o, or pass --force to replace it")
        if not ((out / RESULTS_FILE).is_file() or is_comparison(out)):
            raise UsageError(f"{out} holds no pinbench run or comparison, so --force leaves it alone; choose another -o")
    with writing(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield staged
        with writing(out):
            os.chmod(staged, 0o777 & ~_umask())  # mkdtemp's 0700 is for the half-written folder only
            if out.exists():
                replace_folder(out, staged)
            else:
                os.replace(staged, out)
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
