"""go_stack against Go: the stack a parked goroutine really holds.

The go_stack strategy (strategies/go_stack.py) follows Go's runtime: a
goroutine starts on a 2048-byte stack, and a call whose frame and the
928-byte stackGuard no longer fit replaces the stack with one twice the
size (doubled until they fit), copying the used part. This module checks
that rule against Debian's Go on the chain shape:

- :func:`generate` writes one Go program holding every case (depth, locals):
  N goroutines, each calling ``level_depth`` -> ... -> ``level_0`` (every
  level ``//go:noinline`` with a ``[locals]byte`` array it writes before its
  call and reads after it, so the array is in its frame while the goroutine
  waits), parked at the leaf on a channel. The program reads
  ``runtime.MemStats.StackInuse`` after ``runtime.GC()`` once before
  starting the goroutines and once when every one is parked, and prints
  the difference over N (StackInuse counts whole 32 KiB spans and per-P
  caches, hence a large N and GOMAXPROCS=1); then it releases them.
  Each case runs twice: cold, and warm (N goroutines parked and released
  first). A goroutine parks on a channel with a sudog; when the runtime's
  sudog caches are empty -- N goroutines parking at once empty them --
  ``acquireSudog`` allocates one with ``mallocgc`` on the parking
  goroutine's stack, a deeper park path than the cached one.
- :func:`build` compiles it with ``go build -gcflags=-S`` in a cache folder
  (GOCACHE and GOPATH inside it, GOTOOLCHAIN=local), keeping the
  assembly listing, from which :func:`go_frames` reads each level's frame
  size.
- :func:`model_case` runs the chain workload under go_stack: a goroutine's
  final stack is ``(peak_reserved_bytes at T tasks - at 1 task) / (T - 1)``
  (the peak also holds the old stack of the last goroutine to grow, for
  the moment of the copy: the difference cancels it).

Nothing here is a pass/fail gate: the model's frames (a 64-byte header,
the locals, a pointer or a 16-byte io leaf) are not Go's, so the stack
sizes agree where both land on the same power of two.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ...model.errors import UsageError
from . import toolchain

DEPTHS = (1, 4, 8, 16, 32)
LOCALS = (0, 64, 256, 1024)
QUICK_DEPTHS, QUICK_LOCALS = (1, 8), (0, 256)
GOROUTINES = 20_000
QUICK_GOROUTINES = 2_000
GOROUTINE_BYTES = 256 << 20  # fewer goroutines when N of the model's stacks pass this
MIN_GOROUTINES = 2_000
MODEL_TASKS = 64
STRATEGY = "go_stack"
# The model's goroutine starts on 2048 bytes and never shrinks. Go 1.19
# starts goroutines on the average stack the last GC scanned (plus the
# guard, rounded to a power of two) and halves a stack under a quarter
# used at each GC -- the GC this program runs to read StackInuse. Both
# are switched off, so the doubling rule is what is compared.
GODEBUG = "adaptivestackstart=0,gcshrinkstackoff=1"

MISSING = ("go not found (put go on the PATH, or set GO; Debian: apt-get install golang-go): "
           "skipping the go_stack comparison")


def find_go() -> toolchain.Toolchain | None:
    """go from $GO or the PATH, or None."""
    path = os.environ.get("GO") or shutil.which("go")
    if not path:
        return None
    version = toolchain._version(path, ["version"])
    if version is None:
        return None
    return toolchain.Toolchain("go", "go", path, version, ("build", "-gcflags=-S"), "main.go")


@dataclass(frozen=True)
class Case:
    """One chain shape: ``depth`` + 1 levels, ``locals`` bytes of array each."""

    depth: int
    locals: int


def select_cases(workloads=None, params=None, quick: bool = False) -> list:
    """The cases for ``pinbench validate --go``: every depth and locals size
    of :data:`DEPTHS` x :data:`LOCALS` (``quick``: a small grid), either
    axis replaced by ``--param depth=...`` / ``--param locals=...``."""
    from ..suite import parse_param_flags, split_names
    from ..workloads import get_workload

    names = split_names(workloads) if workloads else ["chain"]
    if names != ["chain"]:
        others = ", ".join(n for n in names if n != "chain")
        raise UsageError(f"--go compares the chain workload only, not {others}")
    sweeps = parse_param_flags(params)
    other = [name for name in sweeps if name not in ("depth", "locals")]
    if other:
        raise UsageError(f"--go sweeps depth and locals only, not {', '.join(other)}")
    chain = get_workload("chain")
    axes = {"depth": QUICK_DEPTHS if quick else DEPTHS, "locals": QUICK_LOCALS if quick else LOCALS}
    for name, values in sweeps.items():
        axes[name] = [chain.parse_params({name: value})[name] for value in values]
    return [Case(int(d), int(l)) for d in axes["depth"] for l in axes["locals"]]


def _level(case_id: int, level: int, locals_: int) -> str:
    name = f"c{case_id}_level{level}"
    if level == 0:
        call = "atomic.AddInt64(&parked, 1)\n\tr := <-release"
    else:
        call = f"r := c{case_id}_level{level - 1}(seed + 1)"
    if locals_ == 0:
        return f"//go:noinline\nfunc {name}(seed int) int {{\n\t{call}\n\treturn r + seed\n}}\n"
    return (
        f"//go:noinline\nfunc {name}(seed int) int {{\n"
        f"\tvar buf [{locals_}]byte\n"
        "\tfor i := range buf {\n\t\tbuf[i] = byte(seed + i)\n\t}\n"
        f"\t{call}\n"
        "\treturn r + int(buf[(seed+r)%len(buf)])\n}\n"
    )


def generate(cases) -> str:
    """One Go program with every case; ``prog CASE N`` runs case CASE with
    N goroutines and prints ``before after n`` (StackInuse bytes)."""
    parts = [GO_HEAD]
    for index, case in enumerate(cases):
        for level in range(case.depth + 1):
            parts.append(_level(index, level, case.locals))
        parts.append(
            f"func c{index}_task() {{\n"
            f"\tr := c{index}_level{case.depth}(int(atomic.AddInt64(&next, 1)))\n"
            "\tatomic.AddInt64(&sum, int64(r))\n\tdone.Done()\n}\n"
        )
    parts.append("var tasks = []func(){" + ", ".join(f"c{i}_task" for i in range(len(cases))) + "}\n")
    parts.append(GO_MAIN)
    return "\n".join(parts)


GO_HEAD = """\
// Generated by pinbench (bench/validate/go.py): the chain shape, parked.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

var (
	release             = make(chan int)
	done                sync.WaitGroup
	next, sum, parked   int64
)
"""

GO_MAIN = """\
func stackInuse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.StackInuse
}

// warmUp parks n goroutines on a channel of their own and lets them go:
// the n sudogs they parked with return to the runtime's caches, so the
// measured goroutines park without allocating one (acquireSudog's
// new(sudog) runs mallocgc on the parking goroutine's stack).
func warmUp(n int) {
	warm := make(chan int)
	var waiting int64
	for i := 0; i < n; i++ {
		go func() {
			atomic.AddInt64(&waiting, 1)
			<-warm
			atomic.AddInt64(&waiting, -1)
		}()
	}
	for atomic.LoadInt64(&waiting) < int64(n) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	close(warm)
	for atomic.LoadInt64(&waiting) > 0 {
		time.Sleep(time.Millisecond)
	}
}

func main() {
	runtime.GOMAXPROCS(1) // one P: one stack cache, and a goroutine runs until it parks
	which, _ := strconv.Atoi(os.Args[1])
	n, _ := strconv.Atoi(os.Args[2])
	task := tasks[which]
	before := stackInuse()
	if len(os.Args) > 3 && os.Args[3] == "warm" {
		warmUp(n)
	}
	done.Add(n)
	for i := 0; i < n; i++ {
		go task()
	}
	// The leaf counts itself with an atomic add (no call, no frame) just
	// before it parks; once all have, a pause lets the last one park.
	for atomic.LoadInt64(&parked) < int64(n) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	after := stackInuse()
	close(release)
	done.Wait()
	fmt.Println(before, after, n, atomic.LoadInt64(&sum))
}
"""


# -- building ------------------------------------------------------------------


def _env(root: Path) -> dict:
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


def build(tool: toolchain.Toolchain, source: str, cache_dir=None) -> tuple:
    """``(executable, assembly listing)`` for ``source``, built now or found
    in the cache (``<cache>/go-<hash>/``, as the Rust and C++ builds are)."""
    env = _env(toolchain.cache_root(cache_dir))
    binary = toolchain.compile_cached(tool, source, cache_dir, env=env, log_name="build.log")
    return binary, (binary.parent / "build.log").read_text()


FRAME_LINE = re.compile(r"^main\.c(\d+)_(level(\d+)|task) STEXT.*?\blocals=0x([0-9a-f]+)", re.M)


def go_frames(listing: str) -> dict:
    """``{(case, level): bytes}`` from ``-gcflags=-S``: each function's
    frame (the TEXT line's ``locals``, which holds the saved frame pointer)
    plus the 8-byte return address its caller's CALL pushes; level -1 is
    the task function that calls the chain's root."""
    frames = {}
    for m in FRAME_LINE.finditer(listing):
        level = -1 if m.group(2) == "task" else int(m.group(3))
        frames[int(m.group(1)), level] = int(m.group(4), 16) + 8
    return frames


# -- running -------------------------------------------------------------------


def model_case(case: Case, tasks: int = MODEL_TASKS) -> dict:
    """go_stack on the chain workload: the stack each parked goroutine holds
    and the bytes of frames on it, from two runs (``tasks`` and 1)."""
    from ..runner import execute
    from ..workloads import get_workload

    def run(t):
        program = get_workload("chain").compile({"depth": case.depth, "locals": case.locals, "waits": 1, "tasks": t})
        return execute(program, STRATEGY, "system")

    many, one = run(tasks), run(1)
    return {
        "tasks": tasks,
        "peak_reserved": many["peak_reserved_bytes"],
        "stack": (many["peak_reserved_bytes"] - one["peak_reserved_bytes"]) // (tasks - 1),
        "used": many["peak_live_bytes"] // tasks,
        "growths": many["stack_growths"] // tasks,
    }


def goroutines_for(model_stack: int, cap: int = GOROUTINES) -> int:
    """N: GOROUTINES, fewer when N of the model's stacks would pass GOROUTINE_BYTES."""
    return max(min(cap, MIN_GOROUTINES), min(cap, GOROUTINE_BYTES // max(model_stack, 1)))


def run_case(binary: Path, index: int, goroutines: int, timeout: float, warm: bool = False) -> dict:
    """Case ``index`` with ``goroutines``; ``warm``: after as many parked and
    released first (the runtime's sudog caches full)."""
    out = toolchain.run_binary(binary, [index, goroutines, "warm" if warm else "cold"], timeout, "go",
                               env={"GODEBUG": GODEBUG})
    fields = out.split()
    try:
        before, after, n, _sum = (int(f) for f in fields)
    except ValueError:
        raise UsageError(f"the go program {binary} printed an unreadable line: {out.strip()[:80]!r}") from None
    return {"before": before, "after": after, "goroutines": n, "per_goroutine": (after - before) / n}


def nearest_power(x: float) -> int:
    """The power of two nearest to ``x`` (in log terms): the stack a
    measured per-goroutine figure stands for; 0 for nothing measured."""
    if x <= 0:
        return 0
    p = 1
    while p * 2 <= x:
        p *= 2
    return p * 2 if x / p > (p * 2) / x else p


def compare(cases=None, *, goroutines: int = GOROUTINES, cache_dir=None, timeout: float = 600.0, log=None):
    """One row per case: the model's frames and stack beside Go's. None when
    go is missing (the caller prints :data:`MISSING`)."""
    cases = list(cases or [Case(d, l) for d in DEPTHS for l in LOCALS])
    tool = find_go()
    if tool is None:
        return None
    if log:
        log(f"building the Go program ({len(cases)} cases) with {tool.version}")
    binary, listing = build(tool, generate(cases), cache_dir)
    frames = go_frames(listing)
    rows = []
    for index, case in enumerate(cases):
        model = model_case(case)
        n = goroutines_for(model["stack"], goroutines)
        if log:
            log(f"depth={case.depth} locals={case.locals}: {n} goroutines")
        native = run_case(binary, index, n, timeout)
        warm = run_case(binary, index, n, timeout, warm=True)
        levels = [frames.get((index, level)) for level in range(case.depth + 1)]
        go_used = sum(levels) if None not in levels else None
        go_stack = nearest_power(native["per_goroutine"])
        rows.append({
            "depth": case.depth,
            "locals": case.locals,
            "model_frames": model["used"],
            "go_frames": go_used,
            "go_task_frame": frames.get((index, -1)),
            "model_stack": model["stack"],
            "go_per_goroutine": native["per_goroutine"],
            "go_stack": go_stack,
            "goroutines": native["goroutines"],
            "go_warm_per_goroutine": warm["per_goroutine"],
            "go_warm_stack": nearest_power(warm["per_goroutine"]),
            "ratio": native["per_goroutine"] / model["stack"],
            "agree": go_stack == model["stack"],
            "warm_agree": nearest_power(warm["per_goroutine"]) == model["stack"],
            "model_growths": model["growths"],
        })
    return {"go": tool.version.splitlines()[0], "rows": rows}


def format_table(result, markdown: bool = False) -> str:
    """The table: per case, the model's frames and stack, Go's frames, and
    Go's stack per goroutine, cold (every goroutine allocates the sudog it
    parks with) and warm (the sudogs cached)."""
    from . import _grid
    from ..formatting import grouped

    headers = ["depth", "locals", "model frames B", "Go frames B", "model stack B", "Go B/goroutine",
               "Go stack B", "Go/model", "stacks", "Go warm B/goroutine", "warm stack B", "warm", "goroutines"]
    verdict = lambda ok: "agree" if ok else "DIFFER"
    rows = [
        [r["depth"], r["locals"], r["model_frames"], r["go_frames"] if r["go_frames"] is not None else "-",
         r["model_stack"], f"{r['go_per_goroutine']:.1f}", r["go_stack"], grouped(r["ratio"]), verdict(r["agree"]),
         f"{r['go_warm_per_goroutine']:.1f}", r["go_warm_stack"], verdict(r["warm_agree"]), r["goroutines"]]
        for r in result["rows"]
    ]
    cold = sum(r["agree"] for r in result["rows"])
    warm = sum(r["warm_agree"] for r in result["rows"])
    return "\n".join([
        f"go_stack: stack bytes per goroutine, the model beside {result['go']} (chain, parked at the leaf):",
        _grid(headers, rows, markdown),
        "",
        f"stack sizes agree: {cold} of {len(rows)} cold, {warm} of {len(rows)} warm (cold: each goroutine allocates "
        "the sudog it parks with, mallocgc on its stack; warm: as many goroutines parked and released first). "
        "Frames: the chain's levels only; a parked goroutine's stack also holds its task function and the "
        "runtime's park path (chanrecv1 -> chanrecv -> gopark)",
    ])
