"""The real-footprint figures of docs/footprint.md: how much memory a million
(and ten million) concurrent tasks need under each strategy, and what the
memory limit does with the 10-million-task file.

    python tools/footprint.py            # the table (16 runs, a few minutes, ~5 GiB free needed)
    python tools/footprint.py --limit    # only the --memory-limit 2 run of the 10-million-task file
    python tools/footprint.py --million  # the million workload at 10^6 under every strategy (10 runs)

Each figure is one `pinbench run --counts-only` in a fresh process (so the
peak resident size is that benchmark's alone); the metrics come from its
results.json, the process's peak resident size from the kernel (wait4).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

STRATEGIES = ("always_heap", "anchor_box", "pinbox", "rc")
CASES = [  # (workload, parameters): every task alive at once
    ("spawn_many", ["tasks={n}"]),  # one task spawns n trivial tasks and awaits every handle
    ("chain", ["depth=2", "tasks={n}"]),  # n tasks, each three nested async fns waiting on io
]
TEN_MILLION = '[fn.main]\nsteps = [{ spawn = "main", count = 10000000, limit = 10000 }]\n'


def pinbench(*args) -> tuple:
    """(exit status, stderr, peak resident bytes) of one pinbench command."""
    proc = subprocess.Popen([sys.executable, "-m", "pinbench.bench.cli", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, err, usage.ru_maxrss * 1024


def table() -> None:
    print("| workload | tasks | strategy | frames B/task (peak live) | allocator B/task | executor B/task "
          "| peak RSS | RSS growth B/task |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as scratch:
        for workload, params in CASES:
            for n in (1_000_000, 10_000_000):
                for strategy in STRATEGIES:
                    out = Path(scratch) / f"{workload}-{n}-{strategy}"
                    flags = [arg for p in params for arg in ("-p", p.format(n=n))]
                    code, err, rss = pinbench("run", "--counts-only", "-w", workload, *flags,
                                              "-s", strategy, "-a", "system", "-o", str(out))
                    if code != 0:
                        print(f"| {workload} {' '.join(params).format(n=n)} | | {strategy} | {err.strip()} |")
                        continue
                    m = json.loads((out / "results.json").read_text())["benchmarks"][0]["metrics"]
                    tasks = m["tasks"]
                    growth = (m["peak_rss_bytes"] - m["rss_start_bytes"]) / tasks
                    print(f"| {workload} {' '.join(params).format(n='N')} | {tasks:,} | {strategy} "
                          f"| {m['peak_bytes_per_task']:.1f} | {m['allocator_bytes_per_task']:.1f} "
                          f"| {m['bookkeeping_bytes_per_task']:.1f} | {rss / 2**30:.2f} GiB | {growth:.1f} |",
                          flush=True)


def million() -> None:
    """What a million idle tasks hold under every built-in strategy, each
    in a fresh process: the model's held bytes (blocks and the runtime's
    task objects) beside what this process really needed."""
    from pinbench.strategies import BUILTIN  # the package, installed: only this table needs it

    print("| strategy | held B/task | of which runtime objects | allocator B/task | executor B/task "
          "| peak RSS | RSS growth B/task |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as scratch:
        for strategy in BUILTIN:
            out = Path(scratch) / strategy
            code, err, rss = pinbench("run", "--counts-only", "-w", "million", "-p", "tasks=1000000",
                                      "-s", strategy, "-a", "system", "-o", str(out))
            if code != 0:
                print(f"| {strategy} | {err.strip().splitlines()[-1]} |||||")
                continue
            m = json.loads((out / "results.json").read_text())["benchmarks"][0]["metrics"]
            growth = (m["peak_rss_bytes"] - m["rss_start_bytes"]) / m["tasks"]
            print(f"| {strategy} | {m['held_bytes_per_live_task']:,.0f} | {m['runtime_bytes_per_task']:,.0f} "
                  f"| {m['allocator_bytes_per_task']:,.1f} | {m['bookkeeping_bytes_per_task']:.1f} "
                  f"| {rss / 2**30:.2f} GiB | {growth:,.1f} |", flush=True)


def limit() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "tenm.toml"
        path.write_text(TEN_MILLION)
        code, err, rss = pinbench("run", "--counts-only", "-w", str(path), "--memory-limit", "2",
                                  "-o", str(Path(scratch) / "out"))
        print(f"--memory-limit 2, the 10-million-task file: exit {code}, peak resident {rss / 2**30:.2f} GiB")
        print(err.strip())


if __name__ == "__main__":
    if "--limit" in sys.argv[1:]:
        limit()
    elif "--million" in sys.argv[1:]:
        million()
    else:
        table()
        limit()
