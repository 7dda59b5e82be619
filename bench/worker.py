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
when the process rebuilt each benchmark, under valgrind's slowdown).
"""

from __future__ import annotations

import base64
import json
import os
import sys
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
NO_MORE_BENCHMARKS = 3
M_MMAP_THRESHOLD = -3  # mallopt's parameter (malloc.h)


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


def fix_mmap_threshold() -> None:
    """glibc raises its mmap threshold as mmapped blocks are freed, so
    whether a large block (a fiber's 132 KiB stack) is mmapped or cut from
    the heap would depend on what the process freed before. Fixed at its
    default (128 KiB), a large block is always mmapped."""
    import ctypes  # deferred: only the counting process needs it
    import ctypes.util

    ctypes.CDLL(ctypes.util.find_library("c")).mallopt(M_MMAP_THRESHOLD, 128 * 1024)


def _count_one(index: int) -> int:
    """In a forked child: count benchmark ``index``; return the exit status."""
    try:
        with open(SPEC_FILE.format(index)) as f:
            spec = Spec(**json.load(f))
    except FileNotFoundError:
        return NO_MORE_BENCHMARKS
    program, layout, compiled = loaded(spec)
    fix_mmap_threshold()
    # Two rounds, the second counted: a steady-state one, like every timed
    # round after pyperf's warm-up and the native programs' later rounds
    # (bench/validate), with the executor's tables kept from the round
    # before and the C library's heap as that round left it.
    counters = _executor.run(program, layout, spec.allocator, spec.memory_limit,
                             count_instructions=True, engine=compiled, rounds=2)
    result = RESULT_FILE.format(index)
    with open(result + ".tmp", "w") as f:
        json.dump({"pid": os.getpid(), "checksum": counters["checksum"]}, f)
    os.rename(result + ".tmp", result)
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


if __name__ == "__main__":
    sys.exit(main())
