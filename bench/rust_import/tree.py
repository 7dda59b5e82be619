"""From rustc's type sizes to an await tree: every async body, its suspend
states, and what each await holds.

Each ``Suspend`` state of a coroutine is one await, which becomes one step:

- the awaitee is another async body: ``call`` (inline);
- ``Pin<Box<async body>>``: ``call`` the user already boxed;
- a join or select combinator (futures' ``Join``/``Select``/``MaybeDone``
  types, or the ``PollFn`` of tokio's ``join!``/``select!`` with its
  ``futures`` tuple beside it): ``join``/``select`` of its children;
- anything else (tokio's ``Sleep``, a ``JoinHandle``, ``Box<dyn Future>``):
  a leaf wait of its exact bytes.

Then each coroutine's fields are split as rustc's layout splits them
(model/rust_frame.py): the prefix, and per state the fields only it holds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass, field

from ...model.errors import UsageError
from ...model.program import MAX_NAME
from ...model.rust_frame import AwaitFrame, Holder, RustFrame, holder_layout, round_up
from .sizes import Coroutine, Sizes, is_coroutine

_PATH_PREFIXES = ("std::pin::", "core::pin::", "std::boxed::", "alloc::boxed::")
_MACROS = re.compile(r"PollFn<\{closure@.*/macros/(join|select|try_join)\.rs:")
# Combinators that hold a fixed number of children inline (futures' Join,
# Join3..5, TryJoin.., Select, TrySelect; a crate's own of the same names).
# JoinAll, SelectAll and the like keep theirs on the heap: leaves here.
_COMBINATOR = re.compile(r"(Try)?(Join|Select)\d?")


@dataclass
class Await:
    """One await of a body: what it waits for."""

    kind: str  # "call", "join", "select" or "leaf"
    awaitee: str  # the awaitee's type as printed
    bytes: int  # the awaitee's bytes
    children: list = field(default_factory=list)  # (child key, boxed by the source)
    holder: Holder | None = None
    locals: list = field(default_factory=list)  # (kind, name, bytes) held across it besides the awaitee


@dataclass
class Body:
    """An async fn body, an async block, or a leaf future inside a combinator."""

    key: str  # rustc's type name
    path: str  # readable: a::b::c, or src/main.rs:13:30 for a block
    size: int
    align: int
    awaits: list
    frame: RustFrame
    twice: list = field(default_factory=list)  # (state, name, bytes): a capture stored twice
    leaf: bool = False  # a synthetic leaf (a combinator's child that is no async body)
    name: str = ""  # the workload's function name


def normalize(type_: str) -> str:
    for prefix in _PATH_PREFIXES:
        type_ = type_.replace(prefix, "")
    return type_.strip()


def split_args(type_: str) -> tuple:
    """('Base', [arg, ...]) of ``Base<arg, arg>``, or of a tuple ``(a, b)``."""
    open_at = type_.find("<")
    if type_.startswith("("):
        base, inner = "()", type_[1:-1]
    elif open_at < 0 or not type_.endswith(">"):
        return type_, []
    else:
        base, inner = type_[:open_at], type_[open_at + 1:-1]
    args, depth, start = [], 0, 0
    for i, ch in enumerate(inner):
        if ch in "<({[":
            depth += 1
        elif ch in ">)}]":
            depth -= 1
        elif ch == "," and depth == 0:
            args.append(inner[start:i].strip())
            start = i + 1
    if inner[start:].strip():
        args.append(inner[start:].strip())
    return base, args


def readable(key: str) -> str:
    """``a::b`` for ``{async fn body of a::b()}``, ``async block@FILE:L:C`` for a block."""
    if key.startswith("{async fn body of "):
        shown = key[len("{async fn body of "):-1].removesuffix("()")
    elif key.startswith(("{async block@", "{async closure body@")):
        kind, _, where = key[1:-1].partition("@")
        shown = kind.removesuffix(" body") + "@" + where.split(": ")[0]
    else:
        shown = key
    return shown if shown.strip() else key  # a blank name: rustc's whole type name


def build(sizes: Sizes, source: str) -> dict:
    """Every body by its rustc type name (async bodies first, in file order;
    then synthetic leaves)."""
    if not sizes.coroutines:
        raise UsageError(f"{source}: no async fn or async block in it; import a crate with async code")
    if sizes.awaitees and not sizes.awaitee_types:
        raise UsageError(f"{source}: rustc printed no awaitee types (`.__awaitee: N bytes, type: ...`); "
                         "use rustc 1.95 or later (RUSTC_BOOTSTRAP=1 for -Zprint-type-sizes)")
    coroutines = {}
    for co in sizes.coroutines:
        coroutines.setdefault(co.name, co)
    bodies = {}
    for key, co in coroutines.items():
        awaits = [_classify(v, sizes, coroutines, source) for v in co.suspends()]
        twice = _twice(co)
        frame = dataclasses.replace(_frame(co, awaits, sizes), largest=_largest(co),
                                    twice=tuple({name: size for _, name, size in twice}.items()))
        bodies[key] = Body(key, readable(key), co.size, co.align, awaits, frame, twice)
    for body in list(bodies.values()):
        for await_ in body.awaits:
            for child, _ in await_.children:
                if child not in bodies:  # a leaf future a combinator holds: a body of one wait
                    size, align = sizes.types[child]
                    frame = RustFrame(child, size, align, True, ((size, align),), 0, align, (None,))
                    bodies[child] = Body(child, child, size, align, [Await("leaf", child, size)], frame, leaf=True)
    _name(bodies)
    return bodies


def _classify(variant, sizes: Sizes, coroutines: dict, source: str) -> Await:
    awaitee = next((f for f in variant.fields if f.name == "__awaitee"), None)
    others = [(f.kind, f.name, f.size) for f in variant.fields if f.name != "__awaitee"]
    if awaitee is None:  # a state that awaits nothing printable (never seen with rustc 1.95)
        return Await("leaf", "?", 0, locals=others)
    type_ = normalize(awaitee.type or "")

    def child(arg):
        """(key, boxed) of a type argument holding an async body, else None."""
        arg = normalize(arg)
        base, args = split_args(arg)
        if base.endswith("MaybeDone") and args:
            arg = normalize(args[0])
            base, args = split_args(arg)
        if base == "Pin" and args and split_args(args[0])[0] == "Box":
            inner = split_args(args[0])[1]
            if inner and is_coroutine(inner[0]):
                return _known(inner[0], coroutines, source), True
        if is_coroutine(arg):
            return _known(arg, coroutines, source), False
        if arg in sizes.types and not arg.startswith("&"):
            return arg, False  # a leaf future held by the combinator
        return None

    if is_coroutine(type_):
        return Await("call", type_, awaitee.size, [(_known(type_, coroutines, source), False)], Holder(), others)
    base, args = split_args(type_)
    if base == "Pin" and args and split_args(args[0])[0] == "Box":
        inner = split_args(args[0])[1]
        if inner and is_coroutine(inner[0]):
            return Await("call", type_, awaitee.size, [(_known(inner[0], coroutines, source), True)], Holder(), others)
        return Await("leaf", type_, awaitee.size, locals=others)  # Box<dyn Future>: what is behind is unknown
    last = base.rsplit("::", 1)[-1]
    if _COMBINATOR.fullmatch(last) and args:
        children = [child(a) for a in args]
        if children and all(children):
            kind = "select" if "Select" in last else "join"
            wrap = "maybe_done" if kind == "join" else "none"
            return _combinator(kind, type_, awaitee.size, children, wrap, sizes, others) or Await(
                "leaf", type_, awaitee.size, locals=others)
    macro = _MACROS.search(type_)
    if macro:
        # tokio's join!/select!: the futures live in a tuple local beside
        # the PollFn; rustc prints the tuple's type (inside a MaybeUninit).
        tuple_field = next((f for f in variant.fields if f.name == "futures" and f.size > 8), None)
        for name, size in _tuples(sizes).get(tuple_field.size if tuple_field else -1, ()):
            children = [child(a) for a in split_args(name)[1]]
            if children and all(children):
                kind = "select" if macro.group(1) == "select" else "join"
                wrap = "maybe_done" if kind == "join" else "none"
                found = _combinator(kind, name, size, children, wrap, sizes, others, tuple_field)
                if found:
                    return found
    return Await("leaf", type_, awaitee.size, locals=others)


def _tuples(sizes: Sizes) -> dict:
    """Every tuple type rustc printed (inside a MaybeUninit), by its bytes:
    built once per import, so matching each macro's tuple is a lookup."""
    if sizes.tuples is None:
        sizes.tuples = {}
        for name, (size, _) in sizes.types.items():
            if name.startswith("std::mem::MaybeUninit<(") and name.endswith(")>"):
                sizes.tuples.setdefault(size, []).append((name[len("std::mem::MaybeUninit<"):-1], size))
    return sizes.tuples


def _combinator(kind, type_, size, children, wrap, sizes, others, tuple_field=None):
    """A join/select await whose holder is the combinator (or tokio's tuple)
    of exactly ``size`` bytes; None when its children's sizes do not add up."""
    parts = []
    for key, boxed in children:
        if key not in sizes.types:
            return None
        s, a = sizes.types[key]
        parts.append((s, a, boxed))
    align = sizes.types.get(type_, (size, 1))[1]
    zero = holder_layout(Holder(wrap, 0, 1), parts)
    extra = size - zero[0]
    if extra < 0:
        return None
    holder = Holder(wrap, extra, align if extra else 1)
    if holder_layout(holder, parts) != (size, max(align, zero[1])):
        return None
    if tuple_field is not None:  # the PollFn stays a field of the state; the tuple holds the children
        others = [o for o in others if not (o[1] == "futures" and o[2] == tuple_field.size)]
    return Await(kind, type_, size, list(children), holder, others)


def _known(key: str, coroutines: dict, source: str) -> str:
    if key not in coroutines:
        raise UsageError(f"{source}: {key} is awaited but its layout is missing; the file is truncated, "
                         "save the whole output")
    return key


def _twice(co: Coroutine) -> list:
    """Captures stored twice: an upvar and a local of the same name in one state."""
    out = []
    for v in co.suspends():
        upvars = {f.name for f in v.fields if f.kind == "upvar"}
        for f in v.fields:
            if f.kind == "local" and f.name in upvars:
                out.append((v.name, f.name, f.size))
    return out


def _largest(co: Coroutine) -> str:
    """The suspend state that ends furthest, and every field it holds."""
    states = co.suspends()
    if not states:
        return ""
    end = [max([f.offset + f.size for f in v.fields], default=0) for v in states]
    index = max(range(len(states)), key=lambda i: end[i])
    held = ", ".join(
        f"{'awaitee ' + readable(normalize(f.type)) if f.name == '__awaitee' and f.type else f.kind + ' ' + f.name} "
        f"{f.size:,} B" for f in states[index].fields)
    return f"await {index + 1} ({states[index].name}, {end[index]:,} bytes): {held}"


def _align_of(f, sizes: Sizes, cap: int) -> int:
    """A field's alignment: printed (rustc prints it where it caused
    padding, in any state holding the field), or its type's, else the
    largest power of two up to ``cap`` (8) that divides both its size and
    its offset. Above 8 a guess is more often wrong than right (a byte
    array at a 64-byte offset), so a local more aligned than 8 whose
    alignment rustc never printed (a pinned `Sleep`) is taken for 8: the
    one case where a prediction can be off (docs/import.md)."""
    if f.align:
        return f.align
    if f.type and normalize(f.type) in sizes.types:
        return sizes.types[normalize(f.type)][1]
    if f.type and f.type in sizes.types:
        return sizes.types[f.type][1]
    a = cap
    while a > 1 and (f.size % a or f.offset % a):
        a //= 2
    return a


def _frame(co: Coroutine, awaits: list, sizes: Sizes) -> RustFrame:
    """Split the coroutine's fields as rustc's layout does: the prefix (the
    upvars, the tag, locals saved in more than one state) and per state the
    fields it alone holds, from the offsets rustc printed."""
    suspends = co.suspends()
    unresumed = next(v for v in co.variants if v.name == "Unresumed")
    holders = [_holder_field(v, a) for v, a in zip(suspends, awaits)]
    # One saved local per (name, offset, bytes), except the awaited futures:
    # every await has its own, wherever two of them happen to sit.
    seen = {}
    for v in [unresumed] + suspends:
        for f in v.fields:
            key = (f.name, f.offset, f.size) if f.name != "__awaitee" and not any(f is h for h in holders) else id(f)
            seen.setdefault(key, []).append((v.name, f))
    for uses in seen.values():  # an alignment printed in one state holds in all
        printed = max((f.align or 0) for _, f in uses)
        for _, f in uses:
            f.align = f.align or printed or None
    multi_end = max([f.offset + f.size for uses in seen.values() for _, f in uses
                     if len(uses) > 1 or f.kind == "upvar"], default=0)
    # The tag sits where no state has a field, after the shared fields.
    spans = sorted((f.offset, f.offset + f.size) for uses in seen.values() for _, f in uses)
    tag_at = multi_end
    for start, end in spans:
        if start < tag_at + co.tag and end > tag_at:
            tag_at = max(tag_at, end)
    prefix_end = tag_at + co.tag
    prefix_fields = {k: uses[0][1] for k, uses in seen.items() if uses[0][1].offset < prefix_end}
    prefix_align = max([1] + [_align_of(f, sizes, min(8, co.align)) for f in prefix_fields.values()])
    own = [[f for f in v.fields if f.offset >= prefix_end] for v in suspends]
    used = sum(1 for fields in own if fields)
    # The future is as aligned as its most aligned field: if no field
    # holding children is that aligned, one of the others is, whether or
    # not rustc printed its alignment.
    held_align = max([1] + [_align_of(h, sizes, min(8, co.align)) for h in holders if h is not None])
    fixed_align = co.align if held_align < co.align else 1
    if used < 2:
        fixed = [(f.size, _align_of(f, sizes, min(8, co.align))) for f in (uses[0][1] for uses in seen.values())
                 if not any(f is h for h in holders)]
        fixed.append((co.tag, co.tag))
        awaits_ = tuple(AwaitFrame((), a.holder) if a.holder else None for a in awaits)
        return RustFrame(readable(co.name), co.size, co.align, True, tuple(fixed), 0,
                         max([fixed_align] + [a for _, a in fixed]), awaits_)
    prefix_align = _prefix_align(prefix_end, prefix_align, own, sizes, co.align)
    prefix_size = round_up(prefix_end, prefix_align)
    floor, base_align, frames = prefix_size, max(prefix_align, fixed_align), []
    for fields, a, h in zip(own, awaits, holders):
        rest = [(f.size, _align_of(f, sizes, min(8, co.align))) for f in fields if f is not h]
        base_align = max([base_align] + [al for _, al in rest])
        if a.holder is None or h is None or h not in fields:
            floor = max([floor] + [f.offset + f.size for f in fields])
            frames.append(None)
        else:
            frames.append(AwaitFrame(tuple(rest), a.holder))
    return RustFrame(readable(co.name), co.size, co.align, False, (prefix_size, prefix_align), floor, base_align,
                     tuple(frames))


def _prefix_align(prefix_end: int, known: int, own: list, sizes: Sizes, limit: int) -> int:
    """The prefix's alignment: at least its fields' known ones, and as much
    as the states' own fields show. Each state's first own field sits at the
    prefix's size rounded up to that field's alignment, so a prefix holding
    a local aligned to more than 8 whose alignment rustc never printed (a
    pinned `Sleep`, a `#[repr(align(32))]` array) is found from where the
    fields after it begin: the smallest alignment that places every state's
    first field where rustc put it."""
    firsts = [min(fields, key=lambda f: f.offset) for fields in own if fields]
    align = known
    while align <= limit:
        size = round_up(prefix_end, align)
        if all(round_up(size, _align_of(f, sizes, min(8, limit))) == f.offset for f in firsts):
            return align
        align *= 2
    return known  # no alignment explains it: keep what the fields say


def _holder_field(variant, await_: Await):
    """The field holding an await's children: the awaitee, or tokio's tuple."""
    if await_.holder is None:
        return None
    if await_.kind in ("join", "select") and not await_.awaitee.startswith("{"):
        tuple_field = next((f for f in variant.fields if f.name == "futures" and f.size == await_.bytes), None)
        if tuple_field is not None and tuple_field.type is None:
            return tuple_field
    return next((f for f in variant.fields if f.name == "__awaitee"), None)


def _name(bodies: dict) -> None:
    """Workload function names: identifiers of at most MAX_NAME characters,
    unique, made the same way every time from rustc's names."""
    taken = set()
    for body in bodies.values():
        words = re.sub(r"<.*", "", body.path) if not body.leaf else "leaf_" + body.path.rsplit("::", 1)[-1]
        if body.path.startswith(("async block@", "async closure@")):
            kind, _, where = body.path.partition("@")
            words = kind.split()[-1] + "_" + where.rsplit("/", 1)[-1]
        parts = [p for p in re.split(r"::", words) if p]
        name = None
        for n in range(1, len(parts) + 1):  # the shortest unique tail of the path
            candidate = identifier("_".join(parts[-n:]))
            if candidate not in taken:
                name = candidate
                break
        if name is None:
            base, i = identifier("_".join(parts)), 2
            while f"{base}_{i}" in taken:
                i += 1
            name = identifier(f"{base}_{i}")
        taken.add(name)
        body.name = name


def identifier(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", text).strip("_") or "body"
    if name[0].isdigit():
        name = "f_" + name
    if len(name) > MAX_NAME:  # cut, with a hash of the whole so two long names stay apart
        name = name[:MAX_NAME - 9] + "_" + hashlib.sha1(text.encode()).hexdigest()[:8]
    return name
