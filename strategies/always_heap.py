"""C++20 coroutines without heap elision: every frame is its own allocation.

g++ allocates one coroutine frame per invocation; a suspended leaf is resumed
directly and a finished child resumes its parent (symmetric transfer), so a
wake costs the same at any depth. Frames are constructed in place: no moves.

A C++ coroutine has no runtime task object beyond its frame: the task
type's state (the promise, the continuation, the handle) is in the frame
g++ allocates, which is counted; ``runtime_bytes_per_task`` is 0.
"""

from .base import BOTTOM_UP, Strategy


class AlwaysHeap(Strategy):
    name = "always_heap"
    summary = "one heap frame per invocation, resumed bottom-up"
    origin = "C++20 coroutines (g++ -std=c++20, no heap elision)"
    color = "#D55E00"  # vermillion (Okabe-Ito)
    marker = "o"
    native = "c++"  # bench/validate generates its c++ counterpart
    polling = BOTTOM_UP
    moves = False

    def box_edge(self, program, edge):
        return True


STRATEGY = AlwaysHeap()
