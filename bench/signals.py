"""One mechanism for SIGINT and SIGTERM: :class:`Signals`, installed for a
``with`` block, turns them into an exception the code unwinds by (its
``finally`` blocks clean up), or holds them while something must not be
cut short and delivers them after; ``status`` is the exit status they mean
(128 + the first signal's number).

Its users, in their own modules, with nothing else to import (so that
bench/session.py and bench/branches.py, which imports nothing of the
session, share it):

* a session (`pinbench run`, compare-branches, validate; bench/session.py):
  KeyboardInterrupt, except inside :meth:`Signals.deferred` blocks (the
  results folder being written);
* the removal of compare-branches' worktrees (bench/branches.py,
  :func:`held`): held for the whole block, then KeyboardInterrupt;
* an engine build (bench/engine.py), only for a signal nothing else
  handles: SIGTERM unwinds the build with an exception of its own.
"""

from __future__ import annotations

import contextlib
import signal

STOPS = (signal.SIGINT, signal.SIGTERM)


class Signals:
    """``signums`` raise ``raises`` (KeyboardInterrupt), except inside
    :meth:`deferred` blocks, where they wait until the block ends. With
    ``unhandled_only``, a signal whose handler is not the default one (the
    process handles it already) is left to that handler. Outside the main
    thread nothing is installed: signals are not a thread's to handle."""

    def __init__(self, signums=STOPS, raises=KeyboardInterrupt, unhandled_only: bool = False):
        self.signums = tuple(signums)
        self.raises = raises
        self.unhandled_only = unhandled_only
        self.signum = None
        self.deferring = False
        self.pending = False
        self._saved = {}

    def _handle(self, signum, frame):
        if self.signum is None:
            self.signum = signum
        if self.deferring:
            self.pending = True
            return
        raise self.raises

    def __enter__(self):
        try:
            for signum in self.signums:
                if self.unhandled_only and signal.getsignal(signum) != signal.SIG_DFL:
                    continue
                self._saved[signum] = signal.signal(signum, self._handle)
        except ValueError:  # not the main thread: keep Python's defaults
            pass
        return self

    def __exit__(self, *exc):
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)
        self._saved.clear()

    @contextlib.contextmanager
    def deferred(self):
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False
        if self.pending:
            self.pending = False
            raise self.raises

    @property
    def status(self) -> int:
        return 128 + (self.signum or signal.SIGINT)


@contextlib.contextmanager
def held(signums=STOPS):
    """Hold ``signums`` for the block (a cleanup that a second Ctrl-C must
    not leave half done); one that came is delivered afterwards, once the
    previous handlers are back, as KeyboardInterrupt."""
    signals = Signals(signums)
    signals.deferring = True
    try:
        with signals:
            yield signals
    finally:
        if signals.pending:
            raise KeyboardInterrupt
