"""The memory limit holds against what the process really holds, and the
real footprint is reported beside the model's.

The executor counts its own bookkeeping (task table, io waiters, run queue,
timer wheel, staging buffer) and the allocator's footprint (the chunks of
malloc'd blocks; the pool's and bump's chunks), checks the sum plus the
resident size at the start against the limit, and reads the resident size
as the run grows. These tests pin the counts exactly for a program whose
tables are easy to work out, and check that a run past the limit stops in
one line, freeing everything and keeping finished benchmarks.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pinbench import strategies
from pinbench.bench import runner
from pinbench.model.program import Program
from pinbench.cython_core import _executor

from .helpers import pinbench
from .oracles.rules import glibc_chunk
from .programs import MEASURED, resident_after_trim, run_program, waiting_tasks

ROOT = Path(__file__).resolve().parents[1]
TASK, QITEM, WAITER, BUCKET, IO_ID = 56, 16, 24, 16, 4  # executor structs (bytes)


def capacity(n: int) -> int:
    """The executor's tables start at 64 entries and double."""
    cap = 64
    while cap < n:
        cap *= 2
    return cap


def test_bookkeeping_counts_every_table_exactly():
    _executor.drop_kept_tables()  # a first run: no tables kept from an earlier one
    program = waiting_tasks(1000)
    layout = strategies.get("pinbox").plan(program)
    frame = int(layout.fn_size[0])
    counters = run_program(program)
    cap = capacity(1000)
    wheel = (program.max_io + 1) * BUCKET
    staging = frame + 64
    # every task in the table and the run queue, each waits in the io waiters and one wheel bucket
    assert counters["bookkeeping_peak_bytes"] == staging + wheel + cap * (TASK + QITEM + WAITER + IO_ID)
    metrics = runner.derive_metrics(counters, program, layout)
    assert metrics["bookkeeping_bytes_per_task"] == counters["bookkeeping_peak_bytes"] / 1000


def test_tables_kept_from_the_run_before_are_counted_and_change_no_count():
    """A run leaves its task table, io waiters and run queue for the next
    one (as the native programs keep theirs across a case's rounds): the
    next run holds them from its start, so its bookkeeping peak is the
    same as the first run's (the tables grew to the same capacity), and
    every count is the same."""
    _executor.drop_kept_tables()
    program = waiting_tasks(1000)
    first, second = run_program(program), run_program(program)
    assert second["bookkeeping_peak_bytes"] == first["bookkeeping_peak_bytes"]
    deterministic = {k: v for k, v in first.items() if k not in MEASURED}
    assert {k: second[k] for k in deterministic} == deterministic
    # A smaller program after it holds the kept 1024-entry tables, where a
    # first run grows its own to 64 entries; every count is a first run's.
    small = waiting_tasks(10)
    after = run_program(small)
    _executor.drop_kept_tables()
    fresh = run_program(small)
    assert after["bookkeeping_peak_bytes"] == fresh["bookkeeping_peak_bytes"] + (1024 - 64) * (TASK + QITEM + WAITER)
    assert after["live_blocks_end"] == fresh["live_blocks_end"] == 0
    assert after["checksum"] == fresh["checksum"] and after["allocs"] == fresh["allocs"]


def test_kept_tables_never_make_a_run_refused():
    """Tables a big run left (1.5 MiB for 16,384 tasks) would pass a tight
    limit a small run fits in: the small run starts without them."""
    _executor.drop_kept_tables()
    run_program(waiting_tasks(16384))
    limit = resident_after_trim() + 600_000
    run_program(waiting_tasks(16384))
    counters = run_program(waiting_tasks(1), limit=limit)
    assert counters["live_blocks_end"] == 0
    assert counters["bookkeeping_peak_bytes"] < 600_000


def in_fresh_process(check):
    """Run ``check`` (a function of this module) in a new interpreter: what
    malloc hands out, and the resident size a run starts from, depend on the
    heap the process built before, which a long test session fragments."""
    done = subprocess.run(
        [sys.executable, "-c", f"from tests.test_memory_limit import {check.__name__} as c; c()"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_allocator_footprint_is_its_real_block_sizes():
    in_fresh_process(check_the_allocator_footprint)


def check_the_allocator_footprint():
    program = waiting_tasks(1000)
    frame = int(strategies.get("pinbox").plan(program).fn_size[0])
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc_usable_size.argtypes = [ctypes.c_void_p]
    libc.malloc_usable_size.restype = ctypes.c_size_t
    libc.free.argtypes = [ctypes.c_void_p]
    block = libc.malloc(frame)
    usable = libc.malloc_usable_size(block)
    libc.free(block)
    assert usable >= frame
    # system: each frame's chunk, glibc's rule for the request (the frame plus
    # malloc's 8-byte size word, rounded up to 16, at least 32), which is
    # what a fresh block's usable size plus the size word comes to (a block
    # cut from a free chunk may keep a remainder too small to split off: up
    # to 16 more, unseen); tests/c/test_allocators.c checks the rule
    chunk = glibc_chunk(frame)
    assert chunk <= usable + 8 <= chunk + 16
    system = run_program(program, allocator="system")["allocator_peak_bytes"]
    assert system == 1000 * chunk
    # pool: 1000 blocks of the 16-byte class above the frame fit one 64 KiB chunk (16-byte header)
    assert (65536 - 16) // (-(-frame // 16) * 16) >= 1000
    assert run_program(program, allocator="pool")["allocator_peak_bytes"] == 65536
    # bump: one 1 MiB chunk
    assert run_program(program, allocator="bump")["allocator_peak_bytes"] == 1 << 20


def test_the_peak_resident_size_covers_the_frames():
    # In a fresh process: in this one, memory an earlier test freed would be
    # reused without growing the resident size (it failed so, by test order).
    code = (
        "import json; from tests.programs import run_program, waiting_tasks; "
        "c = run_program(waiting_tasks(200_000), strategy='always_heap'); "
        "print(json.dumps({k: c[k] for k in ('rss_start_bytes', 'peak_rss_bytes', 'peak_live_bytes')}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    counters = json.loads(done.stdout)
    assert counters["rss_start_bytes"] > 0
    grown = counters["peak_rss_bytes"] - counters["rss_start_bytes"]
    # what the run wrote to (frames and tables) became resident
    assert grown >= counters["peak_live_bytes"]


FORKED = """
import json, os
from tests.programs import run_program, waiting_tasks
program = waiting_tasks(10)
parent = run_program(program)["rss_start_bytes"]  # the executor opens its /proc/self files
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    ballast = b"x" * (256 << 20)  # written, so resident: the child's alone
    counters = run_program(program)
    os.write(write, json.dumps([counters["rss_start_bytes"], counters["peak_rss_bytes"]]).encode())
    os._exit(0)
os.waitpid(pid, 0)
child = json.loads(os.read(read, 200))
print(json.dumps({"parent": parent, "child": child, "parent_after": run_program(program)["rss_start_bytes"]}))
"""


def test_a_forked_child_reads_its_own_resident_size():
    """The executor keeps /proc/self files open from run to run; "self" is
    resolved when a file is opened, so a forked child (pinbench run
    --instructions forks one per benchmark) must open its own."""
    done = subprocess.run([sys.executable, "-c", FORKED], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    sizes = json.loads(done.stdout)
    (child_start, child_peak), parent = sizes["child"], sizes["parent"]
    assert child_start >= parent + (200 << 20) and child_peak >= child_start
    assert sizes["parent_after"] < parent + (64 << 20)  # the parent still reads its own


def test_a_run_past_the_limit_stops_with_everything_freed_and_below_the_limit():
    in_fresh_process(check_a_run_past_the_limit)


def check_a_run_past_the_limit():
    p = Program("many", tasks=1)
    p.fn("main").spawn("leaf", count=5_000_000)
    p.fn("leaf").io(1)
    program = p.compile()
    limit = resident_after_trim() + (64 << 20)
    with pytest.raises(_executor.ExecutorError) as caught:
        run_program(program, limit=limit)
    counters = caught.value.counters
    assert caught.value.kind == "memory limit" and counters["memory_over"] == "counted"
    assert counters["live_blocks_end"] == 0 and counters["live_bytes_end"] == 0
    assert counters["allocs"] == counters["frees"] and 0 < counters["tasks"] < 5_000_001
    # what it counted kept the process under the limit
    assert counters["peak_rss_bytes"] <= limit


def test_a_frame_larger_than_the_limit_is_never_allocated():
    p = Program("huge", tasks=1)
    p.fn("main", locals=1 << 20).work(16).io(1)  # used before an await: kept in the frame
    program = p.compile()
    limit = resident_after_trim() + (512 << 10)
    with pytest.raises(_executor.ExecutorError) as caught:
        run_program(program, limit=limit)
    assert caught.value.counters["allocs"] == 0


def test_the_default_limit_leaves_other_programs_their_memory():
    meminfo = dict(line.split(":", 1) for line in open("/proc/meminfo"))
    available = int(meminfo["MemAvailable"].split()[0]) * 1024
    limit = runner.default_memory_limit()
    assert 0 < limit <= runner.physical_memory() // 2 and limit <= available * 3 // 4 + (256 << 20)


def test_a_suite_left_to_pinbench_skips_what_does_not_fit_and_runs_the_rest(tmp_path):
    """Strategies not named (every one): the ten-million-task file does not
    fit under any of them, and is skipped with a note; chain runs; the run
    is complete. Naming both workload and strategy makes it an error
    (the next test)."""
    (tmp_path / "tenm.toml").write_text('[fn.main]\nsteps = [{ spawn = "main", count = 10000000, limit = 10000 }]\n')
    done = pinbench("run", "--counts-only", "-w", "chain,tenm.toml", "-a", "system", "--memory-limit", "0.25",
                    "-o", tmp_path / "out", cwd=tmp_path)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    n = len(strategies.BUILTIN)
    assert [b["workload"] for b in doc["benchmarks"]] == ["chain"] * n and doc["complete"]
    assert [s["benchmark"].split("/")[1] for s in doc["skipped"]] == list(strategies.BUILTIN)
    assert all("needs more than the memory limit of 0.25 GiB" in s["reason"] for s in doc["skipped"])
    assert done.stdout.count("skipped: tenm under ") == n
    shown = pinbench("show", tmp_path / "out", cwd=tmp_path)
    assert f"note: {n} benchmark(s) skipped, as they do not fit: tenm/always_heap/system" in shown.stdout


def test_the_ten_million_task_file_stops_in_one_line_keeping_finished_benchmarks(tmp_path):
    (tmp_path / "tenm.toml").write_text('[fn.main]\nsteps = [{ spawn = "main", count = 10000000, limit = 10000 }]\n')
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {"TMPDIR": str(scratch)}
    done = pinbench("run", "--counts-only", "-w", "chain,tenm.toml", "-s", "pinbox", "-a", "system",
                    "--memory-limit", "0.5", "-o", tmp_path / "out", cwd=tmp_path, env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    (line,) = [text for text in done.stderr.splitlines() if text.startswith("pinbench: error")]  # no progress lines
    assert line.startswith("pinbench: error: tenm under pinbox needs more than the memory limit of 0.50 GiB")
    assert line.endswith("(1 of 2 benchmarks finished; partial results in " + str(tmp_path / "out") + ")")
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [b["workload"] for b in doc["benchmarks"]] == ["chain"] and not doc["complete"]
    assert list(scratch.iterdir()) == []  # no scratch folder left


def test_a_limit_beyond_the_machine_is_refused(tmp_path):
    machine_gib = runner.physical_memory() / 2**30
    done = pinbench("run", "--counts-only", "-w", "chain", "--memory-limit", f"{machine_gib * 2:.0f}", cwd=tmp_path)
    assert done.returncode == 2 and "at most this machine's" in done.stderr and "Traceback" not in done.stderr
