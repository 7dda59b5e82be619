"""Finding the compilers, compiling into a cache folder, running with a timeout.

A build is cached under ``<cache>/<language>-<hash>/`` where the hash covers
the source, the compiler's version text and the flags, so a new compiler
or a changed generator rebuilds and an unchanged one does not. The cache
folder is ``native/`` under pinbench's cache (bench/cache.py).

Every failure the user can meet (a compiler error, a crash, a timeout) is a
one-line :class:`UsageError` naming the generated source, never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ...model.errors import UsageError
from .. import cache

COMPILE_TIMEOUT = 600  # seconds; rustc -O on a few hundred functions takes seconds


@dataclass(frozen=True)
class Toolchain:
    """One compiler: its language, command, version text and flags."""

    language: str  # "rust" or "c++"
    label: str  # what the tables show: "rustc" or "g++"
    path: str
    version: str
    flags: tuple
    source_name: str
    libs: tuple = ()  # after the source: the libraries it links (-lboost_context)

    def command(self, source: Path, output: Path) -> list:
        # The output before the source: rustc, g++ and `go build` all take it there.
        return [self.path, *self.flags, "-o", str(output), str(source), *self.libs]


RUST_FLAGS = ("--edition", "2021", "-O", "-C", "panic=abort")
CXX_FLAGS = ("-O2", "-std=c++20")


def _version(path: str, args: list) -> str | None:
    try:
        done = subprocess.run([path, *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip()


def find_rustc() -> Toolchain | None:
    """rustc from $RUSTC or the PATH, or None."""
    path = os.environ.get("RUSTC") or shutil.which("rustc")
    if not path:
        return None
    version = _version(path, ["--version", "--verbose"])
    if version is None:
        return None
    return Toolchain("rust", "rustc", path, version, RUST_FLAGS, "main.rs")


def find_cxx() -> Toolchain | None:
    """g++ from $CXX or the PATH, or None."""
    path = os.environ.get("CXX") or shutil.which("g++")
    if not path:
        return None
    version = _version(path, ["--version"])
    if version is None:
        return None
    return Toolchain("c++", "g++", path, version, CXX_FLAGS, "main.cpp")


def build_key(toolchain: Toolchain, source: str) -> str:
    digest = hashlib.sha256()
    for part in (source, toolchain.version, toolchain.path, json.dumps(toolchain.flags + toolchain.libs)):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:20]


def _first_error(output: str) -> str:
    """The compiler's first error line (the first line if none says error),
    with rustc's ``--> file:line:column`` line after it when there is one."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if "error" in line.lower():
            if i + 1 < len(lines) and lines[i + 1].startswith("-->"):
                return f"{line} {lines[i + 1]}"
            return line
    return lines[0] if lines else "no output"


def compile_cached(toolchain: Toolchain, source: str, cache_dir=None, *, env=None, log_name=None) -> Path:
    """The executable for ``source``, compiled now or found in the cache.

    The source is written next to the executable (``main.rs`` /
    ``main.cpp``) so a failing build can be read and rebuilt by hand.
    ``env`` is the compiler's whole environment (None: this one);
    ``log_name`` keeps what a successful build printed beside the
    executable (Go's assembly listing), and a cached build without it is
    built again.
    """
    root = cache.cache_root(cache.NATIVE, cache_dir)
    folder = root / f"{toolchain.language.replace('+', 'x')}-{build_key(toolchain, source)}"
    binary = folder / "prog"
    if binary.is_file() and os.access(binary, os.X_OK) and (log_name is None or (folder / log_name).is_file()):
        return binary
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot create the native build folder {folder}: {exc.strerror}; "
            f"choose another with --cache-dir or {cache.ENV}"
        ) from None
    source_path = folder / toolchain.source_name
    source_path.write_text(source)
    # Build under a temporary name and rename: two runs sharing the cache
    # never see a half-written executable.
    fd, tmp_name = tempfile.mkstemp(prefix="prog-", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        done = subprocess.run(
            toolchain.command(source_path, tmp),
            capture_output=True,
            text=True,
            timeout=COMPILE_TIMEOUT,
            cwd=folder,
            env=env,
        )
    except subprocess.TimeoutExpired:
        tmp.unlink(missing_ok=True)
        raise UsageError(
            f"{toolchain.label} did not finish compiling {source_path} within {COMPILE_TIMEOUT} s"
        ) from None
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot run {toolchain.path}: {exc.strerror}") from None
    if done.returncode != 0:
        tmp.unlink(missing_ok=True)
        (folder / "compile.log").write_text(done.stdout + done.stderr)
        raise UsageError(
            f"{toolchain.label} failed to compile the generated program {source_path}: "
            f"{_first_error(done.stderr + done.stdout)} (full log: {folder / 'compile.log'})"
        )
    if log_name is not None:
        (folder / log_name).write_text(done.stderr + done.stdout)
    os.replace(tmp, binary)
    return binary


def run_binary(binary: Path, args: list, timeout: float, label: str, env=None) -> str:
    """The program's standard output; a crash or a timeout is a UsageError.
    ``env`` adds variables to this environment."""
    try:
        done = subprocess.run(
            [str(binary), *map(str, args)], capture_output=True, text=True, timeout=timeout,
            env={**os.environ, **env} if env else None,
        )
    except subprocess.TimeoutExpired:
        raise UsageError(
            f"the {label} program {binary} ran longer than {timeout:g} s; lower the workload "
            "sizes or raise --timeout"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot run the {label} program {binary}: {exc.strerror}") from None
    if done.returncode != 0:
        detail = _first_error(done.stderr) if done.stderr.strip() else f"exit status {done.returncode}"
        raise UsageError(f"the {label} program {binary} failed: {detail}")
    return done.stdout
