"""`pinbench list`: the workloads (with their parameters), strategies
(plug-ins included), allocators and suites."""

from __future__ import annotations

from rich.table import Table

from ... import strategies
from .. import runner
from ..console import EXIT_OK, esc, stdout_console
from ..formatting import param_text
from ..suite import DEFAULT_SUITE, SUITES
from ..workloads import WORKLOADS
from .common import add_command

NAME = "list"

LIST_DESCRIPTION = "List the workloads (with their parameters), strategies (plug-ins included), allocators and suites."
LIST_EPILOG = """\
examples:
  pinbench list
  pinbench list | less"""


def add_parser(subparsers):
    return add_command(subparsers, NAME, "list workloads, strategies, allocators and suites", LIST_DESCRIPTION,
                       LIST_EPILOG, run)


def run(args, argv) -> int:
    out = stdout_console()

    table = Table(title="Workloads", title_justify="left", show_lines=True, expand=True)
    table.add_column("workload", style="bold", no_wrap=True)
    table.add_column("what it runs", ratio=3)
    table.add_column("parameters: default (allowed)", ratio=2)
    for workload in WORKLOADS.values():
        params = "\n".join(
            esc(f"{p.name}={param_text(p.default)} ({p.allowed_short()})") for p in workload.params
        )
        table.add_row(
            esc(workload.name),
            f"{esc(workload.summary)}\n[dim]origin: {esc(workload.origin)}[/dim]",
            params or "-",
        )
    out.print(table)
    out.print("A workload may also be the path of a .toml workload file (docs/workload-files.md).")
    out.print("Sweep a parameter with: pinbench run --workload W --param NAME=V1,V2\n")

    table = Table(title="Strategies", title_justify="left", expand=True)
    table.add_column("strategy", style="bold", no_wrap=True)
    table.add_column("polling", no_wrap=True)
    table.add_column("summary", ratio=1)
    table.add_column("origin", ratio=1)
    for name, strategy in strategies.available().items():
        kind = "built-in" if name in strategies.BUILTIN else "plug-in"
        table.add_row(
            esc(name),
            esc(strategy.polling.replace("_", "-")),
            esc(strategy.summary or "-") + "".join(
                f"\n[dim]{esc(name)}:{esc(o.name)}={o.default}: {esc(o.help)}[/dim]" for o in strategy.options
            ),
            esc(strategy.origin or "-") + ("" if kind == "built-in" else " [dim](plug-in)[/dim]"),
        )
    out.print(table)
    out.print("Set a strategy's option with: pinbench run --strategy NAME:OPTION=VALUE (e.g. fiber:stack=131072)\n")

    table = Table(title="Allocators", title_justify="left")
    table.add_column("allocator", style="bold", no_wrap=True)
    table.add_column("how frames are allocated", ratio=1)
    for name in runner.ALLOCATORS:
        table.add_row(name, runner.ALLOCATOR_SUMMARIES.get(name, "-"))
    out.print(table)

    table = Table(title="Suites", title_justify="left")
    table.add_column("suite", style="bold", no_wrap=True)
    table.add_column("what it runs", ratio=1)
    for name, suite in SUITES.items():
        table.add_row(esc(name), esc(suite.summary))
    out.print(table)
    out.print(f"Run one with: pinbench run --suite NAME (default: {DEFAULT_SUITE}; the README's Suites say how "
              "long each takes)")
    return EXIT_OK
