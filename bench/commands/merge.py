"""`pinbench merge DIR... -o OUT`: join the shards of one sweep into one run
(or the shards of `compare-branches --shard` into one comparison)."""

from __future__ import annotations

from pathlib import Path

from .. import compare as cmp
from .. import merge
from ..compare_report import FORMATS, emit
from ..console import PROG, stdout_console
from .common import add_command, folder_argument

NAME = "merge"

DESCRIPTION = """\
Merge the results folders of `pinbench run --shard K/N` (one per shard, from
any machines) into one run folder: results.json, metrics.csv and pyperf.json.
Each benchmark keeps the machine it ran on, so `pinbench compare` gives a
timing verdict only between benchmarks of one machine (counts and
instruction counts are compared exactly whatever the machine). The shards
must be of one sweep (same pinbench version, commit, suite, options, engine
and balance) and each given once; a missing shard is named, and --partial
merges without it, marking the run incomplete.

The folders of `compare-branches --shard` (each with a/ and b/) merge the
same way into OUT/a and OUT/b, judged as one comparison (saved in OUT/b):
one verdict and one exit status. docs/scaling.md explains it all."""
EPILOG = """\
examples:
  pinbench merge shard-1 shard-2 shard-3 shard-4 -o results/merged
  pinbench merge shards/* -o merged --partial
  pinbench merge cmp-1 cmp-2 -o comparison --format markdown >> "$GITHUB_STEP_SUMMARY"

exit status: 0 merged (comparisons: no regression), 1 a comparison found a
regression or a shard reported a bug, 2 bad usage or shards that do not fit
together."""


def add_parser(subparsers):
    p = add_command(subparsers, NAME, "merge shard folders into one run or one comparison", DESCRIPTION, EPILOG, run)
    p.add_argument("folders", nargs="+", metavar="DIR", help="the shards' folders")
    p.add_argument("-o", "--output", metavar="OUT", type=folder_argument, required=True,
                   help="the merged folder (written whole, then renamed into place)")
    p.add_argument("--partial", action="store_true", help="merge even if shards are missing (marked incomplete)")
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="how a merged comparison is printed: text, markdown (a CI job summary) or json")
    return p


def run(args, argv) -> int:
    out = Path(args.output)
    if all(merge.is_comparison(folder) for folder in args.folders):
        arms, saved = merge.merge_comparisons(args.folders, args.partial)
        with merge.staging(out, args.force, args.folders) as staged:
            for arm, (doc, timed) in arms.items():
                merge.write_run(staged / arm, doc, timed)
            comparison = merge.judge(staged, saved)
        emit(comparison, args.format)
        return 1 if comparison["branches"]["failed"] else cmp.exit_status(comparison)
    doc, timed = merge.merge_runs(args.folders, args.partial)
    with merge.staging(out, args.force, args.folders) as staged:
        merge.write_run(staged, doc, timed)
    info = doc.merged
    if info["missing"]:
        missing = f"; missing shard(s) {', '.join(map(str, info['missing']))}: incomplete"
    elif not doc.complete:
        missing = "; a shard's run was incomplete, so is the merged one"
    else:
        missing = ""
    stdout_console().print(
        f"{len(doc.benchmarks)} benchmarks from {len(info['present'])} of {info['shards']} shards "
        f"({info['machines']} machine(s)) merged into {out}{missing}", soft_wrap=True, markup=False)
    stdout_console().print(f"full table: {PROG} show {out}", markup=False)
    return 0
