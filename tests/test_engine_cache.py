"""The engine cache under damage, and builds that must stop.

A damaged-cache corpus (bench/engine.py verifies an entry's manifest and
digest before it loads the library): a truncated, byte-flipped, empty or
foreign library, a folder in its place, a read-only cache and a full one.
Every case rebuilds or falls back to a temporary folder, says so in one
line, leaves no partial file and counts what the interpreter counts; no
case may crash the process as the library loads (SIGBUS, SIGSEGV).

Then bounded builds: a program whose generated C would take minutes runs
under the interpreter with a note, and SIGTERM stops a slow build at once,
its compiler's process group with it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pinbench import strategies
from pinbench.bench import cache as cache_folders
from pinbench.bench import engine
from pinbench.bench.workloads import get_workload
from pinbench.cython_core import _executor

from .helpers import CLI

pytestmark = pytest.mark.skipif(engine.find_compiler() is None, reason="the compiled engine needs a C compiler")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An engine cache of the test's own, and a process that has loaded
    nothing from it (a loaded library stays mapped: a new process meets
    the files as they are)."""
    monkeypatch.setenv("PINBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(engine, "_loaded", {})
    monkeypatch.setattr(engine, "_fallback", None)
    return tmp_path / "cache" / "engines"


def pair(locals_):
    """A small program whose engine no other test loads (``locals_`` makes it unique)."""
    program = get_workload("chain").compile({"depth": 4, "tasks": 2, "locals": locals_})
    return program, strategies.get("anchor_box").plan(program)


def built(program, layout) -> Path:
    """The cache entry of (program, layout), built but not loaded: this
    process never maps it, so damaging it is what a new process finds."""
    compiler = engine.find_compiler()
    source, key = engine._needed(program, layout, compiler)
    return engine._build(source, key, compiler, cache_folders.cache_root(cache_folders.ENGINES), engine._Compilers())


def counts(program, layout, compiled) -> dict:
    result = _executor.run(program, layout, "system", engine=compiled)
    return {k: result[k] for k in ("allocs", "frees", "bytes_allocated", "polls", "checksum")}


def notes(capsys) -> list:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def assert_sound(program, layout, compiled):
    assert counts(program, layout, compiled) == counts(program, layout, None)


def leftovers(folder: Path) -> list:
    """Anything a build may leave half done: staging folders, temporary files."""
    if not folder.exists():
        return []
    return [p.name for p in folder.iterdir() if p.name.startswith(".") or p.name.endswith(".tmp")]


# -- damaged entries: rebuilt, in one line ---------------------------------------------


def truncate(path: Path, other: Path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip(path: Path, other: Path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the code or data: loading it would run garbage
    path.write_bytes(bytes(data))


def empty(path: Path, other: Path):
    path.write_bytes(b"")


def foreign(path: Path, other: Path):
    """Another program's engine, manifest and all, under this key."""
    shutil.copyfile(other, path)
    shutil.copyfile(other.with_suffix(".json"), path.with_suffix(".json"))


def foreign_library(path: Path, other: Path):
    """Another program's library, this entry's manifest."""
    shutil.copyfile(other, path)


def folder(path: Path, other: Path):
    path.unlink()
    path.mkdir()
    (path / "something").write_text("in the way")


def no_manifest(path: Path, other: Path):
    path.with_suffix(".json").unlink()


DAMAGE = [truncate, flip, empty, foreign, foreign_library, folder, no_manifest]


@pytest.mark.parametrize("damage", DAMAGE, ids=[d.__name__ for d in DAMAGE])
def test_a_damaged_entry_is_rebuilt_with_a_one_line_note(cache, capsys, damage):
    program, layout = pair(8)
    other = built(*pair(16))
    path = built(program, layout)
    damage(path, other)
    capsys.readouterr()
    rebuilt = engine.compiled(program, layout)
    lines = notes(capsys)
    assert len(lines) == 1 and lines[0].startswith("pinbench: note: ") and "damaged" in lines[0], lines
    assert str(path) in lines[0] and "rebuilding" in lines[0]
    assert rebuilt.path == path and path.is_file()
    assert engine._damage(path, path.stem, None) is None  # the new entry vouches for itself
    assert_sound(program, layout, rebuilt)
    assert leftovers(cache) == []
    engine._loaded.clear()  # and the next process loads it without a word
    engine.compiled(program, layout)
    assert notes(capsys) == []


# -- a cache that cannot be written: a temporary folder, in one line ------------------------


@contextlib.contextmanager
def tmpfs(where: Path, options: str):
    """A real small or read-only file system at ``where`` (root only)."""
    where.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'not root'}): a real full or "
                    "read-only cache is not tried on this machine")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def assert_falls_back(capsys, program, layout, cache_folder: Path):
    compiled = engine.compiled(program, layout)
    lines = notes(capsys)
    assert len(lines) == 1 and lines[0].startswith("pinbench: note: cannot write the engine cache"), lines
    assert "PINBENCH_CACHE" in lines[0]
    assert engine._fallback is not None and compiled.path.parent == engine._fallback
    assert_sound(program, layout, compiled)
    # A second engine goes to the same folder without another word.
    second = engine.compiled(*pair(40))
    assert second.path.parent == engine._fallback and notes(capsys) == []
    if cache_folder.exists():
        assert not list(cache_folder.glob("*.c")) and leftovers(cache_folder) == []


def test_a_read_only_cache_falls_back_to_a_temporary_folder(tmp_path, cache, capsys, monkeypatch):
    with tmpfs(tmp_path / "ro", "ro,size=1m") as ro:
        monkeypatch.setenv("PINBENCH_CACHE", str(ro))
        program, layout = pair(24)
        assert_falls_back(capsys, program, layout, ro / "engines")


def test_a_read_only_cache_folder_falls_back_without_root(tmp_path, cache, capsys, monkeypatch):
    """The same through permissions, where they bind (root ignores them)."""
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders; the tmpfs test covers this case")
    cache.mkdir(parents=True)
    cache.chmod(0o555)
    try:
        assert_falls_back(capsys, *pair(24), cache)
    finally:
        cache.chmod(0o755)


@pytest.mark.parametrize("size", ["16k", "24k"], ids=["source-does-not-fit", "library-does-not-fit"])
def test_a_full_cache_falls_back_and_leaves_no_partial_file(tmp_path, cache, capsys, monkeypatch, size):
    """16 KiB: the generated C (18 KB) does not fit; 24 KiB: it does, and
    the compiler runs out of space writing the library (20 KB)."""
    with tmpfs(tmp_path / "full", f"size={size}") as full:
        monkeypatch.setenv("PINBENCH_CACHE", str(full))
        program, layout = pair(32)
        source, _ = engine._needed(program, layout, engine.find_compiler())
        assert 16 * 1024 < len(source) < 20 * 1024
        assert_falls_back(capsys, program, layout, full / "engines")


def test_a_full_cache_falls_back_without_root(tmp_path, cache, capsys, monkeypatch):
    """The same where no tmpfs can be mounted: every write into the cache
    fails as a full disk does (ENOSPC), the compiler's included."""
    import errno
    import pathlib

    write_text = pathlib.Path.write_text

    def full(path, *args, **kwargs):
        if str(path).startswith(str(cache)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return write_text(path, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", full)
    assert_falls_back(capsys, *pair(56), cache)


# -- bounded builds ---------------------------------------------------------------------


def wide_join(tmp_path: Path, children: int) -> Path:
    """Two functions, one joining ``children`` copies of the other: a few
    lines of workload file, megabytes of generated C."""
    joined = ", ".join(['"leaf"'] * children)
    path = tmp_path / "wide.toml"
    path.write_text(f'[workload]\nname = "wide"\ntasks = 1\n\n[fn.main]\nsteps = [{{ join = [{joined}] }}]\n\n'
                    '[fn.leaf]\nlocals = 8\nsteps = [{ work = 8 }]\n')
    return path


def test_a_program_too_large_to_compile_quickly_runs_interpreted_with_a_note(tmp_path):
    """The bound looks at the generated C, not the number of functions
    (two here): the run uses the interpreter and says why in one line."""
    workload = wide_join(tmp_path, 10_000)
    done = subprocess.run(
        [*CLI, "run", "-w", str(workload), "-a", "system", "--counts-only",
         "-o", str(tmp_path / "out")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PINBENCH_CACHE": str(tmp_path / "cache")},
    )
    assert done.returncode == 0, done.stderr
    notes = [line for line in done.stderr.splitlines() if "note:" in line]
    assert len(notes) == 1 and "wide" in notes[0] and "MB" in notes[0] and "interpreted" in notes[0], done.stderr
    assert '"engine": "interpreted"' in (tmp_path / "out" / "results.json").read_text()
    assert not (tmp_path / "cache" / "engines").exists() or not list((tmp_path / "cache" / "engines").iterdir())


def test_the_bound_counts_only_what_is_not_cached(cache):
    program, layout = pair(48)
    source, _ = engine._needed(program, layout, engine.find_compiler())
    with pytest.raises(engine.TooLarge, match="wide|chain"):
        engine.prepare([(program, layout)], max_source=len(source) - 1)
    engine.compiled(program, layout)
    assert engine.prepare([(program, layout)], max_source=len(source) - 1)  # cached: nothing to compile


SLOW_BUILD = textwrap.dedent(
    """
    import sys
    from pinbench import strategies
    from pinbench.bench import engine
    from pinbench.bench.toml_loader import load_program
    program = load_program(sys.argv[1])
    print("building", flush=True)
    engine.compiled(program, strategies.get("always_heap").plan(program))
    """
)


def compilers_of(pid: int, cache_dir: Path) -> list:
    """Processes other than ``pid`` whose command line names this slow
    build's cache (the compiler driver, cc1, as), whatever their group: its
    own folder, not a name the other parameters' builds share (they may run
    at the same time in another xdist worker)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != pid:
            with contextlib.suppress(OSError):
                if str(cache_dir).encode() in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
    return found


@pytest.mark.parametrize("how, via", [("SIGTERM", "engine"), ("SIGINT", "engine"), ("SIGTERM", "run")])
def test_a_signal_stops_a_slow_build_at_once_with_its_compiler(tmp_path, how, via):
    """A build gcc needs minutes for (a join of 10,000 children): the
    signal ends the process within seconds (the target is 2 s; the bound
    is generous for a busy machine) and no compiler outlives it; through
    the engine alone (SIGTERM unhandled) and through `pinbench run`
    (which handles it: exit 143, the run says it was interrupted)."""
    workload = wide_join(tmp_path, 10_000)
    cache_dir = tmp_path / "pinbench-stop-test"
    command = [sys.executable, "-c", SLOW_BUILD, str(workload)] if via == "engine" else \
        [*CLI, "run", "--counts-only", "-w", str(workload), "-s", "always_heap", "-a", "system",
         "--engine", "compiled", "-o", str(tmp_path / "out")]
    # SIGINT as a terminal delivers it: a shell that started the tests in the background
    # (`... &`) left it ignored, which the child would inherit and Python would keep.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                               env={**os.environ, "PINBENCH_CACHE": str(cache_dir)},
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    if via == "engine":
        assert process.stdout.readline().strip() == "building"
    deadline = time.monotonic() + 60
    while not compilers_of(process.pid, cache_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    running = compilers_of(process.pid, cache_dir)
    assert running, "the compiler never started"
    time.sleep(1)  # well into the build
    sent = time.monotonic()
    process.send_signal(getattr(signal, how))
    try:
        process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    took = time.monotonic() - sent
    print(f"{how}: the build stopped {took:.2f} s after the signal")
    assert took < 10, took
    time.sleep(0.2)
    assert compilers_of(process.pid, cache_dir) == [], "a compiler outlived the build"
    assert not list((cache_dir / "engines").glob("*.so")) and leftovers(cache_dir / "engines") == []
    if via == "run":
        assert process.returncode == 128 + signal.SIGTERM
        assert "pinbench: interrupted: 0 of 1 benchmarks finished" in process.stderr.read()
        assert not (tmp_path / "out").exists()


def test_no_writable_folder_at_all_is_one_line(tmp_path, cache, monkeypatch):
    """The cache and the temporary folder both full: an error of one line, no traceback."""
    import errno

    from pinbench.model.errors import UsageError

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(engine.tempfile, "TemporaryDirectory", full)
    with pytest.raises(UsageError) as error:
        engine.compiled(*pair(64))
    message = str(error.value)
    assert "\n" not in message and "neither the cache" in message and "No space left on device" in message
