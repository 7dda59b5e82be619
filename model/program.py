"""Workload programs: the builder API and the compiler to flat arrays.

Build a program with :class:`Program` and its chainable :class:`FnBuilder`
steps, then :meth:`Program.compile` it::

    p = Program("demo", tasks=10)
    p.fn("main", locals=64, borrows=True).work(64).call("leaf").work(64)
    p.fn("leaf").io(2)
    compiled = p.compile()

``compile()`` checks every static rule of ``docs/model.md`` and raises a
one-line :class:`UsageError` naming the function, the step (numbered from 1)
and the fix. The result, :class:`CompiledProgram`, is flat numpy int64 arrays
that the strategies and the Cython executor read without touching Python
objects.
"""

from __future__ import annotations

import functools

import numbers
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .errors import UsageError

OP_WORK, OP_CALL, OP_JOIN, OP_SELECT, OP_IO, OP_YIELD, OP_SPAWN, OP_GEN = range(8)
OP_NAMES = ("work", "call", "join", "select", "io", "yield_now", "spawn", "gen")

# Sanity limits, far above every built-in workload's range: they exist so a
# typo in a workload file cannot ask for terabytes of frames, a timer wheel of
# a billion slots or a run that never ends.
MAX_TASKS = 10**7
MAX_LOCALS = 1 << 20
MAX_IO_TICKS = 10**6
MAX_SPAWN_COUNT = 10**7
MAX_GEN_ITEMS = 10**8
MAX_RECURSION_LIMIT = 10_000
MAX_NAME = 100  # characters of a workload or function name (it names files, axes, table rows)

# Steps that always await their children. A spawn awaits them only with
# wait, and gen runs its generator synchronously, in no ticks.
_AWAITING_OPS = (OP_CALL, OP_JOIN, OP_SELECT)


class _Step(NamedTuple):
    """One step as the user wrote it; compile() validates the values. A
    tuple, because bodies can have a million steps."""

    op: int
    callees: tuple = ()
    arg: object = 0  # work n, io k, spawn count, gen n
    wait: object = False
    limit: object = None
    boxed: tuple = ()  # per callee: the source boxes it (Box::pin), so every heap strategy does


_YIELD_STEP = _Step(OP_YIELD)  # immutable, so every yield_now can share it


class FnBuilder:
    """One function of a :class:`Program`; every step method returns the
    builder so a body reads as one chain. A callee is a function name or
    the FnBuilder itself; names may refer to functions defined later."""

    def __init__(self, name, locals, borrows, generator, native=None):
        self.name = name
        self.locals = locals
        self.borrows = borrows
        self.generator = generator
        self.native = native  # a model.rust_frame.RustFrame: rustc's own layout (imported programs)
        self.steps: list[_Step] = []

    def _add(self, step: _Step) -> FnBuilder:
        self.steps.append(step)
        return self

    def work(self, n) -> FnBuilder:
        """Read-modify-write the first ``n`` bytes of the locals."""
        return self._add(_Step(OP_WORK, arg=n))

    def call(self, f, limit=None, boxed=False) -> FnBuilder:
        """Await one invocation of ``f``; ``limit`` bounds a recursive edge;
        ``boxed``: the source boxes the child (``Box::pin``)."""
        return self._add(_Step(OP_CALL, (f,), limit=limit, boxed=(boxed,)))

    def join(self, *fs, limit=None, boxed=()) -> FnBuilder:
        """Await all of ``fs`` concurrently; ``limit`` applies to those
        callees whose edge is recursive (a back edge); ``boxed``: per callee,
        whether the source boxes it."""
        return self._add(_Step(OP_JOIN, fs, limit=limit, boxed=tuple(boxed)))

    def select(self, *fs, boxed=()) -> FnBuilder:
        """Await the first of ``fs`` to finish and cancel the others."""
        return self._add(_Step(OP_SELECT, fs, boxed=tuple(boxed)))

    def io(self, k=1) -> FnBuilder:
        """Wait ``k`` ticks for the reactor."""
        return self._add(_Step(OP_IO, arg=k))

    def yield_now(self) -> FnBuilder:
        """Be pending once and re-queue at the back of the run queue."""
        return self._add(_YIELD_STEP)

    def spawn(self, f, count=1, wait=True, limit=None) -> FnBuilder:
        """Spawn ``count`` tasks running ``f``; await them all if ``wait``."""
        return self._add(_Step(OP_SPAWN, (f,), arg=count, wait=wait, limit=limit))

    def gen(self, f, n) -> FnBuilder:
        """Run a for loop over ``n`` items of the generator ``f``."""
        return self._add(_Step(OP_GEN, (f,), arg=n))


class Program:
    """A workload program under construction: functions in definition order,
    an entry (default: the first function) and the number of entry tasks."""

    def __init__(self, name, entry=None, tasks=1):
        self.name = name
        self.entry = entry
        self.tasks = tasks
        self.functions: list[FnBuilder] = []

    def fn(self, name, locals=0, borrows=False, generator=False, native=None) -> FnBuilder:
        """Define a function and return its builder; ``native`` is rustc's
        layout of it (a ``RustFrame``, for programs imported from rustc)."""
        builder = FnBuilder(name, locals, borrows, generator, native)
        self.functions.append(builder)
        return builder

    def compile(self) -> CompiledProgram:
        """Check every rule of docs/model.md and return the flat form."""
        return _Compiler(self).compile()


@dataclass(frozen=True, eq=False)
class CompiledProgram:
    """A validated program as contiguous int64 arrays (treat them as
    read-only). Functions are indexed in definition order, steps are all
    functions' bodies concatenated, edges are the callee references in step
    order (one per callee of a join/select, one for call/spawn/gen)."""

    name: str
    fn_names: tuple
    entry: int
    tasks: int
    fn_locals: np.ndarray
    fn_borrows: np.ndarray
    fn_generator: np.ndarray
    fn_step_start: np.ndarray
    fn_step_count: np.ndarray
    # Functions in the finishing order of the depth-first walk: each comes
    # after every function it reaches through non-back edges, which is the
    # order to compute anything bottom-up (frame sizes, durations).
    fn_postorder: np.ndarray
    step_op: np.ndarray
    step_arg: np.ndarray
    step_wait: np.ndarray
    step_edge_start: np.ndarray
    step_edge_count: np.ndarray
    edge_callee: np.ndarray
    edge_back: np.ndarray
    edge_limit: np.ndarray
    max_io: int
    # Edges whose child the source itself boxes (Box::pin in an imported
    # crate): every heap strategy boxes them, as it boxes back edges.
    edge_pinned: np.ndarray = None
    # Per function, rustc's own layout (model/rust_frame.py) or None; all
    # None for programs that were not imported from rustc.
    fn_native: tuple = None
    params: dict = field(default_factory=dict)
    _duration_rows: list = field(default_factory=list, init=False, repr=False)

    @functools.cached_property
    def view(self):
        """The program as functions, steps and edges (model/program_view.py)."""
        from .program_view import ProgramView  # that module reads this one's step codes

        return ProgramView.of(self)

    @functools.cached_property
    def edge_op(self) -> np.ndarray:
        """The step code of each edge's step (edges are in step order)."""
        return np.repeat(self.step_op, self.step_edge_count)

    @functools.cached_property
    def edge_fn(self) -> np.ndarray:
        """The function each edge's step belongs to."""
        step_fn = np.repeat(np.arange(len(self.fn_names)), self.fn_step_count)
        return step_fn[np.repeat(np.arange(len(self.step_op)), self.step_edge_count)]

    @functools.cached_property
    def edge_taken(self) -> np.ndarray:
        """Whether an edge can be taken: a back edge with limit 0 never is."""
        return ~(self.edge_back.astype(bool) & (self.edge_limit <= 0))

    @functools.cached_property
    def fn_scc(self) -> np.ndarray:
        """The strongly connected component of every function in the call
        graph of the edges that can be taken (Tarjan's, iteratively): two
        functions share one exactly when each can reach the other."""
        n = len(self.fn_names)
        succ = [[] for _ in range(n)]
        for e in np.flatnonzero(self.edge_taken):
            succ[int(self.edge_fn[e])].append(int(self.edge_callee[e]))
        index, low, comp = [-1] * n, [0] * n, [-1] * n
        stack, on_stack, counter, components = [], [False] * n, 0, 0
        for root in range(n):
            if index[root] >= 0:
                continue
            work = [(root, 0)]
            while work:
                v, i = work.pop()
                if i == 0:
                    index[v] = low[v] = counter
                    counter += 1
                    stack.append(v)
                    on_stack[v] = True
                if i < len(succ[v]):
                    work.append((v, i + 1))
                    w = succ[v][i]
                    if index[w] < 0:
                        work.append((w, 0))
                    elif on_stack[w]:
                        low[v] = min(low[v], index[w])
                    continue
                if low[v] == index[v]:
                    while True:
                        w = stack.pop()
                        on_stack[w] = False
                        comp[w] = components
                        if w == v:
                            break
                    components += 1
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[v])
        return np.array(comp, dtype=np.int64)

    def fn_index(self, name: str) -> int:
        """Index of the function called ``name`` (KeyError if none)."""
        try:
            return self.fn_names.index(name)
        except ValueError:
            raise KeyError(name) from None

    def duration(self, fn_index: int, rdepth: int = 0) -> int:
        """Ticks an invocation of function ``fn_index`` at recursion depth
        ``rdepth`` takes, by the rules of "Durations" in docs/model.md."""
        if not 0 <= fn_index < len(self.fn_names):
            raise IndexError(f"no function {fn_index} in '{self.name}'")
        if rdepth < 0:
            raise ValueError(f"rdepth must be >= 0, not {rdepth}")
        if not self._duration_rows:
            walk = _Walk(self)
            self._duration_rows.extend(walk.table(walk.duration))
        # At or beyond the largest limit no back edge is taken any more, so
        # every deeper invocation behaves like one at that depth.
        rows = self._duration_rows
        return rows[min(rdepth, len(rows) - 1)][fn_index]

    def invocations_callees_first(self) -> list:
        """(function, rdepth) of every invocation the entry reaches, each
        after the invocations it constructs: the deepest rdepth first (a
        back edge leads one deeper), within one the view's callees first."""
        walk = _Walk(self)
        reached = walk.reached_rdepths(self.entry)
        order = self.view.callees_first()
        return [(f, r) for r in range(walk.max_limit, -1, -1) for f in order if r in reached[f]]

    def describe(self) -> str:
        """A readable listing: one line per function and per run of
        identical consecutive steps (numbered from 1, as in errors)."""
        lines = [
            f"workload '{self.name}': entry {self.fn_names[self.entry]}, "
            f"{self.tasks} task{'s' if self.tasks != 1 else ''}, max io {self.max_io}"
        ]
        for f, name in enumerate(self.fn_names):
            traits = [f"locals {int(self.fn_locals[f])}"]
            if self.fn_borrows[f]:
                traits.append("borrows")
            if self.fn_generator[f]:
                traits.insert(0, "generator")
            lines.append(f"fn {name} ({', '.join(traits)}):")
            start, count = int(self.fn_step_start[f]), int(self.fn_step_count[f])
            texts = [self.step_text(s) for s in range(start, start + count)]
            i = 0
            while i < len(texts):
                run = 1
                while i + run < len(texts) and texts[i + run] == texts[i]:
                    run += 1
                number = f"{i + 1}" if run == 1 else f"{i + 1}-{i + run}"
                repeat = "" if run == 1 else f" x {run}"
                lines.append(f"  {number:>7}  {texts[i]}{repeat}")
                i += run
            if count == 0:
                lines.append("           (empty body)")
        return "\n".join(lines)

    def step_text(self, step: int) -> str:
        """One step in builder notation, e.g. ``call('a', limit=3)``."""
        first = int(self.step_edge_start[step])
        edges = range(first, first + int(self.step_edge_count[step]))
        limits = [int(self.edge_limit[e]) for e in edges if self.edge_back[e]]
        return _step_text(
            int(self.step_op[step]),
            [self.fn_names[int(self.edge_callee[e])] for e in edges],
            int(self.step_arg[step]),
            bool(self.step_wait[step]),
            limits[0] if limits else None,
        )


def view_step_text(step, names) -> str:
    """A step of the program's view (model/program_view.py) in builder
    notation; ``names`` are the functions' names."""
    limits = [e.limit for e in step.edges if e.back]
    return _step_text(step.op, [names[e.callee] for e in step.edges], step.arg, step.wait,
                      limits[0] if limits else None)


def _step_text(op, callee_names, arg, wait, limit) -> str:
    names = ", ".join(repr(name) for name in callee_names)
    limit_text = "" if limit is None else f", limit={limit!r}"
    if op in (OP_WORK, OP_IO):
        return f"{OP_NAMES[op]}({arg!r})"
    if op == OP_YIELD:
        return "yield_now()"
    if op == OP_SPAWN:
        return f"spawn({names}, count={arg!r}, wait={wait!r}{limit_text})"
    if op == OP_GEN:
        return f"gen({names}, {arg!r})"
    return f"{OP_NAMES[op]}({names}{limit_text})"


def _shown(name) -> str:
    """A name as an error message quotes it: cut short when it is long."""
    if isinstance(name, str) and len(name) > 40:
        return repr(name[:40] + "...") + f" ({len(name):,} characters)"
    return repr(name)


def _whole(value, low, high):
    """``value`` as an int if it is a whole number in [low, high], else None
    (bools are rejected: ``True`` as a count is always a mistake)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        return None
    value = int(value)
    return value if low <= value <= high else None


def _is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_))


def _callee_name(callee):
    return callee.name if isinstance(callee, FnBuilder) else callee


class _Compiler:
    """One compile() run: validates in dependency order (names before
    edges, edges before the walk, the walk before durations) so every check
    can rely on the ones before it."""

    def __init__(self, program: Program):
        self.program = program
        self.label = program.name

    def fail(self, message: str) -> UsageError:
        return UsageError(f"workload '{self.label}': {message}")

    def compile(self) -> CompiledProgram:
        self.check_program()
        self.resolve_names()
        self.check_functions()
        self.check_steps()
        self.walk()
        self.check_limits()
        compiled = self.build()
        self.check_selects(compiled)
        return compiled

    # -- names and values -------------------------------------------------

    def check_program(self):
        p = self.program
        if not isinstance(p.name, str) or not p.name or not p.name.isprintable() or len(p.name) > MAX_NAME:
            raise UsageError(
                f"workload name {_shown(p.name)} is not valid; use a non-empty one-line name of at most "
                f"{MAX_NAME} characters"
            )
        self.tasks = _whole(p.tasks, 1, MAX_TASKS)
        if self.tasks is None:
            raise self.fail(f"tasks={p.tasks!r} must be a whole number from 1 to {MAX_TASKS}")
        if not p.functions:
            raise self.fail("no functions are defined; define at least the entry function")

    def resolve_names(self):
        self.index = {}
        for f in self.program.functions:
            name = f.name
            if not (isinstance(name, str) and name.isidentifier() and name.isascii() and len(name) <= MAX_NAME):
                raise self.fail(
                    f"function name {_shown(name)} is not valid; use ASCII letters, "
                    f"digits and _, not starting with a digit, at most {MAX_NAME} characters"
                )
            if name in self.index:
                raise self.fail(f"function '{name}' is defined twice; rename or remove one")
            self.index[name] = len(self.index)
        entry = self.program.entry
        if entry is None:
            self.entry = 0
        else:
            entry_name = _callee_name(entry)
            if not isinstance(entry_name, str) or entry_name not in self.index:
                raise self.fail(
                    f"the entry {entry_name!r} is not defined; define it or fix the name"
                )
            self.entry = self.index[entry_name]

    def check_functions(self):
        for f in self.program.functions:
            where = f"function '{f.name}'"
            if _whole(f.locals, 0, MAX_LOCALS) is None:
                raise self.fail(
                    f"{where}: locals={f.locals!r} must be a whole number of bytes "
                    f"from 0 to {MAX_LOCALS}"
                )
            if not _is_bool(f.borrows):
                raise self.fail(f"{where}: borrows={f.borrows!r} must be true or false")
            if not _is_bool(f.generator):
                raise self.fail(f"{where}: generator={f.generator!r} must be true or false")
        entry = self.program.functions[self.entry]
        if entry.generator:
            raise self.fail(
                f"the entry '{entry.name}' is a generator, which only gen can run; "
                "make the entry a normal function"
            )

    def where(self, f: FnBuilder, number: int, step: _Step) -> str:
        names = [_callee_name(c) for c in step.callees]
        text = _step_text(step.op, names, step.arg, step.wait, step.limit)
        return f"function '{f.name}' step {number} {text}"

    def check_steps(self):
        """Values, callees and the generator rules of every step; collects
        the edges (callee index of each callee reference) for the walk."""
        self.edges: list[list[int]] = []  # per function
        for f in self.program.functions:
            callees = []
            for number, step in enumerate(f.steps, start=1):
                # The location text is built only on failure: bodies can
                # have a million steps.
                problem = self.step_problem(f, step)
                if problem is None:
                    for callee in step.callees:
                        problem = self.callee_problem(step, callee)
                        if problem:
                            break
                        callees.append(self.index[_callee_name(callee)])
                if problem:
                    raise self.fail(f"{self.where(f, number, step)}: {problem}")
            self.edges.append(callees)

    def step_problem(self, f: FnBuilder, step: _Step):
        """What is wrong with the step's own values, or None."""
        op = step.op
        if f.generator and op != OP_WORK:
            return (
                f"generator '{f.name}' may contain only work steps; "
                "move this step into a normal function"
            )
        if op == OP_WORK and _whole(step.arg, 0, int(f.locals)) is None:
            return (
                "the byte count must be a whole number from 0 to the "
                f"function's locals ({f.locals})"
            )
        if op == OP_IO and _whole(step.arg, 1, MAX_IO_TICKS) is None:
            return f"the ticks must be a whole number from 1 to {MAX_IO_TICKS}"
        if op == OP_SPAWN and _whole(step.arg, 1, MAX_SPAWN_COUNT) is None:
            return f"count must be a whole number from 1 to {MAX_SPAWN_COUNT}"
        if op == OP_SPAWN and not _is_bool(step.wait):
            return "wait must be true or false"
        if op == OP_GEN and _whole(step.arg, 0, MAX_GEN_ITEMS) is None:
            return f"the item count must be a whole number from 0 to {MAX_GEN_ITEMS}"
        if step.limit is not None and _whole(step.limit, 0, MAX_RECURSION_LIMIT) is None:
            return f"limit must be a whole number from 0 to {MAX_RECURSION_LIMIT}"
        if op in (OP_JOIN, OP_SELECT) and not step.callees:
            return "it has no callees; name at least one function"
        if step.boxed and (len(step.boxed) != len(step.callees) or not all(map(_is_bool, step.boxed))):
            return f"boxed={list(step.boxed)!r} must be true or false for each of its {len(step.callees)} callee(s)"
        return None

    def callee_problem(self, step: _Step, callee):
        """What is wrong with one callee reference, or None."""
        name = _callee_name(callee)
        if not isinstance(name, str):
            return f"callee {name!r} is not a function name; name a function"
        if name not in self.index:
            return f"'{name}' is not defined; define it or fix the name"
        is_generator = self.program.functions[self.index[name]].generator
        if step.op == OP_GEN and not is_generator:
            return (
                f"'{name}' is not a generator, and gen iterates only generators; "
                "mark it generator=true or use call"
            )
        if step.op != OP_GEN and is_generator:
            return (
                f"'{name}' is a generator, which only gen can use; "
                f"use gen('{name}', n) or make it a normal function"
            )
        return None

    # -- the depth-first walk ---------------------------------------------

    def walk(self):
        """Depth-first walk from the entry, steps and callees in program
        order, recursing into a callee when first discovered: marks back
        edges (those reaching a function still on the walk's stack) and
        records the finishing order. Iterative, so deep chains cannot hit
        Python's recursion limit."""
        count = len(self.edges)
        new, active, finished = 0, 1, 2
        state = [new] * count
        self.back = [[False] * len(callees) for callees in self.edges]
        self.postorder = []
        state[self.entry] = active
        stack = [[self.entry, 0]]  # function, next edge to follow
        while stack:
            frame = stack[-1]
            f, e = frame
            if e == len(self.edges[f]):
                state[f] = finished
                self.postorder.append(f)
                stack.pop()
                continue
            frame[1] = e + 1
            g = self.edges[f][e]
            if state[g] == new:
                state[g] = active
                stack.append([g, 0])
            elif state[g] == active:
                self.back[f][e] = True
        for f, fn in enumerate(self.program.functions):
            if state[f] == new:
                raise self.fail(
                    f"function '{fn.name}' is not reachable from the entry "
                    f"'{self.program.functions[self.entry].name}'; call it from a "
                    "reachable function or remove it"
                )

    def check_limits(self):
        """A back edge needs a limit and a limit needs a back edge. A
        join's one limit covers whichever of its callees are back edges."""
        for f, fn in enumerate(self.program.functions):
            e = 0
            for number, step in enumerate(fn.steps, start=1):
                if not step.callees:
                    continue
                backs = self.back[f][e : e + len(step.callees)]
                e += len(step.callees)
                if any(backs) and step.limit is None:
                    fix = (
                        "select arms cannot carry a limit; move the recursion into a "
                        "function the arm calls with a limit"
                        if step.op == OP_SELECT
                        else "add limit=N to bound the recursion depth"
                    )
                    raise self.fail(
                        f"{self.where(fn, number, step)}: closes a cycle, recursion the "
                        f"format cannot express without a limit; {fix}"
                    )
                if step.limit is not None and not any(backs):
                    raise self.fail(
                        f"{self.where(fn, number, step)}: has a limit but no callee of it "
                        "closes a cycle (no back edge); remove the limit"
                    )

    # -- arrays ------------------------------------------------------------

    def build(self) -> CompiledProgram:
        functions = self.program.functions
        fn_step_start, fn_step_count = [], []
        step_op, step_arg, step_wait, step_edge_start, step_edge_count = [], [], [], [], []
        edge_callee, edge_back, edge_limit, edge_pinned = [], [], [], []
        for f, fn in enumerate(functions):
            fn_step_start.append(len(step_op))
            fn_step_count.append(len(fn.steps))
            e = 0
            for step in fn.steps:
                step_op.append(step.op)
                step_arg.append(int(step.arg))  # 0 for steps without a count
                step_wait.append(int(step.op == OP_SPAWN and bool(step.wait)))
                step_edge_start.append(len(edge_callee))
                step_edge_count.append(len(step.callees))
                for i, _ in enumerate(step.callees):
                    edge_pinned.append(int(bool(step.boxed[i])) if i < len(step.boxed) else 0)
                    back = self.back[f][e]
                    edge_callee.append(self.edges[f][e])
                    edge_back.append(int(back))
                    edge_limit.append(int(step.limit) if back else -1)
                    e += 1
        io_ticks = [arg for op, arg in zip(step_op, step_arg) if op == OP_IO]

        def array(values):
            return np.ascontiguousarray(values, dtype=np.int64).reshape(-1)

        return CompiledProgram(
            name=self.label,
            fn_names=tuple(fn.name for fn in functions),
            entry=self.entry,
            tasks=self.tasks,
            fn_locals=array([int(fn.locals) for fn in functions]),
            fn_borrows=array([int(bool(fn.borrows)) for fn in functions]),
            fn_generator=array([int(bool(fn.generator)) for fn in functions]),
            fn_step_start=array(fn_step_start),
            fn_step_count=array(fn_step_count),
            fn_postorder=array(self.postorder),
            step_op=array(step_op),
            step_arg=array(step_arg),
            step_wait=array(step_wait),
            step_edge_start=array(step_edge_start),
            step_edge_count=array(step_edge_count),
            edge_callee=array(edge_callee),
            edge_back=array(edge_back),
            edge_limit=array(edge_limit),
            max_io=max(io_ticks, default=0),
            edge_pinned=array(edge_pinned),
            fn_native=tuple(fn.native for fn in functions),
        )

    # -- select rules -------------------------------------------------------

    def check_selects(self, compiled: CompiledProgram):
        """Every select, at every recursion depth it is reached at: no arm
        may spawn (a cancelled arm could not abandon the tasks it awaits, and
        whether a losing arm reached a detached spawn before it was cancelled
        would depend on how an executor orders one tick) and the arms present there must take different numbers of ticks."""
        walk = _Walk(compiled)
        selects = [(fn, i, step) for fn in walk.functions for i, step in enumerate(fn.steps) if step.op == OP_SELECT]
        if not selects:
            return
        reached = walk.reached_rdepths(compiled.entry)
        awaits_spawn = walk.table(walk.awaits_spawn)
        names = compiled.fn_names
        for fn, i, step in selects:
            where = f"function '{fn.name}' step {i + 1} {view_step_text(step, names)}"
            for r in sorted(reached[fn.index]):
                at = f" at recursion depth {r}" if r else ""
                arms = list(walk.children(step, r))
                for g, rg in arms:
                    if awaits_spawn[rg][g]:
                        raise self.fail(
                            f"{where}: arm '{names[g]}'{at} spawns tasks, which a "
                            "cancelled arm cannot take back; move the spawn out of the select"
                        )
                finisher = {}
                for g, rg in arms:
                    ticks = compiled.duration(g, rg)
                    if ticks in finisher:
                        raise self.fail(
                            f"{where}: arms '{names[finisher[ticks]]}' and '{names[g]}' "
                            f"both finish after {ticks} tick{'' if ticks == 1 else 's'}{at}, "
                            "so the winner would depend on tie-breaking; make their "
                            "durations differ"
                        )
                    finisher[ticks] = g


def postorder(starts, children) -> list:
    """Every node reachable from ``starts``, each after all of its
    ``children(node)`` (which must not form a cycle): the order to compute
    anything bottom-up. Iterative, so a chain of any depth is fine."""
    order, done = [], set()
    for start in starts:
        stack = [(start, False)]
        while stack:
            node, expanded = stack.pop()
            if node in done:
                continue
            if expanded:
                done.add(node)
                order.append(node)
                continue
            stack.append((node, True))
            stack.extend((child, False) for child in children(node) if child not in done)
    return order


class _Walk:
    """The analyses that depend on the recursion depth, on the program's
    view (model/program_view.py): a table of one value per function and
    rdepth, filled callees first. Only the steps with edges construct
    children, so each function keeps those, and its I/O ticks summed."""

    def __init__(self, p: CompiledProgram):
        view = p.view
        self.functions = view.functions
        self.order = view.callees_first()
        self.linked = [tuple(step for step in fn.steps if step.edges) for fn in self.functions]
        self.io = [sum(step.arg for step in fn.steps if step.op == OP_IO) for fn in self.functions]
        self.max_limit = max([0, *(e.limit for fn in self.functions for e in fn.edges)])  # non-back edges hold -1

    @staticmethod
    def children(step, r: int):
        """(callee, rdepth) of each child ``step`` constructs in an
        invocation at rdepth ``r``; recursion-skipped children are absent."""
        for e in step.edges:
            if not e.back:
                yield e.callee, r
            elif r < e.limit:
                yield e.callee, r + 1

    def table(self, fn_value) -> list:
        """rows[r][f] = fn_value(f, r, lookup) for r in 0..max_limit.

        Children reached through non-back edges keep the rdepth and come
        earlier in callees-first order; back edges lead to rdepth + 1, a row
        already filled because rows are filled from the deepest up."""
        rows = [None] * (self.max_limit + 1)

        def lookup(g, rg):
            return rows[rg][g]

        for r in range(self.max_limit, -1, -1):
            rows[r] = [None] * len(self.functions)
            for f in self.order:
                rows[r][f] = fn_value(f, r, lookup)
        return rows

    def duration(self, f: int, r: int, lookup) -> int:
        total = self.io[f]
        for step in self.linked[f]:
            op = step.op
            if op in _AWAITING_OPS or (op == OP_SPAWN and step.wait):
                ticks = [lookup(g, rg) for g, rg in self.children(step, r)]
                if ticks:
                    total += min(ticks) if op == OP_SELECT else max(ticks)
        return total

    def awaits_spawn(self, f: int, r: int, lookup) -> bool:
        """Whether an invocation (transitively, through call/join/select)
        spawns tasks, waiting or not; a spawn whose children are all skipped
        spawns nothing and so does not count."""
        for step in self.linked[f]:
            op = step.op
            children = list(self.children(step, r))
            if op == OP_SPAWN and children:
                return True
            if op in _AWAITING_OPS and any(lookup(g, rg) for g, rg in children):
                return True
        return False

    def reached_rdepths(self, entry: int) -> list:
        """For each function, the set of rdepths it is invoked at."""
        reached = [set() for _ in self.functions]
        reached[entry].add(0)
        pending = [(entry, 0)]
        while pending:
            f, r = pending.pop()
            for step in self.linked[f]:
                for g, rg in self.children(step, r):
                    if rg not in reached[g]:
                        reached[g].add(rg)
                        pending.append((g, rg))
        return reached
