/*
 * runtime.h -- what the executor (_executor.pyx) and the generated engines
 * (bench/codegen.py) share: the frame header, the executor's state and two
 * tables of function pointers, in the style of allocators.h; and, in
 * tasks.h (included at the end), the per-task bookkeeping both inline.
 *
 *   pb_services  the executor's bookkeeping (the timer wheel, waiters,
 *                the run queue, tasks, the storages' frames), filled in by
 *                the executor for each run; the generated code calls it, and
 *                touches that bookkeeping itself only through tasks.h
 *                (a counted block's allocation and free, spawning a task
 *                into a block of its own), the same inline functions the
 *                executor runs.
 *   pb_engine    one compiled (program, layout): poll a task's root
 *                (top-down), resume a coroutine until it suspends
 *                (bottom-up), drop a root. The executor calls it instead of
 *                its interpreter when a run is given one.
 *
 * Frames are the same bytes under both engines (docs/model.md, "Frames"),
 * so every count is the same; only how a frame's steps are found differs:
 * the interpreter reads them from the program's arrays, a generated engine
 * has them folded into its code. PB_RUNTIME_ABI changes whenever anything
 * here changes; a generated engine records the ABI and sizeof(pb_ex) it was
 * built against and the executor refuses a mismatch.
 */
#ifndef PINBENCH_RUNTIME_H
#define PINBENCH_RUNTIME_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "allocators.h"

#define PB_RUNTIME_ABI 10u

/* Step codes: must match model/program.py (tests/test_executor.py checks). */
enum {
    PB_OP_WORK = 0,
    PB_OP_CALL = 1,
    PB_OP_JOIN = 2,
    PB_OP_SELECT = 3,
    PB_OP_IO = 4,
    PB_OP_YIELD = 5,
    PB_OP_SPAWN = 6,
    PB_OP_GEN = 7
};

/* Header flags. */
enum {
    PB_F_STARTED = 1,   /* the invocation has been entered (locals/cell set up) */
    PB_F_ACTIVE = 2,    /* the current step has begun (children built, leaf registered) */
    PB_F_FOLDED = 4,    /* a child value was folded into acc */
    PB_F_LAUNCHING = 8, /* bottom-up join/select is still starting its children */
    PB_F_WON = 16       /* bottom-up select has a winner */
};

/* Waiter states. */
enum {
    PB_W_FREE = 0,
    PB_W_PENDING = 1,   /* in the timer wheel */
    PB_W_QUEUED = 2,    /* bottom-up: in the run queue, to resume its frame */
    PB_W_FIRED = 3,     /* top-down: due; the leaf sees it on its next poll */
    PB_W_CANCELLED = 4  /* its leaf was dropped; whoever holds it frees it */
};

/* Errors. */
enum { PB_E_OK = 0, PB_E_MEMORY_LIMIT = 1, PB_E_OUT_OF_MEMORY = 2, PB_E_DEADLOCK = 3, PB_E_STACK_OVERFLOW = 4 };

/* Where a frame lives (layout.edge_place; docs/model.md, "Storage"). */
enum { PB_INLINE = 0, PB_BOX = 1, PB_STACK = 2, PB_OWN = 3 };
/* pb_params.moves and pb_engine.moves (layout: moves, copied_moves): PB_MOVED,
 * futures are built by value and moved into place (moved_bytes counts each
 * move); PB_COPIES_INTO << place, a move into that place (PB_INLINE, PB_BOX,
 * or PB_OWN: a task's root) copies the future's bytes, as the native program
 * does there. Elsewhere the future is written where it lives: rustc -O copies
 * into none of them (docs/validation.md, "Which copies the native programs make"). */
enum { PB_MOVED = 1, PB_COPIES_INTO = 2 };
/* How a strategy stores its non-inline frames (layout.storage). */
enum { PB_HEAP = 0, PB_STACKS = 1, PB_SLABS = 2, PB_BOX_ON_SUSPEND = 3, PB_CHUNKS = 4 };
/* PB_CHUNKS (Java's virtual threads): frames run on the carrier thread's
 * stack; a suspending virtual thread's frames are frozen (copied) into its
 * heap stack chunk, and thawed (copied back) when it runs again: the whole
 * chunk under prog.thaw_all_below bytes, else its top frame, the rest as
 * calls return into them. */

#define PB_PC_DONE 0xFFFFFFFFu      /* finished, dropped or never-built frame */
#define PB_NO_WAITER 0xFFFFFFFFu
/* A pool length meaning "never pooled": a generator's frame is an iterator
 * object, which no builder pools. */
#define PB_NOT_POOLED 0xFFFFFFFFu
#define PB_FNV_PRIME 0x100000001b3ull
#define PB_CELL_HEADER 24           /* Rc strong, weak, RefCell flag */

typedef struct pb_hdr {       /* 40 bytes: the top-down future's header */
    uint32_t fn;
    uint32_t pc;
    uint32_t iter;
    uint32_t pending;
    uint32_t rdepth;
    uint32_t flags;
    uint64_t arg;
    uint64_t acc;
} pb_hdr;

typedef struct pb_stack pb_stack;

typedef struct pb_bhdr {      /* 64 bytes: a C++ coroutine frame's header */
    pb_hdr h;
    char *parent;
    uint32_t slot;
    uint32_t task;
    pb_stack *stack;          /* the stack or slabs it lives on; NULL: a box or inline */
} pb_bhdr;

/* A slab of a task's allocator (PB_SLABS): this header, then its usable
 * bytes; allocations are bumped in it with stack discipline. */
typedef struct pb_slab pb_slab;
struct pb_slab {              /* 32 bytes */
    pb_slab *next;
    pb_slab *prev;
    uint64_t cap;             /* usable bytes */
    uint64_t used;
};

/* A stack (PB_STACKS: this descriptor heads the block, the frames follow
 * it, contiguous) or a task's slabs (PB_SLABS: it heads the task's own
 * allocation, the root frame follows it). Frames on it point here. */
struct pb_stack {
    char *first;              /* the frame at its base: a task's root or a concurrent child */
    uint64_t cap;             /* PB_STACKS, PB_CHUNKS: bytes frames may use (as the runtime counts them) */
    uint64_t used;            /* PB_STACKS, PB_CHUNKS: bytes of the executor's frames on it (where the next goes) */
    uint64_t depth;           /* PB_STACKS, PB_CHUNKS: bytes of it in use as the runtime counts them (its
                               * base or entry and park frames, fn_bytes per frame): what fills cap */
    uint64_t counted;         /* bytes counted for the block it heads */
    pb_slab *slabs;           /* PB_SLABS: the first slab (NULL: none yet) */
    pb_slab *slab;            /* PB_SLABS: the slab allocations are bumped in (NULL: none) */
    /* PB_CHUNKS: a virtual thread's continuation (counted 0; its frames on the
     * carrier point here) or one of its chunks (its frozen frames point here) */
    pb_stack *vthread;        /* a chunk: whose; a continuation: itself */
    pb_stack *chunk;          /* a continuation: its newest chunk; a chunk: the older one below it */
    uint64_t top;             /* a chunk: bytes of park frames frozen above its top frame (0: none) */
    uint64_t runtime;         /* the runtime's own object bytes that came with it (held while it lives) */
};

typedef struct pb_io_leaf {   /* 16 bytes */
    uint32_t waiter;
    uint32_t state;
    uint64_t deadline;
} pb_io_leaf;

typedef struct pb_handle_vec { /* 24 bytes: Vec<JoinHandle<u64>> */
    uint64_t *ptr;
    uint64_t cap;
    uint64_t len;
} pb_handle_vec;

typedef struct pb_prog {      /* the program and layout arrays the interpreter reads */
    const int64_t *fn_locals;
    const int64_t *fn_step_start;
    const int64_t *fn_step_count;
    const int64_t *step_op;
    const int64_t *step_arg;
    const int64_t *step_wait;
    const int64_t *step_edge_start;
    const int64_t *step_edge_count;
    const int64_t *edge_callee;
    const int64_t *edge_back;
    const int64_t *edge_limit;
    const int64_t *fn_size;           /* the executor's frame (its header, every slot) */
    const int64_t *fn_bytes;          /* what the native frame costs: counted and moved */
    const int64_t *fn_locals_offset;
    const int64_t *fn_cell_size;
    const int64_t *fn_stack_locals;   /* locals on the poll's stack (the interpreter: scratch), 0: none */
    const int64_t *fn_child_offset;
    const int64_t *edge_boxed;
    const int64_t *edge_offset;
    const int64_t *edge_place;        /* PB_INLINE, PB_BOX, PB_STACK or PB_OWN */
    int bottom_up;
    int moves;                /* PB_MOVED | PB_COPIES_INTO << place, per place that copies */
    /* frame storage (layout: storage and its sizes) */
    int storage;              /* PB_HEAP, PB_STACKS or PB_SLABS */
    int stack_grows;          /* PB_STACKS: a full stack is replaced by one twice the size, copied */
    uint64_t stack_bytes;     /* PB_STACKS: a new stack's size; PB_SLABS: a slab's usable bytes */
    uint64_t stack_guard;     /* PB_STACKS: bytes at the end frames may not use */
    uint64_t stack_base;      /* PB_STACKS: bytes in use below a new stack's first frame (counted in depth);
                               * PB_CHUNKS: the continuation's entry frames below a thread's first frame */
    uint64_t stack_top;       /* PB_CHUNKS: the park frames frozen above a parking thread's frames */
    uint64_t stack_scale;     /* PB_STACKS, PB_CHUNKS: a block holds cap * this for the executor's frames */
    const int64_t *fn_stack_check; /* PB_STACKS: a push of fn grows (or overflows) the stack when
                                    * depth + this + stack_guard > cap */
    const int64_t *fn_stack_need;  /* PB_STACKS: ... to twice the size, doubled while depth + this +
                                    * stack_guard > it */
    uint64_t stack_extra;     /* counted beyond the size: a guard page; a chunk's metadata */
    uint64_t slab_header;     /* PB_SLABS: counted per slab before its usable bytes */
    uint64_t alloc_header;    /* PB_SLABS: counted per allocation in a slab */
    uint64_t alloc_align;     /* PB_SLABS: an allocation's size is rounded up to this */
    uint64_t pool;            /* PB_BOX_ON_SUSPEND: finished boxes kept per function for reuse */
    uint64_t thaw_all_below;  /* PB_CHUNKS: a chunk holding fewer bytes is thawed whole */
    /* the runtime's own task objects (strategies/<name>.py cites each) */
    const int64_t *fn_runtime;  /* bytes beside a frame of fn that starts a task, thread or box */
    int runtime_inside;         /* 1: they sit inside the strategy's blocks (held already) */
    uint64_t chunk_object;      /* PB_CHUNKS: a chunk object's header and fields */
    uint64_t chunk_bitmap;      /* PB_CHUNKS: 8 bytes of GC bitmap per this many chunk bytes (0: none) */
} pb_prog;

typedef struct pb_counters {
    uint64_t allocs;
    uint64_t frees;
    uint64_t bytes_allocated;
    uint64_t live_bytes;
    uint64_t live_blocks;
    uint64_t peak_live_bytes;
    uint64_t peak_live_blocks;
    uint64_t peak_live_tasks;         /* tasks live when the live bytes peaked */
    uint64_t moved_bytes;
    uint64_t refcount_ops;
    uint64_t polls;
    uint64_t tasks;
    uint64_t checksum;
    uint64_t ticks;
    uint64_t copied_bytes;            /* frames copied: a stack's growth, a suspension, a resumption */
    uint64_t reserved_bytes;          /* bytes of the blocks the strategy holds (stacks, slabs, boxes) */
    uint64_t peak_reserved_bytes;
    uint64_t stack_growths;
    uint64_t runtime_bytes;           /* the runtime's task objects created (fn_runtime, chunk objects) */
    uint64_t runtime_live;            /* ... of them live now */
    uint64_t peak_held_bytes;         /* the peak of reserved bytes plus live runtime objects outside them */
    uint64_t peak_held_tasks;         /* tasks live when the held bytes peaked */
} pb_counters;

typedef struct pb_task {
    char *root;
    uint64_t t_ref;           /* latency reference (spawn or scheduled arrival), 0: not sampled */
    uint64_t t_late;          /* open loop: how late it started after its scheduled arrival */
    uint64_t *handle;         /* where the value goes; NULL: into the checksum */
    char *waiter_frame;       /* the frame awaiting this task (its pending count) */
    uint32_t waiter_task;
    uint32_t queued;          /* top-down: already in the run queue */
    uint32_t next_free;
} pb_task;

typedef struct pb_waiter {
    char *frame;
    uint32_t task;
    uint32_t state;
    uint32_t next_free;
} pb_waiter;

typedef struct pb_qitem {
    char *frame;              /* bottom-up: the frame to resume */
    uint32_t task;
    uint32_t waiter;          /* bottom-up: PB_NO_WAITER, or the waiter to check and free */
} pb_qitem;

typedef struct pb_bucket {
    uint32_t *ids;
    uint32_t len;
    uint32_t cap;
} pb_bucket;

typedef struct pb_latency {
    uint64_t stride;          /* sample every stride-th task; 0: off */
    uint64_t countdown;       /* tasks until the next sample (no division per task) */
    uint64_t *ns;             /* reference -> completion, per sample */
    uint64_t *late_ns;        /* scheduled arrival -> actual start (open loop), per sample */
    uint64_t cap;
    uint64_t len;
    uint64_t dropped;         /* samples beyond cap */
} pb_latency;

typedef struct pb_open_loop {
    const uint64_t *arrival_ns; /* entry task i arrives this long after the start (sorted) */
    uint64_t count;
    uint64_t next;
    uint64_t start_ns;
    uint64_t stall_after_tasks; /* tests: spin stall_ns once after this many tasks finished */
    uint64_t stall_ns;
} pb_open_loop;

typedef struct pb_ex pb_ex;

typedef struct pb_services {
    uint32_t (*sleep)(pb_ex *ex, uint32_t task, char *frame, int64_t ticks);  /* an io waiter due in ticks */
    uint32_t (*waiter_new)(pb_ex *ex, uint32_t task, char *frame, uint32_t state);
    void (*waiter_release)(pb_ex *ex, uint32_t id);
    void (*waiter_cancel)(pb_ex *ex, uint32_t id);         /* its leaf is dropped */
    int (*enqueue)(pb_ex *ex, uint32_t task, char *frame, uint32_t waiter);
    void (*wake_task)(pb_ex *ex, uint32_t task);            /* top-down: queue the task once */
    uint32_t (*spawn_task)(pb_ex *ex, uint32_t fn, uint64_t arg, uint32_t rdepth, uint64_t *handle,
                           char *waiter_frame, uint32_t waiter_task);
    void (*task_done)(pb_ex *ex, uint32_t task);             /* the root returned (value in acc) */
    /* Frames of a layout whose storage is not PB_HEAP: a frame of fn at
     * place (PB_BOX, PB_STACK: on *near's stack, which may move *near, or
     * PB_OWN: a stack of its own); its pb_bhdr.stack is set, the rest is the
     * caller's to build. NULL (and ex->error) on failure. */
    char *(*frame_new)(pb_ex *ex, uint32_t fn, int place, char **near);
    void (*frame_release)(pb_ex *ex, char *frame);           /* a finished or dropped frame's storage */
    /* PB_BOX_ON_SUSPEND: *frame is about to suspend: it (and every caller
     * awaiting it in a plain call) moves from the thread's stack into a box.
     * PB_CHUNKS: its virtual thread's frames on the carrier are frozen into
     * its chunk. *frame follows. */
    void (*suspending)(pb_ex *ex, char **frame);
    char *(*thaw)(pb_ex *ex, char *frame);                   /* PB_CHUNKS: a frozen frame is resumed */
    /* The rare paths of tasks.h's bookkeeping: would more bytes pass the
     * memory limit (1, and the error set)? may a block of size bytes be
     * tried at all (0) or is it refused (1, the error set)? grow a table
     * to hold need items (0; -1 and the error set when it cannot). */
    int (*over_limit)(pb_ex *ex, uint64_t more);
    int (*refused)(pb_ex *ex, uint64_t size);
    int (*grow)(pb_ex *ex, void **array, uint64_t *cap, size_t item, uint64_t need);
} pb_services;

typedef struct pb_engine {
    uint32_t abi;             /* PB_RUNTIME_ABI it was built against */
    uint32_t ex_size;         /* sizeof(pb_ex) it was built against */
    uint32_t n_fns;           /* functions of the program it was generated for */
    uint32_t bottom_up;
    uint32_t moves;
    uint32_t storage;         /* PB_HEAP, or frames through frame_new/frame_release */
    const int64_t *fn_size;   /* n_fns frame sizes (the executor's and the counted native */
    const int64_t *fn_bytes;  /* ones), cell sizes and step counts it folded in: the executor */
    const int64_t *fn_cell;   /* refuses a program and layout that do not match them */
    const int64_t *fn_steps;
    /* Top-down: 1 when the root returned and the executor is to finish the
     * task; an engine whose roots are blocks of their own (PB_HEAP)
     * finishes it itself (tasks.h, pb_task_done_block) and returns 0. */
    int (*poll)(pb_ex *ex, uint32_t task, char *root);
    void (*run)(pb_ex *ex, char *frame);                 /* bottom-up: resume until nothing is left to transfer to */
    void (*drop)(pb_ex *ex, char *root);                 /* cancel a task's root and everything below it */
    /* Spawn entry tasks first .. first + count - 1 of the program's entry
     * function (arguments their indices), each queued, with tasks.h's spawn
     * inlined and the entry's sizes as constants: the id of the last, or
     * PB_NO_WAITER (and the error set) when one could not be. NULL where
     * roots are not blocks of their own (not PB_HEAP): the executor's
     * spawn_task spawns them then. */
    uint32_t (*spawn_entries)(pb_ex *ex, uint64_t first, uint64_t count);
} pb_engine;

/* What the run really holds, checked against the memory limit (the
 * executor's own tables and the allocator's real footprint, and the
 * resident size sampled as it grows); generated code never touches it. */
typedef struct {
    uint64_t book;            /* executor bookkeeping now: task table, waiters, run queue, wheel, staging */
    uint64_t peak_book;
    uint64_t peak_alloc;      /* the allocator's peak footprint (its reserved(): usable sizes, chunks) */
    uint64_t rss_start;       /* resident bytes when the run started */
    uint64_t peak_rss;        /* highest resident size sampled */
    uint64_t next_check;      /* footprint at which the resident size is read next */
    uint64_t alloc_check;     /* an allocator footprint above this passes next_check or the limit
                               * once the bookkeeping is added (min of both, less book) */
    uint64_t step;            /* ... and the growth between two reads */
    uint64_t ask_from;        /* a block this large or larger (step or more, or more than the
                               * limit) asks refused() before it is tried: one compare */
    uint64_t polls_checked;   /* polls at the last read */
    int over;                 /* why the run stopped: 1 counted bytes, 2 resident size */
    int sample_rss;           /* 0 while instructions are counted */
} pb_footprint;

struct pb_ex {
    pb_prog p;
    pb_allocator a;
    pb_counters c;
    pb_latency lat;
    pb_open_loop open;
    uint64_t memory_limit;
    int error;
    char *staging;            /* futures are built here, then moved into place */
    char *scratch;            /* the interpreter's stack locals: the one function running that keeps them */
    const pb_services *svc;
    const pb_engine *eng;     /* NULL: the interpreter polls the frames */
    /* tasks */
    pb_task *tasks;
    uint32_t tasks_cap;
    uint32_t task_free;
    uint32_t task_top;        /* ids below it have been handed out (the rest are untouched) */
    uint64_t live_tasks;
    /* waiters */
    pb_waiter *waiters;
    uint32_t waiters_cap;
    uint32_t waiter_free;
    uint32_t waiter_top;      /* ids below it have been handed out */
    /* run queue (ring) */
    pb_qitem *q;
    uint64_t q_cap;
    uint64_t q_head;
    uint64_t q_len;
    /* timer wheel */
    pb_bucket *wheel;
    uint32_t wheel_size;
    uint64_t timers_pending;
    pb_footprint fp;
    /* PB_E_STACK_OVERFLOW: the bytes the stack needed, and whose it was */
    uint64_t overflow_need;
    uint32_t overflow_task;
    /* PB_BOX_ON_SUSPEND: the thread's stack, and the pools of finished boxes */
    pb_stack *thread;
    char **pool;              /* n_fns x prog.pool boxes */
    uint32_t *pool_len;
    uint32_t pool_fns;
    uint64_t *thread_at;      /* where each frame on the thread's stack starts, bottom first */
    uint64_t thread_n;
};

/* A generated engine exports this one symbol. */
const pb_engine *pb_engine_get(void);

/* Frame helpers the generated code shares (value rules of docs/model.md). */
static inline uint64_t pb_value_of(const pb_hdr *h)
{
    return (h->flags & PB_F_FOLDED) ? h->acc : h->acc + h->arg;
}

static inline void pb_fold(pb_hdr *h, uint64_t value)
{
    h->acc += value;
    h->flags |= PB_F_FOLDED;
}

#if defined(__has_attribute)
#if __has_attribute(fallthrough)
#define PB_FALLTHROUGH __attribute__((fallthrough))
#endif
#endif
#ifndef PB_FALLTHROUGH
#define PB_FALLTHROUGH ((void)0)
#endif

/* Spawning a task and the bookkeeping it counts: one copy, which the
 * executor and the generated engines both inline. */
#include "tasks.h"

#endif /* PINBENCH_RUNTIME_H */
