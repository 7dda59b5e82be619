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
"""

from ..model.layout import STACKS
from .base import BOTTOM_UP, Option, Strategy
from .stackful import call_on_stack

STACK_GUARD = 928  # stackGuard on linux/amd64: bytes a frame may not use
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
    options = (Option("start", 2048, 2048, 1 << 30, "bytes of a new goroutine's stack (Go: 2048)"),)

    def place_edge(self, program, edge):
        return call_on_stack(program, edge)

    def runtime_bytes(self, program, fn, frame_bytes):
        return G_BYTES  # every goroutine: a task's, a join or select arm's, a spawned one's

    def storage_plan(self):
        return {"storage": STACKS, "stack_grows": True, "stack_bytes": self.option("start"),
                "stack_guard": STACK_GUARD}


STRATEGY = GoStack()
