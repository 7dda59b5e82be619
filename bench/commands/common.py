"""Argument groups that several commands share, declared once."""

from __future__ import annotations

import argparse

from .. import compare as cmp
from .. import statistics
from ..compare_report import FORMATS
from ..console import FORMATTER
from ..formatting import parse_float
from ..session import Gate, Sweep
from ..shard import shard_argument
from ..suite import DEFAULT_SUITE, SUITES, suite_argument


def add_command(subparsers, name: str, help: str, description: str, epilog: str, run):
    """A subcommand's parser: its --help keeps the description's and the
    examples' line breaks; parsing it selects ``run``."""
    parser = subparsers.add_parser(name, help=help, description=description, epilog=epilog,
                                   formatter_class=FORMATTER)
    parser.set_defaults(func=run)
    return parser


def add_mode_arguments(parser, quick: str, rigorous: str, counts_only: str) -> None:
    """--quick / --rigorous (exclusive) and --counts-only: how hard to measure."""
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help=quick)
    mode.add_argument("--rigorous", action="store_true", help=rigorous)
    parser.add_argument("--counts-only", action="store_true", help=counts_only)


def folder_argument(text: str) -> str:
    """An -o/--output value: a folder's name, never empty (an empty one
    would quietly mean the default)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"'{text}' names no folder; give one, e.g. -o results/mine")
    return text


def check_mode(parser, args) -> None:
    """--counts-only measures no time, so it cannot be --rigorous about it."""
    if getattr(args, "counts_only", False) and getattr(args, "rigorous", False):
        parser.error("argument --rigorous: not allowed with argument --counts-only (it times nothing to be "
                     "rigorous about; drop one)")


SUITE_HELP = {
    "workload": "a workload name, 'all', or a .toml workload file; repeatable, or a comma list "
    "(default: all built-in workloads)",
    "strategy": "a strategy name or 'all'; repeatable, or a comma list (default: all)",
    "allocator": "system, pool, bump or 'all'; repeatable, or a comma list (default: the suite's: "
    "system, in the full suite all)",
    "param": "sweep a parameter over the given values; repeatable (every combination)",
}
AS_IN_RUN = dict.fromkeys(SUITE_HELP, "as in `pinbench run`")


def add_suite_choice(parser) -> None:
    """--suite NAME: which declared suite (bench/suite.py) the filters narrow."""
    described = "; ".join(f"{name}: {suite.summary}" for name, suite in SUITES.items())
    parser.add_argument("--suite", type=suite_argument, metavar="NAME",
                        help=f"which suite to run ({described}; default: {DEFAULT_SUITE}; --quick is --suite quick)")


def add_suite_arguments(parser, helps: dict = SUITE_HELP) -> None:
    """-w/-s/-a/-p: which workloads, strategies, allocators and parameter
    values (``suite.build_suite`` reads them). ``helps`` names the flags a
    command takes, with their help (default: `pinbench run`'s, all four)."""
    flags = {"workload": ("-w", "W"), "strategy": ("-s", "S"), "allocator": ("-a", "A"), "param": ("-p", "NAME=V1,V2")}
    for dest, (short, metavar) in flags.items():
        if dest in helps:
            parser.add_argument(short, f"--{dest}", action="append", metavar=metavar, help=helps[dest])


def add_shard_arguments(parser) -> None:
    """--shard K/N and --balance RUN: run one shard of the suite (bench/shard.py)."""
    parser.add_argument(
        "--shard", type=shard_argument, metavar="K/N",
        help="run shard K of N of the suite: whole cases (a workload with its parameters, all its strategies "
        "and allocators), balanced by cost; `pinbench merge` joins the shards (docs/scaling.md)",
    )
    parser.add_argument(
        "--balance", metavar="RUN",
        help="balance the shards by what each case took in this earlier run's folder (default: by the "
        "number of benchmarks); every shard must be given the same RUN",
    )


def add_sweep_arguments(parser, quick: str, rigorous: str, counts_only: str, helps: dict = SUITE_HELP) -> None:
    """Everything that says which benchmarks to run and how hard: the mode
    flags, --suite, -w/-s/-a/-p (``helps``) and --shard/--balance, in that
    order; :func:`sweep_of` reads them back."""
    add_mode_arguments(parser, quick=quick, rigorous=rigorous, counts_only=counts_only)
    add_suite_choice(parser)
    add_suite_arguments(parser, helps)
    add_shard_arguments(parser)


def sweep_of(args) -> Sweep:
    """The session's typed :class:`Sweep` of the flags :func:`add_sweep_arguments` declared."""
    return Sweep(workload=args.workload, strategy=args.strategy, allocator=args.allocator, param=args.param,
                 suite=args.suite, quick=args.quick, rigorous=args.rigorous, counts_only=args.counts_only,
                 shard=args.shard, balance=args.balance)


def _threshold(text: str) -> float:
    try:
        return cmp.parse_threshold(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _alpha(text: str) -> float:
    try:
        value = parse_float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a significance level; e.g. 0.05") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is out of range; give a level between 0 and 1, e.g. 0.05")
    return value


def add_gate_arguments(parser) -> None:
    """The options compare and compare-branches share: output format and
    what fails the gate."""
    parser.add_argument(
        "--format", choices=FORMATS, default="text",
        help="text (a terminal table, the default), markdown (for a CI job summary or PR comment) or json",
    )
    parser.add_argument(
        "--threshold", type=_threshold, default=statistics.DEFAULT_THRESHOLD, metavar="PCT",
        help="smallest timing change that can fail, e.g. 10%% (the default) or 0.05",
    )
    parser.add_argument(
        "--instructions-threshold", type=_threshold, default=cmp.DEFAULT_INSTRUCTIONS_THRESHOLD, metavar="PCT",
        help="smallest increase of instructions or estimated cycles per task that fails, e.g. 1%% "
        "(the default); compared where both runs counted them (run --instructions)",
    )
    parser.add_argument(
        "--alpha", type=_alpha, default=statistics.DEFAULT_ALPHA, metavar="P",
        help="significance level of the Mann-Whitney U test, after adjusting for the number of "
        f"benchmarks (default {statistics.DEFAULT_ALPHA})",
    )
    parser.add_argument("--strict", action="store_true", help="fail when a benchmark is on one side only")
    parser.add_argument(
        "--fail-on-change", action="store_true",
        help="fail on any change of a deterministic metric, not only on regressions (the CI baseline gate)",
    )


def gate_of(args) -> Gate:
    """The session's typed :class:`Gate` of the flags :func:`add_gate_arguments` declared."""
    return Gate(threshold=args.threshold, alpha=args.alpha, instructions_threshold=args.instructions_threshold,
                strict=args.strict, fail_on_change=args.fail_on_change)
