"""An independent, slow evaluator of docs/model.md's value rules.

It shares no code with the executor: plain recursion over the compiled
program's arrays, no frames, no scheduling. Values do not depend on timing
except through select winners, which the durations decide, so this gives the
checksum every strategy must reproduce.
"""

from __future__ import annotations

import sys
from functools import lru_cache

MASK = (1 << 64) - 1
FNV_PRIME = 0x100000001B3
WORK, CALL, JOIN, SELECT, IO, YIELD, SPAWN, GEN = range(8)


def expected_checksum(prog) -> int:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 100_000))
    detached = [0]

    def steps(fn):
        start = int(prog.fn_step_start[fn])
        return range(start, start + int(prog.fn_step_count[fn]))

    def edges(step):
        start = int(prog.step_edge_start[step])
        return range(start, start + int(prog.step_edge_count[step]))

    def taken(edge, rdepth):
        return not prog.edge_back[edge] or rdepth < prog.edge_limit[edge]

    def child_rdepth(edge, rdepth):
        return rdepth + 1 if prog.edge_back[edge] else rdepth

    def work(mem, acc, n):
        for i in range(n):
            b = (mem[i] + (acc & 0xFF) + 1) & 0xFF
            mem[i] = b
            acc = ((acc ^ b) * FNV_PRIME) & MASK
        return acc

    @lru_cache(maxsize=None)
    def duration(fn, rdepth):
        total = 0
        for s in steps(fn):
            op = prog.step_op[s]
            if op == IO:
                total += int(prog.step_arg[s])
            elif op in (CALL, JOIN, SELECT) or (op == SPAWN and prog.step_wait[s]):
                ds = [duration(int(prog.edge_callee[e]), child_rdepth(e, rdepth))
                      for e in edges(s) if taken(e, rdepth)]
                if ds:
                    total += min(ds) if op == SELECT else max(ds)
        return total

    def value(fn, arg, rdepth):
        mem = [0] * int(prog.fn_locals[fn])
        acc, folded = 0, False
        for s in steps(fn):
            op = prog.step_op[s]
            es = list(edges(s))
            if op == WORK:
                acc = work(mem, acc, int(prog.step_arg[s]))
            elif op in (CALL, JOIN):
                for j, e in enumerate(es):
                    if taken(e, rdepth):
                        acc += value(int(prog.edge_callee[e]), arg * len(es) + j, child_rdepth(e, rdepth))
                        folded = True
            elif op == SELECT:
                arms = [(duration(int(prog.edge_callee[e]), child_rdepth(e, rdepth)), j, e)
                        for j, e in enumerate(es) if taken(e, rdepth)]
                if arms:
                    _, j, e = min(arms)
                    acc += value(int(prog.edge_callee[e]), arg * len(es) + j, child_rdepth(e, rdepth))
                    folded = True
            elif op == SPAWN:
                e = es[0]
                count = int(prog.step_arg[s])
                if taken(e, rdepth):
                    for i in range(count):
                        v = value(int(prog.edge_callee[e]), arg * count + i, child_rdepth(e, rdepth))
                        if prog.step_wait[s]:
                            acc += v
                            folded = True
                        else:
                            detached[0] += v
            elif op == GEN:
                e = es[0]
                if taken(e, rdepth):
                    g = int(prog.edge_callee[e])
                    gmem = [0] * int(prog.fn_locals[g])
                    gacc = 0
                    for _ in range(int(prog.step_arg[s])):
                        for gs in steps(g):
                            gacc = work(gmem, gacc, int(prog.step_arg[gs]))
                        acc += gacc + arg
                        folded = True
            acc &= MASK
        return (acc if folded else acc + arg) & MASK

    total = sum(value(int(prog.entry), i, 0) for i in range(int(prog.tasks)))
    return (total + detached[0]) & MASK
