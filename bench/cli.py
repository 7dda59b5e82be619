"""The `pinbench` command line: ``main()`` and the list of its commands.

Each command is a module of ``commands/`` (its arguments and its ``run``);
:mod:`session` runs what run, compare-branches and validate ask for (the
loop, output folders, signals); the harness does the work: :mod:`suite`
decides what to measure, :mod:`runner` and :mod:`timing` measure,
:mod:`results` stores and reads results folders, :mod:`terminal`,
:mod:`report` and :mod:`compare_report` show them. Nothing imports this module.

Errors: every :class:`UsageError` and every argparse usage error is one line
on stderr and exit status 2, never a traceback. An interrupted command
(Ctrl-C or SIGTERM) exits with 130 or 143.
"""

from __future__ import annotations

import signal
import sys
import textwrap

from .. import __version__
from ..model.errors import UsageError
from ..strategies import BUILTIN
from .commands import compare, compare_branches, explain, history, import_rust, merge, report, run, show, validate
from .commands import list as list_
from .commands.common import check_mode
from .console import EXIT_USAGE, FORMATTER, PROG, ArgumentParser, guarded_output, one_line

# In the order `pinbench --help` lists them.
COMMANDS = (list_, run, show, report, explain, import_rust, validate, compare, compare_branches, merge, history)

MAIN_DESCRIPTION = textwrap.fill(
    "What does each way of storing async state machines cost? pinbench runs async workloads under "
    f"memory strategies ({', '.join(BUILTIN)}, and plug-ins) and frame allocators, and counts "
    "allocations, bytes, moves, refcount operations and polls exactly.",
    width=78,
)

MAIN_EPILOG = """\
examples:
  pinbench list                       what can be run
  pinbench run                        the default suite (minutes), into results/<timestamp>/
  pinbench run --quick                the same at small parameters (CI)
  pinbench show results/<timestamp>   the results as a table
  pinbench report results/<timestamp> figures and an HTML page (--open to view it)
  pinbench explain chain              one task's memory under each strategy
  pinbench import rust CRATE          a Rust crate's futures as a workload file
  pinbench compare BASE HEAD          what changed between two runs (exit 1 on a regression)
  pinbench compare-branches main HEAD --quick   build, run interleaved and compare two git refs
  pinbench merge shard-1 shard-2 -o merged      join the shards of a sweep (run --shard K/N)
  pinbench history add merged                   keep runs in SQLite; `history show`: change points

exit status: 0 ok, 1 a bug was found (leak, checksum mismatch), 2 bad usage,
130/143 interrupted by SIGINT/SIGTERM."""


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=PROG, description=MAIN_DESCRIPTION, epilog=MAIN_EPILOG, formatter_class=FORMATTER
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parser.commands = commands.choices  # name -> subparser, for errors about its arguments
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # A reader that leaves (`| head -1`) silences the output, not the status.
    with guarded_output():
        parser = build_parser()
        try:
            args, extra = parser.parse_known_args(argv)
            if extra:  # blame the subcommand, whose --help lists its options
                parser.commands[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
            check_mode(parser.commands[args.command], args)
        except SystemExit as stop:  # --help, --version, usage errors
            return stop.code if isinstance(stop.code, int) else EXIT_USAGE
        try:
            return args.func(args, argv)
        except UsageError as error:
            print(f"{PROG}: error: {one_line(error)}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            print(f"{PROG}: interrupted", file=sys.stderr)
            return 128 + signal.SIGINT


if __name__ == "__main__":
    sys.exit(main())
