# Included by _executor.pyx: where a frame that is not inline in its parent
# lives, by the storage mechanism a layout names (pb_prog.storage): a heap
# block of its own, contiguous stacks (fixed or growing by copying), slabs
# bumped per task, a box made when a frame first suspends, or stack chunks
# that frames are frozen into and thawed from. frame_new, frame_release and
# frame_free, at the end, are what the rest of the executor calls.

# ---------------------------------------------------------------- stacks and slabs
#
# Storage other than the heap (docs/model.md, "Storage"): frames on a
# contiguous stack (a task's, and one per concurrent child), fixed or
# growing by copying, or bumped in a task's slabs. A stack's descriptor heads
# its block; every frame on it points to it (pb_bhdr.stack). A stack holds
# one path of calls, pushed and popped in order, so a growing stack can find
# every frame on it, and every pointer to one, when it moves.

cdef inline uint64_t round_up(uint64_t n, uint64_t align) noexcept nogil:
    return (n + align - 1) // align * align


cdef inline char *stack_base(Stack *st) noexcept nogil:
    return <char *>st + sizeof(Stack)


cdef void stack_overflow(Ex *ex, Stack *st, uint32_t fn, uint64_t need) noexcept nogil:
    """A fixed stack cannot hold the frame: the run stops, naming whose stack."""
    if not ex.error:
        ex.error = E_STACK_OVERFLOW
        ex.overflow_need = need
        ex.overflow_task = (<Hdr *>st.first).fn if st.first != NULL else fn


cdef void relink(Ex *ex, char *old, char *frame) noexcept nogil:
    """``old`` was copied to ``frame``: its owner's slot (or its task's
    root) and its children's parent links point to the copy now."""
    cdef BHdr *b = <BHdr *>frame
    cdef BHdr *owner
    cdef int64_t s, op, e, first
    cdef char *child
    if b.parent == NULL and ex.tasks[b.task].root == old:
        ex.tasks[b.task].root = frame
    elif b.parent != NULL:
        owner = <BHdr *>b.parent
        s = ex.p.fn_step_start[owner.h.fn] + owner.h.pc
        e = ex.p.step_edge_start[s] + b.slot
        (<char **>(b.parent + ex.p.edge_offset[e]))[0] = frame
    if b.h.flags & F_ACTIVE:
        s = ex.p.fn_step_start[b.h.fn] + b.h.pc
        op = ex.p.step_op[s]
        if op == OP_CALL or op == OP_JOIN or op == OP_SELECT:
            first = ex.p.step_edge_start[s]
            for e in range(first, first + ex.p.step_edge_count[s]):
                child = (<char **>(frame + ex.p.edge_offset[e]))[0]
                if ex.p.edge_boxed[e] and child != NULL:
                    (<BHdr *>child).parent = frame


cdef void stack_moved(Ex *ex, char *lo, Stack *st) noexcept nogil:
    """The stack at ``lo`` was copied to ``st``: point every frame on it, and
    every pointer to one of them, at the copy (base first, so a frame's
    parent on the stack is already in place when the frame is relinked)."""
    cdef char *hi = lo + sizeof(Stack) + st.used
    cdef int64_t delta = <char *>st - lo
    cdef char *frame = stack_base(st)
    cdef char *end = frame + st.used
    cdef BHdr *b
    st.first = st.first + delta
    while frame < end:
        b = <BHdr *>frame
        b.stack = st
        if b.parent >= lo and b.parent < hi:
            b.parent = b.parent + delta
        relink(ex, frame - delta, frame)
        frame += ex.p.fn_size[b.h.fn]


cdef Stack *stack_grow(Ex *ex, Stack *old, uint32_t fn, char **near) noexcept nogil:
    """Growth by copying (as Go's newstack/copystack): a stack twice the size
    (doubled again until what the function needs fits), the used part
    copied, the old one freed."""
    cdef uint64_t cap = old.cap * 2
    while old.depth + <uint64_t>ex.p.fn_stack_need[fn] + ex.p.stack_guard > cap:
        cap *= 2
    cdef uint64_t counted = cap + ex.p.stack_extra
    cdef Stack *st = <Stack *>block_alloc(ex, sizeof(Stack) + cap * ex.p.stack_scale, counted)
    if st == NULL:
        return NULL
    memcpy(st, old, sizeof(Stack) + old.used)
    st.cap = cap
    st.counted = counted
    ex.c.copied_bytes += old.depth
    ex.c.stack_growths += 1
    cdef char *lo = <char *>old
    if old.used:
        stack_moved(ex, lo, st)
        if near != NULL and near[0] >= lo and near[0] < lo + sizeof(Stack) + old.used:
            near[0] = near[0] + (<char *>st - lo)
    block_free(ex, lo, sizeof(Stack) + old.cap * ex.p.stack_scale, old.counted)
    return st


cdef char *slab_push(Ex *ex, Stack *st, uint32_t fn) noexcept nogil:
    """Slab bumping (as Swift's StackAllocator, getSlabForAllocation): a header and the frame
    (rounded up) bumped in the current slab; else in the next, kept slab if
    it fits; else every slab after the current is freed and one new slab
    takes their place (a slab's size, or the request's, or theirs summed)."""
    cdef uint64_t size = ex.p.fn_size[fn]
    cdef uint64_t request = round_up(size, ex.p.alloc_align)
    cdef uint64_t need = ex.p.alloc_header + request
    cdef Slab *slab = st.slab if st.slab != NULL else st.slabs
    cdef Slab *after
    cdef uint64_t cap, freed = 0
    if slab == NULL or slab.used + need > slab.cap:
        after = slab.next if slab != NULL else NULL
        if after != NULL and after.used + need <= after.cap:
            slab = after
        else:
            while after != NULL:
                freed += after.cap
                slab.next = after.next
                block_free(ex, <char *>after, sizeof(Slab) + after.cap, ex.p.slab_header + after.cap)
                after = slab.next
            if freed > request:
                request = freed
            cap = ex.p.stack_bytes if ex.p.stack_bytes > ex.p.alloc_header + request else ex.p.alloc_header + request
            after = <Slab *>block_alloc(ex, sizeof(Slab) + cap, ex.p.slab_header + cap)
            if after == NULL:
                return NULL
            after.cap = cap
            after.used = 0
            after.next = NULL
            after.prev = slab
            if slab != NULL:
                slab.next = after
            else:
                st.slabs = after
            slab = after
    st.slab = slab
    cdef char *frame = <char *>slab + sizeof(Slab) + slab.used + ex.p.alloc_header
    (<Slab **>(frame - ex.p.alloc_header))[0] = slab
    slab.used += need
    live_grows(ex, size)
    (<BHdr *>frame).stack = st
    return frame


cdef void slab_pop(Ex *ex, Stack *st, char *frame) noexcept nogil:
    cdef uint64_t size = ex.p.fn_size[(<Hdr *>frame).fn]
    cdef Slab *slab = (<Slab **>(frame - ex.p.alloc_header))[0]
    slab.used -= ex.p.alloc_header + round_up(size, ex.p.alloc_align)
    ex.c.live_bytes -= size
    if slab.used == 0 and slab == st.slab:
        st.slab = slab.prev               # kept for the next allocation that needs one


cdef char *stack_push(Ex *ex, uint32_t fn, char **near) noexcept nogil:
    """A frame of ``fn`` on the stack (or slabs) of the frame at ``*near``,
    which a growing stack may move (``*near`` then says where to)."""
    cdef Stack *st = (<BHdr *>near[0]).stack
    if ex.p.storage == S_SLABS:
        return slab_push(ex, st, fn)
    cdef uint64_t size = ex.p.fn_size[fn]
    cdef uint64_t check = st.depth + <uint64_t>ex.p.fn_stack_check[fn] + ex.p.stack_guard
    if check > st.cap:
        if not ex.p.stack_grows:
            stack_overflow(ex, st, fn, check)
            return NULL
        st = stack_grow(ex, st, fn, near)
        if st == NULL:
            return NULL
    cdef char *frame = stack_base(st) + st.used
    st.used += size
    st.depth += ex.p.fn_bytes[fn]
    live_grows(ex, ex.p.fn_bytes[fn])
    (<BHdr *>frame).stack = st
    return frame


cdef char *stack_new(Ex *ex, uint32_t fn) noexcept nogil:
    """A frame of ``fn`` at the base of a stack of its own (a task's root, a
    concurrent child): a new stack, the frame pushed on it; under slabs, the
    task's allocation holding its root."""
    cdef uint64_t size = ex.p.fn_size[fn]
    cdef uint64_t cap = size if ex.p.storage == S_SLABS else ex.p.stack_bytes
    cdef uint64_t real = cap if ex.p.storage == S_SLABS else cap * ex.p.stack_scale
    cdef uint64_t counted = cap + ex.p.stack_extra
    cdef uint64_t check
    cdef Stack *st = <Stack *>block_alloc(ex, sizeof(Stack) + real, counted)
    if st == NULL:
        return NULL
    st.first = NULL
    st.cap = cap
    st.used = 0
    st.depth = 0
    st.counted = counted
    st.slabs = NULL
    st.slab = NULL
    if ex.p.storage == S_STACKS:
        st.depth = ex.p.stack_base
        check = st.depth + <uint64_t>ex.p.fn_stack_check[fn] + ex.p.stack_guard
        if check > cap:
            if not ex.p.stack_grows:
                stack_overflow(ex, st, fn, check)
                block_free(ex, <char *>st, sizeof(Stack) + real, counted)
                return NULL
            st = stack_grow(ex, st, fn, NULL)
            if st == NULL:
                return NULL
        size = ex.p.fn_bytes[fn]          # what the frame counts (fn_size: what it takes here)
        st.depth += size
    st.first = stack_base(st)
    st.used = ex.p.fn_size[fn]
    live_grows(ex, size)
    (<BHdr *>st.first).stack = st
    st.runtime = ex.p.fn_runtime[fn]     # the runtime's object per stack or task (a g, an AsyncTask, a control block)
    runtime_grows(ex, st.runtime)
    return st.first


cdef void stack_delete(Ex *ex, Stack *st) noexcept nogil:
    """Its base frame is done: free its slabs, then the stack (or task) itself."""
    cdef Slab *slab = st.slabs
    cdef Slab *after
    while slab != NULL:
        after = slab.next
        block_free(ex, <char *>slab, sizeof(Slab) + slab.cap, ex.p.slab_header + slab.cap)
        slab = after
    cdef uint32_t fn = (<Hdr *>st.first).fn
    ex.c.live_bytes -= ex.p.fn_bytes[fn] if ex.p.storage == S_STACKS else ex.p.fn_size[fn]
    runtime_dropped(ex, st.runtime)
    block_free(ex, <char *>st, sizeof(Stack) + (st.cap * ex.p.stack_scale if ex.p.storage == S_STACKS else st.cap),
               st.counted)


# ---------------------------------------------------------------- boxes made on suspension
#
# PB_BOX_ON_SUSPEND (as C#'s async methods): a frame runs on the thread's stack; when it first
# really suspends it is copied into a box of its own, and so is every caller
# awaiting it in a plain call (each suspends in turn). Finished boxes may be
# kept per function for reuse (a pool).


cdef char *box_new(Ex *ex, uint32_t fn) noexcept nogil:
    cdef uint64_t size = ex.p.fn_size[fn]
    cdef uint32_t *kept
    if ex.p.pool:
        kept = &ex.pool_len[fn]
        if kept[0] and kept[0] != NOT_POOLED:
            kept[0] -= 1
            live_grows(ex, size)
            return ex.pool[fn * ex.p.pool + kept[0]]
    cdef char *box = mem_alloc_as(ex, size, size)
    if box != NULL:
        runtime_grows(ex, ex.p.fn_runtime[fn])   # the box's object header and Task fields
    return box


cdef void box_done(Ex *ex, char *box) noexcept nogil:
    cdef uint32_t fn = (<Hdr *>box).fn
    cdef uint64_t size = ex.p.fn_size[fn]
    if ex.p.pool and ex.pool_len[fn] < ex.p.pool:         # NOT_POOLED is never below it
        ex.pool[fn * ex.p.pool + ex.pool_len[fn]] = box
        ex.pool_len[fn] += 1
        ex.c.live_bytes -= size          # still held: reserved, not in use
        return
    runtime_dropped(ex, ex.p.fn_runtime[fn])
    mem_free_as(ex, box, size, size)


cdef void pools_drain(Ex *ex) noexcept nogil:
    """The run is over: free the boxes the pools kept."""
    cdef int64_t fn
    cdef uint32_t i
    if ex.pool_len == NULL:
        return
    for fn in range(ex.pool_fns):
        if ex.pool_len[fn] == NOT_POOLED:
            continue
        for i in range(ex.pool_len[fn]):
            runtime_dropped(ex, ex.p.fn_runtime[fn])
            block_free(ex, ex.pool[fn * ex.p.pool + i], ex.p.fn_size[fn], ex.p.fn_size[fn])
        ex.pool_len[fn] = 0


cdef void box_suspended(Ex *ex, char **at) noexcept nogil:
    """``*at`` is about to suspend: box it, and each caller awaiting it in a
    plain call (a join or select suspends itself when its launch ends)."""
    cdef char *f = at[0]
    cdef char *box
    cdef uint64_t size
    cdef int64_t s
    while f != NULL and (<BHdr *>f).stack == ex.thread:
        size = ex.p.fn_size[(<Hdr *>f).fn]
        box = box_new(ex, (<Hdr *>f).fn)
        if box == NULL:
            return                       # the run stops; the frame is dropped from the thread's stack
        memcpy(box, f, size)
        ex.c.copied_bytes += size
        (<BHdr *>box).stack = NULL
        relink(ex, f, box)
        thread_pop(ex, f)
        if f == at[0]:
            at[0] = box
        f = (<BHdr *>box).parent
        if f == NULL:
            break
        s = ex.p.fn_step_start[(<Hdr *>f).fn] + (<Hdr *>f).pc
        if ex.p.step_op[s] != OP_CALL:
            break


cdef void thread_pop(Ex *ex, char *frame) noexcept nogil:
    """A frame leaves the thread's stack (finished, dropped or boxed). The
    arms of a join or select all sit on it while the first ones run, so
    one may leave from below the top: its space is taken back when the
    frames above it have left too."""
    cdef Stack *st = ex.thread
    ex.c.live_bytes -= ex.p.fn_bytes[(<Hdr *>frame).fn]
    (<BHdr *>frame).stack = NULL         # gone (this copy is never read again)
    if <uint64_t>(frame - stack_base(st)) != ex.thread_at[ex.thread_n - 1]:
        return
    while ex.thread_n and (<BHdr *>(stack_base(st) + ex.thread_at[ex.thread_n - 1])).stack == NULL:
        ex.thread_n -= 1
        st.used = ex.thread_at[ex.thread_n]


# ---------------------------------------------------------------- stack chunks
#
# PB_CHUNKS (as Java's virtual threads): a virtual thread's frames run on the
# carrier's stack (ex.thread); when it suspends they are frozen -- copied --
# into its newest stack chunk if that has room, else into a new chunk of
# exactly their size (an empty chunk too small is dropped, a non-empty one
# stays below the new one); when it runs again its newest chunk is thawed --
# copied back -- whole if it holds under prog.thaw_all_below bytes, else its
# top frame alone, the rest as calls return into them (the return barrier,
# the same rule). A continuation descriptor (pb_stack, counted nothing: it
# stands for Java's VirtualThread and Continuation objects) is what frames
# on the carrier point to; frozen frames point to their chunk. A chunk's
# cap and depth are the runtime's bytes (fn_bytes per frame, its entry
# frames below a thread's first frame, its park frames above a parked
# thread's top: prog.stack_base, prog.stack_top); its block holds cap *
# stack_scale for the executor's frames (used), which therefore fit.

cdef inline uint64_t chunk_runtime(Ex *ex, uint64_t counted) noexcept nogil:
    """A stack chunk's object beside its frames and metadata: its header
    and fields, and its GC bitmap (8 bytes per ``chunk_bitmap`` bytes)."""
    if ex.p.chunk_bitmap == 0:
        return ex.p.chunk_object
    return ex.p.chunk_object + 8 * ((counted + ex.p.chunk_bitmap - 1) // ex.p.chunk_bitmap)


cdef inline bint is_chunk(Stack *st) noexcept nogil:
    return st != NULL and st.vthread != st


cdef Stack *chunk_new(Ex *ex, Stack *v, uint64_t cap) noexcept nogil:
    cdef Stack *c = <Stack *>block_alloc(ex, sizeof(Stack) + cap * ex.p.stack_scale, cap + ex.p.stack_extra)
    if c == NULL:
        return NULL
    memset(c, 0, sizeof(Stack))
    c.cap = cap
    c.counted = cap + ex.p.stack_extra
    c.vthread = v
    c.chunk = v.chunk
    v.chunk = c
    c.runtime = chunk_runtime(ex, c.counted)
    runtime_grows(ex, c.runtime)
    return c


cdef void chunk_drop(Ex *ex, Stack *v) noexcept nogil:
    """Free a virtual thread's newest chunk (empty): the one below is newest."""
    cdef Stack *c = v.chunk
    v.chunk = c.chunk
    runtime_dropped(ex, c.runtime)
    block_free(ex, <char *>c, sizeof(Stack) + c.cap * ex.p.stack_scale, c.counted)


cdef Stack *vthread_new(Ex *ex) noexcept nogil:
    cdef Stack *v = <Stack *>calloc(1, sizeof(Stack))
    if v == NULL:
        ex.error = E_OUT_OF_MEMORY
        return NULL
    v.vthread = v
    book_grows(ex, sizeof(Stack))
    return v


cdef void vthread_end(Ex *ex, Stack *v) noexcept nogil:
    while v.chunk != NULL:
        chunk_drop(ex, v)
    runtime_dropped(ex, v.runtime)
    ex.fp.book -= sizeof(Stack)
    limits_moved(ex)
    free(v)


cdef inline bint same_vthread(Stack *v, char *frame) noexcept nogil:
    cdef Stack *st = (<BHdr *>frame).stack
    return st == v or (is_chunk(st) and st.vthread == v)


cdef void freeze(Ex *ex, char **at) noexcept nogil:
    """The virtual thread of ``*at`` suspends: copy its frames on the carrier
    (``*at`` and its callers there) into its chunk, top first, each to where
    it belongs in the chunk's order; ``*at`` follows."""
    cdef char *f = at[0]
    cdef Stack *v = (<BHdr *>f).stack
    cdef uint64_t total = ex.p.fn_size[(<Hdr *>f).fn]
    cdef uint64_t need = ex.p.fn_bytes[(<Hdr *>f).fn] + ex.p.stack_top   # and the park frames above
    cdef char *base = f
    cdef char *up
    while True:
        up = (<BHdr *>base).parent
        if up == NULL or (<BHdr *>up).stack != v:
            break
        base = up
        total += ex.p.fn_size[(<Hdr *>base).fn]
        need += ex.p.fn_bytes[(<Hdr *>base).fn]
    if (ex.tasks[(<BHdr *>base).task].root == base if up == NULL else not same_vthread(v, up)):
        need += ex.p.stack_base      # the thread's first frame: the entry frames below it
    cdef Stack *c = v.chunk
    if c != NULL and c.cap - c.depth < need:
        if c.used == 0:
            chunk_drop(ex, v)        # empty and too small: dropped
        c = NULL
    if c == NULL:
        c = chunk_new(ex, v, need)
        if c == NULL:
            return
    ex.c.copied_bytes += need
    cdef uint64_t end = c.used + total
    cdef uint64_t size
    cdef char *g = f
    cdef char *dst
    while True:
        size = ex.p.fn_size[(<Hdr *>g).fn]
        end -= size
        dst = stack_base(c) + end
        memcpy(dst, g, size)
        (<BHdr *>dst).stack = c
        relink(ex, g, dst)
        thread_pop(ex, g)
        live_grows(ex, ex.p.fn_bytes[(<Hdr *>dst).fn])
        if g == f:
            at[0] = dst
        if g == base:
            break
        g = (<BHdr *>dst).parent
    c.used += total
    c.depth += need
    c.top = ex.p.stack_top


cdef char *thaw(Ex *ex, char *frame) noexcept nogil:
    """``frame`` (its virtual thread's newest chunk's top) runs again: copy
    the whole chunk back to the carrier if it holds under the threshold,
    else ``frame`` alone. Returns where ``frame`` is now."""
    cdef Stack *c = (<BHdr *>frame).stack
    cdef Stack *v = c.vthread
    cdef uint64_t offset = 0 if c.depth < ex.p.thaw_all_below else <uint64_t>(frame - stack_base(c))
    cdef uint64_t moved = c.depth if offset == 0 else c.top   # all of it, or the park frames and ...
    cdef char *g = stack_base(c) + offset
    cdef char *end = stack_base(c) + c.used
    cdef char *dst
    cdef char *out = NULL
    cdef uint64_t size
    while g < end:
        size = ex.p.fn_size[(<Hdr *>g).fn]
        dst = thread_push(ex, (<Hdr *>g).fn)
        if dst == NULL:
            return NULL              # the carrier's stack overflowed: the run stops
        memcpy(dst, g, size)
        (<BHdr *>dst).stack = v
        relink(ex, g, dst)
        ex.c.live_bytes -= ex.p.fn_bytes[(<Hdr *>g).fn]   # it left the chunk (thread_push counted it again)
        if offset:
            moved += ex.p.fn_bytes[(<Hdr *>g).fn]         # ... the frames thawed
        if g == frame:
            out = dst
        g += size
    c.used = offset
    c.depth -= moved
    c.top = 0
    ex.c.copied_bytes += moved
    if c.used == 0 and c.chunk != NULL:
        chunk_drop(ex, v)            # emptied, with an older chunk below: dropped
    return out


cdef void suspending(Ex *ex, char **at) noexcept nogil:
    if ex.p.storage == S_CHUNKS:
        freeze(ex, at)
    else:
        box_suspended(ex, at)


cdef char *thread_push(Ex *ex, uint32_t fn) noexcept nogil:
    cdef Stack *st = ex.thread
    cdef uint64_t size = ex.p.fn_size[fn]
    if st.used + size > st.cap:
        stack_overflow(ex, st, fn, st.used + size)
        return NULL
    cdef char *frame = stack_base(st) + st.used
    ex.thread_at[ex.thread_n] = st.used
    ex.thread_n += 1
    st.used += size
    live_grows(ex, ex.p.fn_bytes[fn])
    (<BHdr *>frame).stack = st
    return frame


cdef char *vthread_start(Ex *ex, uint32_t fn) noexcept nogil:
    """A new virtual thread: its first frame waits frozen in a chunk of its
    size, with room for the entry and park frames of a park in it, until
    the thread first runs."""
    cdef Stack *v = vthread_new(ex)
    if v == NULL:
        return NULL
    v.runtime = ex.p.fn_runtime[fn]      # the VirtualThread and Continuation objects
    runtime_grows(ex, v.runtime)
    cdef Stack *c = chunk_new(ex, v, ex.p.fn_bytes[fn] + ex.p.stack_base + ex.p.stack_top)
    if c == NULL:
        vthread_end(ex, v)
        return NULL
    c.used = ex.p.fn_size[fn]
    c.depth = ex.p.fn_bytes[fn]
    live_grows(ex, c.depth)
    (<BHdr *>stack_base(c)).stack = c
    return stack_base(c)


cdef void chunk_release(Ex *ex, char *frame, Stack *st) noexcept nogil:
    """A frame on the carrier or in a chunk is done with (finished or
    dropped); its virtual thread ends with its first frame."""
    cdef Stack *v = st.vthread
    cdef char *up = (<BHdr *>frame).parent
    # its first frame: a task's root, or a child of another thread (a
    # generator's frame has no parent link and is neither)
    cdef bint first = (ex.tasks[(<BHdr *>frame).task].root == frame if up == NULL
                       else not same_vthread(v, up))
    cdef uint64_t size
    if is_chunk(st):
        size = ex.p.fn_bytes[(<Hdr *>frame).fn]
        st.used -= ex.p.fn_size[(<Hdr *>frame).fn]   # the top of its chunk, with any park frames above it
        st.depth = 0 if st.used == 0 else st.depth - size - st.top
        st.top = 0
        ex.c.live_bytes -= size
        if st.used == 0 and st.chunk != NULL and v.chunk == st:
            chunk_drop(ex, v)
    else:
        thread_pop(ex, frame)
    if first:
        vthread_end(ex, v)


# ---------------------------------------------------------------- by storage

cdef char *frame_new(Ex *ex, uint32_t fn, int place, char **near) noexcept nogil:
    """Storage for a frame of ``fn`` that is not inline in its parent."""
    cdef char *frame
    if ex.p.storage == S_HEAP:           # the common case first: a block of its own
        frame = mem_alloc_as(ex, ex.p.fn_size[fn], ex.p.fn_bytes[fn])
        if frame != NULL and ex.p.bottom_up:
            (<BHdr *>frame).stack = NULL
        return frame
    if ex.p.storage == S_CHUNKS and place == P_STACK:
        frame = thread_push(ex, fn)
        if frame != NULL:
            (<BHdr *>frame).stack = (<BHdr *>near[0]).stack   # its caller's virtual thread
        return frame
    if ex.p.storage == S_CHUNKS and place == P_OWN:
        return vthread_start(ex, fn)
    if ex.p.storage == S_BOX_ON_SUSPEND:
        frame = thread_push(ex, fn) if place == P_STACK else box_new(ex, fn)
        if frame != NULL and place != P_STACK:
            (<BHdr *>frame).stack = NULL
        return frame
    if ex.p.storage != S_HEAP and place == P_STACK:
        return stack_push(ex, fn, near)
    if ex.p.storage != S_HEAP and place == P_OWN:
        return stack_new(ex, fn)
    frame = mem_alloc_as(ex, ex.p.fn_size[fn], ex.p.fn_bytes[fn])
    if frame != NULL and ex.p.bottom_up:
        (<BHdr *>frame).stack = NULL
    return frame


cdef void frame_release(Ex *ex, char *frame) noexcept nogil:
    """A boxed, pushed or base frame is done with: pop it, or free its block."""
    cdef Stack *st = (<BHdr *>frame).stack
    cdef uint64_t size
    if st != NULL and ex.p.storage == S_CHUNKS:
        chunk_release(ex, frame, st)
    elif st == NULL and ex.p.storage == S_BOX_ON_SUSPEND:
        box_done(ex, frame)
    elif st == ex.thread and st != NULL:
        thread_pop(ex, frame)
    elif st == NULL:
        mem_free_as(ex, frame, ex.p.fn_size[(<Hdr *>frame).fn], ex.p.fn_bytes[(<Hdr *>frame).fn])
    elif frame == st.first:
        stack_delete(ex, st)
    elif ex.p.storage == S_SLABS:
        slab_pop(ex, st, frame)
    else:
        st.used -= ex.p.fn_size[(<Hdr *>frame).fn]
        size = ex.p.fn_bytes[(<Hdr *>frame).fn]
        st.depth -= size
        ex.c.live_bytes -= size


cdef inline void frame_free(Ex *ex, char *frame) noexcept nogil:
    """Free a boxed or root frame (the executor's size; the native size counted)."""
    cdef uint32_t fn = (<Hdr *>frame).fn
    if ex.p.storage != S_HEAP:
        frame_release(ex, frame)
    else:
        mem_free_as(ex, frame, ex.p.fn_size[fn], ex.p.fn_bytes[fn])
