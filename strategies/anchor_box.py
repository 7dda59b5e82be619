"""The Anchor<Box<G>> proposal: only self-referential children get a box.

Futures are polled top-down and built by value. A child that borrows its own
locals across an await cannot move once resumed, so it is anchored in its own
Box before its first poll; movable children stay inline in their parent.
"""

from .base import Strategy, source_boxed
from .tokio_task import TokioTask


class AnchorBox(TokioTask, Strategy):  # tasks run on tokio (its task cell)
    name = "anchor_box"
    summary = "borrowing children anchored in their own box, the rest inline"
    origin = "the Anchor<Box<G>> / Generator + GeneratorMove proposal"
    color = "#CC79A7"  # reddish purple (Okabe-Ito)
    marker = "s"
    native = "rust"  # bench/validate generates its rust counterpart

    def box_edge(self, program, edge):
        callee = program.edge_callee[edge]
        return source_boxed(program, edge) or bool(program.fn_borrows[callee])


STRATEGY = AnchorBox()
