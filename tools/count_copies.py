"""The memcpy and memmove calls a native program makes in its warm rounds,
per caller and size: the figures of docs/validation.md's "Which copies the
native programs make". Build the programs with `pinbench validate`, then:

    python tools/count_copies.py ~/.cache/pinbench/native/rust-<hash>/prog

The program runs twice with a counter preloaded (LD_PRELOAD: it interposes
on the C library's memcpy and memmove, so it sees every call that is a call,
not a copy the compiler inlined, which is why the futures measured are made
large enough to need one), for 1 round and for 3; what the second run makes
beyond the first is two warm rounds, printed halved. A caller is the symbol
(``nm -C``) holding the call's return address.
"""

import bisect
import collections
import os
import re
import subprocess
import sys
import tempfile

COUNTER = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#define N 8192
static struct { void *ra; size_t n; unsigned long calls; char kind; } tab[N];
static void note(void *ra, size_t n, char kind) {
    unsigned h = ((uintptr_t)ra * 31u + n * 7u + (unsigned)kind) % N;
    for (int i = 0; i < N; i++, h = (h + 1) % N) {
        if (tab[h].calls == 0) { tab[h].ra = ra; tab[h].n = n; tab[h].kind = kind; }
        if (tab[h].ra == ra && tab[h].n == n && tab[h].kind == kind) { tab[h].calls++; return; }
    }
}
/* Byte loops the compiler must not turn back into memcpy calls. */
__attribute__((optimize("no-tree-loop-distribute-patterns")))
static void *copy(void *d, const void *s, size_t n) {
    unsigned char *dd = d; const unsigned char *ss = s;
    if (dd < ss) for (size_t i = 0; i < n; i++) dd[i] = ss[i];
    else for (size_t i = n; i-- > 0;) dd[i] = ss[i];
    return d;
}
void *memcpy(void *d, const void *s, size_t n) { note(__builtin_return_address(0), n, 'c'); return copy(d, s, n); }
void *memmove(void *d, const void *s, size_t n) { note(__builtin_return_address(0), n, 'm'); return copy(d, s, n); }
__attribute__((destructor)) static void dump(void) {
    FILE *f = fopen(getenv("COUNT_COPIES_OUT"), "w");
    Dl_info info;
    for (int i = 0; f && i < N; i++) if (tab[i].calls) {
        const char *obj = "?"; uintptr_t off = (uintptr_t)tab[i].ra;
        if (dladdr(tab[i].ra, &info) && info.dli_fname) { obj = info.dli_fname; off -= (uintptr_t)info.dli_fbase; }
        fprintf(f, "%c %lx %zu %lu %s\n", tab[i].kind, (unsigned long)off, tab[i].n, tab[i].calls, obj);
    }
    if (f) fclose(f);
}
"""


def symbols(prog):
    """(start addresses, names) of the program's functions, sorted."""
    out = subprocess.run(["nm", "-C", "--defined-only", prog], capture_output=True, text=True, check=True).stdout
    syms = sorted((int(a, 16), name) for a, kind, name in
                  (line.split(" ", 2) for line in out.splitlines() if line.count(" ") >= 2) if kind in "tTwW")
    return [a for a, _ in syms], [n for _, n in syms]


def count(prog, rounds, scratch, counter):
    out = os.path.join(scratch, f"copies.{rounds}")
    env = {**os.environ, "LD_PRELOAD": counter, "COUNT_COPIES_OUT": out}
    subprocess.run([prog, str(rounds)], env=env, stdout=subprocess.DEVNULL, check=True)
    addrs, names = symbols(prog)
    calls = collections.Counter()
    for line in open(out):
        kind, off, size, n, obj = line.split(" ", 4)
        if os.path.realpath(obj.strip()) == os.path.realpath(prog):
            caller = names[bisect.bisect_right(addrs, int(off, 16)) - 1]
        else:
            caller = os.path.basename(obj.strip())
        calls[({"c": "memcpy", "m": "memmove"}[kind], caller, int(size))] += int(n)
    return calls


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: python tools/count_copies.py PROGRAM (a native program `pinbench validate` built)")
    prog = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as scratch:
        counter = os.path.join(scratch, "counter.so")
        source = os.path.join(scratch, "counter.c")
        with open(source, "w") as f:
            f.write(COUNTER)
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", counter, source, "-ldl"], check=True)
        one, three = count(prog, 1, scratch, counter), count(prog, 3, scratch, counter)
    # Printing differs a little between the runs (longer lists of times): only what grew is a round's.
    warm = {key: (three[key] - one.get(key, 0)) / 2 for key in three if three[key] > one.get(key, 0)}
    print("per warm round: function, caller, bytes per call, calls")
    for (fn, caller, size), calls in sorted(warm.items(), key=lambda kv: -kv[0][2] * kv[1]):
        print(f"{fn:7s} {re.sub(r'::h[0-9a-f]{16}$', '', caller)[:100]:100s} {size:8d} {calls:10g}")


if __name__ == "__main__":
    main()
