"""pyperf's workers (bench/worker.py) time the tables the master wrote.

A worker imports neither numpy nor the model, and the tables it reads run
exactly as the program and layout they were written from: every count, for
every strategy, under both engines.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from pinbench import strategies
from pinbench.bench import engine, worker
from pinbench.bench.runner import default_memory_limit
from pinbench.cython_core import _executor

from .helpers import COUNTERS
from .programs import mixed_program

HEAVY = ("numpy", "pinbench.model.program", "pinbench.model.layout", "pinbench.strategies",
         "pinbench.bench.codegen", "pinbench.bench.workloads")


def test_a_worker_starts_without_numpy_or_the_model():
    code = "import sys, pinbench.bench.worker; print(repr(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = eval(done.stdout)
    assert [name for name in HEAVY if name in loaded] == []
    assert "pinbench.cython_core._executor" in loaded  # what the test looks at is what a worker imports


def counts(program, layout, library=None) -> dict:
    compiled = engine.load_built(library, program, layout) if library else None
    result = _executor.run(program, layout, "system", engine=compiled)
    return {name: result[name] for name in COUNTERS}


@pytest.mark.parametrize("strategy", sorted(strategies.available()))
def test_the_written_tables_count_as_the_program_does(tmp_path, strategy):
    program = mixed_program()
    layout = strategies.get(strategy).plan(program)
    path = tmp_path / "tables"
    worker.write_tables(path, program, layout)
    read_program, read_layout = worker.read_tables(str(path))
    library = str(engine.compiled(program, layout).path)
    expected = counts(program, layout)
    assert expected["tasks"] > 0 and expected["live_blocks_end"] == 0
    assert counts(read_program, read_layout) == expected
    assert counts(read_program, read_layout, library) == expected


def test_the_master_names_tables_and_engine_for_its_workers(tmp_path, timer_factory):
    """The spec a worker reads points at the tables and at the engine the master loaded."""
    timer = timer_factory(tmp_path / "specs.json", "quick")
    spec = worker.Spec("spawn_many/pinbox/system", "spawn_many", {"tasks": 10}, "pinbox", "system", 11,
                       default_memory_limit(), engine.COMPILED)
    timer.time(spec, 0.01)  # a run of 10 ms: one run per value, as the session sizes them
    (written,) = json.loads((tmp_path / "specs.json").read_text())
    assert written["engine_library"].endswith(".so") and written["tables"].startswith(str(tmp_path))
    program, layout = worker.read_tables(written["tables"])
    assert program.params == {"tasks": 10} and layout.strategy == "pinbox"


def test_a_worker_of_a_stopped_run_exits_without_a_traceback(tmp_path):
    """A stopped run removes its scratch folder; a worker it started then finds no tables."""
    spec = worker.Spec("gone", "spawn_many", {}, "pinbox", "system", 1, default_memory_limit(),
                       tables=str(tmp_path / "removed.tables"))
    specs = tmp_path / "specs.json"
    specs.write_text(json.dumps([dataclasses.asdict(spec)]))
    read, write = os.pipe()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pinbench.bench.worker", "--worker", "--pipe", str(write), "--worker-task=0",
             "--values", "1", "--loops", "1", "--warmups", "0", "--specs", str(specs)],
            pass_fds=[write], capture_output=True, text=True, timeout=60)
    finally:
        os.close(read)
        os.close(write)
    assert (done.returncode, done.stderr) == (1, "")


MAPPED = """
import ctypes, ctypes.util, sys
libc = ctypes.CDLL(ctypes.util.find_library("c"))
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]
libc.mallinfo2.restype = Info
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_size_t], [ctypes.c_void_p]

def mapped(size):
    block = libc.malloc(size)
    held = libc.mallinfo2().hblks
    libc.free(block)
    return held - libc.mallinfo2().hblks

before = mapped(8 << 20)
from pinbench.bench.timing import Timer
Timer(sys.argv[1], "quick")
print(before, mapped(8 << 20), mapped(64 << 20))
"""


def test_the_master_counts_under_the_workers_malloc_rules(tmp_path):
    """The counting run's time gives the workers their loops, so the master
    takes their malloc rules when it starts timing: a block below 32 MiB is
    cut from the heap (glibc's default maps one from 128 KiB until it has
    freed a mapping of the size), a larger one mapped."""
    done = subprocess.run([sys.executable, "-c", MAPPED, str(tmp_path / "specs.json")],
                          capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["1", "0", "1"]
