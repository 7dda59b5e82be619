"""What a task holds: its strategy's blocks, used or not, and its runtime's
own task objects (a g, tokio's cell, a VirtualThread...), asserted exactly
for every strategy against tests/oracles/rules.py (written from the runtimes'
sources, not from strategies/*.py); and the tables that must lead with it."""

import json
import re

import pytest

from pinbench import strategies

from .helpers import pinbench
from .oracles import rules
from .programs import run_workload
from .test_cli import _ratio_text as ratio_text

STRATEGIES = list(strategies.BUILTIN) + ["halo:elide_args=1"]
STACK_BASED = ("go_stack", "loom", "dotnet", "swift_slab", "fiber")


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("workload,params", [
    ("million", {"tasks": 7}),
    ("chain", {"depth": 0, "borrow": "all", "waits": 1, "locals": 64, "tasks": 3}),
    ("chain", {"depth": 4, "borrow": "10", "waits": 1, "locals": 32, "tasks": 5}),  # no stack grows
    ("chain", {"depth": 3, "borrow": "none", "waits": 1, "locals": 0, "tasks": 2}),
])
def test_runtime_objects_and_held_bytes(workload, params, strategy):
    _, parsed, m = run_workload(workload, strategy, **params)
    runtime, held = rules.held(workload, strategy, **parsed)
    tasks = parsed["tasks"]
    assert m["runtime_bytes"] == tasks * runtime and m["runtime_bytes_per_task"] == runtime
    # Every task is parked at once at the peak, and holds the same.
    assert m["peak_held_tasks"] == tasks
    assert m["peak_held_bytes"] == tasks * held and m["held_bytes_per_live_task"] == held
    assert m["runtime_live_end"] == 0


def test_the_runtime_objects_are_what_their_sources_say():
    """A parked idle task (million) under each runtime, spelled out: the
    numbers docs/model.md quotes."""
    want = {
        "always_heap": (0, 120),  # the g++ frame is the whole task
        "halo": (0, 88), "always_heap:clang=1": (0, 88),  # clang's: head 56, io awaiter 16, arg 8, index
        "pinbox": (88, 136), "anchor_box": (88, 136), "rc": (88, 136),  # a 48-byte future in a 136-byte cell
        "go_stack": (416, 2048 + 416),  # a 2 KiB stack and its g
        # a 240-byte chunk (16 of metadata, C2's 80-byte frame, the JDK's park and entry
        # frames, 64 and 80), its 56-byte object, the VirtualThread's 304: JDK 25's 600
        "loom": (304 + 56, 240 + 56 + 304),
        "dotnet": (88, 80 + 88),  # the box: its state machine and 88 bytes of Task
        "swift_slab": (224, 80 + 224),  # the task's allocation: its context and the AsyncTask
        "fiber": (320, 131072 + 4096),  # the control block inside the mapping
    }
    for strategy, (runtime, held) in want.items():
        _, _, m = run_workload("million", strategy, tasks=3)
        assert (m["runtime_bytes_per_task"], m["held_bytes_per_live_task"]) == (runtime, held), strategy


def test_dotnet_counts_a_box_object_once_however_often_the_pool_reuses_it():
    _, _, fresh = run_workload("select_loop", "dotnet", iterations=9, tasks=1)
    _, _, pooled = run_workload("select_loop", "dotnet:pool=2", iterations=9, tasks=1)
    # main, then each select's two arms; pooled: main, read_fast, timeout, read_slow once each
    assert fresh["runtime_bytes"] == rules.DOTNET_BOX * (1 + 2 * 9)
    assert pooled["runtime_bytes"] == rules.DOTNET_BOX * 4


def _headline_rows(stdout: str) -> dict:
    """strategy -> (held, x best, allocs, x best) from run's headline table (one row per strategy)."""
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 6 and cells[1] in STRATEGIES:
            rows[cells[1]] = tuple(cells[2:])
    return rows


def test_run_headline_leads_with_held_bytes_not_frames_in_use(tmp_path):
    """The headline table: a stack-based strategy's held bytes (its whole
    stack, chunk, box or task allocation, and its runtime objects) stand
    where a reader looks first, with their ratio to the least held; the
    frames in use are the document's (and show's) beside them."""
    params = {"depth": 4, "borrow": "all", "waits": 1, "locals": 32, "tasks": 3}  # no stack grows
    flags = sum((["-p", f"{k}={v}"] for k, v in params.items()), [])
    done = pinbench("run", "--counts-only", "-w", "chain", "-s", "all", "-a", "system", *flags,
                        "-o", tmp_path / "out", cwd=tmp_path, columns=100)
    assert done.returncode == 0, done.stderr
    heads = [line for line in done.stdout.splitlines() if line.startswith("┃")]
    assert re.search(r"^┃\s*┃\s*┃\s*held B\s*┃\s*x\s*┃\s*allocs\s*┃\s*x\s*┃$", heads[0])
    assert re.search(r"strategy\s*┃\s*/live task\s*┃\s*best\s*┃\s*/task\s*┃\s*best\s*┃$", heads[1])
    rows = _headline_rows(done.stdout)
    assert set(rows) == set(strategies.BUILTIN)
    want = {strategy: rules.held("chain", strategy, **params) for strategy in strategies.BUILTIN}
    least = min(held for _, held in want.values())
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    in_use = {b["strategy"]: b["metrics"]["peak_bytes_per_live_task"] for b in doc["benchmarks"]}
    for strategy, (runtime, want_held) in want.items():
        assert rows[strategy][0] == str(want_held), strategy
        assert rows[strategy][1] == ratio_text(want_held, least), strategy
        if strategy in STACK_BASED:  # 688 B of frames in a 2 KiB stack, a 132 KiB fiber...
            assert in_use[strategy] < want_held, strategy
        else:  # heap blocks hold frames only: in use is what they hold, the runtime's cell aside
            assert in_use[strategy] == want_held - runtime, strategy
    assert rows["fiber"][0] == "135168" and rows["go_stack"][0] == str(2048 + 416)


def test_show_leads_with_held_bytes_and_says_what_alloc_bytes_sum(tmp_path):
    params = ["-p", "depth=8", "-p", "locals=600", "-p", "tasks=2"]  # Go's stack grows 2 -> 4 -> 8 KiB
    done = pinbench("run", "--counts-only", "-w", "chain", "-s", "go_stack", "-a", "system", *params,
                        "-o", tmp_path / "out", cwd=tmp_path, columns=100)
    assert done.returncode == 0, done.stderr
    shown = pinbench("show", tmp_path / "out", cwd=tmp_path, columns=100)
    lines = shown.stdout.splitlines()
    top = next(i for i, line in enumerate(lines) if line.startswith("workload"))
    assert lines[top].split()[:4] == ["workload", "alloc-", "held", "B"]  # the first number a reader meets
    assert lines[top + 1].split()[:5] == ["params", "strategy", "ator", "/live", "/task"]
    row = next(line for line in lines if " go_stack " in line).split()
    # held: the 8 KiB stack, the g, and (shared by the two live tasks) the
    # 4 KiB one the last growth copied from while both existed; alloc B:
    # every stack allocated, summed (2 + 4 + 8 KiB), as the caption says.
    assert row[3:6] == [str((2 * (8192 + rules.G) + 4096) // 2), "3", "14336"]
    assert "alloc B: every block allocated, summed" in " ".join(lines).replace("\n", " ")


def _block_widths(svg_text: str) -> dict:
    """{gid: drawn width in points} of the diagram's blocks."""
    from xml.etree import ElementTree as ET

    widths = {}
    for element in ET.fromstring(svg_text).iter():
        gid = element.get("id") or ""
        if gid.startswith("pinbench-block-"):
            path = next(child for child in element if child.tag.endswith("path"))
            xs = [float(x) for x in re.findall(r"[ML] ([\d.]+) [\d.]+", path.get("d"))]
            widths[gid] = max(xs) - min(xs)
    return widths


def test_layout_diagram_cuts_a_fiber_stack_so_heap_frames_stay_readable():
    """Every panel shares one byte scale, but a reserved part longer than
    RESERVED_CUT times the widest panel without it is cut, marked and
    labelled with its true bytes: the heap strategies' blocks stay inches
    wide beside a fiber's 132 KiB stack instead of a pixel."""
    import io

    from pinbench.bench.layout_view import figure
    from pinbench.bench.layout_view.model import task_view
    from pinbench.bench.workloads import get_workload

    program = get_workload("chain").compile({"depth": 4})
    views = [task_view(program, s) for s in ("always_heap", "go_stack", "fiber")]
    buffer = io.StringIO()
    figure.fig_layout(views).savefig(buffer, format="svg")
    svg = buffer.getvalue()
    widths = _block_widths(svg)
    frames = rules.chain_frames("always_heap", 4, 1, 64, set(range(5)))
    heap = [widths[f"pinbench-block-always_heap-{i + 1}-{size}"] for i, size in enumerate(reversed(frames))]
    points_per_byte = heap[0] / frames[-1]  # the scale every uncut block is drawn at
    assert sum(heap) > 72  # over an inch of frames: readable
    # go_stack's stack (4 KiB: Go's park path grows it) is short enough to be drawn whole, to scale.
    _, go = rules.held_while_waiting("chain", "go_stack", depth=4, locals=64)
    assert widths[f"pinbench-block-go_stack-1-{go}"] == pytest.approx(go * points_per_byte, rel=1e-3)
    # fiber's is cut to the used bytes plus 4 x the widest panel's bytes without reserved parts.
    used = 4 * rules.frame(64, rules.PTR) + rules.frame(64, rules.IO)  # its five frames, the leaf's with its io
    fiber = widths[f"pinbench-block-fiber-1-{rules.FIBER_STACK + rules.PAGE}"]
    assert fiber == pytest.approx((used + figure.RESERVED_CUT * sum(frames)) * points_per_byte, rel=1e-3)
    assert fiber < (rules.FIBER_STACK + rules.PAGE) * points_per_byte / 20
    reserved = rules.FIBER_STACK + rules.PAGE - used
    assert f"<!-- reserved {reserved:,} B, not to scale -->" in svg
    assert f"cuts a reserved part over {figure.RESERVED_CUT * sum(frames):,} B" in svg


def test_a_panels_cut_stacks_share_the_cut_length():
    """fanout k=2: the fiber panel's three stacks (the root's, an arm's
    each) are cut to a third of the length each, so the panel is no wider
    than one cut stack would be."""
    import io

    from pinbench.bench.layout_view import figure
    from pinbench.bench.layout_view.model import task_view
    from pinbench.bench.workloads import get_workload

    program = get_workload("fanout").compile({"k": 2, "depth": 0, "locals": 0})
    views = [task_view(program, s) for s in ("pinbox", "fiber")]
    buffer = io.StringIO()
    figure.fig_layout(views).savefig(buffer, format="svg")
    widths = _block_widths(buffer.getvalue())
    pinbox = rules.expected("fanout", "pinbox", k=2, depth=0, borrow="all", locals=0, tasks=1)["bytes_allocated"]
    points_per_byte = widths[f"pinbench-block-pinbox-1-{pinbox}"] / pinbox
    stack = rules.FIBER_STACK + rules.PAGE
    root, arm = rules.frame(0, 2 * rules.PTR), rules.frame(0, rules.IO)
    cut = figure.RESERVED_CUT * max(pinbox, root + 2 * arm)  # the widest panel without reserved parts
    for number, used in ((1, root), (2, arm), (3, arm)):
        want = (used + cut / 3) * points_per_byte
        assert widths[f"pinbench-block-fiber-{number}-{stack}"] == pytest.approx(want, rel=1e-3), number
