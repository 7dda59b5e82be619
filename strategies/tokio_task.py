"""tokio's task cell: what the Rust strategies' runtime holds beside a task's future.

``tokio::spawn`` boxes one ``Cell<T, S>`` per task (``#[repr(C)]``): a
``Header`` (state, queue_next, vtable, owner_id: 32 bytes), a ``Core``
(the scheduler handle, an ``Arc``: 8; the task id: 8; the ``Stage<T>``
holding the future) and a ``Trailer`` (the owned-list pointers, 16, and the
join waker, ``Option<Waker>``: 16). ``Stage<T>`` is ``Running(T)``,
``Finished(Result<T::Output, JoinError>)`` or ``Consumed`` with a
discriminant of its own: the future rounded up to 8 plus 8, and at least
the 32 bytes ``Finished`` needs. The future itself is the task's root frame
(counted as such); the rest is the runtime's.

Source: tokio 1.24.2 ``src/runtime/task/core.rs`` (``Cell``, ``Core``,
``Header``, ``Trailer``, ``Stage``), as Debian's librust-tokio-dev installs
it (/usr/share/cargo/registry/tokio-1.24.2). Measured with rustc 1.95.0
``-Zprint-type-sizes`` (RUSTC_BOOTSTRAP=1) on a program spawning futures
of 1, 24, 104, 128 and 1048 bytes: Stage 32, 32, 112, 136, 1056 bytes;
Cell 112, 112, 192, 216, 1136 bytes, each 80 + Stage.
"""

HEADER = 32  # state, queue_next, vtable, owner_id
CORE_FIELDS = 16  # the scheduler's Arc and the task id
TRAILER = 32  # owned-list pointers and the join waker
STAGE_TAG = 8  # Stage<T>'s discriminant, beside a future aligned to 8
STAGE_MIN = 32  # Finished(Result<u64, JoinError>) with its discriminant


def cell_overhead(future_bytes: int) -> int:
    """A task cell's bytes beyond its future of ``future_bytes``."""
    stage = max(-(-future_bytes // 8) * 8 + STAGE_TAG, STAGE_MIN)
    return HEADER + CORE_FIELDS + stage + TRAILER - future_bytes


class TokioTask:
    """The runtime object of a Rust strategy: tokio's cell around each task's root."""

    def runtime_bytes(self, program, fn, frame_bytes):
        return cell_overhead(frame_bytes)
