"""Every metric, declared once.

A benchmark's metrics are a flat dict (``results.json`` stores it as is). This
registry says, for each metric: what it is called in tables, its unit, whether
it is deterministic (exact and identical on every run and machine, so the CI
gate compares it exactly) or measured (timing, latency), and which change of
it is a regression. Everything that lists metrics reads it:

* ``metrics.csv``: one column per metric, in registry order
  (:data:`CSV_COLUMNS`);
* the deterministic set the gates compare (:data:`DETERMINISTIC`), and the
  direction of a regression (:attr:`Metric.regression`);
* ``pinbench show``'s counts table (:attr:`Metric.show`) and the report's
  per-benchmark table (:attr:`Metric.report`);
* the per-task values (:attr:`Metric.per_task_of`), derived by the runner;
* how a value reads (:meth:`Metric.text`, :meth:`Metric.cell`: by its unit,
  as pyperf's ``_formatter`` picks a function per unit) and how an axis
  names it (:meth:`Metric.axis`);
* the report's overview figures (:attr:`Metric.figure`, :data:`FIGURES`):
  a metric with a figure is drawn there, in the figure's ``rank`` order.

A new counter is the executor's raw value plus one entry here: where the
entry stands is where its metrics.csv column stands (append new metrics at
the end of their group, so existing columns keep their places).
"""

from __future__ import annotations

from dataclasses import dataclass

from .formatting import compact, count, duration, format_ns
from .statistics import CONFIDENCE, MILD_FENCE, SEVERE_FENCE, TRUST_WITHIN

# Regression directions (what the gate fails on).
INCREASE = "increase"  # more is worse: allocations, bytes, leaks
CHANGE = "change"  # any change is wrong: a strategy that computes something else
# More is worse, beyond compare's --instructions-threshold: instruction
# counts are exact for the same binary, but a change of compiler or library
# moves them a little, and that is no regression.
INCREASE_BEYOND_THRESHOLD = "increase beyond threshold"

# Units: how a value reads (formatting.py turns them into text).
COUNT, BYTES, NS, RATIO, FLAG, ID = "count", "bytes", "ns", "ratio", "flag", "id"
# What an axis puts after a quantity's name, per unit (none: a plain number;
# a time's unit is chosen for the values drawn: formatting.time_unit).
SYMBOLS = {BYTES: "B"}
# How a value of a unit reads, (in a terminal table, on the report page and
# figures); every other unit reads as a number.
FORMATS = {NS: (format_ns, duration)}
NUMBER_FORMATS = (compact, count)

# How a figure draws its metric (bench/plots.py): a group of bars per
# workload and parameter set, a bar per strategy; or each strategy's time
# relative to the fastest's, with its interval.
BARS, RELATIVE_TIME = "bars", "relative time"


@dataclass(frozen=True)
class Figure:
    """A figure of the report's overview drawn from one metric's values."""

    stem: str  # its files: figures/STEM.png and .svg
    heading: str  # its caption's first words
    caption: str  # what it shows and how to read it
    rank: int  # its place in the overview, first to last
    title: str = ""  # above its panels (BARS)
    kind: str = BARS
    per_allocator: bool = False  # a group per allocator (the metric differs between allocators)
    when: str | None = None  # drawn only if some benchmark has a non-zero value of this metric


@dataclass(frozen=True)
class Metric:
    name: str
    label: str  # what it is, in words
    unit: str = COUNT
    deterministic: bool = True
    regression: str | None = None  # INCREASE, CHANGE, or None: a change is reported, never fails
    per_task_of: str | None = None  # derived: this raw counter divided by the tasks run
    show: str | None = None  # column header in `pinbench show` (None: not a column)
    report: str | None = None  # column header in the report's "every benchmark" table
    compare_rank: int = 99  # compare lists a benchmark's changes in this order (ties: registry order)
    across_rounds: str | None = None  # compare-branches merges rounds: "median" or "sum" (timing: from pyperf)
    optional: bool = False  # only in runs that asked for it (--instructions): compared where both sides have it
    show_rank: int = 99  # `pinbench show` orders its columns by this (ties: registry order)
    headline: str | None = None  # column header in `pinbench run`'s headline table (None: not in it)
    short: str | None = None  # the label in a few words, for an axis or a legend (None: the label)
    summary: str | None = None  # column header in the report's summary (SUMMARY, and the time)
    percentile: float | None = None  # a latency percentile: which one (50: the median)
    figure: Figure | None = None  # its figure in the report's overview (None: none)
    column: str | None = None  # its header in a one-line column of the timing tables (None: its short label)

    def text(self, value) -> str:
        """The value as the report page and figures write it."""
        return FORMATS.get(self.unit, NUMBER_FORMATS)[1](value)

    def cell(self, value) -> str:
        """The value in a terminal table cell (ASCII units)."""
        return FORMATS.get(self.unit, NUMBER_FORMATS)[0](value)

    def axis(self, symbol: str | None = None) -> str:
        """An axis label: the short label and its unit's symbol (``symbol``,
        for a time: the unit its values are drawn in)."""
        return axis_label(self.brief, symbol or SYMBOLS.get(self.unit))

    @property
    def brief(self) -> str:
        """The label in a few words."""
        return self.short or self.label

    @property
    def header(self) -> str:
        """Its header in a table column of one line."""
        return self.column or self.brief


def axis_label(quantity: str, symbol: str | None) -> str:
    """What an axis names: the quantity, and its unit's symbol if it has one."""
    return quantity + (f" ({symbol})" if symbol else "")


METRICS = (
    # -- deterministic: exact counts from the executor, the same under every allocator
    Metric("tasks", "tasks run (spawned ones included)", compare_rank=7),
    Metric("allocs_per_task", "allocations per task", per_task_of="allocs",
           show="allocs\n/task", report="allocs/task", compare_rank=9, show_rank=1, headline="allocs\n/task",
           short="allocations per task (blocks)", summary="allocs",
           figure=Figure("allocs-per-task", "Allocations per task",
                         "Exact allocation counts per task (every task the run started, spawned ones included). "
                         "Fewer is better: each allocation is a call into the allocator and a free later.",
                         rank=2, title="Allocations per task, by strategy (exact counts; the same under every "
                         "allocator)")),
    # Every block ever allocated, summed: a goroutine's 2 KiB stack and the
    # 4 and 8 KiB it grew into count 14 KiB, though it holds 8 KiB at the end.
    Metric("bytes_per_task", "bytes allocated per task, summed over every block (each stack a goroutine "
           "grew into, every chunk, slab and box)", BYTES, per_task_of="bytes_allocated",
           show="alloc\nB/task", report="allocated B/task (summed)", compare_rank=10, show_rank=2,
           short="bytes allocated per task"),
    Metric("peak_live_bytes", "peak bytes of frames in use (not what stacks and slabs hold)", BYTES,
           regression=INCREASE, compare_rank=2, short="peak live bytes"),
    Metric("peak_bytes_per_task", "peak live bytes per task run (all tasks, overlapping or not)", BYTES,
           per_task_of="peak_live_bytes", compare_rank=12),
    Metric("moved_bytes", "bytes moved (memcpy of futures)", BYTES, show="moved\nbytes", report="moved B",
           compare_rank=3),
    Metric("refcount_ops", "reference-count operations", report="refcount ops",
           compare_rank=4),
    Metric("polls_per_task", "polls per task", per_task_of="polls", show="polls\n/task", report="polls/task",
           compare_rank=13),
    Metric("root_frame_bytes", "size of the task's root frame", BYTES, compare_rank=14),
    Metric("checksum", "the program's result", ID, regression=CHANGE, compare_rank=6),
    Metric("live_blocks_end", "blocks still live at the end (a leak)", regression=INCREASE, compare_rank=17),
    Metric("allocs", "allocations", regression=INCREASE, compare_rank=0),
    Metric("frees", "frees", compare_rank=8),
    Metric("bytes_allocated", "bytes allocated", BYTES, regression=INCREASE, compare_rank=1),
    Metric("peak_live_blocks", "peak live blocks", compare_rank=11),
    Metric("polls", "polls", compare_rank=5),
    Metric("ticks", "executor ticks", compare_rank=15),
    Metric("live_bytes_end", "bytes still live at the end (a leak)", BYTES, regression=INCREASE, compare_rank=16),
    Metric("peak_live_tasks", "tasks live when the live bytes peaked", compare_rank=18),
    # What a task holds: the peak's bytes over the tasks live at that moment,
    # so tasks that never overlap are not charged for each other.
    Metric("peak_bytes_per_live_task", "peak bytes of frames in use per task live at that moment", BYTES,
           show="in use\nB/live", report="frames in use B/live task", compare_rank=12, show_rank=3,
           short="frames in use per live task", summary="in use B",
           figure=Figure("frames-in-use", "Frames in use per live task",
                         "Only the part of the held memory that frames occupy (frames, boxes, cells, handle "
                         "vectors) at its peak, divided by the tasks live then: a fiber's few hundred bytes of "
                         "frames sit in its 132 KiB stack. Not what a task holds: see the figure above.",
                         rank=1, title="Frames in use per live task (not what stacks and slabs hold): frames, "
                         "boxes, cells, handle vectors")),
    # Stacks and slabs (docs/model.md, "Storage"): what a strategy holds beside
    # what is in use, and the frames it copies. 0 where a strategy has none.
    Metric("copied_bytes", "bytes of frames copied (a stack's growth, a suspension, a resumption)", BYTES,
           regression=INCREASE, compare_rank=3),
    Metric("copied_bytes_per_task", "bytes of frames copied per task", BYTES, per_task_of="copied_bytes",
           show="copied\nB/task", report="copied B/task", compare_rank=12, short="bytes copied per task",
           figure=Figure("copied-bytes", "Bytes copied per task",
                         "Frames copied by the strategy itself: a Go stack's used part when it grows, a .NET "
                         "state machine into its box at its first suspension, a virtual thread's frames into "
                         "its chunk when it parks and back when it runs (moves of Rust futures are moved bytes).",
                         rank=3, title="Frames copied per task: a stack's growth, a box or chunk at suspension, "
                         "a thaw at resumption", when="copied_bytes")),
    Metric("peak_reserved_bytes", "peak reserved bytes (stacks, slabs and boxes held, used or not)", BYTES,
           regression=INCREASE, compare_rank=2),
    Metric("reserved_bytes_per_task", "peak reserved bytes per task run", BYTES,
           per_task_of="peak_reserved_bytes", report="reserved B/task", compare_rank=12),
    Metric("stack_growths", "stack growths (a stack replaced by a bigger one, its used part copied)",
           regression=INCREASE, compare_rank=4),
    # What a task holds (docs/model.md, "Held memory"): its strategy's blocks,
    # used or not, and the runtime's own task objects beside them (a
    # goroutine's g, tokio's task cell, a VirtualThread, a box's Task fields;
    # each strategy's module cites its source). The headline of every table.
    Metric("runtime_bytes", "bytes of the runtime's own task objects created (a g, a task cell, a VirtualThread...)",
           BYTES, regression=INCREASE, compare_rank=3),
    Metric("runtime_bytes_per_task", "the runtime's own task objects per task run", BYTES,
           per_task_of="runtime_bytes", report="runtime B/task", compare_rank=12),
    Metric("peak_held_bytes", "peak held bytes: stacks, slabs, chunks and boxes, used or not, and the "
           "runtime's task objects", BYTES, regression=INCREASE, compare_rank=2),
    Metric("peak_held_tasks", "tasks live when the held bytes peaked", compare_rank=18),
    Metric("held_bytes_per_live_task", "held bytes per task live at their peak (stacks, slabs, chunks and boxes, "
           "used or not, and the runtime's task objects)", BYTES, show="held B\n/live",
           report="held B/live task", compare_rank=12, show_rank=0, headline="held B\n/live task",
           short="held bytes per live task", summary="held B",
           figure=Figure("held-memory", "Memory held per live task",
                         "What a live task holds at the peak: its strategy's blocks, used or not (a goroutine's or "
                         "fiber's whole stack, a Swift task's slabs, a virtual thread's chunks, every box and cell), "
                         "and the runtime's own task objects beside them (a goroutine's g, tokio's task cell, a "
                         "VirtualThread, a .NET box's Task fields, a Swift AsyncTask), divided by the tasks live "
                         "then. This is what a process of that runtime needs per task.",
                         rank=0, title="Memory held per live task: stacks, slabs, chunks and boxes, used or not, "
                         "and the runtime's task objects")),
    Metric("runtime_live_end", "bytes of runtime task objects still live at the end (a leak)", BYTES,
           regression=INCREASE, compare_rank=17),
    # -- measured: the executor's own clock
    Metric("ns_per_task_single", "time per task of the counting run", NS, deterministic=False),
    # -- measured: timing (pyperf: worker processes, warm-ups, calibrated loops)
    Metric("ns_per_task_mean", "time per task (pyperf mean)", NS, deterministic=False),
    Metric("ns_per_task_stdev", "time per task, standard deviation", NS, deterministic=False),
    Metric("ns_per_task_median", "time per task (pyperf median)", NS, deterministic=False, headline="time\n/task",
           summary="time", column="time/task",
           figure=Figure("time-per-task", "Time per task",
                         "One row per strategy, the fastest on top; each dot is the median of pyperf's values "
                         "divided by the fastest's, the line through it the median's "
                         f"{CONFIDENCE:.0%} bootstrap interval. A hollow dot is too noisy to trust: its interval "
                         f"is wider than ±{TRUST_WITHIN:.0%}. With several allocators each has its own marker.",
                         rank=4, kind=RELATIVE_TIME, when="ns_per_task_mean")),
    Metric("timing_values", "pyperf values", deterministic=False, column="n"),
    Metric("tasks_per_second", "tasks per second", deterministic=False, column="tasks/s"),
    Metric("timing_cv", "coefficient of variation of the time", RATIO, deterministic=False),
    Metric("noisy", f"too noisy to trust (the {CONFIDENCE:.0%} interval of the median is wider than "
           f"±{TRUST_WITHIN:.0%})", FLAG, deterministic=False),
    # -- measured: trust (bench/statistics.py): the bootstrap interval of the median, outliers by Tukey's fences
    Metric("ns_per_task_ci_low", f"time per task, low end of the {CONFIDENCE:.0%} bootstrap interval of the median",
           NS, deterministic=False),
    Metric("ns_per_task_ci_high", f"time per task, high end of the {CONFIDENCE:.0%} bootstrap interval of the "
           "median", NS, deterministic=False),
    Metric("timing_within", "the interval's wider side, relative to the median", RATIO, deterministic=False),
    Metric("outliers_low_severe", f"values below Q1 - {SEVERE_FENCE:g} IQR (severe outliers)", deterministic=False),
    Metric("outliers_low_mild", f"values below Q1 - {MILD_FENCE:g} IQR, not severe (mild outliers)",
           deterministic=False),
    Metric("outliers_high_mild", f"values above Q3 + {MILD_FENCE:g} IQR, not severe (mild outliers)",
           deterministic=False),
    Metric("outliers_high_severe", f"values above Q3 + {SEVERE_FENCE:g} IQR (severe outliers)", deterministic=False),
    # -- measured: latency (sampled in the executor; open-loop workloads from scheduled arrival)
    Metric("p50_ns", "latency p50", NS, deterministic=False, across_rounds="median", short="p50", percentile=50),
    Metric("p90_ns", "latency p90", NS, deterministic=False, across_rounds="median", short="p90", percentile=90),
    Metric("p99_ns", "latency p99", NS, deterministic=False, across_rounds="median", short="p99", percentile=99),
    Metric("p999_ns", "latency p99.9", NS, deterministic=False, across_rounds="median", short="p99.9",
           percentile=99.9),
    Metric("max_ns", "latency max", NS, deterministic=False, across_rounds="median", short="max"),
    Metric("latency_samples", "latency samples", deterministic=False, across_rounds="sum"),
    Metric("latency_overhead", "latency sampling overhead", RATIO, deterministic=False, across_rounds="median"),
    # -- deterministic, with --instructions: the core's loop under callgrind (bench/instructions.py)
    Metric("instructions_per_task", "instructions per task (callgrind)", regression=INCREASE_BEYOND_THRESHOLD,
           report="instr/task", compare_rank=18, optional=True, short="instructions per task",
           column="instructions/task",
           figure=Figure("instructions-per-task", "Instructions per task",
                         "Instructions the core's loop executed per task under valgrind's callgrind "
                         "(pinbench run --instructions): deterministic for one binary, so a change of 1% "
                         "is real. One group per allocator: malloc's own instructions count too.",
                         rank=5, title="Instructions per task, by strategy (callgrind: the core's loop only; "
                         "exact for one binary)", per_allocator=True, when="instructions_per_task")),
    Metric("estimated_cycles_per_task", "estimated cycles per task (L1 hits + 5 x LL hits + 35 x RAM)",
           regression=INCREASE_BEYOND_THRESHOLD, compare_rank=19, optional=True, column="est. cycles/task"),
    # -- measured: the real footprint beside the model's (the C library's block sizes, the
    # machine's pages; docs/footprint.md)
    Metric("bookkeeping_bytes_per_task", "executor bookkeeping bytes per task", BYTES, deterministic=False,
           per_task_of="bookkeeping_peak_bytes", report="executor B/task"),
    Metric("allocator_bytes_per_task", "allocator bytes per task (malloc's chunks)", BYTES, deterministic=False,
           per_task_of="allocator_peak_bytes", report="allocator B/task"),
    Metric("bookkeeping_peak_bytes", "executor bookkeeping at its peak", BYTES, deterministic=False),
    Metric("allocator_peak_bytes", "allocator footprint at its peak", BYTES, deterministic=False),
    Metric("rss_start_bytes", "resident size when the run started", BYTES, deterministic=False),
    Metric("peak_rss_bytes", "peak resident size of the run", BYTES, deterministic=False, report="peak RSS"),
)

BY_NAME = {m.name: m for m in METRICS}

# metrics.csv: these follow the parameter columns, in this order.
CSV_COLUMNS = tuple(m.name for m in METRICS)
# Identical on every run and machine for the same inputs: compared exactly.
DETERMINISTIC = tuple(m.name for m in METRICS if m.deterministic)
# The order compare lists changes in: the counts users know first.
COMPARED = tuple(sorted(DETERMINISTIC, key=lambda name: BY_NAME[name].compare_rank))
# Per-task values the runner derives: {derived: raw counter}.
PER_TASK = {m.name: m.per_task_of for m in METRICS if m.per_task_of}
# The columns of `pinbench show` and of the report's "every benchmark" table.
# The headline of run's and show's summary and of the report's: what a live
# task holds first (its blocks used or not, and its runtime objects), then
# the frames in use in them (a fiber's few hundred bytes in its 132 KiB
# stack), then its allocations.
SUMMARY = ("held_bytes_per_live_task", "peak_bytes_per_live_task", "allocs_per_task")
SHOWN = tuple(sorted((m for m in METRICS if m.show), key=lambda m: m.show_rank))
REPORTED = tuple(m for m in METRICS if m.report)
# The headline of `pinbench run` (the mission's question in one table): per
# workload, each strategy's held bytes (they lead), allocations and time per
# task, each beside its ratio to the best strategy's; in show's column order,
# time last.
HEADLINE = tuple(sorted((m for m in METRICS if m.headline), key=lambda m: m.show_rank))
# The report's overview figures, in their order.
FIGURES = tuple(sorted((m for m in METRICS if m.figure), key=lambda m: m.figure.rank))
# The latency percentiles the executor's samples give: {name: percentile}.
PERCENTILES = {m.name: m.percentile for m in METRICS if m.percentile}
# The latency columns of the timing tables (show's and the report's; the
# other percentiles are in metrics.csv).
LATENCY_SHOWN = ("p50_ns", "p99_ns", "max_ns")
# The columns of show's timing table, before the latency ones: the time
# (with its interval), how many values pyperf took, the rate.
TIMING_SHOWN = ("ns_per_task_median", "timing_values", "tasks_per_second")
# The terminal's summary of instruction counts (--instructions), per strategy.
INSTRUCTIONS_SHOWN = ("instructions_per_task", "estimated_cycles_per_task")
# What the latency percentiles measure, as the axes they share name it
# (plots.py): every task's latency, and an open-loop request's from its
# scheduled arrival.
LATENCY = "task latency"
ARRIVAL_LATENCY = "latency from scheduled arrival"
# Present only when a run asked for them (--instructions).
OPTIONAL = tuple(m.name for m in METRICS if m.optional)
# How compare-branches merges an arm's rounds: {name: "median" or "sum"}.
ACROSS_ROUNDS = {m.name: m.across_rounds for m in METRICS if m.across_rounds}


def regression(name: str) -> str | None:
    """INCREASE, CHANGE or None for a metric (None for names not declared)."""
    metric = BY_NAME.get(name)
    return metric.regression if metric else None
