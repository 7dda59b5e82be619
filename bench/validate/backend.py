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
  (the root frame), ``fn_sizes`` (every function's), ``stable`` and ``ns``.

A backend that measures what parked tasks hold rather than what they
allocate (Java's stack chunks, Boost's fiber stacks) also declares

- ``held``: its :class:`~.common.Held` figures: the fields its rows carry
  (totals over the row's ``tasks``), each with the model's counterpart and
  its tolerance; its rows then carry ``program``, ``variant``, ``tasks``,
  ``ns``, those fields and a ``detail`` text, and are compared in their
  own table (``result.attrs["held"]``);
- ``supports(view)``: whether its generator can write that program (a
  program it cannot is skipped with a note);
- ``build(toolchain, source, cache_dir)``: its executable, when compiling
  is not one compiler call (default :func:`.toolchain.compile_cached`).

Everything else (finding which strategy maps to which backend, compiling
into the cache, running, reading the rows, the tables) is shared, in
:mod:`bench.validate` and :mod:`.toolchain`. Adding a backend is its module
and its line here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import boost, cpp, java, rust, toolchain


@dataclass(frozen=True)
class Backend:
    name: str
    find: Callable  # () -> Toolchain | None
    tool: str  # the compiler's name, for the note when it is missing
    missing: str  # how to make it found
    expresses: Callable  # (Layout) -> bool
    generate: Callable  # ([(ProgramView, [Layout])]) -> str
    held: tuple = ()  # of common.Held: figures of held memory, not counting-allocator rows
    supports: Callable = lambda view: True  # (ProgramView) -> bool
    build: Callable = toolchain.compile_cached  # (Toolchain, source, cache_dir) -> executable


BACKENDS = {
    backend.name: backend
    for backend in (
        Backend("rust", toolchain.find_rustc, "rustc", "set RUSTC or put rustc on the PATH",
                rust.expresses, rust.generate),
        Backend("c++", toolchain.find_cxx, "g++", "set CXX or put g++ on the PATH", cpp.expresses, cpp.generate),
        Backend("java", java.find, "javac and a JDK 21+", java.MISSING, java.expresses, java.generate,
                java.HELD, java.supports, java.build),
        Backend("boost", boost.find, "g++ with Boost.Context", boost.MISSING, boost.expresses, boost.generate,
                boost.HELD, boost.supports),
    )
}


def missing_note(backend: Backend, strategies: list) -> str:
    """The note that skips a backend whose toolchain is not here."""
    return (
        f"{backend.tool} not found ({backend.missing}): skipping the {backend.name} "
        f"counterparts ({', '.join(strategies) or 'none selected'})"
    )
