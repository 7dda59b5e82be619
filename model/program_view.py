"""One structured view of a compiled program: functions, their steps, and
each step's edges, as plain objects.

:class:`~model.program.CompiledProgram` keeps the program as flat arrays for
the executor; everything in Python that walks a program (the native frame
sizes, the layouts, the code generators of the compiled engine and of the
native programs) reads this view instead of re-slicing those arrays, and
walks it bottom-up with :meth:`ProgramView.callees_first`. Get it with
``compiled.view`` (built once per program).
"""

from __future__ import annotations

from dataclasses import dataclass

from .program import OP_CALL, OP_GEN, OP_JOIN, OP_SELECT, OP_SPAWN, OP_WORK

# The steps that hold their children in the function's own state (a call's,
# join's or select's futures; a generator being driven): what "inline" means.
HOLDS_CHILDREN = (OP_CALL, OP_GEN, OP_JOIN, OP_SELECT)


@dataclass(frozen=True)
class Edge:
    index: int  # the program's edge number: what the layout's per-edge facts are indexed by
    callee: int
    back: bool
    limit: int  # -1 unless back


@dataclass(frozen=True)
class Step:
    op: int
    arg: int
    wait: bool
    edges: tuple  # of Edge

    @property
    def holds_children(self) -> bool:
        return self.op in HOLDS_CHILDREN


@dataclass(frozen=True)
class Function:
    index: int
    name: str
    locals: int
    borrows: bool
    generator: bool
    steps: tuple  # of Step

    @property
    def folds_children(self) -> bool:
        """Whether some step may fold a child's value (then the value
        depends on a run-time 'folded' flag, see docs/model.md)."""
        return any(s.holds_children or (s.op == OP_SPAWN and s.wait) for s in self.steps)

    @property
    def works(self) -> bool:
        """Whether some work step reads and writes its locals."""
        return any(s.op == OP_WORK and s.arg for s in self.steps)

    @property
    def edges(self):
        """Every edge of every step, in step order."""
        return (e for s in self.steps for e in s.edges)


@dataclass(frozen=True)
class ProgramView:
    """A compiled program as nested plain objects."""

    name: str
    entry: int
    tasks: int
    max_io: int
    functions: tuple  # of Function
    postorder: tuple  # the compiled program's fn_postorder

    def callees_first(self) -> tuple:
        """Every function, each after every function it reaches through an
        edge that is not a back edge: the order to compute anything bottom-up
        (a function's size from its inline children's, whichever edges a
        layout boxes, since boxing only removes such dependencies)."""
        return self.postorder

    @classmethod
    def of(cls, program) -> "ProgramView":
        """The view of a ``CompiledProgram``. Steps without edges are shared
        objects: a body can have a million steps, mostly alike."""
        a = {name: getattr(program, name).tolist() for name in (
            "fn_locals", "fn_borrows", "fn_generator", "fn_step_start", "fn_step_count", "step_op",
            "step_arg", "step_wait", "step_edge_start", "step_edge_count", "edge_callee", "edge_back",
            "edge_limit")}
        leaves = {}
        functions = []
        for f, name in enumerate(program.fn_names):
            steps = []
            start = a["fn_step_start"][f]
            for s in range(start, start + a["fn_step_count"][f]):
                op, arg, wait = a["step_op"][s], a["step_arg"][s], bool(a["step_wait"][s])
                first, count = a["step_edge_start"][s], a["step_edge_count"][s]
                if count:
                    edges = tuple(Edge(e, a["edge_callee"][e], bool(a["edge_back"][e]), a["edge_limit"][e])
                                  for e in range(first, first + count))
                    steps.append(Step(op, arg, wait, edges))
                else:
                    key = (op, arg, wait)
                    step = leaves.get(key)
                    if step is None:
                        step = leaves[key] = Step(op, arg, wait, ())
                    steps.append(step)
            functions.append(Function(f, name, a["fn_locals"][f], bool(a["fn_borrows"][f]),
                                      bool(a["fn_generator"][f]), tuple(steps)))
        return cls(program.name, int(program.entry), int(program.tasks), int(program.max_io),
                   tuple(functions), tuple(program.fn_postorder.tolist()))
