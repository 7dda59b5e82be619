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
per key, the key covering the generated source (which names the program,
layout and generator version), runtime.h and allocators.h, the compiler's
identity and the flags. A build writes a temporary file and renames it into
place, so concurrent builders (pyperf's workers, two runs) are safe; an
entry that does not load as an engine is rebuilt. Building is never timed:
it happens before a run starts.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shlex
import shutil
import subprocess
import sysconfig
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from . import codegen
from ..model.errors import UsageError

COMPILED, INTERPRETED = "compiled", "interpreted"
ENGINES = (COMPILED, INTERPRETED)
DEFAULT_FLAGS = ("-O2",)
# Always added: a shared library the executor can load.
LINK_FLAGS = ("-shared", "-fPIC")
COMPILE_TIMEOUT = 600
# Above this many functions in one program, gcc -O2 takes minutes on the
# generated C (a 10,000-function chain: over 8 minutes), so the default
# engine is the interpreter; --engine compiled still compiles it.
MAX_DEFAULT_FUNCTIONS = 256
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
    flags = tuple(shlex.split(cflags)) if cflags else DEFAULT_FLAGS
    return Compiler(command, version, flags)


def find_compiler() -> Compiler | None:
    """The C compiler (``$PINBENCH_CC``, else the one that built Python's
    extensions), or None when there is none that runs."""
    cc = os.environ.get("PINBENCH_CC") or sysconfig.get_config_var("CC") or "cc"
    command = shlex.split(cc)
    found = shutil.which(command[0]) if command else None
    if found is None:
        return None
    return _compiler((found, *command[1:]), os.environ.get("PINBENCH_CFLAGS", ""))


def child_environment() -> dict:
    """The variables a process with a fixed environment (the instruction
    counter under valgrind) needs to find this process's engines: the same
    cache, the same resolved compiler and flags (so the same keys)."""
    compiler = require_compiler()
    return {
        "PINBENCH_CACHE": str(cache_root().parent),
        "PINBENCH_CC": " ".join(shlex.quote(part) for part in compiler.command),
        "PINBENCH_CFLAGS": " ".join(compiler.flags),
    }


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


def cache_root(cache_dir=None) -> Path:
    """Where engines are cached: ``cache_dir/engines`` (validate's
    --cache-dir), else under $PINBENCH_CACHE, $XDG_CACHE_HOME or ~/.cache."""
    if cache_dir:
        return Path(cache_dir).expanduser() / "engines"
    if os.environ.get("PINBENCH_CACHE"):
        return Path(os.environ["PINBENCH_CACHE"]).expanduser() / "engines"
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "pinbench" / "engines"


@lru_cache(maxsize=1)
def _runtime_text() -> str:
    folder = _runtime_dir()
    return "".join((folder / name).read_text() for name in ("runtime.h", "allocators.h"))


def build_key(source: str, compiler: Compiler) -> str:
    digest = hashlib.sha256()
    for part in (source, _runtime_text(), " ".join(compiler.command), compiler.version,
                 " ".join(compiler.flags), str(codegen.GENERATOR_VERSION)):
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


def _load(path: Path, key: str, compiler: Compiler, program, layout) -> Engine | None:
    """The engine in ``path``, or None if it is missing or not a valid
    engine for this program (a corrupt or foreign file)."""
    if not path.is_file():
        return None
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
    source = codegen.generate(program, layout)
    if os.environ.get(BREAK_ENV):
        source += "\nthis is not C;\n"
    return source


def _build(source: str, key: str, compiler: Compiler, folder: Path) -> Path:
    """Compile ``source`` into ``folder/<key>.so`` (write, then rename)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot create the engine cache folder {folder}: {exc.strerror}; "
            "set PINBENCH_CACHE to a writable folder"
        ) from None
    source_path = folder / f"{key}.c"
    fd, tmp_source = tempfile.mkstemp(prefix=f"{key}-", suffix=".c", dir=folder)
    with os.fdopen(fd, "w") as f:
        f.write(source)
    os.replace(tmp_source, source_path)
    fd, tmp_name = tempfile.mkstemp(prefix=f"{key}-", suffix=".so.tmp", dir=folder)
    os.close(fd)
    command = [*compiler.command, *compiler.flags, *LINK_FLAGS, f"-I{_runtime_dir()}",
               str(source_path), "-o", tmp_name]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=COMPILE_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.unlink(tmp_name)
        raise UsageError(
            f"the C compiler did not finish compiling the generated engine {source_path} "
            f"within {COMPILE_TIMEOUT} s; use --engine interpreted"
        ) from None
    except OSError as exc:
        os.unlink(tmp_name)
        raise UsageError(f"cannot run the C compiler {compiler.command[0]}: {exc.strerror}") from None
    if done.returncode != 0:
        from .validate.toolchain import _first_error  # (the validate package imports the runner)

        os.unlink(tmp_name)
        log = folder / f"{key}.log"
        log.write_text(done.stdout + done.stderr)
        raise UsageError(
            f"the C compiler failed to compile the generated engine {source_path}: "
            f"{_first_error(done.stderr + done.stdout)} (full log: {log})"
        )
    path = folder / f"{key}.so"
    os.replace(tmp_name, path)
    return path


def _needed(program, layout, compiler: Compiler):
    source = _source_for(program, layout)
    return source, build_key(source, compiler)


def _get(program, layout, compiler: Compiler, folder: Path, source: str, key: str) -> tuple[Engine, bool]:
    """(engine, built): loaded from the cache, else built (a corrupt entry
    is rebuilt, once)."""
    with _lock:
        if key in _loaded:
            return _loaded[key], False
    path = folder / f"{key}.so"
    engine = _load(path, key, compiler, program, layout)
    built = False
    if engine is None:
        path = _build(source, key, compiler, folder)
        built = True
        engine = _load(path, key, compiler, program, layout)
        if engine is None:
            raise UsageError(
                f"the compiled engine {path} does not load; remove it and retry, "
                "or use --engine interpreted"
            )
    with _lock:
        _loaded.setdefault(key, engine)
        return _loaded[key], built


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
    engine = _load(Path(path), Path(path).stem, None, program, layout)
    if engine is None:
        raise UsageError(f"the compiled engine {path} is missing or not for this program; rerun the command")
    with _lock:
        return _loaded.setdefault(str(path), engine)


def compiled(program, layout) -> Engine:
    """The engine for ``program`` under ``layout``: loaded, or built now."""
    return prepare([(program, layout)])[0]


def prepare(pairs, progress=None, cache_dir=None) -> list:
    """Engines for every (program, layout), building the missing ones in
    parallel (one compiler per core). ``progress(text)``, when given, is told
    what is being built and when it is done. Engines loaded once stay
    loaded for the process, wherever they were cached."""
    compiler = require_compiler()
    folder = cache_root(cache_dir)
    needed = [(program, layout, *_needed(program, layout, compiler)) for program, layout in pairs]
    missing = {key for _, _, _, key in needed
               if key not in _loaded and not (folder / f"{key}.so").is_file()}
    unique = list({key: (program, layout, source, key)
                   for program, layout, source, key in needed}.values())
    started = time.perf_counter()
    if missing and progress:
        progress(f"compiling {len(missing)} engine{'s' if len(missing) != 1 else ''} "
                 f"with {compiler.command[0]} {' '.join(compiler.flags)}")
    workers = max(1, min(len(unique), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        engines = dict(pool.map(
            lambda item: (item[3], _get(item[0], item[1], compiler, folder, item[2], item[3])[0]),
            unique,
        ))
    if missing and progress:
        progress(f"compiled {len(missing)} engine{'s' if len(missing) != 1 else ''} "
                 f"in {time.perf_counter() - started:.1f} s")
    return [engines[key] for _, _, _, key in needed]


def engine_of(doc: dict) -> str:
    """The engine a results document (or comparison side) was measured
    with; runs from before there were two engines were interpreted."""
    return (doc.get("engine") or {}).get("engine", INTERPRETED)


def engine_text(doc: dict) -> str:
    """One line for show and the report: the engine, and for compiled the
    compiler and flags."""
    info = doc.get("engine") or {}
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
