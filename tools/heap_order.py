"""In what address order a program's runs get their blocks of one size from
malloc: the figures of docs/validation.md's "The executors' own
allocations". A run whose blocks come one after another in memory
(each 16 bytes of header past the last) walks its heap as a fresh one;
one served from scattered free chunks does not, and takes longer.

    python tools/heap_order.py SIZE BLOCKS -- COMMAND...

SIZE is the size asked of malloc (skynet's 80-byte futures), BLOCKS how
many such blocks one run allocates (skynet: 1,222,222, its tasks and the
handle Vecs). COMMAND runs with a recorder preloaded (LD_PRELOAD: every
malloc of SIZE bytes, in order); for each run it prints the share of
blocks that follow the one before at the next chunk (SIZE rounded up to
glibc's chunk), and the three most common steps between them. Works on a
native program and on the model's process alike, e.g.

    python tools/heap_order.py 80 1222222 -- ~/.cache/pinbench/native/rust-<hash>/prog 0 3 0
    python tools/heap_order.py 80 1222222 -- python tools/count_round.py skynet pinbox 3 levels=6
"""

import collections
import os
import subprocess
import sys
import tempfile

import numpy as np

RECORDER = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
static uint64_t *seen; static size_t n, cap = 1 << 27, size;
static void *(*next_malloc)(size_t);
void *malloc(size_t s) {
    if (!next_malloc) {
        next_malloc = dlsym(RTLD_NEXT, "malloc");
        size = strtoul(getenv("HEAP_ORDER_SIZE"), 0, 10);
        seen = mmap(0, cap * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    }
    void *p = next_malloc(s);
    if (s == size && n < cap) seen[n++] = (uintptr_t)p;
    return p;
}
__attribute__((destructor)) static void dump(void) {
    char name[4096];  /* one file per process: a parent must not overwrite its child's */
    snprintf(name, sizeof name, "%s.%d", getenv("HEAP_ORDER_OUT"), (int)getpid());
    int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) { write(fd, seen, n * 8); close(fd); }
}
"""


def main(argv):
    if len(argv) < 4 or argv[2] != "--" or not (argv[0].isdigit() and argv[1].isdigit()):
        print("usage: python tools/heap_order.py SIZE BLOCKS -- COMMAND... (SIZE and BLOCKS whole numbers; "
              "see the docstring)", file=sys.stderr)
        sys.exit(2)
    size, blocks, command = int(argv[0]), int(argv[1]), argv[3:]
    chunk = max(32, (size + 8 + 15) // 16 * 16)  # glibc: size + the size field, 16-aligned
    with tempfile.TemporaryDirectory() as folder:
        library, out = os.path.join(folder, "recorder.so"), os.path.join(folder, "order")
        source = os.path.join(folder, "recorder.c")
        with open(source, "w") as f:
            f.write(RECORDER)
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", library, source, "-ldl"], check=True)
        env = dict(os.environ, LD_PRELOAD=library, HEAP_ORDER_SIZE=str(size), HEAP_ORDER_OUT=out)
        try:
            subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        except (OSError, subprocess.CalledProcessError) as error:
            print(f"heap_order: the command failed ({error}); check COMMAND", file=sys.stderr)
            sys.exit(2)
        # The process that allocated the most such blocks is the one that ran the workload.
        order = max((np.fromfile(os.path.join(folder, name), dtype=np.int64)
                     for name in os.listdir(folder) if name.startswith("order.")), key=len, default=np.array([]))
    # The process's last runs' blocks: any earlier ones (an interpreter's own) are
    # skipped; blocks of the size allocated after the last run would shift the runs.
    runs = len(order) // blocks
    if runs == 0:
        print(f"heap_order: {len(order):,} blocks of {size} bytes recorded, fewer than one run's "
              f"{blocks:,}; check SIZE and BLOCKS", file=sys.stderr)
        sys.exit(2)
    order = order[len(order) - runs * blocks:]
    for run in range(runs):
        steps = np.diff(order[run * blocks:(run + 1) * blocks])
        common = collections.Counter(steps.tolist()).most_common(3)
        print(f"run {run + 1}: {np.mean(steps == chunk):.1%} of blocks at the next chunk; "
              f"commonest steps {', '.join(f'{step:+d} B ({count:,})' for step, count in common)}")


if __name__ == "__main__":
    main(sys.argv[1:])
