"""Programs more than one test file runs: every step in one program, seeded
random programs, and waiting tasks."""

from __future__ import annotations

import ctypes
import ctypes.util
import random

from pinbench import strategies
from pinbench.bench.runner import execute
from pinbench.bench.workloads import get_workload
from pinbench.cython_core import _executor
from pinbench.model.errors import UsageError
from pinbench.model.program import Program


def mixed_program():
    """Every supported step in one program: recursion through a join and a
    call (back edges with limits), detached and single spawns, io of several
    ticks, yield_now, generators (0 and 3 items), an empty function, and
    borrowing functions without locals (an rc cell of 24 bytes)."""
    p = Program("mixed", tasks=3)
    main = p.fn("main", locals=16, borrows=True)
    main.work(16).join("node", "leafy", "node").spawn("leafy", count=1)
    main.spawn("leafy", count=3, wait=False).yield_now().gen("numbers", 3).gen("numbers", 0)
    main.call("rec").call("empty").work(5)
    p.fn("node", locals=8, borrows=True).work(8).join("node", "leafy", limit=2).io(2).work(3)
    p.fn("leafy", borrows=True).io(1)
    p.fn("numbers", locals=24, borrows=True, generator=True).work(24).work(3)
    p.fn("rec", locals=40).work(40).call("rec", limit=3).yield_now()
    p.fn("empty")
    return p.compile()


def finished_while_queued_program():
    """A task that finishes while it is still in the run queue: the select's
    losing arm ``a`` yields (queuing its task) in the same poll in which the
    winner ``b`` finishes, so the task returns with its id queued. The
    interpreter once freed the entry at once and then polled the freed root
    at the stale entry (a crash), and rustc's executor unwrapped a finished
    slot there (a panic)."""
    p = Program("finished_while_queued", entry="main", tasks=3)
    p.fn("main").select("a", "b")
    p.fn("a").io(2).yield_now().io(5)
    p.fn("b", locals=8).io(2).work(1)
    return p.compile()


def _random(count: int, seed: int, prefix: str, tasks: tuple, functions: tuple, generators: tuple,
            sizes: list, add_step, add_generator) -> list:
    """``count`` seeded random programs: functions f0.. each with up to five
    steps from ``add_step(rng, fn, size, later, earlier, gens)``, which may
    call only later functions except through a limited back edge, then the
    generators (``add_generator(rng, program, name)``). Candidates the
    compiler rejects (an unreachable function, a back edge without a limit,
    select arms that tie or spawn) are skipped, so the list is the same on
    every run."""
    rng = random.Random(seed)
    programs = []
    while len(programs) < count:
        p = Program(f"{prefix}{len(programs)}", tasks=rng.randint(*tasks))
        names = [f"f{i}" for i in range(rng.randint(*functions))]
        gens = [f"g{i}" for i in range(rng.randint(*generators))]
        for i, name in enumerate(names):
            size = rng.choice(sizes)
            fn = p.fn(name, locals=size, borrows=rng.random() < 0.5)
            for _ in range(rng.randint(0, 5)):
                add_step(rng, fn, size, names[i + 1:], names[: i + 1], gens)
        for name in gens:
            add_generator(rng, p, name)
        try:
            programs.append(p.compile())
        except UsageError:
            continue
    return programs


def random_programs(count: int, seed: int = 2024) -> list:
    """Seeded random programs over every step (recursion with limits,
    joins, selects, waiting and detached spawns, generators)."""
    def add_step(rng, fn, size, later, earlier, gens):
        k = rng.random()
        if k < 0.2 and size:
            fn.work(rng.randint(0, size))
        elif k < 0.35 and later:
            fn.call(rng.choice(later))
        elif k < 0.45 and later:
            fn.join(*[rng.choice(later) for _ in range(rng.randint(1, 3))])
        elif k < 0.55 and later:  # rejected unless the arms' durations differ
            fn.select(*rng.sample(later, rng.randint(1, min(3, len(later)))))
        elif k < 0.62:
            fn.io(rng.randint(1, 3))
        elif k < 0.67:
            fn.yield_now()
        elif k < 0.72 and later:
            fn.spawn(rng.choice(later), count=rng.randint(1, 3), wait=rng.random() < 0.7)
        elif k < 0.8 and gens:
            fn.gen(rng.choice(gens), rng.randint(0, 4))
        elif k < 0.88:
            fn.call(rng.choice(earlier), limit=rng.randint(0, 2))
        elif k < 0.94:
            fn.join(rng.choice(earlier), *([rng.choice(later)] if later else []), limit=rng.randint(0, 2))
        else:
            fn.spawn(rng.choice(earlier), count=rng.randint(1, 2), wait=rng.random() < 0.5,
                     limit=rng.randint(0, 2))

    def add_generator(rng, p, name):
        size = rng.choice([1, 8, 30])
        g = p.fn(name, locals=size, borrows=rng.random() < 0.5, generator=True)
        for _ in range(rng.randint(0, 3)):
            g.work(rng.randint(0, size))

    return _random(count, seed, "random", (1, 4), (2, 6), (0, 2), [0, 8, 13, 64], add_step, add_generator)


def random_select_programs(count: int, seed: int) -> list:
    """Seeded random programs with selects (arms of distinct durations,
    dropped while io is pending, nested joins inside arms), recursion with
    limits, spawns, generators and yields."""
    def add_step(rng, fn, size, later, earlier, gens):
        k = rng.random()
        if k < 0.15 and size:
            fn.work(rng.randint(1, size))
        elif k < 0.3 and later:
            fn.select(*rng.sample(later, min(len(later), rng.randint(2, 3))))
        elif k < 0.4 and later:
            fn.call(rng.choice(later))
        elif k < 0.5 and later:
            fn.join(*[rng.choice(later) for _ in range(rng.randint(1, 3))])
        elif k < 0.65:
            fn.io(rng.randint(1, 4))
        elif k < 0.72:
            fn.yield_now()
        elif k < 0.78 and gens:
            fn.gen(rng.choice(gens), rng.randint(0, 3))
        elif k < 0.84 and later:
            fn.spawn(rng.choice(later), count=rng.randint(1, 3), wait=rng.random() < 0.6)
        elif k < 0.92:
            fn.call(rng.choice(earlier), limit=rng.randint(0, 2))
        else:
            fn.join(rng.choice(earlier), *([rng.choice(later)] if later else []), limit=rng.randint(0, 2))

    def add_generator(rng, p, name):
        g = p.fn(name, locals=16, borrows=rng.random() < 0.5, generator=True)
        g.work(rng.randint(0, 16))

    return _random(count, seed, "rsel", (1, 3), (3, 7), (0, 1), [0, 8, 24], add_step, add_generator)


def waiting_tasks(n: int):
    """n entry tasks, each one frame waiting one io tick: all n live at once."""
    p = Program("waiters", tasks=n)
    p.fn("main").io(1)
    return p.compile()


# What a run measures rather than counts: the times, and the process's resident size.
MEASURED = ("elapsed_ns", "round_ns", "rss_start_bytes", "peak_rss_bytes", "latency_ns", "late_ns")


def run_program(program, strategy="pinbox", allocator="system", limit=1 << 62):
    return _executor.run(program, strategies.get(strategy).plan(program), allocator, limit)


def resident_after_trim() -> int:
    """The resident size a run with a small limit starts from (it gives
    freed memory back to the system first)."""
    ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
    return run_program(waiting_tasks(1))["rss_start_bytes"]


def run_workload(workload, strategy, allocator="system", **params):
    """(program, parsed parameters, counts) of a built-in workload's run."""
    wl = get_workload(workload)
    parsed = wl.parse_params({k: str(v) for k, v in params.items()})
    program = wl.compile(parsed)
    return program, parsed, execute(program, strategy, allocator)
