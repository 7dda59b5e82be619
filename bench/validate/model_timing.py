"""The model's times in a fresh process, as the native programs' are.

A native program runs every case of its build in one new process: its
allocator starts empty, and the case's first run pays the cold start (page
faults, the heap's growth), which the minimum over ``runs`` discards. The
model's cases used to be timed inside ``pinbench validate`` itself, whose
glibc heap holds what Python, numpy and the earlier cases left: for the
boxed strategies half of a run is malloc and free, and their cost depends
on that state (docs/validation.md, "glibc's state").

So each round the model's cases are timed the same way: one worker process
(``python -m pinbench.bench.validate.model_timing``) is given every
(program, layout, engine) of the round, in the order the counts were
taken, runs each ``runs`` times back to back in C (as the native program
runs its rounds: nothing from Python between them) and prints the elapsed
nanoseconds. Both
sides then start fresh, hold only their runtime's own startup allocations
(the interpreter's objects live mostly in pymalloc's arenas, not in glibc's
heap), run the cases one after another in one process, and keep the least
disturbed run. The counts are not taken here: they are deterministic and
come from the in-process run.

The worker is also single-threaded, as the native programs are. glibc's
``malloc`` and ``free`` take a lock-free path only in a process that has
never started a second thread (``__libc_single_threaded``); once one has,
every call takes the arena's lock, atomic instructions included. The
worker unpickles the cases' numpy arrays, and numpy's OpenBLAS starts its
thread pool on import, so the model's boxed strategies were timed with
locked ``malloc`` against natives that never lock. ``OPENBLAS_NUM_THREADS=1``
keeps the pool from starting (it is only used for linear algebra, which
the worker does not do), and the worker refuses to time in a process that
is not single-threaded where glibc can say so.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

from ...model.errors import UsageError


def times(jobs: list, runs: int, memory_limit: int, timeout: float) -> list:
    """Per job ``(program, layout, allocator, engine_path or None)``, the
    elapsed nanoseconds of each of its ``runs`` runs, timed in one fresh
    worker process."""
    if not jobs:
        return []
    payload = pickle.dumps((jobs, runs, memory_limit), protocol=pickle.HIGHEST_PROTOCOL)
    try:
        done = subprocess.run([sys.executable, "-m", __name__], input=payload, capture_output=True,
                              timeout=timeout, env={**os.environ, **SINGLE_THREADED})
    except subprocess.TimeoutExpired:
        raise UsageError(f"the model's timing worker did not finish {len(jobs)} case(s) within "
                         f"{timeout:.0f} s; validate fewer cases or raise --timeout") from None
    if done.returncode != 0:
        last = (done.stderr.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
        raise UsageError(f"the model's timing worker failed: {last}")
    return json.loads(done.stdout)


# What keeps the libraries the worker imports from starting threads (numpy's
# OpenBLAS starts its pool on import otherwise).
SINGLE_THREADED = {"OPENBLAS_NUM_THREADS": "1"}


def single_threaded() -> bool | None:
    """Whether this process has only ever had one thread, as glibc's malloc
    sees it; None where the C library does not say (not glibc 2.32+)."""
    import ctypes

    try:
        return ctypes.c_char.in_dll(ctypes.CDLL(None), "__libc_single_threaded").value != b"\0"
    except (OSError, ValueError):
        return None


def _worker() -> int:
    from ...cython_core import _executor
    from .. import engine as engines

    jobs, runs, memory_limit = pickle.load(sys.stdin.buffer)
    if single_threaded() is False:
        print("the model's timing worker started a second thread, so glibc's malloc takes its "
              "locked path, which the native programs do not; set OPENBLAS_NUM_THREADS=1 "
              "(or whatever started it) for this process", file=sys.stderr)
        return 1
    out = []
    for program, layout, allocator, library in jobs:
        engine = engines.load_built(library, program, layout) if library else None
        out.append(list(_executor.run(program, layout, allocator, memory_limit, engine=engine,
                                      rounds=runs)["round_ns"]))
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(_worker())
