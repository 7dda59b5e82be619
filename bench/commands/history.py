"""`pinbench history add|show|report`: keep runs in an SQLite database and
find where each benchmark's numbers changed (bench/history.py)."""

from __future__ import annotations

from pathlib import Path

from .. import history
from ..results import writing
from ..console import esc, stdout_console
from ..formatting import exact
from ..metrics import BY_NAME, ID
from .common import add_command, folder_argument

NAME = "history"

DESCRIPTION = """\
Keep runs in a history database (SQLite, one file; --db, default
results/history.sqlite) and find the change points in each benchmark's
series. `add` stores runs keyed by commit, date, machine, suite, engine and
benchmark (adding a run twice changes nothing); `show` prints one metric's
series per benchmark with its change points; `report` draws them.

Counts and instruction counts are exact: any change is a change point, at
the run that first has the new value. Times use ruptures' PELT search with
a penalty from the series' own noise, per machine (docs/history.md says how
sensitive it is)."""
EPILOG = """\
examples:
  pinbench history add results/merged
  pinbench history show --metric allocs_per_task -b chain
  pinbench history show --metric ns_per_task_mean -b spawn_many
  pinbench history report --metric ns_per_task_mean -o results/history-figures

exit status: 0 ok, 2 bad usage, an unreadable run or database."""

DEFAULT_METRIC = "ns_per_task_mean"


def add_parser(subparsers):
    p = add_command(subparsers, NAME, "keep runs in a database and find change points", DESCRIPTION, EPILOG, run)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add results folders (merged or not) to the history")
    add.add_argument("runs", nargs="+", metavar="RUN", help="results folders")
    for action, text in (("show", "print one metric's series per benchmark and its change points"),
                         ("report", "draw one metric's series and list its change points")):
        sub = actions.add_parser(action, help=text)
        sub.add_argument("--metric", default=DEFAULT_METRIC, metavar="M",
                         help=f"the metric (default {DEFAULT_METRIC}; any name in metrics.csv)")
        sub.add_argument("-b", "--benchmark", metavar="TEXT", help="only benchmarks whose name contains TEXT")
        if action == "report":
            sub.add_argument("-o", "--output", metavar="DIR", type=folder_argument, default="results/history",
                             help="where the figure goes (default results/history)")
    for sub in actions.choices.values():
        sub.add_argument("--db", metavar="PATH", default=str(history.DEFAULT_DB),
                         help=f"the history database (default {history.DEFAULT_DB})")
    return p


def run(args, argv) -> int:
    out = stdout_console()
    if args.action == "add":
        for folder, added, rows in history.add_runs(args.db, args.runs):
            note = "already in the history" if rows and not added else f"{added} of {rows} values added"
            out.print(f"{esc(folder)}: {note}", soft_wrap=True)
        return 0
    found = history.series(args.db, args.metric, args.benchmark)
    if args.action == "report":
        from .. import plots  # deferred: matplotlib loads only when drawing

        label = BY_NAME[args.metric].label if args.metric in BY_NAME else args.metric
        with writing(args.output):
            paths = plots.save_figure(plots.fig_history(found, args.metric, label), Path(args.output),
                                      f"history-{args.metric}")
        out.print(f"figure: {esc(paths[0])}", soft_wrap=True)
    else:
        for one in found:
            where = f"{one.suite}, {one.engine}" + (f", {one.machine}" if one.machine else "")
            out.print(f"[bold]{esc(one.benchmark)}[/bold] ({esc(where)})", soft_wrap=True)
            starts = {change.index: change for change in one.changes}
            for i, (date, commit, value) in enumerate(zip(one.dates, one.commits, one.values)):
                mark = f"  <- {_change_text(starts[i], args.metric)}" if i in starts else ""
                out.print(f"  {date}  {commit[:12]}  {exact(value)}{esc(mark)}", soft_wrap=True)
    changes = [(one, change) for one in found for change in one.changes]
    out.print(f"{len(changes)} change point(s) of {args.metric} in {len(found)} series", soft_wrap=True)
    for one, change in changes:
        machine = f" on {one.machine}" if one.machine else ""
        out.print(f"  {esc(one.benchmark)}{esc(machine)}: {change.before_commit[:12]}..{change.after_commit[:12]} "
                  f"{esc(_change_text(change, args.metric))}", soft_wrap=True)
    return 0


def _change_text(change, metric: str) -> str:
    """``1000 -> 1050 (+5.0%)``; an identifier (the checksum) has no size."""
    size = change.size
    relative = f" ({size:+.1%})" if size is not None and (metric not in BY_NAME or BY_NAME[metric].unit != ID) else ""
    return f"{exact(change.before)} -> {exact(change.after)}{relative}"
