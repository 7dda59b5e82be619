"""rustc's own layout of one imported future, kept so its size can be recomputed.

A program imported from ``rustc -Zprint-type-sizes`` (``pinbench import
rust``) knows, for every async body, what rustc really stored: the fields
of each suspend state with their bytes and alignment. A function carrying a
:class:`RustFrame` is sized by the rules below instead of the generic ones
of ``native.py`` (which describe the programs ``pinbench validate``
generates), so under ``pinbox`` its size is rustc's, and under any other
choice of boxed edges it is what rustc would give with that ``Box::pin``
added (``pinbench import`` checks this against a rebuild).

rustc lays out a coroutine (compiler/rustc_abi/src/layout/coroutine.rs) as

- a **prefix**: the upvars, the state tag and every local saved in more
  than one state ("promoted"), laid out as one struct (fields by falling
  alignment), its size rounded up to its alignment;
- one **variant** per suspend state holding the locals only that state
  saves, laid out after the prefix in rising alignment
  (``StructKind::Prefixed``); variants overlap;
- the size: the largest variant's end, rounded up to the largest alignment.

When fewer than two states have fields of their own, everything goes into
the prefix (``packed``).

The one field of an await that depends on the children is its **holder**:
the awaited future itself (an inline call: the child's size and
alignment; a boxed call: an 8-byte ``Pin<Box<_>>``), or the combinator that
holds a join's or select's children: ``extra`` bytes of its own plus each
child, wrapped in a ``MaybeDone`` (the child behind a tag padded to the
child's alignment; 16 bytes for a boxed child) for a join.
"""

from __future__ import annotations

from dataclasses import dataclass

BOX = (8, 8)  # Pin<Box<F>>: one pointer
DYN_BOX = (16, 8)  # Pin<Box<dyn Future>>: data and vtable pointers
MAYBE_DONE_BOX = (16, 8)  # MaybeDone<Pin<Box<F>>>: a tag and the pointer

WRAPS = ("none", "maybe_done")  # how a holder stores each child


def round_up(n: int, align: int) -> int:
    return (n + align - 1) // align * align


def group_key(size: int, align: int) -> int:
    """rustc's sort key for a field (``alignment_group_key``): log2 of its
    alignment, or of its size when the size is a larger power-of-two multiple
    (``[u8; 4]`` groups with ``u32``)."""
    return (max(align, size) & -max(align, size)).bit_length() - 1 if max(align, size) else 0


@dataclass(frozen=True)
class Holder:
    """What an await keeps its children in (see the module docstring)."""

    wrap: str = "none"  # "none": each child as is; "maybe_done": each in a MaybeDone
    extra: int = 0  # the combinator's own bytes (0 for a plain call)
    extra_align: int = 1


@dataclass(frozen=True)
class AwaitFrame:
    """The suspend state of one await that has children: the fields only it
    saves besides the holder (bytes, alignment), in rustc's printed order."""

    own: tuple = ()
    holder: Holder = Holder()


@dataclass(frozen=True)
class RustFrame:
    """rustc's layout of one future, minus what its children decide."""

    path: str  # rustc's name for it: `{async fn body of a::b()}` shown as a::b
    size: int  # rustc's size_of with the children it was compiled with (a check)
    align: int
    packed: bool  # every field in the prefix (fewer than two states with fields of their own)
    prefix: tuple  # packed: every fixed field (bytes, alignment); else (prefix size, prefix alignment)
    floor: int  # the end of the states that hold no children (not packed)
    base_align: int  # the largest alignment of the fields that hold no children
    awaits: tuple  # per step of the function: an AwaitFrame, or None (a leaf wait, no children)
    # For people, not for sizes: the largest suspend state and what it holds,
    # and the captures rustc stores twice (name, bytes wasted).
    largest: str = ""
    twice: tuple = ()


def holder_layout(holder: Holder, children) -> tuple:
    """(bytes, alignment) of a holder given its children's (bytes, alignment, boxed)."""
    if holder.wrap == "none" and holder.extra == 0 and len(children) == 1:
        size, align, boxed = children[0]
        return BOX if boxed else (size, align)
    parts = []
    for size, align, boxed in children:
        if holder.wrap == "maybe_done":
            parts.append(MAYBE_DONE_BOX if boxed else (size + max(align, 8), max(align, 8)))
        else:
            parts.append(BOX if boxed else (size, align))
    align = max([holder.extra_align] + [a for _, a in parts])
    # A struct of fields whose sizes are multiples of their alignments, laid
    # out by falling alignment: no padding but at the end.
    return round_up(holder.extra + sum(s for s, _ in parts), align), align


def struct_falling(fields) -> tuple:
    """(size, alignment) of a struct rustc lays out by falling alignment
    (``StructKind::AlwaysSized``)."""
    offset, align = 0, 1
    for size, a in sorted(fields, key=lambda f: -group_key(*f)):
        offset = round_up(offset, a) + size
        align = max(align, a)
    return round_up(offset, align), align


def variant_end(start: int, fields) -> tuple:
    """(end, alignment) of a variant's fields laid out from ``start`` in
    rising alignment (``StructKind::Prefixed``); ties keep printed order."""
    offset, align = start, 1
    cap = max([a for _, a in fields], default=1)
    for size, a in sorted(fields, key=lambda f: min(group_key(*f), group_key(cap, cap))):
        offset = round_up(offset, a) + size
        align = max(align, a)
    return offset, align


def frame_size(frame: RustFrame, holders: dict) -> tuple:
    """(size, alignment) of the future given each await's holder layout
    (``holders``: step index -> (bytes, alignment))."""
    if frame.packed:
        fields = list(frame.prefix) + [holders[s] for s, a in enumerate(frame.awaits) if a is not None]
        size, align = struct_falling(fields)
        return size, max(align, frame.base_align)
    prefix_size, prefix_align = frame.prefix
    end, align = max(frame.floor, prefix_size), max(frame.base_align, prefix_align)
    for step, await_ in enumerate(frame.awaits):
        if await_ is None:
            continue
        v_end, v_align = variant_end(prefix_size, list(await_.own) + [holders[step]])
        end, align = max(end, v_end), max(align, v_align)
    return round_up(end, align), align


# -- the workload file's `[fn.NAME.rust]` table: the one place its shape is read and written


def frame_to_table(frame: RustFrame) -> dict:
    """The ``rust`` table of a workload file for ``frame`` (docs/workload-files.md)."""
    awaits = []
    for a in frame.awaits:
        if a is None:
            awaits.append({})
            continue
        entry = {"own": [list(f) for f in a.own], "wrap": a.holder.wrap}
        if a.holder.extra:
            entry.update(extra=a.holder.extra, extra_align=a.holder.extra_align)
        awaits.append(entry)
    return {
        "path": frame.path, "size": frame.size, "align": frame.align, "packed": frame.packed,
        "prefix": [list(f) for f in frame.prefix] if frame.packed else list(frame.prefix),
        "floor": frame.floor, "base_align": frame.base_align, "awaits": awaits,
        "largest": frame.largest, "twice": [[name, size] for name, size in frame.twice],
    }


def frame_from_table(table) -> RustFrame:
    """A RustFrame from a workload file's ``rust`` table; raises ValueError
    with what is wrong (the loader adds the file and function)."""
    if not isinstance(table, dict):
        raise ValueError("rust must be a table")
    keys = ("path", "size", "align", "packed", "prefix", "floor", "base_align", "awaits")
    for key in table:
        if key not in keys + ("largest", "twice"):
            raise ValueError(f"rust: unknown key '{key}'; allowed: {', '.join(keys)}, largest, twice")
    for key in keys:
        if key not in table:
            raise ValueError(f"rust: '{key}' is missing")

    def count(value, what, low=0, power=False):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 1 << 40 or (
                power and value & (value - 1)):
            raise ValueError(f"rust: {what}={value!r} must be a whole number of bytes"
                             + (" that is a power of two" if power else ""))
        return value

    def field(value, what):
        if not (isinstance(value, list) and len(value) == 2):
            raise ValueError(f"rust: {what}={value!r} must be [bytes, alignment]")
        return count(value[0], what), count(value[1], what, 1, True)

    packed = table["packed"]
    if not isinstance(packed, bool):
        raise ValueError("rust: packed must be true or false")
    if not isinstance(table["prefix"], list):
        raise ValueError("rust: prefix must be an array")
    prefix = (tuple(field(f, "prefix field") for f in table["prefix"]) if packed
              else field(table["prefix"], "prefix"))
    if not isinstance(table["awaits"], list):
        raise ValueError("rust: awaits must be an array with one table per step")
    awaits = []
    for a in table["awaits"]:
        if not isinstance(a, dict):
            raise ValueError("rust: each of awaits must be a table ({} for a step without children)")
        if not a:
            awaits.append(None)
            continue
        wrap = a.get("wrap", "none")
        if wrap not in WRAPS:
            raise ValueError(f"rust: wrap={wrap!r} must be one of {', '.join(WRAPS)}")
        own = a.get("own", [])
        if not isinstance(own, list):
            raise ValueError("rust: own must be an array of [bytes, alignment]")
        holder = Holder(wrap, count(a.get("extra", 0), "extra"), count(a.get("extra_align", 1), "extra_align", 1, True))
        awaits.append(AwaitFrame(tuple(field(f, "own field") for f in own), holder))
    path, largest, twice = table["path"], table.get("largest", ""), table.get("twice", [])
    if not isinstance(path, str) or not path:
        raise ValueError("rust: path must be a non-empty string")
    if not isinstance(largest, str):
        raise ValueError("rust: largest must be a string")
    if not (isinstance(twice, list) and all(isinstance(t, list) and len(t) == 2 and isinstance(t[0], str)
                                            for t in twice)):
        raise ValueError('rust: twice must be an array of ["name", bytes]')
    return RustFrame(path, count(table["size"], "size"), count(table["align"], "align", 1, True), packed, prefix,
                     count(table["floor"], "floor"), count(table["base_align"], "base_align", 1, True), tuple(awaits),
                     largest, tuple((name, count(size, "twice bytes")) for name, size in twice))
