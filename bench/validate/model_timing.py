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
"""

from __future__ import annotations

import json
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
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise UsageError(f"the model's timing worker did not finish {len(jobs)} case(s) within "
                         f"{timeout:.0f} s; validate fewer cases or raise --timeout") from None
    if done.returncode != 0:
        last = (done.stderr.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
        raise UsageError(f"the model's timing worker failed: {last}")
    return json.loads(done.stdout)


def _worker() -> int:
    from ...cython_core import _executor
    from .. import engine as engines

    jobs, runs, memory_limit = pickle.load(sys.stdin.buffer)
    out = []
    for program, layout, allocator, library in jobs:
        engine = engines.load_built(library, program, layout) if library else None
        out.append(list(_executor.run(program, layout, allocator, memory_limit, engine=engine,
                                      rounds=runs)["round_ns"]))
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(_worker())
