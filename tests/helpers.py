"""What the test files share that is not a fixture: the real command line in
a subprocess, the check that bad input is one line on stderr with exit
status 2, whether this is CI (where a missing tool fails, not skips) and
the fuzz tests' settings.
Fixtures are in conftest.py; the independent models in oracles/."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, settings

from pinbench.model.errors import UsageError

CLI = [sys.executable, "-m", "pinbench.bench.cli"]

# Everything the executor counts (elapsed time and latency values aside).
COUNTERS = (
    "allocs", "frees", "bytes_allocated", "peak_live_bytes", "peak_live_blocks",
    "live_bytes_end", "live_blocks_end", "moved_bytes", "refcount_ops", "polls", "tasks",
    "checksum", "ticks", "allocator_reserved_end", "latency_dropped",
    "runtime_bytes", "runtime_live_end", "peak_held_bytes", "peak_held_tasks",
)


def pinbench(*args, cwd, timeout=300, columns=None, env=None):
    """The real CLI in a subprocess; ``env`` adds to this environment,
    ``columns`` sets COLUMNS (the width of its tables and help)."""
    environ = {**os.environ, **(env or {})}
    if columns is not None:
        environ["COLUMNS"] = str(columns)
    return subprocess.run(
        [*CLI, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=environ
    )


def start_pinbench(*args, cwd):
    """The real CLI, started and left running (to interrupt it)."""
    return subprocess.Popen(
        [*CLI, *map(str, args)], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def assert_one_line_error(done, *needles, narrated=False):
    """Exit status 2, one stderr line that starts "pinbench: error: " and
    names the problem (every needle), no traceback; returns the line.
    ``narrated``: the command also reports its progress on stderr
    (compare-branches), so only its error lines are counted."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    if narrated:
        lines = [line for line in lines if line.startswith("pinbench: error:")]
    else:
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("pinbench: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def assert_usage_error(call, *fragments) -> str:
    """In process: ``call()`` raises a one-line UsageError containing every
    fragment; returns the message."""
    with pytest.raises(UsageError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def in_ci() -> bool:
    """CI=true (set by CI systems and by .ci/run): a missing tool fails there instead of skipping."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


# Instruction counts need valgrind: .ci/run installs it, so in CI a missing
# valgrind fails; elsewhere the skip says why in pytest's summary (-rs).
needs_valgrind = pytest.mark.skipif(
    shutil.which("valgrind") is None and not in_ci(),
    reason="valgrind is not installed: instruction counts are not checked on this machine "
    "(apt-get install valgrind; .ci/run installs it)",
)


def fuzz_settings(max_examples: int, *suppressed) -> settings:
    """Hypothesis settings of the fuzz tests: no deadline; in CI the same
    examples on every run and no example database."""
    return settings(
        max_examples=max_examples, deadline=None, derandomize=in_ci(), database=None if in_ci() else settings().database,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, *suppressed],
    )
