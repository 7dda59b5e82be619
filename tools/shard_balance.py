"""How evenly `--shard K/N` splits a suite: each shard's seconds, taken from
the benchmarks' recorded wall times (``"seconds"`` in results.json).

    python tools/shard_balance.py RUN N              # predicted: RUN's times, both ways of balancing
    python tools/shard_balance.py SHARD-1 ... SHARD-N   # measured: shard folders as they ran

Predicted, each shard's load is what its cases took in RUN, once when the
cases are balanced by their number of benchmarks and once when balanced by
RUN's own times (``--balance RUN``: optimistic, the times it balances on are
the ones it is judged by; run the shards for the real figure). Prints the
slowest shard against the mean (issue 21's target: at most 30% above it).
"""

from __future__ import annotations

import sys

from pinbench.bench import shard
from pinbench.bench.results import read_results
from pinbench.bench.runner import Benchmark


def summary(loads: list) -> str:
    mean = sum(loads) / len(loads)
    shown = ", ".join(f"{load:.1f}" for load in loads)
    return f"shards {shown} s; slowest {max(loads) / mean - 1:+.0%} against the mean {mean:.1f} s"


def predicted(folder: str, count: int) -> None:
    doc = read_results(folder)
    suite = [Benchmark(e.get("workload_file") or e["workload"], e["strategy"], e["allocator"], e["params"])
             for e in doc["benchmarks"]]
    costs = shard.costs_from_run(doc)
    cases = shard.cases(suite)
    for how, known in (("by benchmarks", None), ("by durations", costs)):
        parts = shard.partition(suite, count, known)
        print(f"{how:14s} {summary([sum(costs[cases[p][0]] for p in part) for part in parts])}")


def measured(folders: list) -> None:
    loads = [sum(e.get("seconds", 0.0) for e in read_results(folder)["benchmarks"]) for folder in folders]
    print(f"measured       {summary(loads)}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[2].isdigit():
        predicted(sys.argv[1], int(sys.argv[2]))
    else:
        measured(sys.argv[1:])
