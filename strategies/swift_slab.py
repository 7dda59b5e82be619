"""Swift async tasks: contexts bump-allocated in the task's slabs.

A task is one allocation that also holds its root's context. Every callee's
context comes from the task's allocator: a 16-byte header and the size
rounded up to 16, bumped in the current slab (slabs of 1016 bytes, 984
usable after a 32-byte header); a context that does not fit goes to the
next slab, which is kept from before if it fits, else every slab after the
current one is freed and one new slab takes their place (984 bytes, or the
request with its header if larger, or the freed slabs' capacity summed if
larger still). Freed contexts pop in order; emptied slabs are kept and
reused until the task ends. Concurrent children (join and select arms,
spawned tasks) are child tasks, each with its own allocation and slabs;
a generator's context is bumped like a callee's.
The task's allocation also holds the ``AsyncTask`` object and, for a task
with a result, its future fragment; the model counts them as the
runtime's own bytes (``runtime_bytes_per_task``): ``AsyncTask`` is 24
words, 192 bytes (``include/swift/ABI/Task.h``: ``static_assert(sizeof(
AsyncTask) == NumWords_AsyncTask * sizeof(void*))``, ``NumWords_AsyncTask
= 24`` in ``include/swift/ABI/MetadataValues.h``), the ``FutureFragment``
24 (its wait queue, result type and error) and the result 8: 224 bytes a
task. A child task (``async let``, a group's) also has a 16-byte
``ChildFragment``, which the model does not tell apart and leaves out.

Source: swiftlang/swift ``stdlib/public/runtime/StackAllocator.h``
(``getSlabForAllocation``, ``Allocation``: 16-byte header, alignment 16),
``stdlib/public/Concurrency/TaskPrivate.h`` (``SlabCapacity = 1024 -
slabHeaderSize() - 8`` = 984; slab header 32), ``Task.cpp``
(``swift_task_create_commonImpl``: the task and its initial context are one
``malloc``; no first slab for an ordinary task).
"""

from ..model.layout import SLABS, STACK
from ..model.program import OP_GEN
from .base import BOTTOM_UP, Option, Strategy
from .stackful import call_on_stack

SLAB_HEADER = 32
SLAB_BYTES = 1016  # SlabCapacity (984) and the header: a malloc of 1016 bytes
ALLOCATION_HEADER = 16
ALIGNMENT = 16
ASYNC_TASK = 24 * 8  # NumWords_AsyncTask
FUTURE_FRAGMENT = 3 * 8  # waitQueue, resultType, error
RESULT = 8  # the u64 result after the fragment
TASK_OBJECT = ASYNC_TASK + FUTURE_FRAGMENT + RESULT


class SwiftSlab(Strategy):
    name = "swift_slab"
    summary = "the task and its root in one allocation, callee contexts bumped in its slabs"
    origin = "Swift async functions (the task allocator, StackAllocator)"
    color = "#882255"  # wine (Paul Tol)
    marker = "*"
    polling = BOTTOM_UP  # an async function resumes its caller's continuation
    moves = False
    storage = SLABS
    # The smallest slab holds its header and one allocation of 16 bytes.
    options = (Option("slab", SLAB_BYTES, SLAB_HEADER + 32, 1 << 30,
                      "bytes of a slab, its 32-byte header included (Swift: 1016)"),)

    def place_edge(self, program, edge):
        # A generator's context comes from the task's allocator like a
        # callee's: it is popped before its consumer goes on.
        return STACK if program.edge_op[edge] == OP_GEN else call_on_stack(program, edge)

    def runtime_bytes(self, program, fn, frame_bytes):
        return TASK_OBJECT  # every task: a root, a join or select arm's child task, a spawned one

    def storage_plan(self):
        return {"storage": SLABS, "stack_bytes": self.option("slab") - SLAB_HEADER, "slab_header": SLAB_HEADER,
                "alloc_header": ALLOCATION_HEADER, "alloc_align": ALIGNMENT}


STRATEGY = SwiftSlab()
