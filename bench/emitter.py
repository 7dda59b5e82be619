"""Lines of generated source, indented by the blocks open around them.

Every generator (the compiled engine's C in codegen.py, validate's C++,
Rust, Go, Java and Boost programs) writes its code through an
:class:`Emitter`: a line takes the depth of the blocks it is written in,
so a generator never re-indents what it wrote::

    out = Emitter()
    with out.block("if (x) {"):
        out.line("y = 1;")          # "    y = 1;"
    out.line("z = 2;")              # after the closing "}"

A text may hold its own leading spaces (a snippet laid out as it reads)
or newlines; only its first line is indented.
"""

from __future__ import annotations

from contextlib import contextmanager


class Emitter:
    """Generated lines, each indented by ``unit`` once per open block."""

    def __init__(self, depth: int = 0, unit: str = "    "):
        self.lines: list[str] = []
        self.depth = depth
        self.unit = unit

    def line(self, *texts: str):
        """Each text as a line at the current depth."""
        pad = self.unit * self.depth
        self.lines.extend(pad + text for text in texts)

    @contextmanager
    def indented(self):
        """What is written inside is one level deeper."""
        self.depth += 1
        try:
            yield self
        finally:
            self.depth -= 1

    @contextmanager
    def case(self, label: str | None):
        """``label`` (``case 3:``), then what is written inside one level
        deeper; with no label, what is written inside stays at this depth."""
        if label is None:
            yield self
            return
        self.line(label)
        with self.indented():
            yield self

    @contextmanager
    def block(self, opener: str | None, closer: str = "}"):
        """``opener``, what is written inside one level deeper, then
        ``closer``; with no opener, no block: what is written inside stays
        at this depth (a block only some layouts need)."""
        with self.case(opener):
            yield self
        if opener is not None:
            self.line(closer)

    def text(self, end: str = "") -> str:
        """The lines joined, and ``end`` after the last one."""
        return "\n".join(self.lines) + end
