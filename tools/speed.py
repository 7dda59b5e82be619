"""The core's speed figures quoted in the issues and docs (issue 2's targets).

    python tools/speed.py

Times are the executor's own clock around the nogil loop (setup excluded),
the minimum of a few runs: a quick look at the core, not a pyperf benchmark
(use `pinbench run` for those).
"""

from pinbench import strategies
from pinbench.bench.workloads import get_workload
from pinbench.cython_core import _executor


def best(name, params, strategy, allocator="system", runs=5):
    workload = get_workload(name)
    program = workload.compile(workload.parse_params(params))
    layout = strategies.get(strategy).plan(program)
    results = [_executor.run(program, layout, allocator) for _ in range(runs)]
    return min(r["elapsed_ns"] for r in results), results[0]


for strategy in ("always_heap", "anchor_box", "pinbox", "rc"):
    ns, r = best("chain", {"depth": "8", "tasks": "100000"}, strategy)
    bare, _ = best("chain", {"depth": "8", "tasks": "100000", "locals": "0"}, strategy)
    print(f"chain depth=8 tasks=1e5 {strategy:12s} {ns / r['tasks']:7.0f} ns/task "
          f"(locals=0: {bare / r['tasks']:5.0f})  allocs/task {r['allocs'] / r['tasks']:.0f}")
for allocator in ("system", "pool", "bump"):
    ns, r = best("skynet", {}, "pinbox", allocator, runs=3)
    print(f"skynet 1e6 leaves pinbox/{allocator}: {ns / 1e9:.3f} s, checksum {r['checksum']}")
