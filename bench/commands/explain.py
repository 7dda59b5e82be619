"""`pinbench explain WORKLOAD`: one task's memory under each strategy, as text."""

from __future__ import annotations

import sys

from ...model.errors import UsageError
from ..layout_view.model import task_view
from ..layout_view.text import explain_text
from ..rust_import import questions
from ..suite import select_strategies
from ..workloads import get_workload
from .common import add_command

NAME = "explain"

EXPLAIN_DESCRIPTION = """\
Print the memory of one task of a workload under each strategy, as the model
lays it out at the task's largest moment: every allocation (block) with its
size, the frames inside it at their byte offsets (inline frames nested in
their parent), pointers to boxed children and Rc cells. The same model the
report's layout diagrams draw."""
EXPLAIN_EPILOG = """\
examples:
  pinbench explain chain
  pinbench explain chain --param depth=3 --param borrow=10
  pinbench explain server --strategy pinbox,rc
  pinbench explain examples/echo.toml
  pinbench explain crate.toml       (imported by pinbench import rust: also rustc's
                                    sizes, captures stored twice and where to box)

exit status: 0 ok, 2 an unknown workload, strategy or parameter."""


def add_parser(subparsers):
    p = add_command(subparsers, NAME, "print a workload's task layout under each strategy", EXPLAIN_DESCRIPTION,
                    EXPLAIN_EPILOG, run)
    p.add_argument("workload", metavar="WORKLOAD", help="a workload name or a .toml workload file")
    p.add_argument("-p", "--param", action="append", metavar="NAME=VALUE",
                   help="a parameter value (repeatable; one value each)")
    p.add_argument("-s", "--strategy", action="append", metavar="S",
                   help="a strategy or 'all'; repeatable or a comma list (default: all)")
    return p


def run(args, argv) -> int:
    workload = get_workload(args.workload)
    params = check_params_text(workload, args.param)
    strategies = select_strategies(args.strategy)
    program = workload.compile(params)
    views = [task_view(program, name) for name in strategies]
    sys.stdout.write(explain_text(views))
    if program.fn_native and any(program.fn_native):  # imported by `pinbench import rust`
        sys.stdout.write("\nImported from rustc's type sizes:\n" + questions.report(program))
    return 0


def check_params_text(workload, flags) -> dict:
    """Typed parameters from ``NAME=VALUE`` flags (one value each)."""
    raw = {}
    for flag in flags or []:
        name, sep, value = flag.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise UsageError(f"--param '{flag}' is not NAME=VALUE; e.g. --param depth=4")
        if "," in value:
            raise UsageError(
                f"--param {flag}: explain draws one parameter set; give one value, e.g. {name}="
                f"{value.split(',')[0]}"
            )
        if name in raw:
            raise UsageError(f"--param {name} is given twice; give it once")
        raw[name] = value
    return workload.parse_params(raw)
