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

Held memory (optional). A backend whose runtime keeps parked tasks in
memory of its own (a goroutine's stack, a virtual thread's stack chunks, a
fiber's mapping) declares what its rows say about it:

- ``held``: :class:`Held` entries, one per figure its rows carry, each
  naming the row key (a figure of :data:`HELD_FIGURES`: ``reserved``, the
  bytes one parked task holds; ``blocks``, the blocks it holds), the
  model's per-task metric it is compared with (``bench/metrics.py``, e.g.
  ``reserved_bytes_per_task``), a relative ``tolerance`` (0: equal) and an
  optional ``classify`` that both sides go through first (a stack's size
  class: :func:`nearest_power`). A held figure is reported, with how many
  agree; it fails the run (exit 1) only where it says ``gate=True``.
- ``counts``: False when its rows carry no counting-allocator figures at
  all; then a row needs only ``program``, ``variant``, ``tasks``, ``stable``
  and its held figures, and its allocations and checksum are not compared.
- ``build_env(cache root)``: the compiler's whole environment, when it
  needs one (Go's caches inside pinbench's); None: this process's.

The program is run as the others are (its argument: the runs per round)
and must itself start whatever fresh processes a figure needs (Go: one per
case, so every case parks cold).

Everything else (finding which strategy maps to which backend, compiling
into the cache, running, reading the rows, the tables) is shared, in
:mod:`bench.validate` and :mod:`.toolchain`. Adding a backend is its module
and its line here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import boost, clang, cpp, go, java, rust, toolchain

# What a held figure in a native row is, per parked task (the row's key).
HELD_FIGURES = {
    "reserved": "bytes a parked task holds (its stacks, chunks or mapping, used or not)",
    "blocks": "blocks a parked task holds",
    "held": "bytes a parked task holds with its runtime's task objects (a virtual thread's and its chunks')",
}


def nearest_power(x: float) -> int:
    """The power of two nearest to ``x`` in log terms (0 for nothing): the
    size class a measured per-task figure stands for."""
    if x is None or x <= 0:
        return 0
    p = 1
    while p * 2 <= x:
        p *= 2
    return p * 2 if x / p > (p * 2) / x else p


@dataclass(frozen=True)
class Held:
    """One held-memory figure of a backend's rows beside the model's."""

    figure: str  # the row's key, one of HELD_FIGURES
    model: str  # the model's per-task metric it is compared with (bench/metrics.py)
    tolerance: float = 0.0  # relative to the native figure; 0: equal
    classify: Callable | None = None  # both sides mapped first, e.g. nearest_power
    gate: bool = False  # a disagreement fails the run (exit 1)

    def __post_init__(self):
        if self.figure not in HELD_FIGURES:
            raise ValueError(f"held figure '{self.figure}' is not one of {', '.join(HELD_FIGURES)}")

    def classes(self, model, native) -> tuple:
        """The two figures as compared (after ``classify``)."""
        if self.classify is None:
            return model, native
        return self.classify(model), self.classify(native)

    def agrees(self, model, native) -> bool:
        m, n = self.classes(model, native)
        return abs(m - n) <= self.tolerance * abs(n)



def _one_variant(layout) -> tuple:
    return ()


def _no_flags(key) -> tuple:
    return ()


def _without_key(generate: Callable) -> Callable:
    """A backend with one build variant: its generator takes the cases alone."""
    return lambda cases, key=(): generate(cases)


@dataclass(frozen=True)
class Backend:
    name: str
    find: Callable  # () -> Toolchain | None
    tool: str  # the compiler's name, for the note when it is missing
    missing: str  # how to make it found
    expresses: Callable  # (Layout) -> bool
    generate: Callable  # ([(ProgramView, [Layout])], key) -> str
    held: tuple = ()  # of Held: the held-memory figures its rows carry
    counts: bool = True  # its rows carry allocs, bytes, checksum, size_of and ns
    build_env: Callable | None = None  # (cache root Path) -> the compiler's environment
    supports: Callable = lambda view: True  # (ProgramView) -> whether its generator writes that program
    build: Callable | None = None  # (Toolchain, source, cache_dir) -> executable; None: compile_cached
    variant: Callable = _one_variant  # (Layout) -> hashable key
    flags: Callable = _no_flags  # (key) -> extra compiler flags


BACKENDS = {
    backend.name: backend
    for backend in (
        Backend("rust", toolchain.find_rustc, "rustc", "set RUSTC or put rustc on the PATH",
                rust.expresses, _without_key(rust.generate)),
        Backend("c++", toolchain.find_cxx, "g++", "set CXX or put g++ on the PATH",
                cpp.expresses, _without_key(cpp.generate)),
        Backend("clang", clang.find, "clang 22", "pip install ziglang (the test extras) or set CLANG to a clang++ 20 or later",
                clang.expresses, clang.generate, variant=clang.variant, flags=clang.flags),
        # Go's figure is the stack each parked goroutine holds (go.py), as a size class.
        Backend("go", go.find_go, "go", go.MISSING, go.expresses, _without_key(go.generate),
                held=(Held("reserved", "reserved_bytes_per_task", classify=nearest_power),),
                counts=False, build_env=go.build_env),
        # Parked virtual threads: their stack chunks exactly, and what they hold with the
        # runtime's objects within 10% (the model's chunks hold C2's frames: docs/validation.md).
        Backend("java", java.find, java.LABEL, java.MISSING, java.expresses, _without_key(java.generate),
                held=(Held("blocks", "blocks_per_live_task", gate=True), Held("held", "held_bytes_per_live_task", 0.10, gate=True)),
                counts=False, supports=java.supports, build=java.build),
        # Fibers: their mappings and the bytes mapped (stack and guard page), exactly.
        Backend("boost", boost.find, boost.LABEL, boost.MISSING, boost.expresses, _without_key(boost.generate),
                held=(Held("blocks", "blocks_per_live_task", gate=True), Held("reserved", "reserved_bytes_per_task", gate=True)),
                counts=False, supports=boost.supports),
    )
}


def missing_note(backend: Backend, strategies: list) -> str:
    """The note that skips a backend whose toolchain is not here."""
    return (
        f"{backend.tool} not found ({backend.missing}): skipping the {backend.name} "
        f"counterparts ({', '.join(strategies) or 'none selected'})"
    )
