"""The ``halo`` strategy against Clang: coroutine frames really allocated.

The C++20 programs :mod:`.cpp` generates (the ``always_heap`` counterparts)
are compiled with Clang instead of g++, and their counting ``operator new``
says how many coroutine frames Clang put on the heap. Beside them: the
model's allocations under ``always_heap`` (every frame on the heap),
``halo`` and ``halo:elide_args=1``. The compilers:

* ``clang++-19 -O2`` (Debian's clang-19): the task type as generated. The
  classic CoroElide pass elides a frame wherever, after inlining, it sees
  the frame created and destroyed in the caller.
* clang 22 (``python -m ziglang c++``) with the task type marked
  ``[[clang::coro_await_elidable]]`` and the destructors opaque
  (``[[gnu::noinline]]``), so the classic pass sees no destroy and the
  annotation's rule (llvm CoroAnnotationElide.cpp) is alone at work;
  once with its defaults and once with ``-mllvm -coro-elide-branch-ratio=0``
  (by default clang 22 skips a call site whose block it estimates to run
  less often than a threshold relative to the entry: every call after the
  first suspension, here).

``python -m pinbench.bench.validate.halo`` prints the table of
docs/validation.md ("halo"); tests/test_validate_halo.py asserts it.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ...model.program import Program
from ..runner import execute
from ..workloads import WORKLOADS
from . import cpp
from .common import ProgramView, check_supported

FLAGS = ("-O2", "-std=c++20")
MODEL = ("always_heap", "halo", "halo:elide_args=1")


@dataclass(frozen=True)
class Compiler:
    label: str  # the table's column
    command: tuple  # the compiler, before its flags
    flags: tuple  # beyond FLAGS
    elidable: bool  # the task type marked [[clang::coro_await_elidable]]
    opaque_destroy: bool  # the destructors [[gnu::noinline]]


def clang19() -> Compiler | None:
    path = shutil.which("clang++-19")
    return Compiler("clang++-19 -O2", (path,), (), False, False) if path else None


def clang22() -> list:
    """clang 22 from the ziglang package (the project's test extras), or none."""
    if importlib.util.find_spec("ziglang") is None:
        return []
    zig = (sys.executable, "-m", "ziglang", "c++")
    return [
        Compiler("clang 22, annotation", zig, (), True, True),
        Compiler("clang 22, annotation, ratio 0", zig, ("-mllvm", "-coro-elide-branch-ratio=0"), True, True),
    ]


def sequential_calls(n: int = 3):
    """``main`` awaits ``a`` n times in a row: do the elided frames share one
    space (the largest) or each have their own (the sum)?"""
    p = Program(f"{n} sequential calls", tasks=2)
    main = p.fn("main")
    for _ in range(n):
        main.call("a")
    p.fn("a", locals=256).work(256).io(1).work(256)  # its 256 bytes live across the await
    return p.compile()


def cases() -> list:
    """``[(label, compiled program)]``: every built-in workload with a C++
    counterpart at its ``validation_quick`` parameters, the generator not
    borrowing too, and :func:`sequential_calls` with one call and three."""
    out = []
    for name, workload in WORKLOADS.items():
        for extra in ({}, {"borrow": False}) if name == "generator" else ({},):
            params = {**workload.validation_quick, **extra}
            program = workload.compile(params)
            try:
                check_supported(program)
            except Exception:
                continue
            label = name + "".join(f" {k}={v}" for k, v in params.items())
            out.append((label, program))
    out += [(f"{n} sequential call{'s' if n > 1 else ''} tasks=2", sequential_calls(n)) for n in (1, 3)]
    return out


def model_counts(program) -> dict:
    return {s: execute(program, s, "system") for s in MODEL}


def native_counts(compiler: Compiler, programs: list, folder: Path) -> list:
    """One JSON row per program: the run of ``compiler`` 's binary."""
    # One run per program: the C++ source does not depend on a layout, the
    # compiler decides where the frames go.
    cases = [(ProgramView.of(p), [None]) for p in programs]
    source = folder / ("".join(ch if ch.isalnum() else "_" for ch in compiler.label) + ".cpp")
    binary = source.with_suffix("")
    source.write_text(cpp.generate(cases, elidable=compiler.elidable, opaque_destroy=compiler.opaque_destroy))
    subprocess.run([*compiler.command, *FLAGS, *compiler.flags, str(source), "-o", str(binary)],
                   check=True, capture_output=True, text=True, timeout=900)
    done = subprocess.run([str(binary), "1"], check=True, capture_output=True, text=True, timeout=600)
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def measure(compilers: list, selected=None) -> list:
    """Rows: ``(label, model runs by strategy, {compiler label: native row})``."""
    chosen = selected if selected is not None else cases()
    programs = [p for _, p in chosen]
    native = {}
    with tempfile.TemporaryDirectory(prefix="pinbench-halo-") as tmp:
        for compiler in compilers:
            native[compiler.label] = native_counts(compiler, programs, Path(tmp))
    return [(label, model_counts(p), {c: rows[i] for c, rows in native.items()})
            for i, (label, p) in enumerate(chosen)]


def table(rows: list, compilers: list) -> str:
    """docs/validation.md's table: frames allocated (and bytes) per case."""
    head = ["case", *(f"model {s}" for s in MODEL), *compilers]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, model, native in rows:
        cells = [label]
        cells += [f"{model[s]['allocs']:,} ({model[s]['bytes_allocated']:,} B)" for s in MODEL]
        for c in compilers:
            row = native[c]
            same = row["checksum"] == model["halo"]["checksum"]
            cells.append(f"{row['allocs']:,} ({row['bytes']:,} B)" + ("" if same else " checksum differs"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    compilers = [c for c in [clang19(), *clang22()] if c]
    if not compilers:
        print("no clang: apt-get install clang-19, or pip install ziglang", file=sys.stderr)
        return 2
    rows = measure(compilers)
    print(table(rows, [c.label for c in compilers]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
