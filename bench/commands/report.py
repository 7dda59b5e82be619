"""`pinbench report DIR`: the figures and report.html of a results folder."""

from __future__ import annotations

import sys
import webbrowser

from .common import add_command

NAME = "report"

REPORT_DESCRIPTION = """\
Draw the figures of a results folder (PNG and SVG, into DIR/figures/) and
write DIR/report.html: one self-contained page (figures embedded, no network
needed) with the environment, a summary, the noisy benchmarks, the figures
by workload and the command that reproduces the run."""
REPORT_EPILOG = """\
examples:
  pinbench report results/20240101-120000
  pinbench report results/nightly --open
  pinbench report DIR --layout chain:depth=3,borrow=10

A layout diagram is drawn for every workload of the run, at the parameter set
with the most blocks that still draws legibly; --layout picks the workload
and parameters instead (repeatable). docs/report.md explains each figure.

exit status: 0 ok, 2 the folder is missing or is not pinbench results, or a
bad --layout."""


def add_parser(subparsers):
    p = add_command(subparsers, NAME, "draw figures and an HTML page for a results folder", REPORT_DESCRIPTION,
                    REPORT_EPILOG, run)
    p.add_argument("dir", metavar="DIR", help="a results folder written by `pinbench run`")
    p.add_argument("--open", action="store_true", help="open report.html in the web browser afterwards")
    p.add_argument(
        "--layout", action="append", metavar="W[:NAME=V,...]",
        help="draw the layout diagram of workload W at these parameters (repeatable)",
    )
    return p


def run(args, argv) -> int:
    from ..report import FIGURES_DIR, build_report, parse_layout_flag  # deferred: the report loads matplotlib

    layouts = [parse_layout_flag(flag) for flag in args.layout or []]
    path = build_report(args.dir, layouts)
    figures = sorted((path.parent / FIGURES_DIR).glob("*.png"))
    print(f"report: {path} ({len(figures)} figures, PNG and SVG, in {path.parent / FIGURES_DIR})")
    if args.open:
        if not webbrowser.open(path.resolve().as_uri()):
            print(f"pinbench: could not start a web browser; open {path} yourself", file=sys.stderr)
    return 0
