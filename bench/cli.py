"""The `pinbench` command line: list, run, show.

Layers stay apart, as in criterion: the runner measures
(:func:`runner.execute`), :mod:`suite` decides what to measure,
:mod:`results` stores and reads results folders, and this module only parses
arguments, drives the run loop and draws tables.

Errors: every :class:`UsageError` and every argparse usage error is one line
on stderr and exit status 2, never a traceback. An interrupted run (Ctrl-C or
SIGTERM) keeps the benchmarks that finished and exits with 130 or 143. A
benchmark that ends with live blocks, or strategies that disagree on a
checksum, are bugs: reported, exit status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from . import runner
from ..model.errors import UsageError

PROG = "pinbench"

ALLOCATOR_SUMMARIES = {
    "system": "malloc/free from the C library",
    "pool": "size-class free lists that recycle frames",
    "bump": "an arena: frees are no-ops until the run ends",
}

EXIT_OK, EXIT_BUG, EXIT_USAGE = 0, 1, 2


def _one_line(message) -> str:
    return " ".join(str(message).split())


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line: message and where to look."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{PROG}: error: {_one_line(message)} (see {self.prog} --help)\n")


# -- formatting helpers ------------------------------------------------------


def _compact(value) -> str:
    """A number short enough for a table cell: 9, 1.11, 1240, 2.3M."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    for limit, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M")):
        if abs(value) >= limit:
            return _three_digits(value / limit) + suffix
    if float(value).is_integer():
        return str(int(value))
    return _three_digits(value)


def _three_digits(value: float) -> str:
    """Three significant digits, trailing zeros kept so columns line up."""
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _param_text(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _params_compact(params: dict) -> str:
    return " ".join(f"{k}={_param_text(v)}" for k, v in params.items())


def _stdout_console():
    from rich.console import Console

    # A pipe or a file gets 100 columns (rich would choose 80) unless
    # COLUMNS says otherwise; a terminal gets its own width.
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 100
    return Console(width=width, highlight=False)


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _esc(text) -> str:
    """``text`` safe inside rich markup (a '[' in a name is not a style)."""
    from rich.markup import escape

    return escape(str(text))


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


# -- pinbench list ------------------------------------------------------------------


def _allowed_short(param) -> str:
    if param.kind == "int":
        return f"{param.minimum:,}..{param.maximum:,}"
    if param.kind == "bool":
        return "true/false"
    return param.allowed


def cmd_list(args, argv) -> int:
    from rich.table import Table

    from .. import strategies
    from .workloads import WORKLOADS

    out = _stdout_console()

    table = Table(title="Workloads", title_justify="left", show_lines=True, expand=True)
    table.add_column("workload", style="bold", no_wrap=True)
    table.add_column("what it runs", ratio=3)
    table.add_column("parameters: default (allowed)", ratio=2)
    for workload in WORKLOADS.values():
        params = "\n".join(
            _esc(f"{p.name}={_param_text(p.default)} ({_allowed_short(p)})") for p in workload.params
        )
        table.add_row(
            _esc(workload.name),
            f"{_esc(workload.summary)}\n[dim]origin: {_esc(workload.origin)}[/dim]",
            params or "-",
        )
    out.print(table)
    out.print("A workload may also be the path of a .toml workload file (docs/workload-files.md).")
    out.print("Sweep a parameter with: pinbench run --workload W --param NAME=V1,V2\n")

    table = Table(title="Strategies", title_justify="left", expand=True)
    table.add_column("strategy", style="bold", no_wrap=True)
    table.add_column("polling", no_wrap=True)
    table.add_column("summary", ratio=1)
    table.add_column("origin", ratio=1)
    for name, strategy in strategies.available().items():
        kind = "built-in" if name in strategies.BUILTIN else "plug-in"
        table.add_row(
            _esc(name),
            _esc(strategy.polling.replace("_", "-")),
            _esc(strategy.summary or "-"),
            _esc(strategy.origin or "-") + ("" if kind == "built-in" else " [dim](plug-in)[/dim]"),
        )
    out.print(table)
    out.print()

    table = Table(title="Allocators", title_justify="left")
    table.add_column("allocator", style="bold", no_wrap=True)
    table.add_column("how frames are allocated", ratio=1)
    for name in runner.ALLOCATORS:
        table.add_row(name, ALLOCATOR_SUMMARIES.get(name, "-"))
    out.print(table)
    return EXIT_OK


# -- pinbench run --------------------------------------------------------------------


class _Signals:
    """SIGINT and SIGTERM raise KeyboardInterrupt, except inside
    :meth:`deferred` blocks (writing the results folder), where they wait
    until the block ends. ``status`` is 128 + the first signal's number."""

    def __init__(self):
        self.signum = None
        self.deferring = False
        self.pending = False
        self._saved = {}

    def _handle(self, signum, frame):
        if self.signum is None:
            self.signum = signum
        if self.deferring:
            self.pending = True
            return
        raise KeyboardInterrupt

    def install(self):
        try:
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._saved[signum] = signal.signal(signum, self._handle)
        except ValueError:  # not the main thread: keep Python's defaults
            pass

    def restore(self):
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)
        self._saved.clear()

    @contextlib.contextmanager
    def deferred(self):
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt

    @property
    def status(self) -> int:
        return 128 + (self.signum or signal.SIGINT)


def _memory_limit(text: str) -> int:
    try:
        gib = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of GiB (e.g. 4 or 0.5)") from None
    if not gib > 0 or gib > 1 << 20:
        raise argparse.ArgumentTypeError(f"'{text}' GiB is out of range; give a size above 0")
    return int(gib * (1 << 30))


def _output_folder(args) -> Path:
    """The folder of this run: --output, results/NAME, or results/<timestamp>
    (with -2, -3... if that folder already holds a run)."""
    if args.output:
        return Path(args.output)
    if args.name is not None:
        name = args.name
        if not name or name in (".", "..") or "/" in name or os.sep in name:
            raise UsageError(f"--name '{name}' must be a plain folder name (no '/'); or use --output DIR")
        return Path("results") / name
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = Path("results") / stamp
    n = 2
    while (folder / "results.json").exists():
        folder = Path("results") / f"{stamp}-{n}"
        n += 1
    return folder


def _prepare_folder(folder: Path, force: bool) -> bool:
    """Check and create the output folder; True if this run created it."""
    from .results import CSV_FILE, PYPERF_FILE, RESULTS_FILE

    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} exists and is not a folder; choose another --output")
    if (folder / RESULTS_FILE).exists():
        if not force:
            raise UsageError(
                f"{folder} already holds a run ({RESULTS_FILE}); choose another --output/--name, "
                "or pass --force to overwrite it"
            )
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if force:  # never leave the old run's files beside the new one's
            for name in (RESULTS_FILE, CSV_FILE, PYPERF_FILE):
                (folder / name).unlink(missing_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create the results folder {folder}: {error.strerror}") from None
    return created


def _label(bench, name: str, base: dict) -> str:
    """workload[params that differ from the run's base]/strategy/allocator."""
    changed = {k: v for k, v in bench.params.items() if base.get(k) != v}
    args = f"[{','.join(f'{k}={_param_text(v)}' for k, v in changed.items())}]" if changed else ""
    return f"{name}{args}/{bench.strategy}/{bench.allocator}"


class _Progress:
    """A rich progress bar on a terminal; otherwise one line per benchmark."""

    def __init__(self, total: int):
        self.total = total
        self.done = 0
        self.console = _stderr_console()
        self.bar = None
        if sys.stderr.isatty():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=24),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self.task = self.bar.add_task("", total=total)

    def __enter__(self):
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()

    def starting(self, label: str):
        if self.bar is not None:
            width = 44
            text = label if len(label) <= width else label[: width - 1] + "…"
            self.bar.update(self.task, description=text.ljust(width))

    def finished(self, label: str, seconds: float):
        self.done += 1
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done)
        else:
            print(f"[{self.done}/{self.total}] {label} ({seconds:.2f} s)", file=sys.stderr, flush=True)


def cmd_run(args, argv) -> int:
    from . import environment, timing
    from .results import storable_metrics, write_pyperf, write_results
    from .suite import QUICK_PARAMS, build_suite
    from .workloads import get_workload

    suite = build_suite(args.workload, args.strategy, args.allocator, args.param, quick=args.quick)
    # Compile every program now: a bad combination fails before anything runs.
    workloads, programs = {}, {}
    for bench in suite:
        workload = workloads.setdefault(bench.workload, get_workload(bench.workload))
        key = (bench.workload, tuple(bench.params.items()))
        if key not in programs:
            programs[key] = workload.compile(bench.params)

    folder = _output_folder(args)
    created = _prepare_folder(folder, args.force)
    run = {
        "complete": False,
        "command": [PROG] + list(argv),
        "mode": "quick" if args.quick else "rigorous" if args.rigorous else "default",
        "timing": not args.counts_only,
        "started": _now(),
        "finished": None,
        "benchmarks_planned": len(suite),
        "environment": {},
        "benchmarks": [],
    }
    finished = run["benchmarks"]
    timed = []  # pyperf.Benchmark objects, for pyperf.json
    signals = _Signals()
    signals.install()
    t0 = time.perf_counter()
    scratch = tempfile.TemporaryDirectory(prefix="pinbench-")
    try:
        run["environment"] = environment.collect()
        timer = None if args.counts_only else timing.Timer(Path(scratch.name) / "specs.json", run["mode"])
        # Every write happens with signals deferred, so results.json and
        # metrics.csv always describe the same finished benchmarks and a
        # stop needs no final write.
        with _Progress(len(suite)) as progress:
            for bench in suite:
                workload = workloads[bench.workload]
                program = programs[(bench.workload, tuple(bench.params.items()))]
                defaults = {p.name: p.default for p in workload.params}
                base = {**defaults, **(QUICK_PARAMS.get(bench.workload, {}) if args.quick else {})}
                label = _label(bench, workload.name, base)
                progress.starting(label)
                started = time.perf_counter()
                metrics = runner.execute(program, bench.strategy, bench.allocator, args.memory_limit)
                if timer is not None:
                    spec = timing.Spec(
                        bench.label, bench.workload, dict(bench.params), bench.strategy,
                        bench.allocator, metrics["tasks"], args.memory_limit or runner.default_memory_limit(),
                    )
                    try:
                        timed_benchmark = timer.time(spec)
                    except SystemExit:
                        # pyperf turns Ctrl-C during a worker into sys.exit(1);
                        # it was our interrupt, and the folder keeps what finished.
                        if signals.signum is not None:
                            raise KeyboardInterrupt from None
                        raise UsageError(f"pyperf could not time {bench.label}") from None
                    metrics.update(timing.timing_metrics(timed_benchmark))
                    metrics.update(timing.measure_latency(spec, run["mode"]))
                record = {
                    "workload": program.name,
                    "strategy": bench.strategy,
                    "allocator": bench.allocator,
                    "params": dict(bench.params),
                    "metrics": storable_metrics(metrics),  # not the latency samples
                }
                if bench.workload.endswith(".toml"):
                    record["workload_file"] = bench.workload
                with signals.deferred():
                    finished.append(record)
                    run["complete"] = len(finished) == len(suite)
                    run["finished"] = _now()
                    if timer is not None:
                        timed.append(timed_benchmark)
                        write_pyperf(folder, timed)
                    write_results(folder, run)
                progress.finished(label, time.perf_counter() - started)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted: {_partial(folder, finished, suite, created)}", file=sys.stderr)
        return signals.status
    except UsageError as error:  # e.g. the memory limit: keep what finished
        print(f"{PROG}: error: {_one_line(error)} ({_partial(folder, finished, suite, created)})", file=sys.stderr)
        return EXIT_USAGE
    finally:
        signals.restore()
        scratch.cleanup()
    elapsed = time.perf_counter() - t0
    return _report_run(folder, run, elapsed)


def _partial(folder: Path, finished: list, suite: list, created: bool) -> str:
    """Leave the folder consistent after a stop; say what it holds."""
    if not finished:
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty
        return f"0 of {len(suite)} benchmarks finished; nothing written"
    return f"{len(finished)} of {len(suite)} benchmarks finished; partial results in {folder}"


def _report_run(folder: Path, run: dict, elapsed: float) -> int:
    from .results import read_results

    doc = read_results(folder)  # what a user will read back, not what we hold
    out = _stdout_console()
    out.print(_summary_table(doc))
    if _has_timing(doc):
        out.print(_timing_summary_table(doc))
        _print_noise_warning(out, doc)
    out.print(f"{len(doc['benchmarks'])} benchmarks in {elapsed:.1f} s; results in [bold]{_esc(folder)}[/bold]")
    out.print(f"full table: pinbench show {_esc(folder)}")
    return _report_problems(doc)


def _report_problems(doc: dict) -> int:
    problems = find_problems(doc)
    if not problems:
        return EXIT_OK
    err = _stderr_console()
    err.print(f"[bold red]{PROG}: BUG[/bold red]: {len(problems)} problem(s) in these results:")
    for problem in problems:
        err.print(f"  - {problem}", soft_wrap=True, markup=False)
    return EXIT_BUG


# -- analysis of a results document --------------------------------------------------


def _group_key(bench: dict) -> tuple:
    return (bench["workload"], bench.get("workload_file"), tuple(sorted(bench["params"].items(), key=str)))


def find_problems(doc: dict) -> list:
    """Bugs visible in a results document: live blocks or bytes at the end
    of a run (a leak), and checksums that differ within one workload and
    parameter set (a strategy or allocator that computes something else)."""
    problems = []
    checksums = {}
    for bench in doc["benchmarks"]:
        m = bench["metrics"]
        where = f"{bench['workload']} {_params_compact(bench['params'])} / {bench['strategy']} / {bench['allocator']}"
        blocks, nbytes = m.get("live_blocks_end"), m.get("live_bytes_end")
        if blocks or nbytes:
            problems.append(f"{where} ended with {blocks} live blocks ({nbytes} bytes): frames leaked")
        checksums.setdefault(_group_key(bench), {}).setdefault(m.get("checksum"), []).append(
            f"{bench['strategy']}/{bench['allocator']}"
        )
    for (workload, _, params), by_value in checksums.items():
        if len(by_value) > 1:
            detail = "; ".join(f"{value} from {', '.join(who)}" for value, who in by_value.items())
            text = " ".join(f"{k}={_param_text(v)}" for k, v in params)
            problems.append(f"{workload} {text}: checksums differ ({detail})")
    return problems


def _groups(doc: dict) -> list:
    """Benchmarks grouped by workload and parameters, in document order."""
    groups = {}
    for bench in doc["benchmarks"]:
        groups.setdefault(_group_key(bench), []).append(bench)
    return list(groups.values())


# -- tables ----------------------------------------------------------------------------


def _summary_table(doc: dict):
    """Per workload and parameters: allocations and peak live bytes per task
    under each strategy (deterministic; identical for every allocator)."""
    from rich.table import Table

    strategy_names = []
    for bench in doc["benchmarks"]:
        if bench["strategy"] not in strategy_names:
            strategy_names.append(bench["strategy"])
    table = Table(
        title="allocations per task / peak live bytes per task, by strategy",
        title_justify="left",
        caption="(deterministic: the same under every allocator)",
        caption_justify="left",
    )
    table.add_column("workload", style="bold")
    for name in strategy_names:
        table.add_column(name, justify="right", no_wrap=True)
    for group in _groups(doc):
        cells = {}
        for bench in group:
            m = bench["metrics"]
            cells.setdefault(
                bench["strategy"],
                f"{_compact(m.get('allocs_per_task'))} / {_compact(m.get('peak_bytes_per_task'))}",
            )
        first = group[0]
        params = _params_compact(first["params"])
        name = _esc(first["workload"]) + (f"\n[dim]{_esc(params)}[/dim]" if params else "")
        table.add_row(name, *(cells.get(s, "") for s in strategy_names))
    return table


def _group_labels(group: list) -> list:
    """A group's caption runs down its first column: the workload on the
    first row, then its parameters, packed into the rows there are."""
    first = group[0]
    params = [_esc(f"{k}={_param_text(v)}") for k, v in first["params"].items()]
    labels = [f"[bold]{_esc(first['workload'])}[/bold]"]
    slots = max(len(group) - 1, 1)
    if len(params) <= slots:
        labels += [f"[dim]{p}[/dim]" for p in params]
    else:
        per_row = -(-len(params) // slots)
        labels += [f"[dim]{' '.join(params[i:i + per_row])}[/dim]" for i in range(0, len(params), per_row)]
    if len(group) == 1:
        labels = ["\n".join(labels)]
    return labels


def _has_timing(doc: dict) -> bool:
    return any("ns_per_task_mean" in b["metrics"] for b in doc["benchmarks"])


def _noisy(doc: dict) -> list:
    return [b for b in doc["benchmarks"] if b["metrics"].get("noisy")]


def _print_noise_warning(out, doc: dict):
    from .timing import NOISY_CV

    noisy = _noisy(doc)
    if noisy:
        names = ", ".join(f"{b['workload']}/{b['strategy']}/{b['allocator']}" for b in noisy[:6])
        more = f" and {len(noisy) - 6} more" if len(noisy) > 6 else ""
        out.print(
            f"[bold yellow]warning:[/bold yellow] {len(noisy)} benchmark(s) spread more than "
            f"{NOISY_CV:.0%} (stdev/mean), too wide to trust: {_esc(names)}{more} "
            "(marked ! ; rerun them, with --rigorous, on a quieter machine)"
        )


def _ns(value) -> str:
    from .timing import format_ns  # imported when drawn: `pinbench list` stays light

    return format_ns(value)


def _time_cell(m: dict) -> str:
    if "ns_per_task_mean" not in m:
        return "-"
    flag = " [bold yellow]![/bold yellow]" if m.get("noisy") else ""
    return f"{_ns(m['ns_per_task_mean'])} ±{m.get('timing_cv', 0):.0%}{flag}"


def _timing_summary_table(doc: dict):
    """Per workload: time per task under each strategy (mean ± cv; ! = noisy)."""
    from rich.table import Table

    strategy_names = list(dict.fromkeys(b["strategy"] for b in doc["benchmarks"]))
    table = Table(
        title="time per task (pyperf mean ±cv), by strategy", title_justify="left",
        caption="(first allocator of each group; ! = too noisy to trust)", caption_justify="left",
    )
    table.add_column("workload", style="bold")
    for name in strategy_names:
        table.add_column(name, justify="right", no_wrap=True)
    for group in _groups(doc):
        cells = {}
        for bench in group:
            cells.setdefault(bench["strategy"], _time_cell(bench["metrics"]))
        first = group[0]
        params = _params_compact(first["params"])
        name = _esc(first["workload"]) + (f"\n[dim]{_esc(params)}[/dim]" if params else "")
        table.add_row(name, *(cells.get(s, "") for s in strategy_names))
    return table


def _timing_table(doc: dict):
    """Every benchmark's timing: pyperf's ns/task and the latency percentiles."""
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0), show_edge=False)
    table.add_column("workload\nparams", overflow="fold")
    table.add_column("strategy", no_wrap=True)
    table.add_column("allocator", no_wrap=True)
    table.add_column("time/task", justify="right", no_wrap=True)
    table.add_column("n", justify="right", no_wrap=True)
    table.add_column("tasks/s", justify="right", no_wrap=True)
    for header in ("p50", "p99", "max"):  # p90 and p99.9 are in metrics.csv
        table.add_column(header, justify="right", no_wrap=True)
    for group in _groups(doc):
        labels = _group_labels(group)
        for i, bench in enumerate(group):
            m = bench["metrics"]
            table.add_row(
                labels[i] if i < len(labels) else "",
                _esc(bench["strategy"]),
                _esc(bench["allocator"]),
                _time_cell(m),
                str(m.get("timing_values", "-")),
                _compact(m.get("tasks_per_second")),
                _ns(m.get("p50_ns")),
                _ns(m.get("p99_ns")),
                _ns(m.get("max_ns")),
                end_section=i == len(group) - 1,
            )
    return table


def _results_table(doc: dict):
    from rich import box
    from rich.table import Table

    # Columns are one space apart (the box's divider) so that the widest
    # rows (20-digit checksums, 6-digit byte counts) fit in 100 columns; the
    # text columns get a second space of their own.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=0, show_edge=False)
    table.add_column("workload\nparams", overflow="fold")
    table.add_column(" strategy", no_wrap=True)
    table.add_column(" alloc-\n ator", no_wrap=True)
    for header in ("allocs\n/task", "bytes\n/task", "peak\nlive B", "moved\nbytes", "refcnt\nops", "polls\n/task"):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("checksum", justify="right", no_wrap=True)
    for group in _groups(doc):
        first = group[0]
        labels = _group_labels(group)
        reference = first["metrics"].get("checksum")
        for i, bench in enumerate(group):
            m = bench["metrics"]
            checksum = m.get("checksum")
            if i == 0:
                checksum_text = str(checksum)
            elif checksum == reference:
                checksum_text = "[dim]same[/dim]"
            else:
                checksum_text = f"[bold red]{checksum}[/bold red]"
            leak = m.get("live_blocks_end") or m.get("live_bytes_end")
            table.add_row(
                labels[i] if i < len(labels) else "",
                " " + _esc(bench["strategy"]) + (" [bold red]LEAK[/bold red]" if leak else ""),
                " " + _esc(bench["allocator"]),
                _compact(m.get("allocs_per_task")),
                _compact(m.get("bytes_per_task")),
                _compact(m.get("peak_live_bytes")),
                _compact(m.get("moved_bytes")),
                _compact(m.get("refcount_ops")),
                _compact(m.get("polls_per_task")),
                checksum_text,
                end_section=i == len(group) - 1,
            )
    return table


# -- pinbench show -----------------------------------------------------------------------


def _header_lines(folder, doc: dict) -> list:
    env = doc.get("environment") or {}
    started = str(doc.get("started") or "?").replace("T", " ")
    machine = env.get("hostname") or "?"
    details = [x for x in (env.get("cpu"), f"{env['logical_cores']} cores" if env.get("logical_cores") else None,
                           " ".join(x for x in (env.get("os"), env.get("kernel")) if x) or None) if x]
    commit = env.get("git_commit")
    commit_text = "no git checkout" if not commit else commit[:12] + (" (dirty)" if env.get("git_dirty") else "")
    lines = [
        f"[bold]{_esc(folder)}[/bold]",
        _esc(f"mode: {doc.get('mode', '?')}  started: {started}  commit: {commit_text}"),
        _esc(
            f"machine: {machine}" + (f" ({', '.join(details)})" if details else "")
            + f"  pinbench {doc.get('pinbench_version', '?')}"
        ),
    ]
    if not doc.get("complete"):
        planned = doc.get("benchmarks_planned")
        of = f" of {planned}" if planned else ""
        lines.append(
            f"[bold yellow]warning:[/bold yellow] this run is incomplete: "
            f"{len(doc['benchmarks'])}{of} benchmarks finished (interrupted or stopped)"
        )
    return lines


def cmd_show(args, argv) -> int:
    from .results import read_results

    doc = read_results(args.dir)
    out = _stdout_console()
    for line in _header_lines(args.dir, doc):
        out.print(line)
    out.print()
    table = _results_table(doc)
    # Never cut a number off: a narrower screen or COLUMNS gets the table at
    # its natural width (a terminal soft-wraps it; a file does not care).
    needed = out.measure(table, options=out.options.update_width(1000)).maximum
    width = out.width
    out.width = max(width, needed)
    out.print(table)
    out.width = width
    out.print(
        "[dim]/task: per task the run started (spawned ones included); M = 10^6; "
        "exact values in metrics.csv[/dim]"
    )
    if _has_timing(doc):
        out.print()
        timing_table = _timing_table(doc)
        out.width = max(width, out.measure(timing_table, options=out.options.update_width(1000)).maximum)
        out.print(timing_table)
        out.width = width
        _print_noise_warning(out, doc)
    return _report_problems(doc)


# -- argument parsing ----------------------------------------------------------------------

_FORMATTER = argparse.RawDescriptionHelpFormatter

MAIN_DESCRIPTION = """\
What does each way of storing async state machines cost? pinbench runs async
workloads under memory strategies (always_heap, anchor_box, pinbox, rc, and
plug-ins) and frame allocators, and counts allocations, bytes, moves, refcount
operations and polls exactly."""

MAIN_EPILOG = """\
examples:
  pinbench list                       what can be run
  pinbench run --quick                the small suite (CI), into results/<timestamp>/
  pinbench show results/<timestamp>   the results as a table
  pinbench report results/<timestamp> figures and an HTML page (--open to view it)
  pinbench explain chain              one task's memory under each strategy
  pinbench compare BASE HEAD          what changed between two runs (exit 1 on a regression)
  pinbench compare-branches main HEAD --quick   build, run interleaved and compare two git refs

exit status: 0 ok, 1 a bug was found (leak, checksum mismatch), 2 bad usage,
130/143 interrupted by SIGINT/SIGTERM."""

RUN_DESCRIPTION = """\
Run a suite of benchmarks: every selected workload x strategy x allocator
(default: all of them, each workload at its default parameters; --quick uses
small parameters). The results folder (results.json, metrics.csv) is
rewritten after every finished benchmark, so an interrupted run keeps what
finished, marked incomplete."""

RUN_EPILOG = """\
examples:
  pinbench run --quick
  pinbench run --workload chain,fanout --strategy pinbox --strategy rc
  pinbench run --workload chain --param depth=1,4,16 --param borrow=all,none
  pinbench run --workload examples/echo.toml --allocator pool --name echo
  pinbench run --quick --output /tmp/ci-run --force

--param applies to every selected workload that has the parameter; several
--param flags run every combination. `pinbench list` shows the parameters,
their defaults and allowed values.

exit status: 0 ok, 1 a bug was found (a benchmark ended with live blocks, or
checksums differ between strategies), 2 bad usage, 130/143 interrupted."""

LIST_DESCRIPTION = "List the workloads (with their parameters), strategies (plug-ins included) and allocators."
LIST_EPILOG = """\
examples:
  pinbench list
  pinbench list | less"""

SHOW_DESCRIPTION = """\
Show a results folder as a table: one row per benchmark (workload and
parameters, strategy, allocator and the deterministic metrics), with the
run's mode, date, machine and commit above it."""

SHOW_EPILOG = """\
examples:
  pinbench show results/20240101-120000
  pinbench show results/nightly

Exits with status 1 when the results show a bug (a leak or differing
checksums), 2 when the folder is missing or is not pinbench results."""


def build_parser() -> ArgumentParser:
    from .. import __version__

    parser = ArgumentParser(
        prog=PROG, description=MAIN_DESCRIPTION, epilog=MAIN_EPILOG, formatter_class=_FORMATTER
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parser.commands = commands.choices  # name -> subparser, for errors about its arguments

    p = commands.add_parser(
        "list", help="list workloads, strategies and allocators",
        description=LIST_DESCRIPTION, epilog=LIST_EPILOG, formatter_class=_FORMATTER,
    )
    p.set_defaults(func=cmd_list)

    p = commands.add_parser(
        "run", help="run benchmarks and write a results folder",
        description=RUN_DESCRIPTION, epilog=RUN_EPILOG, formatter_class=_FORMATTER,
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small parameters, short timing (for CI)")
    mode.add_argument(
        "--rigorous", action="store_true", help="more pyperf processes and values (for numbers you publish)"
    )
    p.add_argument(
        "--counts-only", action="store_true",
        help="only the deterministic counts: no pyperf timing, no latency (seconds, not minutes)",
    )
    p.add_argument(
        "-w", "--workload", action="append", metavar="W",
        help="a workload name, 'all', or a .toml workload file; repeatable, or a comma list "
        "(default: all built-in workloads)",
    )
    p.add_argument(
        "-s", "--strategy", action="append", metavar="S",
        help="a strategy name or 'all'; repeatable, or a comma list (default: all)",
    )
    p.add_argument(
        "-a", "--allocator", action="append", metavar="A",
        help="system, pool, bump or 'all'; repeatable, or a comma list (default: all)",
    )
    p.add_argument(
        "-p", "--param", action="append", metavar="NAME=V1,V2",
        help="sweep a parameter over the given values; repeatable (every combination)",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", metavar="DIR", help="the results folder (default: results/<YYYYmmdd-HHMMSS>/)")
    where.add_argument("--name", metavar="NAME", help="write to results/NAME/ instead of a timestamp")
    p.add_argument("--force", action="store_true", help="overwrite a folder that already holds a run")
    p.add_argument(
        "--memory-limit", type=_memory_limit, metavar="GIB", default=None,
        help="stop a benchmark whose live frames exceed GIB gibibytes (default: half the RAM)",
    )
    p.set_defaults(func=cmd_run)

    p = commands.add_parser(
        "show", help="show a results folder as a table",
        description=SHOW_DESCRIPTION, epilog=SHOW_EPILOG, formatter_class=_FORMATTER,
    )
    p.add_argument("dir", metavar="DIR", help="a results folder written by `pinbench run`")
    p.set_defaults(func=cmd_show)

    from . import report  # `pinbench report` and `pinbench explain`

    report.add_parsers(commands)

    from . import validate  # `pinbench validate`: its parser's func runs it

    validate.add_parser(commands)

    from . import branches, compare_report  # `pinbench compare`, `pinbench compare-branches`

    compare_report.add_parser(commands)
    branches.add_parser(commands)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # blame the subcommand, whose --help lists its options
            parser.commands[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as stop:  # --help, --version, usage errors
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    try:
        return args.func(args, argv)
    except UsageError as error:
        print(f"{PROG}: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except BrokenPipeError:
        # `pinbench show DIR | head`: the reader left; say nothing more.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
