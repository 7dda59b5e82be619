"""Run metadata: the machine, the toolchain and the source a run came from.

``collect()`` never raises: every probe is guarded and a value that cannot be
found is ``None``, so a missing compiler or a tree outside git never stops a
benchmark run.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

from .. import __version__
from ..cython_core import _executor
from ..model.errors import UsageError

_PROBE_TIMEOUT_S = 5
# What makes two measurements "the same machine": timings compare only
# within one (counts and instruction counts compare across any).
MACHINE_KEYS = ("hostname", "cpu", "logical_cores", "machine", "os")
# The source of this pinbench (the repository's bench/ folder when installed
# in editable mode, site-packages otherwise).
_SOURCE_DIR = Path(__file__).resolve().parent


def _guard(probe):
    """``probe()``, or ``None`` if it fails in any way."""
    try:
        return probe()
    except Exception:
        return None


def cpu_model():
    """The CPU's model name from /proc/cpuinfo, else platform.processor()."""

    def from_cpuinfo():
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as file:
            for line in file:
                key, sep, value = line.partition(":")
                # x86: "model name"; some ARM kernels: "Hardware" or "Processor".
                if sep and key.strip() in ("model name", "Hardware", "Processor", "cpu model"):
                    if value.strip():
                        return value.strip()
        return None

    return _guard(from_cpuinfo) or _guard(platform.processor) or None


def _package_version(name):
    # Imported here: a timing worker imports this module (worker_cpus) and
    # never asks for a version; importlib.metadata is 15 ms of its start.
    from importlib import metadata

    return _guard(lambda: metadata.version(name))


def _run(args, cwd=None):
    """stdout of a short command, or None when it fails or is missing."""
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0", LC_ALL="C")
    done = subprocess.run(
        args,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=_PROBE_TIMEOUT_S,
    )
    if done.returncode != 0:
        return None
    return done.stdout


def compiler():
    """The first line of ``cc --version`` (the C compiler that builds the core)."""

    def probe():
        out = _run([os.environ.get("CC") or "cc", "--version"])
        return out.splitlines()[0].strip() if out and out.strip() else None

    return _guard(probe)


def git_state(source_dir=_SOURCE_DIR):
    """``(commit, dirty)`` of the pinbench checkout at ``source_dir``, or
    ``(None, None)`` outside a pinbench checkout (an installed copy, no git)."""

    def probe():
        top = _run(["git", "rev-parse", "--show-toplevel"], cwd=source_dir)
        if not top:
            return None, None
        top = Path(top.strip())
        # site-packages inside someone else's repository is not our checkout.
        pyproject = top / "pyproject.toml"
        if not pyproject.is_file() or 'name = "pinbench"' not in pyproject.read_text("utf-8"):
            return None, None
        commit = _run(["git", "rev-parse", "HEAD"], cwd=top)
        if not commit:
            return None, None
        status = _run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=top)
        dirty = None if status is None else bool(status.strip())
        return commit.strip(), dirty

    return _guard(probe) or (None, None)


def _built_with(key: str):
    try:
        return _executor.BUILT_WITH[key]
    except Exception:  # metadata must never stop a run
        return None


# pyperf's workers are pinned to these CPUs (``--affinity``): a CPU list
# ("1", "2-3"), or "none" for no pinning. Unset: worker_cpus() chooses.
AFFINITY_ENV = "PINBENCH_AFFINITY"


def worker_cpus() -> str | None:
    """The CPUs pyperf's worker processes are pinned to, as pyperf's
    ``--affinity`` takes them, or None for no pinning.

    pyperf pins its workers to the isolated CPUs (``isolcpus``) by itself
    where there are any. Elsewhere, with two CPUs or more available to this
    process, the workers go to the last of them: a benchmark's single thread
    then never migrates between cores (a migration costs it its caches), and
    CPU 0, where the kernel handles most interrupts, is left to the rest. On
    one CPU there is nothing to choose. ``PINBENCH_AFFINITY`` overrides the
    choice (a CPU list, or ``none``)."""
    given = os.environ.get(AFFINITY_ENV, "").strip()
    if given.lower() == "none":
        return None
    if given:
        cpus = _cpu_list(given)
        allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else cpus
        if cpus is None or not cpus <= allowed:
            raise UsageError(
                f"{AFFINITY_ENV}={given!r} is not a list of this process's CPUs "
                f"({','.join(map(str, sorted(allowed)))}); give one like '1' or '0-1', or 'none'"
            )
        return given
    if _isolated_cpus():
        return None  # pyperf uses them
    try:
        available = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity on this OS
        return None
    return str(available[-1]) if len(available) >= 2 else None


def _cpu_list(text: str):
    """{cpu, ...} of a list like "0,2-3", or None if it is not one."""
    cpus = set()
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        if not low.isdigit() or (high and not high.isdigit()) or int(high or low) < int(low):
            return None
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


def _isolated_cpus() -> str:
    try:
        return Path("/sys/devices/system/cpu/isolated").read_text().strip()
    except OSError:
        return ""


def collect() -> dict:
    """Everything a results file records about where it was measured."""
    commit, dirty = git_state()
    return {
        "cpu": cpu_model(),
        "logical_cores": _guard(os.cpu_count),
        "os": _guard(platform.system),
        "kernel": _guard(platform.release),
        "machine": _guard(platform.machine),
        "hostname": _guard(socket.gethostname),
        "python": _guard(platform.python_version),
        "python_implementation": _guard(platform.python_implementation),
        "python_executable": sys.executable,
        # The Cython and C compiler that built the executor (installed ones may differ).
        "cython": _built_with("cython") or _package_version("Cython"),
        "core_compiler": _built_with("compiler"),
        "numpy": _package_version("numpy"),
        "compiler": compiler(),
        "pinbench": __version__,
        "git_commit": commit,
        "git_dirty": dirty,
        # Where pyperf's workers ran: a CPU list, "isolated CPUs" or "not pinned".
        "worker_cpus": _guard(lambda: worker_cpus() or ("isolated CPUs" if _isolated_cpus() else "not pinned")),
    }
