"""What a JSON document read from disk must look like, checked before any
command reads it.

results.json and comparison.json come from disk, where anything can happen
to them (an edit by hand, another tool, a damaged copy). Every field a
command reads is declared here once with its shape, so a document of the
wrong shape is one line naming the field and what it should be, never a
TypeError deep inside a table or a figure::

    RUN = Fields(required={"benchmarks": ListOf(BENCH)}, optional={"engine": DictOf(TEXT)})
    problem = mismatch(doc, RUN)   # None, or "benchmarks[3].params is ..."
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Kind:
    """A JSON scalar: ``test(value)`` says whether ``value`` is one."""

    name: str  # what it should be, for the message: "a string"
    test: object

    def check(self, value, where):
        return None if self.test(value) else (where, self.name)


def is_number(value) -> bool:
    """A finite int or float (true and false are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _join(where: str, name) -> str:
    return f"{where}.{name}" if where else str(name)


TEXT = Kind("a string", lambda v: isinstance(v, str))
FLAG = Kind("true or false", lambda v: isinstance(v, bool))
COUNT = Kind("a whole number of 0 or more", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0)
NUMBER = Kind("a finite number", is_number)
# Also NaN and infinities, which JSON from Python may hold (a count that
# became NaN is a change compare reports, not a damaged file).
ANY_NUMBER = Kind("a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
SCALAR = Kind("a string, number, true, false or null",
              lambda v: v is None or isinstance(v, (str, bool)) or is_number(v))


@dataclass(frozen=True)
class Opt:
    """``shape`` or null."""

    shape: object

    def check(self, value, where):
        return None if value is None else self.shape.check(value, where)


@dataclass(frozen=True)
class OneOf:
    """The first of ``shapes`` that fits."""

    name: str
    shapes: tuple

    def check(self, value, where):
        if any(shape.check(value, where) is None for shape in self.shapes):
            return None
        return where, self.name


@dataclass(frozen=True)
class ListOf:
    item: object

    def check(self, value, where):
        if not isinstance(value, list):
            return where, "a list"
        for i, item in enumerate(value):
            problem = self.item.check(item, f"{where}[{i}]")
            if problem:
                return problem
        return None


@dataclass(frozen=True)
class DictOf:
    """An object whose every value has the shape ``value``."""

    value: object

    def check(self, value, where):
        if not isinstance(value, dict):
            return where, "an object"
        for key, item in value.items():
            problem = self.value.check(item, _join(where, key))
            if problem:
                return problem
        return None


@dataclass(frozen=True)
class Fields:
    """An object with these fields; any others are allowed, and have the
    shape ``others`` when it is given (None: they are not read)."""

    required: dict = field(default_factory=dict)
    optional: dict = field(default_factory=dict)
    others: object = None

    def check(self, value, where):
        if not isinstance(value, dict):
            return where, "an object"
        for name in self.required:
            if name not in value:
                return _join(where, name), "present"
        named = {**self.required, **self.optional}
        for name, item in value.items():
            shape = named.get(name, self.others)
            if shape is not None:
                problem = shape.check(item, _join(where, name))
                if problem:
                    return problem
        return None


def mismatch(doc, shape) -> str | None:
    """None when ``doc`` has ``shape``, else "FIELD is not SHAPE" (one line)."""
    problem = shape.check(doc, "")
    if problem is None:
        return None
    where, expected = problem
    return f"{where or 'the document'} should be {expected}"
