"""Sharding a suite across CI jobs: which benchmarks shard K of N runs.

A *case* is one workload with one set of parameters. Every benchmark of a
case (all its strategies and allocators) lands in the same shard, so the
strategy ratios of a case always come from one machine.

The partition is deterministic: every job computes it from the same suite
and the same costs, and gets the same answer without talking to the others.
Cases are assigned longest first, each to the shard with the least cost so
far (ties: the lower shard, then the earlier case): the classic greedy
"longest processing time" rule, within 4/3 of the best balance.

The cost of a case is what its benchmarks took in a previous run
(``--balance RUN``: each benchmark's ``seconds`` in that run's
results.json), else the number of its benchmarks. The count needs no
earlier run and does well while benchmarks cost about the same (pyperf's
fixed budget per benchmark); a previous run is the better guide when one
case is much bigger than the rest (docs/scaling.md has the figures).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics

from ..model.errors import UsageError
from .formatting import parse_int

# More shards than this is no CI matrix (GitHub allows 256 jobs per matrix).
MAX_SHARDS = 1000


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> ``(2, 4)``: shard K (1-based) of N; ValueError otherwise."""
    k_text, sep, n_text = str(text).partition("/")
    try:
        k, n = parse_int(k_text), parse_int(n_text)
    except ValueError:
        k = n = None
    if not sep or k is None or n is None:
        raise ValueError(f"'{text}' is not K/N; give the shard's number and the count of shards, e.g. 2/4")
    if not 1 <= n <= MAX_SHARDS:
        raise ValueError(f"'{text}': the count of shards must be 1 to {MAX_SHARDS}")
    if not 1 <= k <= n:
        raise ValueError(f"'{text}': the shard must be 1 to {n}")
    return k, n


def shard_argument(text: str) -> tuple[int, int]:
    """argparse type of ``--shard``: a bad K/N is a one-line usage error."""
    try:
        return parse_shard(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def case_key(workload: str, params: dict) -> str:
    """What identifies a case, the same in a suite and in a results file."""
    return json.dumps([workload, sorted(params.items())], separators=(",", ":"), default=str)


def cases(suite: list) -> list:
    """``[(case key, [benchmarks])]`` in suite order."""
    out = {}
    for bench in suite:
        out.setdefault(case_key(bench.workload, bench.params), []).append(bench)
    return list(out.items())


def suite_digest(suite: list) -> str:
    """A fingerprint of the whole suite (every benchmark, in order): shards
    of one sweep have the same one, whatever part of it each ran."""
    return _digest([list(bench.key) for bench in suite])


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, default=str).encode()).hexdigest()[:16]


def costs_from_run(doc) -> dict:
    """``{case key: seconds}`` from a previous run's results document: the
    sum of its benchmarks' wall times. Runs from before pinbench recorded
    them have none: then nothing."""
    out = {}
    for entry in doc.benchmarks:
        seconds = entry.get("seconds")
        if isinstance(seconds, (int, float)) and seconds >= 0:
            key = case_key(entry.get("workload_file") or entry["workload"], entry["params"])
            out[key] = out.get(key, 0.0) + float(seconds)
    return out


def case_costs(grouped: list, known: dict | None = None, per_benchmark: float = 1.0) -> list:
    """The cost of each case of ``grouped`` (:func:`cases`): its seconds in
    ``known`` (:func:`costs_from_run`); a case it lacks (new since that
    run) costs the median seconds per benchmark of the known ones times its
    own benchmarks, or, with none known, ``per_benchmark`` times them."""
    known = known or {}
    per_bench = [known[key] / len(benches) for key, benches in grouped if key in known]
    fallback = statistics.median(per_bench) if per_bench else per_benchmark
    return [known.get(key, fallback * len(benches)) for key, benches in grouped]


def estimated_seconds(suite: list, per_benchmark: float, known: dict | None = None) -> float:
    """How long ``suite`` should take: the sum of its cases' costs
    (:func:`case_costs`), the same estimate the shards are balanced by."""
    return sum(case_costs(cases(suite), known, per_benchmark))


def partition(suite: list, count: int, known: dict | None = None) -> list:
    """The shards of ``suite``: ``count`` lists of case positions (indices
    into :func:`cases`), each in suite order.

    ``known`` maps case keys to seconds (:func:`costs_from_run`); the cost
    of each case is :func:`case_costs`'s. Without ``known`` every benchmark
    costs 1."""
    grouped = cases(suite)
    costs = case_costs(grouped, known)
    loads = [0.0] * count
    shards = [[] for _ in range(count)]
    for position in sorted(range(len(grouped)), key=lambda i: (-costs[i], i)):
        target = min(range(count), key=lambda s: (loads[s], s))
        loads[target] += costs[position]
        shards[target].append(position)
    return [sorted(positions) for positions in shards]


def select(suite: list, shard: tuple[int, int], known: dict | None = None) -> tuple[list, dict]:
    """The benchmarks of shard ``(K, N)`` of ``suite``, in suite order, and
    the record results.json keeps of it (merge checks it). Each benchmark is
    returned with its case's position, which the results keep too."""
    index, count = shard
    grouped = cases(suite)
    positions = partition(suite, count, known)[index - 1]
    chosen = [(position, bench) for position in positions for bench in grouped[position][1]]
    record = {
        "index": index,
        "count": count,
        "cases": len(positions),
        "suite_cases": len(grouped),
        # Shards balanced by different costs do not fit together: merge checks this.
        "balance": f"durations {_digest(sorted(known.items()))}" if known else "benchmarks",
    }
    return chosen, record


def check_balance_run(doc, path) -> dict:
    """The costs of a ``--balance`` run, or a one-line error when it has none."""
    known = costs_from_run(doc)
    if not known:
        raise UsageError(
            f"{path} records no durations per benchmark (a run from an older pinbench?); "
            "give a run this pinbench made, or drop --balance"
        )
    return known


def apply(suite: list, shard: tuple[int, int] | None, balance=None) -> tuple[list, dict | None]:
    """What a run with ``--shard``/``--balance`` runs: ``[(case position or
    None, benchmark)]`` and the shard record (None when not sharded)."""
    if shard is None:
        if balance:
            raise UsageError("--balance only balances shards; give --shard K/N too")
        return [(None, bench) for bench in suite], None
    return select(suite, shard, known_costs(balance))


def known_costs(balance) -> dict | None:
    """The case costs of the ``--balance`` run folder ``balance`` (None: none)."""
    if not balance:
        return None
    from .results import RunDocument  # a one-line error for a bad folder

    return check_balance_run(RunDocument.read(balance), balance)
