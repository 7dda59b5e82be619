"""The figures of ``pinbench report``: matplotlib, no pyplot, no display.

One function per figure; each takes a results document (or the pieces it
needs) and returns a :class:`matplotlib.figure.Figure`, or ``None`` when the
run holds nothing it could show (no timing, no swept parameter...).
:func:`save_figure` writes a figure as PNG and SVG, atomically.

Design rules, the same in every figure and on the HTML page:

* one colour per strategy, declared on the strategy (the Okabe-Ito palette,
  safe for the common kinds of colour blindness), and one marker per strategy
  so lines stay apart in grey too; plug-in strategies get the next free
  colours and markers (``strategies.color_of`` / ``marker_of``);
* units on every axis; log axes only where the values span a wide range;
* sizes for a laptop screen: figures are 10 inches wide and the page shows
  them at about that size, fonts 8-10 pt; value labels that would not fit are
  left out rather than overlapped.
"""

from __future__ import annotations

import math
import os
import secrets
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before anything draws: no display is ever needed

from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator  # noqa: E402

from ..strategies import color_of, marker_of  # noqa: E402
from .formatting import count as fmt_count  # noqa: E402
from .formatting import duration as fmt_duration  # noqa: E402
from .formatting import param_text, params_text, time_unit  # noqa: E402
from . import records  # noqa: E402
from .results import RunDocument  # noqa: E402
from .metrics import ARRIVAL_LATENCY, BY_NAME, COUNT, LATENCY, NS, PERCENTILES, RELATIVE_TIME, Metric  # noqa: E402
from .metrics import axis_label  # noqa: E402
from .statistics import CONFIDENCE  # noqa: E402
from .workloads import WORKLOADS  # noqa: E402

# -- style -------------------------------------------------------------------------

STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": "#E3E3E3",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "svg.hashsalt": "pinbench",  # reproducible SVG ids
    "svg.fonttype": "path",  # identical everywhere, no font needed
}

WIDTH = 10.0  # inches: the page shows figures at about 96 px per inch
PNG_DPI = 150  # sharp enough on high-density screens, and the page stays a few MB

# Every built-in parameter by name, for its unit (axis labels) and whether
# it is a size to scale against (workloads.Param).
PARAMS = {p.name: p for workload in WORKLOADS.values() for p in workload.params}


def new_figure(width: float, height: float, **kwargs) -> Figure:
    with matplotlib.rc_context(STYLE):
        return Figure(figsize=(width, height), **kwargs)


def save_figure(fig: Figure, folder, stem: str) -> tuple:
    """Write ``stem.png`` and ``stem.svg`` into ``folder`` atomically (a
    temporary name, then ``os.replace``); return both paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt, extra in (("png", {"dpi": PNG_DPI}), ("svg", {"metadata": {"Date": None}})):
        path = folder / f"{stem}.{fmt}"
        tmp = folder / f".{stem}.{os.getpid()}.{secrets.token_hex(4)}.{fmt}.tmp"
        try:
            with matplotlib.rc_context(STYLE):
                fig.savefig(tmp, format=fmt, facecolor="white", **extra)
            # The first format's draw placed the axes: the next draws them where
            # they are (a constrained layout took a fifth of a report's time).
            fig.set_layout_engine("none")
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        paths.append(path)
    return tuple(paths)


# -- reading a results document ----------------------------------------------------------


def params_label(params: dict, names=None) -> str:
    """``depth=4 borrow=10``: the parameters ``names`` (all if None)."""
    return params_text(params if names is None else {n: params[n] for n in names if n in params})


def workload_benches(doc) -> dict:
    """Benchmarks by workload (name, and file for workload files), in order."""
    out = {}
    for bench in doc.benchmarks:
        out.setdefault(records.BenchmarkRecord.of(bench).workload_title, []).append(bench)
    return out


def varying(benches: list) -> list:
    """The parameters whose values differ between these benchmarks."""
    return records.varying(b["params"] for b in benches)


def strategies_of(doc_or_benches) -> list:
    benches = doc_or_benches if isinstance(doc_or_benches, list) else doc_or_benches.benchmarks
    return list(dict.fromkeys(b["strategy"] for b in benches))


def allocators_of(benches: list) -> list:
    return list(dict.fromkeys(b["allocator"] for b in benches))


def param_sets(benches: list) -> list:
    """Distinct parameter dicts, in order."""
    out = []
    for bench in benches:
        if bench["params"] not in out:
            out.append(bench["params"])
    return out


def pick(benches: list, params: dict, strategy: str, allocator: str | None = None):
    """The benchmark with these params and strategy (the first allocator
    unless one is named), or None."""
    for bench in benches:
        if bench["params"] == params and bench["strategy"] == strategy:
            if allocator is None or bench["allocator"] == allocator:
                return bench
    return None


def timed(benches: list) -> bool:
    return any(b["metrics"].get("ns_per_task_mean") is not None for b in benches)


def has_latency(benches: list) -> bool:
    return any(b["metrics"].get("p50_ns") is not None for b in benches)


def _log_wanted(values) -> bool:
    positive = [v for v in values if v is not None and v > 0]
    return len(positive) >= 2 and min(v for v in values if v is not None) > 0 and max(positive) / min(positive) >= 30


def _scale_x(ax, values):
    """Log x where the values span a wide range (symlog when 0 is among them)."""
    positive = sorted(v for v in values if v > 0)
    if len(positive) >= 2 and positive[-1] / positive[0] >= 30:
        if min(values) > 0:
            ax.set_xscale("log")
        else:
            ax.set_xscale("symlog", linthresh=positive[0])
    ax.set_xticks(sorted(set(values)))
    ax.set_xticklabels([fmt_count(v) for v in sorted(set(values))])
    ax.minorticks_off()


def _strategy_handles(names, line=False) -> list:
    if line:
        return [
            Line2D([], [], color=color_of(n), marker=marker_of(n), label=n, linewidth=1.8)
            for n in names
        ]
    return [Patch(facecolor=color_of(n), label=n) for n in names]


# -- bars: allocations, memory, time per task ------------------------------------------------

MAX_GROUPS = 6  # parameter sets per workload in a bar panel a third of the width wide


def _grid(n: int):
    cols = 1 if n == 1 else 2 if n in (2, 4) else 3
    return cols, -(-n // cols)


def fig_metric(doc: RunDocument, metric: Metric) -> Figure | None:
    """A metric's overview figure, as its :class:`metrics.Figure` declares
    it; None where the run has nothing of it to draw."""
    figure = metric.figure
    if figure.when and not any(b["metrics"].get(figure.when) for b in doc.benchmarks):
        return None
    if figure.kind == RELATIVE_TIME:
        return fig_time(doc)
    return fig_bars(doc, metric, figure.title, figure.per_allocator)


def fig_bars(doc: RunDocument, metric: Metric, title: str, per_allocator: bool = False) -> Figure | None:
    """Small multiples, one panel per workload: for each parameter set a
    group of bars, one per strategy, each labelled with its value.
    Per-allocator metrics (``per_allocator``) get a group per allocator;
    exact counts are the same under every allocator. (Times have their own
    figure, :func:`fig_time`.)"""
    groups = {k: v for k, v in workload_benches(doc).items()
              if any(b["metrics"].get(metric.name) is not None for b in v)}
    if not groups:
        return None
    names = strategies_of(doc)
    cols, rows = _grid(len(groups))
    panel_h = 2.45
    fig = new_figure(WIDTH, rows * panel_h + 0.8, layout="constrained")
    with matplotlib.rc_context(STYLE):
        axes = fig.subplots(rows, cols, squeeze=False)
        for ax in axes.flat[len(groups):]:
            ax.set_visible(False)
        for ax, (workload, benches) in zip(axes.flat, groups.items()):
            _bar_panel(ax, workload, benches, names, metric, per_allocator, WIDTH / cols)
        fig.suptitle(title, fontsize=11, fontweight="bold")
        _legend(fig, _strategy_handles(names))
    return fig


def _legend(fig, handles, wide=False):
    """The legend below the panels, in as many columns as fit the figure's
    width (a legend wider than the canvas is cut at both edges)."""
    size = STYLE["legend.fontsize"]
    # Each entry: its handle and padding (~0.5 in) and its text.
    widths = [0.5 + len(h.get_label()) * 0.6 * size / 72 for h in handles]
    ncols = len(handles)
    while ncols > 1:
        rows = [widths[i:i + ncols] for i in range(0, len(widths), ncols)]
        # matplotlib sizes each column to its widest entry
        columns = [max(row[c] for row in rows if c < len(row)) for c in range(ncols)]
        if sum(columns) <= WIDTH - 0.3:
            break
        ncols -= 1
    fig.legend(handles=handles, loc="outside lower center", ncols=ncols)


def _bar_panel(ax, workload, benches, names, metric, per_allocator, panel_in):
    sets = param_sets(benches)
    allocs = allocators_of(benches)
    shown_allocs = allocs if per_allocator else allocs[:1]  # counts are the same under every allocator
    max_groups = max(MAX_GROUPS, int(MAX_GROUPS * panel_in / (WIDTH / 3)))  # wider panels hold more
    keys = [(p, a) for p in sets for a in shown_allocs][:max_groups]
    vary = varying(benches)
    n_bars = len(keys) * len(names)
    width = 0.8 / len(names)
    top, drawn = 0.0, []
    pitch = (panel_in - 0.8) / max(n_bars, 1)  # inches per bar
    rotate = pitch < 0.32  # room for a level label?
    labelled = pitch >= 6.5 / 72 * 1.2  # room for a rotated one? else none: the tables hold the values
    for i, name in enumerate(names):
        xs, ys = [], []
        for g, (params, alloc) in enumerate(keys):
            bench = pick(benches, params, name, alloc)
            value = bench["metrics"].get(metric.name) if bench else None
            if value is None:
                continue
            xs.append(g + (i - (len(names) - 1) / 2) * width)
            ys.append(value)
        if not xs:
            continue
        ax.bar(xs, ys, width * 0.92, color=color_of(name), edgecolor="white", linewidth=0.4)
        for x, y in zip(xs, ys) if labelled else ():
            ax.annotate(
                metric.text(y), (x, y), xytext=(0, 2), textcoords="offset points", ha="center",
                va="bottom", fontsize=6.5 if rotate else 7, rotation=90 if rotate else 0,
            )
        top = max(top, max(ys))
        drawn += ys
    if _log_wanted(drawn):  # a fiber's 132 KiB beside a few hundred bytes: every bar readable
        ax.set_yscale("log")
        ax.set_ylim(min(drawn) / 2, top * ((8 if rotate else 4) if labelled else 1.5))
        ylabel = metric.axis() + ", log scale"
    else:
        ax.set_ylim(0, top * ((1.32 if rotate else 1.18) if labelled else 1.05) or 1)
        ylabel = metric.axis()
    if metric.unit == COUNT and ax.get_yscale() == "linear":  # a count's ticks are whole
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xticks(range(len(keys)))
    if len(keys) == 1 and not vary:
        text = params_label(keys[0][0])
        label = "\n".join(textwrap.wrap(text, 34)) if text else ""
        ax.set_xticklabels([label], fontsize=7, color="#444444")
    else:
        labels = []
        for params, alloc in keys:
            text = params_label(params, vary)
            if len(shown_allocs) > 1:
                text = (text + "\n" if text else "") + alloc
            labels.append("\n".join(textwrap.wrap(text, 14)))
        ax.set_xticklabels(labels, fontsize=7)
    ax.tick_params(axis="x", length=0)
    ax.set_title(workload, loc="left", fontweight="bold")
    more = len(sets) * len(shown_allocs) - len(keys)
    notes = ([f"+{more} more sets"] if more > 0 else []) + ([] if labelled else ["values"])
    if notes:
        ax.set_title(" and ".join(notes) + " in the tables", loc="right", fontsize=7, color="#666666")
    ax.set_ylabel(ylabel)


# The overview's figures as the tests draw them one by one (the report draws
# every metrics.FIGURES entry through fig_metric).
def fig_allocs(doc: RunDocument) -> Figure | None:
    return fig_metric(doc, BY_NAME["allocs_per_task"])


def fig_held(doc: RunDocument) -> Figure | None:
    return fig_metric(doc, BY_NAME["held_bytes_per_live_task"])


def fig_frames_in_use(doc: RunDocument) -> Figure | None:
    return fig_metric(doc, BY_NAME["peak_bytes_per_live_task"])


def fig_copied(doc: RunDocument) -> Figure | None:
    return fig_metric(doc, BY_NAME["copied_bytes_per_task"])


# -- time per task: a dot plot relative to the fastest -------------------------------------

MAX_TIME_PANELS = 12  # workload x parameter set; more are in the scaling figures and the tables
ALLOCATOR_MARKERS = ("o", "s", "^", "D", "v", "P")  # the run's allocators, in order
TIME_ROW_IN = 0.17  # inches per strategy row (one allocator)
TIME_DODGE_IN = 0.06  # and per further allocator in it: markers side by side, not on top of each other


def time_point(metrics: dict):
    """(median, low, high, noisy) in ns: the median and its bootstrap
    interval; results from before the interval give the mean and no
    interval (low = high = the value). None if not timed."""
    def positive(value):  # a hand-edited file may hold anything the shape allows: NaN, inf, 0, -1
        return value if isinstance(value, (int, float)) and math.isfinite(value) and value > 0 else None

    median = positive(metrics.get("ns_per_task_median")) or positive(metrics.get("ns_per_task_mean"))
    if median is None:
        return None
    low, high = positive(metrics.get("ns_per_task_ci_low")), positive(metrics.get("ns_per_task_ci_high"))
    low = low if low is not None and low <= median else median
    high = high if high is not None and high >= median else median
    return median, low, high, bool(metrics.get("noisy"))


def fig_time(doc: RunDocument) -> Figure | None:
    """Time per task, one panel per workload and parameter set: a row per
    strategy, fastest on top, each allocator a marker at its median time
    relative to the panel's fastest, the line through it the median's
    bootstrap interval, hollow where that is too wide to trust. Beside each
    row, where the row is tall enough for text, its strategy's best value:
    the fastest's time on top, then × the fastest."""
    cases = []
    for workload, benches in workload_benches(doc).items():
        for params in param_sets(benches):
            timed_here = [b for b in benches if b["params"] == params and time_point(b["metrics"])]
            if timed_here:
                cases.append((workload, params, timed_here, varying(benches)))
    if not cases:
        return None
    shown = cases[:MAX_TIME_PANELS]
    allocs = list(dict.fromkeys(b["allocator"] for _, _, benches, _ in cases for b in benches))
    markers = dict(zip(allocs, ALLOCATOR_MARKERS * 4))
    n_rows = max(len(strategies_of(benches)) for _, _, benches, _ in shown)
    row_in = TIME_ROW_IN + TIME_DODGE_IN * (len(allocs) - 1)
    cols, rows = _grid(len(shown))
    panel_h = 0.7 + n_rows * row_in
    fig = new_figure(WIDTH, rows * panel_h + 0.9, layout="constrained")
    with matplotlib.rc_context(STYLE):
        axes = fig.subplots(rows, cols, squeeze=False)
        for ax in axes.flat[len(shown):]:
            ax.set_visible(False)
        for ax, (workload, params, benches, vary) in zip(axes.flat, shown):
            _time_panel(ax, workload, params, benches, vary, allocs, markers, row_in)
        more = len(cases) - len(shown)
        fig.suptitle(
            f"Time per task relative to the fastest strategy: the median (dot) and its {CONFIDENCE:.0%} "
            "bootstrap interval (line)" + (f"; {more} more cases in the tables" if more > 0 else ""),
            fontsize=10.5, fontweight="bold",
        )
        handles = [Line2D([], [], color="#444444", marker=markers[a], linestyle="none", label=a)
                   for a in allocs] if len(allocs) > 1 else []
        handles.append(Line2D([], [], color="#444444", marker=ALLOCATOR_MARKERS[0], markerfacecolor="white",
                              linestyle="none", label=f"hollow: {BY_NAME['noisy'].label}"))
        _legend(fig, handles)
    return fig


def _time_panel(ax, workload, params, benches, vary, allocs, markers, row_in):
    points = {}  # strategy -> [(allocator, median, low, high, noisy)]
    for bench in benches:
        points.setdefault(bench["strategy"], []).append((bench["allocator"], *time_point(bench["metrics"])))
    order = sorted(points, key=lambda name: min(p[1] for p in points[name]))  # fastest first
    best_name = order[0]
    best_alloc, best = min(((p[0], p[1]) for p in points[best_name]), key=lambda p: p[1])
    present = [a for a in allocs if any(p[0] == a for ps in points.values() for p in ps)]
    dodge = {a: (i - (len(present) - 1) / 2) * TIME_DODGE_IN / row_in for i, a in enumerate(present)}
    top = bottom = 1.0
    for row, name in enumerate(order):
        for alloc, median, low, high, noisy in points[name]:
            y = row + dodge[alloc]
            color = color_of(name)
            ax.plot([low / best, high / best], [y, y], color=color, linewidth=1.3, solid_capstyle="butt")
            ax.plot([median / best], [y], marker=markers[alloc], color=color, markersize=4.5,
                    markerfacecolor="white" if noisy else color, markeredgewidth=1.1, linestyle="none")
            top, bottom = max(top, high / best), min(bottom, low / best)
    ax.set_ylim(len(order) - 0.5, -0.5)  # the fastest on top
    ax.set_yticks(range(len(order)))
    ax.set_yticklabels(order, fontsize=7.5)
    ax.tick_params(axis="y", length=0)
    ax.axvline(1.0, color="#999999", linewidth=0.8, zorder=1)
    if top >= 4:  # a fiber at 20x beside strategies within 10%: every one readable
        ax.set_xscale("log")
        ax.set_xlim(min(0.9, bottom * 0.95), top * 1.25)
        decades = math.log10(top * 1.25 / min(0.9, bottom * 0.95))
        # 1, 2, 5 per decade while they fit, then fewer: tick labels never touch
        subs = (1.0, 2.0, 5.0) if decades <= 1.6 else (1.0, 3.0) if decades <= 2.6 else (1.0,)
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    else:
        ax.set_xlim(min(0.97, bottom - 0.02), top * 1.04)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
    ax.grid(True, axis="x")
    ax.grid(False, axis="y")
    ax.set_xlabel(f"{BY_NAME['ns_per_task_median'].label} ÷ the fastest's", fontsize=7.5)
    # Each row's value on the right: the strategy's fastest allocator, × the
    # panel's fastest and its time; only where a row is tall enough for text.
    right = ax.twinx()
    right.set_ylim(ax.get_ylim())
    right.set_yticks(range(len(order)))
    if row_in >= 7 / 72 * 1.15:
        labels = [fmt_duration(best)]
        for name in order[1:]:
            ratio = min(p[1] for p in points[name]) / best
            labels.append(f"×{ratio:.2f}" if ratio < 10 else f"×{ratio:.3g}" if ratio < 100 else f"×{ratio:.0f}")
        right.set_yticklabels(labels, fontsize=7, color="#444444")
    else:
        right.set_yticklabels([])
    right.tick_params(axis="y", length=0)
    right.grid(False)
    for spine in ("top", "right"):
        right.spines[spine].set_visible(False)
    ax.set_title(workload, loc="left", fontweight="bold", fontsize=9)
    text = params_label(params, vary) if vary else ""
    if len(allocs) > 1:
        text = " ".join(t for t in (text, f"fastest: {best_alloc}") if t)
    if text:
        ax.set_title(text, loc="right", fontsize=7, color="#555555")


# -- scaling against a swept parameter ---------------------------------------------------

_LINESTYLES = ("-", "--", ":", "-.")


def scaling_param(benches: list):
    """The swept parameter to put on the x axis: the first whole-number
    parameter that takes at least two values (not the rate or a seed)."""
    for name in varying(benches):
        if name in PARAMS and not PARAMS[name].scaling:
            continue
        values = {b["params"].get(name) for b in benches}
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values) and len(values) >= 2:
            return name
    return None


def fig_scaling(workload: str, benches: list) -> Figure | None:
    """Allocations, bytes and time per task against the swept parameter:
    one line per strategy (and line style per value of any other swept
    parameter or allocator)."""
    x_name = scaling_param(benches)
    if x_name is None:
        return None
    sweep = _Sweep(x_name, [n for n in varying(benches) if n != x_name], strategies_of(benches),
                   allocators_of(benches))
    panels = [BY_NAME["allocs_per_task"], BY_NAME["bytes_per_task"]]
    if timed(benches):
        panels.append(BY_NAME["ns_per_task_median"])
    fig = new_figure(WIDTH, 3.5, layout="constrained")
    with matplotlib.rc_context(STYLE):
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, metric in zip(axes, panels):
            _scaling_panel(ax, metric, benches, sweep)
        _legend(fig, _scaling_handles(benches, sweep))
        fixed = {k: v for k, v in benches[0]["params"].items() if k not in sweep.others and k != x_name}
        fig.suptitle(
            f"{workload}: scaling with {x_name}" + (f"  ({params_label(fixed)})" if fixed else ""),
            fontsize=11, fontweight="bold",
        )
    return fig


@dataclass
class _Sweep:
    """What a scaling figure draws against what: the swept parameter (x),
    the other varying ones, the strategies and allocators, and the line
    styles handed out so far, one per series (its other parameters'
    values and, for times with several allocators, its allocator)."""

    x_name: str
    others: list
    names: list
    allocs: list
    seen: list = field(default_factory=list)

    def style(self, key: tuple, alloc: str | None) -> str:
        if (key, alloc) not in self.seen:
            self.seen.append((key, alloc))
        return _LINESTYLES[self.seen.index((key, alloc)) % len(_LINESTYLES)]


def _scaling_panel(ax, metric: Metric, benches: list, sweep: _Sweep) -> None:
    """One metric against the swept parameter: a line per strategy, series
    and (times only) allocator; hidden when no benchmark has the metric."""
    is_time = metric.unit == NS
    series_allocs = sweep.allocs if is_time else sweep.allocs[:1]
    unit = time_unit(max((b["metrics"].get(metric.name) or 0) for b in benches)) if is_time else (1.0, "")
    values_all, xs_all = [], []
    for name in sweep.names:
        for alloc in series_allocs:
            for key, points in _scaling_series(benches, metric, sweep, name, alloc).items():
                style = sweep.style(key, alloc if len(series_allocs) > 1 else None)
                xs = [p[0] for p in points]
                ys = [p[1] / unit[0] for p in points]
                if is_time:
                    _draw_times(ax, xs, ys, points, unit, name, style)
                else:
                    _draw_counts(ax, xs, ys, sweep.names, name, style)
                values_all += ys
                xs_all += xs
    if not values_all:
        ax.set_visible(False)
        return
    _scale_x(ax, xs_all)
    if _log_wanted(values_all):
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0, top=max(values_all) * 1.1 or 1)
    if metric.unit == COUNT:  # a count's ticks are whole
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(f"{sweep.x_name} ({getattr(PARAMS.get(sweep.x_name), 'unit', None) or 'value'})")
    ax.set_ylabel(metric.axis(unit[1] if is_time else None))
    ax.grid(True, axis="both")


def _scaling_series(benches: list, metric: Metric, sweep: _Sweep, name: str, alloc: str) -> dict:
    """``{values of the other parameters: [(x, value, bench)]}`` of one
    strategy and allocator, each series in x order."""
    series = {}
    for bench in benches:
        if bench["strategy"] != name or bench["allocator"] != alloc:
            continue
        value = bench["metrics"].get(metric.name)
        if value is None:
            continue
        key = tuple(param_text(bench["params"].get(o)) for o in sweep.others)
        series.setdefault(key, []).append((bench["params"][sweep.x_name], value, bench))
    for points in series.values():
        points.sort(key=lambda p: p[0])
    return series


def _draw_times(ax, xs: list, ys: list, points: list, unit: tuple, name: str, style: str) -> None:
    """The medians and their bootstrap intervals; a noisy one hollow."""
    color, marker = color_of(name), marker_of(name)
    spans = [time_point(p[2]["metrics"]) for p in points]
    errs = [[(t[0] - t[1]) / unit[0] for t in spans], [(t[2] - t[0]) / unit[0] for t in spans]]
    ax.errorbar(xs, ys, yerr=errs, color=color, linestyle=style, linewidth=1.5,
                elinewidth=0.8, capsize=2, marker=None)
    for x, y, p in zip(xs, ys, points):
        noisy = bool(p[2]["metrics"].get("noisy"))
        ax.plot([x], [y], marker=marker, color=color, markersize=5,
                markerfacecolor="white" if noisy else color, linestyle="none")


def _draw_counts(ax, xs: list, ys: list, names: list, name: str, style: str) -> None:
    """Exact counts: earlier strategies draw wider and below, so lines that
    coincide stay visible as halos."""
    rank = len(names) - 1 - names.index(name)
    ax.plot(xs, ys, color=color_of(name), marker=marker_of(name), linestyle=style,
            linewidth=1.4 + 0.9 * rank, markersize=4.5 + 1.6 * rank,
            zorder=2 + names.index(name))


def _scaling_handles(benches: list, sweep: _Sweep) -> list:
    """The legend: the strategies, each series' line style (when there are
    several), and the hollow marker of a noisy time."""
    handles = _strategy_handles(sweep.names, line=True)
    if len(sweep.seen) > 1:
        for (key, alloc), style in zip(sweep.seen, _LINESTYLES * 4):
            text = params_label(dict(zip(sweep.others, key))) if sweep.others else ""
            text = " ".join(t for t in (text, alloc or "") if t)
            if text:  # the counts' series of one allocator names nothing
                handles.append(Line2D([], [], color="#444444", linestyle=style, label=text))
    if timed(benches):
        handles.append(Line2D([], [], color="#444444", marker="o", markerfacecolor="white",
                              linestyle="none", label=f"hollow: {BY_NAME['noisy'].label}"))
    return handles


# -- latency -------------------------------------------------------------------------------

MAX_POSITION = 1e4  # where "max" sits on the 1/(1-p) axis: one decade past p99.9
LATENCY_DRAWN = tuple(PERCENTILES) + ("max_ns",)


def fig_latency(workload: str, benches: list) -> Figure | None:
    """HDR-style percentile curves: latency (log) against 1/(1-p) (log),
    p50 to max, one line per strategy; a panel per parameter set."""
    benches = [b for b in benches if b["metrics"].get("p50_ns") is not None]
    if not benches:
        return None
    sets = param_sets(benches)[:MAX_GROUPS]
    vary = varying(benches)
    names = strategies_of(benches)
    allocs = allocators_of(benches)
    cols, rows = _grid(len(sets))
    fig = new_figure(WIDTH, 0.9 + rows * (2.6 if cols == 1 else 2.7), layout="constrained")
    positions = [100 / (100 - p) for p in PERCENTILES.values()] + [MAX_POSITION]
    ticklabels = [BY_NAME[name].brief for name in LATENCY_DRAWN]
    # Log axes: the unit of the smallest value, so ticks read 1, 2, 5 ... not 0.001.
    unit = time_unit(min(b["metrics"]["p50_ns"] for b in benches))
    with matplotlib.rc_context(STYLE):
        axes = fig.subplots(rows, cols, squeeze=False, sharey=True)
        for ax in axes.flat[len(sets):]:
            ax.set_visible(False)
        for ax, params in zip(axes.flat, sets):
            samples = set()
            for name in names:
                for alloc, style in zip(allocs, _LINESTYLES * 4):
                    bench = pick(benches, params, name, alloc)
                    if bench is None:
                        continue
                    m = bench["metrics"]
                    ys = [m.get(name) for name in LATENCY_DRAWN]
                    pts = [(x, y / unit[0]) for x, y in zip(positions, ys) if y]
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], color=color_of(name),
                            marker=marker_of(name), linestyle=style, linewidth=1.5, markersize=4.5)
                    samples.add(m.get("latency_samples"))
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xticks(positions)
            ax.set_xticklabels(ticklabels)
            ax.minorticks_off()
            ax.set_xlim(1.6, MAX_POSITION * 1.6)
            ax.grid(True, axis="both")
            ax.set_xlabel("percentile (log scale of 1/(1-p))")
            ax.set_ylabel(axis_label(LATENCY, unit[1]))
            label = params_label(params, vary) if vary else ""
            n = "/".join(str(s) for s in sorted(s for s in samples if s is not None))
            ax.set_title(label, loc="left", fontsize=9, fontweight="bold")
            ax.set_title(f"n = {n} samples", loc="right", fontsize=7.5, color="#555555")
            _log_ticks(ax)
        handles = _strategy_handles(names, line=True)
        if len(allocs) > 1:
            handles += [Line2D([], [], color="#444444", linestyle=s, label=a) for a, s in zip(allocs, _LINESTYLES)]
        _legend(fig, handles)
        source = benches[0]["metrics"].get("latency_from")
        how = "from each request's scheduled arrival" if "arrival" in str(source) else "from spawn to completion"
        fig.suptitle(f"{workload}: latency percentiles ({how})", fontsize=11, fontweight="bold")
    return fig


def _log_ticks(ax):
    """Readable plain-number ticks on a log y axis (no 10^x notation)."""
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.10g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def fig_server_rate(benches: list) -> Figure | None:
    """Open-loop latency against offered rate: p50 and p99 per strategy,
    with each strategy's closed-loop service time per request dotted."""
    benches = [b for b in benches if b["metrics"].get("p50_ns") is not None and "rate" in b["params"]]
    rates = sorted({b["params"]["rate"] for b in benches})
    if len(rates) < 2:
        return None
    names = strategies_of(benches)
    allocator = allocators_of(benches)[0]
    others = [n for n in varying(benches) if n != "rate"]
    base = {k: v for k, v in benches[0]["params"].items() if k != "rate"}
    benches = [b for b in benches if b["allocator"] == allocator
               and all(b["params"].get(o) == base.get(o) for o in others)]
    unit = time_unit(min((b["metrics"].get("p50_ns") or 1e18) for b in benches))
    fig = new_figure(WIDTH, 3.9, layout="constrained")
    with matplotlib.rc_context(STYLE):
        axes = fig.subplots(1, 2, sharey=True)
        for ax, (key, label) in zip(axes, (("p50_ns", "median (p50)"), ("p99_ns", "p99"))):
            for name in names:
                points = sorted(
                    (b["params"]["rate"], b["metrics"][key] / unit[0], b["metrics"].get("ns_per_task_mean"))
                    for b in benches if b["strategy"] == name and b["metrics"].get(key)
                )
                if not points:
                    continue
                color = color_of(name)
                ax.plot([p[0] for p in points], [p[1] for p in points], color=color,
                        marker=marker_of(name), linewidth=1.6, markersize=5)
                service = [p[2] for p in points if p[2]]
                if service:
                    ax.axhline(sum(service) / len(service) / unit[0], color=color, linestyle=":", linewidth=1)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xticks(rates)
            ax.set_xticklabels([fmt_count(r) for r in rates])
            ax.minorticks_off()
            ax.grid(True, axis="both")
            ax.set_xlabel("offered rate (requests/s, Poisson arrivals)")
            ax.set_ylabel(axis_label(ARRIVAL_LATENCY, unit[1]))
            ax.set_title(label, loc="left", fontweight="bold")
            _log_ticks(ax)
        handles = _strategy_handles(names, line=True) + [
            Line2D([], [], color="#444444", linestyle=":", label="service time per request (closed loop)")
        ]
        _legend(fig, handles)
        fixed = params_label(base, [k for k in base if k not in others]) if base else ""
        fig.suptitle(
            f"server: latency against offered rate ({allocator} allocator{'; ' + fixed if fixed else ''})",
            fontsize=11, fontweight="bold",
        )
    return fig


# -- the history ---------------------------------------------------------------------------

MAX_HISTORY_PANELS = 24  # a page of small multiples; `history report -b` narrows the rest


def fig_history(series_list: list, metric: str, label: str) -> Figure:
    """One panel per series (``history.Series``): the metric over the runs
    in date order, each change point a dashed line between the last run at
    the old level and the first at the new one, labelled with its size.
    Series with change points come first; at most MAX_HISTORY_PANELS."""
    shown = sorted(series_list, key=lambda s: (not s.changes, s.benchmark))[:MAX_HISTORY_PANELS]
    cols = 1 if len(shown) == 1 else 2
    rows = -(-len(shown) // cols)
    fig = new_figure(WIDTH, rows * 2.2 + 0.6, layout="constrained")
    with matplotlib.rc_context(STYLE):
        axes = fig.subplots(rows, cols, squeeze=False)
        for ax in axes.flat[len(shown):]:
            ax.set_visible(False)
        for ax, one in zip(axes.flat, shown):
            xs = list(range(len(one.values)))
            ax.plot(xs, one.values, marker="o", markersize=3, linewidth=1, color="#0072B2")
            for change in one.changes:
                ax.axvline(change.index - 0.5, color="#D55E00", linestyle="--", linewidth=1)
                size = f"{change.size:+.1%}" if change.size is not None else "changed"
                ax.annotate(size, (change.index - 0.5, 1), xycoords=("data", "axes fraction"),
                            ha="left", va="top", fontsize=7, color="#D55E00")
            ax.set_title(textwrap.shorten(one.benchmark, 70), fontsize=8, loc="left")
            ax.set_xticks(xs[:: max(1, len(xs) // 8)])
            ax.set_xticklabels([one.commits[i][:7] for i in xs[:: max(1, len(xs) // 8)]], rotation=30, fontsize=6)
            ax.set_ylabel(label, fontsize=7)
        fig.suptitle(f"{label} over the history ({len(shown)} of {len(series_list)} series; "
                     "dashed: change points)", fontsize=10, fontweight="bold")
    return fig
