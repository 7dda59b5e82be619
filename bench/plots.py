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
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before anything draws: no display is ever needed

from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Patch, Rectangle  # noqa: E402
from matplotlib.path import Path as MplPath  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator  # noqa: E402

from ..strategies import color_of, marker_of  # noqa: E402
from .formatting import count as fmt_count  # noqa: E402
from .formatting import duration as fmt_duration  # noqa: E402
from .formatting import param_text, time_unit  # noqa: E402
from .layout_view import view_summary  # noqa: E402
from .metrics import BY_NAME  # noqa: E402
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
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        paths.append(path)
    return tuple(paths)


# -- reading a results document ----------------------------------------------------------


def params_label(params: dict, names=None) -> str:
    names = list(params) if names is None else names
    return " ".join(f"{n}={param_text(params[n])}" for n in names if n in params)


def workload_benches(doc: dict) -> dict:
    """Benchmarks by workload (name, and file for workload files), in order."""
    out = {}
    for bench in doc["benchmarks"]:
        out.setdefault(workload_key(bench), []).append(bench)
    return out


def workload_key(bench: dict) -> str:
    return bench["workload"] + (f" ({bench['workload_file']})" if bench.get("workload_file") else "")


def varying(benches: list) -> list:
    """The parameters whose values differ between these benchmarks."""
    names = []
    for bench in benches:
        for name in bench["params"]:
            if name not in names:
                names.append(name)
    return [n for n in names if len({repr(b["params"].get(n)) for b in benches}) > 1]


def strategies_of(doc_or_benches) -> list:
    benches = doc_or_benches["benchmarks"] if isinstance(doc_or_benches, dict) else doc_or_benches
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


def _fits(text: str, width_in: float, size: float) -> bool:
    """Whether ``text`` at ``size`` points fits in ``width_in`` inches (a
    generous estimate of DejaVu Sans' average advance: 0.6 em)."""
    return len(text) * 0.6 * size / 72 <= width_in


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


def fig_bars(doc: dict, metric: str, ylabel: str, title: str, per_allocator: bool = False) -> Figure | None:
    """Small multiples, one panel per workload: for each parameter set a
    group of bars, one per strategy, each labelled with its value.
    Per-allocator metrics (``per_allocator``) get a group per allocator;
    exact counts are the same under every allocator. (Times have their own
    figure, :func:`fig_time`.)"""
    groups = {k: v for k, v in workload_benches(doc).items()
              if any(b["metrics"].get(metric) is not None for b in v)}
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
            _bar_panel(ax, workload, benches, names, metric, ylabel, per_allocator, WIDTH / cols)
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


def _bar_panel(ax, workload, benches, names, metric, ylabel, per_allocator, panel_in):
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
            value = bench["metrics"].get(metric) if bench else None
            if value is None:
                continue
            xs.append(g + (i - (len(names) - 1) / 2) * width)
            ys.append(value)
        if not xs:
            continue
        ax.bar(xs, ys, width * 0.92, color=color_of(name), edgecolor="white", linewidth=0.4)
        for x, y in zip(xs, ys) if labelled else ():
            ax.annotate(
                fmt_count(y), (x, y), xytext=(0, 2), textcoords="offset points", ha="center",
                va="bottom", fontsize=6.5 if rotate else 7, rotation=90 if rotate else 0,
            )
        top = max(top, max(ys))
        drawn += ys
    if _log_wanted(drawn):  # a fiber's 132 KiB beside a few hundred bytes: every bar readable
        ax.set_yscale("log")
        ax.set_ylim(min(drawn) / 2, top * ((8 if rotate else 4) if labelled else 1.5))
        ylabel = ylabel + ", log scale"
    else:
        ax.set_ylim(0, top * ((1.32 if rotate else 1.18) if labelled else 1.05) or 1)
    if metric == "allocs_per_task" and ax.get_yscale() == "linear":
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


def fig_allocs(doc: dict) -> Figure | None:
    return fig_bars(
        doc, "allocs_per_task", "allocations per task (blocks)",
        "Allocations per task, by strategy (exact counts; the same under every allocator)",
    )


def fig_held(doc: dict) -> Figure | None:
    return fig_bars(
        doc, "held_bytes_per_live_task", "held bytes per live task (B)",
        "Memory held per live task: stacks, slabs, chunks and boxes, used or not, and the runtime's task objects",
    )


def fig_frames_in_use(doc: dict) -> Figure | None:
    return fig_bars(
        doc, "peak_bytes_per_live_task", "frames in use per live task (B)",
        "Frames in use per live task (not what stacks and slabs hold): frames, boxes, cells, handle vectors",
    )


def fig_copied(doc: dict) -> Figure | None:
    if not any(b["metrics"].get("copied_bytes") for b in doc["benchmarks"]):
        return None  # no strategy of the run copies frames
    return fig_bars(
        doc, "copied_bytes_per_task", "bytes copied per task (B)",
        "Frames copied per task: a stack's growth, a box or chunk at suspension, a thaw at resumption",
    )


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


def fig_time(doc: dict) -> Figure | None:
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


def fig_instructions(doc: dict) -> Figure | None:
    return fig_bars(
        doc, "instructions_per_task", "instructions per task",
        "Instructions per task, by strategy (callgrind: the core's loop only; exact for one binary)",
        per_allocator=True,
    )


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
    others = [n for n in varying(benches) if n != x_name]
    names = strategies_of(benches)
    allocs = allocators_of(benches)
    panels = [
        ("allocs_per_task", "allocations per task (blocks)", False),
        ("bytes_per_task", "bytes allocated per task (B)", False),
    ]
    if timed(benches):
        panels.append(("ns_per_task_median", f"{BY_NAME['ns_per_task_median'].label} ({{unit}})", True))
    fig = new_figure(WIDTH, 3.5, layout="constrained")
    series_seen = []
    with matplotlib.rc_context(STYLE):
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, (metric, ylabel, is_time) in zip(axes, panels):
            series_allocs = allocs if is_time else allocs[:1]
            values_all, xs_all = [], []
            unit = time_unit(max((b["metrics"].get(metric) or 0) for b in benches)) if is_time else (1.0, "")
            for name in names:
                for alloc in series_allocs:
                    series = {}
                    for bench in benches:
                        if bench["strategy"] != name or bench["allocator"] != alloc:
                            continue
                        value = bench["metrics"].get(metric)
                        if value is None:
                            continue
                        key = tuple(param_text(bench["params"].get(o)) for o in others)
                        series.setdefault(key, []).append((bench["params"][x_name], value, bench))
                    for key, points in series.items():
                        label_key = (key, alloc if len(series_allocs) > 1 else None)
                        if label_key not in series_seen:
                            series_seen.append(label_key)
                        style = _LINESTYLES[series_seen.index(label_key) % len(_LINESTYLES)]
                        points.sort(key=lambda p: p[0])
                        xs = [p[0] for p in points]
                        ys = [p[1] / unit[0] for p in points]
                        color, marker = color_of(name), marker_of(name)
                        if is_time:  # the median and its bootstrap interval
                            spans = [time_point(p[2]["metrics"]) for p in points]
                            errs = [[(t[0] - t[1]) / unit[0] for t in spans], [(t[2] - t[0]) / unit[0] for t in spans]]
                            ax.errorbar(xs, ys, yerr=errs, color=color, linestyle=style, linewidth=1.5,
                                        elinewidth=0.8, capsize=2, marker=None)
                            for x, y, p in zip(xs, ys, points):
                                noisy = bool(p[2]["metrics"].get("noisy"))
                                ax.plot([x], [y], marker=marker, color=color, markersize=5,
                                        markerfacecolor="white" if noisy else color, linestyle="none")
                        else:
                            # Earlier strategies draw wider and below, so
                            # lines that coincide stay visible as halos.
                            rank = len(names) - 1 - names.index(name)
                            ax.plot(xs, ys, color=color, marker=marker, linestyle=style,
                                    linewidth=1.4 + 0.9 * rank, markersize=4.5 + 1.6 * rank,
                                    zorder=2 + names.index(name))
                        values_all += ys
                        xs_all += xs
            if not values_all:
                ax.set_visible(False)
                continue
            _scale_x(ax, xs_all)
            if _log_wanted(values_all):
                ax.set_yscale("log")
            else:
                ax.set_ylim(bottom=0, top=max(values_all) * 1.1 or 1)
            if metric == "allocs_per_task":
                ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel(f"{x_name} ({getattr(PARAMS.get(x_name), 'unit', None) or 'value'})")
            ax.set_ylabel(ylabel.format(unit=unit[1]))
            ax.grid(True, axis="both")
        handles = _strategy_handles(names, line=True)
        if len(series_seen) > 1:
            for (key, alloc), style in zip(series_seen, _LINESTYLES * 4):
                text = params_label(dict(zip(others, key))) if others else ""
                text = " ".join(t for t in (text, alloc or "") if t)
                if text:  # the counts' series of one allocator names nothing
                    handles.append(Line2D([], [], color="#444444", linestyle=style, label=text))
        if timed(benches):
            handles.append(Line2D([], [], color="#444444", marker="o", markerfacecolor="white",
                                  linestyle="none", label=f"hollow: {BY_NAME['noisy'].label}"))
        _legend(fig, handles)
        fixed = {k: v for k, v in benches[0]["params"].items() if k not in others and k != x_name}
        fig.suptitle(
            f"{workload}: scaling with {x_name}" + (f"  ({params_label(fixed)})" if fixed else ""),
            fontsize=11, fontweight="bold",
        )
    return fig


# -- latency -------------------------------------------------------------------------------

PERCENTILES = (("p50_ns", 0.5, "p50"), ("p90_ns", 0.9, "p90"), ("p99_ns", 0.99, "p99"), ("p999_ns", 0.999, "p99.9"))
MAX_POSITION = 1e4  # where "max" sits on the 1/(1-p) axis: one decade past p99.9


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
    positions = [1 / (1 - q) for _, q, _ in PERCENTILES] + [MAX_POSITION]
    ticklabels = [label for _, _, label in PERCENTILES] + ["max"]
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
                    ys = [m.get(key) for key, _, _ in PERCENTILES] + [m.get("max_ns")]
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
            ax.set_ylabel(f"task latency ({unit[1]})")
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
            ax.set_ylabel(f"latency from scheduled arrival ({unit[1]})")
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


# -- layout diagrams ----------------------------------------------------------------------

PART_COLORS = {
    "header": "#A6A6A6",
    "locals": "#F1DCAE",
    "cell_ptr": "#2B2B2B",
    "pointer": "#2B2B2B",
    "link": "#2B2B2B",
    "slab_header": "#D9D9D9",
    "io": "#BCD6EA",
    "yield": "#BCD6EA",
    "handle": "#BCD6EA",
    "handles": "#BCD6EA",
    "unused": "#FFFFFF",
}
_PART_WORDS = {
    "header": "state", "locals": "locals", "io": "io", "yield": "yield",
    "handle": "handle", "handles": "Vec", "unused": "unused",
}
MAX_DRAWN_BLOCKS = 40  # per panel; the rest is one summary block
# A reserved part (a stack's or slab's bytes not in use) longer than this
# many times the widest panel's bytes without them is drawn cut, with a
# break mark and its bytes written in it: a panel's cut parts share that
# length between them. A fiber's 132 KiB stack (or nine of them, a fanout's)
# would otherwise leave every heap strategy a sliver.
RESERVED_CUT = 4
MAX_DRAWN_NESTING = 14  # inline frames deeper than this are drawn collapsed

# Geometry, in inches.
_L_MARGIN, _R_MARGIN = 0.2, 0.2
_TITLE_H = 0.42  # the panel's strategy line
_BLOCK_LABEL_H = 0.2  # "#1 task's box · 432 B" above each block
_STRIP_H = 0.19  # one nesting level: a frame's name strip
_BAND_H = 0.34  # the parts (header, locals, pointers...) at the bottom
_GAP_IN = 0.09  # between blocks
_ARROW_LEVEL_H = 0.075
_ARROW_MIN_LEVEL_H = 0.035
_ARROW_MAX_H = 0.8  # all arrow levels together, unless that packs them closer than the minimum
_PANEL_PAD = 0.16


def _block_word(view, kind: str) -> str:
    return {
        "task": "task frame" if view.bottom_up else "task box",
        "box": "heap frame" if view.bottom_up else "box",
        "cell": "Rc cell",
        "handles": "handle Vec",
        "stack": "stack",
        "slab": "slab",
        "chunk": "stack chunk",
    }[kind]


def _nesting(block) -> int:
    if block.frame is None:
        return 1
    return min(block.frame.nesting, MAX_DRAWN_NESTING)


def _arrow_levels(intervals: list) -> list:
    """A level (1, 2, ...) per (start, end) interval such that overlapping
    intervals get different levels; shortest first, so short hops stay close."""
    order = sorted(range(len(intervals)), key=lambda i: intervals[i][1] - intervals[i][0])
    placed = {}  # level -> list of intervals
    levels = [0] * len(intervals)
    for i in order:
        a, b = intervals[i]
        level = 1
        while any(not (b < c or d < a) for c, d in placed.get(level, [])):
            level += 1
        placed.setdefault(level, []).append((a, b))
        levels[i] = level
    return levels


def fig_layout(views: list, run_metrics: dict | None = None, title: str | None = None) -> Figure:
    """One panel per strategy: the task's memory at its largest moment, on one
    byte scale shared by every panel. Blocks (allocations) are outlined in
    the strategy's colour; frames stored inline sit inside their parent's
    child area, one nesting level lower; pointers to boxes and cells are
    arrows; Rc cells show their 24 bytes of counts beside the locals.

    ``run_metrics`` maps strategy -> a benchmark's metrics: the panel titles
    then give the run's allocations and bytes per task beside the diagram's.
    Every block patch carries a ``gid`` (``pinbench-block-STRATEGY-N-SIZE``;
    blocks not drawn: ``pinbench-elided-STRATEGY-COUNT-BYTES``) so the SVG
    can be checked against the run.
    """
    axes_w = WIDTH - _L_MARGIN - _R_MARGIN
    drawn = []
    for view in views:
        blocks = view.blocks[:MAX_DRAWN_BLOCKS]
        rest = view.blocks[MAX_DRAWN_BLOCKS:]
        elided = (view.elided_blocks + len(rest), view.elided_bytes + sum(b.size for b in rest))
        drawn.append((view, blocks, elided))
    cut = RESERVED_CUT * max(sum(_in_use(b) for b in blocks) + elided[1] for _, blocks, elided in drawn)
    widths = {}
    for _, blocks, _ in drawn:
        long = {id(b) for b in blocks if b.size - _in_use(b) > cut}
        for b in blocks:
            widths[id(b)] = _in_use(b) + cut / len(long) if id(b) in long else b.size
    # Bytes per inch: the widest panel (its blocks plus the gaps) fills the width.
    bpi = 1.0
    for view, blocks, elided in drawn:
        n = len(blocks) + (1 if elided[0] else 0)
        total = sum(widths[id(b)] for b in blocks) + elided[1]
        bpi = max(bpi, total / max(axes_w - (n - 1) * _GAP_IN, axes_w * 0.3))
    gap = _GAP_IN * bpi

    # Place the blocks and the arrows of each panel; measure its height.
    plans = []
    for view, blocks, elided in drawn:
        x = 0.0
        where = {}
        for block in blocks:
            where[block.number] = x
            x += widths[id(block)] + gap
        height = max([_nesting(b) for b in blocks] or [1]) * _STRIP_H + _BAND_H
        arrows = []
        for block in blocks:
            if block.frame is None:
                continue
            for frame, _ in block.frame.walk():
                for part in frame.parts:
                    target = part.target
                    if target is not None and target.number in where:
                        start = where[block.number] + part.offset + part.size / 2
                        end = where[target.number] + min(target.size * 0.5, 0.12 * bpi)
                        arrows.append((start, end, block, target))
        levels = _arrow_levels([(a, b) for a, b, _, _ in arrows])
        # Many crossing pointers (a cell per frame): pack their levels closer.
        step = max(_ARROW_MIN_LEVEL_H, min(_ARROW_LEVEL_H, _ARROW_MAX_H / max(levels))) if levels else 0
        arrow_h = (max(levels) + 1) * step if levels else 0.05
        panel_h = _TITLE_H + _BLOCK_LABEL_H + height + arrow_h + _PANEL_PAD
        plans.append((view, blocks, elided, where, height, arrows, levels, panel_h, x, step))

    legend_h = 0.62
    scale_h = 0.3
    head_h = 0.55
    fig_h = head_h + sum(p[7] for p in plans) + scale_h + legend_h
    fig = new_figure(WIDTH, fig_h)
    with matplotlib.rc_context(STYLE):
        y_top = fig_h - head_h
        first = views[0]
        heading = title or (
            f"{first.workload} {params_label(first.params)}".strip()
        )
        fig.text(_L_MARGIN / WIDTH, 1 - 0.2 / fig_h, heading, fontsize=11, fontweight="bold", va="top")
        cut_any = any(widths[id(b)] < b.size for _, blocks, _ in drawn for b in blocks)
        fig.text(
            _L_MARGIN / WIDTH, 1 - 0.42 / fig_h,
            "one task's memory at its largest moment; widths in bytes on one scale in every panel"
            + (f"; ≈ cuts a reserved part over {cut:,} B (its bytes written in it)" if cut_any else ""),
            fontsize=8.5, color="#444444", va="top",
        )
        for view, blocks, elided, where, height, arrows, levels, panel_h, used_w, step in plans:
            bottom = y_top - panel_h
            ax = fig.add_axes((_L_MARGIN / WIDTH, bottom / fig_h, axes_w / WIDTH, panel_h / fig_h))
            ax.set_xlim(0, axes_w * bpi)
            ax.set_ylim(panel_h, 0)  # y in inches from the panel's top, downwards
            # The limits are fixed, so the diagram's shapes go in by add_artist:
            # add_patch would also update data limits nothing reads, a quarter of
            # the time of a deep program's diagram (thousands of parts).
            ax.axis("off")
            _draw_panel_title(ax, view, run_metrics, bpi)
            y0 = _TITLE_H + _BLOCK_LABEL_H
            for block in blocks:
                _draw_block(ax, view, block, where[block.number], y0, height, bpi, widths[id(block)])
            if elided[0]:
                x = used_w
                width = max(elided[1], 0.05 * bpi)
                rect = Rectangle((x, y0), width, height, facecolor="#F4F4F4", edgecolor=color_of(view.strategy),
                                 linewidth=1.2, linestyle="--")
                rect.set_gid(f"pinbench-elided-{view.strategy}-{elided[0]}-{elided[1]}")
                ax.add_artist(rect)
                ax.text(x + 0.04 * bpi, y0 - 0.04, f"+{elided[0]} more blocks · {elided[1]:,} B (not drawn)",
                        fontsize=7, va="bottom", ha="left", color="#333333")
            for (start, end, _, _), level in zip(arrows, levels):
                yb = y0 + height
                ydown = yb + level * step
                path = MplPath([(start, yb - 0.02), (start, ydown), (end, ydown), (end, yb)])
                ax.add_artist(FancyArrowPatch(
                    path=path, arrowstyle="-|>,head_length=3,head_width=2", color="#2B2B2B",
                    linewidth=0.9, shrinkA=0, shrinkB=0,
                ))
            y_top = bottom
        _draw_scale_bar(fig, bpi, y_top - 0.05, fig_h)
        _draw_layout_legend(fig)
    return fig


def _draw_panel_title(ax, view, run_metrics, bpi):
    color = color_of(view.strategy)
    ax.text(0, 0.05, view.strategy, fontsize=10.5, fontweight="bold", color=color, va="top", ha="left")
    polling = "bottom-up" if view.bottom_up else "top-down"
    summary = f"{view_summary(view)}   ({polling}, {view.frames_are})"
    ax.text(1.15 * bpi, 0.06, summary, fontsize=8.5, va="top", ha="left", color="#222222")
    if run_metrics and view.strategy in run_metrics:
        m = run_metrics[view.strategy]
        allocs, nbytes = m.get("allocs_per_task"), m.get("bytes_per_task")
        if allocs is not None and nbytes is not None:
            same = allocs == view.block_count and nbytes == view.total_bytes
            text = (
                f"the run: {fmt_count(allocs)} allocation{'' if allocs == 1 else 's'}, "
                f"{fmt_count(nbytes)} B per task"
                + ("  (the same)" if same else "  (over each task's whole life, averaged over every task)")
            )
            ax.text(1.15 * bpi, 0.22, text, fontsize=7.5, va="top", ha="left",
                    color="#2E6B2E" if same else "#666666")
    if view.spawns:
        more = f" (+{len(view.spawns) - 1} more spawns)" if len(view.spawns) > 1 else ""
        ax.text(1.15 * bpi, 0.36, view.spawns[0] + ": not drawn" + more, fontsize=7.5, va="top",
                ha="left", color="#666666")


def _in_use(block) -> int:
    """A block's bytes without its reserved part (a stack's or slab's rest)."""
    return block.used if block.used and block.used < block.size else block.size


def _draw_block(ax, view, block, bx, y0, height, bpi, drawn):
    color = color_of(view.strategy)
    width_in = drawn / bpi
    # The label above the block.
    word = _block_word(view, block.kind)
    cut = " (cut ≈)" if drawn < block.size else ""
    for text in (f"#{block.number} {word} · {block.size:,} B{cut}", f"#{block.number} · {block.size:,} B{cut}",
                 f"#{block.number}"):
        if _fits(text, width_in + _GAP_IN * 0.6, 7.5):
            ax.text(bx, y0 - 0.035, text, fontsize=7.5, va="bottom", ha="left", color="#111111")
            break
    if block.kind == "cell":
        counts = 24
        band = y0 + height - _BAND_H / 2  # labels in line with the frames' parts
        _part_rect(ax, bx, y0, counts, height, "header", "counts", bpi, label_y=band)
        _part_rect(ax, bx + counts, y0, block.size - counts, height, "locals", "locals", bpi, label_y=band)
    elif block.kind == "handles":
        _part_rect(ax, bx, y0, block.size, height, "handles", "handles", bpi, label_y=y0 + height - _BAND_H / 2)
    else:
        for offset, size in block.headers:  # a slab's header and its allocations'
            _part_rect(ax, bx + offset, y0, size, height, "slab_header", "", bpi)
        for frame in ([block.frame] if block.frame is not None else []) + block.frames:
            _draw_frame(ax, frame, bx, y0, y0 + height, 0, bpi, top=True)
        if block.used and block.used < block.size:  # reserved, not in use: a stack's or slab's rest
            _reserved_part(ax, bx + block.used, y0, block.size - block.used, drawn - block.used, height, bpi)
    rect = Rectangle((bx, y0), drawn, height, facecolor="none", edgecolor=color, linewidth=2.0,
                     joinstyle="miter")
    rect.set_gid(f"pinbench-block-{view.strategy}-{block.number}-{block.size}")
    ax.add_artist(rect)


def _draw_frame(ax, frame, bx, y, yb, depth, bpi, top=False):
    x = bx + frame.offset
    ax.add_artist(Rectangle((x, y), frame.size, yb - y, facecolor="white", edgecolor="#555555", linewidth=0.6))
    width_in = frame.size / bpi
    label_choices = [frame.fn] if top else [f"{frame.fn} · {frame.size:,} B", frame.fn]
    for text in label_choices:
        if _fits(text, width_in - 0.04, 7):
            ax.text(x + 0.03 * bpi, y + _STRIP_H / 2, text, fontsize=7, va="center", ha="left", color="#222222")
            break
    band_y = y + _STRIP_H
    if frame.collapsed or depth + 1 >= MAX_DRAWN_NESTING:
        ax.add_artist(Rectangle((x, band_y), frame.size, yb - band_y, facecolor="#EDEDED", edgecolor="#555555",
                               linewidth=0.5, hatch="..."))
        if _fits("nested frames", width_in, 6.5):
            ax.text(x + frame.size / 2, (band_y + yb) / 2, "nested frames", fontsize=6.5, ha="center", va="center")
        return
    for part in frame.parts:
        if part.kind == "frame":
            _draw_frame(ax, part.frame, bx, band_y, yb, depth + 1, bpi)
        else:
            # A frame's own parts fill its column from its name strip down;
            # their labels sit in line, in the band at the bottom.
            _part_rect(ax, bx + part.offset, band_y, part.size, yb - band_y, part.kind,
                       _PART_WORDS.get(part.kind, ""), bpi, label_y=yb - _BAND_H / 2)


def _reserved_part(ax, x, y, size, drawn, height, bpi):
    """A reserved part, ``drawn`` bytes wide: whole, or cut with a break
    mark (a white gap between two slanted strokes) and its true bytes."""
    _part_rect(ax, x, y, drawn, height, "unused", "reserved" if drawn >= size else "", bpi)
    if drawn >= size:
        return
    mid, half = x + drawn / 2, 0.05 * bpi
    ax.add_artist(Rectangle((mid - half, y - 0.03), 2 * half, height + 0.06, facecolor="white", edgecolor="none",
                           zorder=3))
    for side in (-half, half):
        ax.add_artist(Line2D([mid + side - 0.03 * bpi, mid + side + 0.03 * bpi], [y + height + 0.05, y - 0.05],
                           color="#222222", linewidth=1.2, zorder=4))
    text = f"reserved {size:,} B, not to scale"
    for anchor, ha in ((mid - half - 0.12 * bpi, "right"), (mid + half + 0.12 * bpi, "left")):
        if _fits(text, drawn / 2 / bpi - 0.15, 7):
            ax.text(anchor, y + height / 2, text, fontsize=7, ha=ha, va="center", color="#111111", zorder=5,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0})
            break


def _part_rect(ax, x, y, size, height, kind, word, bpi, label_y=None):
    hatch = "////" if kind == "unused" else None
    ax.add_artist(Rectangle((x, y), size, height, facecolor=PART_COLORS[kind], edgecolor="#555555",
                           linewidth=0.4, hatch=hatch))
    width_in = size / bpi
    dark = kind in ("pointer", "cell_ptr")
    for text in (f"{word} {size}", f"{size}"):
        if word and not dark and _fits(text, width_in - 0.03, 6.5):
            ax.text(x + size / 2, y + height / 2 if label_y is None else label_y, text, fontsize=6.5,
                    ha="center", va="center", color="#222222")
            break


def _nice_bytes(target: float) -> int:
    """A round byte count near ``target``: 1, 2, 5 x 10^k."""
    if target <= 1:
        return 1
    exp = 10 ** math.floor(math.log10(target))
    for m in (1, 2, 5, 10):
        if m * exp >= target * 0.7:
            return int(m * exp)
    return int(10 * exp)


def _draw_scale_bar(fig, bpi, y_in, fig_h):
    length = _nice_bytes(1.0 * bpi)
    width_in = length / bpi
    x0 = WIDTH - _R_MARGIN - width_in
    y = y_in / fig_h
    fig.add_artist(Line2D([x0 / WIDTH, (x0 + width_in) / WIDTH], [y, y], color="#222222", linewidth=1.5))
    for x in (x0, x0 + width_in):
        fig.add_artist(Line2D([x / WIDTH, x / WIDTH], [y - 0.04 / fig_h, y + 0.04 / fig_h], color="#222222",
                              linewidth=1.2))
    fig.text((x0 - 0.08) / WIDTH, y, f"scale: {length:,} bytes", fontsize=8, ha="right", va="center")


def _draw_layout_legend(fig):
    handles = [
        Patch(facecolor="white", edgecolor="#333333", linewidth=2.0, label="allocation (outline: strategy colour)"),
        Patch(facecolor="white", edgecolor="#555555", linewidth=0.6, label="frame (inline frames nest inside)"),
        Patch(facecolor=PART_COLORS["header"], edgecolor="#555555", label="frame state / Rc counts"),
        Patch(facecolor=PART_COLORS["locals"], edgecolor="#555555", label="locals"),
        Patch(facecolor=PART_COLORS["pointer"], edgecolor="#555555", label="pointer (arrow: where to)"),
        Patch(facecolor=PART_COLORS["io"], edgecolor="#555555", label="leaf future / join handles"),
        Patch(facecolor="white", edgecolor="#555555", hatch="////", label="reserved, not in use (stack, slab)"),
    ]
    fig.legend(handles=handles, loc="lower center", ncols=4, fontsize=7.5, bbox_to_anchor=(0.5, 0.0),
               handlelength=1.6, columnspacing=1.4)


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
