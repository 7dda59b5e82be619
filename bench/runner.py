"""Run one benchmark: a compiled program, a strategy and an allocator.

This is the measurement layer's single entry point for the deterministic
counters (timing lives in its own module). It turns the executor's raw
counters into the per-task metrics that results, tables and gates use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .. import strategies
from ..cython_core import _executor
from . import engine as engines
from ..model.errors import UsageError
from .metrics import PER_TASK
from .records import BenchmarkRecord

ALLOCATORS = tuple(_executor.ALLOCATORS)
ALLOCATOR_SUMMARIES = {
    "system": "malloc/free from the C library",
    "pool": "size-class free lists that recycle frames",
    "bump": "an arena: frees are no-ops until the run ends",
}

def _meminfo() -> dict:
    """/proc/meminfo in bytes ({} where there is none)."""
    out = {}
    try:
        with open("/proc/meminfo") as file:
            for line in file:
                name, _, rest = line.partition(":")
                parts = rest.split()
                if parts and parts[0].isdigit():
                    out[name] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    except OSError:
        pass
    return out


def physical_memory() -> int:
    """This machine's physical memory in bytes (8 GiB if it cannot be read)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def default_memory_limit() -> int:
    """Half of this machine's physical memory, and at most three quarters of
    what is available now (other programs' memory stays theirs): a run that
    needs more stops cleanly instead of being killed."""
    limit = physical_memory() // 2
    available = _meminfo().get("MemAvailable")
    if available:
        limit = min(limit, available * 3 // 4)
    return limit


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


@dataclass(frozen=True)
class Benchmark:
    """One cell of the matrix: workload x strategy x allocator x parameters."""

    workload: str
    strategy: str
    allocator: str
    params: dict = field(default_factory=dict)

    @property
    def key(self) -> tuple:
        return (self.workload, self.strategy, self.allocator, tuple(sorted(self.params.items())))

    @property
    def label(self) -> str:
        """The name of its timing in pyperf.json (``workload`` is the
        workload's name, or the path of the file it came from)."""
        return BenchmarkRecord(self.workload, self.strategy, self.allocator, self.params).label


def check_allocator(name: str) -> str:
    if name not in _executor.ALLOCATORS:
        raise UsageError(f"unknown allocator '{name}'; choose one of: {', '.join(ALLOCATORS)}")
    return name


class DoesNotFit(UsageError):
    """The run stopped: it needs more memory than the limit, or a fixed
    stack cannot hold its frames. A finding about the strategy at that
    scale as much as an error: a suite the user did not name (the default
    one, or 'all') skips it with a note (bench/commands/run.py)."""


def execute(program, strategy_name: str, allocator: str, memory_limit: int | None = None,
            engine: str = engines.INTERPRETED) -> dict:
    """Run ``program`` under a strategy and allocator; return every metric.

    ``engine`` is "interpreted" (the executor reads the program's arrays) or
    "compiled" (generated C, built or found in the cache first; the counts
    are the same). A run that would not fit in memory stops cleanly with a
    UsageError.
    """
    strategy = strategies.get(strategy_name)
    check_allocator(allocator)
    engines.check_engine(engine)
    layout = strategy.plan(program)
    limit = default_memory_limit() if memory_limit is None else memory_limit
    compiled = engines.compiled(program, layout) if engine == engines.COMPILED else None
    try:
        raw = _executor.run(program, layout, allocator, limit, engine=compiled)
    except _executor.ExecutorError as exc:
        if exc.kind == "memory limit":
            c = exc.counters
            what = "its resident size" if c.get("memory_over") == "resident" else "the memory it counted"
            # Refused before it started: the limit is below what the process
            # already holds, so nothing can run (an error of the run, not a finding).
            error = UsageError if c.get("refused_at_start") else DoesNotFit
            raise error(
                f"{program.name} under {strategy_name} needs more than the memory limit of {_gib(limit)}: "
                f"stopped when {what} passed it (at the stop: {_gib(c.get('peak_rss_bytes', 0))} resident, "
                f"allocator {_gib(c.get('allocator_peak_bytes', 0))}, executor bookkeeping "
                f"{_gib(c.get('bookkeeping_peak_bytes', 0))}); lower its tasks or size parameters, "
                "or raise --memory-limit"
            ) from None
        if exc.kind == "stack overflow":
            need, base = exc.counters["stack_needed"], strategy_name.partition(":")[0]
            bigger = 1 << (need - 1).bit_length()
            raise DoesNotFit(
                f"{program.name} under {strategy_name}: a task of '{exc.counters['stack_fn']}' needs a stack of "
                f"at least {need:,} bytes, more than the {layout.stack_bytes:,} its stack has; "
                f"run it with -s {base}:stack={bigger}"
            ) from None
        raise UsageError(f"{program.name} under {strategy_name} stopped: {exc.kind}") from None
    return derive_metrics(raw, program, layout)


def derive_metrics(raw: dict, program, layout) -> dict:
    tasks = raw["tasks"]
    metrics = dict(raw)
    for name, counter in PER_TASK.items():  # declared in metrics.py
        metrics[name] = raw[counter] / tasks
    # The peak over the tasks live at that moment (metrics.py).
    live = raw["peak_live_tasks"]
    metrics["peak_bytes_per_live_task"] = raw["peak_live_bytes"] / live if live else 0.0
    held = raw["peak_held_tasks"]  # the same for what the strategy holds (metrics.py)
    metrics["held_bytes_per_live_task"] = raw["peak_held_bytes"] / held if held else 0.0
    metrics["root_frame_bytes"] = layout.frame_size(program.entry)
    metrics["frame_bytes"] = {
        name: layout.frame_size(i) for i, name in enumerate(program.fn_names)
    }
    metrics["ns_per_task_single"] = raw["elapsed_ns"] / tasks
    return metrics
