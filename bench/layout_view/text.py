"""One task's memory as text: what ``pinbench explain`` prints, and the
one-line summary a layout diagram's panel title repeats."""

from __future__ import annotations

from ...model.layout import BOX_ON_SUSPEND, SLABS
from .model import BLOCK_WORDS, Block, Frame, Part, TaskView, block_word

MAX_TEXT_LINES = 600  # per strategy
_MAX_INDENT = 12  # nesting levels shown by indentation; deeper ones say their depth
_NAME_WIDTH = 38
_SLAB_HEADER = 16  # the bytes before a context bumped in a slab (Swift's allocation header)


def _bytes(n: int) -> str:
    return f"{n:,} B"


def block_title(view: TaskView, block: Block) -> str:
    """``#2 box: level_7, 128 B`` and the like."""
    head = f"#{block.number}"
    used = f", {_bytes(block.used)} used"
    if block.kind == "stack":
        what = "stack, grown by copying" if view.stack_grows else "fixed stack and its guard page"
        over = "" if view.stack_grows or block.used <= view.stack_usable else " (more than it holds: a run stops)"
        return f"{head} {what}: {block.fn} at its base, {_bytes(block.size)} reserved{used}{over}"
    if block.kind == "chunk":
        return (f"{head} {block_word(view, 'chunk')}: {block.fn}'s virtual thread frozen, "
                f"{_bytes(block.size)} ({_bytes(block.size - block.used)} metadata and the runtime's entry and park frames)")
    if block.kind == "slab":
        return f"{head} {block.label}, {_bytes(block.size)}{used}"
    if view.storage == BOX_ON_SUSPEND and block.kind in ("task", "box"):
        what = "task's box" if block.kind == "task" else "box, copied in at its first suspension"
        return f"{head} {what}: {block.fn}'s state machine, {_bytes(block.size)}"
    if block.kind == "task":
        what = "task's coroutine frame" if view.bottom_up else "task's box"
        if view.storage == SLABS:
            what = "task's allocation with its root context"
        return f"{head} {what}: {block.fn}, {_bytes(block.size)}"
    if block.kind == "box":
        return f"{head} {block_word(view, 'box')}: {block.fn}, {_bytes(block.size)}"
    if block.kind == "cell":
        return (f"{head} {block_word(view, 'cell')}: locals of {block.fn}, {_bytes(block.size)} "
                "(24 B counts and borrow flag + locals)")
    return f"{head} {block.label}, {_bytes(block.size)}"


def view_summary(view: TaskView) -> str:
    """``3 allocations: the task's own + 2 Rc cells, 344 B`` and the like."""
    n = view.block_count
    kinds = view.kind_counts()
    first = view.blocks[0].kind if view.blocks else ""
    detail = []
    # The task's own block is named apart; a child task's (Swift's join
    # arms, each a task with slabs of its own) counts in the total only.
    for kind in BLOCK_WORDS:
        count = kinds.get(kind, 0) - (1 if kind == first else 0)
        if count and kind != "task":
            detail.append(f"{count} {block_word(view, kind, count)}")
    own = f"the task's {block_word(view, first)}" if first in ("stack", "chunk") else "the task's own"
    extra = f": {own} + {', '.join(detail)}" if detail else ""
    elided = (
        f" ({view.elided_blocks} blocks, {_bytes(view.elided_bytes)} not drawn)" if view.elided_blocks else ""
    )
    return f"{n} allocation{'s' if n != 1 else ''}{extra}, {_bytes(view.total_bytes)}{elided}"


def _frame_line(frame: Frame, depth: int, inline: bool) -> str:
    indent = "  " * min(depth, _MAX_INDENT)
    deep = f"[depth {depth}] " if depth > _MAX_INDENT else ""
    what = f"{frame.fn}" + (" (inline)" if inline else "")
    step = f"  at step {frame.step}: {frame.step_text}" if frame.step else ""
    if frame.collapsed:
        step = "  (not expanded: too many frames)"
    return f"  {frame.offset:>7}  {(indent + deep + what):<{_NAME_WIDTH}} {frame.size:>7,} B{step}"


def _part_line(part: Part, depth: int) -> str:
    text = part.label
    if part.target is not None:
        text = f"{part.label} (#{part.target.number})"
    elif part.kind == "pointer" and "recursion" not in part.label:
        text = f"{part.label} (not drawn)"
    inner = "  " * min(depth + 1, _MAX_INDENT)
    return f"  {part.offset:>7}  {(inner + text):<{_NAME_WIDTH}} {part.size:>7,} B"


def _frame_lines(frame: Frame, depth: int, lines: list, inline: bool):
    """The lines of a frame and of the frames inline in it, depth first
    with a stack of our own (inline nesting can be thousands deep)."""
    stack = [(frame, depth, inline)]
    while stack:
        item, depth, inline = stack.pop()
        if isinstance(item, Part):
            lines.append(_part_line(item, depth))
            continue
        lines.append(_frame_line(item, depth, inline))
        # Parts in order; an inline frame's lines come before its next sibling's.
        stack.extend(reversed([(part.frame, depth + 1, True) if part.kind == "frame" else (part, depth, False)
                               for part in item.parts]))


def _block_lines(view: TaskView, block: Block, lines: list):
    owner = f"   <- #{block.owner[0]} at offset {block.owner[1]}" if block.owner else ""
    lines.append(f"  {block_title(view, block)}{owner}")
    headers = dict(block.headers)
    for frame in ([block.frame] if block.frame is not None else []) + block.frames:
        head = headers.pop(frame.offset - _SLAB_HEADER, None) if headers else None
        if head is not None:  # a slab allocation's header
            lines.append(f"  {frame.offset - _SLAB_HEADER:>7}  {'    allocation header':<{_NAME_WIDTH}} {head:>7,} B")
        _frame_lines(frame, 1, lines, False)


def _view_lines(view: TaskView, run: dict | None) -> list:
    polling = "bottom-up" if view.bottom_up else "top-down"
    out = [
        f"{view.strategy}: {view_summary(view)}",
        f"  ({polling}, {view.frames_are}"
        f"{', futures moved into place' if view.moves else ', frames built in place'})",
    ]
    if run and view.strategy in run:
        m = run[view.strategy]
        out.append(
            f"  the run: {m.get('allocs_per_task', 0):.4g} allocations/task, "
            f"{m.get('bytes_per_task', 0):,.6g} bytes/task"
        )
    lines = []
    for block in view.blocks:
        _block_lines(view, block, lines)
    if len(lines) > MAX_TEXT_LINES:
        more = len(lines) - MAX_TEXT_LINES
        lines = lines[:MAX_TEXT_LINES] + [f"  ... {more} more lines"]
    out.extend(lines)
    out.extend(f"  note: {note}" for note in view.spawns)
    out.append("")
    return out


def explain_text(views: list, run: dict | None = None) -> str:
    """The layout of one task under each strategy, as text: every block,
    the frames inline in it at their byte offsets, pointers to boxes and
    cells. ``run`` (optional) maps strategy -> metrics to compare with."""
    if not views:
        return ""
    first = views[0]
    params = " ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in first.params.items())
    out = [
        f"{first.workload}{' ' + params if params else ''}",
        "one task's memory at its largest moment; offsets and sizes in bytes",
        "",
    ]
    for view in views:
        out.extend(_view_lines(view, run))
    chosen = {}
    for view in views:
        for fn, text in view.choices.items():
            chosen.setdefault(fn, text)
    if chosen:
        out.append(
            "functions that await in several steps are shown at the step whose children "
            "occupy the most:"
        )
        out.extend(f"  {fn}: {text}" for fn, text in chosen.items())
    return "\n".join(out).rstrip() + "\n"
