"""Compare two results folders: what changed, and did anything regress?

Pure functions on two loaded runs (a results document plus, when the run was
timed, pyperf's values from its ``pyperf.json``); rendering lives in
:mod:`compare_report`, git worktrees and interleaved runs in :mod:`branches`.
``docs/comparing.md`` explains the rules for users.

* Benchmarks are matched by workload, strategy, allocator and parameters.
  One present on one side only is listed (``--strict`` makes it a failure).
* Deterministic metrics (:data:`metrics.DETERMINISTIC`) are compared
  exactly. Every change is listed; an increase in allocations, bytes
  allocated, peak live bytes or blocks left live at the end (a leak), or any
  change of the checksum, is a **regression**.
* Timing: the unit is one pyperf run (a worker process; its values are
  averaged), because values from one process share its luck on a busy
  machine. :mod:`statistics` gives the ratio HEAD/BASE of the mean time per
  task, its bootstrap interval and a Mann-Whitney p-value, adjusted across
  the comparison's benchmarks. A timing regression needs both: adjusted
  p < alpha (0.01), and the whole interval above ``1 + threshold`` ("slower
  by more than the threshold, with 95% confidence"). Within-run spread
  understates job-to-job drift, hence the minimum effect on top of
  significance (and why compare-branches interleaves its arms).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..model.errors import UsageError
from .engine import engine_of
from .environment import MACHINE_KEYS
from .results import PYPERF_FILE, RESULTS_FILE, RunDocument, atomic_write_text, load_json, writing
from .formatting import parse_float
from .records import BenchmarkRecord, names as benchmark_names
from .metrics import CHANGE, COMPARED, INCREASE, INCREASE_BEYOND_THRESHOLD, OPTIONAL, regression
from .statistics import (
    BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, CONFIDENCE, DEFAULT_ALPHA, DEFAULT_THRESHOLD,
    adjust_p_values, judge_timing, raw_timing_statistics, smallest_p_value,
)
from .shapes import FLAG, NUMBER, TEXT, Fields, ListOf, Opt, mismatch

COMPARISON_FORMAT = "pinbench-comparison"
COMPARISON_SCHEMA_VERSION = 1
COMPARISON_FILE = "comparison.json"

# An instruction count (--instructions) that grows by more than this fails.
# Counts are exact for one binary; 1% is far above what a different heap
# layout or path length moves them (about 0.1%), and far below a real slowdown.
DEFAULT_INSTRUCTIONS_THRESHOLD = 0.01
# What fails the gate is declared per metric in metrics.py: an increase of
# allocations, bytes, peak live bytes or live_*_end (a leak), any change of
# the checksum. Changes are listed in metrics.COMPARED order.

# Benchmark status, worst first.
REGRESSION, CHANGED, IMPROVED, UNCHANGED = "regression", "changed", "improved", "unchanged"


# -- loading ------------------------------------------------------------------


def benchmark_key(entry: dict) -> str:
    """What matches a results document's benchmark entry across two runs
    (:attr:`records.BenchmarkRecord.key`)."""
    return BenchmarkRecord.of(entry).key


def read_pyperf_values(path) -> dict:
    """``{benchmark name: [[seconds per task, ...] per pyperf run]}`` from a
    pyperf.json file: one list per worker process that measured values
    (calibration runs, which hold only warm-ups, are left out).

    A damaged or foreign file is a one-line UsageError."""
    return {bench.get_name(): [[float(v) for v in run.values] for run in bench.get_runs() if run.values]
            for bench in load_pyperf_suite(path)}


def load_pyperf_suite(path):
    """A pyperf.json file as pyperf reads it (``pyperf.BenchmarkSuite``);
    a damaged or foreign file is a one-line UsageError."""
    import pyperf  # deferred: pyperf loads only when timing is read

    path = Path(path)
    load_json(path)  # a damaged file fails here with one clear line, not inside pyperf
    try:
        suite = pyperf.BenchmarkSuite.load(str(path))
        for bench in suite:  # a foreign document fails here or in the load
            bench.get_name(), bench.get_runs()
    except Exception as error:  # pyperf raises many kinds on a foreign document
        raise UsageError(
            f"{path} is not a pyperf benchmark file ({type(error).__name__}: {error}); "
            "give a folder a `pinbench run` wrote"
        ) from None
    return suite


def load_run(folder) -> dict:
    """A results folder for comparing: ``{"path", "doc", "values"}``.

    ``values`` maps :func:`benchmark_key` to pyperf's values (seconds per
    task), one list per pyperf run (worker process), or is ``None`` when the
    folder has no pyperf.json (a ``--counts-only`` run: no timing to
    compare)."""
    path = Path(folder)
    if path.name == RESULTS_FILE and path.is_file():
        path = path.parent
    doc = RunDocument.read(path)
    values = None
    pyperf_path = path / PYPERF_FILE
    if pyperf_path.exists():
        by_name = read_pyperf_values(pyperf_path)
        values = {}
        for entry in doc.benchmarks:
            found = by_name.get(BenchmarkRecord.of(entry).label)
            if found:
                values[benchmark_key(entry)] = found
    return {"path": str(folder), "doc": doc, "values": values}


# -- deterministic metrics -------------------------------------------------------


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value) -> bool:
    return _number(value) and math.isfinite(value)


def _same(base, head) -> bool:
    """Equal values (1 == 1.0: a number is the same in an int or a float
    column), NaN included: a damaged file read twice is not a change."""
    return base == head or (_number(base) and _number(head) and math.isnan(base) and math.isnan(head))


def _change(metric: str, base, head, instructions_threshold: float = DEFAULT_INSTRUCTIONS_THRESHOLD) -> dict:
    kind = "change"
    numbers = _finite(base) and _finite(head)
    direction = regression(metric)
    if direction == CHANGE:
        kind = "regression"
    elif direction == INCREASE and numbers:
        kind = "regression" if head > base else "improvement"
    elif direction == INCREASE_BEYOND_THRESHOLD and numbers and base:
        relative = (head - base) / base
        if relative > instructions_threshold:
            kind = "regression"
        elif relative < -instructions_threshold:
            kind = "improvement"
    elif direction in (INCREASE, INCREASE_BEYOND_THRESHOLD) and base is not None and head is not None \
            and not _finite(head):
        kind = "regression"  # NaN or infinity where a count belongs: never "better"
    change = {"metric": metric, "base": base, "head": head, "kind": kind, "delta": None, "relative": None}
    if numbers and direction != CHANGE:
        change["delta"] = head - base
        change["relative"] = (head - base) / base if base else None
    return change


def deterministic_changes(base_metrics: dict, head_metrics: dict,
                          instructions_threshold: float = DEFAULT_INSTRUCTIONS_THRESHOLD) -> list:
    """Every deterministic metric whose value differs, exactly (no tolerance).
    An optional metric (instruction counts) is compared only where both
    sides have it."""
    changes = []
    for metric in COMPARED:
        base, head = base_metrics.get(metric), head_metrics.get(metric)
        if base is None and head is None or metric in OPTIONAL and (base is None or head is None):
            continue
        if not _same(base, head):
            changes.append(_change(metric, base, head, instructions_threshold))
    # The frame size of every function (a dict per benchmark), one change per function.
    base_frames = base_metrics.get("frame_bytes") or {}
    head_frames = head_metrics.get("frame_bytes") or {}
    if isinstance(base_frames, dict) and isinstance(head_frames, dict):
        for name in dict.fromkeys(list(base_frames) + list(head_frames)):
            if base_frames.get(name) != head_frames.get(name):
                changes.append(_change(f"frame_bytes[{name}]", base_frames.get(name), head_frames.get(name)))
    return changes


# -- the comparison ----------------------------------------------------------------


def _side(run: dict) -> dict:
    doc = run["doc"]
    env = doc.environment
    return {
        "path": run["path"],
        "commit": env.get("git_commit"),
        "dirty": env.get("git_dirty"),
        "ref": (doc.branch_run or {}).get("ref"),
        "mode": doc.mode,
        "timing": run["values"] is not None,
        "complete": bool(doc.complete),
        "benchmarks": len(doc.benchmarks),
        "hostname": env.get("hostname"),
        "cpu": env.get("cpu"),
        "started": doc.started,
        "pinbench_version": doc.pinbench_version,
    }


TOOLCHAIN_KEYS = ("python", "python_implementation", "compiler", "numpy", "cython")


def _warnings(base: dict, head: dict, timing: bool) -> list:
    out = []
    benv = base["doc"].environment
    henv = head["doc"].environment
    effect = "timings are not comparable; " if timing else ""
    machine = [k for k in MACHINE_KEYS if benv.get(k) != henv.get(k)]
    if machine:
        detail = ", ".join(f"{k} {benv.get(k)!r} vs {henv.get(k)!r}" for k in machine[:2])
        out.append(f"the runs come from different machines ({detail}): {effect}counts are compared exactly")
    toolchain = [k for k in TOOLCHAIN_KEYS if benv.get(k) != henv.get(k)]
    if toolchain and timing:
        detail = ", ".join(f"{k} {benv.get(k)} vs {henv.get(k)}" for k in toolchain[:3])
        out.append(f"the runs used different toolchains ({detail}): timings may differ for that reason")
    bmode, hmode = base["doc"].mode, head["doc"].mode
    if bmode != hmode:
        out.append(
            f"the runs were made in different modes (base {bmode}, head {hmode}): their timings "
            "come from different pyperf settings, and --quick runs use smaller parameters"
        )
    for name, run in (("base", base), ("head", head)):
        doc = run["doc"]
        if not doc.complete:
            planned = "?" if doc.benchmarks_planned is None else doc.benchmarks_planned
            out.append(
                f"the {name} run is incomplete ({len(doc.benchmarks)} of "
                f"{planned} benchmarks finished)"
            )
    if timing and not _same_job(base["doc"], head["doc"]):
        out.append(
            "the two runs were not measured interleaved in one job (compare-branches does that): "
            "drift of the machine between them can pass for a change of speed, so read the timing "
            "verdicts with care (the deterministic metrics are exact either way)"
        )
    if base["values"] is None or head["values"] is None:
        missing = [n for n, r in (("base", base), ("head", head)) if r["values"] is None]
        which = "neither folder has" if len(missing) == 2 else f"the {missing[0]} folder has no"
        out.append(
            f"no timing: {which} {PYPERF_FILE} (--counts-only runs); "
            "only the deterministic metrics are compared"
        )
    return out


def _engine_warning(base_doc: RunDocument, head_doc: RunDocument) -> str | None:
    """One line when the runs were measured with different engines: their
    counts are the same by construction, their times are not comparable."""
    base_engine, head_engine = engine_of(base_doc), engine_of(head_doc)
    if base_engine == head_engine:
        return None
    return (
        f"the runs used different engines (base {base_engine}, head {head_engine}): their times "
        "measure different code, so there is no timing verdict; counts are compared exactly"
    )


def _same_job(base_doc: RunDocument, head_doc: RunDocument) -> bool:
    """Whether two results documents are the arms of one compare-branches job
    (or one and the same run)."""
    if base_doc.started != head_doc.started:
        return False
    a, b = base_doc.branch_run, head_doc.branch_run
    if a and b:
        return a.get("arm") != b.get("arm")
    return base_doc.finished == head_doc.finished


def compare_runs(
    base: dict,
    head: dict,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
    strict: bool = False,
    fail_on_change: bool = False,
    instructions_threshold: float = DEFAULT_INSTRUCTIONS_THRESHOLD,
) -> dict:
    """The comparison document of two loaded runs (:func:`load_run`).

    JSON-ready: it is what ``--format json`` prints and ``--save`` writes as
    comparison.json; the renderers and the figure read only this."""
    if not (0 <= threshold < 10):
        raise UsageError(f"threshold {threshold} is out of range; give a percentage like 10%")
    if not (0 < alpha < 1):
        raise UsageError(f"alpha {alpha} is out of range; give a level like 0.05")
    if not (0 <= instructions_threshold < 10):
        raise UsageError(f"instructions threshold {instructions_threshold} is out of range; give a percentage like 1%")
    base_entries = _unique(base["doc"].benchmarks)
    head_entries = _unique(head["doc"].benchmarks)
    timing = base["values"] is not None and head["values"] is not None
    engine_warning = _engine_warning(base["doc"], head["doc"])
    if engine_warning:
        timing = False  # counts only: the two times measure different code
    names = benchmark_names(list(base_entries.values()) + list(head_entries.values()))

    benchmarks, elsewhere = [], []
    for key, head_entry in head_entries.items():
        base_entry = base_entries.get(key)
        if base_entry is None:
            continue
        changes = deterministic_changes(base_entry["metrics"], head_entry["metrics"], instructions_threshold)
        record = {
            "name": names[key],
            "label": BenchmarkRecord.of(head_entry).label,
            "workload": head_entry["workload"],
            "strategy": head_entry["strategy"],
            "allocator": head_entry["allocator"],
            "params": head_entry["params"],
            "changes": changes,
            "timing": None,
        }
        if timing:
            bvals, hvals = base["values"].get(key), head["values"].get(key)
            # Times compare within one machine only (a merged run's benchmarks
            # each keep their own); counts compare whatever the machine.
            if bvals and hvals and base["doc"].machine_of(base_entry) != head["doc"].machine_of(head_entry):
                elsewhere.append(names[key])
            elif bvals and hvals:
                record["timing"] = raw_timing_statistics(bvals, hvals)
        benchmarks.append(record)
    tested = [b["timing"] for b in benchmarks if b["timing"] and b["timing"]["p_value"] is not None]
    for stats_, p_adj in zip(tested, adjust_p_values([t["p_value"] for t in tested])):
        judge_timing(stats_, threshold, alpha, p_adj)
    for record in benchmarks:
        record["status"] = _status(record)

    def one_side(entries, other):
        return [
            {"name": names[k], "label": BenchmarkRecord.of(e).label, "workload": e["workload"],
             "strategy": e["strategy"], "allocator": e["allocator"], "params": e["params"]}
            for k, e in entries.items() if k not in other
        ]

    comparison = {
        "format": COMPARISON_FORMAT,
        "schema_version": COMPARISON_SCHEMA_VERSION,
        "base": _side(base),
        "head": _side(head),
        "settings": {
            "threshold": threshold,
            "alpha": alpha,
            "confidence": CONFIDENCE,
            "bootstrap_resamples": BOOTSTRAP_RESAMPLES,
            "bootstrap_seed": BOOTSTRAP_SEED,
            "strict": strict,
            "fail_on_change": fail_on_change,
            "instructions_threshold": instructions_threshold,
            "statistic": "ratio of mean time per task HEAD/BASE over pyperf runs; percentile bootstrap "
                         "interval; two-sided Mann-Whitney U, Benjamini-Hochberg adjusted across benchmarks",
        },
        "timing": timing,
        "warnings": ([engine_warning] if engine_warning else []) + _warnings(base, head, timing),
        "benchmarks": benchmarks,
        "base_only": one_side(base_entries, head_entries),
        "head_only": one_side(head_entries, base_entries),
    }
    if elsewhere:
        comparison["warnings"].append(
            f"{len(elsewhere)} benchmark(s) ran on different machines in base and head ({elsewhere[0]}"
            f"{', ...' if len(elsewhere) > 1 else ''}): no timing verdict for them; their counts are compared exactly"
        )
    timed = [b["timing"] for b in benchmarks if b["timing"]]
    if timed:
        best = min(smallest_p_value(t["n_base"], t["n_head"]) for t in timed) * max(len(tested), 1)
        if best >= alpha:
            nb, nh = min((t["n_base"], t["n_head"]) for t in timed)
            comparison["warnings"].append(
                f"too few independent timings to find a timing change: {nb} vs {nh} pyperf runs "
                f"(worker processes) per benchmark over {len(timed)} benchmarks cannot reach alpha {alpha} "
                "after the correction for testing them all; the timing table is for information only "
                "(more compare-branches --rounds, or the default mode, give more runs)"
            )
    counted = [name for name, run in (("base", base), ("head", head)) if run["doc"].instructions]
    if len(counted) == 1:
        comparison["warnings"].append(
            f"only the {counted[0]} run counted instructions (--instructions): they are not compared"
        )
    if not benchmarks and (comparison["base_only"] or comparison["head_only"]):
        comparison["warnings"].append("no benchmark is in both runs: nothing was compared")
    comparison["verdict"] = verdict(comparison)
    return comparison


def _unique(entries: list) -> dict:
    out = {}
    for entry in entries:
        out.setdefault(benchmark_key(entry), entry)  # a repeated benchmark: the first one counts
    return out


def _status(record: dict) -> str:
    kinds = {c["kind"] for c in record["changes"]}
    timing = record["timing"] or {}
    if "regression" in kinds or timing.get("regression"):
        return REGRESSION
    if "change" in kinds:
        return CHANGED
    if "improvement" in kinds or timing.get("improvement"):
        return IMPROVED
    return UNCHANGED


def regression_reasons(record: dict) -> list:
    """Why a benchmark regressed, one short phrase per reason."""
    reasons = []
    for change in record["changes"]:
        if change["kind"] != "regression":
            continue
        if regression(change["metric"]) == CHANGE:
            reasons.append(f"{change['metric']} changed {change['base']} -> {change['head']}")
        elif regression(change["metric"]) == INCREASE_BEYOND_THRESHOLD:
            reasons.append(f"{change['metric']} {change['base']:,.0f} -> {change['head']:,.0f} "
                           f"({change['relative']:+.1%})")
        else:
            rel = change["relative"]
            pct = f" ({rel:+.0%})" if rel is not None else ""
            reasons.append(f"{change['metric']} {change['base']} -> {change['head']}{pct}")
    timing = record["timing"] or {}
    if timing.get("regression"):
        reasons.append(
            f"time x{timing['ratio']:.2f} [{timing['ci_low']:.2f}, {timing['ci_high']:.2f}], "
            f"adjusted p={timing['p_adjusted']:.2g}"
        )
    return reasons


def verdict(comparison: dict) -> dict:
    """Whether the comparison fails, and one line saying why."""
    benchmarks = comparison["benchmarks"]
    settings = comparison["settings"]
    regressed = [b for b in benchmarks if b["status"] == REGRESSION]
    changed = [b for b in benchmarks if any(c["kind"] != "regression" for c in b["changes"])]
    changed_any = [b for b in benchmarks if b["changes"]]
    timing_regressed = [b for b in regressed if (b["timing"] or {}).get("regression")]
    one_sided = len(comparison["base_only"]) + len(comparison["head_only"])
    failures = []
    if regressed:
        first = regressed[0]
        why = "; ".join(regression_reasons(first))
        more = f" and {len(regressed) - 1} more" if len(regressed) > 1 else ""
        failures.append(f"{len(regressed)} regression(s): {first['name']} ({why}){more}")
    if settings.get("fail_on_change") and changed_any and not regressed:
        first = changed_any[0]
        what = ", ".join(c["metric"] for c in first["changes"][:4])
        failures.append(f"{len(changed_any)} benchmark(s) changed deterministic metrics: {first['name']} ({what})")
    if settings.get("strict") and one_sided:
        failures.append(
            f"{one_sided} benchmark(s) on one side only (--strict): "
            + ", ".join(b["name"] for b in (comparison["base_only"] + comparison["head_only"])[:3])
        )
    parts = [f"{len(benchmarks)} benchmarks compared"]
    if changed:
        parts.append(f"{len(changed)} with deterministic changes")
    if comparison["timing"]:
        parts.append(f"{len(timing_regressed)} slower")
    else:
        parts.append("counts only, no timing")
    if comparison["base_only"]:
        parts.append(f"{len(comparison['base_only'])} only in base")
    if comparison["head_only"]:
        parts.append(f"{len(comparison['head_only'])} only in head")
    summary = ", ".join(parts)
    if failures:
        line = "REGRESSION: " + "; ".join(failures) + f" ({summary})"
    else:
        line = f"no regression ({summary})"
    return {
        "failed": bool(failures),
        "line": line,
        "regressions": len(regressed),
        "timing_regressions": len(timing_regressed),
        "changed": len(changed_any),
        "one_sided": one_sided,
    }


def exit_status(comparison: dict) -> int:
    """0 when nothing failed, 1 when something did (bad input never gets here: 2)."""
    return 1 if comparison["verdict"]["failed"] else 0


# -- saving and finding a comparison -------------------------------------------


def save_comparison(comparison: dict, folder) -> Path:
    """Write ``comparison.json`` into ``folder`` (the HEAD results folder), atomically."""
    path = Path(folder) / COMPARISON_FILE
    with writing(path):
        atomic_write_text(path, json.dumps(comparison, indent=2) + "\n")
    return path


def load_comparison(path):
    """The comparison saved in a results folder (or a comparison.json path);
    ``None`` when the folder has none. A damaged file is a UsageError."""
    path = Path(path)
    if path.is_dir():
        path = path / COMPARISON_FILE
        if not path.exists():
            return None
    if not path.exists():
        raise UsageError(f"no comparison at {path}")
    doc = load_json(path)  # unreadable, damaged or absurdly nested: one line
    if not isinstance(doc, dict) or doc.get("format") != COMPARISON_FORMAT:
        raise UsageError(f"{path} is not a pinbench comparison (no \"format\": \"{COMPARISON_FORMAT}\")")
    if doc.get("schema_version") != COMPARISON_SCHEMA_VERSION:
        raise UsageError(
            f"{path} has comparison schema_version {doc.get('schema_version')!r}; this pinbench reads "
            f"{COMPARISON_SCHEMA_VERSION} only"
        )
    check_comparison(doc, path)
    return doc


# What the figure reads of a saved comparison (bench/shapes.py): a field of
# another type is one line naming it.
COMPARISON_SHAPE = Fields(
    required={
        "benchmarks": ListOf(Fields(required={
            "name": TEXT,
            "changes": ListOf(Fields(required={"metric": TEXT, "kind": TEXT, "base": Opt(NUMBER),
                                               "head": Opt(NUMBER)})),
            "timing": Opt(Fields(optional={"ratio": Opt(NUMBER), "ci_low": Opt(NUMBER), "ci_high": Opt(NUMBER),
                                           "regression": FLAG, "improvement": FLAG})),
        })),
        "settings": Fields(required={"threshold": NUMBER, "confidence": NUMBER}),
        "verdict": Fields(required={"line": TEXT}),
    },
    optional={"timing": FLAG},
)


def check_comparison(doc, where) -> None:
    """A one-line UsageError unless ``doc`` is shaped like a comparison."""
    problem = mismatch(doc, COMPARISON_SHAPE)
    if problem:
        raise UsageError(f"{where} is damaged: {problem}; save the comparison again (pinbench compare --save)")


def parse_threshold(text: str) -> float:
    """``10%``, ``10`` or ``0.1`` -> 0.1 (a number of 1 or more is a percentage)."""
    raw = str(text).strip()
    percent = raw.endswith("%")
    try:
        value = parse_float(raw.rstrip("%"))
    except ValueError:
        raise ValueError(f"'{text}' is not a threshold; give a percentage like 10% or a fraction like 0.1") from None
    if percent or value >= 1:
        value /= 100
    if not (0 <= value < 10) or math.isnan(value):
        raise ValueError(f"'{text}' is out of range; give a percentage like 10%")
    return value
