"""`pinbench compare BASE HEAD`: what changed between two results folders;
exit 1 on a regression."""

from __future__ import annotations

from pathlib import Path

from ...model.errors import UsageError
from .. import compare as cmp
from ..compare_report import emit
from .common import add_command, add_gate_arguments

NAME = "compare"

DESCRIPTION = """\
Compare two results folders (BASE, then HEAD). Benchmarks are matched by
workload, strategy, allocator and parameters. Deterministic metrics are
compared exactly: every change is listed, and an increase in allocations,
bytes allocated or peak live bytes, a leak, or a changed checksum is a
regression. Timing (when both folders have pyperf.json) is the ratio
HEAD/BASE of the mean time per task with a 95% bootstrap interval and a
Mann-Whitney U test over pyperf's worker processes (p adjusted across the
benchmarks): a regression only when p < --alpha (0.01) and the whole
interval lies above 1 + --threshold. docs/comparing.md explains it all."""
EPILOG = """\
examples:
  pinbench compare results/main results/my-branch
  pinbench compare results/main results/my-branch --format markdown >> "$GITHUB_STEP_SUMMARY"
  pinbench compare baselines/quick /tmp/now --strict --fail-on-change
  pinbench compare A B --threshold 5% --format json --save

exit status: 0 no regression, 1 a regression (or, with --strict, a benchmark on
one side only; with --fail-on-change, any deterministic change), 2 bad usage or
unreadable input (a missing folder, damaged JSON, an unknown schema version)."""


def add_parser(subparsers):
    p = add_command(subparsers, NAME, "compare two results folders (exit 1 on a regression)", DESCRIPTION, EPILOG,
                    run)
    p.add_argument("base", metavar="BASE", help="the results folder to compare against")
    p.add_argument("head", metavar="HEAD", help="the results folder being judged")
    add_gate_arguments(p)
    p.add_argument(
        "--save", action="store_true",
        help=f"also write the comparison as {cmp.COMPARISON_FILE} in the HEAD folder (the report draws it)",
    )
    return p


def run(args, argv) -> int:
    base = cmp.load_run(args.base)
    head = cmp.load_run(args.head)
    comparison = cmp.compare_runs(
        base, head, threshold=args.threshold, alpha=args.alpha,
        instructions_threshold=args.instructions_threshold,
        strict=args.strict, fail_on_change=args.fail_on_change,
    )
    if args.save:
        folder = Path(args.head)
        if folder.name == "results.json":
            folder = folder.parent
        try:
            cmp.save_comparison(comparison, folder)
        except OSError as error:
            raise UsageError(f"cannot write {folder / cmp.COMPARISON_FILE}: {error.strerror}") from None
    emit(comparison, args.format)
    return cmp.exit_status(comparison)
