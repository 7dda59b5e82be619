"""What a strategy is: a small declaration of policy.

A strategy answers three questions about a compiled program, and the shared
layout code (``layout.py``) turns the answers into byte offsets and sizes:

* does this call edge store its child inline in the parent's frame, or in a
  box of its own (the parent keeps an 8-byte pointer)?
* does this function keep its locals in a reference-counted cell?
* is the task polled top-down (Rust futures) or resumed bottom-up (C++
  coroutines), and are futures built by value and moved into place?

Third-party strategies subclass ``Strategy`` and register an instance under
the ``pinbench.strategies`` entry-point group.
"""

from __future__ import annotations

TOP_DOWN = "top_down"
BOTTOM_UP = "bottom_up"

# Header sizes in bytes (docs/model.md, "Frames"): the top-down header holds the
# state discriminant, loop counter, pending count, recursion depth, flags, the
# argument and the running value; bottom-up adds the parent pointer and the
# slot/task ids a finishing coroutine needs to resume its parent.
TOP_DOWN_HEADER = 40
BOTTOM_UP_HEADER = 56


class Strategy:
    """Base class: override the class attributes and the two edge/locals rules."""

    name: str = ""
    summary: str = ""
    origin: str = ""
    polling: str = TOP_DOWN
    moves: bool = True

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
        from .layout import compute_layout

        return compute_layout(self, program)

    def __repr__(self) -> str:
        return f"<strategy {self.name}>"
