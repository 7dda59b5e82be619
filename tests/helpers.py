"""What the test files share that is not a fixture: the real command line in
a process of its own, the check that bad input is one line on stderr with exit
status 2, whether this is CI (where a missing tool fails, not skips) and
the fuzz tests' settings.
Fixtures are in conftest.py; the independent models in oracles/."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

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
    """The real CLI in a process of its own; ``env`` adds to this
    environment, ``columns`` sets COLUMNS (the width of its tables and
    help). The process is forked from a server that has the harness
    imported (cli_server.py says why), unless the environment differs from
    the server's in what shapes an interpreter as it starts (PYTHON*, LANG,
    LC_*) or another thread of this test uses the server: then it is
    ``python -m pinbench.bench.cli``."""
    environ = {**os.environ, **(env or {})}
    if columns is not None:
        environ["COLUMNS"] = str(columns)
    argv = [str(arg) for arg in args]
    if _WARM_CLI.can_start(environ) and _WARM_CLI.lock.acquire(blocking=False):
        try:
            return _WARM_CLI.run(argv, cwd, environ, timeout)
        finally:
            _WARM_CLI.lock.release()
    return subprocess.run([*CLI, *argv], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=environ)


class _WarmCLI:
    """This test process's cli_server.py, started at its first use and
    ended with the process (its stdin closes)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.server = None
        self.started_with = {}  # the server's PYTHON*, LANG and LC_* variables
        self.cpu_seconds = 0.0  # of the commands run so far (tools/test_cpu.py reads it)

    @staticmethod
    def _startup(environ) -> dict:
        """What of an environment shapes an interpreter as it starts."""
        return {key: value for key, value in environ.items() if key.startswith(("PYTHON", "LANG", "LC_"))}

    @property
    def running(self) -> bool:
        return self.server is not None and self.server.poll() is None

    def can_start(self, environ) -> bool:
        """Whether a child of the server starts as ``python -m`` would in ``environ``."""
        return self._startup(environ) == (self.started_with if self.running else self._startup(os.environ))

    def run(self, argv, cwd, environ, timeout) -> subprocess.CompletedProcess:
        if not self.running:
            self.started_with = self._startup(os.environ)
            self.server = subprocess.Popen([sys.executable, str(SERVER)], stdin=subprocess.PIPE,
                                           stdout=subprocess.PIPE, bufsize=0)  # unbuffered: select() sees every line
        with tempfile.TemporaryDirectory(prefix="pinbench-cli-") as scratch:
            out, err = os.path.join(scratch, "stdout"), os.path.join(scratch, "stderr")
            request = {"args": argv, "cwd": os.path.abspath(cwd or os.curdir),  # as subprocess resolves it here
                       "env": environ, "stdout": out, "stderr": err}
            self.server.stdin.write(json.dumps(request).encode() + b"\n")
            pid = self.server.stdout.readline()
            if not pid:
                raise RuntimeError(f"{SERVER} ended (status {self.server.wait()}); its error is above")
            pid = int(pid)
            finished = select.select([self.server.stdout], [], [], timeout)[0]
            if not finished:
                os.kill(pid, signal.SIGKILL)
            status, cpu = self.server.stdout.readline().split()
            self.cpu_seconds += float(cpu)
            with open(out) as stdout, open(err) as stderr:  # decoded as text=True would
                output = subprocess.CompletedProcess([*CLI, *argv], int(status), stdout.read(), stderr.read())
        if not finished:
            raise subprocess.TimeoutExpired(output.args, timeout, output.stdout, output.stderr)
        return output


SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cli_server.py")
_WARM_CLI = _WarmCLI()


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
