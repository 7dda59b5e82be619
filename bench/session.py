"""What `pinbench run`, `compare-branches` and `validate` do once their
arguments are parsed: choose the suite, prepare the output folder and the
engine, run the loop with its progress, and stop cleanly on a signal.

A command turns its argparse Namespace into one of the typed settings below
(:class:`RunSettings`, :class:`BranchSettings`, :class:`ValidateSettings`),
calls :func:`run`, :func:`compare_branches` or :func:`validate`, and prints
what comes back. A session that ends early raises :class:`Stopped`: the
one line to print and the exit status (130/143 interrupted, 2 an error
after the run began); what finished is kept.

One mechanism handles signals (:class:`Signals`, bench/signals.py): SIGINT and SIGTERM raise
KeyboardInterrupt, except while the results are written, and the exit
status is 128 + the first signal's number. One preparer checks and creates
output folders (:func:`prepare_folder`), told by a :class:`FolderKind` what
the command keeps there.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .. import strategies
from ..model.errors import UsageError
from . import compare as cmp
from . import engine as engines
from . import environment, instructions, runner, shard, timing
from .branches import (
    ARMS,
    DEFAULT_ROUNDS,
    BugError,
    count_invocations,
    Repo,
    ensure_env,
    holds_files,
    merge_rounds,
    mode_flags,
    plan_invocations,
    run_filters,
    run_invocation,
    say,
    write_arm,
)
from .console import EXIT_USAGE, PROG, esc, now, one_line, stderr_console
from .formatting import duration_text
from .records import BenchmarkRecord
from .signals import Signals
from .results import RESULTS_FILE, RunDocument, replace_folder, storable_metrics, write_pyperf
from .suite import ALL, SECONDS_PER_BENCHMARK, build_suite, selection_text, split_names, suite_of
from .validate import LANGUAGES, select_cases
from .validate import validate as validate_cases
from .validate.backend import BACKENDS
from .workloads import get_workload

# A run replacing another (--force) is written into a sibling folder named
# .<name>.<STAGING>-<random> until it is complete.
STAGING = "pinbench-new"
# Where compare-branches' arms run, inside its folder, until they are merged.
ROUNDS = "rounds"
# A run expected to take less than this many seconds is not forecast.
FORECAST_FROM = 60


class Stopped(Exception):
    """The session ended early: ``line`` for stderr and the exit status;
    what finished is kept."""

    def __init__(self, status: int, line: str):
        super().__init__(line)
        self.status = status
        self.line = line


# -- what to run -------------------------------------------------------------------------


@dataclass(frozen=True)
class Sweep:
    """The suite flags (--suite, --quick/--rigorous/--counts-only, -w/-s/-a/-p,
    --shard/--balance): which benchmarks, measured how hard. ``suite_of``
    reads it as it reads the flags."""

    workload: list | None = None
    strategy: list | None = None
    allocator: list | None = None
    param: list | None = None
    suite: str | None = None
    quick: bool = False
    rigorous: bool = False
    counts_only: bool = False
    shard: tuple | None = None
    balance: str | None = None

    @property
    def mode(self) -> str:
        """"quick", "rigorous" or "default"."""
        return "rigorous" if self.rigorous else suite_of(self).mode


@dataclass(frozen=True)
class Selected:
    """A sweep's benchmarks: the whole suite, this shard's ``(case position
    or None, benchmark)`` and its record, and what the results say of it."""

    sweep: Sweep
    suite: object  # suite.Suite
    whole: list
    chosen: list
    shard: dict | None

    @property
    def benchmarks(self) -> list:
        return [bench for _, bench in self.chosen]

    def record(self) -> dict:
        """Which suite this is, whatever part of it ran: merge checks shards
        against each other by it, the history keys its series by it."""
        s = self.sweep
        return {
            "name": self.suite.name,
            "selection": selection_text(s.workload, s.strategy, s.allocator, s.param, self.suite.name, s.mode),
            "digest": shard.suite_digest(self.whole),
            "benchmarks": len(self.whole),
        }


def select(sweep: Sweep) -> Selected:
    """The benchmarks of ``sweep``; a bad flag is a one-line UsageError now."""
    chosen_suite = suite_of(sweep)
    whole = build_suite(sweep.workload, sweep.strategy, sweep.allocator, sweep.param, suite=chosen_suite.name)
    chosen, shard_record = shard.apply(whole, sweep.shard, sweep.balance)
    return Selected(sweep, chosen_suite, whole, chosen, shard_record)


# -- signals -----------------------------------------------------------------------------


# -- output folders ----------------------------------------------------------------------


@dataclass(frozen=True)
class FolderKind:
    """What a command keeps in its output folder, and its words when the
    folder will not do. ``held`` may name ``{mark}`` (the file found) or
    ``{path}`` (its path); ``unwritable`` names ``{reason}``. With ``parts``,
    those sub-folders are replaced now and ``work`` is where the command
    writes; without, a folder holding one is replaced whole once the new
    one is complete (written meanwhile into a staging sibling)."""

    prefix: str  # of the default folder's name, before the timestamp
    marks: tuple
    held: str
    not_empty: str
    unwritable: str
    parts: tuple = ()
    work: str = ""


RUN_FOLDER = FolderKind(
    prefix="",
    marks=(RESULTS_FILE,),
    held="{folder} already holds a run ({mark}); choose another --output/--name, or pass --force to overwrite it",
    not_empty="{folder} is not empty and holds no pinbench run; choose another --output/--name, "
    "or pass --force to write into it",
    unwritable="cannot write into the results folder {folder}: {reason}; choose another --output",
)
BRANCHES_FOLDER = FolderKind(
    prefix="branches-",
    marks=tuple(f"{arm}/{RESULTS_FILE}" for arm in ARMS),
    held="{folder} already holds a comparison ({path}); choose another --output or pass --force",
    not_empty="{folder} is not empty and holds no comparison; choose another --output, or pass --force to write "
    "into it (its a/, b/ and rounds/ are replaced)",
    unwritable="cannot create {folder}: {reason}",
    parts=(*ARMS, ROUNDS),
    work=ROUNDS,
)


def output_folder(kind: FolderKind, output: str | None = None, name: str | None = None) -> Path:
    """The folder of this session: ``output``, results/NAME, or
    results/<prefix><timestamp> (with -2, -3... if that folder already
    holds one)."""
    if output:
        return Path(output)
    if name is not None:
        if not name or name in (".", "..") or "/" in name or os.sep in name:
            raise UsageError(f"--name '{name}' must be a plain folder name (no '/'); or use --output DIR")
        return Path("results") / name
    stamp = kind.prefix + datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = Path("results") / stamp
    n = 2
    while any((folder / mark).exists() for mark in kind.marks):
        folder = Path("results") / f"{stamp}-{n}"
        n += 1
    return folder


def prepare_folder(folder: Path, force: bool, kind: FolderKind) -> tuple[Path, bool]:
    """Check the output folder; return (where this session writes, whether
    it created the folder). A folder that holds one already needs ``force``;
    so does a non-empty folder that holds none."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} exists and is not a folder; choose another --output")
    held = [mark for mark in kind.marks if (folder / mark).exists()]
    if held and not force:
        raise UsageError(kind.held.format(folder=folder, mark=held[0], path=folder / held[0]))
    if not held and folder.is_dir() and any(folder.iterdir()) and not force:
        raise UsageError(kind.not_empty.format(folder=folder))
    created = bool(held) or not folder.exists()
    try:
        if held and not kind.parts:
            return Path(tempfile.mkdtemp(prefix=f".{folder.name}.{STAGING}-", dir=folder.parent)), created
        for part in kind.parts:
            shutil.rmtree(folder / part, ignore_errors=True)
        target = folder / kind.work
        target.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=target).close()  # a read-only folder fails now, not after the run
    except OSError as error:
        raise UsageError(kind.unwritable.format(folder=folder, reason=error.strerror)) from None
    return folder, created


def _remove_if_empty(*folders: Path) -> None:
    """A session that wrote nothing leaves no empty folders behind."""
    with contextlib.suppress(OSError):
        for folder in folders:
            folder.rmdir()  # only if empty


# -- engines -----------------------------------------------------------------------------


def prepare_engine(chosen: str | None, suite: list, programs: dict) -> tuple:
    """The run's engine (``chosen``, else compiled where a C compiler works,
    with a one-line note otherwise), and for compiled the library of each
    (program, strategy) of ``suite``: every one is built now, in parallel,
    before anything is run or timed (or found in the cache). ``programs``
    holds the whole suite's even in a shard; only ``suite``'s are built."""
    engine, note = (chosen, None) if chosen else engines.default_engine()
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
                                max_source=None if chosen else engines.MAX_DEFAULT_SOURCE)
    except engines.TooLarge as large:
        print(f"{PROG}: note: {large}: using the interpreted engine (--engine compiled compiles it anyway)",
              file=sys.stderr, flush=True)
        return engines.INTERPRETED, {}
    return engine, {pair: str(e.path) for pair, e in zip(pairs, built)}


# -- pinbench run ------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSettings:
    """`pinbench run`: the sweep, where the results go, and how to measure."""

    sweep: Sweep
    command: list  # the arguments as given, recorded in results.json
    output: str | None = None
    name: str | None = None
    force: bool = False
    instructions: bool = False
    engine: str | None = None
    memory_limit: int | None = None


@dataclass(frozen=True)
class RunDone:
    """A run that ended: its folder, how long it took, and for a shard
    that holds no case, the line saying so."""

    folder: Path
    seconds: float
    empty_shard: str | None = None


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


def run(settings: RunSettings) -> RunDone:
    """Build the suite, run every benchmark, rewrite the results folder
    after each one (atomically, with signals deferred), and return what
    finished. Raises :class:`Stopped` on a signal or on an error once the
    run has begun (the folder keeps what finished, marked incomplete);
    before that, a bad selection or folder is a UsageError."""
    sweep = settings.sweep
    selected = select(sweep)
    whole, chosen, shard_record = selected.whole, selected.chosen, selected.shard
    suite = selected.benchmarks
    if settings.instructions:
        instructions.check_available()  # no valgrind: one line now, before anything runs
    # Compile every program now: a bad combination fails before anything runs.
    # Those of the whole suite, even in a shard: every shard then fails alike.
    workloads, programs = {}, {}
    for bench in whole:
        if bench.workload not in workloads:  # once per workload: a file is read and checked each time
            workloads[bench.workload] = get_workload(bench.workload)
        workload = workloads[bench.workload]
        key = (bench.workload, tuple(bench.params.items()))
        if key not in programs:
            programs[key] = workload.compile(bench.params)

    destination = output_folder(RUN_FOLDER, settings.output, settings.name)
    folder, created = prepare_folder(destination, settings.force, RUN_FOLDER)  # folder: where this run writes
    run = RunDocument(
        complete=False,
        command=[PROG] + list(settings.command),
        mode=sweep.mode,
        timing=not sweep.counts_only,
        instructions=instructions.settings() if settings.instructions else None,
        started=now(),
        benchmarks_planned=len(suite),
        suite=selected.record(),
        shard=shard_record and {
            **shard_record,
            # What else must agree between the shards of one sweep.
            "options": {"counts_only": sweep.counts_only, "instructions": settings.instructions,
                        "memory_limit": settings.memory_limit},
        },
    )
    finished = run.benchmarks
    # A benchmark the user named (its workload and strategy both, not
    # through 'all' or a default) that does not fit stops the run; one from
    # a suite they left to pinbench is skipped with a note, and the rest run.
    named = all(values and not any(ALL in v.split(",") for v in values) for values in (sweep.workload, sweep.strategy))
    timed = []  # pyperf.Benchmark objects, for pyperf.json
    specs = []  # what the instruction count re-runs, one per finished benchmark
    t0 = time.perf_counter()
    scratch = tempfile.TemporaryDirectory(prefix="pinbench-")
    with Signals() as signals:
        try:
            run.environment = environment.collect()
            if not sweep.counts_only and suite:
                _say_expected(selected.suite.name, suite, run.mode, sweep.balance)
            engine, libraries = prepare_engine(settings.engine, suite, programs)  # before anything is run or timed
            run.engine = engines.describe(engine)
            timer = None if sweep.counts_only else timing.Timer(Path(scratch.name) / "specs.json", run.mode)
            # Every write happens with signals deferred, so results.json and
            # metrics.csv always describe the same finished benchmarks and a
            # stop needs no final write.
            with _Progress(len(suite)) as progress:
                for position, bench in chosen:
                    workload = workloads[bench.workload]
                    program = programs[(bench.workload, tuple(bench.params.items()))]
                    defaults = {p.name: p.default for p in workload.params}
                    base = {**defaults, **selected.suite.params.get(bench.workload, {})}
                    label = _label(bench, workload.name, base)
                    progress.starting(label)
                    started = time.perf_counter()
                    try:
                        metrics = runner.execute(program, bench.strategy, bench.allocator, settings.memory_limit,
                                                 engine)
                    except runner.DoesNotFit as exc:
                        if named:
                            raise
                        with signals.deferred():
                            run.skipped.append({"benchmark": label, "reason": one_line(exc)})
                            run.complete = run.all_done and not settings.instructions
                            run.write(folder)
                            progress.skipped(label, one_line(exc))
                        continue
                    spec = timing.Spec(
                        bench.label, bench.workload, dict(bench.params), bench.strategy,
                        bench.allocator, metrics["tasks"], settings.memory_limit or runner.default_memory_limit(),
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
                        metrics.update(timing.measure_latency(spec, run.mode))
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
                        run.complete = run.all_done and not settings.instructions
                        run.finished = now()
                        if timer is not None:
                            timed.append(timed_benchmark)
                            write_pyperf(folder, timed)
                        run.write(folder)
                        # Within the deferral: an interrupt's line never lands
                        # in the middle of this one (print writes the text and
                        # its newline apart).
                        progress.finished(label, time.perf_counter() - started)
            if run.skipped and not finished:  # nothing fits: no result, and the reason why
                raise runner.DoesNotFit(run.skipped[0]["reason"])
            if not suite:  # an empty shard is still a shard: merge counts it
                with signals.deferred():
                    run.complete, run.finished = True, now()
                    run.write(folder)
            elif settings.instructions:
                _count_instructions(run, specs, Path(scratch.name), folder, signals)
            if folder != destination:
                with signals.deferred():
                    replace_folder(destination, folder)
                folder = destination
        except KeyboardInterrupt:
            raise Stopped(signals.status, f"{PROG}: interrupted: "
                          f"{_partial(folder, destination, finished, suite, created)}") from None
        except UsageError as error:  # e.g. the memory limit: keep what finished
            raise Stopped(EXIT_USAGE, f"{PROG}: error: {one_line(error)} "
                          f"({_partial(folder, destination, finished, suite, created)})") from None
        finally:
            scratch.cleanup()
    elapsed = time.perf_counter() - t0
    empty = None
    if not suite:  # more shards than cases: this one is empty, and merge needs to see it
        empty = (f"{PROG}: shard {sweep.shard[0]}/{sweep.shard[1]} holds none of the suite's "
                 f"{shard_record['suite_cases']} cases; wrote an empty shard to {folder}")
    return RunDone(folder, elapsed, empty)


def _say_expected(name: str, suite: list, mode: str, balance) -> None:
    """Before a timed run of a minute or more starts: how long it should
    take, from each benchmark's declared cost in this mode, or the
    durations of the ``--balance`` run (the estimate shards are balanced by)."""
    each = SECONDS_PER_BENCHMARK[mode]
    expected = shard.estimated_seconds(suite, each, shard.known_costs(balance))
    if expected < FORECAST_FROM:
        return
    source = f"from the durations in {balance}" if balance else f"{each:g} s a benchmark in {mode} mode"
    noisy = duration_text(expected * (1 + timing.MORE_SHARE))
    print(f"{PROG}: suite {name}: {len(suite)} benchmarks, expected to take about {duration_text(expected)} "
          f"({source}; up to {noisy} where noisy timings take extra values), plus compiling the engines not "
          "yet cached", file=sys.stderr, flush=True)


def _count_instructions(run: RunDocument, specs: list, scratch: Path, folder: Path, signals: Signals) -> None:
    """After the timing, never inside it: count every benchmark's loop under
    callgrind in one valgrind process, then add the counts to the results."""
    finished = run.benchmarks
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
        run.complete = run.all_done
        run.finished = now()
        run.write(folder)


def _partial(folder: Path, destination: Path, finished: list, suite: list, created: bool) -> str:
    """Leave the folder consistent after a stop; say what it holds (and,
    for a run that was to replace another, that the old run is intact)."""
    kept = f"; {destination} still holds the previous run" if folder != destination else ""
    if not finished:
        if created:
            _remove_if_empty(folder)
        return f"0 of {len(suite)} benchmarks finished; nothing written{kept}"
    return f"{len(finished)} of {len(suite)} benchmarks finished; partial results in {folder}{kept}"


# -- pinbench compare-branches -----------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    """What fails a comparison (`pinbench compare`'s options)."""

    threshold: float
    alpha: float
    instructions_threshold: float
    strict: bool = False
    fail_on_change: bool = False


@dataclass(frozen=True)
class BranchSettings:
    """`pinbench compare-branches`: the two refs, the sweep both arms run,
    how, and where to."""

    ref_a: str
    ref_b: str
    sweep: Sweep
    gate: Gate
    command: list  # the arguments as given, recorded in the arms' results
    engine: str | None = None
    instructions: bool = False
    rounds: int | None = None
    interleave: str = "benchmark"
    output: str | None = None
    force: bool = False
    repo: str = "."
    isolated_env: bool = False


@dataclass
class BranchesDone:
    """A comparison that ended: the comparison to print (None when the
    arms could not be compared), the lines to say after it, the exit status."""

    comparison: dict | None
    status: int
    lines: list = field(default_factory=list)


def compare_branches(settings: BranchSettings) -> BranchesDone:
    """Build both refs, run their arms interleaved into the output folder,
    merge each arm's rounds and compare them. Progress goes to stderr as it
    happens; a signal raises :class:`Stopped` (the finished runs are kept)."""
    # Everything the user can get wrong is checked before anything is built.
    sweep = settings.sweep
    selected = select(sweep)
    chosen, shard_record = selected.chosen, selected.shard
    suite = selected.benchmarks
    if shard_record and settings.interleave == "round":
        raise UsageError("--interleave round runs each arm's whole suite per round, not one shard of it; "
                         "drop it (--shard runs benchmark by benchmark)")
    # What the arms' results record of the sweep, for merge (as `run --shard` does).
    record = {"suite": selected.record()}
    if shard_record:
        record["shard"] = {**shard_record, "options": {
            "counts_only": sweep.counts_only, "instructions": settings.instructions, "rounds": settings.rounds,
            "interleave": settings.interleave, "engine": settings.engine}}
    cases = {shard.case_key(bench.workload, bench.params): position for position, bench in chosen}
    if settings.instructions:
        instructions.check_available()
    mode = sweep.mode
    # --counts-only --instructions: each arm's count under valgrind runs the
    # suite and gives every exact count too, so rounds of counts would only
    # repeat it (they run when --rounds asks for them).
    counted_once = sweep.counts_only and settings.instructions and settings.rounds is None
    rounds = 0 if counted_once else settings.rounds or (1 if sweep.counts_only else DEFAULT_ROUNDS[mode])
    repo = Repo(settings.repo)
    refs = {"a": settings.ref_a, "b": settings.ref_b}
    commits = {arm: repo.resolve(ref) for arm, ref in refs.items()}
    # The arms run in out/rounds: a relative path would move with them.
    out = Path(os.path.abspath(output_folder(BRANCHES_FOLDER, settings.output)))
    prepare_folder(out, settings.force, BRANCHES_FOLDER)
    if not suite:  # more shards than cases: an empty shard, which merge must still see
        return _empty_shard(out, settings, refs, commits, record)
    filters = run_filters(sweep, settings.engine)
    started = now()
    t0 = time.perf_counter()
    with Signals() as signals:
        try:
            envs = {}
            for arm in ARMS:
                commit = commits[arm]
                built = next((envs[a] for a in envs if commits[a] == commit), None)
                envs[arm] = built or ensure_env(repo, commit, refs[arm], isolated=settings.isolated_env)
            plan = plan_invocations(suite, rounds, settings.interleave, out / ROUNDS, filters, settings.engine)
            flags = mode_flags(mode, sweep.counts_only)
            if plan:
                say(f"running {len(suite)} benchmark(s) x {rounds} round(s) x 2 arms ({len(plan)} runs, "
                    f"interleaved per {settings.interleave}) into {out}")
            else:
                say(f"counting {len(suite)} benchmark(s) once per arm under valgrind, no rounds "
                    f"(--counts-only: the count gives every exact count) into {out}")
            crashes, bugs, reported, failed = [], [], [], {}
            for n, inv in enumerate(plan, start=1):
                if (inv.arm, tuple(inv.filters)) in failed:
                    continue  # that arm cannot run this benchmark: no more rounds of it
                run_invocation(envs[inv.arm], inv, flags, out / ROUNDS)
                arm_name = f"{inv.arm.upper()} ({refs[inv.arm]})"
                note = "" if inv.status == 0 else f" exit {inv.status}: {inv.error}"
                say(f"[{n}/{len(plan)}] {inv.what} round {inv.round_no} {arm_name} ({inv.seconds:.1f} s){note}")
                if inv.status == 1:  # a leak or differing checksums: the comparison judges it
                    reported.append(f"{arm_name} reported a bug in {inv.what}: {inv.error}")
                elif inv.status == 2:
                    failed[(inv.arm, tuple(inv.filters))] = inv.error
                elif inv.status != 0:
                    crashes.append(f"{arm_name} crashed on {inv.what} (exit {inv.status}): {inv.error}")
                    failed[(inv.arm, tuple(inv.filters))] = inv.error
            if settings.instructions:
                # Deterministic: one count per arm, after the timing, never interleaved with it.
                counting = count_invocations(suite, bool(shard_record), out / ROUNDS, filters, settings.engine)
                for inv in counting:
                    arm_name = f"{inv.arm.upper()} ({refs[inv.arm]})"
                    say(f"{arm_name}: counting {inv.what} under valgrind")
                    run_invocation(envs[inv.arm], inv, mode_flags(mode, True) + ["--instructions"], out / ROUNDS)
                    if inv.status != 0:
                        raise UsageError(f"{arm_name} could not count instructions (exit {inv.status}): {inv.error}")
                    say(f"{arm_name}: {inv.what} counted ({inv.seconds:.1f} s)")
                plan += counting
            merged = {}
            for arm in ARMS:
                folders = [inv.folder for inv in plan
                           if inv.arm == arm and inv.status in (0, 1) and (inv.folder / RESULTS_FILE).exists()]
                label = f"arm {arm.upper()} ({refs[arm]}, {commits[arm][:12]})"
                if not folders:
                    reason = next((e for (a, _), e in failed.items() if a == arm), "no results")
                    raise UsageError(f"{label} ran no benchmark: {reason}")
                try:
                    doc, timed = merge_rounds(folders, label)
                except BugError as error:
                    bugs.append(str(error))
                    continue
                doc.environment.update(git_commit=commits[arm], git_dirty=False)
                for entry in doc.benchmarks:
                    entry["case"] = cases.get(shard.case_key(entry.get("workload_file") or entry["workload"],
                                                             entry["params"])) if shard_record else None
                doc = replace(
                    doc, **record,
                    command=[PROG, *settings.command], complete=len(doc.benchmarks) == len(suite),
                    started=started, finished=now(), benchmarks_planned=len(suite),
                    branch_run={"arm": arm, "ref": refs[arm], "commit": commits[arm], "rounds": rounds,
                                "interleave": settings.interleave, "other_ref": refs["b" if arm == "a" else "a"]},
                )
                write_arm(out / arm, doc, timed)
                merged[arm] = doc
            if len(merged) < 2:
                return BranchesDone(None, 1, [f"BUG: {line}" for line in bugs])
            shutil.rmtree(out / ROUNDS, ignore_errors=True)
            comparison = cmp.compare_runs(cmp.load_run(out / "a"), cmp.load_run(out / "b"), **asdict(settings.gate))
            # What went wrong in the arms: warnings here, and kept apart so that
            # merging shards (pinbench merge) keeps them and their failure.
            notes = [f"arm {a.upper()} ({refs[a]}) could not run {' '.join(benchmark)}: {error}"
                     for arm in ARMS for (a, benchmark), error in failed.items() if a == arm]
            notes += reported + [f"BUG: {line}" for line in bugs] + crashes
            comparison["warnings"] += notes
            comparison["branches"] = {"refs": refs, "commits": commits, "rounds": rounds,
                                      "interleave": settings.interleave,
                                      "seconds": round(time.perf_counter() - t0, 1),
                                      "notes": notes, "failed": bool(bugs or crashes)}
            cmp.save_comparison(comparison, out / "b")
            lines = [f"{len(plan)} runs in {time.perf_counter() - t0:.0f} s; arms in {out / 'a'} and {out / 'b'}"]
            if bugs or crashes:
                return BranchesDone(comparison, 1, lines + [f"BUG: {line}" for line in bugs] + crashes)
            return BranchesDone(comparison, cmp.exit_status(comparison), lines)
        except KeyboardInterrupt:
            kept = f", finished runs are in {out / ROUNDS}" if holds_files(out / ROUNDS) else ""
            raise Stopped(signals.status, f"{PROG}: interrupted; the worktrees are removed{kept}") from None
        finally:
            if not holds_files(out / ROUNDS):  # nothing ran (a failed build): leave no empty folders
                _remove_if_empty(out / ROUNDS, out)


def _empty_shard(out: Path, settings: BranchSettings, refs: dict, commits: dict, record: dict) -> BranchesDone:
    """Arms with no benchmark and their (empty) comparison: nothing to build or run."""
    stamp = now()
    sweep = settings.sweep
    for arm in ARMS:
        env = dict(environment.collect(), git_commit=commits[arm], git_dirty=False)
        doc = RunDocument(
            complete=True, command=[PROG, *settings.command], mode=sweep.mode,
            timing=not sweep.counts_only, started=stamp, finished=stamp, benchmarks_planned=0,
            environment=env, **record,
        )
        write_arm(out / arm, doc, [])
    shutil.rmtree(out / ROUNDS, ignore_errors=True)
    comparison = cmp.compare_runs(cmp.load_run(out / "a"), cmp.load_run(out / "b"), **asdict(settings.gate))
    comparison["branches"] = {"refs": refs, "commits": commits, "seconds": 0.0, "notes": [], "failed": False}
    cmp.save_comparison(comparison, out / "b")
    return BranchesDone(None, 0, [f"shard {sweep.shard[0]}/{sweep.shard[1]} holds none of the suite's "
                                  f"{record['shard']['suite_cases']} cases; wrote an empty shard to {out}"])


# -- pinbench validate -------------------------------------------------------------------


@dataclass(frozen=True)
class ValidateSettings:
    """`pinbench validate`: which cases, in which languages and engines."""

    workload: list | None = None
    param: list | None = None
    quick: bool = False
    repeat: int = 3
    language: list | None = None
    cache_dir: str | None = None
    timeout: float = 600.0
    engine: list | None = None
    strategy: list | None = None


def validate(settings: ValidateSettings, log):
    """The validation table of ``settings`` (see :func:`validate.validate`);
    ``log(message)`` receives the progress lines. A language named but not
    installed is a UsageError, as is every bad selection."""
    cases = select_cases(settings.workload, settings.param, quick=settings.quick)
    languages = split_names(settings.language) if settings.language else list(LANGUAGES)
    if settings.language:  # named: its compiler is needed, not skipped with a note as by default
        for language in languages:
            backend = BACKENDS.get(language)
            if backend is not None and backend.find() is None:
                raise UsageError(f"--language {language} needs {backend.tool}, which is not found; "
                                 f"{backend.missing}")
    return validate_cases(
        cases,
        repeat=settings.repeat,
        cache_dir=settings.cache_dir,
        timeout=settings.timeout,
        languages=languages,
        log=log,
        engines=split_names(settings.engine) if settings.engine else None,
        strategies=split_names(settings.strategy) if settings.strategy else None,
    )
