"""pyperf's worker processes: time one benchmark, importing little.

pyperf times every benchmark in worker processes of its own, which
re-enter this module (``python -m pinbench.bench.worker --specs FILE``;
the master is ``timing.Timer``). A quick run starts about 150 of them and
a default run about 300, so what a worker imports is paid that many times:
numpy alone took 0.1 s of a worker's 0.25 s start on this machine.

So a worker builds nothing. The master has compiled the program, planned
its layout and built its engine; it writes the tables the executor reads
to a file of their own (:func:`write_tables`, numpy's arrays as int64
bytes) and names it in the benchmark's :class:`Spec`. The worker reads
them into plain buffers (``array('q')``), loads the engine's library by
path and times the very run the master counted: the same tables, the
same engine, the same executor. Neither numpy, the model nor the
strategies are imported here, nor by what this imports.

The instruction counter's process (:func:`count_main`, under valgrind:
bench/instructions.py) is such a worker too: it reads the same tables,
so valgrind runs no imports of numpy or the model, and its forked children
plan nothing (a count took 2.9 s of start-up and 0.33 s per benchmark
when the process rebuilt each benchmark, under valgrind's slowdown). So is
``pinbench validate``'s timing process (:func:`rounds_main`), which runs
its cases' rounds one after another, as a native program does: its heap
is then as small as a native program's (bench/validate/model_timing.py).
"""

from __future__ import annotations

import base64
import json
import os
import sys
import traceback
from array import array
from dataclasses import dataclass, fields
from functools import lru_cache
from types import SimpleNamespace

from ..cython_core import _executor
from . import engine as engines

_INT64 = "int64"  # the key of an encoded array in the tables file
# The instruction counter's scratch folder (bench/instructions.py): benchmark
# i's spec, and its counted run's pid and checksum; a child's exit status
# when there is no spec for its index.
SPEC_FILE, RESULT_FILE = "spec-{}.json", "counted-{}.json"
ROUNDS_FILE = "rounds-{}.json"  # validate's timing process: job i's rounds' nanoseconds
NO_MORE_BENCHMARKS = 3
# glibc's malloc rules of every process that runs rounds to be timed or
# counted, the model's and the native programs' alike (bench/validate's
# generated sources call mallopt with the same pairs), as (mallopt's
# parameter from malloc.h, value):
# - the mmap threshold fixed at its largest, 32 MiB (glibc's
#   DEFAULT_MMAP_THRESHOLD_MAX on 64 bits), so every block below it is cut
#   from the heap, as glibc does on its own once it has freed a mapping of
#   the size. At its default of 128 KiB, and fixed, a large block (a
#   fiber's 132 KiB stack) was mapped where the heap had no free room for
#   it (a worker: select_loop under fiber 2 s a run) and cut from the heap
#   where it had (the master's counting run of the same: 30 ms), and the
#   loops the master gave the workers were 70 times too many;
# - no trimming: a round frees all it allocated, and glibc would hand the
#   top of the heap back to the kernel at its end only to fault it in again
#   in the next round. Whether it does depends on what else the process
#   holds above it: rustc's fanout under anchor_box paid 47 page faults a
#   round this way (three brk calls) and the model's process, whose heap
#   top Python holds, none (docs/timing.md, "One thread, and the same
#   malloc rules").
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MALLOC_RULES = ((M_MMAP_THRESHOLD, 32 << 20), (M_TRIM_THRESHOLD, 1 << 30))


@dataclass(frozen=True)
class Spec:
    """Everything a worker needs to time one benchmark."""

    label: str
    workload: str
    params: dict
    strategy: str
    allocator: str
    tasks: int
    memory_limit: int
    engine: str = engines.INTERPRETED
    engine_library: str = ""  # compiled: the library the master built (loaded as it is)
    tables: str = ""  # the program's and layout's tables (write_tables); the master fills it in


def _encode(value):
    """json's fallback: a numpy scalar as its number, an array as int64
    bytes (every table the executor reads is int64)."""
    if getattr(value, "ndim", None) == 0:
        return value.item()
    if hasattr(value, "dtype"):
        return {_INT64: base64.b64encode(value.astype("=i8").tobytes()).decode()}
    raise TypeError


def _fields(obj) -> dict:
    """A dataclass's fields that JSON can carry (the program's and layout's
    numbers, names and tables; not the objects only the master uses)."""
    out = {}
    for field in fields(obj):
        if field.name.startswith("_"):  # a cache of the master's, not a fact of the run
            continue
        value = getattr(obj, field.name)
        try:
            json.dumps(value, default=_encode)
        except (TypeError, ValueError):
            continue
        out[field.name] = value
    return out


def write_tables(path, program, layout) -> None:
    """Write what the executor reads of ``program`` and ``layout`` to ``path``."""
    with open(path, "w") as f:
        json.dump({"program": _fields(program), "layout": _fields(layout)}, f, default=_encode)


def _decode(item: dict):
    if item.keys() == {_INT64}:
        return array("q", base64.b64decode(item[_INT64]))
    return item


@lru_cache(maxsize=1)
def read_tables(path: str) -> tuple:
    """(program, layout) as the executor reads them, from :func:`write_tables`'s file."""
    with open(path) as f:
        tables = json.load(f, object_hook=_decode)
    return SimpleNamespace(**tables["program"]), SimpleNamespace(**tables["layout"])


def loaded(spec: Spec) -> tuple:
    """(program, layout, engine or None) of ``spec``, from its tables and library."""
    program, layout = read_tables(spec.tables)
    compiled = engines.load_built(spec.engine_library, program, layout) if spec.engine_library else None
    return program, layout, compiled


def time_runs(loops: int, spec: Spec) -> float:
    """pyperf's time function: seconds for ``loops`` whole runs (setup
    excluded), back to back in C as a native program's rounds are: no
    Python between them reshapes the C library's heap (docs/timing.md, "One
    heap between rounds")."""
    program, layout, compiled = loaded(spec)
    return _executor.run(program, layout, spec.allocator, spec.memory_limit, engine=compiled,
                         rounds=loops)["elapsed_ns"] / 1e9


def runner(specs_path: str | None, mode_settings: dict | None = None):
    """The pyperf.Runner of both sides: the master's (``mode_settings``,
    timing.MODES) and each worker's, which re-enters this module."""
    import pyperf  # deferred: the master loads pyperf only when a run is timed

    runner = pyperf.Runner(
        program_args=("-m", "pinbench.bench.worker"),
        add_cmdline_args=lambda cmd, args: cmd.extend(("--specs", args.specs)),
        **(mode_settings or {}),
    )
    runner.argparser.add_argument("--specs", default=specs_path)
    return runner


def main() -> None:
    """pyperf's worker (and calibration) processes enter here."""
    pyperf_runner = runner(None)
    args = pyperf_runner.parse_args()
    fix_malloc()
    try:
        with open(args.specs) as f:
            specs = [Spec(**s) for s in json.load(f)]
        for spec in specs:  # every benchmark, in order: pyperf picks the worker's one
            pyperf_runner.bench_time_func(spec.label, time_runs, spec, inner_loops=spec.tasks)
    except FileNotFoundError:
        # The run that started this worker was stopped (SIGTERM reaches only
        # the master, which removed its scratch folder: the specs and the
        # tables) and has already said so.
        sys.exit(1)
    # pyperf has written the values into its pipe and closed it. The master
    # reads to the pipe's end, then waits for this process to exit: the
    # interpreter's finalization (every module's) and the master's polling
    # of wait() took 43 ms per worker, 6 s of a 59 s quick run. Nothing is
    # left to write but what the standard streams hold.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


# -- the instruction counter's process (bench/instructions.py runs it under valgrind) ----


@lru_cache(maxsize=None)
def _libc():
    """The C library, found once per process (find_library runs ldconfig)."""
    import ctypes  # deferred: only the processes that run rounds need it
    import ctypes.util

    return ctypes.CDLL(ctypes.util.find_library("c"))


def fix_malloc() -> None:
    """Apply MALLOC_RULES to this process's C library (glibc; elsewhere,
    where there is no mallopt, nothing)."""
    libc = _libc()
    if hasattr(libc, "mallopt"):
        for param, value in MALLOC_RULES:
            libc.mallopt(param, value)


def trim_malloc() -> None:
    """Consolidate glibc's free chunks (malloc_trim(0)) before a job's
    runs, as the native programs do before theirs: what loading the job
    freed (its tables' JSON, the engine's dlopen) otherwise sits in the
    bins, and the job's small blocks are cut from it instead of from the
    top of the heap: fanout ``locals=0`` under ``always_heap:clang=1``
    spent 2,313 instructions of _int_malloc per task in a warm run, 1,017
    after the trim, and clang's program 845 (docs/validation.md, "The
    executors' own allocations"). Nothing where there is no malloc_trim."""
    libc = _libc()
    if hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def _spec_at(index: int) -> Spec | None:
    """Benchmark ``index``'s spec in the scratch folder; None past the last."""
    try:
        with open(SPEC_FILE.format(index)) as f:
            return Spec(**json.load(f))
    except FileNotFoundError:
        return None


def _write_json(name: str, value) -> None:
    """Written whole or not at all: the harness reads it once it exists."""
    with open(name + ".tmp", "w") as f:
        json.dump(value, f)
    os.rename(name + ".tmp", name)


def _count_one(index: int) -> int:
    """In a forked child: count benchmark ``index``; return the exit status."""
    if (spec := _spec_at(index)) is None:
        return NO_MORE_BENCHMARKS
    program, layout, compiled = loaded(spec)
    fix_malloc()
    # Two rounds, the second counted: a steady-state one, like every timed
    # round after pyperf's warm-up and the native programs' later rounds
    # (bench/validate), with the executor's tables kept from the round
    # before and the C library's heap as that round left it.
    counters = _executor.run(program, layout, spec.allocator, spec.memory_limit,
                             count_instructions=True, engine=compiled, rounds=2)
    _write_json(RESULT_FILE.format(index), {"pid": os.getpid(), "checksum": counters["checksum"]})
    return 0


def count_main() -> int:
    """In the scratch folder, under valgrind: fork one child per benchmark
    until there is no spec file for the next index. The parent reads nothing
    between forks, so each child starts from the same state."""
    index = 0
    while True:
        pid = os.fork()
        if pid == 0:
            try:
                status = _count_one(index)
            except BaseException as exc:  # the harness reports it in one line
                print(f"benchmark {index}: {type(exc).__name__}: {exc}", file=sys.stderr)
                status = 1
            sys.stderr.flush()
            os._exit(status)
        status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        if status == NO_MORE_BENCHMARKS:
            return 0
        if status != 0:
            return status
        index += 1


# -- pinbench validate's timing process (bench/validate/model_timing.py runs it) ----


def single_threaded() -> bool | None:
    """Whether this process has only ever had one thread, as glibc's malloc
    sees it (once a second thread has started, every malloc and free takes
    the arena's lock, which the native programs never do); None where the C
    library does not say (not glibc 2.32+)."""
    import ctypes

    try:
        return ctypes.c_char.in_dll(ctypes.CDLL(None), "__libc_single_threaded").value != b"\0"
    except (OSError, ValueError):
        return None


def _time_rounds(index: int, rounds: int) -> int:
    """Run benchmark ``index``'s ``rounds`` rounds back to back in C and
    write their nanoseconds; return 0, or NO_MORE_BENCHMARKS."""
    if (spec := _spec_at(index)) is None:
        return NO_MORE_BENCHMARKS
    program, layout, compiled = loaded(spec)
    trim_malloc()
    round_ns = _executor.run(program, layout, spec.allocator, spec.memory_limit, engine=compiled,
                             rounds=rounds)["round_ns"]
    _write_json(ROUNDS_FILE.format(index), list(round_ns))
    return 0


def rounds_main(rounds: list) -> int:
    """validate's timing process (bench/validate/model_timing.py), in the
    scratch folder: every job's rounds (``rounds[i]`` of job ``i``), one
    job after another, each in a child of a process that imported only this
    module and started no thread. (When a job was only two rounds, of 75 us
    for chain, the child's first writes, which copy pages, moved it by up to
    1.5x; a job now runs until its warm rounds add up to milliseconds,
    validate's ``runs_per_round``.)"""
    if single_threaded() is False:
        print("the model's timing process has started a second thread, so glibc's malloc would take "
              "its locked path, which the native programs do not; time it in a process without threads",
              file=sys.stderr)
        return 1
    fix_malloc()
    for index, count in enumerate(rounds):
        # Each job in a child forked from this small process, so that every
        # job starts from the same heap, as each native case starts from a
        # fresh one (validate's _native_rows). The child's first writes copy
        # pages: its first, cold round pays them, and the minimum drops it.
        child = os.fork()
        if child == 0:
            try:
                status = _time_rounds(index, count)
            except BaseException:  # said on stderr, whose last line model_timing reports
                traceback.print_exc()
                status = 1
            sys.stderr.flush()
            os._exit(status)
        _, wait_status = os.waitpid(child, 0)
        status = os.waitstatus_to_exitcode(wait_status)
        if status != 0:
            return 0 if status == NO_MORE_BENCHMARKS else status
    return 0


if __name__ == "__main__":
    sys.exit(main())
