"""C++20 coroutines with Clang's heap-allocation elision (HALO) of awaited calls.

The rule, as clang 22 implements it for a task type marked
``[[clang::coro_await_elidable]]`` (llvm/lib/Transforms/Coroutines/
CoroAnnotationElide.cpp and CoroSplit.cpp, LLVM 22 as the ziglang 0.17
package ships it; the attributes are documented in
clang/include/clang/Basic/AttrDocs.td): a call to a coroutine that is
*immediately* ``co_await`` ed is made through the callee's ``.noalloc``
variant, whose frame lives in the caller's frame instead of the heap.

* A directly awaited callee (a ``call`` step) is elided: its frame is inside
  its caller's frame. Sequential awaits do not share that space — the pass
  gives every elided call site its own ``alloca``, without a lifetime, in
  the caller's frame, so the caller's child area is the SUM over its steps,
  not the maximum (``shares_child_area = False``).
* Only when the caller and the callee are in different strongly connected
  components of the call graph. CoroAnnotationElide runs per SCC, bottom-up,
  right after CoroSplit has split that SCC's coroutines, and elides a call
  only in a caller that is still a "presplit" coroutine: a caller in the
  callee's own SCC (mutual recursion: ``f`` calls ``g``, ``g`` recurses into
  ``f``) is split already, so its call keeps a heap frame.
* By default only calls before the function's first suspension. The pass
  skips a call whose block the caller's BlockFrequencyInfo estimates to run
  less often than ``-coro-elide-branch-ratio`` (0.55) times the entry, and
  after a ``co_await`` that suspends the rest of the body is estimated
  rarer than that. ``elide_late=1`` is clang with
  ``-mllvm -coro-elide-branch-ratio=0``: every such call is elided.
* Children of a ``join`` or ``select`` are arguments of the awaited
  combinator, not awaited themselves: heap frames. ``elide_args=1`` elides
  them too, as ``[[clang::coro_await_elidable_argument]]`` on the
  combinator's parameters allows (the model only: the generated C++ does
  not mark its combinators).
* Spawned tasks outlive the spawner's await: heap frames.
* A generator object is iterated, never ``co_await`` ed, so the attribute's
  rule never applies to it: the generator keeps its heap frame.
* Recursive (back) edges stay boxed, as in every strategy (a frame cannot
  contain itself; Clang cannot size such a frame either).

Frames are resumed bottom-up and built in place (no moves). Their sizes are
clang 22's (model/native.py, ``clang_sizes``): a frame's counted size is
its own clang frame with its elided children's frames inside.

As for always_heap, no runtime task object exists beyond the frames (the
promise and handle are in them): ``runtime_bytes_per_task`` is 0.
"""

from ..model.native import CLANG, entry_frequency
from ..model.program import OP_CALL, OP_JOIN, OP_SELECT
from .base import BOTTOM_UP, Option, Strategy, source_boxed


# -coro-elide-branch-ratio's default (CoroAnnotationElide.cpp): a call whose
# block runs less often than this times the caller's entry is not elided.
BRANCH_RATIO = 0.55


class Halo(Strategy):
    name = "halo"
    summary = "awaited callees' frames inside the caller's frame (Clang coro_await_elidable)"
    origin = "C++20 coroutines, clang 22 [[clang::coro_await_elidable]] (LLVM CoroAnnotationElide.cpp)"
    color = "#E69F00"  # orange (Okabe-Ito)
    marker = "v"
    native = "clang"  # bench/validate compiles its counterpart with clang 22
    native_variants = ("elide_late=1",)  # validated too
    polling = BOTTOM_UP
    moves = False
    shares_child_area = False
    frame_compiler = CLANG
    options = (
        Option("elide_args", 0, 0, 1, "1 also elides join and select children (coro_await_elidable_argument)"),
        Option("elide_late", 0, 0, 1, "1 also elides calls after the first suspension "
                                      "(clang -mllvm -coro-elide-branch-ratio=0)"),
    )

    @property
    def compiler_flags(self) -> tuple:
        return ("-mllvm", "-coro-elide-branch-ratio=0") if self.option("elide_late") else ()

    def box_edge(self, program, edge):
        if source_boxed(program, edge):
            return True
        if program.fn_scc[program.edge_fn[edge]] == program.fn_scc[program.edge_callee[edge]]:
            return True  # the caller is split already when its callee's SCC is
        op = int(program.edge_op[edge])
        if op == OP_CALL:
            return not self.option("elide_late") and entry_frequency(program)[edge] < BRANCH_RATIO
        if op in (OP_JOIN, OP_SELECT):
            return not self.option("elide_args")
        return True  # generators and spawned tasks keep their heap frames


STRATEGY = Halo()
