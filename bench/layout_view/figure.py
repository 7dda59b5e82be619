"""One task's memory as a figure: the layout diagrams of ``pinbench
report``, one panel per strategy on one byte scale (matplotlib, no pyplot)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import matplotlib
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, Patch, Rectangle
from matplotlib.path import Path as MplPath

from ...strategies import color_of
from ..formatting import count as fmt_count
from ..plots import STYLE, WIDTH, new_figure, params_label
from .model import PART_WORDS, TaskView, block_word
from .text import view_summary

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


def _fits(text: str, width_in: float, size: float) -> bool:
    """Whether ``text`` at ``size`` points fits in ``width_in`` inches (a
    generous estimate of DejaVu Sans' average advance: 0.6 em)."""
    return len(text) * 0.6 * size / 72 <= width_in


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


class _Elided(NamedTuple):
    """What a panel counts but does not draw."""

    blocks: int
    bytes: int


class _Arrow(NamedTuple):
    """A pointer drawn from one block to another, its ends in bytes across."""

    start: float
    end: float


@dataclass
class _Panel:
    """One strategy's panel: the blocks it draws and where (across in
    bytes, down in inches from the panel's top)."""

    view: TaskView
    blocks: list  # the blocks drawn
    elided: _Elided
    where: dict = field(default_factory=dict)  # block number -> its left edge
    used_width: float = 0.0  # bytes across the blocks and their gaps take
    blocks_h: float = 0.0  # the blocks' height
    arrows: list = field(default_factory=list)  # _Arrow per pointer drawn
    levels: list = field(default_factory=list)  # the arrows' levels below the blocks
    level_h: float = 0.0  # between two arrow levels
    height: float = 0.0  # the whole panel


def _panel(view: TaskView) -> _Panel:
    """The first MAX_DRAWN_BLOCKS blocks of a view; the rest is counted."""
    rest = view.blocks[MAX_DRAWN_BLOCKS:]
    elided = _Elided(view.elided_blocks + len(rest), view.elided_bytes + sum(b.size for b in rest))
    return _Panel(view, view.blocks[:MAX_DRAWN_BLOCKS], elided)


def _widths(panels: list, cut: float) -> dict:
    """id(block) -> the bytes it is drawn wide: its size, or its bytes in
    use and a share of ``cut`` where its reserved part is longer than that."""
    widths = {}
    for panel in panels:
        long = {id(b) for b in panel.blocks if b.size - _in_use(b) > cut}
        for b in panel.blocks:
            widths[id(b)] = _in_use(b) + cut / len(long) if id(b) in long else b.size
    return widths


def _bytes_per_inch(panels: list, widths: dict, axes_w: float) -> float:
    """The scale at which the widest panel (its blocks plus the gaps) fills the width."""
    bpi = 1.0
    for panel in panels:
        n = len(panel.blocks) + (1 if panel.elided.blocks else 0)
        total = sum(widths[id(b)] for b in panel.blocks) + panel.elided.bytes
        bpi = max(bpi, total / max(axes_w - (n - 1) * _GAP_IN, axes_w * 0.3))
    return bpi


def _pointers(block):
    """(part, target) for each pointer in a block's frame and the frames inline in it."""
    if block.frame is None:
        return
    for frame, _ in block.frame.walk():
        for part in frame.parts:
            if part.target is not None:
                yield part, part.target


def _place(panel: _Panel, widths: dict, bpi: float):
    """Place a panel's blocks and the arrows between them; measure its height."""
    gap = _GAP_IN * bpi
    x = 0.0
    for block in panel.blocks:
        panel.where[block.number] = x
        x += widths[id(block)] + gap
    panel.used_width = x
    panel.blocks_h = max([_nesting(b) for b in panel.blocks] or [1]) * _STRIP_H + _BAND_H
    where = panel.where
    panel.arrows = [
        _Arrow(where[block.number] + part.offset + part.size / 2,
               where[target.number] + min(target.size * 0.5, 0.12 * bpi))
        for block in panel.blocks for part, target in _pointers(block) if target.number in where
    ]
    levels = panel.levels = _arrow_levels(panel.arrows)
    # Many crossing pointers (a cell per frame): pack their levels closer.
    panel.level_h = max(_ARROW_MIN_LEVEL_H, min(_ARROW_LEVEL_H, _ARROW_MAX_H / max(levels))) if levels else 0
    arrow_h = (max(levels) + 1) * panel.level_h if levels else 0.05
    panel.height = _TITLE_H + _BLOCK_LABEL_H + panel.blocks_h + arrow_h + _PANEL_PAD


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
    panels = [_panel(view) for view in views]
    cut = RESERVED_CUT * max(sum(_in_use(b) for b in p.blocks) + p.elided.bytes for p in panels)
    widths = _widths(panels, cut)
    bpi = _bytes_per_inch(panels, widths, axes_w)
    for panel in panels:
        _place(panel, widths, bpi)

    legend_h = 0.62
    scale_h = 0.3
    head_h = 0.55
    fig_h = head_h + sum(panel.height for panel in panels) + scale_h + legend_h
    fig = new_figure(WIDTH, fig_h)
    with matplotlib.rc_context(STYLE):
        y_top = fig_h - head_h
        first = views[0]
        heading = title or f"{first.workload} {params_label(first.params)}".strip()
        fig.text(_L_MARGIN / WIDTH, 1 - 0.2 / fig_h, heading, fontsize=11, fontweight="bold", va="top")
        cut_any = any(widths[id(b)] < b.size for panel in panels for b in panel.blocks)
        fig.text(
            _L_MARGIN / WIDTH, 1 - 0.42 / fig_h,
            "one task's memory at its largest moment; widths in bytes on one scale in every panel"
            + (f"; ≈ cuts a reserved part over {cut:,} B (its bytes written in it)" if cut_any else ""),
            fontsize=8.5, color="#444444", va="top",
        )
        for panel in panels:
            bottom = y_top - panel.height
            ax = fig.add_axes((_L_MARGIN / WIDTH, bottom / fig_h, axes_w / WIDTH, panel.height / fig_h))
            ax.set_xlim(0, axes_w * bpi)
            ax.set_ylim(panel.height, 0)  # y in inches from the panel's top, downwards
            # The limits are fixed, so the diagram's shapes go in by add_artist:
            # add_patch would also update data limits nothing reads, a quarter of
            # the time of a deep program's diagram (thousands of parts).
            ax.axis("off")
            _draw_panel(ax, panel, widths, bpi, run_metrics)
            y_top = bottom
        _draw_scale_bar(fig, bpi, y_top - 0.05, fig_h)
        _draw_layout_legend(fig)
    return fig


RASTERIZED_ABOVE = 2000  # a panel's frames and parts past this many are one image in the SVG


class _BatchedAxes:
    """A panel's Axes that also takes plain rectangles (frames and their
    parts, ``plain_rect``) and draws them as one PolyCollection, below the
    panel's other shapes (block outlines, hatched parts), in the order they
    came: a deep program's diagram has tens of thousands, and one Rectangle
    artist each took most of a report's time (24 CPU-s of a depth-1000
    fanout's). Everything else goes to the Axes itself."""

    def __init__(self, ax):
        self._ax = ax
        self._boxes, self._faces, self._edges, self._widths = [], [], [], []

    def __getattr__(self, name):
        return getattr(self._ax, name)

    def plain_rect(self, x, y, width, height, facecolor, edgecolor, linewidth) -> None:
        self._boxes.append(((x, y), (x + width, y), (x + width, y + height), (x, y + height)))
        self._faces.append(facecolor)
        self._edges.append(edgecolor)
        self._widths.append(linewidth)

    def flush(self) -> None:
        if self._boxes:
            collection = PolyCollection(
                self._boxes, facecolors=self._faces, edgecolors=self._edges, linewidths=self._widths,
                zorder=Rectangle.zorder - 0.1,
            )
            # Past a few thousand, most are narrower than a pixel: the SVG gets them as one
            # image, not a path each (47,000 paths took half a depth-1000 report's time).
            # Blocks stay vectors, with their ids.
            collection.set_rasterized(len(self._boxes) > RASTERIZED_ABOVE)
            self._ax.add_collection(collection, autolim=False)
            self._boxes, self._faces, self._edges, self._widths = [], [], [], []


def _draw_panel(ax, panel: _Panel, widths: dict, bpi: float, run_metrics: dict | None):
    view = panel.view
    _draw_panel_title(ax, view, run_metrics, bpi)
    y0 = _TITLE_H + _BLOCK_LABEL_H
    batched = _BatchedAxes(ax)
    for block in panel.blocks:
        _draw_block(batched, view, block, panel.where[block.number], y0, panel.blocks_h, bpi, widths[id(block)])
    batched.flush()
    if panel.elided.blocks:
        _draw_elided(ax, panel, y0, bpi)
    yb = y0 + panel.blocks_h
    for arrow, level in zip(panel.arrows, panel.levels):
        ydown = yb + level * panel.level_h
        path = MplPath([(arrow.start, yb - 0.02), (arrow.start, ydown), (arrow.end, ydown), (arrow.end, yb)])
        ax.add_artist(FancyArrowPatch(
            path=path, arrowstyle="-|>,head_length=3,head_width=2", color="#2B2B2B",
            linewidth=0.9, shrinkA=0, shrinkB=0,
        ))


def _draw_elided(ax, panel: _Panel, y0: float, bpi: float):
    """The blocks not drawn, as one dashed block after the others."""
    view, (count, nbytes) = panel.view, panel.elided
    x = panel.used_width
    width = max(nbytes, 0.05 * bpi)
    rect = Rectangle((x, y0), width, panel.blocks_h, facecolor="#F4F4F4", edgecolor=color_of(view.strategy),
                     linewidth=1.2, linestyle="--")
    rect.set_gid(f"pinbench-elided-{view.strategy}-{count}-{nbytes}")
    ax.add_artist(rect)
    ax.text(x + 0.04 * bpi, y0 - 0.04, f"+{count} more blocks · {nbytes:,} B (not drawn)",
            fontsize=7, va="bottom", ha="left", color="#333333")


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
    word = block_word(view, block.kind)
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
    ax.plain_rect(x, y, frame.size, yb - y, "white", "#555555", 0.6)
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
                       PART_WORDS.get(part.kind, ""), bpi, label_y=yb - _BAND_H / 2)


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
        ax.add_line(Line2D([mid + side - 0.03 * bpi, mid + side + 0.03 * bpi], [y + height + 0.05, y - 0.05],
                           color="#222222", linewidth=1.2, zorder=4))
    text = f"reserved {size:,} B, not to scale"
    for anchor, ha in ((mid - half - 0.12 * bpi, "right"), (mid + half + 0.12 * bpi, "left")):
        if _fits(text, drawn / 2 / bpi - 0.15, 7):
            ax.text(anchor, y + height / 2, text, fontsize=7, ha=ha, va="center", color="#111111", zorder=5,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0})
            break


def _part_rect(ax, x, y, size, height, kind, word, bpi, label_y=None):
    if kind == "unused":
        ax.add_artist(Rectangle((x, y), size, height, facecolor=PART_COLORS[kind], edgecolor="#555555",
                               linewidth=0.4, hatch="////"))
    else:
        ax.plain_rect(x, y, size, height, PART_COLORS[kind], "#555555", 0.4)
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
