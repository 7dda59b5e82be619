"""Instructions of one round of one benchmark (its quick parameters, the
system allocator, the compiled engine), the figures of docs/validation.md's
"The executor's per-task work in instructions". Run it under callgrind with
instrumentation off until the executor's loop switches it on:

    python tools/count_round.py spawn_many pinbox 1          # builds the engine (not counted)
    valgrind --tool=callgrind --instr-atstart=no --collect-atstart=no \\
        --callgrind-out-file=cg.%p python tools/count_round.py spawn_many pinbox 1
    grep totals: cg.*.1          # instructions; divided by the tasks printed

It also prints each round's time (docs/validation.md quotes skynet's).
ROUNDS - 1 uncounted rounds run first, back to back in C with the
counted one: 1 counts a first round (what `pinbench run --instructions`
counted before issue 20), 2 a steady-state one (what it counts now). Further arguments are NAME=VALUE parameters.
Unlike `pinbench run --instructions` the process is not forked per
benchmark, so a count moves by up to a few percent with what the process
did before (docs/comparing.md); compare counts made the same way.
"""

import os
import sys

# Single-threaded, as the counting process of `run --instructions` and the
# native programs are: numpy (imported below) would start OpenBLAS's thread
# pool, after which every glibc malloc and free takes the arena's lock
# (about 13 more instructions per malloc, docs/validation.md).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from pinbench.bench import engine, runner, timing  # noqa: E402
from pinbench.bench.suite import build_suite  # noqa: E402
from pinbench.bench.worker import fix_malloc  # noqa: E402
from pinbench.cython_core import _executor  # noqa: E402

workload, strategy, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
(bench,) = build_suite(workloads=[workload], strategies=[strategy], allocators=["system"],
                       params=sys.argv[4:] or None, suite="quick")
spec = timing.Spec(bench.label, workload, dict(bench.params), strategy, "system", 0,
                   runner.default_memory_limit(), engine.COMPILED)
_, program, layout, compiled = timing.prepare(spec)
fix_malloc()
counters = _executor.run(program, layout, "system", count_instructions=True, engine=compiled, rounds=rounds)
rounds_ms = ", ".join(f"{ns / 1e6:.1f}" for ns in counters["round_ns"])
print(f"{bench.label}: {counters['tasks']} tasks; rounds of {rounds_ms} ms")
