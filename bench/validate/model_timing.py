"""The model's times in a fresh process, as the native programs' are.

A native program runs each case in a new process of its own: its
allocator starts empty, and the case's first run pays the cold start (page
faults, the heap's growth), which the minimum over ``runs`` discards. The
model's cases used to be timed inside ``pinbench validate`` itself, whose
glibc heap holds what Python, numpy and the earlier cases left: for the
boxed strategies half of a run is malloc and free, and their cost depends
on that state (docs/validation.md, "glibc's state").

So each round the model's cases are timed as pyperf's workers and the
instruction counter time and count theirs (bench/worker.py): the jobs'
tables are written to a scratch folder, and one process that imports only
bench/worker.py (no numpy, no model, no thread) takes the native
programs' malloc rules (worker.MALLOC_RULES) and then, job after job, in
a child forked from it (each job from the same heap, as each native case
from a fresh one), loads the job's tables and engine, runs its rounds
back to back in C (nothing from Python between them) and writes their
nanoseconds. Its heap is as small as a native program's.

The process is single-threaded, as the native programs are: glibc's
``malloc`` and ``free`` take a lock-free path only in a process that has
never had a second thread. When this worker unpickled numpy arrays,
numpy's OpenBLAS started a thread pool on import, and the model's boxed
strategies were timed with the locked ``malloc`` (docs/timing.md, "One
thread, and the same malloc rules"); the process now refuses to time if
glibc says it is not single-threaded. The counts are not taken here: they
are deterministic and come from the in-process run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from ...model.errors import UsageError
from ..worker import ROUNDS_FILE, SPEC_FILE, Spec, write_tables


def times(jobs: list, runs: list, memory_limit: int, timeout: float) -> list:
    """Per job ``(program, layout, allocator, engine_path or None)``, the
    elapsed nanoseconds of each of its runs (``runs``: how many, per job),
    the jobs timed one after another in one small process
    (worker.rounds_main)."""
    if not jobs:
        return []
    with tempfile.TemporaryDirectory(prefix="pinbench-model-timing-") as scratch:
        folder = Path(scratch)
        for index, (program, layout, allocator, library) in enumerate(jobs):
            tables = folder / f"tables-{index}.json"
            write_tables(tables, program, layout)
            spec = Spec(f"{program.name}/{layout.strategy}", program.name, {}, layout.strategy, allocator,
                        int(program.tasks), memory_limit, engine_library=str(library or ""), tables=str(tables))
            (folder / SPEC_FILE.format(index)).write_text(json.dumps(asdict(spec)))
        command = [sys.executable, "-c", "import sys; from pinbench.bench.worker import rounds_main; "
                   f"sys.exit(rounds_main({[int(n) for n in runs]!r}))"]
        try:
            done = subprocess.run(command, cwd=folder, capture_output=True, timeout=timeout,
                                  env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        except subprocess.TimeoutExpired:
            raise UsageError(f"the model's timing worker did not finish {len(jobs)} case(s) within "
                             f"{timeout:.0f} s; validate fewer cases or raise --timeout") from None
        if done.returncode != 0:
            last = (done.stderr.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
            raise UsageError(f"the model's timing worker failed: {last}")
        return [json.loads((folder / ROUNDS_FILE.format(index)).read_text()) for index in range(len(jobs))]
