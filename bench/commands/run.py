"""`pinbench run`: build the suite, run every benchmark, write the results
folder after each one, print the summary.

Errors: every :class:`UsageError` is one line on stderr and exit status 2. An
interrupted run (Ctrl-C or SIGTERM) keeps the benchmarks that finished and
exits with 130 or 143. A benchmark that ends with live blocks, or strategies
that disagree on a checksum, are bugs: reported, exit status 1.
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

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ...model.errors import UsageError
from .. import engine as engines
from .. import environment, instructions, runner, shard, timing
from ..console import EXIT_USAGE, PROG, esc, now, one_line, stderr_console, stdout_console
from ..formatting import parse_float
from ..records import BenchmarkRecord
from ..results import (
    CSV_FILE,
    PYPERF_FILE,
    RESULTS_FILE,
    read_results,
    replace_folder,
    storable_metrics,
    write_pyperf,
    write_results,
)
from ..formatting import duration_text
from ..suite import ALL, SECONDS_PER_BENCHMARK, build_suite, selection_text, suite_of
from ..terminal import (
    has_instructions,
    headline_table,
    instructions_summary_table,
    print_noise_warning,
    report_problems,
)
from ..workloads import get_workload
from .common import (
    add_command,
    add_mode_arguments,
    add_suite_choice,
    add_shard_arguments,
    add_suite_arguments,
    folder_argument,
    mode_of,
)

NAME = "run"
# A run replacing another (--force) is written into a sibling folder named
# .<name>.<STAGING>-<random> until it is complete.
STAGING = "pinbench-new"

RUN_DESCRIPTION = """\
Run a suite of benchmarks: every selected workload x strategy x allocator.
The default suite runs every workload (at its default parameters, a few
made cheaper) under every strategy and the system allocator, in minutes;
--quick runs them at small parameters (CI); --suite full runs every
allocator too, the exhaustive cross product. The expected duration is
printed before the run starts. The results folder (results.json,
metrics.csv) is rewritten after every finished benchmark, so an interrupted
run keeps what finished, marked incomplete."""
RUN_EPILOG = """\
examples:
  pinbench run
  pinbench run --quick
  pinbench run --suite full --shard 1/4 --output shard-1
  pinbench run --workload chain,fanout --strategy pinbox --strategy rc
  pinbench run --workload chain --param depth=1,4,16 --param borrow=all,none
  pinbench run --workload examples/echo.toml --allocator pool --name echo
  pinbench run --quick --output /tmp/ci-run --force
  pinbench run --quick --shard 2/4 --output shard-2     # then: pinbench merge shard-* -o merged

--param applies to every selected workload that has the parameter; several
--param flags run every combination. `pinbench list` shows the parameters,
their defaults and allowed values.

exit status: 0 ok, 1 a bug was found (a benchmark ended with live blocks, or
checksums differ between strategies), 2 bad usage, 130/143 interrupted."""


def add_parser(subparsers):
    p = add_command(subparsers, NAME, "run benchmarks and write a results folder", RUN_DESCRIPTION, RUN_EPILOG, run)
    add_mode_arguments(
        p,
        quick="the quick suite: small parameters, short timing (for CI); the same as --suite quick",
        rigorous="more pyperf processes and values (for numbers you publish)",
        counts_only="only the deterministic counts: no pyperf timing, no latency (seconds, not minutes)",
    )
    add_suite_choice(p)
    add_suite_arguments(p)
    add_shard_arguments(p)
    where = p.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", metavar="DIR", type=folder_argument,
                       help="the results folder (default: results/<YYYYmmdd-HHMMSS>/)")
    where.add_argument("--name", metavar="NAME", help="write to results/NAME/ instead of a timestamp")
    p.add_argument("--force", action="store_true",
                   help="replace a folder that already holds a run (the whole folder, once the new run is "
                   "complete), or write into a non-empty folder that holds none")
    p.add_argument(
        "--instructions", action="store_true",
        help="also count the core's instructions (and estimated cycles) per task under valgrind's "
        "callgrind, after the timing: deterministic numbers for a CI gate (needs valgrind)",
    )
    p.add_argument(
        "--engine", type=engines.engine_argument, default=None, metavar="E",
        help="how the core polls frames: compiled (each program and strategy turned into C and "
        "compiled once, cached; the default where a C compiler works) or interpreted; the counts "
        "are the same",
    )
    p.add_argument(
        "--memory-limit", type=_memory_limit, metavar="GIB", default=None,
        help="stop a benchmark when the process's memory (resident size, allocator footprint, executor "
        "bookkeeping) would pass GIB gibibytes (default: half the RAM, at most 3/4 of what is available)",
    )
    return p


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
        gib = parse_float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of GiB (e.g. 4 or 0.5)") from None
    machine = runner.physical_memory()
    if not gib > 0 or gib * (1 << 30) > machine:
        raise argparse.ArgumentTypeError(
            f"'{text}' GiB is out of range; give a size above 0 and at most this machine's "
            f"{machine / 2**30:.1f} GiB of memory"
        )
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


def _prepare_folder(folder: Path, force: bool) -> tuple[Path, bool]:
    """Check the output folder; return (where this run writes, whether this
    run created that folder). A folder that holds a run is replaced only
    when the new run is complete (--force): until then the new run writes
    into a sibling staging folder (see :func:`results.replace_folder`)."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} exists and is not a folder; choose another --output")
    replacing = (folder / RESULTS_FILE).exists()
    if replacing and not force:
        raise UsageError(
            f"{folder} already holds a run ({RESULTS_FILE}); choose another --output/--name, "
            "or pass --force to overwrite it"
        )
    if not replacing and folder.is_dir() and any(folder.iterdir()) and not force:
        raise UsageError(
            f"{folder} is not empty and holds no pinbench run; choose another --output/--name, "
            "or pass --force to write into it"
        )
    created = replacing or not folder.exists()
    try:
        if replacing:
            target = Path(tempfile.mkdtemp(prefix=f".{folder.name}.{STAGING}-", dir=folder.parent))
        else:
            folder.mkdir(parents=True, exist_ok=True)
            target = folder
            tempfile.TemporaryFile(dir=folder).close()  # a read-only folder fails now, not after the run
    except OSError as error:
        raise UsageError(
            f"cannot write into the results folder {folder}: {error.strerror}; choose another --output"
        ) from None
    return target, created


def _label(bench, name: str, base: dict) -> str:
    """workload[params that differ from the run's base]/strategy/allocator."""
    changed = [k for k, v in bench.params.items() if base.get(k) != v]
    return BenchmarkRecord(name, bench.strategy, bench.allocator, bench.params).name(changed)


class _Progress:
    """A rich progress bar on a terminal; otherwise one line per benchmark."""

    def __init__(self, total: int):
        self.total = total
        self.done = 0
        self.started = time.perf_counter()
        self.console = stderr_console()
        self.bar = None
        if sys.stderr.isatty():
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
            print(f"[{self.done}/{self.total}] {label} ({seconds:.2f} s{self._so_far()})", file=sys.stderr, flush=True)

    def _so_far(self) -> str:
        """How far a long run is: its time so far and, at the pace so far, what is left."""
        elapsed = time.perf_counter() - self.started
        if self.total < 10 or self.done >= self.total:
            return ""
        left = elapsed / self.done * (self.total - self.done)
        return f"; {duration_text(elapsed)} so far, about {duration_text(left)} left"

    def skipped(self, label: str, reason: str):
        """It did not fit: said now (and again in the summary), never lost."""
        self.done += 1
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done)
        self.console.print(f"[{self.done}/{self.total}] {esc(label)} skipped: {esc(reason)}", soft_wrap=True,
                           markup=False)


def run(args, argv) -> int:
    chosen_suite = suite_of(args)
    whole = build_suite(args.workload, args.strategy, args.allocator, args.param, suite=chosen_suite.name)
    chosen, shard_record = shard.apply(whole, args.shard, args.balance)
    suite = [bench for _, bench in chosen]
    if args.instructions:
        instructions.check_available()  # no valgrind: one line now, before anything runs
    # Compile every program now: a bad combination fails before anything runs.
    # Those of the whole suite, even in a shard: every shard then fails alike.
    workloads, programs = {}, {}
    for bench in whole:
        workload = workloads.setdefault(bench.workload, get_workload(bench.workload))
        key = (bench.workload, tuple(bench.params.items()))
        if key not in programs:
            programs[key] = workload.compile(bench.params)

    destination = _output_folder(args)
    folder, created = _prepare_folder(destination, args.force)  # folder: where this run writes
    run = {
        "complete": False,
        "command": [PROG] + list(argv),
        "mode": mode_of(args),
        "timing": not args.counts_only,
        "instructions": instructions.settings() if args.instructions else None,
        "started": now(),
        "finished": None,
        "benchmarks_planned": len(suite),
        "environment": {},
        "engine": {},
        "benchmarks": [],
        "skipped": [],
        # Which suite this is, whatever part of it ran: merge checks shards
        # against each other by it, the history keys its series by it.
        "suite": {
            "name": chosen_suite.name,
            "selection": selection_text(args.workload, args.strategy, args.allocator, args.param,
                                        chosen_suite.name, mode_of(args)),
            "digest": shard.suite_digest(whole),
            "benchmarks": len(whole),
        },
        "shard": shard_record and {
            **shard_record,
            # What else must agree between the shards of one sweep.
            "options": {"counts_only": args.counts_only, "instructions": args.instructions,
                        "memory_limit": args.memory_limit},
        },
    }
    finished = run["benchmarks"]
    # A benchmark the user named (its workload and strategy both, not
    # through 'all' or a default) that does not fit stops the run; one from
    # a suite they left to pinbench is skipped with a note, and the rest run.
    named = all(values and not any(ALL in v.split(",") for v in values) for values in (args.workload, args.strategy))
    timed = []  # pyperf.Benchmark objects, for pyperf.json
    specs = []  # what the instruction count re-runs, one per finished benchmark
    signals = _Signals()
    signals.install()
    t0 = time.perf_counter()
    scratch = tempfile.TemporaryDirectory(prefix="pinbench-")
    try:
        run["environment"] = environment.collect()
        if not args.counts_only and suite:
            _say_expected(chosen_suite.name, suite, run["mode"], args.balance)
        engine, libraries = _engine(args, suite, programs)  # built before anything is run or timed
        run["engine"] = engines.describe(engine)
        timer = None if args.counts_only else timing.Timer(Path(scratch.name) / "specs.json", run["mode"])
        # Every write happens with signals deferred, so results.json and
        # metrics.csv always describe the same finished benchmarks and a
        # stop needs no final write.
        with _Progress(len(suite)) as progress:
            for position, bench in chosen:
                workload = workloads[bench.workload]
                program = programs[(bench.workload, tuple(bench.params.items()))]
                defaults = {p.name: p.default for p in workload.params}
                base = {**defaults, **chosen_suite.params.get(bench.workload, {})}
                label = _label(bench, workload.name, base)
                progress.starting(label)
                started = time.perf_counter()
                try:
                    metrics = runner.execute(program, bench.strategy, bench.allocator, args.memory_limit, engine)
                except runner.DoesNotFit as exc:
                    if named:
                        raise
                    with signals.deferred():
                        run["skipped"].append({"benchmark": label, "reason": one_line(exc)})
                        run["complete"] = _all_done(run) and not args.instructions
                        write_results(folder, run)
                    progress.skipped(label, one_line(exc))
                    continue
                spec = timing.Spec(
                    bench.label, bench.workload, dict(bench.params), bench.strategy,
                    bench.allocator, metrics["tasks"], args.memory_limit or runner.default_memory_limit(),
                    engine, libraries.get(((bench.workload, tuple(bench.params.items())), bench.strategy), ""),
                )
                if timer is not None:
                    try:
                        timed_benchmark = timer.time(spec, metrics["elapsed_ns"] / 1e9)
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
                    "seconds": round(time.perf_counter() - started, 3),  # what --balance reads
                    "case": position,  # None unless sharded
                }
                if bench.workload.endswith(".toml"):
                    record["workload_file"] = bench.workload
                with signals.deferred():
                    finished.append(record)
                    specs.append(spec)
                    # With --instructions the run is complete once they are counted too.
                    run["complete"] = _all_done(run) and not args.instructions
                    run["finished"] = now()
                    if timer is not None:
                        timed.append(timed_benchmark)
                        write_pyperf(folder, timed)
                    write_results(folder, run)
                progress.finished(label, time.perf_counter() - started)
        if run["skipped"] and not finished:  # nothing fits: no result, and the reason why
            raise runner.DoesNotFit(run["skipped"][0]["reason"])
        if not suite:  # an empty shard is still a shard: merge counts it
            with signals.deferred():
                run["complete"], run["finished"] = True, now()
                write_results(folder, run)
        elif args.instructions:
            _count_instructions(run, specs, Path(scratch.name), folder, signals)
        if folder != destination:
            with signals.deferred():
                replace_folder(destination, folder)
            folder = destination
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted: {_partial(folder, destination, finished, suite, created)}", file=sys.stderr)
        return signals.status
    except UsageError as error:  # e.g. the memory limit: keep what finished
        print(f"{PROG}: error: {one_line(error)} ({_partial(folder, destination, finished, suite, created)})",
              file=sys.stderr)
        return EXIT_USAGE
    finally:
        signals.restore()
        scratch.cleanup()
    elapsed = time.perf_counter() - t0
    if not suite:  # more shards than cases: this one is empty, and merge needs to see it
        print(f"{PROG}: shard {args.shard[0]}/{args.shard[1]} holds none of the suite's "
              f"{shard_record['suite_cases']} cases; wrote an empty shard to {folder}", file=sys.stderr)
        return 0
    return _report_run(folder, run, elapsed)


# A run expected to take less than this many seconds is not forecast.
FORECAST_FROM = 60


def _say_expected(name: str, suite: list, mode: str, balance) -> None:
    """Before a timed run of a minute or more starts: how long it should
    take, from each benchmark's declared cost in this mode, or the
    durations of the ``--balance`` run (the estimate shards are balanced by)."""
    each = SECONDS_PER_BENCHMARK[mode]
    expected = shard.estimated_seconds(suite, each, shard.known_costs(balance))
    if expected < FORECAST_FROM:
        return
    source = f"from the durations in {balance}" if balance else f"{each:g} s a benchmark in {mode} mode"
    print(f"{PROG}: suite {name}: {len(suite)} benchmarks, expected to take about {duration_text(expected)} "
          f"({source}), plus compiling the engines not yet cached", file=sys.stderr, flush=True)


def _count_instructions(run: dict, specs: list, scratch: Path, folder: Path, signals: "_Signals") -> None:
    """After the timing, never inside it: count every benchmark's loop under
    callgrind in one valgrind process, then add the counts to the results."""
    finished = run["benchmarks"]
    with _Progress(len(specs)) as progress:
        started = time.perf_counter()

        def counted(done: int, label: str):
            progress.finished(f"instructions: {label}", time.perf_counter() - started)

        progress.starting("counting instructions (valgrind)")
        counts = instructions.Counter(scratch).count(specs, counted)
    for record, spec, (metrics, checksum) in zip(finished, specs, counts):
        if checksum != record["metrics"]["checksum"]:
            raise UsageError(
                f"the instruction count of {spec.label} ran a different program (checksum {checksum}, "
                f"not {record['metrics']['checksum']}); this is a bug: please report it"
            )
        record["metrics"].update(metrics)
    with signals.deferred():
        run["complete"] = _all_done(run)
        run["finished"] = now()
        write_results(folder, run)


def _all_done(run: dict) -> bool:
    """Every planned benchmark finished, or was skipped because it does not fit."""
    return len(run["benchmarks"]) + len(run["skipped"]) == run["benchmarks_planned"]


def _engine(args, suite, programs) -> tuple:
    """The run's engine (--engine, else compiled where a C compiler works,
    with a one-line note otherwise), and for compiled the library of each
    (program, strategy) of ``suite``: every one is built now, in parallel,
    before anything is run or timed (or found in the cache). ``programs``
    holds the whole suite's even in a shard; only ``suite``'s are built."""
    from ... import strategies

    engine, note = (args.engine, None) if args.engine else engines.default_engine()
    if note:
        print(f"{PROG}: {note}", file=sys.stderr, flush=True)
    if engine != engines.COMPILED:
        return engine, {}
    pairs = {}
    for bench in suite:
        key = (bench.workload, tuple(bench.params.items()))
        if (key, bench.strategy) not in pairs:
            program = programs[key]
            pairs[key, bench.strategy] = (program, strategies.get(bench.strategy).plan(program))
    try:
        built = engines.prepare(list(pairs.values()),
                                progress=lambda text: print(f"{PROG}: {text}", file=sys.stderr, flush=True),
                                max_source=None if args.engine else engines.MAX_DEFAULT_SOURCE)
    except engines.TooLarge as large:
        print(f"{PROG}: note: {large}: using the interpreted engine (--engine compiled compiles it anyway)",
              file=sys.stderr, flush=True)
        return engines.INTERPRETED, {}
    return engine, {pair: str(e.path) for pair, e in zip(pairs, built)}


def _partial(folder: Path, destination: Path, finished: list, suite: list, created: bool) -> str:
    """Leave the folder consistent after a stop; say what it holds (and,
    for a run that was to replace another, that the old run is intact)."""
    kept = f"; {destination} still holds the previous run" if folder != destination else ""
    if not finished:
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty
        return f"0 of {len(suite)} benchmarks finished; nothing written{kept}"
    return f"{len(finished)} of {len(suite)} benchmarks finished; partial results in {folder}{kept}"


def _report_run(folder: Path, run: dict, elapsed: float) -> int:
    doc = read_results(folder)  # what a user will read back, not what we hold
    out = stdout_console()
    out.print(headline_table(doc))
    print_noise_warning(out, doc)
    if has_instructions(doc):
        out.print(instructions_summary_table(doc))
    for skipped in doc.get("skipped", []):
        out.print(f"[bold yellow]skipped:[/bold yellow] {esc(skipped['reason'])}", soft_wrap=True)
    out.print(f"{len(doc['benchmarks'])} benchmarks in {elapsed:.1f} s; results in [bold]{esc(folder)}[/bold]")
    out.print(f"full table: pinbench show {esc(folder)}")
    return report_problems(doc)
