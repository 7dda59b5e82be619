"""The compiled engine: build, cache and load generated C (bench/codegen.py).

``pinbench run --engine compiled`` (the default where a C compiler works)
turns each (program, layout) into C, compiles it once into a shared library
and hands the library's ``pb_engine`` table to the executor, which then
polls frames with it instead of interpreting the program's arrays. Every
count is the same under both engines; only the time differs.

Compiler: the C compiler that built the extension (``sysconfig`` CC), or
``$PINBENCH_CC``; flags ``-O2`` or ``$PINBENCH_CFLAGS``. Builds are cached
under ``$PINBENCH_CACHE/engines``, else ``$XDG_CACHE_HOME/pinbench/engines``,
else ``~/.cache/pinbench/engines``, one ``<key>.so`` (beside its ``<key>.c``)
and its manifest ``<key>.json``) per key, the key covering the generated
source (which names the program and generator version and folds in the
layout's facts, but no strategy: strategies whose layouts generate the same
C share one engine), the runtime's headers (every .h beside runtime.h),
the compiler's identity and the flags.

The cache is never trusted blindly: a library is loaded only when the
manifest beside it (written by pinbench after the build) records this key,
these inputs and the library's own SHA-256, so a truncated, altered, empty
or foreign file, or a folder in its place, is rebuilt with a one-line note
instead of crashing the process as it loads. A build happens in a private
staging folder and is renamed into place, the manifest last, so concurrent
builders (pyperf's workers, two runs) are safe and a stopped build leaves
nothing half written; a cache that cannot be written (read-only, full)
falls back to a temporary folder for the process, with a one-line note.
Compilers run in process groups of their own, killed at once on Ctrl-C or
SIGTERM. Building is never timed: it happens before a run starts.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import errno
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from . import cache
from .signals import Signals
from ..model.errors import UsageError

COMPILED, INTERPRETED = "compiled", "interpreted"
ENGINES = (COMPILED, INTERPRETED)
DEFAULT_FLAGS = ("-O2",)
# Always added: a shared library the executor can load.
LINK_FLAGS = ("-shared", "-fPIC")
# Every engine is built with these, and its manifest keeps what the compiler
# said (``compiler_output``): generated C must compile without a warning, and
# tests/test_engine.py reads that from the builds a run makes, not from
# compiling every engine a second time.
WARNING_FLAGS = ("-Wall", "-Wextra", "-Wshadow", "-Wstrict-prototypes")
COMPILE_TIMEOUT = 600
# What the default engine compiles at most in one command: the generated C
# of every engine not yet cached, in bytes. gcc -O2 takes about 11 s per MB
# of it (a chain of 1,000 functions: 40 MB; a join of 10,000 children: 6 to
# 9 MB per strategy), so past 16 MB (about 3 minutes of compiling) a run uses
# the interpreter with a note; --engine compiled compiles it anyway.
MAX_DEFAULT_SOURCE = 16_000_000
# Names an entry's manifest; part of the key, so entries from before there
# were manifests are never looked at (not reported damaged, one by one).
MANIFEST_FORMAT = "pinbench-engine-2"  # 2: records what the compiler said
BREAK_ENV = "PINBENCH_ENGINE_BREAK"  # tests: append a syntax error to the generated C
# What decides which engine a process builds or finds (pyperf's workers inherit these).
ENVIRONMENT = ("PINBENCH_CACHE", "PINBENCH_CC", "PINBENCH_CFLAGS", "XDG_CACHE_HOME", BREAK_ENV)


def check_engine(name: str) -> str:
    """``name`` if it is an engine, else a one-line UsageError."""
    if name not in ENGINES:
        raise UsageError(f"unknown engine '{name}'; choose one of: {', '.join(ENGINES)}")
    return name


@dataclass(frozen=True)
class Compiler:
    """The C compiler engines are built with."""

    command: tuple  # e.g. ("gcc", "-pthread")
    version: str  # first line of --version
    flags: tuple  # optimisation and other user flags (-O2 by default)

    @property
    def label(self) -> str:
        return f"{self.version} {' '.join(self.flags)}".strip()


def _runtime_dir() -> Path:
    # Installed, the headers are package data beside the extension.
    from ..cython_core import _executor

    return Path(_executor.__file__).resolve().parent


@lru_cache(maxsize=8)
def _compiler(command: tuple, cflags: str) -> Compiler | None:
    try:
        done = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    version = (done.stdout.strip().splitlines() or [command[0]])[0]
    flags = tuple(_words("PINBENCH_CFLAGS", cflags)) if cflags else DEFAULT_FLAGS
    return Compiler(command, version, flags)


def _words(variable: str, text: str) -> list:
    """``text`` split as a shell would (quotes group words); a quote left
    open is a one-line UsageError naming the variable."""
    try:
        return shlex.split(text)
    except ValueError as error:
        raise UsageError(f"${variable} is not valid shell words ({error}): {text}; fix its quoting") from None


def find_compiler() -> Compiler | None:
    """The C compiler (``$PINBENCH_CC``, else the one that built Python's
    extensions), or None when there is none that runs."""
    cc = os.environ.get("PINBENCH_CC") or sysconfig.get_config_var("CC") or "cc"
    command = _words("PINBENCH_CC", cc)
    found = shutil.which(command[0]) if command else None
    if found is None:
        return None
    return _compiler((found, *command[1:]), os.environ.get("PINBENCH_CFLAGS", ""))


def default_engine() -> tuple[str, str | None]:
    """(engine, note): compiled where a C compiler works, else interpreted
    with a one-line note saying why."""
    if find_compiler() is None:
        cc = os.environ.get("PINBENCH_CC") or sysconfig.get_config_var("CC") or "cc"
        return INTERPRETED, (
            f"note: no working C compiler ({cc}): using the interpreted engine "
            "(set PINBENCH_CC to compile the workloads)"
        )
    return COMPILED, None


def _codegen():
    """bench/codegen.py, imported where an engine is built, not where one is
    only loaded: it brings the model and numpy, which pyperf's workers
    (bench/worker.py) start without."""
    from . import codegen

    return codegen


@lru_cache(maxsize=1)
def _runtime_text() -> str:
    folder = _runtime_dir()
    return "".join(path.read_text() for path in sorted(folder.glob("*.h")))  # runtime.h, tasks.h, allocators.h


def build_key(source: str, compiler: Compiler) -> str:
    digest = hashlib.sha256()
    for part in (source, _runtime_text(), " ".join(compiler.command), compiler.version,
                 " ".join(compiler.flags), str(_codegen().GENERATOR_VERSION), MANIFEST_FORMAT):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:24]


@dataclass
class Engine:
    """A loaded engine: pass it to the executor as ``engine=``."""

    key: str
    path: Path
    address: int
    compiler: Compiler | None  # None: loaded by path (load_built)
    library: ctypes.CDLL


_loaded: dict = {}
_lock = threading.Lock()
# An engine cache that cannot be written (read-only, full, something else
# in the way) is replaced, for the rest of the process, by a temporary
# folder of its own, removed at exit; pyperf's workers and the instruction
# counter load the libraries from there by path while the run lasts.
_fallback: Path | None = None


def _say(text: str) -> None:
    print(f"pinbench: {text}", file=sys.stderr, flush=True)


def _inputs(source: str, compiler: Compiler) -> dict:
    """What an entry was built from: the manifest records it, so an entry
    is only loaded for the very inputs its key stands for."""
    return {
        "source_sha256": hashlib.sha256(source.encode()).hexdigest(),
        "runtime_sha256": hashlib.sha256(_runtime_text().encode()).hexdigest(),
        "compiler": list(compiler.command),
        "compiler_version": compiler.version,
        "flags": list(compiler.flags),
        "generator_version": _codegen().GENERATOR_VERSION,
    }


def _manifest(key: str, library: bytes, inputs: dict, compiler_output: str) -> dict:
    return {"format": MANIFEST_FORMAT, "key": key, "sha256": hashlib.sha256(library).hexdigest(),
            "bytes": len(library), "inputs": inputs, "compiler_output": compiler_output}


def manifest_of(engine: Engine) -> dict:
    """What the cache recorded of ``engine``'s build (its inputs, digest and compiler output)."""
    return json.loads(engine.path.with_suffix(".json").read_text(encoding="utf-8"))


def _damage(path: Path, key: str, inputs: dict | None) -> str | None:
    """Why the entry ``path`` (``<key>.so`` beside its ``<key>.json``) must
    not be loaded, or None when it is the library pinbench wrote for these
    inputs. Checked before ``dlopen``: a truncated or altered library
    would otherwise crash the process (SIGBUS, SIGSEGV) as it loads."""
    if path.is_dir():
        return "a folder is in its place"
    try:
        library = path.read_bytes()
        manifest = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "it has no manifest (written by an older pinbench, or its build was cut short)"
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return f"it cannot be read ({getattr(error, 'strerror', None) or type(error).__name__})"
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT or manifest.get("key") != key:
        return "its manifest is not pinbench's for this key"
    if inputs is not None and manifest.get("inputs") != inputs:
        return "it was built from other inputs (another program, runtime or compiler)"
    if manifest != _manifest(key, library, manifest["inputs"], manifest.get("compiler_output")):
        return f"its digest differs from the one recorded ({len(library)} bytes, truncated or altered)"
    return None


def _load(path: Path, key: str, compiler: Compiler | None, program, layout) -> Engine | None:
    """The engine in the verified library ``path``, or None if it is not a
    valid engine for this program (the executor checks the rest)."""
    try:
        library = ctypes.CDLL(str(path), mode=os.RTLD_LOCAL | os.RTLD_NOW)
        get = library.pb_engine_get
    except (OSError, AttributeError):
        return None
    get.restype = ctypes.c_void_p
    get.argtypes = []
    address = get()
    if not address:
        return None
    abi, ex_size, n_fns, bottom_up = (ctypes.c_uint32 * 4).from_address(address)
    if n_fns != len(program.fn_names) or bool(bottom_up) != bool(layout.bottom_up):
        return None
    # abi and ex_size are checked by the executor against its own runtime.h.
    del abi, ex_size
    return Engine(key, path, address, compiler, library)


def _source_for(program, layout) -> str:
    source = _codegen().generate(program, layout)
    if os.environ.get(BREAK_ENV):
        source += "\nthis is not C;\n"
    return source


class _Compilers:
    """The compiler processes of one :func:`prepare`. Each runs in a process
    group of its own, so that a stop (Ctrl-C, SIGTERM) kills the compiler
    and everything it started (cc1, as) at once, instead of waiting minutes
    for a large build to end."""

    def __init__(self):
        self.lock = threading.Lock()
        self.running: set = set()
        self.stopped = False

    def run(self, command: list) -> tuple[int, str]:
        """(exit status, output) of ``command``; negative if it was stopped."""
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   start_new_session=True)
        with self.lock:
            self.running.add(process)
            if self.stopped:  # stopped while this one was starting
                self._kill(process)
        try:
            output, _ = process.communicate(timeout=COMPILE_TIMEOUT)
        except BaseException:
            self._kill(process)
            process.wait()
            raise
        finally:
            with self.lock:
                self.running.discard(process)
        return process.returncode, output

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
            for process in self.running:
                self._kill(process)

    @staticmethod
    def _kill(process) -> None:
        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGKILL)


class _Stopped(Exception):
    """A build whose compiler was killed because the command is stopping."""


def _build(source: str, key: str, compiler: Compiler, folder: Path, compilers: _Compilers) -> Path:
    """Compile ``source`` into ``folder/<key>.so`` beside ``<key>.c`` and
    its manifest ``<key>.json``. Everything is made in a private staging
    folder and renamed into place, the manifest last, so concurrent
    builders are safe and a stopped or failed build leaves nothing half
    written. An OSError means the folder cannot hold the entry (read-only,
    full, something in the way): the caller falls back."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{key}-", dir=folder, ignore_cleanup_errors=True) as staging:
        staged = Path(staging) / key
        staged.with_suffix(".c").write_text(source)
        command = [*compiler.command, *compiler.flags, *WARNING_FLAGS, *LINK_FLAGS, f"-I{_runtime_dir()}",
                   "-o", str(staged.with_suffix(".so")), str(staged.with_suffix(".c"))]
        try:
            status, output = compilers.run(command)
        except subprocess.TimeoutExpired:
            raise UsageError(
                f"the C compiler did not finish compiling the generated engine of {key} within "
                f"{COMPILE_TIMEOUT} s; use --engine interpreted"
            ) from None
        except OSError as exc:
            raise UsageError(f"cannot run the C compiler {compiler.command[0]}: {exc.strerror}") from None
        if status < 0:
            raise _Stopped(key)
        source_path = folder / f"{key}.c"
        if status != 0:
            for error in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT):
                if os.strerror(error) in output:  # the compiler could not write its output here
                    raise OSError(error, os.strerror(error))
            from .validate.toolchain import _first_error  # (the validate package imports the runner)

            os.replace(staged.with_suffix(".c"), source_path)
            log = folder / f"{key}.log"
            log.write_text(output)
            raise UsageError(
                f"the C compiler failed to compile the generated engine {source_path}: "
                f"{_first_error(output)} (full log: {log})"
            )
        library = staged.with_suffix(".so").read_bytes()
        manifest = _manifest(key, library, _inputs(source, compiler), output)
        staged.with_suffix(".json").write_text(json.dumps(manifest, indent=1) + "\n")
        path = folder / f"{key}.so"
        for suffix in (".c", ".so", ".json"):  # the manifest last: it vouches for the library
            os.replace(staged.with_suffix(suffix), path.with_suffix(suffix))
    return path


def _remove_entry(path: Path) -> None:
    """Clear the way for a rebuild: the library and manifest at ``path``,
    whatever they are (a folder included: nothing but pinbench writes
    names like these into its cache)."""
    for item in (path, path.with_suffix(".json")):
        if item.is_dir() and not item.is_symlink():
            shutil.rmtree(item)
        else:
            item.unlink(missing_ok=True)


def _fallback_folder(folder: Path, error: OSError) -> Path:
    """The process's temporary engine folder, said once in one line."""
    global _fallback
    with _lock:
        if _fallback is None:
            _fallback = Path(tempfile.mkdtemp(prefix="pinbench-engines-"))
            atexit.register(shutil.rmtree, _fallback, ignore_errors=True)
            _say(f"note: cannot write the engine cache {folder} ({error.strerror or error}): building in "
                 f"{_fallback} for this run; set PINBENCH_CACHE to a writable folder with free space")
        return _fallback


def _needed(program, layout, compiler: Compiler):
    source = _source_for(program, layout)
    return source, build_key(source, compiler)


def _get(program, layout, compiler: Compiler, folder: Path, source: str, key: str,
         compilers: _Compilers) -> Engine:
    """The engine: loaded, else verified in the cache and loaded, else built
    (a damaged entry is rebuilt with a one-line note; a cache that cannot
    be written falls back to a temporary folder)."""
    with _lock:
        if key in _loaded:
            return _loaded[key]
    path = folder / f"{key}.so"
    engine = None
    if path.exists() or path.with_suffix(".json").exists():
        damage = _damage(path, key, _inputs(source, compiler))
        if damage is None:
            engine = _load(path, key, compiler, program, layout)
            damage = None if engine is not None else "it does not load as this program's engine"
        if damage:
            _say(f"note: the cached engine {path} is damaged ({damage}): rebuilding it")
    if engine is None:
        try:
            _remove_entry(path)
            path = _build(source, key, compiler, folder, compilers)
        except OSError as error:
            try:
                path = _build(source, key, compiler, _fallback_folder(folder, error), compilers)
            except OSError as again:
                raise UsageError(
                    f"cannot build the compiled engine: neither the cache {folder} ({error.strerror or error}) "
                    f"nor a temporary folder ({again.strerror or again}) can be written; free some space, "
                    "set PINBENCH_CACHE to a writable folder, or use --engine interpreted"
                ) from None
        engine = _load(path, key, compiler, program, layout)
        if engine is None:
            raise UsageError(
                f"the compiled engine {path} does not load; remove it and retry, "
                "or use --engine interpreted"
            )
    with _lock:
        return _loaded.setdefault(key, engine)


def require_compiler() -> Compiler:
    compiler = find_compiler()
    if compiler is None:
        raise UsageError(
            "the compiled engine needs a C compiler and none works here; "
            "set PINBENCH_CC or use --engine interpreted"
        )
    return compiler


def load_built(path, program, layout) -> Engine:
    """The engine in the library ``path`` (one ``compiled`` returned in
    another process), for ``program`` under ``layout``."""
    with _lock:
        if str(path) in _loaded:
            return _loaded[str(path)]
    path = Path(path)
    engine = None if _damage(path, path.stem, None) else _load(path, path.stem, None, program, layout)
    if engine is None:
        raise UsageError(f"the compiled engine {path} is missing, damaged or not for this program; "
                         "rerun the command")
    with _lock:
        return _loaded.setdefault(str(path), engine)


def compiled(program, layout) -> Engine:
    """The engine for ``program`` under ``layout``: loaded, or built now."""
    return prepare([(program, layout)])[0]


class TooLarge(Exception):
    """The generated C to compile is past ``max_source`` (see :func:`prepare`)."""


class _Terminated(BaseException):
    """SIGTERM arrived during a build (see :func:`_stopping_on_sigterm`)."""


@contextlib.contextmanager
def _stopping_on_sigterm():
    """SIGTERM, where nothing handles it, interrupts the build like Ctrl-C
    (its compilers are killed, its staging folders removed) and then ends
    the process as SIGTERM would have. A process that handles SIGTERM
    itself (`pinbench run` turns it into KeyboardInterrupt) keeps its handler."""
    with Signals((signal.SIGTERM,), raises=_Terminated, unhandled_only=True):
        try:
            yield
        except _Terminated:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            raise


def prepare(pairs, progress=None, cache_dir=None, max_source: int | None = None) -> list:
    """Engines for every (program, layout), building the missing ones in
    parallel (one compiler per core). ``progress(text)``, when given, is told
    what is being built and when it is done. Engines loaded once stay
    loaded for the process, wherever they were cached. ``max_source``:
    raise :class:`TooLarge` (one line naming the largest program) before
    building anything when the generated C still to compile (not cached)
    is longer than that many bytes.
    Ctrl-C or SIGTERM kills every running compiler's process group at once."""
    compiler = require_compiler()
    folder = cache.cache_root(cache.ENGINES, cache_dir)
    needed, todo = [], {}
    for program, layout in pairs:
        source, key = _needed(program, layout, compiler)
        needed.append((program, layout, source, key))
        if key not in _loaded and not (folder / f"{key}.so").is_file():
            todo[key] = len(source)
        # Stop at the bound: a program of 10,000 functions would generate 400 MB.
        if max_source is not None and sum(todo.values()) > max_source:
            raise TooLarge(f"the generated C still to compile passes {max_source / 1e6:.0f} MB ({program.name} "
                           f"under {layout.strategy}: {len(source) / 1e6:.1f} MB), more than compiles in a few "
                           "minutes")
    missing = set(todo)
    unique = list({key: (program, layout, source, key)
                   for program, layout, source, key in needed}.values())
    started = time.perf_counter()
    if missing and progress:
        progress(f"compiling {len(missing)} engine{'s' if len(missing) != 1 else ''} "
                 f"with {compiler.command[0]} {' '.join(compiler.flags)}")
    compilers = _Compilers()

    def get(item):
        return item[3], _get(item[0], item[1], compiler, folder, item[2], item[3], compilers)

    if not missing:
        # Only loading: no thread. A process that has ever had a second one
        # takes glibc's locked malloc and free for good, and some time runs
        # in the process that loaded their engines (tools/count_round.py).
        engines = dict(map(get, unique))
        return [engines[key] for _, _, _, key in needed]
    with _stopping_on_sigterm():
        pool = ThreadPoolExecutor(max_workers=max(1, min(len(unique), os.cpu_count() or 1)))
        try:
            engines = dict(pool.map(get, unique))
        except BaseException:
            compilers.stop()  # a stop or a failed build: no compiler outlives the command
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # the builds clean their staging folders
    if missing and progress:
        progress(f"compiled {len(missing)} engine{'s' if len(missing) != 1 else ''} "
                 f"in {time.perf_counter() - started:.1f} s")
    return [engines[key] for _, _, _, key in needed]


def engine_of(doc) -> str:
    """The engine a results document (or comparison side) was measured
    with; runs from before there were two engines were interpreted."""
    return doc.engine.get("engine", INTERPRETED)


def engine_text(doc) -> str:
    """One line for show and the report: the engine, and for compiled the
    compiler and flags."""
    info = doc.engine
    name = info.get("engine", INTERPRETED)
    if name == COMPILED and info.get("engine_compiler"):
        return f"{name} ({info['engine_compiler']}, {info.get('engine_flags', '')})".replace(", )", ")")
    return name


def engine_argument(text: str) -> str:
    """argparse ``type`` for --engine: one line naming the choices."""
    import argparse

    try:
        return check_engine(text)
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error).replace("unknown engine", "invalid engine")) from None


def describe(engine_name: str) -> dict:
    """What results metadata records about the engine of a run."""
    if engine_name != COMPILED:
        return {"engine": engine_name}
    compiler = require_compiler()
    return {
        "engine": engine_name,
        "engine_compiler": compiler.version,
        "engine_flags": " ".join(compiler.flags),
    }
