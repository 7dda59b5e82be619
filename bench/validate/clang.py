"""clang 22 counterparts: the C++20 program of :mod:`.cpp`, compiled by clang.

clang 22 is the ``ziglang`` package's (the project's test extras install
it), which knows ``[[clang::coro_await_elidable]]`` (LLVM 20 and later).
It runs as the plain clang driver (``python -m ziglang clang
--driver-mode=g++``) on the host's own target, with the system's libstdc++
headers, C library and linker, as clang++ builds a program on Linux, and
as the ``c++`` backend's program is built by g++: the two C++ counterparts
then differ in the compiler alone. (``zig c++`` would instead build its own
libc++, libc++abi, libunwind and compiler-rt the first time a machine
links with it, a minute of CPU, to the same frames.) A layout whose
frames are clang's (``layout.frame_compiler``) is expressed by the same
program :mod:`.cpp` writes for g++, with the frame placement left to the
compiler, as in the real thing:

* a layout with a child inside its parent's frame (any edge not boxed)
  marks the task type ``[[clang::coro_await_elidable]]``, so clang elides
  the frames its rule allows (CoroAnnotationElide.cpp); one with every
  edge boxed does not, and clang allocates every frame;
* the destructors are opaque (``[[gnu::noinline]]``): the classic CoroElide
  pass, which elides a frame wherever it sees it created and destroyed in
  its caller after inlining, then elides nothing, and the annotation's rule
  is alone at work;
* the work loop is opaque too (``[[gnu::noinline]]``): the locals are then
  data clang must keep, not zeros it folds away (a loop over a few bytes
  of zeroed locals would otherwise become constants, which the model's
  workloads do not mean);
* the layout's ``compiler_flags`` go to clang (``-mllvm
  -coro-elide-branch-ratio=0`` elides calls after a suspension too).

Layouts that differ in these facts are separate programs (:func:`variant`).
What the comparison sees: how many frames clang allocates, their bytes and
every function's frame size (``operator new`` 's argument). It cannot see
where an elided frame sits inside its caller's, only that the caller's
frame grew by it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys

from ...model.layout import HEAP
from ...model.native import CLANG
from . import cpp, toolchain

LABEL = "clang 22"


def find() -> toolchain.Toolchain | None:
    """clang++ from $CLANG (20 or later: it must know the attribute), else
    the ziglang package's, or None."""
    if os.environ.get("CLANG") is not None:
        command = (os.environ["CLANG"],)
    elif (spec := importlib.util.find_spec("ziglang")) is not None and spec.origin and (triple := _host_triple()):
        # zig's clang knows no target or headers of its own beyond clang's
        # resource headers, which zig ships in lib/include.
        resource_dir = os.path.join(os.path.dirname(spec.origin), "lib")
        command = (sys.executable, "-m", "ziglang", "clang", "--driver-mode=g++", "-target", triple,
                   "-resource-dir", resource_dir)
    else:
        return None
    version = toolchain._version(command[0], [*command[1:], "--version"])
    if version is None:
        return None
    return toolchain.Toolchain("clang", LABEL, command[0], version, (*command[1:], *toolchain.CXX_FLAGS), "main.cpp")


def _host_triple() -> str | None:
    """The system compiler's target (x86_64-linux-gnu), whose headers,
    libraries and linker clang then uses; None without a gcc."""
    for cc in ("gcc", "cc"):
        path = shutil.which(cc)
        if path:
            triple = toolchain._version(path, ["-dumpmachine"])
            if triple:
                return triple
    return None


def expresses(layout) -> bool:
    """Bottom-up heap frames counted at clang's sizes."""
    return layout.bottom_up and layout.storage == HEAP and layout.frame_compiler == CLANG


def variant(layout) -> tuple:
    """What the program and its build depend on: whether the task type is
    elidable, and the compiler flags (which only steer the elision)."""
    elidable = not bool(layout.edge_boxed.all())
    return (elidable, tuple(layout.compiler_flags) if elidable else ())


def flags(key: tuple) -> tuple:
    return key[1]


def generate(cases: list, key: tuple = (False, ())) -> str:
    return cpp.generate(cases, elidable=key[0], opaque_destroy=True, opaque_work=True)
