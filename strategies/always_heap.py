"""C++20 coroutines without heap elision: every frame is its own allocation.

g++ allocates one coroutine frame per invocation; a suspended leaf is resumed
directly and a finished child resumes its parent (symmetric transfer), so a
wake costs the same at any depth. Frames are constructed in place: no moves.

``clang=1``: the same program compiled by clang 22 (no task type marked
``coro_await_elidable``, so nothing is elided): clang's frames, about half
g++'s (model/native.py, ``clang_sizes``), beside g++'s; halo's frames are
these with the elided ones inside.

A C++ coroutine has no runtime task object beyond its frame: the task
type's state (the promise, the continuation, the handle) is in the frame
the compiler allocates, which is counted; ``runtime_bytes_per_task`` is 0.
"""

from ..model.native import CLANG, GXX
from .base import BOTTOM_UP, Option, Strategy


class AlwaysHeap(Strategy):
    name = "always_heap"
    summary = "one heap frame per invocation, resumed bottom-up"
    origin = "C++20 coroutines (g++ -std=c++20, no heap elision)"
    color = "#D55E00"  # vermillion (Okabe-Ito)
    marker = "o"
    native_variants = ("clang=1",)  # validated too
    polling = BOTTOM_UP
    moves = False
    options = (Option("clang", 0, 0, 1, "1 counts clang 22's frames instead of g++ 12's"),)

    @property
    def frame_compiler(self) -> str:
        return CLANG if self.option("clang") else GXX

    @property
    def native(self) -> str:
        """The backend of its counterpart: g++'s, or clang's with ``clang=1``."""
        return "clang" if self.option("clang") else "c++"

    def box_edge(self, program, edge):
        return True


STRATEGY = AlwaysHeap()
