"""bench/signals.py in-process: a signal raised, held, deferred, or left
to the handler a process already has (the subprocess tests in test_cli,
test_branches_interrupt and test_engine_cache stop real commands)."""

from __future__ import annotations

import os
import signal

import pytest

from pinbench.bench.signals import Signals, held


class Stop(BaseException):
    pass


def previous(signum, frame):
    raise Stop


@pytest.fixture
def sigterm_raises_stop():
    saved = signal.signal(signal.SIGTERM, previous)
    yield
    signal.signal(signal.SIGTERM, saved)


def test_a_held_signal_comes_after_the_block_once_the_previous_handler_is_back(sigterm_raises_stop):
    done = []
    with pytest.raises(KeyboardInterrupt):
        with held() as signals:
            os.kill(os.getpid(), signal.SIGTERM)
            done.append("after the signal")
    assert done == ["after the signal"] and signals.status == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is previous


def test_a_signal_raises_at_once_outside_a_deferred_block_and_at_its_end_inside(sigterm_raises_stop):
    with Signals() as signals:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
        done = []
        with pytest.raises(KeyboardInterrupt):
            with signals.deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                done.append("written")
        assert done == ["written"] and signals.status == 128 + signal.SIGINT  # the first signal's
    assert signal.getsignal(signal.SIGTERM) is previous


def test_unhandled_only_leaves_a_handled_signal_to_its_handler(sigterm_raises_stop):
    with Signals((signal.SIGTERM,), raises=ValueError, unhandled_only=True):
        with pytest.raises(Stop):
            os.kill(os.getpid(), signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with Signals((signal.SIGTERM,), raises=ValueError, unhandled_only=True):
        with pytest.raises(ValueError):
            os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
