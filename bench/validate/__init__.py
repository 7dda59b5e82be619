"""`pinbench validate`: the model's figures beside real compilers' figures.

For each workload, the compiled program is turned into native programs
(:mod:`.rust`: one Rust variant per Rust-style strategy, ``pinbox``,
``anchor_box`` and ``rc``; :mod:`.cpp`: a C++20 coroutine program for
``always_heap``), compiled with ``rustc -O`` and ``g++ -O2 -std=c++20`` into
a cache folder (:mod:`.toolchain`) and run with counting allocators. The
result is one row per workload case and strategy: allocations, bytes, the
root future's size against the model's root frame, ns per task and the
checksum, model beside native::

    results = validate([("chain", {"depth": 3})], repeat=3)
    timing_table(results)   # the model's time ratios beside the native ones
    speed_table(results)    # model ns per task / native ns per task

Allocation counts and checksums must agree exactly (the exit status says
whether they do); bytes, sizes and times are reported side by side, since
the model's frame header is its own (docs/validation.md).

The CLI adds the subcommand with ``validate.add_parser(subparsers)``; the
parser's default ``func`` calls :func:`run_command`.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import itertools
import json
import os
import sys
from pathlib import Path

from ...model.errors import UsageError
from ...model.program import CompiledProgram
from ..workloads import WORKLOADS, Workload, get_workload
from . import cpp, rust, toolchain
from .common import ProgramView, check_supported

STRATEGIES = ("always_heap", "anchor_box", "pinbox", "rc")
RUST_VARIANTS = rust.VARIANTS
LANGUAGES = ("rust", "c++")
LANGUAGE_OF = {"always_heap": "c++", "anchor_box": "rust", "pinbox": "rust", "rc": "rust"}
EXIT_OK, EXIT_DISAGREE, EXIT_USAGE = 0, 1, 2

# Test hook: PINBENCH_VALIDATE_BREAK=rust (or c++) appends a syntax error to
# that language's generated source, to exercise the compiler-failure path.
BREAK_ENV = "PINBENCH_VALIDATE_BREAK"

# The default cases: every workload with a native counterpart, at its
# default parameters, chain and generator under several borrow patterns;
# chain and fanout also without locals, where no `work` loop hides what the
# strategies cost in time.
DEFAULT_CASES = (
    ("chain", {"borrow": "all"}),
    ("chain", {"borrow": "none"}),
    ("chain", {"borrow": "10"}),
    ("chain", {"borrow": "all", "locals": 0}),
    ("chain", {"borrow": "10", "locals": 0}),
    ("fanout", {}),
    ("fanout", {"locals": 0}),
    ("spawn_many", {}),
    ("yield_many", {}),
    ("spawn_size", {}),
    ("skynet", {}),
    ("generator", {"borrow": True}),
    ("generator", {"borrow": False}),
)
# The same shapes at small sizes (--quick): seconds, not tens of seconds.
QUICK_PARAMS = {
    "chain": {"depth": 4, "tasks": 20},
    "fanout": {"k": 3, "tasks": 10},
    "spawn_many": {"tasks": 100},
    "yield_many": {"yields": 10, "tasks": 20},
    "spawn_size": {"size": 256, "tasks": 20},
    "skynet": {"fanout": 4, "levels": 3},
    "generator": {"items": 20, "tasks": 5},
}


# -- cases ----------------------------------------------------------------------


def _split(values) -> list:
    names = []
    for value in values or []:
        for name in str(value).split(","):
            name = name.strip()
            if name and name not in names:
                names.append(name)
    return names


def _param_sweeps(flags) -> dict:
    """``{"depth": ["1", "3"]}`` from ``["depth=1,3"]`` (the --param syntax of
    `pinbench run`)."""
    sweeps = {}
    for flag in flags or []:
        name, sep, values = flag.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"--param '{flag}' is not NAME=V1,V2,...; e.g. --param depth=1,4")
        if name in sweeps:
            raise UsageError(f"--param {name} is given twice; list its values in one flag: --param {name}=V1,V2")
        items = _split([values])
        if not items:
            raise UsageError(f"--param {name} has no values; e.g. --param {name}=V1,V2")
        sweeps[name] = items
    return sweeps


def _native_workloads() -> list:
    """Built-in workloads whose programs have a native counterpart."""
    names = []
    for name, workload in WORKLOADS.items():
        try:
            check_supported(workload.compile(QUICK_PARAMS.get(name, {})))
        except UsageError:
            continue
        names.append(name)
    return names


def select_cases(workloads=None, params=None, quick: bool = False) -> list:
    """``[(workload name, typed params)]`` for the command-line flags.

    No ``workloads``: :data:`DEFAULT_CASES`. "all": every built-in workload
    with a native counterpart. ``params`` (``NAME=V1,V2`` strings) sweep the
    parameters of every selected workload that has them; ``quick`` starts
    from :data:`QUICK_PARAMS` instead of the defaults.
    """
    names = _split(workloads)
    if not names:
        bases = [(name, dict(base)) for name, base in DEFAULT_CASES]
    else:
        bases = []
        for name in names:
            for each in _native_workloads() if name == "all" else [name]:
                bases.append((each, {}))
    sweeps = _param_sweeps(params)
    resolved = [(name, get_workload(name), base) for name, base in bases]
    for param in sweeps:
        if not any(param in {p.name for p in wl.params} for _, wl, _ in resolved):
            described = "; ".join(
                f"{wl.name}: {', '.join(p.name for p in wl.params) or 'none'}" for _, wl, _ in resolved
            )
            raise UsageError(f"no selected workload has a parameter '{param}'; their parameters are {described}")
    cases = []
    for name, workload, base in resolved:
        own = {p.name for p in workload.params}
        start = dict(QUICK_PARAMS.get(name, {})) if quick else {}
        start.update(base)
        swept = [p for p in sweeps if p in own]
        for values in itertools.product(*(sweeps[p] for p in swept)):
            raw = {k: _text(v) for k, v in start.items() if k in own}
            raw.update(zip(swept, values))
            typed = workload.parse_params(raw)
            if (name, typed) not in cases:
                cases.append((name, typed))
    return cases


def _text(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _params_label(workload, params: dict) -> str:
    """The parameters that differ from the workload's defaults."""
    defaults = {p.name: p.default for p in workload.params}
    changed = [f"{k}={_text(v)}" for k, v in params.items() if defaults.get(k) != v]
    if not workload.params:
        return "-"
    return " ".join(changed) if changed else "defaults"


# -- running ------------------------------------------------------------------------


# Runs of each case per round, on both sides: the minimum over all of them
# discards the first, cold run (page faults, allocator warm-up).
RUNS_PER_ROUND = 2


def _model_round(program, strategy: str) -> dict:
    from ..runner import execute

    runs = [execute(program, strategy, "system") for _ in range(RUNS_PER_ROUND)]
    first = runs[0]
    return {
        "tasks": first["tasks"],
        "allocs": first["allocs"],
        "bytes": first["bytes_allocated"],
        "frame": first["root_frame_bytes"],
        "checksum": first["checksum"],
        "stable": all(r["allocs"] == first["allocs"] and r["checksum"] == first["checksum"] for r in runs),
        "ns": [r["elapsed_ns"] for r in runs],
    }


def _note(log, message: str):
    if log is not None:
        log(message)


def _run_native(tool, binary, timeout: float) -> list:
    out = toolchain.run_binary(binary, [RUNS_PER_ROUND], timeout, tool.label)
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
    kept["ns"] = list(kept["ns"]) + list(figures["ns"])


def validate(
    cases=None,
    *,
    repeat: int = 3,
    cache_dir=None,
    timeout: float = 600.0,
    languages=LANGUAGES,
    source_hook=None,
    log=None,
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
    receives progress lines.

    Returns a pandas DataFrame, one row per case and strategy (see
    :data:`COLUMNS`); ``attrs["notes"]`` holds the skipped languages and
    anything odd the native programs reported.
    """
    import pandas as pd

    if cases is None:
        cases = list(DEFAULT_CASES)
    if repeat < 1:
        raise UsageError(f"--repeat {repeat} must be at least 1")
    languages = tuple(languages)
    for language in languages:
        if language not in LANGUAGES:
            raise UsageError(f"unknown language '{language}'; choose from {', '.join(LANGUAGES)}")

    compiled = []
    for case in cases:
        if isinstance(case, CompiledProgram):  # a program built in Python
            workload = Workload(case.name, "a compiled program", "", (), lambda params: case)
            name, typed, program = case.name, {}, case
        else:
            name, params = case
            workload = get_workload(name)
            typed = workload.parse_params({k: _text(v) for k, v in params.items()})
            program = workload.compile(typed)
        compiled.append((name, workload, typed, program, ProgramView.of(program)))
    views = [view for *_, view in compiled]

    notes = []
    tools = {}
    if "rust" in languages:
        tools["rust"] = toolchain.find_rustc()
    if "c++" in languages:
        tools["c++"] = toolchain.find_cxx()
    for language, tool in list(tools.items()):
        if tool is None:
            message = toolchain.missing_message(language)
            notes.append(message)
            _note(log, message)
            del tools[language]

    sources = {}
    if "rust" in tools:
        sources["rust"] = rust.generate(views)
    if "c++" in tools:
        sources["c++"] = cpp.generate(views)
    broken = os.environ.get(BREAK_ENV, "")
    for language in sources:
        if language in _split([broken]):
            sources[language] += "\n#error pinbench test hook: deliberately broken source\nthis is not code\n"
        if source_hook is not None:
            sources[language] = source_hook(language, sources[language])

    # Compile both languages at once (each compiler is its own process),
    # then time the model and each native program one after the other, so
    # no measurement shares the CPU with a compiler or with another.
    binaries = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {}
        for language, source in sources.items():
            _note(log, f"compiling the {language} program with {tools[language].label}")
            futures[language] = pool.submit(toolchain.compile_cached, tools[language], source, cache_dir)
        errors = []
        for language, future in futures.items():
            try:
                binaries[language] = future.result()
            except UsageError as error:
                errors.append(error)
        if errors:
            raise errors[0]
    # Rounds: the model, then each native program, `repeat` times over. A
    # burst of load from elsewhere on the machine then falls on both sides
    # alike, and the minimum over the rounds is the figure least disturbed.
    model, native = {}, {}
    for round_number in range(1, repeat + 1):
        _note(
            log,
            f"round {round_number}/{repeat}: the model ({len(compiled)} case(s) x "
            f"{len(STRATEGIES)} strategies), then " + ", ".join(str(b) for b in binaries.values()),
        )
        for index, (name, workload, typed, program, view) in enumerate(compiled):
            for strategy in STRATEGIES:
                _merge(model, (index, strategy), _model_round(program, strategy))
        for language, binary in binaries.items():
            for row in _run_native(tools[language], binary, timeout):
                _merge(native, (row["program"], row["variant"]), row, language)

    rows = []
    for index, (name, workload, typed, program, view) in enumerate(compiled):
        for strategy in STRATEGIES:
            m = model[index, strategy]
            language, n = native.get((index, strategy), (None, None))
            row = {
                "case": index,
                "workload": workload.name,
                "params": _params_label(workload, typed),
                "param_values": dict(typed),
                "strategy": strategy,
                "native": tools[language].label if language else None,
                "tasks_model": m["tasks"],
                "allocs_model": m["allocs"],
                "bytes_model": m["bytes"],
                "frame_model": m["frame"],
                "ns_model": min(m["ns"]),
                "checksum_model": m["checksum"],
            }
            if n is None:
                row.update(
                    tasks_native=None, allocs_native=None, frees_native=None, bytes_native=None,
                    size_of_native=None, ns_native=None, checksum_native=None,
                    allocs_agree=None, checksum_agree=None,
                )
            else:
                row.update(
                    tasks_native=n["tasks"],
                    allocs_native=n["allocs"],
                    frees_native=n["frees"],
                    bytes_native=n["bytes"],
                    size_of_native=n["size_of"],
                    ns_native=min(n["ns"]),
                    checksum_native=n["checksum"],
                    allocs_agree=n["allocs"] == m["allocs"],
                    checksum_agree=n["checksum"] == m["checksum"],
                )
                where = f"{workload.name} {row['params']} / {strategy} ({row['native']})"
                if n["frees"] != n["allocs"]:
                    notes.append(f"{where}: the native program freed {n['frees']} of {n['allocs']} blocks")
                if not n["stable"]:
                    notes.append(f"{where}: the native counts changed between runs")
            if not m["stable"]:
                notes.append(f"{workload.name} {row['params']} / {strategy}: the model's counts changed between runs")
                if n["tasks"] != m["tasks"]:
                    notes.append(f"{where}: {n['tasks']} native tasks against {m['tasks']} in the model")
            rows.append(row)

    table = pd.DataFrame(rows, columns=COLUMNS)
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
    return table


COLUMNS = [
    "case", "workload", "params", "param_values", "strategy", "native",
    "tasks_model", "tasks_native",
    "allocs_model", "allocs_native", "frees_native",
    "bytes_model", "bytes_native",
    "frame_model", "size_of_native",
    "ns_model", "ns_native",
    "checksum_model", "checksum_native",
    "allocs_agree", "checksum_agree",
]  # plus the derived *_per_task_model / *_per_task_native columns


def disagreements(results) -> list:
    """One line per row whose allocation count or checksum differs."""
    lines = []
    for row in results.itertuples():
        if row.native is None:
            continue
        where = f"{row.workload} {row.params} / {row.strategy} ({row.native})"
        if not row.allocs_agree:
            lines.append(f"{where}: {row.allocs_native} native allocations against {row.allocs_model} in the model")
        if not row.checksum_agree:
            lines.append(f"{where}: native checksum {row.checksum_native} against {row.checksum_model} in the model")
    return lines


RATIO_PAIRS = (("always_heap", "pinbox"), ("anchor_box", "pinbox"), ("rc", "pinbox"))


def timing_table(results):
    """The model's time ratio between strategies beside the native ratio:
    one row per case and pair (``always_heap/pinbox`` is g++ against
    rustc natively; the others rustc against rustc). ``carry`` is the
    native ratio over the model's: 1 when the model's difference carries
    over exactly."""
    import pandas as pd

    rows = []
    for case, group in results.groupby("case", sort=True):
        by = {row.strategy: row for row in group.itertuples()}
        for a, b in RATIO_PAIRS:
            if a not in by or b not in by:
                continue
            ra, rb = by[a], by[b]
            model = ra.ns_per_task_model / rb.ns_per_task_model
            have = ra.native is not None and rb.native is not None
            native = ra.ns_per_task_native / rb.ns_per_task_native if have else float("nan")
            rows.append(
                {
                    "case": case,
                    "workload": ra.workload,
                    "params": ra.params,
                    "ratio": f"{a}/{b}",
                    "model_ratio": model,
                    "native": f"{ra.native}/{rb.native}" if have else None,
                    "native_ratio": native,
                    "carry": native / model if have else float("nan"),
                }
            )
    return pd.DataFrame(
        rows, columns=["case", "workload", "params", "ratio", "model_ratio", "native", "native_ratio", "carry"]
    )


def speed_table(results):
    """How fast the model's core runs each case against the native program
    of the same strategy: model ns per task / native ns per task."""
    table = results[
        ["case", "workload", "params", "strategy", "native", "ns_per_task_model", "ns_per_task_native"]
    ].copy()
    table["model_over_native"] = table["ns_per_task_model"] / table["ns_per_task_native"]
    return table


# -- text output ----------------------------------------------------------------------


def _num(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, float) and not value.is_integer():
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}"
    return f"{int(value):,}"


def _pair(model, native) -> str:
    return f"{_num(model)} / {_num(native)}"


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
        if r.native is None:
            verdict = "skipped"
        elif r.allocs_agree and r.checksum_agree:
            verdict = "agree"
        else:
            verdict = " ".join(
                word for word, ok in (("ALLOCS", r.allocs_agree), ("CHECKSUM", r.checksum_agree)) if not ok
            ) + " DIFFER"
        checksum = str(r.checksum_model)
        if r.native is not None and not r.checksum_agree:
            checksum += f" / {r.checksum_native}"
        rows.append(
            [
                r.workload, r.params, r.strategy, r.native or "-",
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
            ["workload", "params", "strategy", "native", "allocs/task", "bytes/task",
             "root frame B", "ns/task", "checksum", "counts"],
            rows, markdown,
        ),
    ]
    timing = timing_table(results)
    if len(timing):
        parts += [
            "",
            "Time ratios between strategies (carry = native ratio / model ratio):",
            _grid(
                ["workload", "params", "ratio", "model", "native", "native ratio", "carry"],
                [
                    [t.workload, t.params, t.ratio, _num(t.model_ratio), t.native or "-",
                     _num(t.native_ratio), _num(t.carry)]
                    for t in timing.itertuples()
                ],
                markdown,
            ),
        ]
    speed = speed_table(results)
    speed = speed[speed["native"].notna()]
    if len(speed):
        parts += [
            "",
            "The model's core against the native programs (model ns/task / native ns/task):",
            _grid(
                ["workload", "params", "strategy", "native", "model ns/task", "native ns/task", "model/native"],
                [
                    [s.workload, s.params, s.strategy, s.native, _num(s.ns_per_task_model),
                     _num(s.ns_per_task_native), _num(s.model_over_native)]
                    for s in speed.itertuples()
                ],
                markdown,
            ),
        ]
    return "\n".join(parts)


# -- command line ---------------------------------------------------------------------

DESCRIPTION = """\
Generate Rust and C++20 counterparts of the workloads, compile them with the
compilers on this machine (rustc -O: pinbox, anchor_box and rc; g++ -O2
-std=c++20: always_heap), run them with counting allocators and print their
figures beside the model's: allocations and bytes per task, the root
future's size_of against the model's frame size, ns per task, the checksum,
and how far the model's time ratios between strategies carry over.
Builds are cached (--cache-dir, $PINBENCH_CACHE, default
~/.cache/pinbench/native). A missing compiler skips its language."""

EPILOG = """\
examples:
  pinbench validate                    the default cases (chain x5, fanout x2,
                                       spawn_many, yield_many, spawn_size, skynet,
                                       generator x2)
  pinbench validate --quick            the same shapes at small sizes
  pinbench validate -w chain -p depth=0,3,5 -p borrow=all,none,10
  pinbench validate -w skynet -p levels=4 --repeat 5 --format markdown

exit status: 0 every allocation count and checksum agrees, 1 one disagrees,
2 bad usage or a generated program that does not compile or run."""


def add_parser(subparsers):
    """Add the `validate` subcommand to an argparse subparsers object."""
    p = subparsers.add_parser(
        "validate",
        help="compare the model with real Rust and C++ programs",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "-w", "--workload", action="append", metavar="W",
        help="a workload, 'all' or a .toml workload file; repeatable or a comma list "
        "(default: the default cases)",
    )
    p.add_argument(
        "-p", "--param", action="append", metavar="NAME=V1,V2",
        help="sweep a parameter of every selected workload that has it; repeatable",
    )
    p.add_argument("--quick", action="store_true", help="small sizes for every workload")
    p.add_argument(
        "--repeat", type=int, default=3, metavar="N",
        help=f"rounds (each runs every case {RUNS_PER_ROUND} times in the model and natively); "
        "times are the minimum over all runs (default 3)",
    )
    p.add_argument(
        "--language", action="append", metavar="L",
        help="rust, c++ or both (default); repeatable or a comma list",
    )
    p.add_argument("--cache-dir", metavar="DIR", help="where builds are cached (default: $PINBENCH_CACHE or ~/.cache/pinbench/native)")
    p.add_argument("--timeout", type=float, default=600.0, metavar="S", help="seconds a native program may run (default 600)")
    p.add_argument("--format", choices=("text", "markdown"), default="text", help="table format (default text)")
    p.add_argument(
        "--save", metavar="DIR",
        help="also write validation.json into DIR (a results folder), where `pinbench report DIR` "
        "draws the timing-fidelity figure",
    )
    p.set_defaults(func=lambda args, argv=None: run_command(args))
    return p


def save_results(results, folder) -> Path:
    """``validation.json`` in ``folder``: every case and the two ratio tables."""
    import math

    from ..results import atomic_write_text
    from .plots import SAVED_FORMAT

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
        "cases": records(results.drop(columns=[c for c in results.columns if results[c].dtype == object and c not in ("case", "workload", "params", "strategy", "native")])),
    }
    path = folder / "validation.json"
    atomic_write_text(path, json.dumps(doc, indent=2, default=str) + "\n")
    return path


def run_command(args) -> int:
    """Run `pinbench validate` from parsed arguments; 0 all agree, 1 a
    count or checksum disagrees, 2 bad usage (printed as one line)."""
    prog = "pinbench validate"
    try:
        cases = select_cases(args.workload, args.param, quick=args.quick)
        languages = _split(args.language) or list(LANGUAGES)
        log = lambda message: print(f"{prog}: {message}", file=sys.stderr, flush=True)
        results = validate(
            cases,
            repeat=args.repeat,
            cache_dir=args.cache_dir,
            timeout=args.timeout,
            languages=languages,
            log=log,
        )
    except UsageError as error:  # one line, as the CLI prints every usage error
        print(f"pinbench: error: {' '.join(str(error).split())}", file=sys.stderr)
        return EXIT_USAGE
    print(format_results(results, markdown=args.format == "markdown"))
    if args.save:
        try:
            path = save_results(results, args.save)
        except OSError as error:
            print(f"pinbench: error: cannot write {args.save}/validation.json: {error.strerror or error}", file=sys.stderr)
            return EXIT_USAGE
        print(f"saved {path} (pinbench report {args.save} draws it)")
    for note in results.attrs["notes"]:
        print(f"note: {note}")
    problems = disagreements(results)
    compared = int(results["native"].notna().sum())
    if problems:
        print(f"\n{len(problems)} disagreement{'s' if len(problems) != 1 else ''} with the model:")
        for line in problems:
            print(f"  {line}")
        return EXIT_DISAGREE
    if compared:
        print(f"\nall {compared} native runs agree with the model on allocation counts and checksums")
    else:
        print("\nno native program was run (no compiler found)")
    return EXIT_OK


def main(argv=None) -> int:
    """`python -m pinbench.bench.validate`: the subcommand on its own."""
    parser = argparse.ArgumentParser(prog="pinbench")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["validate", *(sys.argv[1:] if argv is None else argv)])
    return run_command(args)
