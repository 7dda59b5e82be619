"""`pinbench show DIR`: a results folder as terminal tables."""

from __future__ import annotations

from ..console import stdout_console
from ..results import RunDocument
from ..terminal import (
    has_instructions,
    has_timing,
    header_lines,
    instructions_summary_table,
    print_noise_warning,
    report_problems,
    results_table,
    timing_table,
)
from .common import add_command

NAME = "show"

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


def add_parser(subparsers):
    p = add_command(subparsers, NAME, "show a results folder as a table", SHOW_DESCRIPTION, SHOW_EPILOG, run)
    p.add_argument("dir", metavar="DIR", help="a results folder written by `pinbench run`")
    return p


def run(args, argv) -> int:
    doc = RunDocument.read(args.dir)
    out = stdout_console()
    for line in header_lines(args.dir, doc):
        out.print(line)
    out.print()
    table = results_table(doc)
    # Never cut a number off: a narrower screen or COLUMNS gets the table at
    # its natural width (a terminal soft-wraps it; a file does not care).
    needed = out.measure(table, options=out.options.update_width(1000)).maximum
    width = out.width
    out.width = max(width, needed)
    out.print(table)
    out.width = width
    out.print(
        "[dim]held: stacks, slabs, chunks and boxes, used or not, and the runtime's task objects; "
        "in use: the frames in them; /live: per task live at their peak; /task: per task the run "
        "started (spawned ones included); alloc B: every block allocated, summed (each stack a "
        "goroutine grew into counts); M = 10^6; exact values in metrics.csv[/dim]"
    )
    if has_timing(doc):
        out.print()
        table = timing_table(doc)
        out.width = max(width, out.measure(table, options=out.options.update_width(1000)).maximum)
        out.print(table)
        out.width = width
        print_noise_warning(out, doc)
    if has_instructions(doc):
        out.print()
        out.print(instructions_summary_table(doc))
    return report_problems(doc)
