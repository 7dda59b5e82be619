"""What the native code generators share: the check that a program stays
within the subset the native programs implement, and their function bodies.

The generators read the program only through its view
(:class:`~model.program_view.ProgramView`, ``compiled.view``), so a program
written in a workload file gets a native counterpart as soon as its steps are
in :data:`SUPPORTED_OPS`.
"""

from __future__ import annotations

from ...model.errors import UsageError
from ...model import program as ops
from ...model.program import CompiledProgram
from ...model.program_view import Function, ProgramView
from ..worker import MALLOC_RULES

# Every step of docs/model.md. A step added to the model stays refused here
# until both generators implement it.
SUPPORTED_OPS = (
    ops.OP_WORK, ops.OP_CALL, ops.OP_JOIN, ops.OP_SELECT, ops.OP_IO, ops.OP_YIELD, ops.OP_SPAWN, ops.OP_GEN,
)
SUPPORTED_TEXT = "work, call, join, select, io, yield_now, spawn, gen"


def malloc_rules(call: str) -> str:
    """The statements that give a native program's glibc the rules the
    model's timing processes run under (bench/worker.py, MALLOC_RULES):
    ``call`` formats one mallopt call from its parameter and value."""
    return "".join(f"    {call.format(param=param, value=value)}\n" for param, value in MALLOC_RULES)


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
                    f"step {s - start + 1} {program.step_text(s)} uses {ops.OP_NAMES[op]}, which the "
                    f"generated Rust and C++ programs do not implement (they support "
                    f"{SUPPORTED_TEXT}); validate other workloads"
                )


def calls_down_to_io(view: ProgramView) -> bool:
    """Whether every step is work, a plain call (not recursive) or io, and
    a task parks: an io in a function its entry reaches (every step runs,
    so it is reached). The shape the held-memory backends count parked."""
    steps = {f.index: f.steps for f in view.functions}
    if any(s.op not in (ops.OP_WORK, ops.OP_CALL, ops.OP_IO) or any(e.back for e in s.edges)
           for f in steps.values() for s in f):
        return False
    seen, todo = set(), [view.entry]
    while todo:
        fn = todo.pop()
        if fn in seen:
            continue
        seen.add(fn)
        if any(s.op == ops.OP_IO for s in steps[fn]):
            return True
        todo += [e.callee for s in steps[fn] for e in s.edges]
    return False


def chain_statements(fn: Function, call: str, io: str, work: str) -> list:
    """The statements of a function of :func:`calls_down_to_io`'s shape, in
    step order: ``call`` once per callee (its ``{callee}`` filled in), ``io``
    for an io, ``work`` for a work step (its ``{arg}`` filled in)."""
    statements = []
    for step in fn.steps:
        if step.op == ops.OP_CALL:
            statements += [call.format(callee=edge.callee) for edge in step.edges]
        elif step.op == ops.OP_IO:
            statements.append(io)
        else:
            statements.append(work.format(arg=step.arg))
    return statements
