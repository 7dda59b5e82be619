"""Go goroutines: one contiguous stack each, grown by copying.

A goroutine starts on a 2 KiB stack; calls push frames on it. When a call
would overflow (its frame plus the 928-byte guard no longer fits), the
runtime allocates a stack twice the size -- doubled again until the frame
and the guard fit --, copies the used part across, fixes every pointer into
it, and frees the old one. Nothing is copied when a goroutine parks.
Concurrent children (join and select arms, spawned tasks) and generators
run on goroutines of their own, each with its own stack (errgroup's
``Go`` per arm; ``iter.Pull``). The model does not shrink stacks (Go halves
a stack at garbage collection when it uses under a quarter of it; the
model has no collector).

Source: golang/go ``src/runtime/stack.go`` (Go 1.19.8: ``newstack``:
``newsize := oldsize * 2`` then doubled ``for newsize-used < max+stackGuard``;
``copystack`` copies ``old.hi - gp.sched.sp``, the used part;
``stackGuard`` = 928 on linux/amd64), ``src/runtime/proc.go`` (``newproc1``:
``malg(stackMin)``, ``stackMin`` = 2048).

The runtime's own object per goroutine is its ``g`` (``src/runtime/
runtime2.go``, ``type g struct``): 392 bytes on 64-bit platforms
(``src/runtime/sizeof_test.go``: ``{runtime.G{}, 240, 392}``), allocated by
``malg``'s ``new(g)`` from the 416-byte size class (``src/runtime/
sizeclasses.go``, class 23), all read in Debian's golang-1.19-go (Go
1.19.8, /usr/lib/go-1.19). A g is never freed (a dead one waits on the
scheduler's free list for the next goroutine); the model counts it while
its goroutine lives.

Frames are Go's, not the model's (``stack_frame``): a function's frame on
the goroutine's stack is its locals (8-aligned) and, beside them, its
return address, the saved frame pointer and the spill slots of the values
it keeps across its waits: :data:`GO_FRAME`, read from ``go build
-gcflags=-S`` (each TEXT line's ``locals=``, plus the 8-byte return
address) on the Go backend's programs (bench/validate/go.py: the chain at
locals 0, 64 and 1024) with Debian's Go 1.19.8. A goroutine's stack holds,
below its first function, the 32 bytes ``newproc1`` leaves at the top
(``4*goarch.PtrSize + sys.MinFrameSize``), goexit's return address, and
the closure a ``go f(x)`` statement becomes (Go 1.17 on; its frame
``locals=0x10`` in the same listing): :data:`GOROUTINE_BASE`.

A function's prologue checks the stack (cmd/internal/obj/x86/obj6.go
``stacksplit``; model/layout.py ``stack_checks``): a frame up to
``StackSmall`` = 128 bytes grows the stack once the stack pointer reaches
``stackguard0`` (928 bytes above the end); a bigger one once the stack
pointer less its frame beyond 128 does. A goroutine parking on a channel
(an io wait) runs the runtime's park path on its own stack first
(:data:`PARK_PATH`, cold: ``chanrecv1`` -> ``chanrecv`` ->
``acquireSudog`` -> ``new(sudog)``: ``newobject`` -> ``mallocgc`` ->
``heapBitsSetType``, the sudog caches being empty, as they are when many
goroutines park at once), whose prologues check the stack too; their
frames are from ``go build -gcflags=runtime=-S`` of the same Go (locals
0x20, 0x88, 0x68, 0x20, 0x70, 0x108; chanrecv1 and acquireSudog are
``nosplit``: no check). The model checks that path's deepest frame and
then leaves the path (its frames are not counted as frames in use).
"""

from ..model.layout import STACKS, align8
from ..model.program import OP_CALL, OP_IO, OP_WORK, OP_YIELD
from .base import BOTTOM_UP, Option, Strategy
from .stackful import call_on_stack

STACK_GUARD = 928  # stackGuard on linux/amd64: bytes a frame may not use
STACK_SMALL = 128  # StackSmall: a frame up to this checks the stack pointer alone
GOROUTINE_BASE = 32 + 8 + 16  # newproc1's top bytes, goexit's return address, the go statement's closure
# Go's frame beyond its (8-aligned) locals: a function that receives from
# a channel (an io wait), and 8 more per further receive (the running sum
# kept across it); one that calls, and 8 more when it reads an array of
# more than one byte after the call (the index; a 1-byte array's is 0).
GO_FRAME = {"park": 40, "receive": 8, "call": 24, "index": 8}
# The steps whose functions' frames GO_FRAME was read from (the Go backend's
# programs); a function with another step keeps the model's frame.
MEASURED = (OP_WORK, OP_CALL, OP_IO, OP_YIELD)
# The park path, cold (bytes with the return address, whether it checks the stack).
PARK_PATH = (
    (40, False),  # chanrecv1 (nosplit)
    (144, True),  # chanrecv
    (112, False),  # acquireSudog (nosplit)
    (40, True),  # newobject
    (120, True),  # mallocgc
    (272, True),  # heapBitsSetType
)
G_BYTES = 416  # a goroutine's g: 392 bytes, in mallocgc's 416-byte size class


class GoStack(Strategy):
    name = "go_stack"
    summary = "one contiguous stack per goroutine, doubled and copied when full"
    origin = "Go goroutines (runtime newstack / copystack)"
    color = "#56B4E9"  # sky blue (Okabe-Ito)
    marker = "P"
    polling = BOTTOM_UP  # a parked goroutine resumes where it stopped
    moves = False
    storage = STACKS
    native = "go"  # bench/validate's Go backend: the stack each parked goroutine holds
    options = (Option("start", 2048, 2048, 1 << 30, "bytes of a new goroutine's stack (Go: 2048)"),)

    def stack_frame(self, program, fn):
        steps = range(program.fn_step_start[fn], program.fn_step_start[fn] + program.fn_step_count[fn])
        if any(program.step_op[s] not in MEASURED for s in steps):
            return None  # a join, select, spawn or generator: not measured, the model's frame stands in
        receives = sum(1 for s in steps if program.step_op[s] == OP_IO)  # io(k): one wait of k ticks
        locals_ = int(program.fn_locals[fn])
        if receives:
            return GO_FRAME["park"] + GO_FRAME["receive"] * (receives - 1) + align8(locals_)
        return GO_FRAME["call"] + (GO_FRAME["index"] if locals_ > 1 else 0) + align8(locals_)

    def wait_path(self, program, fn):
        steps = range(program.fn_step_start[fn], program.fn_step_start[fn] + program.fn_step_count[fn])
        return PARK_PATH if any(program.step_op[s] == OP_IO for s in steps) else ()

    def place_edge(self, program, edge):
        return call_on_stack(program, edge)

    def runtime_bytes(self, program, fn, frame_bytes):
        return G_BYTES  # every goroutine: a task's, a join or select arm's, a spawned one's

    def storage_plan(self):
        return {"storage": STACKS, "stack_grows": True, "stack_bytes": self.option("start"),
                "stack_guard": STACK_GUARD, "stack_small": STACK_SMALL, "stack_base": GOROUTINE_BASE}


STRATEGY = GoStack()
