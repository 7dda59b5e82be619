"""How long `pinbench merge` takes on 100 shards of the default suite
(issue 21's target: at most 10 s).

    python tools/merge_speed.py [SHARDS] [--sweep N]

Synthesizes the shard folders a sharded default run would write -- the
default suite (270 benchmarks in 9 cases) split by `shard.select`, each
benchmark with a real counts-only run's metrics and a pyperf.json in the
default mode's shape (3 worker processes x 5 values, 1 warm-up, plus a
calibration run) -- then times the real command, `pinbench merge DIR... -o
OUT`, in a fresh process (start-up included), three times. ``--sweep N``
sweeps the depth parameter (chain's and fanout's) over N values: 2N + 7
cases, so that every shard has some.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyperf

from pinbench.bench import environment, shard, timing
from pinbench.bench.results import write_document, write_pyperf
from pinbench.bench.suite import build_suite, selection_text


def pyperf_benchmark(label: str, rng_seed: int) -> pyperf.Benchmark:
    """pyperf's shape of one timed benchmark in the default mode."""
    mode = timing.MODES["default"]
    value = 1e-6 * (1 + rng_seed % 7 / 10)
    meta = {"name": label, "loops": 1024, "inner_loops": 1000}
    runs = [pyperf.Run([], warmups=[(1, value), (2, value)], metadata={**meta, "loops": 1},
                       collect_metadata=False)]  # calibration
    for p in range(mode["processes"]):
        runs.append(pyperf.Run([value * (1 + 0.01 * ((p + v) % 3)) for v in range(mode["values"])],
                               warmups=[(1024, value)], metadata=meta, collect_metadata=False))
    return pyperf.Benchmark(runs)


def synthesize(root: Path, count: int, params: list | None) -> list:
    suite = build_suite(params=params, suite="full")
    metrics = {"allocs": 1000, "frees": 1000, "bytes_allocated": 952000, "checksum": 11777027756470784796,
               "tasks": 1000, "ns_per_task_mean": 1000.0, "frame_bytes": {"level_0": 120, "level_1": 224}}
    env = environment.collect()
    folders = []
    for k in range(1, count + 1):
        chosen, record = shard.select(suite, (k, count))
        doc = {
            "format": "pinbench-results", "schema_version": 1, "pinbench_version": env["pinbench"],
            "complete": True, "command": ["pinbench", "run", "--shard", f"{k}/{count}"], "mode": "default",
            "timing": True, "instructions": None, "started": "2026-12-02T06:00:00+00:00",
            "finished": "2026-12-02T06:30:00+00:00", "benchmarks_planned": len(chosen), "environment": env,
            "engine": {"engine": "compiled", "engine_compiler": "gcc", "engine_flags": "-O2"},
            "suite": {"name": "full", "selection": selection_text(params=params, suite="full"), "digest": shard.suite_digest(suite),
                      "benchmarks": len(suite)},
            "shard": {**record, "options": {"counts_only": False, "instructions": False, "memory_limit": None}},
            "benchmarks": [{"workload": b.workload, "strategy": b.strategy, "allocator": b.allocator,
                            "params": dict(b.params), "metrics": metrics, "seconds": 4.2, "case": position}
                           for position, b in chosen],
        }
        folder = root / f"shard-{k:03d}"
        folder.mkdir()
        write_document(folder, doc)
        write_pyperf(folder, [pyperf_benchmark(b.label, i) for i, (_, b) in enumerate(chosen)])
        folders.append(folder)
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("shards", nargs="?", type=int, default=100)
    parser.add_argument("--sweep", type=int, default=0, help="sweep depth (chain, fanout) over this many values")
    args = parser.parse_args()
    params = [f"depth={','.join(str(d) for d in range(args.sweep))}"] if args.sweep else None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folders = synthesize(root, args.shards, params)
        benchmarks = sum(len(json.loads((f / "results.json").read_text())["benchmarks"]) for f in folders)
        print(f"{args.shards} shards, {benchmarks} benchmarks")
        for attempt in range(3):
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "pinbench.bench.cli", "merge", *map(str, folders),
                                   "-o", str(root / "merged"), "--force"], capture_output=True, text=True)
            seconds = time.perf_counter() - started
            if done.returncode != 0:
                sys.exit(done.stderr)
            print(f"merge: {seconds:.2f} s ({done.stdout.splitlines()[0]})")


if __name__ == "__main__":
    main()
