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
frozen in a chunk of its size until it first runs. A chunk counts its
frames and its two metadata words (16 bytes); the chunk object's header and
GC bitmap, and the VirtualThread and Continuation objects, are not counted.

Source: openjdk/jdk ``src/hotspot/share/runtime/continuationFreezeThaw.cpp``
(JDK 21u): ``size_if_fast_freeze_available`` (the tail chunk is reused when
its free room holds the frames), ``allocate_chunk(cont_size() +
frame::metadata_words, ...)`` (a new chunk is sized exactly),
``Thaw::thaw_fast`` (``threshold = 500`` words: the whole chunk below it,
one frame above), ``patch_return`` (the return barrier).
"""

from ..model.layout import CHUNKS, OWN, STACK
from ..model.program import OP_CALL, OP_GEN
from .base import BOTTOM_UP, Option, Strategy

THAW_ALL_BELOW = 4000  # bytes: Thaw::thaw_fast's threshold of 500 words
CHUNK_METADATA = 16  # frame::metadata_words (2) a chunk holds beside its frames


class Loom(Strategy):
    name = "loom"
    summary = "frames on the carrier while running, frozen into heap chunks when parked"
    origin = "Java virtual threads (HotSpot continuation freeze/thaw)"
    color = "#999933"  # olive (Paul Tol)
    marker = "p"
    polling = BOTTOM_UP  # a virtual thread resumes where it parked
    moves = False  # freezes and thaws are counted as copied_bytes
    storage = CHUNKS
    options = (Option("stack", 1 << 20, 4096, 1 << 30, "bytes of the carrier thread's stack"),)

    def place_edge(self, program, edge):
        return STACK if program.edge_op[edge] in (OP_CALL, OP_GEN) else OWN

    def storage_plan(self):
        return {"storage": CHUNKS, "stack_bytes": self.option("stack"), "stack_extra": CHUNK_METADATA,
                "thaw_all_below": THAW_ALL_BELOW}


STRATEGY = Loom()
