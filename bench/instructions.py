"""Instructions per task: the core's loop counted under valgrind's callgrind.

Time on a shared machine is noisy; an instruction count is not. The same
binary and input execute the same instructions, so a CI gate on them can
see a 1% change and never fires on an A/A comparison (the approach of
iai-callgrind and CodSpeed's instrumented mode).

How a count is made, and why each step:

- One valgrind process runs :func:`worker.count_main`, with instrumentation
  off from the start (``--instr-atstart=no``): interpreter start-up and
  imports run at valgrind's uninstrumented speed and are never counted. It
  is one of bench/worker.py's processes, which import little: this
  process has planned every benchmark and written the executor's tables
  (``timing.with_tables``) and named each engine's library by path.
- For each benchmark that process forks a child, which reads its own spec
  file and tables, loads its engine and runs two rounds back to back in C
  with ``count_instructions=True``: the first uncounted (a warm-up: the
  executor keeps its tables for the next round, and the C library's heap
  holds the freed blocks, as in every timed round after the first and a
  native program's later rounds), the second counted: the executor
  switches instrumentation and collection on around that round's nogil
  loop only, and dumps the counts when it ends
  (``cython_core/_executor.pyx``; docs/timing.md, "One heap between
  rounds").
- Every child starts from the same state (the C library's heap included,
  whose state decides how many instructions ``malloc`` takes): the parent
  reads nothing between forks, runs in the scratch folder with relative
  paths and ``-c`` (so no path of a temporary folder is in its memory), and
  a child reads only its own benchmark's spec and tables, and the interpreter is
  started under one name. So a benchmark's count does not depend on what
  ran before it, on the rest of the suite, on where the scratch folder is or
  on how pinbench was started. It does depend, slightly, on the length of
  the environment's path (about 0.1%, in ``malloc``); compare-branches'
  arms live in paths of equal length.
- The environment is fixed (hash seed, locale, a minimal ``PATH``) and so
  is the simulated cache (``CACHE_GEOMETRY``), so the cycle estimate does
  not depend on which machine's caches valgrind detects.

The cycle estimate is iai-callgrind's: ``L1 hits + 5 x LL hits + 35 x RAM
hits`` over instruction fetches and data reads and writes (see
``estimated_cycles``). Open-loop workloads are counted closed-loop (every
request arrives at once): a count of waiting for the clock would say
nothing about the core.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from ..cython_core import _executor
from ..model.errors import UsageError
from .timing import Spec, with_tables
from .worker import RESULT_FILE, SPEC_FILE

# A fixed cache (size, associativity, line bytes): 32 KiB 8-way L1s and an
# 8 MiB 16-way last level, a typical x86-64 core, the same on every machine.
CACHE_GEOMETRY = ("--I1=32768,8,64", "--D1=32768,8,64", "--LL=8388608,16,64")
VALGRIND_ARGS = (
    "--tool=callgrind",
    "--instr-atstart=no",
    "--collect-atstart=no",
    "--cache-sim=yes",
    *CACHE_GEOMETRY,
)
# iai-callgrind's weights: cycles per L1 hit, last-level hit, memory access.
L1_CYCLES, LL_CYCLES, RAM_CYCLES = 1, 5, 35
TABLES_FILE = "tables-{}.json"  # in the scratch folder: benchmark i's tables (worker.write_tables)


def unavailable_reason() -> str | None:
    """Why instructions cannot be counted here, or None when they can."""
    if shutil.which("valgrind") is None:
        return (
            "--instructions needs valgrind, which is not installed; install it "
            "(Debian/Ubuntu: apt-get install valgrind) or run without --instructions"
        )
    if not _executor.BUILT_WITH.get("callgrind"):
        return (
            "--instructions needs a core built with valgrind's headers (valgrind/callgrind.h), "
            "and this one was built without them; reinstall pinbench now that valgrind is installed"
        )
    return None


def settings() -> dict:
    """How the counts were made, for the results' metadata."""
    version = subprocess.run(["valgrind", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "tool": f"{version} --tool=callgrind",
        "options": list(VALGRIND_ARGS),
        "counted": "the executor's nogil loop only (client requests), one forked process per benchmark",
        "estimated_cycles": f"{L1_CYCLES} x L1 hits + {LL_CYCLES} x LL hits + {RAM_CYCLES} x RAM accesses "
                            "(instruction fetches, data reads and writes)",
    }


def check_available() -> None:
    reason = unavailable_reason()
    if reason:
        raise UsageError(reason)


def estimated_cycles(events: dict) -> int:
    """iai-callgrind's estimate from callgrind's cache-simulation events."""
    accesses = events["Ir"] + events["Dr"] + events["Dw"]
    l1_misses = events["I1mr"] + events["D1mr"] + events["D1mw"]
    ll_misses = events["ILmr"] + events["DLmr"] + events["DLmw"]
    l1_hits = accesses - l1_misses
    ll_hits = l1_misses - ll_misses
    return L1_CYCLES * l1_hits + LL_CYCLES * ll_hits + RAM_CYCLES * ll_misses


def read_callgrind_totals(path: Path) -> dict:
    """The ``events:`` and ``totals:`` lines of a callgrind output file, as a dict."""
    names = totals = None
    with open(path) as f:
        for line in f:
            if line.startswith("events:"):
                names = line.split()[1:]
            elif line.startswith("totals:"):
                totals = [int(v) for v in line.split()[1:]]
    if names is None or totals is None:
        raise UsageError(f"callgrind output {path} has no events/totals lines; the count failed")
    totals += [0] * (len(names) - len(totals))  # callgrind omits trailing zeros
    return dict(zip(names, totals))


def _valgrind() -> str:
    """valgrind as the user's PATH finds it: the counting process's own
    PATH is fixed (below) and would miss one in /usr/local/bin or ~/bin."""
    found = shutil.which("valgrind")
    if found is None:
        check_available()  # says how to install it
    return found


def _fixed_environment() -> dict:
    """What the counting process sees: nothing that differs between machines or shells."""
    return {
        "PATH": os.defpath,
        "PYTHONHASHSEED": "0",
        "LC_ALL": "C",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
    }


def _interpreter() -> str:
    """This Python, under one name however pinbench was started (the
    ``pinbench`` script names ``python3.11``, ``python -m`` names ``python``):
    the name is in the interpreter's memory, and so in the heap state the
    counted loop starts from."""
    canonical = Path(sys.prefix) / "bin" / "python3"
    return str(canonical) if canonical.exists() else sys.executable


class Counter:
    """Counts every benchmark of a run in one valgrind process.

    ``count(specs)`` returns, per spec, ``(metrics, checksum)``: the metrics
    in the registry's names, and the checksum of the counted run (the caller
    checks it is the program it measured). ``progress(done, label)`` is
    called as each benchmark's count arrives.
    """

    def __init__(self, scratch: Path):
        check_available()
        self.scratch = Path(scratch)

    def count(self, specs: list[Spec], progress=None) -> list[dict]:
        out = self.scratch / "instructions"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        for index, spec in enumerate(specs):
            # Named relative to the scratch folder, where the counting process runs.
            tables = TABLES_FILE.format(index)
            spec = with_tables(spec, out / tables, tables)
            (out / SPEC_FILE.format(index)).write_text(json.dumps(asdict(spec)))
        command = [
            _valgrind(), *VALGRIND_ARGS, "--callgrind-out-file=callgrind.%p", "--log-file=valgrind.log",
            _interpreter(), "-c", "import sys; from pinbench.bench.worker import count_main; "
            "sys.exit(count_main())",
        ]
        env = _fixed_environment()
        process = subprocess.Popen(command, cwd=out, env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        reported = 0
        try:
            while process.poll() is None:
                time.sleep(0.2)
                reported = self._report(out, specs, reported, progress)
            stderr = process.stderr.read()
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait()
        self._report(out, specs, reported, progress)
        if process.returncode != 0:
            last = (stderr.strip().splitlines() or ["no message"])[-1]
            raise UsageError(
                f"counting instructions under valgrind failed ({last}); "
                f"see {out / 'valgrind.log'} and run without --instructions meanwhile"
            )
        return [self._metrics(out, i, spec) for i, spec in enumerate(specs)]

    @staticmethod
    def _report(out: Path, specs: list, reported: int, progress) -> int:
        while reported < len(specs) and (out / RESULT_FILE.format(reported)).exists():
            if progress:
                progress(reported + 1, specs[reported].label)
            reported += 1
        return reported

    @staticmethod
    def _metrics(out: Path, index: int, spec: Spec) -> tuple:
        child = json.loads((out / RESULT_FILE.format(index)).read_text())
        events = read_callgrind_totals(out / f"callgrind.{child['pid']}.1")
        metrics = {
            "instructions_per_task": events["Ir"] / spec.tasks,
            "estimated_cycles_per_task": estimated_cycles(events) / spec.tasks,
        }
        return metrics, child["checksum"]
