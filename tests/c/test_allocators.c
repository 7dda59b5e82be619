/*
 * Exercises the three allocators of cython_core/allocators.h. Exits 0 if all
 * checks pass, 1 (after printing the failed check to stderr) otherwise.
 * Built and run under ASan+UBSan by tests/test_allocators_c.py; also clean
 * under `valgrind --error-exitcode=1 --leak-check=full` (built without
 * sanitizers). Destroy is tested with blocks still live, so a leak checker
 * sees whether destroy gives every byte back.
 */
#include "allocators.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifdef TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif

static const char *const kind_names[] = {"system", "pool", "bump"};
static const char *current = "setup";

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: [%s] check failed: %s\n", __FILE__, __LINE__, \
                    current, #cond);                                             \
            exit(1);                                                             \
        }                                                                        \
    } while (0)

#define KIB ((size_t)1024)
#define MIB ((size_t)1024 * 1024)

static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint64_t rng(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Du;
}

static unsigned char pattern(uint32_t seed, size_t i)
{
    return (unsigned char)((seed >> (8 * (i & 3))) ^ i ^ (i >> 8));
}

/* Write every byte of a block, or check that nobody else did. */
static void fill(void *p, size_t n, uint32_t seed)
{
    unsigned char *b = (unsigned char *)p;
    for (size_t i = 0; i < n; i++)
        b[i] = pattern(seed, i);
}

static int intact(const void *p, size_t n, uint32_t seed)
{
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != pattern(seed, i))
            return 0;
    return 1;
}

static int aligned16(const void *p)
{
    return ((uintptr_t)p & 15u) == 0;
}

static void init(pb_allocator *a, int kind)
{
    CHECK(pb_allocator_init(a, kind) == 0);
    CHECK(a->state != NULL && a->alloc != NULL && a->free != NULL);
    CHECK(a->reserved != NULL && a->destroy != NULL);
    CHECK(a->reserved(a->state) == 0); /* nothing taken before the first alloc */
}

static void *take(pb_allocator *a, size_t size)
{
    void *p = a->alloc(a->state, size);
    CHECK(p != NULL);
    CHECK(aligned16(p));
    return p;
}

/* ---------------------------------------------------------------- */

static void test_init_errors(void)
{
    pb_allocator a;
    current = "init";
    CHECK(pb_allocator_init(&a, 3) == -1);
    CHECK(a.alloc == NULL && a.free == NULL && a.state == NULL);
    CHECK(pb_allocator_init(&a, -1) == -1);
    CHECK(pb_allocator_init(NULL, PB_ALLOC_SYSTEM) == -1);
}

/* Random mix of allocations and frees, every byte written and checked. */
#define SLOTS 512
#define OPS 60000

static const size_t small_sizes[] = {0,  1,  7,  8,   15,  16,  17,  24,  31,   32,   40,   48,   56,   64,
                                     72, 96, 100, 128, 200, 255, 256, 500, 1000, 1024, 2048, 3000, 4080, 4095,
                                     4096};
static const size_t large_sizes[] = {4097, 4100, 4112, 5000, 8192, 16384, 65536, 100000};
#define NELEM(x) (sizeof(x) / sizeof((x)[0]))

struct slot {
    void *p;
    size_t size;
    uint32_t seed;
};

static void test_mixed(int kind)
{
    static struct slot slots[SLOTS];
    pb_allocator a;
    size_t live = 0, live_accounted = 0;
    uint32_t counter = 0;

    current = kind_names[kind];
    init(&a, kind);
    memset(slots, 0, sizeof slots);
    for (int op = 0; op < OPS; op++) {
        struct slot *s = &slots[rng() % SLOTS];
        if (s->p != NULL) {
            CHECK(intact(s->p, s->size, s->seed)); /* no other block overlapped it */
            size_t before = a.reserved(a.state);
            if (kind == PB_ALLOC_SYSTEM)
                live_accounted -= pb__sys_footprint(s->p, s->size ? s->size : 16);
            a.free(a.state, s->p, s->size);
            if (kind == PB_ALLOC_BUMP)
                CHECK(a.reserved(a.state) == before);
            live -= s->size;
            s->p = NULL;
        } else {
            uint64_t r = rng();
            s->size = (r % 20 == 0) ? large_sizes[(r >> 8) % NELEM(large_sizes)]
                                    : small_sizes[(r >> 8) % NELEM(small_sizes)];
            s->seed = (uint32_t)(++counter * 2654435761u);
            s->p = take(&a, s->size);
            fill(s->p, s->size, s->seed);
            live += s->size;
            if (kind == PB_ALLOC_SYSTEM)
                live_accounted += pb__sys_footprint(s->p, s->size ? s->size : 16);
        }
        CHECK(a.reserved(a.state) >= live);
        if (kind == PB_ALLOC_SYSTEM)
            CHECK(a.reserved(a.state) == live_accounted);
    }
    size_t before = a.reserved(a.state);
    for (int i = 0; i < SLOTS; i++) {
        if (slots[i].p != NULL) {
            CHECK(intact(slots[i].p, slots[i].size, slots[i].seed));
            a.free(a.state, slots[i].p, slots[i].size);
            slots[i].p = NULL;
        }
    }
    if (kind == PB_ALLOC_SYSTEM)
        CHECK(a.reserved(a.state) == 0);
    if (kind == PB_ALLOC_POOL) /* only whole chunks are left */
        CHECK(a.reserved(a.state) > 0 && a.reserved(a.state) % (64 * KIB) == 0);
    if (kind == PB_ALLOC_BUMP)
        CHECK(a.reserved(a.state) == before);
    a.destroy(a.state);
}

/* system: reserved() is what the blocks take from malloc, their chunks
 * (usable bytes and size word), not the bytes asked for. On glibc a small
 * block's chunk is glibc's rule for the request (100 + 8 rounded up to 16:
 * 112), which malloc may exceed (a remainder too small to split stays with
 * the block), never undercut; a large one (64 KiB or more) is asked. */
static void test_system_counts_usable_sizes(void)
{
    pb_allocator a;
    current = "system";
    init(&a, PB_ALLOC_SYSTEM);
    void *p = take(&a, 100);
    size_t held = a.reserved(a.state);
    CHECK(held >= 100 + sizeof(size_t));
#if PB_ALLOC_MALLOC_ALIGNED && defined(__GLIBC__) && defined(PB__ASAN)
    CHECK(held == malloc_usable_size(p) + sizeof(size_t)); /* ASan's malloc: asked */
#elif PB_ALLOC_MALLOC_ALIGNED && defined(__GLIBC__)
    CHECK(held == 112);
    CHECK(held <= malloc_usable_size(p) + sizeof(size_t));
    {
        void *big = take(&a, 200000);
        CHECK(a.reserved(a.state) == held + malloc_usable_size(big) + sizeof(size_t));
        a.free(a.state, big, 200000);
        CHECK(a.reserved(a.state) == held);
    }
#endif
    void *q = take(&a, 1);
    CHECK(a.reserved(a.state) > held);
    a.free(a.state, q, 1);
    CHECK(a.reserved(a.state) == held);
    a.free(a.state, p, 100);
    CHECK(a.reserved(a.state) == 0);
    a.destroy(a.state);
}

static int cmp_ptr(const void *x, const void *y)
{
    uintptr_t a = (uintptr_t) * (void *const *)x, b = (uintptr_t) * (void *const *)y;
    return (a > b) - (a < b);
}

/* Size 0 gives valid, distinct pointers that do not overlap other blocks. */
static void test_zero(int kind)
{
    enum { N = 64 };
    void *z[N], *s[N], *all[2 * N];
    pb_allocator a;

    current = kind_names[kind];
    init(&a, kind);
    for (int i = 0; i < N; i++) {
        all[2 * i] = z[i] = take(&a, 0);
        all[2 * i + 1] = s[i] = take(&a, 16);
        fill(s[i], 16, (uint32_t)i);
    }
    if (kind == PB_ALLOC_SYSTEM) { /* size 0 is served as 16 */
        size_t held = 0;
        for (int i = 0; i < N; i++)
            held += pb__sys_footprint(z[i], 16) + pb__sys_footprint(s[i], 16);
        CHECK(a.reserved(a.state) == held && held >= 2 * N * 16);
    }
    qsort(all, 2 * N, sizeof all[0], cmp_ptr);
    for (int i = 1; i < 2 * N; i++)
        CHECK((uintptr_t)all[i] - (uintptr_t)all[i - 1] >= 16);
    for (int i = 0; i < N; i++) {
        CHECK(intact(s[i], 16, (uint32_t)i));
        a.free(a.state, z[i], 0);
        a.free(a.state, s[i], 16);
    }
    if (kind == PB_ALLOC_SYSTEM)
        CHECK(a.reserved(a.state) == 0);
    a.destroy(a.state);
}

static void test_system(void)
{
    pb_allocator a;
    current = "system";
    init(&a, PB_ALLOC_SYSTEM);
    void *p = take(&a, 24), *q = take(&a, 100000), *r = take(&a, 4097);
    size_t fp = pb__sys_footprint(p, 24), fq = pb__sys_footprint(q, 100000), fr = pb__sys_footprint(r, 4097);
    CHECK(fp >= 24 && fq >= 100000 && fr >= 4097);
    CHECK(a.reserved(a.state) == fp + fq + fr);
    fill(p, 24, 1);
    fill(q, 100000, 2);
    fill(r, 4097, 3);
    a.free(a.state, q, 100000);
    CHECK(a.reserved(a.state) == fp + fr);
    a.free(a.state, NULL, 123); /* like free(NULL): ignored */
    CHECK(a.reserved(a.state) == fp + fr);
    a.free(a.state, p, 24);
    a.free(a.state, r, 4097);
    CHECK(a.reserved(a.state) == 0);
    a.destroy(a.state);
}

static int contains(void *const *set, int n, const void *p)
{
    for (int i = 0; i < n; i++)
        if (set[i] == p)
            return 1;
    return 0;
}

static void test_pool(void)
{
    pb_allocator a;
    current = "pool";

    /* The first small allocation takes one 64 KiB chunk. */
    init(&a, PB_ALLOC_POOL);
    void *p = take(&a, 24);
    CHECK(a.reserved(a.state) == 64 * KIB);

    /* A freed block is reused by its own size class (24 -> 32 bytes) only. */
    fill(p, 24, 7);
    a.free(a.state, p, 24);
    CHECK(take(&a, 24) == p);
    a.free(a.state, p, 24);
    CHECK(take(&a, 32) == p);
    a.free(a.state, p, 32);
    CHECK(take(&a, 17) == p);
    a.free(a.state, p, 17);
    void *q = take(&a, 48);
    CHECK(q != p);
    void *z = take(&a, 16);
    a.free(a.state, z, 16);
    CHECK(take(&a, 0) == z); /* size 0 is the 16-byte class */
    a.free(a.state, z, 0);
    CHECK(take(&a, 16) == z);
    a.free(a.state, z, 16);
    a.free(a.state, q, 48);

    /* Freed blocks come back as a set, and reserved does not move. */
    enum { K = 100 };
    void *blk[K];
    for (int i = 0; i < K; i++) {
        blk[i] = take(&a, 64);
        fill(blk[i], 64, (uint32_t)i);
    }
    for (int i = 0; i < K; i++)
        for (int j = 0; j < i; j++)
            CHECK(blk[i] != blk[j]);
    size_t r0 = a.reserved(a.state);
    for (int i = 0; i < K; i++)
        a.free(a.state, blk[i], 64);
    for (int i = 0; i < K; i++) {
        void *b = take(&a, 64);
        CHECK(contains(blk, K, b));
        fill(b, 64, 0);
    }
    CHECK(a.reserved(a.state) == r0);
    for (int i = 0; i < K; i++)
        a.free(a.state, blk[i], 64);

    /* 4096 is pooled; 4097 and up go to the system, accounted while live. */
    void *big4096 = take(&a, 4096);
    a.free(a.state, big4096, 4096);
    CHECK(take(&a, 4096) == big4096);
    a.free(a.state, big4096, 4096);
    r0 = a.reserved(a.state);
    void *l1 = take(&a, 4097), *l2 = take(&a, 100000);
    fill(l1, 4097, 1);
    fill(l2, 100000, 2);
    CHECK(a.reserved(a.state) >= r0 + 4097 + 100000);
    a.free(a.state, l1, 4097);
    CHECK(a.reserved(a.state) >= r0 + 100000 && a.reserved(a.state) < r0 + 100000 + 4097);
    a.free(a.state, l2, 100000);
    CHECK(a.reserved(a.state) == r0);
    a.free(a.state, NULL, 24); /* ignored */
    a.free(a.state, NULL, 5000);
    CHECK(a.reserved(a.state) == r0);

    /* Impossible sizes fail cleanly (without reaching malloc). */
    CHECK(a.alloc(a.state, SIZE_MAX) == NULL);
    CHECK(a.alloc(a.state, SIZE_MAX - 15) == NULL);
    CHECK(a.reserved(a.state) == r0);
    a.destroy(a.state);

    /* A chunk's tail is not lost: 15 blocks of 4096 fill 61440 of the 65520
     * usable bytes; the 16th needs a new chunk; the 4080-byte tail serves
     * the next 4080-byte request. */
    init(&a, PB_ALLOC_POOL);
    void *c[16];
    for (int i = 0; i < 16; i++)
        c[i] = take(&a, 4096);
    CHECK(a.reserved(a.state) == 2 * 64 * KIB);
    for (int i = 1; i < 15; i++)
        CHECK((char *)c[i] == (char *)c[i - 1] + 4096);
    CHECK(take(&a, 4080) == (char *)c[14] + 4096);
    CHECK(a.reserved(a.state) == 2 * 64 * KIB);
    a.destroy(a.state); /* with everything still live */

    /* Steady-state churn (each slot keeps its size, as frames of one
     * program do) never grows the pool once warmed up. */
    init(&a, PB_ALLOC_POOL);
    enum { S = 300 };
    static struct slot sl[S];
    for (int i = 0; i < S; i++) {
        sl[i].size = small_sizes[i % NELEM(small_sizes)];
        sl[i].seed = (uint32_t)i;
        sl[i].p = take(&a, sl[i].size);
        fill(sl[i].p, sl[i].size, sl[i].seed);
    }
    r0 = a.reserved(a.state);
    for (int op = 0; op < 50000; op++) {
        struct slot *s = &sl[rng() % S];
        CHECK(intact(s->p, s->size, s->seed));
        a.free(a.state, s->p, s->size);
        s->seed = (uint32_t)rng();
        s->p = take(&a, s->size);
        fill(s->p, s->size, s->seed);
    }
    CHECK(a.reserved(a.state) == r0);

    /* Destroy with small and large blocks live, after freeing the newest
     * and a middle large block: the rest must still be found (no leak). */
    void *big[5];
    for (int i = 0; i < 5; i++) {
        big[i] = take(&a, 5000 + (size_t)i);
        fill(big[i], 5000 + (size_t)i, (uint32_t)i);
    }
    a.free(a.state, big[4], 5004);
    a.free(a.state, big[2], 5002);
    a.free(a.state, big[0], 5000);
    CHECK(intact(big[1], 5001, 1) && intact(big[3], 5003, 3));
    a.destroy(a.state);
}

static void test_bump(void)
{
    pb_allocator a;
    current = "bump";

    init(&a, PB_ALLOC_BUMP);
    char *p = (char *)take(&a, 16);
    CHECK(a.reserved(a.state) == MIB);
    /* Consecutive blocks are adjacent, sizes rounded up to 16. */
    char *q = (char *)take(&a, 24);
    CHECK(q == p + 16);
    char *r = (char *)take(&a, 0);
    CHECK(r == q + 32);
    char *s = (char *)take(&a, 1);
    CHECK(s == r + 16);
    /* free is a no-op: nothing is reused, nothing given back. */
    a.free(a.state, s, 1);
    a.free(a.state, NULL, 16);
    CHECK(take(&a, 1) == s + 16);
    CHECK(a.reserved(a.state) == MIB);

    /* Requests too big for a 1 MiB chunk get their own chunk; the current
     * chunk stays current. */
    char *big = (char *)take(&a, 3 * MIB);
    fill(big, 3 * MIB, 3);
    CHECK(a.reserved(a.state) == MIB + 16 + 3 * MIB);
    CHECK(take(&a, 16) == s + 32);
    char *onemib = (char *)take(&a, MIB);
    fill(onemib, MIB, 4);
    CHECK(a.reserved(a.state) == MIB + (16 + 3 * MIB) + (16 + MIB));
    CHECK(intact(big, 3 * MIB, 3));

    /* Filling the chunk takes a new 1 MiB one. */
    size_t r0 = a.reserved(a.state);
    int n = 0;
    while (a.reserved(a.state) == r0) {
        void *b = take(&a, 4096);
        fill(b, 4096, (uint32_t)n);
        n++;
    }
    CHECK(n == 256); /* 1 MiB - 16 header - 96 used = 255 blocks, then a new chunk */
    CHECK(a.reserved(a.state) == r0 + MIB);
    take(&a, 100000);
    take(&a, 4097);

    /* Impossible sizes fail cleanly. */
    r0 = a.reserved(a.state);
    CHECK(a.alloc(a.state, SIZE_MAX) == NULL);
    CHECK(a.alloc(a.state, SIZE_MAX - 15) == NULL);
    CHECK(a.reserved(a.state) == r0);
    a.destroy(a.state); /* with everything still live: no leak */
}

/* Under ASan, freed blocks and the bytes past a block's size are poisoned,
 * for every allocator (system gets this from ASan itself). */
static void test_asan_poisoning(int kind)
{
#ifdef TEST_ASAN
    pb_allocator a;
    current = kind_names[kind];
    init(&a, kind);
    char *p = (char *)take(&a, 24);
    CHECK(!__asan_address_is_poisoned(p) && !__asan_address_is_poisoned(p + 23));
    CHECK(__asan_address_is_poisoned(p + 24));
    char *q = (char *)take(&a, 40);
    a.free(a.state, p, 24);
    CHECK(__asan_address_is_poisoned(p));
    a.free(a.state, q, 40);
    CHECK(__asan_address_is_poisoned(q) && __asan_address_is_poisoned(q + 39));
    if (kind == PB_ALLOC_POOL) {
        char *r = (char *)take(&a, 24); /* recycled: live again */
        CHECK(r == p && !__asan_address_is_poisoned(r + 23));
        a.free(a.state, r, 24);
    }
    a.destroy(a.state);
#else
    (void)kind;
#endif
}

/* The dispatch (pb_alloc_reserved, pb_free, pb_reserved) calls a built-in
 * allocator directly by its tag, and anyone else's through its pointers: a
 * struct filled by hand (its tag zero, PB__BUILTIN_NONE) around the system
 * allocator, whose calls are counted. */
static int custom_calls;
static void *custom_alloc(void *state, size_t size)
{
    custom_calls++;
    return pb__system_alloc(state, size);
}
static void custom_free(void *state, void *ptr, size_t size)
{
    custom_calls++;
    pb__system_free(state, ptr, size);
}
static size_t custom_reserved(void *state)
{
    custom_calls++;
    return pb__system_reserved(state);
}

static void test_dispatch(void)
{
    pb_allocator a, custom;
    size_t reserved = 0;
    void *p;
    current = "dispatch";
    init(&a, PB_ALLOC_SYSTEM);
    CHECK(a.builtin == PB__BUILTIN_SYSTEM);
    a.destroy(a.state);
    init(&a, PB_ALLOC_POOL);
    CHECK(a.builtin == PB__BUILTIN_POOL);
    a.destroy(a.state);
    init(&a, PB_ALLOC_BUMP);
    CHECK(a.builtin == PB__BUILTIN_BUMP);
    a.destroy(a.state);

    init(&a, PB_ALLOC_SYSTEM);  /* its state, under someone else's functions */
    memset(&custom, 0, sizeof custom);
    custom.state = a.state;
    custom.alloc = custom_alloc;
    custom.free = custom_free;
    custom.reserved = custom_reserved;
    custom.destroy = a.destroy;
    p = pb_alloc_reserved(&custom, 100, &reserved);
    CHECK(p != NULL && custom_calls == 2);
    CHECK(reserved >= 100 && reserved == pb__system_reserved(a.state));
    CHECK(pb_reserved(&custom) == reserved && custom_calls == 3);
    pb_free(&custom, p, 100);
    CHECK(custom_calls == 4 && pb_reserved(&custom) == 0);
    custom.destroy(custom.state);
}

int main(void)
{
    test_init_errors();
    test_dispatch();
    for (int kind = PB_ALLOC_SYSTEM; kind <= PB_ALLOC_BUMP; kind++) {
        test_mixed(kind);
        test_zero(kind);
        test_asan_poisoning(kind);
    }
    test_system();
    test_system_counts_usable_sizes();
    test_pool();
    test_bump();
    printf("test_allocators: all checks passed\n");
    return 0;
}
