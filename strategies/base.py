"""What a strategy is: a small declaration of policy.

A strategy answers three questions about a compiled program, and the shared
layout code (``model/layout.py``) turns the answers into byte offsets and sizes:

* does this call edge store its child inline in the parent's frame, or in a
  box of its own (the parent keeps an 8-byte pointer)?
* does this function keep its locals in a reference-counted cell?
* is the task polled top-down (Rust futures) or resumed bottom-up (C++
  coroutines), and are futures built by value and moved into place?

Third-party strategies subclass ``Strategy`` and register an instance under
the ``pinbench.strategies`` entry-point group.
"""

from __future__ import annotations

from ..model.layout import BOTTOM_UP, BOTTOM_UP_HEADER, TOP_DOWN, TOP_DOWN_HEADER, compute_layout


class Strategy:
    """Base class: override the class attributes and the two edge/locals rules."""

    name: str = ""
    summary: str = ""
    origin: str = ""
    polling: str = TOP_DOWN
    moves: bool = True
    # How it looks in every figure, table and diagram. None (a plug-in that
    # says nothing): the registry gives it a palette colour and marker that no
    # other strategy uses (strategies.color_of / marker_of).
    color: str | None = None
    marker: str | None = None
    # The language whose native counterpart `pinbench validate` generates
    # ("rust", "c++"), or None: the model alone.
    native: str | None = None

    @property
    def header_bytes(self) -> int:
        return BOTTOM_UP_HEADER if self.polling == BOTTOM_UP else TOP_DOWN_HEADER

    def box_edge(self, program, edge: int) -> bool:
        """Whether the child reached through ``edge`` lives in its own box.

        Recursive (back) edges must be boxed by every strategy: an inline
        frame cannot contain itself (rustc demands ``Box::pin`` there).
        """
        return bool(program.edge_back[edge])

    def locals_in_cell(self, program, fn: int) -> bool:
        """Whether function ``fn`` keeps its locals in a reference-counted cell."""
        return False

    def plan(self, program):
        """Lay out ``program`` under this strategy (a ``Layout``)."""
        return compute_layout(self, program)

    def __repr__(self) -> str:
        return f"<strategy {self.name}>"
