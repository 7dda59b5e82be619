"""The bytes the compilers give each frame: rustc's futures, g++'s coroutine frames.

The executor keeps its own frames (a header for its bookkeeping, every local,
every child slot: ``layout.py``); what a run *reports* — bytes allocated,
moved, live, the root frame — is what the native program would allocate for
the same frame, computed here from the same program and the same strategy
answers (which edges are boxed, which locals live in a cell). The rules are
written down in docs/model.md ("Native frame sizes") and were read off
``rustc -Zprint-type-sizes`` and g++'s debug information for the programs
``pinbench validate`` generates; that command checks them for every function.

Top-down strategies are laid out as rustc lays out an ``async fn``'s future,
bottom-up ones as g++ 12 lays out a C++20 coroutine frame.
"""

from __future__ import annotations

from .errors import UsageError
from .rust_frame import frame_size, holder_layout
from .program import OP_CALL, OP_GEN, OP_IO, OP_JOIN, OP_SELECT, OP_SPAWN, OP_WORK, OP_YIELD

# rustc: the pieces of a future (bytes, alignment).
U64 = (8, 8)
U32 = (4, 4)
BOOL = (1, 1)
REF = (8, 8)  # &mut T, Rc<T>, Pin<Box<T>>: one pointer
DYN_BOX = (16, 8)  # Pin<Box<dyn Future>>: data and vtable pointers
IO = (16, 8)  # the io leaf: k, task id, deadline
YIELD = (1, 1)  # the yield leaf: a bool
JOIN_HANDLE = (8, 8)
VEC = (24, 8)  # Vec<u64>: pointer, capacity, length
SLICE_ITER = (16, 8)  # slice::Iter: two pointers
RANGE = (16, 8)  # Range<u64>
GEN_YIELD = (16, 8)  # the generator's yield leaf: a bool and the item
MAYBE_DONE_TAG = 8  # MaybeDone<F> = F behind a tag, padded to F's alignment
MAYBE_DONE_BOX = 16  # MaybeDone<Pin<Box<F>>>
MAYBE_DONE_DYN = 24  # MaybeDone<Pin<Box<dyn Future>>>
STATES = 3  # unresumed, returned, panicked; plus one per await

# g++ 12: the frame's fixed part and its per-step fields.
TASK_PROMISE = 40  # value, continuation, join and select controls, arm, task id
GEN_PROMISE = 8  # the current item
POINTER = (8, 8)
JOIN_CONTROL = 16  # join_all / select_any: parent handle, count or winner
WAIT_HANDLES = (32, 8)  # ids pointer, count, join control
IO_AWAITER = (16, 8)  # k, waiter id
YIELD_AWAITER = (4, 4)  # waiter id
JOINED = (16, 8)  # a join's or select's result: sum, any


def _round(n: int, align: int) -> int:
    return (n + align - 1) // align * align


def _waits(step) -> bool:
    """Whether a step suspends its function (an await in Rust, co_await in C++)."""
    return step.op in (OP_CALL, OP_JOIN, OP_SELECT, OP_IO, OP_YIELD) or (step.op == OP_SPAWN and step.wait)


RUSTC = "rustc"


def locals_kept(program, fn: int, in_cell: bool, compiler: str) -> bool:
    """Whether ``compiler``'s future or frame of ``fn`` keeps its locals
    between polls. rustc and clang keep them only when the function suspends
    (a generator yields) and a work step uses them, or (rustc) an awaited
    child borrows them; a function that never suspends runs its body in one
    poll, on the poll's stack, where the optimizer keeps only the bytes it
    reads. g++ keeps every local in the frame. Locals in a cell are kept
    there, not in the frame."""
    if not program.fn_locals[fn] or in_cell:
        return False
    if compiler == GXX:
        return True
    steps = clang_steps(program, fn) if compiler == CLANG else program.view.functions[fn].steps
    suspends = bool(program.fn_generator[fn]) or any(_waits(s) for s in steps)
    borrowed = compiler == RUSTC and bool(program.fn_borrows[fn])
    return suspends and (program.view.functions[fn].works or borrowed)


def rust_sizes(program, edge_boxed, in_cell) -> list:
    """``size_of`` every function's future under rustc: a state machine whose
    variants (one per await) hold what is live across that await. A function
    imported from rustc (``program.fn_native``) is sized by rustc's own
    layout of it instead (:func:`imported_size`)."""
    n = len(program.fn_names)
    sizes = [None] * n
    aligns = [8] * n  # the generated programs' futures are 8-aligned
    native = program.fn_native or (None,) * n

    def child(e) -> int:
        if e.back:
            return DYN_BOX[0]
        if edge_boxed[e.index]:
            return REF[0]
        return size_of(e.callee)

    def maybe_done(e) -> int:
        if e.back:
            return MAYBE_DONE_DYN
        if edge_boxed[e.index]:
            return MAYBE_DONE_BOX
        return size_of(e.callee) + MAYBE_DONE_TAG

    def size_of(fn: int) -> int:
        if sizes[fn] is not None:
            return sizes[fn]
        if native[fn] is not None:
            sizes[fn], aligns[fn] = imported_size(program, fn, native[fn], edge_boxed, size_of, aligns)
            return sizes[fn]
        function = program.view.functions[fn]
        steps = function.steps
        locals_, cell = int(program.fn_locals[fn]), bool(in_cell[fn])
        generator = bool(program.fn_generator[fn])
        # The array is live (or borrowed by `work`) across every await once
        # a work step touches it; a borrowing function's array and its
        # reference to it are held across every await.
        kept = {"arg": U64}  # the argument: the value uses it at the end
        if cell:
            kept["cell"] = REF  # the Rc is dropped at the end
        elif locals_kept(program, fn, cell, RUSTC):
            kept["locals"] = (locals_, 1)
            if program.fn_borrows[fn]:
                kept["reference"] = REF
        variants = []  # per await: (what lives in the prefix, what only this await holds)
        if generator:
            # for _ in 0..n { work; yield item.await }: one await in a loop.
            variants.append(({**kept, "acc": U64, "range": RANGE}, [GEN_YIELD]))
        folds = function.folds_children
        # Whether a step after step i builds a child (child_after[i + 1]) or
        # sets the folded flag on every path (sets_folded_after[i + 1]):
        # gathered from the end once, so a long body stays linear.
        child_after, sets_folded_after = [False] * (len(steps) + 1), [False] * (len(steps) + 1)
        for i in range(len(steps) - 1, -1, -1):
            s = steps[i]
            child_after[i] = child_after[i + 1] or bool(s.edges)
            sets_folded_after[i] = sets_folded_after[i + 1] or (
                s.op in (OP_CALL, OP_SPAWN) and (s.op == OP_CALL or s.wait) and not s.edges[0].back)
        for i, step in enumerate([] if generator else steps):
            if not _waits(step):
                continue
            op, arg, edges = step.op, step.arg, step.edges
            shared = dict(kept)
            if op in (OP_CALL, OP_SPAWN):
                own = [U64]  # `acc.wrapping_add(x.await)`: acc's value waits in a temporary
            else:
                own = []
                shared["acc"] = U64
            if op == OP_CALL:
                own.append((child(edges[0]), 8))
            elif op == OP_IO:
                own.append(IO)
            elif op == OP_YIELD:
                own.append(YIELD)
            elif op in (OP_JOIN, OP_SELECT):
                # each child's MaybeDone, the Pin<&mut> to it, the poll_fn
                # closure's reference to each Pin
                own += [(maybe_done(e), 8) for e in edges] + [REF] * len(edges) + [(8 * len(edges), 8)]
            elif arg == 1:
                own.append(JOIN_HANDLE)
            else:
                own += [VEC, SLICE_ITER, JOIN_HANDLE]
            if cell:
                own.append(REF)  # the clone of the Rc held across this await
            if child_after[i + 1]:
                shared["rdepth"] = U32  # a later child is built with it
            if folds and op in (OP_IO, OP_YIELD, OP_JOIN, OP_SELECT) and not sets_folded_after[i + 1]:
                shared["folded"] = BOOL  # no later step sets it on every path
            variants.append((shared, own))
        tag = 1 if STATES + len(variants) <= 256 else 2
        prefix = [U64, U32] + ([U64] if generator else []) + [(tag, tag)]
        prefix += list({k: v for shared, _ in variants for k, v in shared.items()}.values())
        owns = [own for _, own in variants]
        if len(owns) < 2:  # nothing to overlap: all in the prefix
            prefix += [field for own in owns for field in own]
            owns = []
        # The prefix sorted by falling alignment (no padding but the end);
        # each variant after it by rising alignment, the variants overlapping.
        align = max(a for _, a in prefix)
        prefix_size = _round(sum(s for s, _ in prefix), align)
        total = prefix_size
        for own in owns:
            offset = prefix_size
            for size, a in sorted(own, key=lambda field: field[1]):
                offset = _round(offset, a) + size
            align = max([align] + [a for _, a in own])
            total = max(total, offset)
        sizes[fn] = _round(total, align)
        return sizes[fn]

    # Callees first: then every size_of above finds its inline children in
    # `sizes`, however deep the nesting (a chain of 10,000 functions).
    for fn in program.view.callees_first():
        size_of(fn)
    return [size_of(fn) for fn in range(n)]


def imported_size(program, fn: int, frame, edge_boxed, size_of, aligns) -> tuple:
    """(size, alignment) of an imported function's future: rustc's fields
    for it (``frame``, a ``RustFrame``) with each await's holder laid out
    from its children as this layout places them (model/rust_frame.py)."""
    holders = {}
    for index, step in enumerate(program.view.functions[fn].steps):
        if frame.awaits[index] is None:
            continue
        children = []
        for e in step.edges:
            if edge_boxed[e.index]:  # back edges too: rustc's recursion is a Pin<Box<F>>
                children.append((*REF, True))
            else:
                children.append((size_of(e.callee), aligns[e.callee], False))
        holders[index] = holder_layout(frame.awaits[index].holder, children)
    return frame_size(frame, holders)


def source_sizes(program) -> list:
    """rust_sizes with only the edges the source itself boxes boxed (its
    recursion and its ``Box::pin``): what rustc compiled."""
    boxed = program.edge_back | (program.edge_pinned if program.edge_pinned is not None else 0)
    return rust_sizes(program, boxed, [False] * len(program.fn_names))


def check_imported(program) -> None:
    """Every imported function's size, recomputed from rustc's fields, must
    be the size rustc printed: the layout rules reproduce rustc exactly."""
    if not program.fn_native or not any(program.fn_native):
        return
    for fn, size in enumerate(source_sizes(program)):
        frame = program.fn_native[fn]
        if frame is not None and size != frame.size:
            raise UsageError(
                f"function '{program.fn_names[fn]}' ({frame.path}): its rust fields lay out to {size:,} bytes, "
                f"not the {frame.size:,} rustc printed; re-import it with pinbench import rust"
            )


def gxx_sizes(program, edge_boxed=None, shares_child_area=True) -> list:
    """The counted size of every function's coroutine frame.

    A frame's own part is what g++ allocates (:func:`gxx_frames`). A child
    that is not boxed (``edge_boxed``: Clang's heap-allocation elision, the
    ``halo`` strategy) has its frame inside its caller's, so the caller's
    counted size adds the child's counted size (its own elided children
    included): within a step the children side by side (a sum), and over
    the steps their sum when each step keeps its own space (Clang gives
    every elided call site its own alloca: ``shares_child_area`` False), or
    the largest step's when they share one. With every edge boxed
    (``always_heap``) this is g++'s frame alone."""
    own = gxx_frames(program)
    if edge_boxed is None:
        return own
    counted = [None] * len(program.fn_names)
    for fn in program.view.callees_first():
        areas = []
        for step in program.view.functions[fn].steps:
            if step.holds_children:
                areas.append(sum(counted[e.callee] for e in step.edges if not e.back and not edge_boxed[e.index]))
        counted[fn] = own[fn] + (max(areas, default=0) if shares_child_area else sum(areas))
    return counted


def gxx_frames(program) -> list:
    """The frame g++ allocates for every function's coroutine: the resume
    and destroy pointers, the promise, copies of the parameters, the suspend
    index, every local and every awaiter, in declaration order, none shared."""
    out = []
    for function in program.view.functions:
        fn, generator = function.index, function.generator
        fields = [POINTER, POINTER, (GEN_PROMISE if generator else TASK_PROMISE, 8), POINTER, U64, U32]
        if generator:
            fields.append(U64)  # n
        fields += [(2, 2), BOOL, BOOL, BOOL]  # suspend index, two flags, the initial awaiter
        if program.fn_locals[fn]:
            fields.append((int(program.fn_locals[fn]), 1))
        fields.append(U64)  # acc
        if generator:
            fields += [U64, BOOL]  # the loop counter, co_yield's awaiter
        elif function.folds_children:
            fields.append(BOOL)
        for step in () if generator else function.steps:
            op, arg, wait = step.op, step.arg, step.wait
            if op == OP_CALL:
                fields += [POINTER, POINTER, U64]  # the task, its awaiter, the result
            elif op in (OP_JOIN, OP_SELECT):
                fields += [(8 * len(step.edges) + JOIN_CONTROL, 8), JOINED, POINTER]  # the tasks, result, reference
            elif op == OP_IO:
                fields.append(IO_AWAITER)
            elif op == OP_YIELD:
                fields.append(YIELD_AWAITER)
            elif op == OP_GEN:
                fields.append(POINTER)  # the generator's handle
            elif op == OP_SPAWN and not wait:
                fields.append(U64)  # the loop counter
            elif op == OP_SPAWN and arg == 1:
                fields += [U64, U64, WAIT_HANDLES]  # the handle, the result, the awaiter
            elif op == OP_SPAWN:
                fields += [VEC, U64, U64, WAIT_HANDLES]  # the handles, loop counter, result, awaiter
        fields.append(BOOL)  # the final awaiter
        offset = 0
        for size, a in fields:
            offset = _round(offset, a) + size
        out.append(_round(offset, 8))
    return out


# clang 22 (LLVM 22, the ziglang 0.17 package's clang) at -O2: the
# coroutine frame CoroSplit builds (llvm/lib/Transforms/Coroutines/
# CoroFrame.cpp, buildFrameType). Read off the DWARF ``*.coro_frame_ty`` of
# the programs ``pinbench validate`` generates (``-g`` adds nothing to a
# frame): the resume and destroy pointers and the promise at fixed offsets,
# then every alloca and every SSA value that lives across a suspension as
# "flexible" fields, laid out by LLVM's performOptimizedStructLayout
# (llvm/lib/Support/OptimizedStructLayout.cpp) and the size rounded up to
# the largest alignment (coro.size is the frame type's alloc size).
CLANG_TASK_HEAD = 16 + TASK_PROMISE  # resume, destroy, the promise
CLANG_GEN_HEAD = 16 + GEN_PROMISE
CLANG_WIDE = 16  # an array of 16 bytes or more is 16-aligned (x86-64 psABI)
JOIN_TASKS = (16, 8)  # join_all / select_any beyond their task array: the control


def struct_layout(fixed_end: int, fields: list) -> tuple:
    """(end, alignment) of ``fields`` ((size, alignment) each, flexible)
    placed after a packed prefix of ``fixed_end`` bytes, as LLVM's
    performOptimizedStructLayout places them: by falling alignment, then
    falling size; when that leaves a gap, the best field from the queue of
    each alignment fills it first."""
    order = sorted(range(len(fields)), key=lambda i: (-fields[i][1], -fields[i][0], i))
    align = max([8] + [a for _, a in fields])
    end = fixed_end
    for i in order:  # the quick check: no interior padding at all
        size, a = fields[i]
        if end % a:
            break
        end += size
    else:
        return end, align
    queues = {}
    for i in order:
        queues.setdefault(fields[i][1], []).append(fields[i][0])
    end = fixed_end
    while queues:
        aligns = sorted(queues, reverse=True)
        first = next((q for q, a in enumerate(aligns) if end % a == 0), len(aligns))
        stop, offset = len(aligns), end
        while True:
            found = next((a for a in aligns[first:stop] if queues[a]), None)
            if found is not None:
                end = offset + queues[found].pop(0)
                if not queues[found]:
                    del queues[found]
                break
            stop, first = first, first - 1
            offset = _round(end, aligns[first])
            while first > 0 and offset == _round(end, aligns[first - 1]):
                first -= 1
    return end, align


CLANG, GXX = "clang", "g++"  # whose frame sizes a bottom-up heap strategy counts


def entry_frequency(program) -> list:
    """Per edge, clang's estimate of how often its step runs relative to its
    function's entry (BlockFrequencyInfo without a profile), as far as the
    generated C++ decides it: every earlier await that surely suspends (io,
    yield_now, a waiting spawn, a call that is always made) multiplies it by
    ``RESUMED``, an await that suspends only on some paths (a join's or a
    select's ``bool await_suspend``, a recursive call under its ``if``) by
    ``MAYBE_RESUMED``. Computed once per
    program."""
    cached = program.__dict__.get("_entry_frequency")
    if cached is not None:
        return cached
    out = [1.0] * len(program.edge_callee)
    taken = program.edge_taken
    for fn in range(len(program.fn_names)):
        frequency = 1.0
        for step in program.view.functions[fn].steps:
            op = step.op
            for e in step.edges:
                out[e.index] = frequency
            if not _waits(step) or (op in (OP_CALL, OP_SPAWN) and not taken[step.edges[0].index]):
                continue
            surely = op in (OP_IO, OP_YIELD, OP_SPAWN) or (op == OP_CALL and not step.edges[0].back)
            frequency *= RESUMED if surely else MAYBE_RESUMED
    program.__dict__["_entry_frequency"] = out
    return out


# The coro.suspend switch's three ways (resume, destroy, return) are
# equally likely to BranchProbabilityInfo; a conditional suspension is
# taken on half its paths.
RESUMED = 1 / 3
MAYBE_RESUMED = 1 / 2 + RESUMED / 2


def constant_rdepth(program) -> list:
    """Per function, whether its ``rdepth`` is always 0, so interprocedural
    constant propagation removes it: no back edge (with a limit) reaches it."""
    taken = program.edge_taken
    reached = [False] * len(program.fn_names)
    stack = [int(program.edge_callee[e]) for e in range(len(taken)) if program.edge_back[e] and taken[e]]
    while stack:
        fn = stack.pop()
        if reached[fn]:
            continue
        reached[fn] = True
        stack += [e.callee for e in program.view.functions[fn].edges]
    return [not r for r in reached]


def clang_steps(program, fn: int) -> list:
    """``fn``'s steps as clang lays out its frame: after optimization, so
    without a call or spawn whose edge is never taken (constant propagation
    removed it)."""
    return [s for s in program.view.functions[fn].steps
            if not (s.op in (OP_CALL, OP_SPAWN) and not program.edge_taken[s.edges[0].index])]


def clang_frame_fields(program, fn: int, constant: bool) -> list:
    """The flexible fields (size, alignment) of ``fn``'s own clang frame
    (its elided children's frames excluded)."""
    steps = clang_steps(program, fn)
    if program.fn_generator[fn]:
        fields = [U64, U64, U64]  # arg, n, the loop counter
        worked = max([s.arg for s in steps if s.op == OP_WORK] or [0])
        if worked:
            fields += [U64, _locals_field(program, fn)]  # acc, the locals
        return fields + [BOOL, BOOL]  # the suspend index, co_yield's awaiter
    # Allocas: each await's awaiter objects. Allocas whose lifetimes do not
    # overlap share a slot (CoroFrame.cpp, addFieldForAllocas with
    # OptimizeFrame): largest first, each into the first slot none of whose
    # allocas is of its own step.
    allocas = []
    for index, step in enumerate(steps):
        op, arg, wait, edges = step.op, step.arg, step.wait, step.edges
        if op == OP_CALL:
            allocas += [(POINTER, index), (POINTER, index)]  # the task, its awaiter
        elif op in (OP_JOIN, OP_SELECT):
            allocas.append(((8 * len(edges) + JOIN_TASKS[0], 8), index))
        elif op == OP_IO:
            allocas.append((IO_AWAITER, index))
        elif op == OP_YIELD:
            allocas.append((YIELD_AWAITER, index))
        elif op == OP_SPAWN and wait:
            allocas += [(WAIT_HANDLES, index), (U64 if arg == 1 else VEC, index)]  # the handle(s)
    slots = []  # (the slot's first field, the steps whose allocas it holds)
    for field, index in sorted(allocas, key=lambda a: -a[0][0]):
        for first, holds in slots:
            if index not in holds and first[1] % field[1] == 0:
                holds.add(index)
                break
        else:
            slots.append((field, {index}))
    fields = [first for first, _ in slots]
    suspends = [i for i, s in enumerate(steps) if _waits(s)]
    # The locals: in the frame once a work step uses them (the opaque work
    # loop takes their address) and the function suspends at all.
    if locals_kept(program, fn, False, CLANG):
        fields.append(_locals_field(program, fn))
    fields.append(U64)  # arg
    # acc: each value of it that lives across a suspension is a spill of
    # its own; the constant 0 before anything changed it is not.
    acc, spilled = None, set()
    folded = "false"  # or "true", or the step that made it unknown
    flags = set()
    rdepth = False
    for index, step in enumerate(steps):
        op, arg, wait, edges = step.op, step.arg, step.wait, step.edges
        if edges and suspends and index > suspends[0]:
            rdepth = True  # a child built after a suspension
        if _waits(step):
            if acc is not None:
                spilled.add(acc)
            if folded not in ("false", "true"):
                flags.add(folded)
        if op == OP_WORK and arg:
            acc = ("work", index)
        elif op in (OP_CALL, OP_JOIN, OP_SELECT, OP_GEN) or (op == OP_SPAWN and wait):
            acc = ("result", index)
        unknown = any(e.back for e in edges)
        if op == OP_CALL or (op == OP_SPAWN and wait):
            folded = "true" if not unknown else folded if folded == "true" else index
        elif op in (OP_JOIN, OP_SELECT, OP_GEN) and folded != "true":
            folded = index
    fields += [U64] * len(spilled)
    if rdepth and not constant:
        fields.append(U32)
    # folded is the OR of what each unknown step gave: a join's (or a
    # generator loop's) `any`, one byte; a select's `any` is `winner >= 0`,
    # and LLVM keeps the winner itself, the SelectCtl's 4-byte int.
    fields += [U32 if steps[i].op == OP_SELECT else BOOL for i in sorted(flags)]
    bits = max(1, (len(suspends) + 1).bit_length())  # initial, final and every await
    fields.append((1, 1) if bits <= 8 else (2, 2))  # the suspend index
    if not suspends:
        fields.append(BOOL)  # the initial awaiter
    return fields


def _locals_field(program, fn: int) -> tuple:
    size = int(program.fn_locals[fn])
    return (size, 16 if size >= CLANG_WIDE else 1)


def clang_sizes(program, edge_boxed) -> list:
    """The counted size of every function's clang frame: its own fields and,
    each as an alloca of its own (CoroAnnotationElide.cpp gives an elided
    call its frame's size and alignment, and no lifetime, so no two share
    a slot), the frames of the children elided into it (not ``edge_boxed``).

    Two sizes of one frame: what ``operator new`` is asked for (coro.size,
    the frame type's alloc size: its end rounded up to 8, the largest ABI
    alignment of its element types, a generator's too: a 16-aligned locals
    array is an alloca's alignment, not its type's) and what an elided call's alloca holds (the ``.noalloc``
    variant's dereferenceable bytes: the end rounded up to the largest
    field alignment, 16 with a 16-aligned array)."""
    constant = constant_rdepth(program)
    n = len(program.fn_names)
    counted, inner = [None] * n, [None] * n  # heap size; (alloca size, alignment)
    for fn in program.view.callees_first():
        fields = clang_frame_fields(program, fn, constant[fn])
        fields += [inner[e.callee] for e in program.view.functions[fn].edges
                   if not e.back and not edge_boxed[e.index]]
        head = CLANG_GEN_HEAD if program.fn_generator[fn] else CLANG_TASK_HEAD
        end, align = struct_layout(head, fields)
        inner[fn] = (_round(end, align), align)
        counted[fn] = _round(end, 8)
    return counted
