"""Native backends: the languages whose real programs the model is checked against.

A backend is one :class:`Backend` entry in :data:`BACKENDS`. It declares

- ``name``: what ``--language`` selects and a strategy's ``native`` names;
- ``find``: its toolchain on this machine (:class:`toolchain.Toolchain`), or
  None; ``tool`` and ``missing``: the compiler's name and how to make it
  found, said in the note that skips the backend when it is not there;
- ``expresses(layout)``: whether its programs can be that layout's
  counterpart at all (the layout's facts, never a strategy's name);
- ``generate(cases)``: one source for ``[(ProgramView, [Layout, ...])]``
  whose program, run with the repetitions as its argument, prints one JSON
  line per program and layout: ``program`` and ``variant`` (the indexes),
  ``allocs``, ``frees``, ``bytes``, ``tasks``, ``checksum``, ``size_of``
  (the root frame), ``fn_sizes`` (every function's), ``stable`` and ``ns``;
- optionally ``variant(layout)``: a key for what its program and build
  depend on beyond the program (layouts with different keys are separate
  programs: ``generate(cases, key)``), and ``flags(key)``: the compiler
  flags that key adds.

Everything else (finding which strategy maps to which backend, compiling
into the cache, running, reading the rows, the tables) is shared, in
:mod:`bench.validate` and :mod:`.toolchain`. Adding a backend is its module
and its line here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import clang, cpp, rust, toolchain


def _one_variant(layout) -> tuple:
    return ()


def _no_flags(key) -> tuple:
    return ()


@dataclass(frozen=True)
class Backend:
    name: str
    find: Callable  # () -> Toolchain | None
    tool: str  # the compiler's name, for the note when it is missing
    missing: str  # how to make it found
    expresses: Callable  # (Layout) -> bool
    generate: Callable  # ([(ProgramView, [Layout])], key) -> str
    variant: Callable = _one_variant  # (Layout) -> hashable key
    flags: Callable = _no_flags  # (key) -> extra compiler flags


BACKENDS = {
    backend.name: backend
    for backend in (
        Backend("rust", toolchain.find_rustc, "rustc", "set RUSTC or put rustc on the PATH",
                rust.expresses, lambda cases, key=(): rust.generate(cases)),
        Backend("c++", toolchain.find_cxx, "g++", "set CXX or put g++ on the PATH",
                cpp.expresses, lambda cases, key=(): cpp.generate(cases)),
        Backend("clang", clang.find, "clang 22", "pip install ziglang (the test extras) or set CLANG to a clang++ 20 or later",
                clang.expresses, clang.generate, clang.variant, clang.flags),
    )
}


def missing_note(backend: Backend, strategies: list) -> str:
    """The note that skips a backend whose toolchain is not here."""
    return (
        f"{backend.tool} not found ({backend.missing}): skipping the {backend.name} "
        f"counterparts ({', '.join(strategies) or 'none selected'})"
    )
