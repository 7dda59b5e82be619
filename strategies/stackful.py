"""What the stack-based strategies share: which child goes where.

A stackful runtime runs one path of calls on a stack: a plain call (and a
recursive one) is pushed on its caller's stack; children that run
concurrently with their parent or with each other -- join and select arms,
spawned tasks, generators -- need stacks of their own, as Go code gives
them goroutines (errgroup, ``iter.Pull``) and fiber code gives them fibers.
"""

from __future__ import annotations

from ..model.layout import OWN, STACK
from ..model.program import OP_CALL


def call_on_stack(program, edge: int, call_place: int = STACK) -> int:
    """``call_place`` for a plain call, OWN for every other child."""
    return call_place if program.edge_op[edge] == OP_CALL else OWN
