"""`pinbench compare-branches REF_A REF_B`: build two git refs, run them
interleaved, compare them as `pinbench compare` does."""

from __future__ import annotations

import argparse
import sys

from .. import engine as engines
from .. import session
from ..branches import say
from ..compare_report import emit
from ..formatting import parse_int
from .common import AS_IN_RUN, add_command, add_gate_arguments, add_sweep_arguments, folder_argument, gate_of, sweep_of

NAME = "compare-branches"

DESCRIPTION = """\
Build two git refs and compare them: each ref is built in its own git
worktree and environment (cached per commit under ~/.cache/pinbench/envs, or
$PINBENCH_CACHE/envs), then both arms run every benchmark of the suite in
this one job, interleaved A B A B ... so that drift of the machine hits both
alike; each arm's rounds are merged into OUTDIR/a and OUTDIR/b and compared
as `pinbench compare OUTDIR/a OUTDIR/b` does (comparison.json is saved in
OUTDIR/b). Works from any clone; your working tree, index and HEAD are never
touched, and the temporary worktrees are always removed."""
EPILOG = """\
examples:
  pinbench compare-branches main HEAD --quick
  pinbench compare-branches origin/main my-branch -w chain,skynet -s pinbox,rc
  pinbench compare-branches v0.1.0 HEAD --counts-only --strict
  pinbench compare-branches "$BASE_SHA" "$HEAD_SHA" --quick --format markdown >> "$GITHUB_STEP_SUMMARY"
  pinbench compare-branches main HEAD --quick --shard 1/4 -o cmp-1   # then: pinbench merge cmp-* -o cmp

Every invocation is the arm's own `pinbench run` with filters for one
benchmark, so the refs must have this command line (older commits do).

exit status: 0 no regression, 1 a regression (see `pinbench compare --help`),
a crash of an arm or a bug (rounds that disagree on exact counts), 2 bad usage,
a bad ref, a build that fails or nothing that runs, 130/143 interrupted."""


def _rounds(text: str) -> int:
    try:
        value = parse_int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of rounds") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{value} rounds is out of range; give 1 to 100")
    return value


def add_parser(subparsers):
    p = add_command(subparsers, NAME, "build two git refs, run them interleaved, compare (exit 1 on a regression)",
                    DESCRIPTION, EPILOG, run)
    p.add_argument("ref_a", metavar="REF_A", help="the base: a branch, tag or commit")
    p.add_argument("ref_b", metavar="REF_B", help="the head being judged")
    add_sweep_arguments(
        p,
        quick="the quick suite and pyperf settings (CI)",
        rigorous="more pyperf processes and values per round",
        counts_only="compare the exact counts only (no timing)",
        helps=AS_IN_RUN,
    )
    p.add_argument(
        "--engine", type=engines.engine_argument, default=None, metavar="E",
        help="the engine both arms run with, compiled or interpreted (default: each arm's own default)",
    )
    p.add_argument(
        "--instructions", action="store_true",
        help="also count each arm's instructions per task under valgrind (once per arm, after the timed "
        "rounds: the counts are deterministic) and fail on an increase beyond --instructions-threshold",
    )
    p.add_argument(
        "--rounds", type=_rounds, metavar="N",
        help="times each arm runs each benchmark (default 2 with --quick, 1 with --counts-only, else 3; "
        "none with --counts-only --instructions, whose count under valgrind gives every exact count)",
    )
    p.add_argument(
        "--interleave", choices=("benchmark", "round"), default="benchmark",
        help="benchmark (default): A B A B per benchmark; round: each arm's whole suite per round "
        "(fewer process start-ups, drift shared only between rounds)",
    )
    p.add_argument("-o", "--output", metavar="OUTDIR", type=folder_argument,
                   help="where the arms' results go (default: results/branches-<YYYYmmdd-HHMMSS>/)")
    p.add_argument("--force", action="store_true", help="overwrite OUTDIR if it already holds arms")
    p.add_argument("--repo", metavar="DIR", default=".", help="the git clone the refs belong to (default: here)")
    p.add_argument("--isolated-env", action="store_true",
                   help="install each arm with its own dependencies (downloads them) instead of sharing this "
                   "pinbench's installed packages")
    add_gate_arguments(p)
    return p


def run(args, argv) -> int:
    settings = session.BranchSettings(
        ref_a=args.ref_a, ref_b=args.ref_b, sweep=sweep_of(args), gate=gate_of(args), command=list(argv),
        engine=args.engine, instructions=args.instructions, rounds=args.rounds, interleave=args.interleave,
        output=args.output, force=args.force, repo=args.repo, isolated_env=args.isolated_env,
    )
    try:
        done = session.compare_branches(settings)
    except session.Stopped as stop:
        print(stop.line, file=sys.stderr)
        return stop.status
    if done.comparison is not None:
        emit(done.comparison, args.format)
    for line in done.lines:
        say(line)
    return done.status
