/*
 * allocators.h -- the three frame allocators pinbench measures, behind one
 * struct of function pointers (in the style of numpy's bitgen_t): the executor
 * calls a->alloc(a->state, n) / a->free(a->state, p, n) and never knows which
 * allocator it has, so the allocator is a run parameter, not a code path.
 *
 *   system  malloc/free: the baseline every frame allocation is compared with.
 *   pool    size classes that recycle freed frames, as a tuned async runtime's
 *           allocator would.
 *   bump    an arena that never reuses memory (free is a no-op): the lower
 *           bound on what an allocation can cost.
 *
 * Self-contained, C99, header-only (every function is static inline, so a
 * translation unit that includes it without using it gets no warnings). Also
 * valid C++. Not thread-safe: one allocator per executor, no locks.
 *
 * Every pointer returned is 16-byte aligned; size 0 is served as 16 bytes (a
 * valid, unique pointer). free must be given the size passed to alloc.
 *
 * Under AddressSanitizer, pool and bump blocks are poisoned while free and
 * only the requested bytes are unpoisoned while live, so ASan still catches
 * use-after-free and overruns in the executor although it no longer sees one
 * malloc per frame.
 *
 * Configuration: PB_ALLOC_MALLOC_ALIGNED (1 if malloc is known to return
 * 16-byte aligned memory; detected, may be predefined to 0 to force the
 * portable over-allocating path, which the tests do).
 */
#ifndef PINBENCH_ALLOCATORS_H
#define PINBENCH_ALLOCATORS_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The allocation path, inlined wherever it is called: gcc's size estimate
 * would call an out-of-line copy once a generated engine has several
 * callers (a spawn, a boxed child, a vector): spawn_many under pinbox
 * counted 26 instructions per task more (tools/count_round.py). */
#if defined(__GNUC__)
#define PB_HOT static inline __attribute__((always_inline))
#define PB_NOINLINE __attribute__((noinline))
#define PB_COLD static __attribute__((noinline, cold))
#define PB_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define PB_HOT static inline
#define PB_NOINLINE
#define PB_COLD static
#define PB_UNLIKELY(x) (x)
#endif

typedef struct pb_allocator {
    void *state;
    void *(*alloc)(void *state, size_t size);          /* returns 16-byte aligned memory, NULL only if the system is out of memory */
    void (*free)(void *state, void *ptr, size_t size); /* sized free; size is exactly what was passed to alloc */
    size_t (*reserved)(void *state);                   /* bytes currently obtained from the system (the allocator's real footprint) */
    void (*destroy)(void *state);                      /* give every byte back to the system; the struct is unusable afterwards */
    int builtin;                                       /* PB__BUILTIN_*: which of the allocators below it is (0: another) */
} pb_allocator;

enum { PB_ALLOC_SYSTEM = 0, PB_ALLOC_POOL = 1, PB_ALLOC_BUMP = 2 };
/* pb_allocator.builtin: the dispatch below calls these directly. A tag, not
 * the function pointers' addresses: a generated engine (another shared
 * library) has its own copies of these static functions, so an address
 * compare would never match there. 0, what a zeroed struct says, is an
 * allocator of someone else's, called through its pointers. */
enum { PB__BUILTIN_NONE = 0, PB__BUILTIN_SYSTEM = 1, PB__BUILTIN_POOL = 2, PB__BUILTIN_BUMP = 3 };

/* ------------------------------------------------------------------------ */
/* Internals (pb__ prefix).                                                   */

#define PB__ALIGN ((size_t)16)
#define PB__HDR ((size_t)16)                   /* chunk / large-block header */
#define PB__POOL_MAX ((size_t)4096)            /* largest pooled size */
#define PB__POOL_NCLASSES (4096 / 16 + 1)      /* index = rounded size / 16 */
#define PB__POOL_CHUNK ((size_t)64 * 1024)
#define PB__BUMP_CHUNK ((size_t)1024 * 1024)

/* AddressSanitizer annotations (no-ops otherwise). */
#if defined(__SANITIZE_ADDRESS__)
#define PB__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PB__ASAN 1
#endif
#endif
#ifdef PB__ASAN
#include <sanitizer/asan_interface.h>
#define PB__POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define PB__UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define PB__POISON(p, n) ((void)(p), (void)(n))
#define PB__UNPOISON(p, n) ((void)(p), (void)(n))
#endif
/* A block of `rounded` bytes is handed out for a request of `size` bytes. */
#define PB__HAND_OUT(p, rounded, size) (PB__POISON((p), (rounded)), PB__UNPOISON((p), (size)))

/* 16-byte aligned memory from the system. glibc on 64-bit targets, macOS and
 * 64-bit Windows guarantee 16-byte alignment from malloc, so there the system
 * allocator is exactly malloc. Elsewhere, over-allocate by 16 and keep the
 * raw pointer just below the aligned one (costs 16 bytes per system block,
 * which reserved() does not count). */
#ifndef PB_ALLOC_MALLOC_ALIGNED
#if defined(__APPLE__) || defined(_WIN64) || \
    (defined(__GLIBC__) && (defined(__x86_64__) || defined(__aarch64__) || defined(__LP64__)))
#define PB_ALLOC_MALLOC_ALIGNED 1
#else
#define PB_ALLOC_MALLOC_ALIGNED 0
#endif
#endif

/* The bytes a block of n requested bytes takes from malloc: its chunk, the
 * usable bytes and malloc's size word in front of them. Below
 * PB__SYS_ASK_FROM bytes this is glibc's rule for the chunk it carves for
 * a request (request2size: n plus the size word, rounded up to 16, at
 * least 32), worked out from the size, so neither alloc nor free asks
 * malloc (the native programs' counting allocators do not either). It is
 * exact but for a block cut from a free chunk whose remainder was too
 * small to split off: malloc hands over up to 16 bytes more, unseen here.
 * Larger blocks may be mmapped (rounded up to pages): their real size is
 * asked (malloc_usable_size) where the C library can say. The choice
 * depends on n only, so alloc and free always agree. Other C libraries
 * and AddressSanitizer's malloc (their own rules) are always asked; where
 * none can say, glibc's rule. */
#define PB__SYS_ASK_FROM ((size_t)64 * 1024)
#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#define PB__USABLE(raw) malloc_usable_size(raw)
#elif defined(__APPLE__)
#include <malloc/malloc.h>
#define PB__USABLE(raw) malloc_size(raw)
#endif

static inline size_t pb__sys_footprint(void *p, size_t n)
{
    void *raw = p;
#if !PB_ALLOC_MALLOC_ALIGNED
    memcpy(&raw, (char *)p - sizeof raw, sizeof raw);
    n += PB__ALIGN;
#endif
#ifdef PB__USABLE
#if defined(__GLIBC__) && !defined(PB__ASAN)
    if (n >= PB__SYS_ASK_FROM)
#endif
        return PB__USABLE(raw) + sizeof(size_t);
#endif
    (void)raw;
    n = (n + sizeof(size_t) + 15) & ~(size_t)15;
    return n < 32 ? 32 : n;
}

static inline void *pb__sys_alloc(size_t n)
{
#if PB_ALLOC_MALLOC_ALIGNED
    return malloc(n);
#else
    char *raw, *p;
    if (n > SIZE_MAX - PB__ALIGN)
        return NULL;
    raw = (char *)malloc(n + PB__ALIGN);
    if (raw == NULL)
        return NULL;
    /* malloc aligns to at least sizeof(void *), so the gap is >= that. */
    p = raw + (PB__ALIGN - ((uintptr_t)raw & (PB__ALIGN - 1)));
    memcpy(p - sizeof raw, &raw, sizeof raw);
    return p;
#endif
}

static inline void pb__sys_free(void *p)
{
#if PB_ALLOC_MALLOC_ALIGNED
    free(p);
#else
    void *raw;
    if (p == NULL)
        return;
    memcpy(&raw, (char *)p - sizeof raw, sizeof raw);
    free(raw);
#endif
}

/* Header at the start of every pool/bump chunk (fits in PB__HDR bytes). */
typedef struct pb__chunk {
    struct pb__chunk *next;
    size_t size; /* total bytes of the chunk, header included */
} pb__chunk;

static inline void pb__free_chunks(pb__chunk *c)
{
    while (c != NULL) {
        pb__chunk *next = c->next;
        PB__UNPOISON(c, c->size);
        pb__sys_free(c);
        c = next;
    }
}

/* ------------------------------------------------------------------------ */
/* system: malloc/free, the baseline. reserved = what the live blocks take  */
/* from malloc (their chunks: usable bytes and size words, pb__sys_footprint). */

typedef struct {
    size_t live;
} pb__system;

static inline void *pb__system_alloc(void *state, size_t size)
{
    pb__system *s = (pb__system *)state;
    size_t n = size ? size : PB__ALIGN;
    void *p = pb__sys_alloc(n);
    if (p != NULL)
        s->live += pb__sys_footprint(p, n);
    return p;
}

static inline void pb__system_free(void *state, void *ptr, size_t size)
{
    pb__system *s = (pb__system *)state;
    if (ptr == NULL)
        return;
    s->live -= pb__sys_footprint(ptr, size ? size : PB__ALIGN);
    pb__sys_free(ptr);
}

static inline size_t pb__system_reserved(void *state)
{
    return ((pb__system *)state)->live;
}

/* Frees the allocator only: blocks still live cannot be found without a
 * per-block header, which would make this no longer the plain-malloc
 * baseline. Free everything first (reserved() == 0 says you did). */
static inline void pb__system_destroy(void *state)
{
    free(state);
}

/* ------------------------------------------------------------------------ */
/* pool: size classes of 16 bytes up to 4096, each a LIFO free list; blocks  */
/* carved from 64 KiB chunks; larger sizes go to the system one by one       */
/* (with a 16-byte header linking them, so destroy can free stragglers).     */
/* reserved = chunk bytes + bytes of live large blocks (headers included).   */

typedef struct pb__big {
    struct pb__big *prev, *next;
} pb__big;

typedef struct {
    void *free_list[PB__POOL_NCLASSES];
    char *cur;   /* carving point in the newest chunk */
    size_t left; /* bytes left there (a multiple of 16) */
    pb__chunk *chunks;
    pb__big *big; /* live large blocks */
    size_t chunk_bytes, big_bytes;
} pb__pool;

static inline void pb__pool_push(pb__pool *p, void *blk, size_t cls)
{
    PB__UNPOISON(blk, cls * PB__ALIGN);
    *(void **)blk = p->free_list[cls];
    p->free_list[cls] = blk;
    PB__POISON(blk, cls * PB__ALIGN);
}

/* Slow path: the class's free list is empty; carve from the current chunk,
 * getting a new one if needed (the old chunk's tail goes to its free list). */
static inline void *pb__pool_carve(pb__pool *p, size_t cls, size_t size)
{
    size_t rounded = cls * PB__ALIGN;
    char *blk;
    if (p->left < rounded) {
        pb__chunk *c = (pb__chunk *)pb__sys_alloc(PB__POOL_CHUNK);
        if (c == NULL)
            return NULL;
        if (p->left >= PB__ALIGN) /* < rounded <= 4096: a valid class */
            pb__pool_push(p, p->cur, p->left / PB__ALIGN);
        c->next = p->chunks;
        c->size = PB__POOL_CHUNK;
        p->chunks = c;
        p->chunk_bytes += PB__POOL_CHUNK;
        p->cur = (char *)c + PB__HDR;
        p->left = PB__POOL_CHUNK - PB__HDR;
        PB__POISON(p->cur, p->left);
    }
    blk = p->cur;
    p->cur += rounded;
    p->left -= rounded;
    PB__HAND_OUT(blk, rounded, size);
    return blk;
}

static inline void *pb__pool_alloc_big(pb__pool *p, size_t size)
{
    pb__big *b;
    if (size > SIZE_MAX - PB__HDR)
        return NULL;
    b = (pb__big *)pb__sys_alloc(PB__HDR + size);
    if (b == NULL)
        return NULL;
    b->prev = NULL;
    b->next = p->big;
    if (p->big != NULL)
        p->big->prev = b;
    p->big = b;
    p->big_bytes += PB__HDR + size;
    return (char *)b + PB__HDR;
}

static inline void *pb__pool_alloc(void *state, size_t size)
{
    pb__pool *p = (pb__pool *)state;
    if (size <= PB__POOL_MAX) {
        size_t cls = size ? (size + PB__ALIGN - 1) / PB__ALIGN : 1;
        void *blk = p->free_list[cls];
        if (blk != NULL) {
            PB__UNPOISON(blk, cls * PB__ALIGN);
            p->free_list[cls] = *(void **)blk;
            PB__HAND_OUT(blk, cls * PB__ALIGN, size);
            return blk;
        }
        return pb__pool_carve(p, cls, size);
    }
    return pb__pool_alloc_big(p, size);
}

static inline void pb__pool_free(void *state, void *ptr, size_t size)
{
    pb__pool *p = (pb__pool *)state;
    if (ptr == NULL)
        return;
    if (size <= PB__POOL_MAX) {
        pb__pool_push(p, ptr, size ? (size + PB__ALIGN - 1) / PB__ALIGN : 1);
    } else {
        pb__big *b = (pb__big *)((char *)ptr - PB__HDR);
        if (b->prev != NULL)
            b->prev->next = b->next;
        else
            p->big = b->next;
        if (b->next != NULL)
            b->next->prev = b->prev;
        p->big_bytes -= PB__HDR + size;
        pb__sys_free(b);
    }
}

static inline size_t pb__pool_reserved(void *state)
{
    pb__pool *p = (pb__pool *)state;
    return p->chunk_bytes + p->big_bytes;
}

static inline void pb__pool_destroy(void *state)
{
    pb__pool *p = (pb__pool *)state;
    pb__big *b = p->big;
    while (b != NULL) {
        pb__big *next = b->next;
        pb__sys_free(b);
        b = next;
    }
    pb__free_chunks(p->chunks);
    free(p);
}

/* ------------------------------------------------------------------------ */
/* bump: an arena. Chunks of max(1 MiB, 16-byte header + size rounded to 16); */
/* a request too big for a 1 MiB chunk gets its own chunk and the current    */
/* chunk stays current. free does nothing. reserved = chunk bytes.           */

typedef struct {
    char *cur;
    size_t left; /* a multiple of 16 */
    pb__chunk *chunks;
    size_t chunk_bytes;
} pb__bump;

static inline void *pb__bump_new_chunk(pb__bump *b, size_t total)
{
    pb__chunk *c = (pb__chunk *)pb__sys_alloc(total);
    if (c == NULL)
        return NULL;
    c->next = b->chunks;
    c->size = total;
    b->chunks = c;
    b->chunk_bytes += total;
    PB__POISON((char *)c + PB__HDR, total - PB__HDR);
    return (char *)c + PB__HDR;
}

/* Slow path: size 0, or the current chunk is too small. */
static inline void *pb__bump_alloc_slow(pb__bump *b, size_t size)
{
    size_t rounded;
    char *blk;
    if (size > SIZE_MAX - PB__HDR - PB__ALIGN)
        return NULL;
    rounded = size ? (size + PB__ALIGN - 1) & ~(PB__ALIGN - 1) : PB__ALIGN;
    if (rounded > b->left) {
        if (rounded > PB__BUMP_CHUNK - PB__HDR) {
            blk = (char *)pb__bump_new_chunk(b, PB__HDR + rounded);
            if (blk != NULL)
                PB__UNPOISON(blk, size);
            return blk;
        }
        blk = (char *)pb__bump_new_chunk(b, PB__BUMP_CHUNK);
        if (blk == NULL)
            return NULL;
        b->cur = blk;
        b->left = PB__BUMP_CHUNK - PB__HDR;
    }
    blk = b->cur;
    b->cur += rounded;
    b->left -= rounded;
    PB__UNPOISON(blk, size);
    return blk;
}

static inline void *pb__bump_alloc(void *state, size_t size)
{
    pb__bump *b = (pb__bump *)state;
    /* One compare: 1 <= size <= left. Since left is a multiple of 16, the
     * rounded size fits too, and size < 1 MiB cannot overflow when rounded.
     * size 0 wraps to SIZE_MAX and takes the slow path. */
    if (size - 1 < b->left) {
        size_t rounded = (size + PB__ALIGN - 1) & ~(PB__ALIGN - 1);
        char *blk = b->cur;
        b->cur += rounded;
        b->left -= rounded;
        PB__UNPOISON(blk, size);
        return blk;
    }
    return pb__bump_alloc_slow(b, size);
}

static inline void pb__bump_free(void *state, void *ptr, size_t size)
{
    /* Nothing to do; under ASan, make later use of the block an error. */
    (void)state;
    if (ptr != NULL)
        PB__POISON(ptr, size ? (size + PB__ALIGN - 1) & ~(PB__ALIGN - 1) : PB__ALIGN);
}

static inline size_t pb__bump_reserved(void *state)
{
    return ((pb__bump *)state)->chunk_bytes;
}

static inline void pb__bump_destroy(void *state)
{
    pb__bump *b = (pb__bump *)state;
    pb__free_chunks(b->chunks);
    free(b);
}

/* ------------------------------------------------------------------------ */

/* The calls through *a, with the three allocators above called directly
 * (and inlined) when *a is one of them: a hot loop pays a compare instead
 * of an indirect call, and the allocator stays a run parameter. */
/* An allocation, and what pb_reserved says after it into *reserved, with
 * one dispatch: the executor looks at the footprint after every allocation. */
PB_HOT void *pb_alloc_reserved(const pb_allocator *a, size_t size, size_t *reserved)
{
    void *p;
    if (a->builtin == PB__BUILTIN_SYSTEM) {
        p = pb__system_alloc(a->state, size);
        *reserved = pb__system_reserved(a->state);
    } else if (a->builtin == PB__BUILTIN_POOL) {
        p = pb__pool_alloc(a->state, size);
        *reserved = pb__pool_reserved(a->state);
    } else if (a->builtin == PB__BUILTIN_BUMP) {
        p = pb__bump_alloc(a->state, size);
        *reserved = pb__bump_reserved(a->state);
    } else {
        p = a->alloc(a->state, size);
        *reserved = a->reserved(a->state);
    }
    return p;
}

PB_HOT void pb_free(const pb_allocator *a, void *ptr, size_t size)
{
    if (a->builtin == PB__BUILTIN_SYSTEM)
        pb__system_free(a->state, ptr, size);
    else if (a->builtin == PB__BUILTIN_POOL)
        pb__pool_free(a->state, ptr, size);
    else if (a->builtin == PB__BUILTIN_BUMP)
        pb__bump_free(a->state, ptr, size);
    else
        a->free(a->state, ptr, size);
}

static inline size_t pb_reserved(const pb_allocator *a)
{
    if (a->builtin == PB__BUILTIN_SYSTEM)
        return pb__system_reserved(a->state);
    if (a->builtin == PB__BUILTIN_POOL)
        return pb__pool_reserved(a->state);
    if (a->builtin == PB__BUILTIN_BUMP)
        return pb__bump_reserved(a->state);
    return a->reserved(a->state);
}

/* Point *a at an allocator's state and functions; 0 (success) for its caller. */
static inline int pb__allocator_set(pb_allocator *a, int builtin, void *state, void *(*alloc)(void *, size_t),
                                    void (*free_)(void *, void *, size_t), size_t (*reserved)(void *),
                                    void (*destroy)(void *))
{
    a->builtin = builtin;
    a->state = state;
    a->alloc = alloc;
    a->free = free_;
    a->reserved = reserved;
    a->destroy = destroy;
    return 0;
}

/* Fill *a for the given kind; return 0 on success, -1 for an unknown kind or
 * out of memory (then *a is all NULL). No memory is taken from the system
 * until the first alloc, so reserved() starts at 0. */
static inline int pb_allocator_init(pb_allocator *a, int kind)
{
    if (a == NULL)
        return -1;
    pb__allocator_set(a, PB__BUILTIN_NONE, NULL, NULL, NULL, NULL, NULL);
    switch (kind) {
    case PB_ALLOC_SYSTEM: {
        pb__system *s = (pb__system *)malloc(sizeof *s);
        if (s == NULL)
            return -1;
        s->live = 0;
        return pb__allocator_set(a, PB__BUILTIN_SYSTEM, s, pb__system_alloc, pb__system_free, pb__system_reserved,
                                 pb__system_destroy);
    }
    case PB_ALLOC_POOL: {
        int i;
        pb__pool *p = (pb__pool *)malloc(sizeof *p);
        if (p == NULL)
            return -1;
        for (i = 0; i < PB__POOL_NCLASSES; i++)
            p->free_list[i] = NULL;
        p->cur = NULL;
        p->left = 0;
        p->chunks = NULL;
        p->big = NULL;
        p->chunk_bytes = 0;
        p->big_bytes = 0;
        return pb__allocator_set(a, PB__BUILTIN_POOL, p, pb__pool_alloc, pb__pool_free, pb__pool_reserved,
                                 pb__pool_destroy);
    }
    case PB_ALLOC_BUMP: {
        pb__bump *b = (pb__bump *)malloc(sizeof *b);
        if (b == NULL)
            return -1;
        b->cur = NULL;
        b->left = 0;
        b->chunks = NULL;
        b->chunk_bytes = 0;
        return pb__allocator_set(a, PB__BUILTIN_BUMP, b, pb__bump_alloc, pb__bump_free, pb__bump_reserved,
                                 pb__bump_destroy);
    }
    default:
        return -1;
    }
}

#endif /* PINBENCH_ALLOCATORS_H */
