/*
 * tasks.h -- spawning and finishing a task and the bookkeeping they
 * count, included by runtime.h after pb_ex.
 *
 * One copy of each rule, inlined where it runs: by the executor
 * (_executor.pyx declares these under its own names in runtime.pxd) and
 * by a generated engine, which spawns a task whose root is a block of its
 * own (PB_HEAP storage) with pb_spawn_block and the root's sizes as
 * constants, instead of calling pb_services.spawn_task: spawn_many under
 * pinbox went from 646 to 584 instructions per task, this and the
 * allocators' dispatch by tag together (docs/validation.md, "The
 * executor's per-task work in instructions"). It finishes such a task
 * the same way (pb_task_done_block), and its entry tasks are spawned by
 * it too (runtime.h, pb_engine.spawn_entries): 577 since. The rare paths
 * (a refused block, the memory limit's check, a table's growth) go back
 * to the executor through pb_services.
 */
#ifndef PINBENCH_TASKS_H
#define PINBENCH_TASKS_H

/* The layout's facts these functions branch on, read from the run's pb_prog
 * by the executor. A generated engine knows them when it is generated and
 * defines them as constants before it includes runtime.h, so its inlined
 * copies have no such branch. */
#ifndef PB_LAYOUT_BOTTOM_UP
#define PB_LAYOUT_BOTTOM_UP(ex) ((ex)->p.bottom_up)
#endif
#ifndef PB_LAYOUT_MOVES
#define PB_LAYOUT_MOVES(ex) ((ex)->p.moves)
#endif
#ifndef PB_LAYOUT_RUNTIME_INSIDE
#define PB_LAYOUT_RUNTIME_INSIDE(ex) ((ex)->p.runtime_inside)
#endif

#include <time.h>

static inline uint64_t pb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void pb_spin_until(uint64_t deadline)
{
    while (pb_now_ns() < deadline) {
    }
}

/* A future moved into place: a real copy of n bytes (never overlapping).
 * From 16 to 64 bytes inline, as memcpy itself does it (16-byte blocks
 * from both ends, overlapping in the middle), without the call. */
typedef struct { uint64_t w[2]; } pb__b16;
static inline void pb_move(char *d, const char *s, size_t n)
{
    pb__b16 a, b, c, e;
    if (n < 16 || n > 64) {
        memcpy(d, s, n);
        return;
    }
    memcpy(&a, s, 16);
    memcpy(&b, s + n - 16, 16);
    if (n > 32) {
        memcpy(&c, s + 16, 16);
        memcpy(&e, s + n - 32, 16);
        memcpy(d + 16, &c, 16);
        memcpy(d + n - 32, &e, 16);
    }
    memcpy(d, &a, 16);
    memcpy(d + n - 16, &b, 16);
}

/* Frames in use grew by counted bytes: a new peak records the tasks live now. */
static inline void pb_live_grows(pb_ex *ex, uint64_t counted)
{
    ex->c.live_bytes += counted;
    if (ex->c.live_bytes > ex->c.peak_live_bytes) {
        ex->c.peak_live_bytes = ex->c.live_bytes;
        ex->c.peak_live_tasks = ex->live_tasks;
    }
}

/* What the strategy holds (its blocks, used or not, and the runtime's task
 * objects beside them) grew: a new peak records the tasks live now. */
static inline void pb_held_grew(pb_ex *ex)
{
    uint64_t held = ex->c.reserved_bytes + ex->c.runtime_live;
    if (held > ex->c.peak_held_bytes) {
        ex->c.peak_held_bytes = held;
        ex->c.peak_held_tasks = ex->live_tasks;
    }
}

/* The bytes a block of size bytes, counted as counted, takes from the
 * allocator: the larger. Where a native compiler's frame is larger than the
 * executor's (fanout's anchor_box root: rustc's 288 bytes, the executor's
 * 104), the allocator must see the native size: glibc then places,
 * coalesces and consolidates as it does under the native program (under
 * callgrind, fanout locals=0 anchor_box: 6,452 of glibc's instructions per
 * task with the executor's sizes, 8,694 with the native ones, rustc's
 * program about 8,900; docs/validation.md). */
static inline uint64_t pb_block_bytes(uint64_t size, uint64_t counted)
{
    return size > counted ? size : counted;
}

/* A block of size bytes, counted as a block of counted bytes the strategy
 * holds, without the held bytes' peak (its caller looks once everything
 * the new block comes with is counted). NULL (and the error set) when the
 * memory limit refuses it or the system has no memory. */
PB_HOT char *pb_block_counted(pb_ex *ex, uint64_t size, uint64_t counted)
{
    size_t footprint;
    char *ptr;
    uint64_t bytes = pb_block_bytes(size, counted);
    if (bytes >= ex->fp.ask_from && ex->svc->refused(ex, bytes))
        return NULL;
    ptr = (char *)pb_alloc_reserved(&ex->a, bytes, &footprint);
    if (ptr == NULL) {
        ex->error = PB_E_OUT_OF_MEMORY;
        return NULL;
    }
    if (footprint > ex->fp.peak_alloc) {  /* a new peak: check what is counted (one compare) */
        ex->fp.peak_alloc = footprint;
        if (footprint > ex->fp.alloc_check)
            ex->svc->over_limit(ex, 0);
    }
    ex->c.allocs += 1;
    ex->c.bytes_allocated += counted;
    ex->c.live_blocks += 1;
    if (ex->c.live_blocks > ex->c.peak_live_blocks)
        ex->c.peak_live_blocks = ex->c.live_blocks;
    ex->c.reserved_bytes += counted;
    if (ex->c.reserved_bytes > ex->c.peak_reserved_bytes)
        ex->c.peak_reserved_bytes = ex->c.reserved_bytes;
    return ptr;
}

/* The runtime created its own object of n bytes for a task, a thread, a
 * box or a chunk (strategies/<name>.py cites each), counted as created and
 * held, unless it sits inside the strategy's blocks (a control block at the
 * top of a fixed stack), which are held already. 1 when the held bytes
 * grew: their peak is the caller's to look at. */
static inline int pb_runtime_created(pb_ex *ex, uint64_t n)
{
    ex->c.runtime_bytes += n;
    if (PB_LAYOUT_RUNTIME_INSIDE(ex))
        return 0;
    ex->c.runtime_live += n;
    return 1;
}

/* The runtime's object of n bytes that pb_runtime_created counted is gone. */
static inline void pb_runtime_dropped(pb_ex *ex, uint64_t n)
{
    if (!PB_LAYOUT_RUNTIME_INSIDE(ex))
        ex->c.runtime_live -= n;
}

/* A block of size bytes, counted as a block of counted bytes the strategy
 * holds (reserved), whatever of it is in use; the held bytes' peak looked at. */
static inline char *pb_block_alloc(pb_ex *ex, uint64_t size, uint64_t counted)
{
    char *ptr = pb_block_counted(ex, size, counted);
    if (ptr != NULL)
        pb_held_grew(ex);
    return ptr;
}

/* Counted first, freed last: free's call is then the last thing its
 * inlined callers do, with nothing live across it to save and restore. */
static inline void pb_block_free(pb_ex *ex, char *ptr, uint64_t size, uint64_t counted)
{
    ex->c.frees += 1;
    ex->c.live_blocks -= 1;
    ex->c.reserved_bytes -= counted;
    pb_free(&ex->a, ptr, pb_block_bytes(size, counted));
}

/* A block all in use: a frame of size bytes counted as its native counted
 * bytes (a boxed child, a task's root), or a cell or a vector (size bytes
 * counted as themselves). A generated engine calls these directly, not
 * through pb_services: a boxed child's free is inline, its allocation at
 * most a call to the engine's own copy of pb_block_alloc (gcc's choice;
 * forced inline, chain locals=0 under anchor_box counted the same). */
static inline char *pb_mem_alloc_as(pb_ex *ex, uint64_t size, uint64_t counted)
{
    char *ptr = pb_block_alloc(ex, size, counted);
    if (ptr != NULL)
        pb_live_grows(ex, counted);
    return ptr;
}

static inline char *pb_mem_alloc(pb_ex *ex, uint64_t size)
{
    return pb_mem_alloc_as(ex, size, size);
}

static inline void pb_mem_free_as(pb_ex *ex, char *ptr, uint64_t size, uint64_t counted)
{
    ex->c.live_bytes -= counted;
    pb_block_free(ex, ptr, size, counted);
}

static inline void pb_mem_free(pb_ex *ex, char *ptr, uint64_t size)
{
    pb_mem_free_as(ex, ptr, size, size);
}

/* Write a new future's header at dest, which is at place; size and counted
 * are fn's frame (the executor's bytes and the native ones). A move into a
 * place where the native program copies the future (the layout's
 * copied_moves) builds it in the staging buffer and copies it into dest;
 * any other is written where it lives, as rustc does. */
static inline char *pb_build(pb_ex *ex, uint32_t fn, uint64_t size, uint64_t counted, uint64_t arg,
                             uint32_t rdepth, char *dest, pb_stack *st, int place)
{
    int copies = (PB_LAYOUT_MOVES(ex) & (PB_COPIES_INTO << place)) != 0;
    char *built = copies ? ex->staging : dest;
    pb_hdr *h = (pb_hdr *)built;
    h->fn = fn;
    h->pc = 0;
    h->iter = 0;
    h->pending = 0;
    h->rdepth = rdepth;
    h->flags = 0;
    h->arg = arg;
    h->acc = 0;
    if (PB_LAYOUT_BOTTOM_UP(ex)) {
        ((pb_bhdr *)built)->parent = NULL;
        ((pb_bhdr *)built)->slot = 0;
        ((pb_bhdr *)built)->task = 0;
        ((pb_bhdr *)built)->stack = st;
    }
    if (copies)
        pb_move(dest, built, size);
    if (PB_LAYOUT_MOVES(ex) & PB_MOVED)
        ex->c.moved_bytes += counted;
    return dest;
}

/* A free entry of the task or waiter table, into *id: the last released
 * one (the free list runs through each entry's next_free, at byte link),
 * else the next never used, the table grown if it is full (it is not
 * walked to link its fresh entries: a table kept from an earlier run starts
 * with every entry unused). 0 (and the error set) when it cannot grow: a
 * flag, not an id kept aside, so the caller's check folds away where the
 * entry was found. */
static inline int pb_table_take(pb_ex *ex, void **table, size_t item, size_t link, uint32_t *free_list,
                                uint32_t *top, uint32_t *cap, uint32_t *id)
{
    uint64_t grown;
    *id = *free_list;
    if (*id != PB_NO_WAITER) {
        *free_list = *(uint32_t *)((char *)*table + (size_t)*id * item + link);
        return 1;
    }
    if (*top == *cap) {
        grown = *cap;
        if (ex->svc->grow(ex, table, &grown, item, grown + 1))
            return 0;
        *cap = (uint32_t)grown;
    }
    *id = *top;
    *top += 1;
    return 1;
}

/* A task for root: its entry in the task table, queued (top-down: its
 * spawner queues it next; bottom-up never reads the flag), sampled for
 * latency every lat.stride-th task. PB_NO_WAITER when the table cannot grow. */
static inline uint32_t pb_task_new(pb_ex *ex, char *root, uint64_t *handle, char *waiter_frame,
                                   uint32_t waiter_task)
{
    uint32_t id;
    pb_task *t;
    if (!pb_table_take(ex, (void **)&ex->tasks, sizeof(pb_task), offsetof(pb_task, next_free),
                       &ex->task_free, &ex->task_top, &ex->tasks_cap, &id))
        return PB_NO_WAITER;
    t = &ex->tasks[id];
    t->root = root;
    t->handle = handle;
    t->waiter_frame = waiter_frame;
    t->waiter_task = waiter_task;
    t->queued = 1;
    t->t_ref = 0;
    t->t_late = 0;
    if (ex->lat.stride) {
        ex->lat.countdown -= 1;
        if (ex->lat.countdown == 0) {
            ex->lat.countdown = ex->lat.stride;
            t->t_ref = pb_now_ns();
        }
    }
    ex->c.tasks += 1;
    if (PB_LAYOUT_BOTTOM_UP(ex))
        ((pb_bhdr *)root)->task = id;
    return id;
}

/* The run queue is full: grow it and unwrap the ring. -1 (and the error
 * set) when it cannot grow. Out of line: its call is rare, and inlined it
 * would make every enqueue's caller keep its values across a call. */
PB_COLD int pb__queue_grow(pb_ex *ex)
{
    uint64_t old_cap = ex->q_cap, i, wrapped;
    if (ex->svc->grow(ex, (void **)&ex->q, &ex->q_cap, sizeof(pb_qitem), ex->q_len + 1))
        return -1;
    /* unwrap the ring: move the wrapped prefix behind the old end */
    wrapped = ex->q_head + ex->q_len > old_cap ? ex->q_head + ex->q_len - old_cap : 0;
    for (i = 0; i < wrapped; i++)
        ex->q[old_cap + i] = ex->q[i];
    return 0;
}

/* Append to the run queue; may_grow 0: the caller knows it has room. */
static inline int pb__enqueue(pb_ex *ex, uint32_t task, char *frame, uint32_t waiter, int may_grow)
{
    uint64_t at;
    pb_qitem *item;
    if (may_grow && PB_UNLIKELY(ex->q_len == ex->q_cap) && pb__queue_grow(ex))
        return -1;
    at = ex->q_head + ex->q_len;  /* < 2 * q_cap: one compare wraps it */
    if (at >= ex->q_cap)
        at -= ex->q_cap;
    item = &ex->q[at];
    item->task = task;
    item->frame = frame;
    item->waiter = waiter;
    ex->q_len += 1;
    return 0;
}

/* Append to the run queue (a ring, grown and unwrapped when full). -1 (and
 * the error set) when it cannot grow. */
static inline int pb_enqueue(pb_ex *ex, uint32_t task, char *frame, uint32_t waiter)
{
    return pb__enqueue(ex, task, frame, waiter, 1);
}

/* Spawn a task of fn whose root is a block of its own (PB_HEAP storage):
 * size and counted are fn's frame, runtime the runtime's task object
 * around it (tokio's task cell: strategies/<name>.py). The block and the
 * task object are counted before the strategy's held bytes are looked at
 * once (their peak and its task count are the same). Queued at once. The
 * task's id, or PB_NO_WAITER (and the error set). */
PB_HOT uint32_t pb_spawn_block(pb_ex *ex, uint32_t fn, uint64_t size, uint64_t counted, uint64_t runtime,
                                      uint64_t arg, uint32_t rdepth, uint64_t *handle, char *waiter_frame,
                                      uint32_t waiter_task)
{
    char *root;
    uint32_t id;
    ex->live_tasks += 1;  /* the task is live from its root's allocation (the peak's task count) */
    root = pb_block_counted(ex, size, counted);
    if (root == NULL) {
        ex->live_tasks -= 1;
        return PB_NO_WAITER;
    }
    pb_live_grows(ex, counted);
    pb_build(ex, fn, size, counted, arg, rdepth, root, NULL, PB_OWN);
    id = pb_task_new(ex, root, handle, waiter_frame, waiter_task);
    if (id == PB_NO_WAITER) {
        pb_held_grew(ex);
        pb_mem_free_as(ex, root, size, counted);
        ex->live_tasks -= 1;
        return PB_NO_WAITER;
    }
    pb_runtime_created(ex, runtime);
    pb_held_grew(ex);
    /* queued already (pb_task_new): no wake, which would read the flag again */
    pb_enqueue(ex, id, PB_LAYOUT_BOTTOM_UP(ex) ? root : NULL, PB_NO_WAITER);
    return id;
}

/* Top-down: queue the task once, however many times it is woken. */
static inline void pb__wake_task(pb_ex *ex, uint32_t task, int may_grow)
{
    if (!ex->tasks[task].queued) {
        ex->tasks[task].queued = 1;
        pb__enqueue(ex, task, NULL, PB_NO_WAITER, may_grow);
    }
}

static inline void pb_wake_task(pb_ex *ex, uint32_t task)
{
    pb__wake_task(ex, task, 1);
}

/* A sampled task finished: its latency from its reference (its spawn, or
 * its scheduled arrival in an open loop). */
static inline void pb_record_latency(pb_ex *ex, const pb_task *t)
{
    if (ex->lat.len == ex->lat.cap) {
        ex->lat.dropped += 1;
        return;
    }
    ex->lat.ns[ex->lat.len] = pb_now_ns() - t->t_ref;
    ex->lat.late_ns[ex->lat.len] = t->t_late;
    ex->lat.len += 1;
}

/* A finished task's entry goes back on the free list: as it finishes, or,
 * if it finished while queued (pb__task_finish), when the run queue
 * reaches it. */
static inline void pb_release_finished(pb_ex *ex, uint32_t id, pb_task *t)
{
    t->next_free = ex->task_free;
    ex->task_free = id;
}

/* Task id's root returned value and its storage is released: the value
 * delivered (to the awaiting frame's handle, or into the checksum), the
 * awaiter woken when this was the last task it waited for, the entry free.
 * rare 0: the caller knows no rare case arises (below), so this calls
 * nothing. */
static inline void pb__task_finish(pb_ex *ex, uint32_t id, pb_task *t, uint64_t value, int rare)
{
    pb_hdr *awaiting;
    t->root = NULL;
    if (t->handle != NULL) {
        *t->handle = value;
        awaiting = (pb_hdr *)t->waiter_frame;
        awaiting->pending -= 1;
        if (awaiting->pending == 0) {
            if (PB_LAYOUT_BOTTOM_UP(ex))
                pb__enqueue(ex, t->waiter_task, t->waiter_frame, PB_NO_WAITER, rare);
            else
                pb__wake_task(ex, t->waiter_task, rare);
        }
    } else {
        ex->c.checksum += value;
    }
    /* Top-down, a task can finish while it is still queued: a select's
     * losing arm had queued it (yield_now) before the winner finished in
     * the same poll. Its entry stays taken (root NULL) until the run queue
     * reaches it (pb_release_finished); freed now, a new task could take
     * the id and be polled at the old entry's turn. */
    if (PB_LAYOUT_BOTTOM_UP(ex) || !t->queued)
        pb_release_finished(ex, id, t);
    ex->live_tasks -= 1;
    if (rare && ex->open.stall_ns && ex->c.tasks - ex->live_tasks == ex->open.stall_after_tasks)
        pb_spin_until(pb_now_ns() + ex->open.stall_ns);  /* tests: the loop stalls once */
}

static inline void pb_task_finish(pb_ex *ex, uint32_t id, pb_task *t, uint64_t value)
{
    pb__task_finish(ex, id, t, value, 1);
}

/* Task id's root, a block of its own (PB_HEAP storage) whose function's
 * frame is size bytes (counted as counted) inside the runtime's task object
 * of runtime bytes, returned: the task finished, then the block freed (last:
 * nothing is live across free's call). */
PB_HOT void pb__task_done_block(pb_ex *ex, uint32_t id, uint64_t size, uint64_t counted, uint64_t runtime,
                                int rare)
{
    pb_task *t = &ex->tasks[id];
    char *root = t->root;
    if (rare && t->t_ref)
        pb_record_latency(ex, t);
    pb_runtime_dropped(ex, runtime);
    pb__task_finish(ex, id, t, ((pb_hdr *)root)->acc, rare);
    pb_mem_free_as(ex, root, size, counted);
}

/* Out of line: the cases that call something before the free (a latency
 * sample, the tests' stall, a run queue that may have to grow). */
PB_COLD void pb__task_done_block_rare(pb_ex *ex, uint32_t id, uint64_t size, uint64_t counted, uint64_t runtime)
{
    pb__task_done_block(ex, id, size, counted, runtime, 1);
}

/* What the executor calls with the sizes it reads and a generated engine
 * inlines with them as constants, as it does the spawn. Where no rare case
 * can arise (no sample, no stall, room in the run queue for the one task a
 * finish may wake) the inlined copy calls nothing but free, last, so the
 * engine's poll that inlines it saves and restores no registers
 * (spawn_many: 12 instructions per task). */
PB_HOT void pb_task_done_block(pb_ex *ex, uint32_t id, uint64_t size, uint64_t counted, uint64_t runtime)
{
    if (PB_UNLIKELY(ex->tasks[id].t_ref != 0 || ex->open.stall_ns != 0 || ex->q_len == ex->q_cap))
        pb__task_done_block_rare(ex, id, size, counted, runtime);
    else
        pb__task_done_block(ex, id, size, counted, runtime, 0);
}

#endif /* PINBENCH_TASKS_H */
