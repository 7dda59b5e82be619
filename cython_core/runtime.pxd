"""What the executor (_executor.pyx) sees of C: the allocators
(allocators.h), callgrind's client requests, and the frame header, the
executor's state and the function-pointer tables a generated engine shares
with the executor (runtime.h). Declarations only; the code is in the .pyx
and the headers."""

from libc.stdint cimport int64_t, uint32_t, uint64_t

cdef extern from "allocators.h" nogil:
    ctypedef struct pb_allocator:
        void *state
        void *(*alloc)(void *state, size_t size) noexcept nogil
        void (*free)(void *state, void *ptr, size_t size) noexcept nogil
        size_t (*reserved)(void *state) noexcept nogil
        void (*destroy)(void *state) noexcept nogil
    int pb_allocator_init(pb_allocator *a, int kind)
    void *pb_alloc_reserved(const pb_allocator *a, size_t size, size_t *reserved)
    void pb_free(const pb_allocator *a, void *ptr, size_t size)
    size_t pb_reserved(const pb_allocator *a)
    int PB_ALLOC_SYSTEM, PB_ALLOC_POOL, PB_ALLOC_BUMP


# Instruction counting (pinbench run --instructions): under valgrind's
# callgrind, these client requests switch instrumentation and collection on
# around the nogil loop only, so the count excludes interpreter start-up,
# imports and setup. Outside valgrind each is a handful of instructions; a
# core built where valgrind's headers are missing cannot count (PB_CALLGRIND 0).
cdef extern from *:
    """
    #if defined(__has_include)
    #  if __has_include(<valgrind/callgrind.h>)
    #    include <valgrind/callgrind.h>
    #    define PB_CALLGRIND 1
    #  endif
    #endif
    #ifndef PB_CALLGRIND
    #  define PB_CALLGRIND 0
    #  define CALLGRIND_START_INSTRUMENTATION
    #  define CALLGRIND_STOP_INSTRUMENTATION
    #  define CALLGRIND_ZERO_STATS
    #  define CALLGRIND_TOGGLE_COLLECT
    #  define CALLGRIND_DUMP_STATS
    #endif
    static inline void pb_count_begin(void) {
        CALLGRIND_START_INSTRUMENTATION;
        CALLGRIND_ZERO_STATS;
        CALLGRIND_TOGGLE_COLLECT;
    }
    /* One dump per counted run: the harness reads them in order. */
    static inline void pb_count_end(void) {
        CALLGRIND_TOGGLE_COLLECT;
        CALLGRIND_DUMP_STATS;
        CALLGRIND_STOP_INSTRUMENTATION;
    }
    """
    const int PB_CALLGRIND
    void pb_count_begin() nogil
    void pb_count_end() nogil

# The frame header, the executor's state and the two function-pointer tables
# a generated engine shares with this module are defined in runtime.h (the
# comments there say what each field is); Cython sees them under these names.
cdef extern from "runtime.h" nogil:
    """
    #define PB_RUNTIME_EX_SIZE ((uint32_t)sizeof(pb_ex))
    """
    enum:
        OP_WORK "PB_OP_WORK"
        OP_CALL "PB_OP_CALL"
        OP_JOIN "PB_OP_JOIN"
        OP_SELECT "PB_OP_SELECT"
        OP_IO "PB_OP_IO"
        OP_YIELD "PB_OP_YIELD"
        OP_SPAWN "PB_OP_SPAWN"
        OP_GEN "PB_OP_GEN"
        F_STARTED "PB_F_STARTED"
        F_ACTIVE "PB_F_ACTIVE"
        F_FOLDED "PB_F_FOLDED"
        F_LAUNCHING "PB_F_LAUNCHING"
        F_WON "PB_F_WON"
        W_FREE "PB_W_FREE"
        W_PENDING "PB_W_PENDING"
        W_QUEUED "PB_W_QUEUED"
        W_FIRED "PB_W_FIRED"
        W_CANCELLED "PB_W_CANCELLED"
        E_OK "PB_E_OK"
        E_MEMORY_LIMIT "PB_E_MEMORY_LIMIT"
        E_OUT_OF_MEMORY "PB_E_OUT_OF_MEMORY"
        E_STACK_OVERFLOW "PB_E_STACK_OVERFLOW"
        P_INLINE "PB_INLINE"
        P_BOX "PB_BOX"
        P_STACK "PB_STACK"
        P_OWN "PB_OWN"
        MOVED "PB_MOVED"
        COPIES_INTO "PB_COPIES_INTO"
        S_HEAP "PB_HEAP"
        S_STACKS "PB_STACKS"
        S_SLABS "PB_SLABS"
        S_BOX_ON_SUSPEND "PB_BOX_ON_SUSPEND"
        S_CHUNKS "PB_CHUNKS"
        E_DEADLOCK "PB_E_DEADLOCK"
    const uint32_t PC_DONE "PB_PC_DONE"
    const uint32_t NO_WAITER "PB_NO_WAITER"
    const uint32_t NOT_POOLED "PB_NOT_POOLED"
    const uint64_t FNV_PRIME "PB_FNV_PRIME"
    const int CELL_HEADER "PB_CELL_HEADER"
    const uint32_t RUNTIME_ABI "PB_RUNTIME_ABI"
    const uint32_t RUNTIME_EX_SIZE "PB_RUNTIME_EX_SIZE"

    ctypedef struct Hdr "pb_hdr":
        uint32_t fn
        uint32_t pc
        uint32_t iter
        uint32_t pending
        uint32_t rdepth
        uint32_t flags
        uint64_t arg
        uint64_t acc

    ctypedef struct Slab "pb_slab":
        Slab *next
        Slab *prev
        uint64_t cap
        uint64_t used

    ctypedef struct Stack "pb_stack":
        char *first
        uint64_t cap
        uint64_t used
        uint64_t depth
        uint64_t counted
        Slab *slabs
        Slab *slab
        Stack *vthread
        Stack *chunk
        uint64_t top
        uint64_t runtime

    ctypedef struct BHdr "pb_bhdr":
        Hdr h
        char *parent
        uint32_t slot
        uint32_t task
        Stack *stack

    ctypedef struct IoLeaf "pb_io_leaf":
        uint32_t waiter
        uint32_t state
        uint64_t deadline

    ctypedef struct HandleVec "pb_handle_vec":
        uint64_t *ptr
        uint64_t cap
        uint64_t len

    ctypedef struct Prog "pb_prog":
        const int64_t *fn_locals
        const int64_t *fn_step_start
        const int64_t *fn_step_count
        const int64_t *step_op
        const int64_t *step_arg
        const int64_t *step_wait
        const int64_t *step_edge_start
        const int64_t *step_edge_count
        const int64_t *edge_callee
        const int64_t *edge_back
        const int64_t *edge_limit
        const int64_t *fn_size
        const int64_t *fn_bytes
        const int64_t *fn_locals_offset
        const int64_t *fn_cell_size
        const int64_t *fn_stack_locals
        const int64_t *fn_child_offset
        const int64_t *edge_boxed
        const int64_t *edge_offset
        const int64_t *edge_place
        int bottom_up
        int moves
        int storage
        int stack_grows
        uint64_t stack_bytes
        uint64_t stack_guard
        uint64_t stack_base
        uint64_t stack_top
        uint64_t stack_scale
        const int64_t *fn_stack_check
        const int64_t *fn_stack_need
        uint64_t stack_extra
        uint64_t slab_header
        uint64_t alloc_header
        uint64_t alloc_align
        uint64_t pool
        uint64_t thaw_all_below
        const int64_t *fn_runtime
        int runtime_inside
        uint64_t chunk_object
        uint64_t chunk_bitmap

    ctypedef struct Counters "pb_counters":
        uint64_t allocs
        uint64_t frees
        uint64_t bytes_allocated
        uint64_t live_bytes
        uint64_t live_blocks
        uint64_t peak_live_bytes
        uint64_t peak_live_blocks
        uint64_t peak_live_tasks
        uint64_t moved_bytes
        uint64_t refcount_ops
        uint64_t polls
        uint64_t tasks
        uint64_t checksum
        uint64_t ticks
        uint64_t copied_bytes
        uint64_t reserved_bytes
        uint64_t peak_reserved_bytes
        uint64_t stack_growths
        uint64_t runtime_bytes
        uint64_t runtime_live
        uint64_t peak_held_bytes
        uint64_t peak_held_tasks

    ctypedef struct Task "pb_task":
        char *root
        uint64_t t_ref
        uint64_t t_late
        uint64_t *handle
        char *waiter_frame
        uint32_t waiter_task
        uint32_t queued
        uint32_t next_free

    ctypedef struct Waiter "pb_waiter":
        char *frame
        uint32_t task
        uint32_t state
        uint32_t next_free

    ctypedef struct QItem "pb_qitem":
        char *frame
        uint32_t task
        uint32_t waiter

    ctypedef struct Bucket "pb_bucket":
        uint32_t *ids
        uint32_t len
        uint32_t cap

    ctypedef struct Latency "pb_latency":
        uint64_t stride
        uint64_t countdown
        uint64_t *ns
        uint64_t *late_ns
        uint64_t cap
        uint64_t len
        uint64_t dropped

    ctypedef struct OpenLoop "pb_open_loop":
        const uint64_t *arrival_ns
        uint64_t count
        uint64_t next
        uint64_t start_ns
        uint64_t stall_after_tasks
        uint64_t stall_ns

    ctypedef struct Ex "pb_ex"

    ctypedef struct Services "pb_services":
        uint32_t (*sleep)(Ex *ex, uint32_t task, char *frame, int64_t ticks) noexcept nogil
        uint32_t (*waiter_new)(Ex *ex, uint32_t task, char *frame, uint32_t state) noexcept nogil
        void (*waiter_release)(Ex *ex, uint32_t id) noexcept nogil
        void (*waiter_cancel)(Ex *ex, uint32_t id) noexcept nogil
        int (*enqueue)(Ex *ex, uint32_t task, char *frame, uint32_t waiter) noexcept nogil
        void (*wake_task)(Ex *ex, uint32_t task) noexcept nogil
        uint32_t (*spawn_task)(Ex *ex, uint32_t fn, uint64_t arg, uint32_t rdepth, uint64_t *handle,
                               char *waiter_frame, uint32_t waiter_task) noexcept nogil
        void (*task_done)(Ex *ex, uint32_t task) noexcept nogil
        char *(*frame_new)(Ex *ex, uint32_t fn, int place, char **near) noexcept nogil
        void (*frame_release)(Ex *ex, char *frame) noexcept nogil
        void (*suspending)(Ex *ex, char **frame) noexcept nogil
        char *(*thaw)(Ex *ex, char *frame) noexcept nogil
        int (*over_limit)(Ex *ex, uint64_t more) noexcept nogil
        int (*refused)(Ex *ex, uint64_t size) noexcept nogil
        int (*grow)(Ex *ex, void **array, uint64_t *cap, size_t item, uint64_t need) noexcept nogil

    ctypedef struct Engine "pb_engine":
        uint32_t abi
        uint32_t ex_size
        uint32_t n_fns
        uint32_t bottom_up
        uint32_t moves
        uint32_t storage
        const int64_t *fn_size
        const int64_t *fn_bytes
        const int64_t *fn_cell
        const int64_t *fn_steps
        int (*poll)(Ex *ex, uint32_t task, char *root) noexcept nogil
        void (*run)(Ex *ex, char *frame) noexcept nogil
        void (*drop)(Ex *ex, char *root) noexcept nogil
        uint32_t (*spawn_entries)(Ex *ex, uint64_t first, uint64_t count) noexcept nogil

    ctypedef struct Footprint "pb_footprint":    # see runtime.h
        uint64_t book
        uint64_t peak_book
        uint64_t peak_alloc
        uint64_t rss_start
        uint64_t peak_rss
        uint64_t next_check
        uint64_t alloc_check
        uint64_t step
        uint64_t ask_from
        uint64_t polls_checked
        int over
        int sample_rss

    ctypedef struct Ex "pb_ex":
        Prog p
        pb_allocator a
        Counters c
        Latency lat
        OpenLoop open
        uint64_t memory_limit
        int error
        char *staging
        char *scratch
        const Services *svc
        const Engine *eng
        Task *tasks
        uint32_t tasks_cap
        uint32_t task_free
        uint32_t task_top
        uint64_t live_tasks
        Waiter *waiters
        uint32_t waiters_cap
        uint32_t waiter_free
        uint32_t waiter_top
        QItem *q
        uint64_t q_cap
        uint64_t q_head
        uint64_t q_len
        Bucket *wheel
        uint32_t wheel_size
        uint64_t timers_pending
        Footprint fp
        uint64_t overflow_need
        uint32_t overflow_task
        Stack *thread
        char **pool
        uint32_t *pool_len
        uint32_t pool_fns
        uint64_t *thread_at
        uint64_t thread_n

    # where each table's free list is linked (table_take)
    const size_t TASK_NEXT_FREE "offsetof(pb_task, next_free)"
    const size_t WAITER_NEXT_FREE "offsetof(pb_waiter, next_free)"

    uint64_t value_of "pb_value_of"(const Hdr *h)
    void fold "pb_fold"(Hdr *h, uint64_t value)

    # tasks.h: the per-task bookkeeping the executor and the generated
    # engines share (one copy, inlined by both; its comments say what each does)
    uint64_t now_ns "pb_now_ns"() noexcept
    void spin_until "pb_spin_until"(uint64_t deadline) noexcept
    void pb_move(char *d, const char *s, size_t n) noexcept
    void live_grows "pb_live_grows"(Ex *ex, uint64_t counted) noexcept
    void held_grew "pb_held_grew"(Ex *ex) noexcept
    char *block_counted "pb_block_counted"(Ex *ex, uint64_t size, uint64_t counted) noexcept
    int runtime_created "pb_runtime_created"(Ex *ex, uint64_t n) noexcept
    void runtime_dropped "pb_runtime_dropped"(Ex *ex, uint64_t n) noexcept
    char *block_alloc "pb_block_alloc"(Ex *ex, uint64_t size, uint64_t counted) noexcept
    void block_free "pb_block_free"(Ex *ex, char *ptr, uint64_t size, uint64_t counted) noexcept
    char *mem_alloc_as "pb_mem_alloc_as"(Ex *ex, uint64_t size, uint64_t counted) noexcept
    char *mem_alloc "pb_mem_alloc"(Ex *ex, uint64_t size) noexcept
    void mem_free_as "pb_mem_free_as"(Ex *ex, char *ptr, uint64_t size, uint64_t counted) noexcept
    void mem_free "pb_mem_free"(Ex *ex, char *ptr, uint64_t size) noexcept
    char *pb_build(Ex *ex, uint32_t fn, uint64_t size, uint64_t counted, uint64_t arg, uint32_t rdepth,
                   char *dest, Stack *st, int place) noexcept
    int table_take "pb_table_take"(Ex *ex, void **table, size_t item, size_t link, uint32_t *free_list,
                                   uint32_t *top, uint32_t *cap, uint32_t *id) noexcept
    uint32_t task_new "pb_task_new"(Ex *ex, char *root, uint64_t *handle, char *waiter_frame,
                                    uint32_t waiter_task) noexcept
    int enqueue "pb_enqueue"(Ex *ex, uint32_t task, char *frame, uint32_t waiter) noexcept
    uint32_t spawn_block "pb_spawn_block"(Ex *ex, uint32_t fn, uint64_t size, uint64_t counted, uint64_t runtime,
                                          uint64_t arg, uint32_t rdepth, uint64_t *handle, char *waiter_frame,
                                          uint32_t waiter_task) noexcept
    void wake_task "pb_wake_task"(Ex *ex, uint32_t task) noexcept
    void record_latency "pb_record_latency"(Ex *ex, const Task *t) noexcept
    void task_finish "pb_task_finish"(Ex *ex, uint32_t id, Task *t, uint64_t value) noexcept
    void release_finished "pb_release_finished"(Ex *ex, uint32_t id, Task *t) noexcept
    void task_done_block "pb_task_done_block"(Ex *ex, uint32_t id, uint64_t size, uint64_t counted,
                                              uint64_t runtime) noexcept
