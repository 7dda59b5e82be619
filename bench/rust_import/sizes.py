"""Read rustc's ``-Zprint-type-sizes`` output: one pass, line by line.

The format (rustc_session/src/code_stats.rs) is, per type::

    print-type-size type: `NAME`: SIZE bytes, alignment: ALIGN bytes
    print-type-size     discriminant: N bytes
    print-type-size     variant `Suspend0`: N bytes
    print-type-size         upvar `.x`: 8 bytes, offset: 0 bytes, alignment: 8 bytes
    print-type-size         padding: 8 bytes
    print-type-size         local `.__awaitee`: 64 bytes, alignment: 8 bytes, type: {async fn body of leaf()}
    print-type-size     field `.value`: 8 bytes
    print-type-size     end padding: 7 bytes

Fields are printed in offset order; a field's offset is printed only when it
is below the previous field's end (an upvar shared by every state), else it
is the previous end plus any padding line. Only what the importer needs is
kept: every type's size and alignment, and the fields of coroutines (async
bodies and blocks) with their offsets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...model.errors import UsageError

PREFIX = "print-type-size "
_TYPE = re.compile(r"type: `(.*)`: (\d+) bytes, alignment: (\d+) bytes$")
_FIELD = re.compile(
    r"(upvar|local|field) `\.(.*?)`: (\d+) bytes(?:, offset: (\d+) bytes)?(?:, alignment: (\d+) bytes)?(?:, type: (.*))?$"
)
_VARIANT = re.compile(r"variant `(.*)`: (\d+) bytes$")
_PADDING = re.compile(r"(end )?padding: (\d+) bytes$")
_DISCRIMINANT = re.compile(r"discriminant: (\d+) bytes$")


@dataclass
class Field:
    kind: str  # upvar or local
    name: str
    size: int
    offset: int
    align: int | None  # printed only when it caused padding (or with an offset)
    type: str | None  # printed for the awaitee


@dataclass
class Variant:
    name: str
    fields: list = field(default_factory=list)


@dataclass
class Coroutine:
    name: str  # as rustc prints it: {async fn body of a::b()} or {async block@src/x.rs:1:2: 3:4}
    size: int
    align: int
    line: int  # where its record starts in the sizes text
    tag: int = 1  # the discriminant's bytes
    variants: list = field(default_factory=list)

    def suspends(self) -> list:
        return [v for v in self.variants if v.name.startswith("Suspend")]


@dataclass
class Sizes:
    types: dict  # every type: name -> (size, align)
    coroutines: list  # in file order
    awaitee_types: int  # awaitees printed with their type (0: a toolchain too old)
    awaitees: int
    tuples: dict | None = None  # tuple types by bytes, filled on first use (tree.py)


# How rustc names the futures an async fn, an async block and an async
# closure compile to.
COROUTINE_PREFIXES = ("{async fn body of ", "{async block@", "{async closure body@")


def is_coroutine(name: str) -> bool:
    return name.startswith(COROUTINE_PREFIXES)


def parse(text: str, source: str) -> Sizes:
    """Parse the whole output; a line that is neither a sizes line nor
    compiler chatter, or a record cut short, is a one-line UsageError."""
    types, coroutines = {}, []
    current = variant = None  # the coroutine being read, its current variant
    offset = 0
    awaitees = typed = 0
    seen_any = False
    # Lines end at "\n" alone (and a "\r" before it): a name may hold any
    # other character str.splitlines() would also split at.
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.startswith(PREFIX):
            continue  # cargo's and rustc's own messages between the records
        seen_any = True
        body = line[len(PREFIX):].strip()
        if body.startswith("type: "):
            _finish(current, source)
            match = _TYPE.match(body)
            if not match:
                raise _garbled(source, number, line)
            name, size, align = match.group(1), int(match.group(2)), int(match.group(3))
            types.setdefault(name, (size, align))
            current = Coroutine(name, size, align, number) if is_coroutine(name) else None
            if current is not None:
                coroutines.append(current)
            variant = None
            continue
        if current is None:
            if not (_FIELD.match(body) or _VARIANT.match(body) or _PADDING.match(body) or _DISCRIMINANT.match(body)):
                raise _garbled(source, number, line)
            continue  # a field of an ordinary type: its size is all the importer needs
        if match := _VARIANT.match(body):
            variant = Variant(match.group(1))
            current.variants.append(variant)
            offset = current.tag  # the printer starts each variant after the discriminant
        elif match := _FIELD.match(body):
            if variant is None:
                raise _garbled(source, number, line)
            kind, name, size, at, align, type_ = match.groups()
            size = int(size)
            at = int(at) if at is not None else offset
            variant.fields.append(Field(kind, name, size, at, int(align) if align else None, type_))
            offset = at + size
            if name == "__awaitee":
                awaitees += 1
                typed += type_ is not None
        elif match := _PADDING.match(body):
            if not match.group(1):
                offset += int(match.group(2))
        elif match := _DISCRIMINANT.match(body):
            current.tag = int(match.group(1))
        else:
            raise _garbled(source, number, line)
    _finish(current, source)
    if not seen_any:
        raise UsageError(f"{source}: no -Zprint-type-sizes output in it; save the output of "
                         "RUSTC_BOOTSTRAP=1 cargo rustc --release -- -Zprint-type-sizes")
    return Sizes(types, coroutines, typed, awaitees)


def _finish(coroutine, source) -> None:
    """A coroutine's record ends with its Returned and Panicked states; a
    file cut in the middle of one is truncated."""
    if coroutine is None:
        return
    names = {v.name for v in coroutine.variants}
    if not {"Unresumed", "Returned", "Panicked"} <= names:
        raise UsageError(f"{source}: line {coroutine.line}: the record of {coroutine.name} ends before its "
                         "Returned and Panicked states; the file is truncated, save the whole output")


def _garbled(source, number, line) -> UsageError:
    shown = line if len(line) <= 80 else line[:77] + "..."
    return UsageError(f"{source}: line {number}: not a -Zprint-type-sizes line: {shown!r}; "
                      "the file is garbled, save rustc's output unchanged")
