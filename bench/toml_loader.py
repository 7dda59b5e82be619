"""Workload files: programs written in TOML, for users who write no Python.

A file has an optional ``[workload]`` table and one ``[fn.NAME]`` table per
function, in the order the functions are defined::

    [workload]
    name = "echo"      # optional, default: the file name without .toml
    entry = "main"     # optional, default: the first [fn.*] table
    tasks = 100        # optional, default 1

    [fn.main]
    locals = 64        # optional, default 0 (bytes)
    borrows = true     # optional, default false
    generator = false  # optional, default false
    steps = [          # optional, default [] (an empty body)
      { work = 32 },
      { call = "read" },                # optional: limit = N
      { join = ["a", "b"] },            # optional: limit = N
      { select = ["fast", "slow"] },
      { io = 2 },
      "yield_now",
      { spawn = "worker", count = 10, wait = true },   # count, wait, limit optional
      { gen = "numbers", items = 5 },
      { call = "main", limit = 3 },
    ]

Each step table names exactly one kind. The rules are those of the builder
(``model/program.py``) and ``docs/model.md``; ``docs/workload-files.md`` is
the user's reference and ``examples/echo.toml`` a complete example. Every
problem is one :class:`UsageError` line that starts with the file's path.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

from ..model.errors import UsageError
from ..model.native import check_imported
from ..model.program import CompiledProgram, FnBuilder, Program
from ..model.rust_frame import frame_from_table
from .formatting import parse_int

_WORKLOAD_KEYS = ("name", "entry", "tasks")
_FN_KEYS = ("locals", "borrows", "generator", "steps", "rust")
# Step kind -> the optional keys a step of that kind may carry.
_STEP_KEYS = {
    "work": (),
    "call": ("limit", "boxed"),
    "join": ("limit", "boxed"),
    "select": ("boxed",),
    "io": (),
    "spawn": ("count", "wait", "limit"),
    "gen": ("items",),
}
_KINDS_TEXT = 'work, call, join, select, io, spawn, gen or the string "yield_now"'


def load_program(path, overrides=None) -> CompiledProgram:
    """Read, check and compile the workload file at ``path``.

    ``overrides`` replaces settings of the file's ``[workload]`` table
    (``name``, ``entry``, ``tasks``); a ``tasks`` given as a string, as on a
    command line, is read as a whole number.
    """
    path = Path(path)
    data = _read_bytes(path)
    if overrides:
        return _compiled(path, _parse(path, data), overrides)
    return _unchanged(str(path), data)


@lru_cache(maxsize=8)
def _unchanged(path: str, data: bytes) -> CompiledProgram:
    """A file read again with the same bytes is the same program: a run, a
    report or an explain reads a workload file in several places, and a
    file of ten thousand functions takes a second to parse and compile."""
    return _compiled(Path(path), _parse(Path(path), data), {})


def _compiled(path: Path, table: dict, overrides: dict) -> CompiledProgram:
    program = _build_program(path, table, overrides)
    try:
        compiled = program.compile()
        check_imported(compiled)  # rustc's sizes, when the file was imported from rustc
        return compiled
    except UsageError as error:
        raise UsageError(f"{path}: {error}") from None


def _read_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such workload file; check the path") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory; name a .toml workload file") from None
    except OSError as error:
        raise UsageError(
            f"{path}: cannot read the workload file ({error.strerror}); check its permissions"
        ) from None


def _parse(path: Path, data: bytes) -> dict:
    try:
        return tomllib.loads(data.decode())
    except UnicodeDecodeError:
        raise UsageError(f"{path}: is not UTF-8 text; save the workload file as UTF-8") from None
    except tomllib.TOMLDecodeError as error:
        # tomllib's message ends with "(at line L, column C)".
        raise UsageError(f"{path}: TOML syntax error: {error}; fix the file") from None
    except RecursionError:  # tomllib recurses once per level of nesting
        raise UsageError(
            f"{path}: arrays or inline tables nested hundreds of levels deep; a workload file nests "
            "four levels at most ([fn.NAME], steps, a step, a join's names): fix the file"
        ) from None


def _first_unknown(table: dict, allowed):
    """The first key of ``table`` not in ``allowed``, or None."""
    return next((key for key in table if key not in allowed), None)


def _build_program(path: Path, data: dict, overrides: dict) -> Program:
    def fail(message):
        return UsageError(f"{path}: {message}")

    if (key := _first_unknown(data, ("workload", "fn"))) is not None:
        raise fail(f"unknown top-level key '{key}'; use [workload] and [fn.NAME] tables")
    settings = data.get("workload", {})
    if not isinstance(settings, dict):
        raise fail("'workload' must be a table ([workload]); fix the file")
    if (key := _first_unknown(settings, _WORKLOAD_KEYS)) is not None:
        raise fail(f"unknown key '{key}' in [workload]; allowed: {', '.join(_WORKLOAD_KEYS)}")
    if (key := _first_unknown(overrides, _WORKLOAD_KEYS)) is not None:
        raise fail(f"cannot override '{key}'; overridable: {', '.join(_WORKLOAD_KEYS)}")
    settings = {**settings, **overrides}
    tasks = settings.get("tasks", 1)
    if isinstance(tasks, str):
        try:
            tasks = parse_int(tasks)
        except ValueError:
            raise fail(f"tasks={tasks!r} must be a whole number") from None

    functions = data.get("fn", {})
    if not isinstance(functions, dict):
        raise fail("'fn' must hold one [fn.NAME] table per function; fix the file")
    if not functions:
        raise fail("defines no functions; add a [fn.NAME] table for each function")
    program = Program(settings.get("name", path.stem), settings.get("entry"), tasks)
    for name, table in functions.items():
        if not isinstance(table, dict):
            raise fail(f"fn.{name} must be a table ([fn.{name}]); fix the file")
        if (key := _first_unknown(table, _FN_KEYS)) is not None:
            raise fail(
                f"function '{name}': unknown key '{key}'; allowed: {', '.join(_FN_KEYS)}"
            )
        native = None
        if "rust" in table:
            try:
                native = frame_from_table(table["rust"])
            except ValueError as error:
                raise fail(f"function '{name}': {error}; re-import it or fix the file") from None
        builder = program.fn(
            name,
            locals=table.get("locals", 0),
            borrows=table.get("borrows", False),
            generator=table.get("generator", False),
            native=native,
        )
        steps = table.get("steps", [])
        if not isinstance(steps, list):
            raise fail(f"function '{name}': steps must be an array of steps, e.g. [{{ work = 8 }}]")
        for number, step in enumerate(steps, start=1):
            problem = _add_step(builder, step)
            if problem:
                raise fail(f"function '{name}' step {number}: {problem}")
        if native is not None and len(native.awaits) != len(steps):
            raise fail(f"function '{name}': rust.awaits has {len(native.awaits)} entries for {len(steps)} steps; "
                       "give one per step")
    return program


def _flags(value) -> tuple:
    """A join's or select's ``boxed`` array (compile() checks its values)."""
    return tuple(value) if isinstance(value, list) else (value,)


def _add_step(builder: FnBuilder, step) -> str | None:
    """Append one TOML step to ``builder``; return what is wrong with its
    shape instead, or None. Values are checked by compile()."""
    if isinstance(step, str):
        if step == "yield_now":
            builder.yield_now()
            return None
        if step in _STEP_KEYS:
            return f'"{step}" needs a value; write {{ {step} = ... }}'
        return f"unknown step kind '{step}'; use {_KINDS_TEXT}"
    if not isinstance(step, dict):
        return f'a step must be a table like {{ work = 8 }} or the string "yield_now", not {step!r}'
    if not step:
        return f"an empty table is not a step; use {_KINDS_TEXT}"
    kinds = [key for key in step if key in _STEP_KEYS]
    if not kinds:
        return f"unknown step kind '{next(iter(step))}'; use {_KINDS_TEXT}"
    if len(kinds) > 1:
        return f"one table combines {' and '.join(kinds)}; write one step per table"
    kind = kinds[0]
    allowed = _STEP_KEYS[kind]
    if (key := _first_unknown(step, (kind, *allowed))) is not None:
        options = ", ".join(allowed) if allowed else "no other keys"
        return f"key '{key}' is not allowed in a {kind} step; allowed: {options}"
    value = step[kind]
    if kind in ("join", "select") and not isinstance(value, list):
        return f'{kind} takes an array of function names, e.g. {kind} = ["a", "b"]'
    if kind == "work":
        builder.work(value)
    elif kind == "io":
        builder.io(value)
    elif kind == "call":
        builder.call(value, limit=step.get("limit"), boxed=step.get("boxed", False))
    elif kind == "join":
        builder.join(*value, limit=step.get("limit"), boxed=_flags(step.get("boxed", [])))
    elif kind == "select":
        builder.select(*value, boxed=_flags(step.get("boxed", [])))
    elif kind == "spawn":
        builder.spawn(
            value, count=step.get("count", 1), wait=step.get("wait", True), limit=step.get("limit")
        )
    elif "items" not in step:
        return f'gen needs the number of items, e.g. {{ gen = "{value}", items = 10 }}'
    else:
        builder.gen(value, step["items"])
    return None
