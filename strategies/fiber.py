"""Stackful coroutines on fixed stacks: Boost.Context's protected_fixedsize_stack.

Each task (and each concurrent child: join and select arms, spawned tasks,
generators) runs on one stack of a fixed size, mapped with a guard page
below it; calls push frames on it and nothing is ever copied. A frame that
would not fit stops the run with one line naming the task and the size it
needed (a real fiber would fault on its guard page).

Source: boostorg/context ``include/boost/context/protected_fixedsize_stack.hpp``
(boost-1.91.0): ``allocate()`` maps ``(pages + 1) * page_size`` bytes -- the
requested size rounded up to whole pages, plus one guard page -- and the
default size is ``stack_traits::default_size()``, 128 KiB since Boost 1.66.
(The issue that asked for this strategy said 64 KiB; Boost's source says
128 KiB, so that is the default here, and an option.)

The runtime's own object per fiber is its control block, which Boost
places inside the mapping: ``detail::create_fiber1`` (``fiber_fcontext.hpp``)
puts the ``fiber_record`` (its ``stack_context``, the stack allocator and
the entry function: 32 bytes, ``sizeof`` measured with g++ 12 against
Debian's libboost-context1.74-dev) at the stack's top rounded down to 256
bytes and starts the frames 64 bytes below it: 320 bytes of the mapping.
It is held already (the mapping and its guard page are the reserved
bytes), so it adds nothing to the held bytes; ``runtime_bytes_per_task``
shows it. The model does not take those 320 bytes out of the room its
frames have (0.24% of the default stack).
"""

from ..model.layout import STACKS
from .base import BOTTOM_UP, Option, Strategy
from .stackful import call_on_stack

PAGE = 4096
RECORD = 32  # sizeof(fiber_record<fiber, protected_fixedsize_stack, entry>)
RECORD_ALIGN = 256  # the record's address is rounded down to 256 bytes (& ~0xff)
RECORD_GAP = 64  # the first frame starts 64 bytes below the record
CONTROL_BLOCK = -(-RECORD // RECORD_ALIGN) * RECORD_ALIGN + RECORD_GAP  # 320 bytes at the top of the mapping


class Fiber(Strategy):
    name = "fiber"
    summary = "one fixed stack per task and per concurrent child, a guard page below"
    origin = "stackful coroutines (Boost.Context protected_fixedsize_stack, corosensei)"
    color = "#000000"  # black (Okabe-Ito)
    marker = "X"
    polling = BOTTOM_UP  # a suspended fiber resumes where it stopped
    moves = False
    storage = STACKS
    native = "boost"  # bench/validate runs its counterpart on Boost.Context fibers and counts their mappings
    options = (Option("stack", 128 * 1024, PAGE, 1 << 30, "usable bytes of each stack, rounded up to 4 KiB pages"),)

    def place_edge(self, program, edge):
        return call_on_stack(program, edge)

    def runtime_bytes(self, program, fn, frame_bytes):
        return CONTROL_BLOCK  # every fiber: a task's and each concurrent child's

    def storage_plan(self):
        usable = -(-self.option("stack") // PAGE) * PAGE
        return {"storage": STACKS, "stack_grows": False, "stack_bytes": usable, "stack_extra": PAGE,
                "runtime_inside": True}  # the control block is in the mapping


STRATEGY = Fiber()
