"""What the code generators share: a plain view of a compiled program and the
check that it stays within the subset the native programs implement.

The generators read the program only through :class:`ProgramView`, so a
program written in a workload file gets a native counterpart as soon as its
steps are in :data:`SUPPORTED_OPS`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...model.errors import UsageError
from ...model.program import (
    OP_CALL,
    OP_GEN,
    OP_IO,
    OP_JOIN,
    OP_NAMES,
    OP_SELECT,
    OP_SPAWN,
    OP_WORK,
    OP_YIELD,
    CompiledProgram,
)

# Every step of docs/model.md. A step added to the model stays refused here
# until both generators implement it.
SUPPORTED_OPS = (OP_WORK, OP_CALL, OP_JOIN, OP_SELECT, OP_IO, OP_YIELD, OP_SPAWN, OP_GEN)
SUPPORTED_TEXT = "work, call, join, select, io, yield_now, spawn, gen"


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
        return any(
            s.op in (OP_CALL, OP_JOIN, OP_SELECT, OP_GEN) or (s.op == OP_SPAWN and s.wait) for s in self.steps
        )


@dataclass(frozen=True)
class ProgramView:
    """A compiled program as nested plain objects, for code generation."""

    name: str
    entry: int
    tasks: int
    max_io: int
    functions: tuple  # of Function

    @classmethod
    def of(cls, program: CompiledProgram) -> "ProgramView":
        check_supported(program)
        functions = []
        for f, name in enumerate(program.fn_names):
            start, count = int(program.fn_step_start[f]), int(program.fn_step_count[f])
            steps = []
            for s in range(start, start + count):
                first = int(program.step_edge_start[s])
                edges = tuple(
                    Edge(
                        e,
                        int(program.edge_callee[e]),
                        bool(program.edge_back[e]),
                        int(program.edge_limit[e]),
                    )
                    for e in range(first, first + int(program.step_edge_count[s]))
                )
                steps.append(
                    Step(int(program.step_op[s]), int(program.step_arg[s]), bool(program.step_wait[s]), edges)
                )
            functions.append(
                Function(
                    f,
                    name,
                    int(program.fn_locals[f]),
                    bool(program.fn_borrows[f]),
                    bool(program.fn_generator[f]),
                    tuple(steps),
                )
            )
        return cls(program.name, int(program.entry), int(program.tasks), int(program.max_io), tuple(functions))


def check_supported(program: CompiledProgram):
    """A one-line UsageError naming the first step the native programs
    cannot express."""
    for f, name in enumerate(program.fn_names):
        start, count = int(program.fn_step_start[f]), int(program.fn_step_count[f])
        for s in range(start, start + count):
            op = int(program.step_op[s])
            if op not in SUPPORTED_OPS:
                raise UsageError(
                    f"workload '{program.name}' has no native counterpart: function '{name}' "
                    f"step {s - start + 1} {program.step_text(s)} uses {OP_NAMES[op]}, which the "
                    f"generated Rust and C++ programs do not implement (they support "
                    f"{SUPPORTED_TEXT}); validate other workloads"
                )


class Body:
    """Lines of one generated function body (Rust or C++), indented by block."""

    def __init__(self):
        self.lines = []
        self.indent = 1

    def add(self, text: str):
        self.lines.append("    " * self.indent + text)

    def open(self, text: str):
        self.add(text)
        self.indent += 1

    def close(self, text: str = "}"):
        self.indent -= 1
        self.add(text)


def calls_down_to_io(view: ProgramView) -> bool:
    """Whether every step is work, a plain call (not recursive) or io, and
    a task parks: an io in a function its entry reaches (every step runs,
    so it is reached). The shape the held-memory backends count parked."""
    steps = {f.index: f.steps for f in view.functions}
    if any(s.op not in (OP_WORK, OP_CALL, OP_IO) or any(e.back for e in s.edges) for f in steps.values() for s in f):
        return False
    seen, todo = set(), [view.entry]
    while todo:
        fn = todo.pop()
        if fn in seen:
            continue
        seen.add(fn)
        if any(s.op == OP_IO for s in steps[fn]):
            return True
        todo += [e.callee for s in steps[fn] for e in s.edges]
    return False
