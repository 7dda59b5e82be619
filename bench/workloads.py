"""The built-in workloads and their parameters: a small declarative registry.

Each :class:`Workload` names where its shape comes from, declares its
:class:`Param` s (typed, with defaults and sane bounds) and builds a
:class:`CompiledProgram` from parsed parameter values::

    workload = get_workload("chain")
    params = workload.parse_params({"depth": "4", "borrow": "10"})
    program = workload.compile(params)

A workload file (see docs/workload-files.md) can stand where a name is:
``get_workload("examples/echo.toml")``.
"""

from __future__ import annotations

import dataclasses
import numbers
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..model.errors import UsageError
from ..model.program import CompiledProgram, Program
from .formatting import parse_int
from .toml_loader import load_program

# A rough ceiling on the frame memory one run may need. Each parameter has
# its own bound, but products of in-range values (ten million tasks of a
# thousand-level chain) could still ask for terabytes.
FRAME_BUDGET_BYTES = 8 << 30
# Estimated per-frame overhead beyond the locals: the 56-byte bottom-up
# header plus one pointer.
_FRAME_OVERHEAD_BYTES = 64

_TRUE_WORDS = ("true", "yes", "on", "1")
_FALSE_WORDS = ("false", "no", "off", "0")


@dataclass(frozen=True)
class Param:
    """One workload parameter.

    ``kind`` is "int" (bounded by ``minimum``..``maximum``), "bool", or
    "str" (whole value matching the regular expression ``pattern``, which
    ``allowed`` describes in words). ``unit`` labels the figures' axes.
    """

    name: str
    kind: str
    default: object
    help: str
    minimum: int | None = None
    maximum: int | None = None
    pattern: str | None = None
    allowed: str | None = None
    unit: str | None = None  # what one unit of it is, for axis labels ("bytes per level")
    scaling: bool = True  # False: not a size to scale against (a rate has its own figure, a seed no meaning)

    def allowed_text(self) -> str:
        """What values are valid, in words (for errors and listings)."""
        if self.kind == "int":
            return f"a whole number from {self.minimum} to {self.maximum}"
        if self.kind == "bool":
            return "true or false"
        return self.allowed

    def allowed_short(self) -> str:
        """The same, as briefly as `pinbench list` shows it: 0..1,000."""
        if self.kind == "int":
            return f"{self.minimum:,}..{self.maximum:,}"
        return "true/false" if self.kind == "bool" else self.allowed

    def parse(self, workload: str, text: str):
        """The typed value of the command-line form ``text``."""
        value = text.strip()
        if self.kind == "int":
            try:
                value = parse_int(value)
            except ValueError:
                raise self.rejected(workload, text) from None
        elif self.kind == "bool":
            if value.lower() not in _TRUE_WORDS + _FALSE_WORDS:
                raise self.rejected(workload, text)
            value = value.lower() in _TRUE_WORDS
        return self.validate(workload, value)

    def validate(self, workload: str, value):
        """``value`` if it has the right type and is in range."""
        if self.kind == "int":
            valid = (
                isinstance(value, numbers.Integral)
                and not isinstance(value, bool)
                and self.minimum <= value <= self.maximum
            )
            value = int(value) if valid else value
        elif self.kind == "bool":
            valid = isinstance(value, bool)
        else:
            valid = isinstance(value, str) and re.fullmatch(self.pattern, value) is not None
        if not valid:
            raise self.rejected(workload, value)
        return value

    def rejected(self, workload: str, value) -> UsageError:
        return UsageError(
            f"workload '{workload}': parameter {self.name}={value!r} is not allowed; "
            f"use {self.allowed_text()}"
        )


@dataclass(frozen=True)
class Workload:
    """A named program shape: ``build`` turns complete, typed parameter
    values into a compiled program; ``check`` (optional) rejects
    combinations of in-range values with a UsageError; ``arrivals``
    (optional) makes it open-loop: it gives each entry task's scheduled
    arrival in ns from the start, and timed runs spawn them then (the report
    then draws latency against offered rate).

    ``quick``: the small parameters of `pinbench run --quick` (CI), the same
    shape at a fraction of the tasks; ``first_run``: the parameters the
    default suite (bench/suite.py) runs it at where its defaults cost too
    much for a run of minutes; ``validation``: the parameter sets
    `pinbench validate` checks by default against native code, and
    ``validation_quick`` the small ones of its --quick (a workload with a
    native counterpart only); `pinbench validate -w NAME` starts from the
    first validation set."""

    name: str
    summary: str
    origin: str
    params: tuple
    build: Callable[[dict], CompiledProgram]
    check: Callable[[dict], None] | None = None
    arrivals: Callable[[dict], np.ndarray] | None = None
    quick: dict = dataclasses.field(default_factory=dict)
    first_run: dict = dataclasses.field(default_factory=dict)
    validation: tuple = ()
    validation_quick: dict = dataclasses.field(default_factory=dict)

    @property
    def open_loop(self) -> bool:
        return self.arrivals is not None

    def param(self, name: str) -> Param:
        """The parameter called ``name``; unknown names are a UsageError."""
        for param in self.params:
            if param.name == name:
                return param
        valid = ", ".join(p.name for p in self.params)
        fix = f"valid parameters: {valid}" if valid else "it takes no parameters"
        raise UsageError(f"workload '{self.name}' has no parameter '{name}'; {fix}")

    def parse_params(self, raw: dict) -> dict:
        """Typed values from command-line strings, defaults filled in."""
        parsed = {name: self.param(name).parse(self.name, text) for name, text in raw.items()}
        return self._complete(parsed)

    def compile(self, params: dict) -> CompiledProgram:
        """The program for typed ``params`` (missing ones take their
        defaults), recording the complete values in its ``params``."""
        checked = {name: self.param(name).validate(self.name, v) for name, v in params.items()}
        values = self._complete(checked)
        return dataclasses.replace(self.build(values), params=values)

    def _complete(self, values: dict) -> dict:
        complete = {p.name: values.get(p.name, p.default) for p in self.params}
        if self.check is not None:
            self.check(complete)
        return complete


def _frame_budget(workload: str, tasks: int, frames: int, locals_bytes: int, knobs: str):
    """Reject parameters whose frames alone would exceed the budget."""
    frame_bytes = -(-locals_bytes // 8) * 8 + _FRAME_OVERHEAD_BYTES
    total = tasks * frames * frame_bytes
    if total > FRAME_BUDGET_BYTES:
        raise UsageError(
            f"workload '{workload}': {tasks} tasks x {frames} frames x ~{frame_bytes} bytes "
            f"is about {total / (1 << 30):.1f} GiB of frames, over the "
            f"{FRAME_BUDGET_BYTES >> 30} GiB sanity limit; lower {knobs}"
        )


# -- parameters shared by several workloads ---------------------------------


def _tasks_param(default: int, help: str = "tasks spawned at tick 0") -> Param:
    return Param("tasks", "int", default, help, minimum=1, maximum=10**7, unit="tasks")


def _locals_param() -> Param:
    return Param("locals", "int", 64, "bytes of locals per level", minimum=0, maximum=65536, unit="bytes per level")


def _depth_param(default: int) -> Param:
    return Param("depth", "int", default, "levels below the top one", minimum=0, maximum=1000,
                 unit="levels below the top")


_BORROW_PARAM = Param(
    "borrow",
    "str",
    "all",
    "which levels borrow their locals across an await, read from the leaf up",
    pattern=r"all|none|[01]+",
    allowed='"all", "none" or a string of 0s and 1s (level 0 first, repeated upward)',
)


# -- chain and fanout ----------------------------------------------------------


def borrow_levels(pattern: str, levels: int) -> list:
    """Which of ``levels`` chain levels borrow, level 0 (the leaf) first:
    "all", "none", or 0/1 digits repeated upward ("10": levels 0, 2, 4...)."""
    if pattern in ("all", "none"):
        return [pattern == "all"] * levels
    return [pattern[level % len(pattern)] == "1" for level in range(levels)]


def _add_chain(program: Program, depth: int, borrow: str, waits: int, locals: int):
    """level_0 .. level_depth: each level wraps a call of the one below in
    work on its locals; the leaf waits on io instead."""
    for level, borrows in enumerate(borrow_levels(borrow, depth + 1)):
        fn = program.fn(f"level_{level}", locals=locals, borrows=borrows)
        if locals:
            fn.work(locals)
        if level == 0:
            for _ in range(waits):
                fn.io(1)
        else:
            fn.call(f"level_{level - 1}")
        if locals:
            fn.work(locals)


def _build_chain(p: dict) -> CompiledProgram:
    program = Program("chain", entry=f"level_{p['depth']}", tasks=p["tasks"])
    _add_chain(program, p["depth"], p["borrow"], p["waits"], p["locals"])
    return program.compile()


def _check_chain(p: dict):
    _frame_budget("chain", p["tasks"], p["depth"] + 1, p["locals"], "tasks, depth or locals")


def _build_fanout(p: dict) -> CompiledProgram:
    program = Program("fanout", entry="root", tasks=p["tasks"])
    program.fn("root").join(*[f"level_{p['depth']}"] * p["k"])
    _add_chain(program, p["depth"], p["borrow"], 1, p["locals"])
    return program.compile()


def _check_fanout(p: dict):
    frames = 1 + p["k"] * (p["depth"] + 1)
    _frame_budget("fanout", p["tasks"], frames, p["locals"], "tasks, k, depth or locals")


# -- tokio's benchmarks and skynet ----------------------------------------------


def _build_spawn_many(p: dict) -> CompiledProgram:
    program = Program("spawn_many", entry="main", tasks=1)
    program.fn("main").spawn("leaf", count=p["tasks"], wait=True)
    program.fn("leaf")
    return program.compile()


def _build_yield_many(p: dict) -> CompiledProgram:
    program = Program("yield_many", entry="main", tasks=p["tasks"])
    main = program.fn("main")
    for _ in range(p["yields"]):
        main.yield_now()
    return program.compile()


def _build_spawn_size(p: dict) -> CompiledProgram:
    program = Program("spawn_size", entry="main", tasks=1)
    program.fn("main").spawn("sized", count=p["tasks"], wait=True)
    program.fn("sized", locals=p["size"]).work(16)
    return program.compile()


def _check_spawn_size(p: dict):
    _frame_budget("spawn_size", p["tasks"], 1, p["size"], "tasks or size")


# The skynet benchmark's scale is 10^6 leaves; ten times that bounds a run.
SKYNET_MAX_LEAVES = 10**7


def _build_skynet(p: dict) -> CompiledProgram:
    # One recursive function: an invocation at rdepth == levels skips the
    # spawn (the back edge's limit), folds no child and returns its
    # argument, its ordinal among the leaves; the sums flow up.
    program = Program("skynet", entry="node", tasks=1)
    program.fn("node").spawn("node", count=p["fanout"], wait=True, limit=p["levels"])
    return program.compile()


def _check_skynet(p: dict):
    leaves = p["fanout"] ** p["levels"]
    if leaves > SKYNET_MAX_LEAVES:
        raise UsageError(
            f"workload 'skynet': fanout={p['fanout']} and levels={p['levels']} make "
            f"{leaves} leaves, over the {SKYNET_MAX_LEAVES} limit; lower fanout or levels"
        )


# -- generators and select --------------------------------------------------------


def _build_generator(p: dict) -> CompiledProgram:
    program = Program("generator", entry="main", tasks=p["tasks"])
    program.fn("main").gen("numbers", p["items"])
    program.fn("numbers", locals=64, borrows=p["borrow"], generator=True).work(8)
    return program.compile()


def _build_select_loop(p: dict) -> CompiledProgram:
    # Even iterations race a 1-tick read against a 2-tick timeout (the read
    # wins), odd ones a 3-tick read (the timeout wins and the read is
    # cancelled mid-io), so both drop paths are exercised.
    program = Program("select_loop", entry="main", tasks=p["tasks"])
    main = program.fn("main", locals=64, borrows=True)
    for i in range(p["iterations"]):
        main.work(8).select("read_fast" if i % 2 == 0 else "read_slow", "timeout")
    program.fn("read_fast", locals=256, borrows=True).work(32).io(1).work(32)
    if p["iterations"] > 1:  # otherwise no odd iteration calls it: unreachable
        program.fn("read_slow", locals=256, borrows=True).work(32).io(3).work(32)
    program.fn("timeout").io(2)
    return program.compile()


def _build_million(p: dict) -> CompiledProgram:
    # Every task starts at tick 0 and sleeps one tick: all are alive at
    # once, holding nothing but what their runtime gives an idle task.
    program = Program("million", entry="main", tasks=p["tasks"])
    program.fn("main").io(1)
    return program.compile()


def _build_server(p: dict) -> CompiledProgram:
    # read (io) -> parse the request while holding a borrow of the buffer
    # across the query's await -> query (io) -> write (io).
    program = Program("server", entry="handle", tasks=p["requests"])
    program.fn("handle", locals=1024, borrows=True).io(1).work(256).call("query").work(64).io(1)
    program.fn("query", locals=128).work(32).io(2).work(32)
    return program.compile()


def _server_arrivals(p: dict) -> np.ndarray:
    """A seeded Poisson process: exponential gaps with mean 1/rate."""
    gaps = np.random.default_rng(p["seed"]).exponential(1e9 / p["rate"], p["requests"])
    return np.cumsum(gaps).astype(np.uint64)


_BUILT_INS = (
    Workload(
        "chain",
        "a task awaits level_depth, which awaits level_depth-1 ... down to "
        "level_0, which waits on io",
        "the nested-async-fn example of the Pin design discussion (docs/workloads.md allocation rules)",
        (
            _depth_param(8),
            _BORROW_PARAM,
            Param("waits", "int", 1, "io waits in the leaf", minimum=0, maximum=1000, unit="io waits"),
            _locals_param(),
            _tasks_param(1000),
        ),
        _build_chain,
        _check_chain,
        quick={"tasks": 100},
        validation=(
            {"borrow": "all"},
            {"borrow": "none"},
            {"borrow": "10"},
            {"borrow": "all", "locals": 0},
            {"borrow": "10", "locals": 0},
        ),
        validation_quick={"depth": 4, "tasks": 20},
    ),
    Workload(
        "fanout",
        "a task joins k children, each a chain of depth+1 levels",
        "futures::join_all over nested async fns",
        (
            Param("k", "int", 8, "children joined by the root", minimum=1, maximum=10000, unit="children joined"),
            _depth_param(2),
            _BORROW_PARAM,
            _locals_param(),
            _tasks_param(1000),
        ),
        _build_fanout,
        _check_fanout,
        quick={"tasks": 50},
        validation=({}, {"locals": 0}),
        validation_quick={"k": 3, "tasks": 10},
    ),
    Workload(
        "spawn_many",
        "one task spawns many trivial tasks and awaits every handle",
        "tokio benches/rt_current_thread.rs spawn_many_local",
        (_tasks_param(10000, "tasks spawned by the root task"),),
        _build_spawn_many,
        quick={"tasks": 1000},
        validation=({},),
        validation_quick={"tasks": 100},
    ),
    Workload(
        "yield_many",
        "tasks that yield_now many times",
        "tokio benches/rt_current_thread.rs yield_many",
        (
            Param("yields", "int", 100, "yield_now calls per task", minimum=0, maximum=10**6, unit="yields per task"),
            _tasks_param(1000),
        ),
        _build_yield_many,
        quick={"tasks": 100},
        validation=({},),
        validation_quick={"yields": 10, "tasks": 20},
    ),
    Workload(
        "spawn_size",
        "one task spawns tasks whose future holds size bytes and awaits them",
        "tokio benches/spawn_size.rs",
        (
            Param("size", "int", 1024, "bytes of locals per spawned task", minimum=16, maximum=65536,
                  unit="bytes of locals per task"),
            _tasks_param(1000, "tasks spawned by the root task"),
        ),
        _build_spawn_size,
        _check_spawn_size,
        quick={"tasks": 100},
        validation=({},),
        validation_quick={"size": 256, "tasks": 20},
    ),
    Workload(
        "skynet",
        "a fanout-ary tree of spawned tasks, levels deep; leaves return their "
        "ordinal and the sums flow up (499999500000 for 10^6 leaves)",
        "the skynet 1M-actor benchmark (github.com/atemerev/skynet)",
        (
            Param("fanout", "int", 10, "children spawned per node", minimum=2, maximum=100, unit="children per node"),
            Param("levels", "int", 6, "levels of spawning below the root", minimum=0, maximum=12, unit="levels"),
        ),
        _build_skynet,
        _check_skynet,
        quick={"levels": 4},
        # 10^4 leaves: the 11,111 fibers of 132 KiB fit in memory (10^6 do
        # not, and are skipped), and the run stays milliseconds long.
        first_run={"levels": 4},
        validation=({},),
        validation_quick={"fanout": 4, "levels": 3},
    ),
    Workload(
        "generator",
        "a for loop over a generator that borrows its locals across its yields (or not)",
        "the Generator/GeneratorMove proposal of the Pin design discussion",
        (
            Param("items", "int", 1000, "items drawn from the generator", minimum=0, maximum=10**7, unit="items"),
            Param("borrow", "bool", True, "whether the generator borrows across yields"),
            _tasks_param(100),
        ),
        _build_generator,
        quick={"tasks": 10},
        validation=({"borrow": True}, {"borrow": False}),
        validation_quick={"items": 20, "tasks": 5},
    ),
    Workload(
        "select_loop",
        "a loop that selects between a read and a timeout, dropping the loser each time",
        "tokio::select! in a loop with a timeout (the loser re-created each iteration)",
        (
            Param("iterations", "int", 1000, "select iterations per task", minimum=1, maximum=10**5,
                  unit="iterations"),
            _tasks_param(100),
        ),
        _build_select_loop,
        quick={"iterations": 100, "tasks": 10},
        # The iterations are unrolled into one function, and rustc's compile
        # time grows about quadratically with a function's awaits (100
        # selects: 9 s, the default 1000: over the 600 s build timeout).
        validation=({"iterations": 100},),
        validation_quick={"iterations": 10, "tasks": 10},
    ),
    Workload(
        "million",
        "tasks that each wait on a timer of their own, then finish: all alive at once",
        "how much memory do a million concurrent tasks need? (pkolaczk.github.io/memory-consumption-of-async)",
        # 10^4 by default: a million fibers of 132 KiB stacks need 126 GiB, and
        # every stack-based strategy at 10^6 takes more than half of 24 GiB;
        # -p tasks=1000000 asks the question itself (docs/workloads.md).
        (_tasks_param(10_000, "tasks spawned at tick 0, each sleeping one tick"),),
        _build_million,
        quick={"tasks": 1000},
    ),
    Workload(
        "server",
        "open-loop request handler: read, parse (borrowing the buffer across an await), "
        "query, write; requests arrive on a seeded Poisson schedule",
        "open-loop load generators (wrk2): latency from the scheduled arrival",
        (
            Param("rate", "int", 100_000, "requests per second offered", minimum=1, maximum=10**8,
                  unit="requests/s", scaling=False),
            Param("requests", "int", 10_000, "requests per run", minimum=1, maximum=10**7, unit="requests"),
            Param("seed", "int", 1, "seed of the arrival schedule", minimum=0, maximum=2**32 - 1, scaling=False),
        ),
        _build_server,
        arrivals=_server_arrivals,
        quick={"requests": 1000},
        validation=({},),
        validation_quick={"requests": 50},
    ),
)

WORKLOADS = {workload.name: workload for workload in _BUILT_INS}


def load_workload_file(path) -> Workload:
    """A workload (without parameters) from a workload file; the file is
    read and checked now, so a bad file fails before any run starts."""
    program = load_program(path)
    return Workload(
        program.name,
        f"the program in workload file {path}",
        str(path),
        (),
        lambda params: program,
    )


def get_workload(name: str) -> Workload:
    """The built-in workload called ``name``, or the workload file at
    ``name`` when it ends in ``.toml``."""
    if name.endswith(".toml"):
        return load_workload_file(name)
    try:
        return WORKLOADS[name]
    except KeyError:
        raise UsageError(
            f"unknown workload '{name}'; known: {', '.join(WORKLOADS)} "
            "(or the path of a .toml workload file)"
        ) from None
