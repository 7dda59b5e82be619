"""C++20 coroutines with Clang's heap-allocation elision (HALO) of awaited calls.

The rule, as Clang implements it for a task type marked
``[[clang::coro_await_elidable]]`` (llvm/lib/Transforms/Coroutines/
CoroAnnotationElide.cpp, clang and LLVM 20+; the attributes are documented in
clang/include/clang/Basic/AttrDocs.td): a call to a coroutine that is
*immediately* ``co_await`` ed is made through the callee's ``.noalloc``
variant, whose frame lives in the caller's frame instead of the heap.

* A directly awaited callee (a ``call`` step) is elided: its frame is inside
  its caller's frame. Sequential awaits do not share that space — the pass
  gives every elided call site its own ``alloca`` in the caller's frame, so
  the caller's child area is the SUM over its steps, not the maximum
  (``shares_child_area = False``).
* Children of a ``join`` or ``select`` are arguments of the awaited
  combinator, not awaited themselves: heap frames. ``elide_args=1`` elides
  them too, as ``[[clang::coro_await_elidable_argument]]`` on the
  combinator's parameters allows.
* Spawned tasks outlive the spawner's await: heap frames.
* A generator object is iterated, never ``co_await`` ed, so the attribute's
  rule never applies to it: the generator keeps its heap frame.
* Recursive (back) edges stay boxed, as in every strategy (a frame cannot
  contain itself; Clang cannot size such a frame either).

Frames are resumed bottom-up and built in place (no moves), as g++'s; a
frame's counted size is its own g++ frame plus its elided children's
(model/native.py, ``gxx_sizes``).

As for always_heap, no runtime task object exists beyond the frames (the
promise and handle are in them): ``runtime_bytes_per_task`` is 0.
"""

import numpy as np

from ..model.program import OP_CALL, OP_JOIN, OP_SELECT
from .base import BOTTOM_UP, Option, Strategy, source_boxed


class Halo(Strategy):
    name = "halo"
    summary = "awaited callees' frames inside the caller's frame (Clang coro_await_elidable)"
    origin = "C++20 coroutines, clang [[clang::coro_await_elidable]] (LLVM CoroAnnotationElide.cpp)"
    color = "#E69F00"  # orange (Okabe-Ito)
    marker = "v"
    polling = BOTTOM_UP
    moves = False
    shares_child_area = False
    options = (Option("elide_args", 0, 0, 1, "1 also elides join and select children (coro_await_elidable_argument)"),)

    def box_edge(self, program, edge):
        if source_boxed(program, edge):
            return True
        step = int(np.searchsorted(program.step_edge_start, edge, side="right")) - 1
        op = int(program.step_op[step])
        if op == OP_CALL:
            return False
        if op in (OP_JOIN, OP_SELECT):
            return not self.option("elide_args")
        return True  # generators and spawned tasks keep their heap frames


STRATEGY = Halo()
