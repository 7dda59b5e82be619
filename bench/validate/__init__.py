"""`pinbench validate`: the model's figures beside real compilers' figures.

For each workload, the compiled program is turned into native programs by
the backends (:mod:`.backend`: :mod:`.rust` writes the program once per
layout a strategy gives it, :mod:`.cpp` a C++20 coroutine program), one for
every strategy that names a backend as its ``native`` counterpart, compiled
(``rustc -O``, ``g++ -O2 -std=c++20``) into a cache folder
(:mod:`.toolchain`) and run with counting allocators. The
result is one row per workload case and strategy: allocations, bytes, the
root future's size against the model's root frame, ns per task and the
checksum, model beside native::

    results = validate([("chain", {"depth": 3})], repeat=3)
    timing_table(results)   # the model's time ratios beside the native ones
    speed_table(results)    # model ns per task / native ns per task

Allocation counts and checksums must agree exactly (the exit status says
whether they do); bytes and frame sizes, which the model takes from the
compilers' layouts (model/native.py), are reported with a summary of how
many agree (:func:`byte_fidelity`); times are reported side by side.

The command line is ``commands/validate.py``.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import itertools
import json
import math
import os
from pathlib import Path

from ... import strategies as strategy_registry
from ...model.errors import UsageError
from ...model.program import CompiledProgram
from .. import cache
from .. import engine as engine_registry
from ..formatting import grouped, param_text
from ..suite import check_sweeps_apply, combinations, parse_param_flags, split_names
from ..results import atomic_write_text
from ..runner import DoesNotFit, default_memory_limit, execute
from ..workloads import WORKLOADS, Workload, get_workload
from . import model_timing, toolchain
from .backend import BACKENDS, HELD_FIGURES, missing_note
from .common import check_supported

LANGUAGES = tuple(BACKENDS)


def counterparts(strategies=None) -> dict:
    """``{strategy name: Backend}``: every strategy (plug-ins too; default:
    all available) that names a backend as its native counterpart, and
    each option setting it asks to be validated too (``native_variants``)."""
    mapped = {}
    for name, strategy in (strategy_registry.available() if strategies is None else strategies).items():
        for each in (strategy, *(strategy.configured(v) for v in strategy.native_variants)):
            if each.native is None:
                continue
            if each.native not in BACKENDS:
                raise UsageError(
                    f"strategy '{each.name}' names the native backend '{each.native}', which does not exist; "
                    f"choose one of: {', '.join(BACKENDS)}"
                )
            mapped[each.name] = BACKENDS[each.native]
    return mapped


# The built-in strategies validate compares (the tests and the ratio tables name them).
STRATEGIES = tuple(counterparts(strategy_registry.BUILTIN))
# Rounds of --repeat: each runs every case natively; a hundred already take hours.
MAX_REPEAT = 100
EXIT_OK, EXIT_DISAGREE, EXIT_USAGE = 0, 1, 2

# Test hook: PINBENCH_VALIDATE_BREAK=rust (or c++) appends a syntax error to
# that language's generated source, to exercise the compiler-failure path.
BREAK_ENV = "PINBENCH_VALIDATE_BREAK"

# The default cases: each built-in workload's `validation` parameter sets
# (every workload with a native counterpart, at its default parameters;
# chain and generator under several borrow patterns, chain and fanout also
# without locals, where no `work` loop hides what the strategies cost in
# time). --quick starts from each workload's `validation_quick` parameters.
DEFAULT_CASES = tuple((name, dict(case)) for name, w in WORKLOADS.items() for case in w.validation)


# -- cases ----------------------------------------------------------------------


def _chosen(names) -> dict:
    """``{name: Strategy}`` of the strategies named, each of which must have
    a native counterpart by :func:`counterparts`' rule (a UsageError names
    the ones that do)."""
    chosen = {name: strategy_registry.get(name) for name in names}
    for name, strategy in chosen.items():
        if not counterparts({name: strategy}):
            raise UsageError(f"strategy '{name}' has no native counterpart to validate against; "
                             f"choose from: {', '.join(counterparts())}")
    return chosen


def _native_workloads() -> list:
    """Built-in workloads whose programs have a native counterpart."""
    names = []
    for name, workload in WORKLOADS.items():
        try:
            check_supported(workload.compile(workload.validation_quick))
        except UsageError:
            continue
        names.append(name)
    return names


def select_cases(workloads=None, params=None, quick: bool = False) -> list:
    """``[(workload name, typed params)]`` for the command-line flags.

    No ``workloads``: :data:`DEFAULT_CASES`. "all": every built-in workload
    with a native counterpart. ``params`` (``NAME=V1,V2`` strings) sweep the
    parameters of every selected workload that has them; a named workload
    starts from its first ``validation`` parameter set (select_loop: 100
    iterations, which rustc compiles in seconds), or from its
    ``validation_quick`` parameters with ``quick``.
    """
    names = split_names(workloads) if workloads else []
    if not names:
        bases = [(name, dict(base)) for name, base in DEFAULT_CASES]
    else:
        bases = []
        for name in names:
            for each in _native_workloads() if name == "all" else [name]:
                bases.append((each, {}))
    sweeps = parse_param_flags(params)
    resolved = [(name, get_workload(name), base) for name, base in bases]
    check_sweeps_apply(sweeps, [workload for _, workload, _ in resolved])
    cases = []
    for name, workload, base in resolved:
        if quick:
            start = dict(workload.validation_quick)
        else:
            start = dict(workload.validation[0]) if workload.validation else {}
        start.update(base)
        for typed in combinations(workload, start, sweeps):
            if (name, typed) not in cases:
                cases.append((name, typed))
    return cases


def _params_label(workload, params: dict) -> str:
    """The parameters that differ from the workload's defaults."""
    defaults = {p.name: p.default for p in workload.params}
    changed = [f"{k}={param_text(v)}" for k, v in params.items() if defaults.get(k) != v]
    if not workload.params:
        return "-"
    return " ".join(changed) if changed else "defaults"


# -- running ------------------------------------------------------------------------


# Runs of each case per round, on both sides, each side in a fresh process
# (model_timing.py says why): the minimum over all of them discards the
# first, cold run (page faults, allocator warm-up). A short case runs more
# often, until its warm runs add up to WARM_NS_PER_ROUND (at most
# MAX_RUNS_PER_ROUND runs): one warm run of fanout takes 0.2 ms, and on a
# shared machine the minimum of three such runs still moved by up to 1.4x
# from one command to the next (docs/validation.md). Both sides run a case
# the same number of times, reckoned from the model's count run.
RUNS_PER_ROUND = 2
WARM_NS_PER_ROUND = 10_000_000
MAX_RUNS_PER_ROUND = 100
SAVED_FORMAT = "pinbench-validation"  # validation.json, which the report draws (plots.py)


# The model's per-task metrics some backend's held figures are compared with.
HELD_METRICS = sorted({held.model for backend in BACKENDS.values() for held in backend.held})


def _derived(run: dict) -> dict:
    """Per-task figures a held figure may name beside the run's metrics:
    the blocks (stacks, chunks) held per task when the most were held."""
    return {"blocks_per_live_task": run["peak_live_blocks"] / max(run["peak_held_tasks"], 1)}


def runs_per_round(elapsed_ns: float) -> int:
    """How many times a round runs a case one run of which took
    ``elapsed_ns``: its first run, then warm ones adding up to
    :data:`WARM_NS_PER_ROUND`, between :data:`RUNS_PER_ROUND` and
    :data:`MAX_RUNS_PER_ROUND` runs in all."""
    warm = -(-WARM_NS_PER_ROUND // max(int(elapsed_ns), 1))
    return max(RUNS_PER_ROUND, min(MAX_RUNS_PER_ROUND, 1 + warm))


def _model_counts(program, strategy: str, engine: str) -> dict:
    """The model's counts of a case, from runs in this process (they are
    deterministic: ``stable`` says whether they repeat); its times come from
    a fresh process (:mod:`.model_timing`)."""
    runs = [execute(program, strategy, "system", engine=engine) for _ in range(RUNS_PER_ROUND)]
    first = runs[0]
    return {
        "held": {name: {**first, **_derived(first)}[name] for name in HELD_METRICS},
        "tasks": first["tasks"],
        "allocs": first["allocs"],
        "bytes": first["bytes_allocated"],
        "frame": first["root_frame_bytes"],
        "fn_frames": list(first["frame_bytes"].values()),
        "checksum": first["checksum"],
        "stable": all(r["allocs"] == first["allocs"] and r["checksum"] == first["checksum"] for r in runs),
        "runs": runs_per_round(min(r["ns_per_task_single"] for r in runs) * first["tasks"]),
    }


def _timing_job(program, strategy: str, engine: str) -> tuple:
    """What the timing worker needs of a case (model_timing.times): planned
    and its engine built once, for every round."""
    layout = strategy_registry.get(strategy).plan(program)
    library = engine_registry.compiled(program, layout).path if engine == engine_registry.COMPILED else None
    return (program, layout, "system", str(library) if library else None)


def _note(log, message: str):
    if log is not None:
        log(message)


def _run_native(tool, binary, timeout: float, args=None) -> list:
    """The rows the native program prints, run with ``args`` (default: every
    case once, :data:`RUNS_PER_ROUND` runs of each for a program that
    times none)."""
    if args is None:
        args = [] if _backend_of(tool.label).counts else [RUNS_PER_ROUND]
    out = toolchain.run_binary(binary, list(args), timeout, tool.label)
    rows = []
    for line in out.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            rows.append(json.loads(line))
        except ValueError:
            raise UsageError(f"the {tool.label} program {binary} printed an unreadable line: {line[:80]!r}") from None
    return rows


def _native_rows(tool, binary, build, case: int, variants: dict, case_runs: dict, timeout: float) -> list:
    """One round of a timing native program's rows for one case, every
    strategy of it in a process of its own, run as often as the model runs
    it (``case_runs``): so every case starts from a fresh heap on both
    sides. In one process, a case's times depended on how often the cases
    before it had run (fanout's ``anchor_box``: 522, 750 or 1,088 ns per
    task, by glibc's free lists). The program numbers its cases by program,
    then variant."""
    rows = []
    for position, key in enumerate(sorted(k for k in variants if k[0] == build)):
        if variants[key][0] == case:
            args = [0] * position + [case_runs.get(variants[key], RUNS_PER_ROUND)]
            rows += _run_native(tool, binary, timeout, args)
    return rows


def _take_rows(native: dict, rows: list, tool, binary, build, variants: dict):
    """Merge a native program's rows into ``native``, by the case and
    strategy each is of."""
    for row in rows:
        found = variants.get((build, row.get("program"), row.get("variant")))
        if found is None:
            raise UsageError(
                f"the {tool.label} program {binary} printed a row for no case: "
                f"program {row.get('program')!r}, variant {row.get('variant')!r}"
            )
        _merge(native, found, row, build[0])


def _merge(table: dict, key, figures: dict, language=None):
    """Keep the first round's counts; collect every round's times and note
    whether any count changed."""
    if key not in table:
        table[key] = (language, dict(figures)) if language else dict(figures)
        return
    kept = table[key][1] if language else table[key]
    for name in ("allocs", "checksum", "tasks", "bytes"):
        if name in figures and figures[name] != kept[name]:
            kept["stable"] = False
    kept["stable"] = kept["stable"] and figures["stable"]
    kept["ns"] = list(kept.get("ns", [])) + list(figures.get("ns", []))


def validate(
    cases=None,
    *,
    repeat: int = 3,
    cache_dir=None,
    timeout: float = 600.0,
    languages=LANGUAGES,
    source_hook=None,
    log=None,
    engines=None,
    strategies=None,
):
    """Run every case in the model and natively; return the result table.

    ``cases`` is a list of ``(workload name or .toml path, params)`` (params
    typed or as strings; default :data:`DEFAULT_CASES`) or of
    :class:`CompiledProgram` s. ``repeat`` rounds, each running every case
    :data:`RUNS_PER_ROUND` times in the model and then natively; a time is
    the minimum over all its runs. ``languages`` limits the native side
    (``"rust"``, ``"c++"``); a missing compiler skips its language, with a
    note in ``result.attrs["notes"]``. ``source_hook(language, source)``
    may rewrite a generated source (tests use it to break one). ``log``
    receives progress lines. ``engines`` are the model's engines to time
    (default: compiled and interpreted where a C compiler works, else
    interpreted with a note); every row is one case, strategy and engine.
    ``strategies`` names the strategies to validate (each with the option
    settings it asks validated too; default: every one with a native
    counterpart); a language none of them maps to is not built.

    Returns a pandas DataFrame, one row per case and strategy (see
    :data:`COLUMNS`); ``attrs["notes"]`` holds the skipped languages and
    anything odd the native programs reported.
    """
    import pandas as pd  # deferred: pandas loads only when validating

    if cases is None:
        cases = list(DEFAULT_CASES)
    if not 1 <= repeat <= MAX_REPEAT:
        raise UsageError(f"--repeat {repeat} is out of range; give 1 to {MAX_REPEAT} rounds")
    languages = tuple(languages)
    for language in languages:
        if language not in BACKENDS:
            raise UsageError(f"unknown language '{language}'; choose from {', '.join(BACKENDS)}")
    mapped = counterparts(None if strategies is None else _chosen(strategies))
    languages = tuple(language for language in languages if BACKENDS[language] in mapped.values())

    compiled = []
    for case in cases:
        if isinstance(case, CompiledProgram):  # a program built in Python
            workload = Workload(case.name, "a compiled program", "", (), lambda params: case)
            name, typed, program = case.name, {}, case
        else:
            name, params = case
            workload = get_workload(name)
            typed = workload.parse_params({k: param_text(v) for k, v in params.items()})
            program = workload.compile(typed)
        check_supported(program)
        compiled.append((name, workload, typed, program, program.view))

    notes = []
    validated = tuple(mapped)
    if engines is None:
        default, note = engine_registry.default_engine()
        engines = [engine_registry.COMPILED, engine_registry.INTERPRETED] if note is None else [default]
        if note:
            notes.append(note)
            _note(log, note)
    engines = [engine_registry.check_engine(e) for e in engines]
    if engine_registry.COMPILED in engines:
        pairs = [(program, strategy_registry.get(s).plan(program))
                 for *_, program, _ in compiled for s in validated]
        engine_registry.prepare(pairs, progress=lambda text: _note(log, text), cache_dir=cache_dir)
    tools = {}
    for language in languages:
        backend = BACKENDS[language]
        tools[language] = backend.find()
        if tools[language] is None:
            message = missing_note(backend, [s for s, b in mapped.items() if b is backend])
            notes.append(message)
            _note(log, message)
            del tools[language]

    # Each backend's programs: every case, once per layout of a strategy it
    # is the counterpart of, one program per build variant of the backend
    # (``Backend.variant``); `variants` says whose layout each one was.
    variants, builds = {}, {}  # (build, program, variant) -> (case, strategy); build -> cases
    for language in tools:
        backend = BACKENDS[language]
        for index, (name, workload, typed, program, view) in enumerate(compiled):
            mine = [s for s, b in mapped.items() if b is backend]
            if mine and not backend.supports(view):
                message = f"{name} / {', '.join(mine)}: the {language} program does not express its steps; not validated"
                notes.append(message)
                _note(log, message)
                mine = []
            for strategy in mine:
                layout = strategy_registry.get(strategy).plan(program)
                if not backend.expresses(layout):
                    message = f"{name} / {strategy}: its layout has no {language} counterpart; not validated"
                    notes.append(message)
                    _note(log, message)
                    continue
                cases_of = builds.setdefault((language, backend.variant(layout)), {})
                _, layouts = cases_of.setdefault(index, (view, []))
                variants[(language, backend.variant(layout)), list(cases_of).index(index), len(layouts)] = (
                    index, strategy)
                layouts.append(layout)
    sources = {build: BACKENDS[build[0]].generate(list(cases_of.values()), build[1])
               for build, cases_of in builds.items()}
    build_tools = {build: dataclasses.replace(tools[build[0]], flags=(*tools[build[0]].flags,
                                                                  *BACKENDS[build[0]].flags(build[1])))
                   for build in builds}
    broken = [name.strip() for name in os.environ.get(BREAK_ENV, "").split(",")]
    for build in sources:
        language = build[0]
        if language in broken:
            sources[build] += "\n#error pinbench test hook: deliberately broken source\nthis is not code\n"
        if source_hook is not None:
            sources[build] = source_hook(language, sources[build])

    # Compile every backend's programs at once (each compiler is its own
    # process), then time the model and each native program one after the
    # other, so no measurement shares the CPU with a compiler or another.
    binaries = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {}
        for build, source in sources.items():
            backend = BACKENDS[build[0]]
            extra = " ".join(backend.flags(build[1]))
            _note(log, f"compiling the {build[0]} program with {build_tools[build].label} {extra}".rstrip())
            env = backend.build_env(cache.cache_root(cache.NATIVE, cache_dir)) if backend.build_env else None
            if backend.build is not None:
                futures[build] = pool.submit(backend.build, build_tools[build], source, cache_dir)
            else:
                futures[build] = pool.submit(toolchain.compile_cached, build_tools[build], source, cache_dir, env=env)
        errors = []
        for build, future in futures.items():
            try:
                binaries[build] = future.result()
            except UsageError as error:
                errors.append(error)
        if errors:
            raise errors[0]
    # Rounds, `repeat` times over, case by case: the model, then the native
    # programs. A burst of load from elsewhere on the machine then falls on
    # both sides alike, and the minimum over the rounds is the figure least
    # disturbed.
    model, native = {}, {}
    timing_jobs = {}  # (case, strategy, engine) -> its timing job, made in round 1
    case_runs = {}  # (case, strategy) -> its runs per round, on every side (runs_per_round)
    too_big = set()  # (case, strategy) the model cannot run within the memory limit
    for round_number in range(1, repeat + 1):
        _note(
            log,
            f"round {round_number}/{repeat}: case by case, the model ({len(validated)} strategies x "
            f"{', '.join(engines)}), then " + ", ".join(str(b) for b in binaries.values()),
        )
        for index, (name, workload, typed, program, view) in enumerate(compiled):
            _note(log, f"round {round_number}/{repeat}, case {index + 1}/{len(compiled)}: "
                       f"{name} {_params_label(workload, typed)}")
            timed = []  # (case, strategy, engine) of this case, in order
            for strategy in validated:
                for eng in engines:
                    if (index, strategy) in too_big:
                        continue
                    if round_number == 1:
                        try:
                            model[index, strategy, eng] = _model_counts(program, strategy, eng)
                        except DoesNotFit as error:  # e.g. a million fibers' stacks: a finding, not a failure
                            too_big.add((index, strategy))
                            message = f"{name} {_params_label(workload, typed)} / {strategy}: not validated: {error}"
                            notes.append(message)
                            _note(log, message)
                            continue
                        timing_jobs[index, strategy, eng] = _timing_job(program, strategy, eng)
                        # the faster engine's count decides: every engine and the native
                        # program then run the case as often
                        case_runs[index, strategy] = max(case_runs.get((index, strategy), 0),
                                                         model[index, strategy, eng]["runs"])
                    timed.append((index, strategy, eng))
            # The case's model times in a fresh process, then its native runs at
            # once: a change in the machine's load (on a shared VM, by 2x within a
            # minute) then falls on both sides of a ratio alike.
            ns = model_timing.times([timing_jobs[key] for key in timed], [case_runs[key[:2]] for key in timed],
                                    default_memory_limit(), timeout)
            for key, times in zip(timed, ns):
                model[key]["ns"] = model[key].get("ns", []) + times
            for build, binary in binaries.items():
                if BACKENDS[build[0]].counts:
                    _take_rows(native, _native_rows(tools[build[0]], binary, build, index, variants, case_runs,
                                                    timeout), tools[build[0]], binary, build, variants)
        for build, binary in binaries.items():
            if not BACKENDS[build[0]].counts:  # held memory, not time: every case at once
                _take_rows(native, _run_native(tools[build[0]], binary, timeout), tools[build[0]], binary, build,
                           variants)

    rows = []
    for index, (name, workload, typed, program, view) in enumerate(compiled):
        for strategy, eng in itertools.product(validated, engines):
            if (index, strategy) in too_big:
                continue
            m = model[index, strategy, eng]
            language, n = native.get((index, strategy), (None, None))
            row = {
                "case": index,
                "workload": workload.name,
                "params": _params_label(workload, typed),
                "param_values": dict(typed),
                "strategy": strategy,
                "engine": eng,
                "native": tools[language].label if language else None,
                "tasks_model": m["tasks"],
                "allocs_model": m["allocs"],
                "bytes_model": m["bytes"],
                "frame_model": m["frame"],
                "fn_frames_model": m["fn_frames"],
                "ns_model": min(m["ns"]),
                "runs_model": len(m["ns"]),
                "checksum_model": m["checksum"],
            }
            backend = BACKENDS[language] if language else None
            for figure in HELD_FIGURES:
                row[f"{figure}_model"] = row[f"{figure}_native"] = row[f"{figure}_agree"] = None
            if n is not None and n.get("detail") and eng == engines[0]:
                notes.append(f"{workload.name} {row['params']} / {strategy} ({row['native']}): {n['detail']}")
            for held in backend.held if n is not None else ():
                row[f"{held.figure}_model"] = m["held"][held.model]
                row[f"{held.figure}_native"] = n[held.figure]
                row[f"{held.figure}_agree"] = held.agrees(m["held"][held.model], n[held.figure])
            counted = n is not None and backend.counts  # the counting allocator's figures are in the row

            def counted_figure(name):
                return n[name] if counted else None

            row.update(
                tasks_native=n["tasks"] if n is not None else None,
                allocs_native=counted_figure("allocs"),
                frees_native=counted_figure("frees"),
                bytes_native=counted_figure("bytes"),
                size_of_native=counted_figure("size_of"),
                fn_frames_native=counted_figure("fn_sizes"),
                ns_native=min(n["ns"]) if counted else None,
                runs_native=len(n["ns"]) if counted else None,
                checksum_native=counted_figure("checksum"),
                allocs_agree=n["allocs"] == m["allocs"] if counted else None,
                checksum_agree=n["checksum"] == m["checksum"] if counted else None,
            )
            if counted:
                where = f"{workload.name} {row['params']} / {strategy} ({row['native']})"
                if n["frees"] != n["allocs"] and eng == engines[0]:
                    notes.append(f"{where}: the native program freed {n['frees']} of {n['allocs']} blocks")
            if n is not None and not n["stable"] and eng == engines[0]:
                notes.append(f"{workload.name} {row['params']} / {strategy} ({row['native']}): "
                             "the native counts changed between runs")
            if not m["stable"]:
                notes.append(f"{workload.name} {row['params']} / {strategy} ({eng}): the model's counts changed between runs")
                if n["tasks"] != m["tasks"]:
                    notes.append(f"{where}: {n['tasks']} native tasks against {m['tasks']} in the model")
            rows.append(row)

    table = pd.DataFrame(rows, columns=COLUMNS)
    # Exact counts stay Python ints where rows without them (a held-memory
    # backend's, a skipped language's) would make pandas turn them into floats;
    # 64-bit checksums never go through a float.
    for column in ("tasks_native", "allocs_native", "frees_native", "bytes_native", "size_of_native",
                   "checksum_model", "checksum_native"):
        table[column] = pd.Series([row[column] for row in rows], dtype=object, index=table.index)
    tasks_native = table["tasks_native"].astype("float")
    table["allocs_per_task_model"] = table["allocs_model"] / table["tasks_model"]
    table["allocs_per_task_native"] = table["allocs_native"].astype("float") / tasks_native
    table["bytes_per_task_model"] = table["bytes_model"] / table["tasks_model"]
    table["bytes_per_task_native"] = table["bytes_native"].astype("float") / tasks_native
    table["ns_per_task_model"] = table["ns_model"] / table["tasks_model"]
    table["ns_per_task_native"] = table["ns_native"].astype("float") / tasks_native
    table.attrs["notes"] = notes
    table.attrs["repeat"] = repeat
    table.attrs["compilers"] = {t.label: t.version.splitlines()[0] for t in tools.values()}
    table.attrs["engines"] = list(engines)
    if engine_registry.COMPILED in engines:
        table.attrs["engine"] = engine_registry.describe(engine_registry.COMPILED)
    return table


COLUMNS = [
    "case", "workload", "params", "param_values", "strategy", "engine", "native",
    "tasks_model", "tasks_native",
    "allocs_model", "allocs_native", "frees_native",
    "bytes_model", "bytes_native",
    "frame_model", "size_of_native",
    "fn_frames_model", "fn_frames_native",
    "ns_model", "ns_native",
    "runs_model", "runs_native",  # the runs each time is the minimum of, over every round
    "checksum_model", "checksum_native",
    "allocs_agree", "checksum_agree",
    *(f"{figure}_{side}" for figure in HELD_FIGURES for side in ("model", "native", "agree")),
]  # plus the derived *_per_task_model / *_per_task_native columns


def _has_native(label) -> bool:
    """Whether a row has a native program: its compiler's label. A missing
    one is None, or NaN once pandas (3 and later: a string column) holds it."""
    return isinstance(label, str) and bool(label)


def _backend_of(label):
    """The backend whose compiler has this label, or None."""
    for backend in BACKENDS.values():
        if backend.tool == label:
            return backend
    return None


def _compared(value) -> bool:
    """Whether a row's agree flag was compared at all (None or NaN: not)."""
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def disagreements(results) -> list:
    """One line per row whose allocation count or checksum differs, or
    whose gated held figure (backend.Held.gate) does."""
    lines = []
    for row in results.itertuples():
        if not _has_native(row.native):
            continue
        engine = getattr(row, "engine", None)
        where = f"{row.workload} {row.params} / {row.strategy} ({row.native}" + (
            f", {engine} engine)" if engine else ")"
        )
        if _compared(row.allocs_agree) and not row.allocs_agree:
            lines.append(f"{where}: {row.allocs_native} native allocations against {row.allocs_model} in the model")
        if _compared(row.checksum_agree) and not row.checksum_agree:
            lines.append(f"{where}: native checksum {row.checksum_native} against {row.checksum_model} in the model")
        backend = _backend_of(row.native)
        for held in backend.held if backend else ():
            agree = getattr(row, f"{held.figure}_agree")
            if held.gate and _compared(agree) and not agree:
                lines.append(f"{where}: {held.figure} {grouped(getattr(row, held.figure + '_native'))} native "
                             f"against {grouped(getattr(row, held.figure + '_model'))} in the model")
    return lines


def held_agreement(results) -> dict:
    """``{figure: (agree, compared)}`` over the rows with held figures."""
    out = {}
    for figure in HELD_FIGURES:
        flags = [v for v in results[f"{figure}_agree"] if _compared(v)]
        if flags:
            out[figure] = (sum(bool(v) for v in flags), len(flags))
    return out


def byte_fidelity(results) -> dict:
    """How close the model's bytes are to the native ones, over every
    compared row: its two byte figures (bytes per task, root frame) and
    every function's frame size."""
    figures = exact = close = frames = frames_exact = 0
    for row in results.itertuples():
        if not _has_native(row.native) or not isinstance(row.fn_frames_native, list):
            continue  # a language skipped or not selected, or one without counts
        for model, native in ((row.bytes_per_task_model, row.bytes_per_task_native), (row.frame_model, row.size_of_native)):
            figures += 1
            exact += model == native
            close += abs(model - native) <= 0.10 * native
        frames += len(row.fn_frames_native)
        frames_exact += sum(m == n for m, n in zip(row.fn_frames_model, row.fn_frames_native))
    return {"figures": figures, "exact": exact, "within_10pct": close, "frames": frames, "frames_exact": frames_exact}


def fidelity_line(results) -> str:
    f = byte_fidelity(results)
    return (
        f"bytes: {f['exact']} of {f['figures']} byte figures (bytes per task, root frame) equal the "
        f"native ones, {f['within_10pct']} within 10%; {f['frames_exact']} of {f['frames']} function "
        "frame sizes equal"
    )


REFERENCE = strategy_registry.TIME_REFERENCE


def timing_table(results):
    """The model's time ratio between strategies beside the native ratio:
    one row per case and pair (``always_heap/pinbox`` is g++ against
    rustc natively; the others rustc against rustc). ``carry`` is the
    native ratio over the model's: 1 when the model's difference carries
    over exactly."""
    import pandas as pd  # deferred: pandas loads only when validating

    rows, mapped = [], counterparts()
    for (case, engine), group in results.groupby(["case", "engine"], sort=False):
        # A strategy measured parked (held memory only) has no native time to compare.
        by = {row.strategy: row for row in group.itertuples()
              if row.strategy not in mapped or mapped[row.strategy].counts}
        for a, b in ((name, REFERENCE) for name in by if name != REFERENCE):
            if b not in by:
                continue
            ra, rb = by[a], by[b]
            model = ra.ns_per_task_model / rb.ns_per_task_model
            have = _has_native(ra.native) and _has_native(rb.native)
            native = ra.ns_per_task_native / rb.ns_per_task_native if have else float("nan")
            rows.append(
                {
                    "case": case,
                    "workload": ra.workload,
                    "params": ra.params,
                    "engine": engine,
                    "ratio": f"{a}/{b}",
                    "model_ratio": model,
                    "native": f"{ra.native}/{rb.native}" if have else None,
                    "native_ratio": native,
                    "carry": native / model if have else float("nan"),
                }
            )
    return pd.DataFrame(
        rows,
        columns=["case", "workload", "params", "engine", "ratio", "model_ratio", "native", "native_ratio", "carry"],
    )


def speed_table(results):
    """How fast the model's core runs each case against the native program
    of the same strategy: model ns per task / native ns per task (not
    for strategies measured parked: their programs are not timed)."""
    untimed = [name for name, backend in counterparts().items() if not backend.counts]
    table = results[~results["strategy"].isin(untimed)][
        ["case", "workload", "params", "strategy", "engine", "native", "ns_per_task_model", "ns_per_task_native"]
    ].copy()
    table["model_over_native"] = table["ns_per_task_model"] / table["ns_per_task_native"]
    return table


# -- text output ----------------------------------------------------------------------


def _pair(model, native) -> str:
    return f"{grouped(model)} / {grouped(native)}"


def _grid(headers: list, rows: list, markdown: bool) -> str:
    if markdown:
        out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
        return "\n".join(out)
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def format_results(results, markdown: bool = False) -> str:
    """The three tables: figures side by side, time ratios, core speed."""
    rows = []
    for r in results.itertuples():
        if not _has_native(r.native):
            verdict = "skipped"
        elif not _compared(r.allocs_agree):
            verdict = "held only"
        elif r.allocs_agree and r.checksum_agree:
            verdict = "agree"
        else:
            verdict = " ".join(
                word for word, ok in (("ALLOCS", r.allocs_agree), ("CHECKSUM", r.checksum_agree)) if not ok
            ) + " DIFFER"
        checksum = str(r.checksum_model)
        if _has_native(r.native) and _compared(r.checksum_agree) and not r.checksum_agree:
            checksum += f" / {r.checksum_native}"
        rows.append(
            [
                r.workload, r.params, r.strategy, r.engine, r.native if _has_native(r.native) else "-",
                _pair(r.allocs_per_task_model, r.allocs_per_task_native),
                _pair(r.bytes_per_task_model, r.bytes_per_task_native),
                _pair(r.frame_model, r.size_of_native),
                _pair(r.ns_per_task_model, r.ns_per_task_native),
                checksum, verdict,
            ]
        )
    parts = [
        "Model / native, per task (root frame: the model's size / the native root future's "
        "size_of, or the C++ root coroutine frame):",
        _grid(
            ["workload", "params", "strategy", "engine", "native", "allocs/task", "bytes/task",
             "root frame B", "ns/task", "checksum", "counts"],
            rows, markdown,
        ),
    ]
    held = _held_rows(results)
    if held:
        parts += [
            "",
            "Held memory per parked task, model / native (class: what is compared, e.g. a stack's "
            "size class, the nearest power of two):",
            _grid(["workload", "params", "strategy", "engine", "native", "figure", "model", "native",
                   "class", "held"], held, markdown),
        ]
        parts += [""] + [
            f"{figure}: {agree} of {compared} agree" for figure, (agree, compared) in held_agreement(results).items()
        ]
    timing = timing_table(results)
    if len(timing):
        parts += [
            "",
            "Time ratios between strategies (carry = native ratio / model ratio):",
            _grid(
                ["workload", "params", "engine", "ratio", "model", "native", "native ratio", "carry"],
                [
                    [t.workload, t.params, t.engine, t.ratio, grouped(t.model_ratio), t.native or "-",
                     grouped(t.native_ratio), grouped(t.carry)]
                    for t in timing.itertuples()
                ],
                markdown,
            ),
        ]
    speed = speed_table(results)
    speed = speed[speed["ns_per_task_native"].notna()]
    if len(speed):
        parts += [
            "",
            "The model's core against the native programs (model ns/task / native ns/task):",
            _grid(
                ["workload", "params", "strategy", "engine", "native", "model ns/task", "native ns/task",
                 "model/native"],
                [
                    [s.workload, s.params, s.strategy, s.engine, s.native, grouped(s.ns_per_task_model),
                     grouped(s.ns_per_task_native), grouped(s.model_over_native)]
                    for s in speed.itertuples()
                ],
                markdown,
            ),
        ]
    return "\n".join(parts)


def _held_rows(results) -> list:
    rows = []
    for r in results.itertuples():
        backend = _backend_of(r.native) if _has_native(r.native) else None
        for held in backend.held if backend else ():
            model, native = getattr(r, f"{held.figure}_model"), getattr(r, f"{held.figure}_native")
            cm, cn = held.classes(model, native)
            rows.append([r.workload, r.params, r.strategy, r.engine, r.native, held.figure, grouped(model),
                         grouped(native), _pair(cm, cn),
                         "agree" if getattr(r, f"{held.figure}_agree") else "DIFFER"])
    return rows


def save_results(results, folder) -> Path:
    """``validation.json`` in ``folder``: every case and the two ratio tables."""
    def records(frame):
        return [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for row in frame.to_dict("records")
        ]

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "format": SAVED_FORMAT,
        "version": 1,
        "timing": records(timing_table(results)),
        "speed": records(speed_table(results)),
        "cases": records(results.drop(columns=[c for c in results.columns if results[c].dtype == object and c not in (
            "case", "workload", "params", "strategy", "engine", "native", *(f"{f}_agree" for f in HELD_FIGURES))])),
        "engines": results.attrs.get("engines", []),
        "engine": results.attrs.get("engine", {}),
    }
    path = folder / "validation.json"
    atomic_write_text(path, json.dumps(doc, indent=2, default=str) + "\n")
    return path
