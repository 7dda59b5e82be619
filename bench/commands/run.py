"""`pinbench run`: build the suite, run every benchmark, write the results
folder after each one, print the summary (the session, :mod:`..session`,
does the work).

Errors: every :class:`UsageError` is one line on stderr and exit status 2. An
interrupted run (Ctrl-C or SIGTERM) keeps the benchmarks that finished and
exits with 130 or 143. A benchmark that ends with live blocks, or strategies
that disagree on a checksum, are bugs: reported, exit status 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import engine as engines
from .. import runner, session
from ..console import esc, stdout_console
from ..formatting import parse_float
from ..results import RunDocument
from ..terminal import (
    has_instructions,
    headline_table,
    instructions_summary_table,
    print_noise_warning,
    report_problems,
)
from .common import add_command, add_sweep_arguments, folder_argument, sweep_of

NAME = "run"

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
    add_sweep_arguments(
        p,
        quick="the quick suite: small parameters, short timing (for CI); the same as --suite quick",
        rigorous="more pyperf processes and values (for numbers you publish)",
        counts_only="only the deterministic counts: no pyperf timing, no latency (seconds, not minutes)",
    )
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


def run(args, argv) -> int:
    settings = session.RunSettings(
        sweep=sweep_of(args), command=list(argv), output=args.output, name=args.name, force=args.force,
        instructions=args.instructions, engine=args.engine, memory_limit=args.memory_limit,
    )
    try:
        done = session.run(settings)
    except session.Stopped as stop:
        print(stop.line, file=sys.stderr)
        return stop.status
    if done.empty_shard:  # more shards than cases: this one is empty, and merge needs to see it
        print(done.empty_shard, file=sys.stderr)
        return 0
    return _report_run(done.folder, done.seconds)


def _report_run(folder: Path, elapsed: float) -> int:
    doc = RunDocument.read(folder)  # what a user will read back, not what we hold
    out = stdout_console()
    out.print(headline_table(doc))
    print_noise_warning(out, doc)
    if has_instructions(doc):
        out.print(instructions_summary_table(doc))
    for skipped in doc.skipped:
        out.print(f"[bold yellow]skipped:[/bold yellow] {esc(skipped['reason'])}", soft_wrap=True)
    out.print(f"{len(doc.benchmarks)} benchmarks in {elapsed:.1f} s; results in [bold]{esc(folder)}[/bold]")
    out.print(f"full table: pinbench show {esc(folder)}")
    return report_problems(doc)
