# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The executor: mechanism only.

It runs a compiled program (model/program.py) under a layout (model/layout.py)
with one allocator (allocators.h) and returns exact counters. Everything
below ``run`` is C: the loop holds no Python object and releases the GIL.
The rules it implements are written down in docs/model.md; the comments
here say how, not what.

Frames are real memory. A frame starts with a header (``Hdr``; ``BHdr`` for
bottom-up resumption), then its locals or a pointer to its locals' cell, then
its child area: the current step's inline children, boxed children's
pointers, io/yield leaf state or join handles, at offsets from the layout.
"""

from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcpy, memset
from posix.time cimport nanosleep, timespec

# runtime.pxd: the C this module shares (allocators.h, runtime.h, callgrind).
from runtime cimport *

from array import array

# numpy is imported only where a caller hands the run numpy's arrays (the
# model's tables, an arrival schedule): pyperf's workers pass buffers of
# their own (bench/worker.py) and so start without it, a tenth of a second
# each.


# ---------------------------------------------------------------- memory

cdef extern from *:
    """
    #include <fcntl.h>
    #include <stdio.h>
    #include <string.h>
    #include <unistd.h>
    #if defined(__GLIBC__)
    #include <malloc.h>
    #define pb_trim() malloc_trim(0)
    #else
    #define pb_trim() 0
    #endif
    /* A /proc/self file this process keeps open: every run reads or writes
       it at least twice, and an open and a close were half of the cost (the
       three files took 24 us of a run's 44 us outside its loop). "self" is
       resolved when the file is opened, so a forked child opens its own. */
    typedef struct { const char *path; int flags; int fd; pid_t pid; } pb_proc_file;
    static pb_proc_file pb_statm = {"/proc/self/statm", O_RDONLY, -1, 0};
    static pb_proc_file pb_status = {"/proc/self/status", O_RDONLY, -1, 0};
    static pb_proc_file pb_clear_refs = {"/proc/self/clear_refs", O_WRONLY, -1, 0};
    static int pb_proc_fd(pb_proc_file *file)
    {
        pid_t pid = getpid();
        if (file->fd >= 0 && file->pid == pid)
            return file->fd;
        if (file->fd >= 0)
            close(file->fd);  /* the parent's, inherited across a fork */
        file->fd = open(file->path, file->flags | O_CLOEXEC);
        file->pid = pid;
        return file->fd;
    }
    /* The text of a /proc file into buf (NUL-terminated); 0 if it cannot be read. */
    static int pb_read_proc(pb_proc_file *file, char *buf, size_t size)
    {
        int fd = pb_proc_fd(file);
        ssize_t n;
        if (fd < 0)
            return 0;
        n = pread(fd, buf, size - 1, 0);
        if (n <= 0)
            return 0;
        buf[n] = 0;
        return 1;
    }
    /* This process's resident bytes (/proc/self/statm), 0 where unknown. */
    static uint64_t pb_resident_bytes(void)
    {
        char buf[128];
        unsigned long long size = 0, resident = 0;
        if (!pb_read_proc(&pb_statm, buf, sizeof buf) ||
            sscanf(buf, "%llu %llu", &size, &resident) != 2)
            return 0;
        return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
    }
    /* Restart the peak resident size (VmHWM) at the current one; 0 on success. */
    static int pb_reset_peak_rss(void)
    {
        int fd = pb_proc_fd(&pb_clear_refs);
        if (fd < 0)
            return -1;
        return pwrite(fd, "5", 1, 0) == 1 ? 0 : -1;
    }
    /* VmHWM of /proc/self/status in bytes, 0 where unknown. */
    static uint64_t pb_peak_rss(void)
    {
        char buf[4096];
        char *at;
        unsigned long long kib = 0;
        if (!pb_read_proc(&pb_status, buf, sizeof buf))
            return 0;
        at = strstr(buf, "VmHWM:");
        if (at == NULL || sscanf(at + 6, "%llu", &kib) != 1)
            return 0;
        return (uint64_t)kib * 1024;
    }
    """
    uint64_t resident_bytes "pb_resident_bytes" () nogil
    int reset_peak_rss "pb_reset_peak_rss" () nogil
    uint64_t read_peak_rss "pb_peak_rss" () nogil
    int malloc_trim "pb_trim" () nogil

cdef enum:
    CHECK_POLLS = 1 << 20         # the loop reads the resident size at least this often
    CHECK_BYTES = 16 << 20        # ... and whenever the counted footprint grew by this much
    OVER_COUNTED = 1
    OVER_RESIDENT = 2


cdef inline void limits_moved(Ex *ex) noexcept nogil:
    """The bookkeeping or next_check changed: where a new allocator peak
    must look at the limits (block_counted compares once, not twice)."""
    cdef uint64_t at = ex.fp.next_check - ex.fp.book if ex.fp.next_check > ex.fp.book else 0
    cdef uint64_t below = ex.fp.rss_start + ex.fp.book
    cdef uint64_t limit = ex.memory_limit - below if ex.memory_limit > below else 0
    ex.fp.alloc_check = at if at < limit else limit


cdef inline void book_grows(Ex *ex, uint64_t n) noexcept nogil:
    ex.fp.book += n
    if ex.fp.book > ex.fp.peak_book:
        ex.fp.peak_book = ex.fp.book
    limits_moved(ex)


cdef void check_memory(Ex *ex, uint64_t footprint) noexcept nogil:
    """The run grew by ``fp.step`` since the last look: read the resident
    size; stop the run if it, or the bytes counted, passed the limit."""
    ex.fp.next_check = footprint + ex.fp.step
    limits_moved(ex)
    ex.fp.polls_checked = ex.c.polls
    if not ex.fp.sample_rss:
        return
    cdef uint64_t rss = resident_bytes()
    if rss > ex.fp.peak_rss:
        ex.fp.peak_rss = rss
    if rss > ex.memory_limit and not ex.error:
        ex.error = E_MEMORY_LIMIT
        ex.fp.over = OVER_RESIDENT


cdef inline int over_limit(Ex *ex, uint64_t more) noexcept nogil:
    """Would ``more`` bytes take the process past the memory limit? Counted:
    the resident size at the start, the allocator's footprint (malloc's
    chunks; the pool's and bump's chunks) and the executor's bookkeeping.
    Sets the error if so."""
    cdef uint64_t footprint = pb_reserved(&ex.a) + ex.fp.book
    if footprint + more > ex.fp.next_check:
        check_memory(ex, footprint)
    if ex.fp.rss_start + footprint + more > ex.memory_limit:
        if not ex.error:
            ex.error = E_MEMORY_LIMIT
            ex.fp.over = OVER_COUNTED
        return 1
    return ex.error == E_MEMORY_LIMIT


cdef inline void runtime_grows(Ex *ex, uint64_t n) noexcept nogil:
    """The runtime created its own object of ``n`` bytes (tasks.h,
    pb_runtime_created); the held bytes' peak looked at if they grew."""
    if runtime_created(ex, n):
        held_grew(ex)


cdef int refused(Ex *ex, uint64_t size) noexcept nogil:
    """A large block (the loop's fixed step or more): 1 (and the error set)
    if it alone cannot fit; it is not even tried."""
    if size > ex.memory_limit or over_limit(ex, size):
        ex.error = E_MEMORY_LIMIT
        ex.fp.over = OVER_COUNTED
        return 1
    return 0


# ---------------------------------------------------------------- storage

# Frames that are not a block of their own: stacks, slabs, chunks, boxes
# made on suspension (storage.pxi: the mechanics of each).
include "storage.pxi"


cdef int grow(Ex *ex, void **array, uint64_t *cap, size_t item, uint64_t need) noexcept nogil:
    """Executor bookkeeping (not charged to any strategy, but counted against
    the memory limit): double until ``need`` fits. -1 (and the error set)
    when it cannot."""
    cdef uint64_t new_cap = cap[0] if cap[0] else 64
    while new_cap < need:
        new_cap *= 2
    cdef uint64_t more = (new_cap - cap[0]) * item
    if over_limit(ex, more):
        return -1
    cdef void *grown = realloc(array[0], new_cap * item)
    if grown == NULL:
        ex.error = E_OUT_OF_MEMORY
        return -1
    array[0] = grown
    cap[0] = new_cap
    book_grows(ex, more)
    return 0


# ---------------------------------------------------------------- frames

cdef inline Hdr *hdr(char *frame) noexcept nogil:
    return <Hdr *>frame


cdef inline char *locals_of(Ex *ex, char *frame) noexcept nogil:
    cdef uint32_t fn = hdr(frame).fn
    cdef char *at = frame + ex.p.fn_locals_offset[fn]
    if ex.p.fn_cell_size[fn]:
        return (<char **>at)[0] + CELL_HEADER
    if ex.p.fn_stack_locals[fn]:
        # A function that never suspends runs from start to finish in one
        # poll, and such a function calls no other (a call suspends), so one
        # scratch area serves them all, as the poll's stack does natively.
        return ex.scratch
    return at


cdef inline char *child_at(Ex *ex, char *parent, int64_t edge) noexcept nogil:
    """The child frame of ``edge``, or NULL if it is gone (finished, dropped, skipped)."""
    cdef char *slot = parent + ex.p.edge_offset[edge]
    if ex.p.edge_boxed[edge]:
        return (<char **>slot)[0]
    if hdr(slot).pc == PC_DONE:
        return NULL
    return slot


cdef inline bint edge_taken(Ex *ex, int64_t edge, uint32_t rdepth) noexcept nogil:
    return not ex.p.edge_back[edge] or rdepth < <uint64_t>ex.p.edge_limit[edge]


cdef inline char *build(Ex *ex, uint32_t fn, uint64_t arg, uint32_t rdepth, char *dest,
                        Stack *st, int place) noexcept nogil:
    """Write a new future's header at ``dest``, which is at ``place``
    (tasks.h's pb_build, with fn's sizes)."""
    return pb_build(ex, fn, ex.p.fn_size[fn], ex.p.fn_bytes[fn], arg, rdepth, dest, st, place)


cdef char *construct(Ex *ex, uint32_t fn, uint64_t arg, uint32_t rdepth,
                     char *dest, int place, char **near) noexcept nogil:
    """Build a future for ``fn``: in place, or by value and moved into ``dest``.

    ``dest`` NULL means storage of its own at ``place`` (frame_new; on the
    stack of ``*near`` for P_STACK, which may move it). Returns the frame,
    NULL on error.
    """
    cdef Stack *st = NULL
    if dest == NULL:
        dest = frame_new(ex, fn, place, near)
        if dest == NULL:
            return NULL
        if ex.p.bottom_up:
            st = (<BHdr *>dest).stack
    return build(ex, fn, arg, rdepth, dest, st, place)


cdef inline void start(Ex *ex, char *frame) noexcept nogil:
    """First entry: allocate the cell if any, zero the locals."""
    cdef Hdr *h = hdr(frame)
    cdef uint32_t fn = h.fn
    cdef uint64_t cell_size = ex.p.fn_cell_size[fn]
    cdef char *cell
    h.flags |= F_STARTED
    if cell_size:
        cell = mem_alloc(ex, cell_size)
        if cell == NULL:
            h.flags &= ~F_STARTED
            return
        memset(cell, 0, cell_size)
        (<uint64_t *>cell)[0] = 1      # strong count
        (<uint64_t *>cell)[1] = 1      # weak count (held by the strongs)
        (<char **>(frame + ex.p.fn_locals_offset[fn]))[0] = cell
    elif ex.p.fn_stack_locals[fn]:
        memset(ex.scratch, 0, ex.p.fn_stack_locals[fn])
    else:                       # the frame's locals: up to its child area (none when not kept)
        memset(frame + ex.p.fn_locals_offset[fn], 0, ex.p.fn_child_offset[fn] - ex.p.fn_locals_offset[fn])


cdef inline void release_cell(Ex *ex, char *frame) noexcept nogil:
    cdef uint32_t fn = hdr(frame).fn
    cdef uint64_t cell_size = ex.p.fn_cell_size[fn]
    if cell_size and (hdr(frame).flags & F_STARTED):
        ex.c.refcount_ops += 1          # the last strong reference goes
        mem_free(ex, (<char **>(frame + ex.p.fn_locals_offset[fn]))[0], cell_size)


cdef inline void await_begins(Ex *ex, char *frame) noexcept nogil:
    """An invocation that borrows from its locals' cell clones the cell's
    reference for the awaited future (and
    drops that clone when the await ends or is cancelled)."""
    if ex.p.fn_cell_size[hdr(frame).fn]:
        ex.c.refcount_ops += 2


cdef inline void work(Ex *ex, char *frame, int64_t n) noexcept nogil:
    cdef unsigned char *mem = <unsigned char *>locals_of(ex, frame)
    cdef Hdr *h = hdr(frame)
    cdef uint64_t acc = h.acc
    cdef unsigned char b
    cdef int64_t i
    for i in range(n):
        b = <unsigned char>(mem[i] + (acc & 0xff) + 1)
        mem[i] = b
        acc = (acc ^ b) * FNV_PRIME
    h.acc = acc


cdef inline void finish(Ex *ex, char *frame) noexcept nogil:
    """The invocation returns: its value stays in ``acc``; its cell goes."""
    cdef Hdr *h = hdr(frame)
    h.acc = value_of(h)
    release_cell(ex, frame)
    h.pc = PC_DONE


cdef inline void release_child(Ex *ex, char *parent, int64_t edge, char *child) noexcept nogil:
    """A finished or dropped child: free its box, or mark its inline slot empty."""
    if ex.p.edge_boxed[edge]:
        frame_free(ex, child)
        (<char **>(parent + ex.p.edge_offset[edge]))[0] = NULL
    else:
        hdr(child).pc = PC_DONE


cdef void drop(Ex *ex, char *frame) noexcept nogil:
    """Cancel an invocation: free everything below it and its cell.

    The frame's own storage (inline slot, box or task) is the caller's.
    """
    cdef Hdr *h = hdr(frame)
    cdef int64_t s, op, e, first, count
    cdef uint32_t waiter
    cdef char *child
    cdef HandleVec *vec
    if h.pc == PC_DONE:
        return
    if h.flags & F_ACTIVE:
        s = ex.p.fn_step_start[h.fn] + h.pc
        op = ex.p.step_op[s]
        if op == OP_CALL or op == OP_JOIN or op == OP_SELECT or op == OP_GEN:
            first = ex.p.step_edge_start[s]
            count = ex.p.step_edge_count[s]
            for e in range(first, first + count):
                child = child_at(ex, frame, e)
                if child != NULL:
                    drop(ex, child)
                    release_child(ex, frame, e, child)
        elif op == OP_IO or (op == OP_YIELD and ex.p.bottom_up):
            waiter = (<IoLeaf *>(frame + ex.p.fn_child_offset[h.fn])).waiter
            if waiter != NO_WAITER:     # NO_WAITER: registration failed (the run is aborting)
                waiter_cancel(ex, waiter)
        elif op == OP_SPAWN and ex.p.step_wait[s] and ex.p.step_arg[s] > 1:
            # Only on abort: the rules keep waiting spawns out of select arms.
            vec = <HandleVec *>(frame + ex.p.fn_child_offset[h.fn])
            mem_free(ex, <char *>vec.ptr, 8 * vec.cap)
    release_cell(ex, frame)
    h.pc = PC_DONE


# ---------------------------------------------------------------- queue, waiters, tasks

cdef uint32_t waiter_new(Ex *ex, uint32_t task, char *frame, uint32_t state) noexcept nogil:
    cdef uint32_t id
    if not table_take(ex, <void **>&ex.waiters, sizeof(Waiter), WAITER_NEXT_FREE,
                      &ex.waiter_free, &ex.waiter_top, &ex.waiters_cap, &id):
        return NO_WAITER
    ex.waiters[id].task = task
    ex.waiters[id].frame = frame
    ex.waiters[id].state = state
    return id


cdef inline void waiter_release(Ex *ex, uint32_t id) noexcept nogil:
    ex.waiters[id].state = W_FREE
    ex.waiters[id].next_free = ex.waiter_free
    ex.waiter_free = id


cdef void waiter_cancel(Ex *ex, uint32_t id) noexcept nogil:
    """The leaf holding the waiter is dropped: free a fired waiter now; a
    pending or queued one is freed by whoever meets it next."""
    if ex.waiters[id].state == W_FIRED:
        waiter_release(ex, id)
    else:
        ex.waiters[id].state = W_CANCELLED


cdef uint32_t sleep(Ex *ex, uint32_t task, char *frame, int64_t ticks) noexcept nogil:
    """Register an io waiter due ``ticks`` from now in the timer wheel."""
    cdef uint32_t id = waiter_new(ex, task, frame, W_PENDING)
    if id == NO_WAITER:
        return id
    cdef Bucket *b = &ex.wheel[(ex.c.ticks + ticks) % ex.wheel_size]
    cdef uint64_t cap = b.cap
    if b.len == b.cap:
        if grow(ex, <void **>&b.ids, &cap, sizeof(uint32_t), b.len + 1):
            return NO_WAITER
        b.cap = <uint32_t>cap
    b.ids[b.len] = id
    b.len += 1
    ex.timers_pending += 1
    return id


cdef uint32_t spawn_task(Ex *ex, uint32_t fn, uint64_t arg, uint32_t rdepth, uint64_t *handle,
                         char *waiter_frame, uint32_t waiter_task) noexcept nogil:
    cdef char *root
    cdef uint32_t id
    if ex.p.storage == S_HEAP:
        # A block of its own (frame_new's first case) and tokio's task cell
        # around the root future: tasks.h, which a generated engine inlines
        # with the sizes as constants.
        return spawn_block(ex, fn, ex.p.fn_size[fn], ex.p.fn_bytes[fn], ex.p.fn_runtime[fn], arg, rdepth,
                           handle, waiter_frame, waiter_task)
    # The task is live from its root's allocation (the peak's task count).
    ex.live_tasks += 1
    root = construct(ex, fn, arg, rdepth, NULL, P_OWN, NULL)
    if root == NULL:
        ex.live_tasks -= 1
        return NO_WAITER
    id = task_new(ex, root, handle, waiter_frame, waiter_task)
    if id == NO_WAITER:
        frame_free(ex, root)
        ex.live_tasks -= 1
        return NO_WAITER
    # queued already (task_new): no wake_task, which would read the flag again
    enqueue(ex, id, root if ex.p.bottom_up else NULL, NO_WAITER)
    return id


cdef uint32_t spawn_entries(Ex *ex, uint32_t entry, uint64_t first, uint64_t count) noexcept nogil:
    """Entry tasks first .. first + count - 1, queued: the id of the last,
    or NO_WAITER (and the error set). A generated engine whose roots are
    blocks of their own spawns them itself, with the entry's sizes as
    constants (runtime.h, pb_engine.spawn_entries)."""
    cdef uint64_t i
    cdef uint32_t id = NO_WAITER
    if ex.eng != NULL and ex.eng.spawn_entries != NULL:
        return ex.eng.spawn_entries(ex, first, count)
    for i in range(first, first + count):
        id = spawn_task(ex, entry, i, 0, NULL, NULL, 0)
        if id == NO_WAITER:
            break
    return id


cdef inline void task_done(Ex *ex, uint32_t id) noexcept nogil:
    """The root returned: release its storage, then deliver the value and wake
    the awaiter (tasks.h, which a generated engine inlines for a root that
    is a block of its own). inline: once per task, from the two loops."""
    cdef Task *t = &ex.tasks[id]
    cdef uint32_t fn = hdr(t.root).fn
    cdef uint64_t value
    if ex.p.storage == S_HEAP:
        task_done_block(ex, id, ex.p.fn_size[fn], ex.p.fn_bytes[fn], ex.p.fn_runtime[fn])
        return
    value = hdr(t.root).acc
    if t.t_ref:
        record_latency(ex, t)
    frame_release(ex, t.root)
    task_finish(ex, id, t, value)


# ---------------------------------------------------------------- steps shared by both modes

cdef int begin_children(Ex *ex, char **at, int64_t s) noexcept nogil:
    """Construct every child of a call/join/select step; return how many.
    A child pushed on a growing stack may move the frame: ``*at`` follows."""
    cdef char *frame = at[0]
    cdef Hdr *h = hdr(frame)
    cdef int64_t first = ex.p.step_edge_start[s]
    cdef int64_t count = ex.p.step_edge_count[s]
    cdef int64_t e
    cdef uint32_t rdepth
    cdef char *slot
    cdef char *child
    cdef int built = 0
    for e in range(first, first + count):
        slot = frame + ex.p.edge_offset[e]
        if not edge_taken(ex, e, h.rdepth):
            if ex.p.edge_boxed[e]:
                (<char **>slot)[0] = NULL
            else:
                hdr(slot).pc = PC_DONE
            continue
        rdepth = h.rdepth + 1 if ex.p.edge_back[e] else h.rdepth
        child = construct(ex, <uint32_t>ex.p.edge_callee[e], h.arg * <uint64_t>count + <uint64_t>(e - first),
                          rdepth, NULL if ex.p.edge_boxed[e] else slot, <int>ex.p.edge_place[e], at)
        if at[0] != frame:            # the stack grew and moved
            frame = at[0]
            h = hdr(frame)
            slot = frame + ex.p.edge_offset[e]
        if child == NULL:
            # Leave the slot empty so a later drop does not follow garbage.
            if ex.p.edge_boxed[e]:
                (<char **>slot)[0] = NULL
            else:
                hdr(slot).pc = PC_DONE
            continue
        if ex.p.edge_boxed[e]:
            (<char **>slot)[0] = child
        if ex.p.bottom_up:
            (<BHdr *>child).parent = frame
            (<BHdr *>child).slot = <uint32_t>(e - first)
            (<BHdr *>child).task = (<BHdr *>frame).task
        built += 1
    h.flags |= F_ACTIVE
    h.pending = built
    if built:
        await_begins(ex, frame)
    return built


cdef void drop_siblings(Ex *ex, char *frame, int64_t s) noexcept nogil:
    """Cancel every child of step ``s`` still alive (a select's losers)."""
    cdef int64_t first = ex.p.step_edge_start[s]
    cdef int64_t e
    cdef char *child
    for e in range(first, first + ex.p.step_edge_count[s]):
        child = child_at(ex, frame, e)
        if child != NULL:
            drop(ex, child)
            release_child(ex, frame, e, child)


cdef void run_generator(Ex *ex, char *frame, int64_t s) noexcept nogil:
    """``for item in f`` over n items: the generator is entered n + 1 times."""
    cdef Hdr *h = hdr(frame)
    cdef int64_t e = ex.p.step_edge_start[s]
    cdef int64_t items = ex.p.step_arg[s]
    cdef int64_t j, k, g_first, g_count
    cdef char *slot
    cdef char *gen
    cdef Hdr *g
    if not edge_taken(ex, e, h.rdepth):
        return
    slot = frame + ex.p.edge_offset[e]
    gen = construct(ex, <uint32_t>ex.p.edge_callee[e], h.arg,
                    h.rdepth + 1 if ex.p.edge_back[e] else h.rdepth,
                    NULL if ex.p.edge_boxed[e] else slot, <int>ex.p.edge_place[e], &frame)
    if gen == NULL:
        return
    g = hdr(gen)
    g_first = ex.p.fn_step_start[g.fn]
    g_count = ex.p.fn_step_count[g.fn]
    for j in range(items + 1):
        ex.c.polls += 1
        if j == 0:
            start(ex, gen)
        if j == items:
            break
        for k in range(g_first, g_first + g_count):
            work(ex, gen, ex.p.step_arg[k])
        fold(h, g.acc + g.arg)
    release_cell(ex, gen)
    g.pc = PC_DONE
    if ex.p.edge_boxed[e]:
        frame_free(ex, gen)


cdef int begin_spawn(Ex *ex, uint32_t task, char **at, int64_t s) noexcept nogil:
    """Spawn the step's tasks; return 1 if the frame must now wait for them
    (under .NET's storage it is boxed first: ``*at`` follows)."""
    cdef char *frame = at[0]
    cdef Hdr *h = hdr(frame)
    cdef int64_t e = ex.p.step_edge_start[s]
    cdef int64_t count = ex.p.step_arg[s]
    cdef int waits = ex.p.step_wait[s] != 0
    cdef uint64_t *handles = NULL
    cdef HandleVec *vec
    cdef int64_t i
    cdef char *area = frame + ex.p.fn_child_offset[h.fn]
    if not edge_taken(ex, e, h.rdepth):
        return 0
    if waits and ex.p.storage >= S_BOX_ON_SUSPEND:
        suspending(ex, at)
        frame = at[0]
        h = hdr(frame)
        area = frame + ex.p.fn_child_offset[h.fn]
    if waits:
        if count > 1:
            vec = <HandleVec *>area
            vec.ptr = <uint64_t *>mem_alloc(ex, 8 * count)
            if vec.ptr == NULL:
                return 0
            vec.cap = count
            vec.len = count
            handles = vec.ptr
        else:
            handles = <uint64_t *>area
        h.flags |= F_ACTIVE
        h.pending = <uint32_t>count
        await_begins(ex, frame)
    for i in range(count):
        spawn_task(ex, <uint32_t>ex.p.edge_callee[e], h.arg * <uint64_t>count + <uint64_t>i,
                   h.rdepth + 1 if ex.p.edge_back[e] else h.rdepth,
                   &handles[i] if waits else NULL, frame if waits else NULL, task)
        if ex.error:
            break             # the run stops (memory limit): the rest are never spawned
    return waits


cdef void end_spawn(Ex *ex, char *frame, int64_t s) noexcept nogil:
    """Every awaited task is done: fold the handles' values."""
    cdef Hdr *h = hdr(frame)
    cdef int64_t count = ex.p.step_arg[s]
    cdef int64_t i
    cdef char *area = frame + ex.p.fn_child_offset[h.fn]
    cdef HandleVec *vec
    cdef uint64_t *handles
    if count > 1:
        vec = <HandleVec *>area
        handles = vec.ptr
    else:
        handles = <uint64_t *>area
    for i in range(count):
        fold(h, handles[i])
    if count > 1:
        mem_free(ex, <char *>handles, 8 * count)
    h.flags &= ~F_ACTIVE


# ---------------------------------------------------------------- top-down polling

cdef int poll(Ex *ex, uint32_t task, char *frame) noexcept nogil:
    """Poll a future: 1 when it has returned (value in acc), 0 when pending."""
    cdef Hdr *h = hdr(frame)
    cdef int64_t base = ex.p.fn_step_start[h.fn]
    cdef int64_t steps = ex.p.fn_step_count[h.fn]
    cdef int64_t s, op, e, first, count
    cdef char *child
    cdef IoLeaf *leaf
    cdef int finished
    ex.c.polls += 1
    if not (h.flags & F_STARTED):
        start(ex, frame)
    while h.pc < steps:
        if ex.error:
            return 0
        s = base + h.pc
        op = ex.p.step_op[s]
        if op == OP_WORK:
            work(ex, frame, ex.p.step_arg[s])
        elif op == OP_CALL or op == OP_JOIN or op == OP_SELECT:
            if not (h.flags & F_ACTIVE):
                begin_children(ex, &frame, s)     # top-down storage is the heap: it stays
            first = ex.p.step_edge_start[s]
            count = ex.p.step_edge_count[s]
            finished = 0
            for e in range(first, first + count):
                child = child_at(ex, frame, e)
                if child == NULL or not poll(ex, task, child):
                    continue
                fold(h, hdr(child).acc)
                release_child(ex, frame, e, child)
                h.pending -= 1
                if op == OP_SELECT:
                    drop_siblings(ex, frame, s)
                    finished = 1
                    break
            if not finished and h.pending:
                return 0
            h.flags &= ~F_ACTIVE
        elif op == OP_IO:
            leaf = <IoLeaf *>(frame + ex.p.fn_child_offset[h.fn])
            if not (h.flags & F_ACTIVE):
                leaf.waiter = sleep(ex, task, frame, ex.p.step_arg[s])
                h.flags |= F_ACTIVE
                await_begins(ex, frame)
                return 0
            if ex.waiters[leaf.waiter].state != W_FIRED:
                return 0
            waiter_release(ex, leaf.waiter)
            h.flags &= ~F_ACTIVE
        elif op == OP_YIELD:
            if not (h.flags & F_ACTIVE):
                h.flags |= F_ACTIVE
                await_begins(ex, frame)
                wake_task(ex, task)
                return 0
            h.flags &= ~F_ACTIVE
        elif op == OP_SPAWN:
            if not (h.flags & F_ACTIVE):
                if begin_spawn(ex, task, &frame, s):
                    return 0
            elif h.pending:
                return 0
            else:
                end_spawn(ex, frame, s)
        elif op == OP_GEN:
            run_generator(ex, frame, s)
        h.pc += 1
    finish(ex, frame)
    return 1


# ---------------------------------------------------------------- bottom-up resumption

cdef char *resume(Ex *ex, char *frame) noexcept nogil:
    """Resume a coroutine until it suspends or finishes.

    Returns the next coroutine to resume (symmetric transfer: a child to
    start, or the parent a finished child resumes) or NULL to return to the
    executor. ``run_coroutine`` trampolines on it, so call depth does not grow
    the C stack.
    """
    if ex.p.storage == S_CHUNKS and is_chunk((<BHdr *>frame).stack):
        frame = thaw(ex, frame)          # frozen: back onto the carrier first
        if frame == NULL:
            return NULL
    cdef Hdr *h = hdr(frame)
    cdef uint32_t task = (<BHdr *>frame).task
    cdef int64_t base = ex.p.fn_step_start[h.fn]
    cdef int64_t steps = ex.p.fn_step_count[h.fn]
    cdef int64_t s, op, e, first, count
    cdef char *child
    cdef IoLeaf *leaf
    ex.c.polls += 1
    if not (h.flags & F_STARTED):
        start(ex, frame)
    while h.pc < steps:
        if ex.error:
            return NULL
        s = base + h.pc
        op = ex.p.step_op[s]
        if op == OP_WORK:
            work(ex, frame, ex.p.step_arg[s])
        elif op == OP_CALL:
            if not (h.flags & F_ACTIVE):
                if begin_children(ex, &frame, s):
                    return child_at(ex, frame, ex.p.step_edge_start[s])
                h = hdr(frame)      # the stack may have moved it
            # resumed by the finished child, which folded its value
            h.flags &= ~F_ACTIVE
        elif op == OP_JOIN or op == OP_SELECT:
            if not (h.flags & F_ACTIVE):
                begin_children(ex, &frame, s)
                h.flags |= F_LAUNCHING
                first = ex.p.step_edge_start[s]
                count = ex.p.step_edge_count[s]
                for e in range(first, first + count):
                    if h.flags & F_WON:
                        break
                    child = child_at(ex, frame, e)
                    if child != NULL:
                        run_coroutine(ex, child)
                h.flags &= ~F_LAUNCHING
                if h.flags & F_WON:
                    drop_siblings(ex, frame, s)
                elif h.pending:
                    if ex.p.storage >= S_BOX_ON_SUSPEND:
                        suspending(ex, &frame)
                    return NULL
            h.flags &= ~(F_ACTIVE | F_WON)
        elif op == OP_IO:
            if not (h.flags & F_ACTIVE):
                if ex.p.storage >= S_BOX_ON_SUSPEND:
                    suspending(ex, &frame)
                    h = hdr(frame)
                leaf = <IoLeaf *>(frame + ex.p.fn_child_offset[h.fn])
                leaf.waiter = sleep(ex, task, frame, ex.p.step_arg[s])
                h.flags |= F_ACTIVE
                await_begins(ex, frame)
                return NULL
            h.flags &= ~F_ACTIVE
        elif op == OP_YIELD:
            if not (h.flags & F_ACTIVE):
                if ex.p.storage >= S_BOX_ON_SUSPEND:
                    suspending(ex, &frame)
                    h = hdr(frame)
                leaf = <IoLeaf *>(frame + ex.p.fn_child_offset[h.fn])
                leaf.waiter = waiter_new(ex, task, frame, W_QUEUED)
                enqueue(ex, task, frame, leaf.waiter)
                h.flags |= F_ACTIVE
                await_begins(ex, frame)
                return NULL
            h.flags &= ~F_ACTIVE
        elif op == OP_SPAWN:
            if not (h.flags & F_ACTIVE):
                if begin_spawn(ex, task, &frame, s):
                    return NULL
            else:
                end_spawn(ex, frame, s)
        elif op == OP_GEN:
            run_generator(ex, frame, s)
        h.pc += 1
    finish(ex, frame)
    return child_finished(ex, frame)


cdef char *child_finished(Ex *ex, char *frame) noexcept nogil:
    """final_suspend: hand the value to the parent and say whom to resume."""
    cdef BHdr *b = <BHdr *>frame
    cdef char *parent = b.parent
    cdef Hdr *p
    cdef int64_t s, op, edge
    if parent == NULL:
        task_done(ex, b.task)
        return NULL
    p = hdr(parent)
    s = ex.p.fn_step_start[p.fn] + p.pc
    op = ex.p.step_op[s]
    edge = ex.p.step_edge_start[s] + b.slot
    fold(p, b.h.acc)
    release_child(ex, parent, edge, frame)
    p.pending -= 1
    if op == OP_CALL:
        return parent
    if op == OP_SELECT:
        p.flags |= F_WON
        if p.flags & F_LAUNCHING:
            return NULL        # the launcher drops the losers
        drop_siblings(ex, parent, s)
        return parent
    # join: the last child to finish after the parent suspended resumes it
    if p.pending == 0 and not (p.flags & F_LAUNCHING):
        return parent
    return NULL


cdef void run_coroutine(Ex *ex, char *frame) noexcept nogil:
    while frame != NULL:
        frame = resume(ex, frame)


# ---------------------------------------------------------------- the loop

# Two ways to poll a frame: a generated engine (runtime.h, bench/codegen.py)
# when the run has one, else the interpreter above. Everything else is shared.

cdef inline void resume_frame(Ex *ex, char *frame) noexcept nogil:
    if ex.eng != NULL:
        ex.eng.run(ex, frame)
    else:
        run_coroutine(ex, frame)


cdef inline void drop_root(Ex *ex, char *root) noexcept nogil:
    if ex.eng != NULL:
        ex.eng.drop(ex, root)
    else:
        drop(ex, root)


cdef inline QItem dequeue(Ex *ex) noexcept nogil:
    cdef QItem item = ex.q[ex.q_head]
    ex.q_head += 1
    if ex.q_head == ex.q_cap:
        ex.q_head = 0
    ex.q_len -= 1
    return item


ctypedef int (*PollFn)(Ex *ex, uint32_t task, char *root) noexcept nogil


cdef void run_queue(Ex *ex) noexcept nogil:
    """Run what is queued until nothing is or the run stops: one loop per
    mode, the engine's poll looked up once, not asked per item."""
    cdef QItem item
    cdef Task *t
    cdef PollFn poll_root = ex.eng.poll if ex.eng != NULL else poll
    if ex.p.bottom_up:
        while ex.q_len and not ex.error:
            item = dequeue(ex)
            if item.waiter != NO_WAITER:
                if ex.waiters[item.waiter].state == W_CANCELLED:
                    waiter_release(ex, item.waiter)
                    continue
                waiter_release(ex, item.waiter)
            resume_frame(ex, item.frame)
        return
    while ex.q_len and not ex.error:
        item = dequeue(ex)
        t = &ex.tasks[item.task]
        t.queued = 0
        if t.root == NULL:  # it finished while queued (tasks.h, pb__task_finish)
            release_finished(ex, item.task, t)
            continue
        if poll_root(ex, item.task, t.root):
            task_done(ex, item.task)


cdef void fire_timers(Ex *ex) noexcept nogil:
    """Move every waiter due at this tick to the run queue."""
    cdef Bucket *b = &ex.wheel[ex.c.ticks % ex.wheel_size]
    cdef uint32_t i, id
    cdef Waiter *w
    for i in range(b.len):
        id = b.ids[i]
        w = &ex.waiters[id]
        ex.timers_pending -= 1
        if w.state == W_CANCELLED:
            waiter_release(ex, id)
        elif ex.p.bottom_up:
            w.state = W_QUEUED
            enqueue(ex, w.task, w.frame, id)
        else:
            w.state = W_FIRED
            wake_task(ex, w.task)
    b.len = 0


cdef void abort_all(Ex *ex) noexcept nogil:
    """After an error: drop every live task so the run still ends with zero live blocks."""
    cdef uint32_t i
    for i in range(ex.task_top):
        ex.tasks[i].handle = NULL
    for i in range(ex.task_top):
        if ex.tasks[i].root != NULL:
            drop_root(ex, ex.tasks[i].root)
            frame_free(ex, ex.tasks[i].root)
            ex.tasks[i].root = NULL
    ex.live_tasks = 0


cdef void admit_arrivals(Ex *ex, uint32_t entry, bint wait) noexcept nogil:
    """Open loop: spawn every request whose scheduled arrival has passed.

    A request's latency is measured from its *scheduled* arrival, not from
    when a busy executor got round to it, so queueing delay cannot hide
    (no coordinated omission). With ``wait`` and nothing else to do, sleep
    (then spin, for precision) until the next arrival.
    """
    cdef uint64_t now = now_ns()
    cdef uint64_t due, i
    cdef uint32_t id
    cdef timespec nap
    if wait and ex.open.next < ex.open.count:
        due = ex.open.start_ns + ex.open.arrival_ns[ex.open.next]
        if due > now + 200000:
            nap.tv_sec = (due - now - 100000) // 1000000000
            nap.tv_nsec = (due - now - 100000) % 1000000000
            nanosleep(&nap, NULL)
        spin_until(due)
        now = now_ns()
    while ex.open.next < ex.open.count:
        due = ex.open.start_ns + ex.open.arrival_ns[ex.open.next]
        if due > now:
            break
        i = ex.open.next
        ex.open.next += 1
        id = spawn_entries(ex, entry, i, 1)
        if id == NO_WAITER:
            return
        if ex.tasks[id].t_ref:
            ex.tasks[id].t_ref = due
            ex.tasks[id].t_late = now - due


cdef void execute(Ex *ex, uint32_t entry, uint64_t tasks) noexcept nogil:
    cdef uint64_t cap
    cdef bint open_loop = ex.open.arrival_ns != NULL
    if open_loop:
        ex.open.start_ns = now_ns()
        ex.open.count = tasks
        admit_arrivals(ex, entry, 0)
    else:
        # Every entry task is spawned (and queued) now: size the task table
        # and the run queue for them at once, to the capacity their growth
        # would reach (one realloc instead of one per doubling; none when
        # the tables kept from an earlier run are big enough).
        cap = ex.tasks_cap
        if tasks > cap and grow(ex, <void **>&ex.tasks, &cap, sizeof(Task), tasks):
            abort_all(ex)
            return
        ex.tasks_cap = <uint32_t>cap
        if tasks > ex.q_cap and grow(ex, <void **>&ex.q, &ex.q_cap, sizeof(QItem), tasks):
            abort_all(ex)
            return
        spawn_entries(ex, entry, 0, tasks)
    while (ex.live_tasks or (open_loop and ex.open.next < ex.open.count)) and not ex.error:
        run_queue(ex)
        if ex.c.polls - ex.fp.polls_checked >= CHECK_POLLS:
            check_memory(ex, ex.a.reserved(ex.a.state) + ex.fp.book)
        if open_loop:
            admit_arrivals(ex, entry, ex.q_len == 0 and ex.live_tasks == 0)
            if ex.q_len:
                continue        # new requests run before time moves on
        if ex.error or not ex.live_tasks:
            continue
        if ex.q_len == 0 and ex.timers_pending == 0:
            ex.error = E_DEADLOCK
            break
        ex.c.ticks += 1
        fire_timers(ex)
    if ex.error:
        abort_all(ex)


# ---------------------------------------------------------------- Python API

cdef extern from *:
    const char *CYTHON_ABI          # e.g. "3_3_1": the Cython that generated this module
    const char *__VERSION__         # the C compiler that built it

# How this core was built (for results metadata), not what happens to be installed now.
BUILT_WITH = {
    "cython": CYTHON_ABI.decode().replace("_", "."),
    "compiler": __VERSION__.decode(),
    "callgrind": bool(PB_CALLGRIND),
}
ALLOCATORS = {"system": PB_ALLOC_SYSTEM, "pool": PB_ALLOC_POOL, "bump": PB_ALLOC_BUMP}
OP_CODES = {"work": OP_WORK, "call": OP_CALL, "join": OP_JOIN, "select": OP_SELECT,
            "io": OP_IO, "yield_now": OP_YIELD, "spawn": OP_SPAWN, "gen": OP_GEN}
HEADER_BYTES = {"top_down": sizeof(Hdr), "bottom_up": sizeof(BHdr)}

ERRORS = {
    E_MEMORY_LIMIT: "memory limit",
    E_OUT_OF_MEMORY: "out of memory",
    E_DEADLOCK: "deadlock",
    E_STACK_OVERFLOW: "stack overflow",
}


class ExecutorError(RuntimeError):
    """The run stopped early (memory limit, out of memory, deadlock).

    ``counters`` holds what was counted until then; every block was still freed.
    """

    def __init__(self, kind, counters):
        super().__init__(kind)
        self.kind = kind
        self.counters = counters


# The task table, io waiters and run queue a run leaves are kept for the
# next run in this process (the native programs keep their executor's
# tables across the rounds of a case the same way, bench/validate/rust.py
# and cpp.py): a benchmark's later rounds start with the capacity its
# first round grew, warm, and pay neither the growth nor the page faults.
# A run takes them (under the GIL: one run owns them at a time) and gives
# them back; they count in its bookkeeping, as memory the process holds.
# Tables past KEEP_AT_MOST bytes are freed instead.
cdef struct Kept:
    Task *tasks
    uint32_t tasks_cap
    Waiter *waiters
    uint32_t waiters_cap
    QItem *q
    uint64_t q_cap

cdef Kept kept
DEF KEEP_AT_MOST = 64 << 20


cdef uint64_t kept_bytes(Task *tasks, uint64_t tasks_cap, Waiter *waiters, uint64_t waiters_cap,
                         QItem *q, uint64_t q_cap) noexcept nogil:
    return tasks_cap * sizeof(Task) + waiters_cap * sizeof(Waiter) + q_cap * sizeof(QItem)


cdef void take_kept(Ex *ex) noexcept:
    ex.tasks, ex.tasks_cap = kept.tasks, kept.tasks_cap
    ex.waiters, ex.waiters_cap = kept.waiters, kept.waiters_cap
    ex.q, ex.q_cap = kept.q, kept.q_cap
    memset(&kept, 0, sizeof(Kept))


cdef void give_back(Ex *ex) noexcept:
    """Keep the run's tables for the next run (its entries are all free
    again: task_top and waiter_top restart at 0), or free them."""
    free_kept()
    if kept_bytes(ex.tasks, ex.tasks_cap, ex.waiters, ex.waiters_cap, ex.q, ex.q_cap) > KEEP_AT_MOST:
        free(ex.tasks)
        free(ex.waiters)
        free(ex.q)
        return
    kept.tasks, kept.tasks_cap = ex.tasks, ex.tasks_cap
    kept.waiters, kept.waiters_cap = ex.waiters, ex.waiters_cap
    kept.q, kept.q_cap = ex.q, ex.q_cap


cdef void free_kept() noexcept:
    free(kept.tasks)
    free(kept.waiters)
    free(kept.q)
    memset(&kept, 0, sizeof(Kept))


cdef int next_round(Ex *ex, const Ex *first, int allocator, uint64_t held_at_start) noexcept nogil:
    """Start another round of the run where the last one ended, from the
    state ``first`` started from (every counter at zero, a fresh allocator,
    an empty wheel), as a new run would, but without leaving C: the tables
    (whose bytes count as a new run's kept ones would), the staging buffer,
    the wheel and the thread's stack stay allocated. So between two rounds
    the C library's heap sees only the allocator's own state come and go,
    as between a native program's rounds; a new run from Python makes the
    interpreter allocate (the counters' dict alone consolidates glibc's
    fast bins: docs/timing.md, "One heap between rounds"). -1 (and the
    error set) when the new allocator cannot be set up."""
    cdef pb_allocator fresh
    cdef uint32_t i
    if pb_allocator_init(&fresh, allocator):
        ex.error = E_OUT_OF_MEMORY
        return -1
    ex.a.destroy(ex.a.state)
    for i in range(ex.wheel_size):
        free(ex.wheel[i].ids)
    memset(ex.wheel, 0, ex.wheel_size * sizeof(Bucket))
    cdef Task *tasks = ex.tasks
    cdef Waiter *waiters = ex.waiters
    cdef QItem *q = ex.q
    cdef uint32_t tasks_cap = ex.tasks_cap, waiters_cap = ex.waiters_cap
    cdef uint64_t q_cap = ex.q_cap
    ex[0] = first[0]
    ex.a = fresh
    ex.tasks, ex.tasks_cap, ex.waiters, ex.waiters_cap, ex.q, ex.q_cap = tasks, tasks_cap, waiters, waiters_cap, q, q_cap
    ex.fp.book = first.fp.book - held_at_start + kept_bytes(tasks, tasks_cap, waiters, waiters_cap, q, q_cap)
    ex.fp.peak_book = ex.fp.book
    limits_moved(ex)
    if ex.thread != NULL:
        memset(ex.thread, 0, sizeof(Stack))
        ex.thread.cap = ex.p.stack_bytes
    return 0


def drop_kept_tables():
    """Free the tables kept from the last run (tests that count the
    bookkeeping of a first run)."""
    free_kept()


cdef const int64_t *column(object owner, str name, list keep) except NULL:
    table = getattr(owner, name)
    if not (isinstance(table, array) and table.typecode == "q"):
        import numpy as np

        table = np.ascontiguousarray(table, dtype=np.int64)
    if len(table) == 0:
        table = array("q", [0])   # a valid pointer for empty tables
    keep.append(table)
    cdef const int64_t[::1] view = table
    return &view[0]


cdef dict footprint_counters(Ex *ex, uint64_t peak_rss):
    """What the run really held: the executor's bookkeeping and the
    allocator's footprint at their peaks, and the process's peak resident
    size during the run (VmHWM restarted at the start where the kernel
    allows it, else the highest size sampled)."""
    return {
        "bookkeeping_peak_bytes": ex.fp.peak_book,
        "allocator_peak_bytes": ex.fp.peak_alloc,
        "rss_start_bytes": ex.fp.rss_start,
        "peak_rss_bytes": max(peak_rss, ex.fp.peak_rss) if peak_rss else ex.fp.peak_rss,
    }


def run(program, layout, str allocator="system", uint64_t memory_limit=1 << 62, *,
        uint64_t latency_stride=0, uint64_t latency_capacity=0, arrivals_ns=None,
        uint64_t stall_after_tasks=0, uint64_t stall_ns=0, bint count_instructions=False,
        engine=None, uint64_t rounds=1):
    """Run ``program`` (model.program.CompiledProgram) under ``layout``
    (strategies.Layout) with the named allocator; return the counters.
    Their tables may be numpy's arrays or ``array('q')`` buffers (what
    bench/worker.py passes).

    ``latency_stride`` k > 0 records the latency of every k-th task (two
    clock reads each), up to ``latency_capacity`` samples, returned as
    ``latency_ns`` (and ``late_ns``, how late each started after its
    scheduled arrival), each an ``array('Q')``. ``arrivals_ns`` (sorted,
    one per entry task) makes the run open-loop: entry task i is spawned
    ``arrivals_ns[i]`` after the start and its latency counts from then.
    ``stall_after_tasks`` and ``stall_ns`` make the executor spin once, to
    test that a stall shows.
    ``count_instructions`` brackets the loop with callgrind client requests
    (one dump per run, of its last round; see bench/instructions.py).

    ``rounds`` runs the program that many times back to back without
    leaving C (next_round): the counters returned are the last round's
    (every round counts the same), ``elapsed_ns`` is the rounds' total and
    ``round_ns`` (an ``array('Q')``) each round's. Latency, arrivals and
    stalls take one round.

    ``engine`` (bench.engine.Engine, compiled for this very program and
    layout) polls the frames with generated code instead of the
    interpreter; the counts are the same either way.

    Raises ExecutorError when the run stops early (e.g. the live bytes
    passed ``memory_limit``); every block is freed either way.
    """
    if allocator not in ALLOCATORS:
        raise ValueError(f"unknown allocator {allocator!r}")
    if rounds < 1 or (rounds > 1 and (latency_stride or arrivals_ns is not None or stall_after_tasks)):
        raise ValueError("rounds must be at least 1, and 1 with latency, arrivals or a stall")
    cdef list keep = []
    cdef Ex ex
    memset(&ex, 0, sizeof(Ex))
    ex.p.fn_locals = column(program, "fn_locals", keep)
    ex.p.fn_step_start = column(program, "fn_step_start", keep)
    ex.p.fn_step_count = column(program, "fn_step_count", keep)
    ex.p.step_op = column(program, "step_op", keep)
    ex.p.step_arg = column(program, "step_arg", keep)
    ex.p.step_wait = column(program, "step_wait", keep)
    ex.p.step_edge_start = column(program, "step_edge_start", keep)
    ex.p.step_edge_count = column(program, "step_edge_count", keep)
    ex.p.edge_callee = column(program, "edge_callee", keep)
    ex.p.edge_back = column(program, "edge_back", keep)
    ex.p.edge_limit = column(program, "edge_limit", keep)
    ex.p.fn_size = column(layout, "fn_size", keep)
    ex.p.fn_bytes = column(layout, "fn_bytes", keep)
    ex.p.fn_locals_offset = column(layout, "fn_locals_offset", keep)
    ex.p.fn_cell_size = column(layout, "fn_cell_size", keep)
    ex.p.fn_stack_locals = column(layout, "fn_stack_locals", keep)
    ex.p.fn_child_offset = column(layout, "fn_child_offset", keep)
    ex.p.edge_boxed = column(layout, "edge_boxed", keep)
    ex.p.edge_offset = column(layout, "edge_offset", keep)
    ex.p.bottom_up = 1 if layout.bottom_up else 0
    ex.p.moves = MOVED if layout.moves else 0
    for place in layout.copied_moves:
        ex.p.moves |= COPIES_INTO << place
    ex.p.edge_place = column(layout, "edge_place", keep)
    ex.p.storage = layout.storage
    ex.p.stack_grows = 1 if layout.stack_grows else 0
    ex.p.stack_bytes = layout.stack_bytes
    ex.p.stack_guard = layout.stack_guard
    ex.p.stack_base = layout.stack_base
    ex.p.stack_top = layout.stack_top
    ex.p.stack_scale = layout.stack_scale
    ex.p.fn_stack_check = column(layout, "fn_stack_check", keep)
    ex.p.fn_stack_need = column(layout, "fn_stack_need", keep)
    ex.p.stack_extra = layout.stack_extra
    ex.p.slab_header = layout.slab_header
    ex.p.alloc_header = layout.alloc_header
    ex.p.alloc_align = layout.alloc_align
    ex.p.pool = layout.pool
    ex.p.thaw_all_below = layout.thaw_all_below
    ex.p.fn_runtime = column(layout, "fn_runtime", keep)
    ex.p.runtime_inside = 1 if layout.runtime_inside else 0
    ex.p.chunk_object = layout.chunk_object
    ex.p.chunk_bitmap = layout.chunk_bitmap
    if ex.p.storage == S_SLABS and (ex.p.slab_header != sizeof(Slab) or ex.p.alloc_header < sizeof(Slab *)
                                    or ex.p.alloc_align < 8):
        raise ValueError("slab storage needs a 32-byte slab header, room for a pointer per allocation "
                         "and 8-byte alignment (the executor keeps its own in them)")
    if layout.header_bytes != (sizeof(BHdr) if layout.bottom_up else sizeof(Hdr)):
        raise ValueError("layout header size does not match the executor's frame header")
    ex.memory_limit = memory_limit
    cdef Services services
    services.sleep = sleep
    services.waiter_new = waiter_new
    services.waiter_release = waiter_release
    services.waiter_cancel = waiter_cancel
    services.enqueue = enqueue
    services.wake_task = wake_task
    services.spawn_task = spawn_task
    services.task_done = task_done
    services.frame_new = frame_new
    services.frame_release = frame_release
    services.suspending = suspending
    services.thaw = thaw
    services.over_limit = over_limit
    services.refused = refused
    services.grow = grow
    ex.svc = &services
    cdef const Engine *eng = NULL
    if engine is not None:
        eng = <const Engine *><size_t>engine.address
        if eng.abi != RUNTIME_ABI or eng.ex_size != RUNTIME_EX_SIZE:
            raise ValueError("the compiled engine was built against another runtime.h; rebuild it")
        if (eng.n_fns != len(program.fn_names) or eng.bottom_up != <uint32_t>ex.p.bottom_up
                or eng.moves != <uint32_t>ex.p.moves or eng.storage != <uint32_t>ex.p.storage
                or any(eng.fn_size[i] != ex.p.fn_size[i] or eng.fn_bytes[i] != ex.p.fn_bytes[i]
                       or eng.fn_cell[i] != ex.p.fn_cell_size[i]
                       or eng.fn_steps[i] != ex.p.fn_step_count[i] for i in range(eng.n_fns))):
            raise ValueError("the compiled engine was built for another program or strategy")
        ex.eng = eng
    cdef const uint64_t[::1] arrivals
    if arrivals_ns is not None:
        import numpy as np

        arrivals_array = np.ascontiguousarray(arrivals_ns, dtype=np.uint64)
        if arrivals_array.shape[0] != program.tasks:
            raise ValueError("arrivals_ns needs one arrival per entry task")
        if arrivals_array.shape[0] > 1 and np.any(np.diff(arrivals_array.astype(np.int64)) < 0):
            raise ValueError("arrivals_ns must be sorted")
        keep.append(arrivals_array)
        if arrivals_array.shape[0]:
            arrivals = arrivals_array
            ex.open.arrival_ns = &arrivals[0]
    ex.open.stall_after_tasks = stall_after_tasks
    ex.open.stall_ns = stall_ns
    cdef uint64_t[::1] latency_view
    cdef uint64_t[::1] late_view
    latency = array("Q", bytes(8 * (latency_capacity if latency_stride else 0)))
    late = array("Q", bytes(8 * len(latency)))
    if latency_stride and latency_capacity:
        latency_view = latency
        late_view = late
        ex.lat.stride = latency_stride
        ex.lat.countdown = 1      # the first task is sampled
        ex.lat.ns = &latency_view[0]
        ex.lat.late_ns = &late_view[0]
        ex.lat.cap = latency_capacity
    ex.task_free = NO_WAITER
    ex.waiter_free = NO_WAITER
    ex.wheel_size = <uint32_t>(int(program.max_io) + 1)
    cdef uint32_t entry = program.entry
    cdef uint64_t tasks = program.tasks
    cdef uint64_t start_ns, end_ns
    cdef uint32_t i
    cdef int64_t max_frame = 0
    cdef int64_t max_stack_locals = 0
    for i in range(len(layout.fn_size)):
        max_frame = max(max_frame, ex.p.fn_size[i])
        max_stack_locals = max(max_stack_locals, ex.p.fn_stack_locals[i])
    # The memory limit counts what the process holds: its resident size now
    # (freed memory of earlier runs given back first), the allocator's
    # footprint and the executor's bookkeeping, from the first byte.
    ex.fp.rss_start = resident_bytes()
    if ex.fp.rss_start > memory_limit // 4:
        malloc_trim()             # only then: a trim makes the next run's first touches slower
        ex.fp.rss_start = resident_bytes()
    cdef bint hwm = reset_peak_rss() == 0
    ex.fp.peak_rss = ex.fp.rss_start
    ex.fp.step = CHECK_BYTES     # fixed: where the reads fall depends on the program only
    # size >= ask_from <=> size >= step or size > memory_limit (block_counted)
    ex.fp.ask_from = ex.fp.step if memory_limit >= ex.fp.step else memory_limit + 1
    ex.fp.sample_rss = not count_instructions
    ex.fp.next_check = ex.fp.step
    ex.fp.book = (max_frame + 64) + max_stack_locals + ex.wheel_size * sizeof(Bucket) + 8 * (len(latency) + len(late))
    cdef uint64_t n_fns = len(program.fn_names)
    if ex.p.storage >= S_BOX_ON_SUSPEND:   # the thread's stack, and the pools' tables
        ex.fp.book += (sizeof(Stack) + ex.p.stack_bytes + (ex.p.stack_bytes // 64 + 1) * sizeof(uint64_t)
                       + n_fns * (ex.p.pool * sizeof(char *) + sizeof(uint32_t)))
    take_kept(&ex)
    cdef uint64_t held_over = kept_bytes(ex.tasks, ex.tasks_cap, ex.waiters, ex.waiters_cap, ex.q, ex.q_cap)
    if ex.fp.rss_start + ex.fp.book + held_over > memory_limit:
        free(ex.tasks)            # kept tables never make a run refused: this one starts without them
        free(ex.waiters)
        free(ex.q)
        ex.tasks, ex.tasks_cap, ex.waiters, ex.waiters_cap, ex.q, ex.q_cap = NULL, 0, NULL, 0, NULL, 0
        held_over = 0
    ex.fp.book += held_over
    ex.fp.peak_book = ex.fp.book
    limits_moved(&ex)
    if ex.fp.rss_start + ex.fp.book > memory_limit:
        raise ExecutorError("memory limit", {"allocs": 0, "frees": 0, "live_bytes_end": 0, "live_blocks_end": 0,
                                             **footprint_counters(&ex, 0), "memory_over": "counted",
                                             "refused_at_start": True})
    ex.staging = <char *>calloc(max_frame + 64, 1)
    ex.scratch = <char *>malloc(max_stack_locals + 8)  # + 8: never malloc(0), which may give NULL
    ex.wheel = <Bucket *>calloc(ex.wheel_size, sizeof(Bucket))
    if ex.p.storage >= S_BOX_ON_SUSPEND:
        ex.thread = <Stack *>malloc(sizeof(Stack) + ex.p.stack_bytes)
        ex.pool = <char **>calloc(n_fns * ex.p.pool + 1, sizeof(char *))
        ex.pool_len = <uint32_t *>calloc(n_fns + 1, sizeof(uint32_t))
        ex.pool_fns = <uint32_t>n_fns
        if ex.pool_len != NULL:
            for i in range(n_fns):
                if program.fn_generator[i]:
                    ex.pool_len[i] = NOT_POOLED
        ex.thread_at = <uint64_t *>malloc((ex.p.stack_bytes // 64 + 1) * sizeof(uint64_t))
        if ex.thread != NULL:
            memset(ex.thread, 0, sizeof(Stack))
            ex.thread.cap = ex.p.stack_bytes
    if (ex.staging == NULL or ex.scratch == NULL or ex.wheel == NULL or pb_allocator_init(&ex.a, ALLOCATORS[allocator])
            or (ex.p.storage >= S_BOX_ON_SUSPEND and (ex.thread == NULL or ex.pool == NULL or ex.pool_len == NULL
                                                      or ex.thread_at == NULL))):
        free(ex.staging)
        free(ex.scratch)
        free(ex.wheel)
        free(ex.thread)
        free(ex.pool)
        free(ex.pool_len)
        free(ex.thread_at)
        give_back(&ex)
        raise MemoryError("cannot set up the executor")
    cdef Ex first = ex
    cdef int allocator_kind = ALLOCATORS[allocator]
    round_ns = array("Q", bytes(8 * rounds))
    cdef uint64_t[::1] round_view = round_ns
    cdef uint64_t r
    cdef bint counted
    with nogil:
        for r in range(rounds):
            if r and next_round(&ex, &first, allocator_kind, held_over):
                break
            counted = count_instructions and r == rounds - 1
            if counted:
                pb_count_begin()
            start_ns = now_ns()
            execute(&ex, entry, tasks)
            end_ns = now_ns()
            if counted:
                pb_count_end()
            round_view[r] = end_ns - start_ns
            pools_drain(&ex)
            if ex.error:
                break
    peak_rss = read_peak_rss() if hwm else 0
    reserved = ex.a.reserved(ex.a.state)
    ex.a.destroy(ex.a.state)
    for i in range(ex.wheel_size):
        free(ex.wheel[i].ids)
    free(ex.wheel)
    free(ex.staging)
    free(ex.scratch)
    free(ex.thread)
    free(ex.pool)
    free(ex.pool_len)
    free(ex.thread_at)
    give_back(&ex)
    counters = {
        "allocs": ex.c.allocs,
        "frees": ex.c.frees,
        "bytes_allocated": ex.c.bytes_allocated,
        "peak_live_bytes": ex.c.peak_live_bytes,
        "peak_live_blocks": ex.c.peak_live_blocks,
        "peak_live_tasks": ex.c.peak_live_tasks,
        "live_bytes_end": ex.c.live_bytes,
        "live_blocks_end": ex.c.live_blocks,
        "moved_bytes": ex.c.moved_bytes,
        "refcount_ops": ex.c.refcount_ops,
        "polls": ex.c.polls,
        "tasks": ex.c.tasks,
        "checksum": ex.c.checksum,
        "ticks": ex.c.ticks,
        "copied_bytes": ex.c.copied_bytes,
        "peak_reserved_bytes": ex.c.peak_reserved_bytes,
        "stack_growths": ex.c.stack_growths,
        "runtime_bytes": ex.c.runtime_bytes,
        "runtime_live_end": ex.c.runtime_live,
        "peak_held_bytes": ex.c.peak_held_bytes,
        "peak_held_tasks": ex.c.peak_held_tasks,
        "elapsed_ns": sum(round_ns),
        "round_ns": round_ns,
        "allocator_reserved_end": reserved,
        "latency_ns": latency[:ex.lat.len],
        "late_ns": late[:ex.lat.len],
        "latency_dropped": ex.lat.dropped,
        **footprint_counters(&ex, peak_rss),
    }
    if ex.error == E_MEMORY_LIMIT:
        counters["memory_over"] = "resident" if ex.fp.over == OVER_RESIDENT else "counted"
    if ex.error == E_STACK_OVERFLOW:
        counters["stack_needed"] = ex.overflow_need
        counters["stack_fn"] = program.fn_names[ex.overflow_task]
    if ex.error:
        raise ExecutorError(ERRORS[ex.error], counters)
    return counters
