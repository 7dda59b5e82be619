"""What a strategy is: a small declaration of policy.

A strategy answers three questions about a compiled program, and the shared
layout code (``model/layout.py``) turns the answers into byte offsets and sizes:

* does this call edge store its child inline in the parent's frame, or in a
  box of its own (the parent keeps an 8-byte pointer)?
* does this function keep its locals in a reference-counted cell?
* is the task polled top-down (Rust futures) or resumed bottom-up (C++
  coroutines), and are futures built by value and moved into place?

Third-party strategies subclass ``Strategy`` and register an instance under
the ``pinbench.strategies`` entry-point group.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from ..model.errors import UsageError
from ..model.native import GXX
# BOX, INLINE and OWN: what a plug-in's ``copied_moves`` names (tests/test_engine.py's plug-ins).
from ..model.layout import BOTTOM_UP, BOTTOM_UP_HEADER, BOX, HEAP, INLINE, OWN, TOP_DOWN, TOP_DOWN_HEADER, compute_layout

# Between a strategy's name and each of its options on the command line:
# ``-s fiber:stack=131072``, ``-s halo:elide_args=1`` (a comma separates strategies).
OPTION_SEPARATOR = ":"


@dataclass(frozen=True)
class Option:
    """A whole-number knob of a strategy (a stack's size, a pool on or off)."""

    name: str
    default: int
    minimum: int
    maximum: int
    help: str  # what it sets, with its unit: shown by `pinbench list` and in errors

    def check(self, strategy: str, text: str) -> int:
        try:
            value = int(text, 0)
        except ValueError:
            value = None
        if value is None or not self.minimum <= value <= self.maximum:
            raise UsageError(
                f"strategy '{strategy}': option '{self.name}' ({self.help}) must be a whole number from "
                f"{self.minimum:,} to {self.maximum:,}, got '{text}'"
            )
        return value


def source_boxed(program, edge: int) -> bool:
    """Whether a heap strategy must box ``edge`` whatever its own rule: a
    back edge, or a child the imported source boxes itself (``Box::pin``)."""
    pinned = program.edge_pinned
    return bool(program.edge_back[edge] or (pinned is not None and len(pinned) and pinned[edge]))


class Strategy:
    """Base class: override the class attributes and the two edge/locals rules."""

    name: str = ""
    summary: str = ""
    origin: str = ""
    polling: str = TOP_DOWN
    moves: bool = True
    # Where such a move copies the future's bytes, as the native program
    # does: INLINE (an awaited child, in its parent), BOX (a Box::pin'd
    # child), OWN (a task's root, boxed by spawn). rustc -O copies into none
    # of them: an unresumed future holds only its arguments and its state,
    # and they are stored straight into the place where it will live
    # (counted and read in the assembly; docs/validation.md, "Which copies
    # the native programs make"). So a move costs the header's writes, and
    # moved_bytes counts the move the language makes.
    copied_moves: tuple = ()
    # Whether a frame's steps reuse one child area (its size the largest
    # step's: a Rust future's await variants overlap) or each step keeps its
    # own (the sum: Clang's elided coroutine frames, one alloca per awaited
    # call). model/layout.py reads it for the executor's frames and for the
    # native sizes.
    shares_child_area: bool = True
    # Whose coroutine frames a bottom-up heap strategy counts: g++ 12's
    # (GXX) or clang 22's (CLANG; model/native.py). ``compiler_flags``: what
    # that compiler must be given to make the strategy's choices (the
    # layout carries both for the native backends).
    frame_compiler: str = GXX
    compiler_flags: tuple = ()
    # Option settings `pinbench validate` checks beside the defaults
    # (each a NAME:SETTINGS variant with the same native counterpart).
    native_variants: tuple = ()
    # How it looks in every figure, table and diagram. None (a plug-in that
    # says nothing): the registry gives it a palette colour and marker that no
    # other strategy uses (strategies.color_of / marker_of).
    color: str | None = None
    marker: str | None = None
    # The language whose native counterpart `pinbench validate` generates
    # ("rust", "c++"), or None: the model alone.
    native: str | None = None
    # Knobs a user may set as ``NAME:OPTION=VALUE`` (each with its default).
    options: tuple = ()

    def option(self, name: str) -> int:
        """The value of one of this strategy's options (its default unless set)."""
        return self.__dict__.get("option_values", {}).get(name, self._declared_option(name).default)

    def _declared_option(self, name: str) -> Option:
        for opt in self.options:
            if opt.name == name:
                return opt
        known = ", ".join(o.name for o in self.options) or "none"
        raise UsageError(f"strategy '{self.name}' has no option '{name}'; its options: {known}")

    def configured(self, settings: str) -> "Strategy":
        """This strategy with ``settings`` ("key=value:key=value") applied. The
        copy's name spells the values that differ from the defaults, in the
        declared order, so a results folder tells variants apart."""
        base = self.__dict__.get("base_name", self.name)  # a variant of a variant: one name, values merged
        values = dict(self.__dict__.get("option_values", {}))
        for item in settings.split(OPTION_SEPARATOR):
            key, eq, text = item.partition("=")
            if not eq or not key.strip():
                raise UsageError(
                    f"strategy '{self.name}': '{item}' is not OPTION=VALUE; "
                    f"write e.g. {self.name}{OPTION_SEPARATOR}"
                    f"{self.options[0].name if self.options else 'option'}={self.options[0].default if self.options else 1}"
                )
            opt = self._declared_option(key.strip())
            values[opt.name] = opt.check(self.name, text.strip())
        variant = copy.copy(self)
        variant.option_values = values
        changed = [f"{o.name}={values[o.name]}" for o in self.options if values.get(o.name, o.default) != o.default]
        variant.name = OPTION_SEPARATOR.join([base, *changed])
        variant.base_name = base
        return variant

    @property
    def header_bytes(self) -> int:
        return BOTTOM_UP_HEADER if self.polling == BOTTOM_UP else TOP_DOWN_HEADER

    def box_edge(self, program, edge: int) -> bool:
        """Whether the child reached through ``edge`` lives in its own box.

        Recursive (back) edges must be boxed by every strategy: an inline
        frame cannot contain itself (rustc demands ``Box::pin`` there); so is
        a child the source itself boxes (:func:`source_boxed`).
        """
        return source_boxed(program, edge)

    def locals_in_cell(self, program, fn: int) -> bool:
        """Whether function ``fn`` keeps its locals in a reference-counted cell."""
        return False

    # -- storage (docs/model.md, "Storage"): heap strategies need none of this
    storage: int = HEAP  # HEAP, STACKS or SLABS

    def place_edge(self, program, edge: int) -> int:
        """Where the child reached through ``edge`` lives: INLINE in its
        parent, in a BOX of its own, pushed on its parent's STACK (or slabs),
        or at the base of a stack of its OWN. Heap strategies answer
        ``box_edge``."""
        return BOX if self.box_edge(program, edge) else INLINE

    def storage_plan(self) -> dict:
        """The sizes the executor follows for STACKS or SLABS storage
        (``Layout``'s storage fields)."""
        return {"storage": self.storage}

    # -- the runtime's own task objects (docs/model.md, "The runtimes' task
    # objects"): what the runtime allocates beside the frames, cited in each
    # strategy's module. Counted as ``runtime_bytes_per_task`` and in the
    # held bytes.
    def stack_frame(self, program, fn: int):
        """STACKS and CHUNKS: the bytes a frame of ``fn`` takes on the
        runtime's own stack (and in its chunks), or None: the model's frame
        (None for every function: the model's frames and its own check)
        (model/layout.py ``stack_checks`` then follows the runtime's rule:
        ``stack_small`` in the storage plan, and ``wait_path``)."""
        return None

    def wait_path(self, program, fn: int) -> tuple:
        """STACKS with ``stack_frame``: the runtime's frames pushed above a
        frame of ``fn`` when it waits, ``(bytes, checks the stack)`` each,
        outermost first."""
        return ()

    def runtime_bytes(self, program, fn: int, frame_bytes: int) -> int:
        """Bytes of the runtime's own object that come with a frame of
        ``fn`` (native size ``frame_bytes``) when it starts a task (heap
        storage), a stack, slabs or virtual thread of its own, or a box:
        none unless a strategy says so."""
        return 0

    def plan(self, program):
        """Lay out ``program`` under this strategy (a ``Layout``). A plug-in
        whose rules raise is a one-line UsageError naming it (a built-in's
        would be a bug of pinbench: its traceback stays)."""
        try:
            return compute_layout(self, program)
        except UsageError:
            raise
        except Exception as exc:
            if type(self).__module__.startswith(f"{__package__}."):
                raise
            raise UsageError(
                f"strategy plug-in '{self.name}' ({type(self).__module__}) failed to lay out {program.name}: "
                f"{type(exc).__name__}: {exc}; fix or uninstall that package"
            ) from None

    def __repr__(self) -> str:
        return f"<strategy {self.name}>"
