"""The Go backend: the stack a parked goroutine really holds.

A layout of contiguous stacks that grow by copying, with every child a
plain call pushed on its caller's stack (``storage`` STACKS, ``stack_grows``,
every edge placed on the STACK), is a goroutine's: :func:`generate` writes
the program as Go, one ``//go:noinline`` function per function (its locals a
``[locals]byte`` array written before its waits and read after them, so the
array is in its frame while the goroutine waits; a call a plain Go call; an
io wait a receive from a channel nobody sends on; a yield
``runtime.Gosched``). Built with ``go build -gcflags=-S`` (its assembly
listing is kept beside the program: each function's frame, ``locals=``).

The program, run with the runs per round as its argument, starts itself
once per program and run (each case parks cold: the runtime's sudog caches
empty, so every goroutine allocates the sudog it parks with, ``mallocgc``
on its own stack) with ``GODEBUG`` switching off what the model has not
(:data:`GODEBUG`). Such a run starts N goroutines at the program's entry
(N: :data:`GOROUTINES`, fewer when their stacks would pass
:data:`GOROUTINE_BYTES`), waits until every one has reached its first io
wait, and reads ``runtime.MemStats.StackInuse`` (after ``runtime.GC()``)
before and after: the difference over N is the stack each parked goroutine
holds. StackInuse counts whole 32 KiB spans and per-P caches, hence a large
N and GOMAXPROCS=1. The row (:class:`backend.Held` ``reserved``) is compared
with the model's ``reserved_bytes_per_task`` as a stack's size class: the
nearest power of two of each.

What it cannot see: the bytes of frames in use (StackInuse counts stacks,
used or not), the goroutine's ``g`` (heap, not stack), allocations, and
anything after the first park (the goroutines are never released; the
process ends). A program with no io wait parks each goroutine once its
entry has returned; where some goroutines return without reaching an io
wait (one behind a recursion limit), the count stops growing and the
figure is read a second later, over those that parked and those done.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from ...model.layout import STACK, STACKS
from ...model.program import OP_CALL, OP_IO, OP_WORK, OP_YIELD
from ..emitter import Emitter
from . import toolchain

GOROUTINES = 20_000
MIN_GOROUTINES = 2_000
GOROUTINE_BYTES = 256 << 20  # fewer goroutines when N stacks (estimated) would pass this
# The model's goroutine starts on 2048 bytes and never shrinks. Go 1.19
# starts goroutines on the average stack the last GC scanned (plus the
# guard, rounded to a power of two) and halves a stack under a quarter
# used at each GC -- the GC this program runs to read StackInuse. Both
# are switched off, so the doubling rule is what is compared.
GODEBUG = "adaptivestackstart=0,gcshrinkstackoff=1"
MISSING = "put go on the PATH, or set GO; Debian: apt-get install golang-go"


def find_go() -> toolchain.Toolchain | None:
    """go from $GO or the PATH, or None."""
    path = os.environ.get("GO") or shutil.which("go")
    if not path:
        return None
    version = toolchain._version(path, ["version"])
    if version is None:
        return None
    return toolchain.Toolchain("go", "go", path, version, ("build", "-gcflags=-S"), "main.go")


def build_env(root: Path) -> dict:
    """go's caches inside the native build cache: works as root, offline,
    and never touches ~/go or ~/.cache/go-build."""
    return {
        **os.environ,
        "GOCACHE": str(root / "go-build"),
        "GOPATH": str(root / "gopath"),
        "GOTOOLCHAIN": "local",
        "GO111MODULE": "off",
        "GOFLAGS": "",
        "CGO_ENABLED": "0",
    }


def expresses(layout) -> bool:
    """A goroutine's layout: growing contiguous stacks, every child a plain
    call pushed on its caller's stack."""
    return bool(layout.storage == STACKS and layout.stack_grows and (layout.edge_place == STACK).all())


OPS = (OP_WORK, OP_CALL, OP_IO, OP_YIELD)


def _name(program: int, fn: int) -> str:
    return f"p{program}_f{fn}"


def _function(index: int, fn, recursive: bool) -> str:
    """One function: its locals written first, its steps in order, its
    locals read last (the array lives across every wait)."""
    for step in fn.steps:
        if step.op not in OPS:
            raise ValueError(f"{fn.name}: step {step.op} has no Go counterpart")  # expresses() refused it
    # A recursive program's functions also take the recursion depth, as the
    # Rust and C++ programs do (a back edge is followed while it is under its limit).
    params = "seed, rdepth int" if recursive else "seed int"
    out = Emitter(unit="\t")
    out.line("//go:noinline")
    with out.block(f"func {_name(index, fn.index)}({params}) int {{"):
        if fn.locals:
            out.line(f"var buf [{fn.locals}]byte")
            with out.block("for i := range buf {"):
                out.line("buf[i] = byte(seed + i)")
        out.line("r := 0")
        first_io = True
        for step in fn.steps:
            if step.op == OP_CALL:
                edge = step.edges[0]
                callee = _name(index, edge.callee)
                if not recursive:
                    out.line(f"r += {callee}(seed + 1)")
                elif edge.back:
                    with out.block(f"if rdepth < {edge.limit} {{"):
                        out.line(f"r += {callee}(seed+1, rdepth+1)")
                else:
                    out.line(f"r += {callee}(seed+1, rdepth)")
            elif step.op == OP_IO:  # io(k): one wait, however many ticks
                if first_io:
                    out.line("atomic.AddInt64(&parked, 1)")
                    first_io = False
                out.line("r += <-release")
            elif step.op == OP_YIELD:
                out.line("runtime.Gosched()")
        out.line("return r + int(buf[(seed+r)%len(buf)])" if fn.locals else "return r + seed")
    return out.text("\n")


def _estimate(view) -> int:
    """A generous bound on one goroutine's stack (its functions' frames,
    each once, the park path and the guard), to choose N."""
    frames = sum(fn.locals + 128 for fn in view.functions) + 2048
    stack = 2048
    while stack < frames:
        stack *= 2
    return stack


def goroutines_for(view) -> int:
    return max(MIN_GOROUTINES, min(GOROUTINES, GOROUTINE_BYTES // _estimate(view)))


def generate(cases) -> str:
    """One Go program for ``[(ProgramView, [Layout, ...])]``: every program
    once (Go lays out its frames whatever the model's layout), one row per
    program and layout."""
    parts = [GO_HEAD]
    roots = []
    for index, (view, layouts) in enumerate(cases):
        if not layouts:  # no layout of it is a goroutine's: nothing to run
            roots.append("{nil, 0, 0}")
            continue
        recursive = any(edge.back for fn in view.functions for step in fn.steps for edge in step.edges)
        for fn in view.functions:
            parts.append(_function(index, fn, recursive))
        # `go f(seed)`: as in any Go program, the compiler wraps the call in
        # a closure (Go 1.17 on), the goroutine's first frame.
        parks = any(step.op == OP_IO for fn in view.functions for step in fn.steps)
        # A program that never waits on io parks after its entry returns (the stack keeps its size).
        args = "i, 0" if recursive else "i"
        call = (f"{_name(index, view.entry)}({args})" if parks else
                f"func(i int) {{ {_name(index, view.entry)}({args}); atomic.AddInt64(&parked, 1); <-release }}(i)")
        start = Emitter(unit="\t")
        with start.block(f"func p{index}_start(n int) {{"), start.block("for i := 0; i < n; i++ {"):
            start.line(f"go {call}")
        parts.append(start.text("\n"))
        roots.append(f"{{p{index}_start, {goroutines_for(view)}, {len(layouts)}}}")
    parts.append("var programs = []program{\n\t" + ",\n\t".join(roots) + (",\n" if roots else "") + "}\n")
    parts.append(GO_MAIN.replace("@GODEBUG@", GODEBUG))
    return "\n".join(parts)


GO_HEAD = """\
// Generated by pinbench (bench/validate/go.py): each program's goroutines, parked.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

var (
	release      = make(chan int) // nobody sends: every goroutine stays parked
	parked int64
)

type program struct {
	start    func(n int)
	n        int
	variants int
}
"""

GO_MAIN = """\
func stackInuse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.StackInuse
}

// park runs program p: n goroutines at its entry, each until its first io
// wait; it prints "before after n" (StackInuse bytes).
func park(p program) {
	runtime.GOMAXPROCS(1) // one P: one stack cache, and a goroutine runs until it parks
	before := stackInuse()
	p.start(p.n)
	// The goroutine counts itself with an atomic add (no call, no frame)
	// just before it parks; once all have, a pause lets the last one park.
	last, still := int64(-1), 0
	for now := atomic.LoadInt64(&parked); now < int64(p.n) && still < 1000; now = atomic.LoadInt64(&parked) {
		if now == last {
			still++ // milliseconds without another goroutine parking
		} else {
			last, still = now, 0
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	fmt.Println(before, stackInuse(), p.n)
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "park" {
		which, _ := strconv.Atoi(os.Args[2])
		park(programs[which])
		return
	}
	runs, _ := strconv.Atoi(os.Args[1])
	for which, p := range programs {
		if p.variants == 0 {
			continue
		}
		least, stable := -1.0, true
		for run := 0; run < runs; run++ {
			cmd := exec.Command(os.Args[0], "park", strconv.Itoa(which))
			cmd.Env = append(os.Environ(), "GODEBUG=@GODEBUG@")
			cmd.Stderr = os.Stderr
			out, err := cmd.Output()
			if err != nil {
				fmt.Fprintln(os.Stderr, "program", which, "run", run, "failed:", err)
				os.Exit(1)
			}
			var before, after, n float64
			if _, err := fmt.Sscan(strings.TrimSpace(string(out)), &before, &after, &n); err != nil {
				fmt.Fprintln(os.Stderr, "program", which, "printed", string(out))
				os.Exit(1)
			}
			each := (after - before) / n
			if least >= 0 && (each > 1.05*least || least > 1.05*each) {
				stable = false
			}
			if least < 0 || each < least {
				least = each
			}
		}
		for v := 0; v < p.variants; v++ {
			row, _ := json.Marshal(map[string]interface{}{
				"program": which, "variant": v, "tasks": p.n, "reserved": least, "stable": stable,
			})
			fmt.Println(string(row))
		}
	}
}
"""


FRAME_LINE = re.compile(r"^main\.p(\d+)_f(\d+) STEXT.*?\blocals=0x([0-9a-f]+)", re.M)


def go_frames(listing: str) -> dict:
    """``{(program, function): bytes}`` from ``-gcflags=-S``: each function's
    frame (the TEXT line's ``locals``, which holds the saved frame pointer)
    plus the 8-byte return address its caller's CALL pushes."""
    return {(int(m.group(1)), int(m.group(2))): int(m.group(3), 16) + 8 for m in FRAME_LINE.finditer(listing)}
