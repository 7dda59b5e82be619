"""`pinbench report` and `pinbench explain`: every figure is drawn and is a
real image, the page is self-contained, and the layout model (and the
diagram drawn from it) agrees exactly with what the executor allocates.

Two small real runs are shared: one counts-only (seconds) with parameter
sweeps, one timed (pyperf, latency) for the time and latency figures.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import xml.etree.ElementTree as ET

import matplotlib.image as mpimg
import pytest

from pinbench import strategies
from pinbench.bench import plots, report
from pinbench.bench.layout_view.figure import MAX_DRAWN_BLOCKS, fig_layout
from pinbench.bench.layout_view.model import MAX_FRAMES, task_view
from pinbench.bench.results import RunDocument, read_results
from pinbench.bench.runner import execute
from pinbench.bench.workloads import get_workload

from .oracles import rules
from .helpers import assert_one_line_error, pinbench

STRATEGIES = list(strategies.BUILTIN)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    assert len(data) > 10_000, f"{path} is suspiciously small ({len(data)} bytes)"
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 200 and pixels.shape[1] > 800, (path, pixels.shape)
    assert pixels[..., :3].std() > 0.01, f"{path} is blank"


def assert_svg(path):
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg"), (path, root.tag)
    assert len(list(root.iter())) > 50, f"{path} has almost nothing in it"


def stems(folder):
    return sorted(p.stem for p in (folder / report.FIGURES_DIR).glob("*.png"))


# -- two real runs ---------------------------------------------------------------------


def run_and_report(tmp_path_factory, name, *run_args):
    """A run (``pinbench run --quick`` with ``run_args``) and its report:
    (the run's folder, the finished report command)."""
    cwd = tmp_path_factory.mktemp(name)
    out = cwd / "run"
    done = pinbench("run", "--quick", *run_args, "-o", out, cwd=cwd)
    assert done.returncode == 0, done.stderr
    done = pinbench("report", out, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return out, done


@pytest.fixture(scope="module")
def counts_run(tmp_path_factory):
    return run_and_report(tmp_path_factory, "counts", "--counts-only", "-w", "chain,fanout,server", "-p", "depth=0,2,5",
                          "-s", "all")


@pytest.fixture(scope="module")
def timed_run(tmp_path_factory):
    # Three strategies: timing (a worker process per benchmark) is what costs here; every
    # strategy's figures and colours are the counts run's.
    return run_and_report(
        tmp_path_factory, "timed", "-w", "chain,server", "-p", "depth=1,3", "-p", "rate=100000,400000",
        "-p", "requests=200", "-p", "tasks=20", "-s", "pinbox,rc,loom",
    )


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One workload, counts only: three figures, a report in a second or two."""
    cwd = tmp_path_factory.mktemp("tiny")
    out = cwd / "run"
    done = pinbench("run", "--quick", "--counts-only", "-w", "chain", "-p", "depth=2", "-o", out, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return out


def test_counts_only_run_draws_every_figure_it_can(counts_run):
    out, done = counts_run
    assert stems(out) == sorted([
        "held-memory", "frames-in-use", "allocs-per-task", "copied-bytes",
        "chain-scaling", "fanout-scaling",
        "chain-layout", "fanout-layout", "server-layout",
    ])
    for stem in stems(out):
        assert_png(out / "figures" / f"{stem}.png")
        assert_svg(out / "figures" / f"{stem}.svg")
    assert str(out / "report.html") in done.stdout
    assert "9 figures" in done.stdout


def test_timed_run_draws_time_and_latency_figures(timed_run):
    out, _ = timed_run
    assert stems(out) == sorted([
        "held-memory", "frames-in-use", "allocs-per-task", "copied-bytes", "time-per-task",
        "chain-scaling", "chain-latency", "chain-layout",
        "server-latency", "server-latency-vs-rate", "server-layout",
    ])
    for stem in stems(out):
        assert_png(out / "figures" / f"{stem}.png")
        assert_svg(out / "figures" / f"{stem}.svg")


def test_every_figure_is_left_out_when_there_is_nothing_to_draw(counts_run):
    doc = RunDocument.read(counts_run[0])
    benches = plots.workload_benches(doc)
    assert plots.fig_time(doc) is None  # counts only
    assert plots.fig_latency("chain", benches["chain"]) is None
    assert plots.fig_server_rate(benches["server"]) is None  # no rates swept
    assert plots.fig_scaling("server", benches["server"]) is None  # nothing swept


# -- the layout diagram against the run ------------------------------------------------------


def svg_blocks(path):
    """{strategy: (blocks, bytes)} from the gids the diagram puts on its blocks."""
    found = {}
    for element in ET.parse(path).getroot().iter():
        gid = element.get("id") or ""
        match = re.fullmatch(r"pinbench-(block|elided)-(.+)-(\d+)-(\d+)", gid)
        if not match:
            continue
        kind, strategy, a, b = match.groups()
        blocks, nbytes = found.get(strategy, (0, 0))
        if kind == "block":
            found[strategy] = (blocks + 1, nbytes + int(b))
        else:
            found[strategy] = (blocks + int(a), nbytes + int(b))
    return found


@pytest.mark.parametrize("workload", ["chain", "fanout"])
def test_layout_diagram_blocks_and_bytes_match_the_run(counts_run, workload):
    out, _ = counts_run
    doc = RunDocument.read(out)
    benches = plots.workload_benches(doc)[workload]
    params, views = report.layout_choice(workload, benches, STRATEGIES)
    drawn = svg_blocks(out / "figures" / f"{workload}-layout.svg")
    assert set(drawn) == set(STRATEGIES)
    for strategy in STRATEGIES:
        metrics = plots.pick(benches, params, strategy)["metrics"]
        if strategy in rules.STORAGE_STRATEGIES and strategy != "dotnet":  # what a waiting task holds
            assert drawn[strategy] == rules.held_while_waiting(workload, strategy, **params), strategy
            continue
        assert drawn[strategy] == (metrics["allocs_per_task"], metrics["bytes_per_task"]), strategy
    # The chooser draws the largest case that stays legible: chain at depth 5
    # (6 blocks); fanout at depth 0, since depth 2 makes 25 blocks under always_heap.
    assert params["depth"] == (5 if workload == "chain" else 0)


def test_layout_diagram_counts_blocks_it_does_not_draw():
    program = get_workload("fanout").compile({"k": 30, "depth": 1})
    views = [task_view(program, s) for s in STRATEGIES]
    fig = fig_layout(views)
    import io

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    buffer.seek(0)
    drawn = svg_blocks(buffer)
    for view in views:
        metrics = execute(program, view.strategy, "system")
        if view.strategy in rules.STORAGE_STRATEGIES and view.strategy != "dotnet":  # what a waiting task holds
            params = get_workload("fanout").parse_params({"k": "30", "depth": "1"})
            assert drawn[view.strategy] == rules.held_while_waiting("fanout", view.strategy, **params)
            continue
        assert drawn[view.strategy] == (metrics["allocs_per_task"], metrics["bytes_per_task"])
    assert drawn["always_heap"][0] == 61 > MAX_DRAWN_BLOCKS


def test_a_deep_diagram_draws_its_frames_as_one_image_in_the_svg_and_keeps_its_blocks():
    """Past RASTERIZED_ABOVE frames and parts in a panel, the SVG holds them
    as one image (not a path each); the blocks stay vectors with their ids,
    counted as the run counts them. A shallow diagram is all vectors."""
    import io

    from pinbench.bench.layout_view import figure

    for depth, rasterized in ((1000, True), (5, False)):
        params = get_workload("chain").parse_params({"depth": str(depth), "tasks": "1"})
        program = get_workload("chain").compile(params)
        views = [task_view(program, s) for s in ("go_stack", "pinbox")]  # a stack draws every frame on it
        buffer = io.StringIO()
        fig_layout(views).savefig(buffer, format="svg")
        text = buffer.getvalue()
        assert ("<image" in text) == rasterized, depth
        assert text.count("<path") < figure.RASTERIZED_ABOVE
        buffer.seek(0)
        drawn = svg_blocks(buffer)
        assert drawn["go_stack"] == rules.held_while_waiting("chain", "go_stack", **params), depth
        metrics = execute(program, "pinbox", "system")
        assert drawn["pinbox"] == (metrics["allocs_per_task"], metrics["bytes_per_task"]), depth


CHAIN_CASES = [
    {"depth": d, "borrow": b, "waits": w, "locals": loc, "tasks": 2}
    for d in (0, 1, 3, 8)
    for b in ("all", "none", "10", "011")
    for w in (0, 1, 2)
    for loc in (0, 24)
]
FANOUT_CASES = [
    {"k": k, "depth": d, "borrow": b, "tasks": 2}
    for k in (1, 3) for d in (0, 2) for b in ("all", "none", "10")
]


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("workload,cases", [("chain", CHAIN_CASES), ("fanout", FANOUT_CASES)])
def test_layout_model_equals_allocs_and_bytes_per_task(workload, cases, strategy):
    definition = get_workload(workload)
    for params in cases:
        program = definition.compile(params)
        view = task_view(program, strategy)
        metrics = execute(program, strategy, "system")
        if strategy in rules.STORAGE_STRATEGIES and not params.get("waits", 1):
            continue  # nothing waits, so nothing is boxed or frozen: the view is of a wait
        if strategy in rules.STORAGE_STRATEGIES and strategy != "dotnet":
            # a stack grown, a chunk replaced: the run allocated more than a
            # task holds while it waits, which is what the view shows
            if params.get("waits", 1):
                held = rules.held_while_waiting(workload, strategy, **definition.parse_params(
                    {k: str(v) for k, v in params.items()}))
                assert (view.block_count, view.total_bytes) == held, params
            continue
        assert view.block_count == metrics["allocs_per_task"], params
        assert view.total_bytes == metrics["bytes_per_task"], params
        # every task waits at once: the moment is the run's peak (dotnet's peak
        # is the instant a frame is both on the thread's stack and in its box)
        if params.get("waits", 1) and strategy != "dotnet":
            assert view.total_bytes == metrics["peak_bytes_per_task"], params
            assert view.total_bytes == metrics["peak_bytes_per_live_task"], params


def _check_frame(frame, layout, program):
    """A frame's parts tile it exactly: the cell pointer, the state, then
    what the step shown holds, inline frames at their parts' offsets; and
    every frame is the size the run counts for it (the native one)."""
    at = frame.offset
    for part in frame.parts:
        assert part.offset == at, (frame.fn, part.kind, part.offset, at)
        at += part.size
        if part.frame is not None:
            assert part.frame.offset == part.offset and part.frame.size == part.size
            _check_frame(part.frame, layout, program)
    if not frame.collapsed:
        assert at == frame.offset + frame.size, frame.fn
    fn = program.fn_index(frame.fn)
    assert frame.size == layout.fn_bytes[fn]


@pytest.mark.parametrize("workload", ["chain", "fanout", "server", "generator", "select_loop",
                                      "skynet", "spawn_many", "yield_many", "spawn_size"])
def test_every_frame_in_the_model_is_tiled_by_its_parts(workload):
    definition = get_workload(workload)
    small = {"tasks": 3, "requests": 3, "iterations": 3, "levels": 2, "items": 5}
    params = {k: v for k, v in small.items() if k in {p.name for p in definition.params}}
    program = definition.compile(params)
    for strategy in STRATEGIES:
        layout = strategies.get(strategy).plan(program)
        view = task_view(program, strategy)
        numbers = [b.number for b in view.blocks]
        assert numbers == list(range(1, len(numbers) + 1))
        for block in view.blocks:
            if block.frame is not None and block.kind not in ("stack", "chunk"):
                assert block.frame.offset == 0 and block.frame.size == block.size
            # a stack, chunk or slab: its frames one after another, inside it
            end = block.frame.size if block.frame is not None else 0
            for frame in ([block.frame] if block.frame is not None else []) + block.frames:
                _check_frame(frame, layout, program)
                if block.kind in ("stack", "chunk"):
                    assert frame.offset == (0 if frame is block.frame else end)
                    end = frame.offset + frame.size
            if block.kind in ("stack", "chunk", "slab"):
                assert end <= block.used <= block.size
            if block.owner is not None:
                assert block.owner[0] < block.number  # the walk meets the pointer first


def test_recursion_past_the_limit_is_a_null_pointer_and_large_trees_are_summarised():
    from pinbench.model.program import Program

    p = Program("rec", tasks=1)
    p.fn("main").call("node")
    p.fn("node", locals=16).join("node", "node", limit=14).io(1)
    program = p.compile()
    view = task_view(program, "pinbox")
    # 2^15 - 1 nodes: the first inline in the task, the others boxed (they
    # are reached through the recursive edges); far past the frame budget.
    assert view.block_count == 1 + (2 ** 15 - 2)
    assert view.elided_blocks > 0 and len(view.blocks) <= MAX_FRAMES + 1
    assert view.total_bytes == execute(program, "pinbox", "system")["bytes_per_task"]


# -- explain -----------------------------------------------------------------------------------


def test_explain_prints_every_block(tmp_path):
    done = pinbench("explain", "chain", "--param", "depth=2", "--param", "borrow=10", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "chain depth=2 borrow=10 waits=1 locals=64 tasks=1000" in text
    # The hand-derived sizes (tests/oracles/rules.py): levels 0 and 2 borrow.
    want = {s: rules.expected("chain", s, depth=2, borrow="10", waits=1, locals=64, tasks=1) for s in STRATEGIES}
    heap, anchor, pin, rc = (want[s]["bytes_allocated"] for s in ("always_heap", "anchor_box", "pinbox", "rc"))
    assert f"always_heap: 3 allocations: the task's own + 2 heap frames, {heap:,} B" in text
    assert f"anchor_box: 2 allocations: the task's own + 1 box, {anchor:,} B" in text
    assert f"pinbox: 1 allocation, {pin:,} B" in text
    assert f"rc: 3 allocations: the task's own + 2 Rc cells, {rc:,} B" in text
    assert "#2 Rc cell: locals of level_2, 88 B" in text
    # Stacks, slabs and chunks: what a waiting task holds, by the rules.
    held = {s: rules.held_while_waiting("chain", s, depth=2, locals=64) for s in rules.STORAGE_STRATEGIES}
    assert f"go_stack: 1 allocation, {held['go_stack'][1]:,} B" in text
    used = 2 * rules.go_frame(64, rules.PTR) + rules.go_frame(64, rules.IO)  # Go's frames: 96, 96, 104
    assert f"#1 stack, grown by copying: level_2 at its base, 2,048 B reserved, {used:,} B used" in text
    assert f"fiber: 1 allocation, {held['fiber'][1]:,} B" in text
    assert f"swift_slab: 2 allocations: the task's own + 1 slab, {held['swift_slab'][1]:,} B" in text
    assert f"loom: 1 allocation, {held['loom'][1]:,} B" in text
    jdk = rules.CHUNK_EXTRA + rules.JDK_PARK + rules.JDK_ENTRY  # metadata, yield0's and enter's frames
    assert (f"#1 stack chunk: level_2's virtual thread frozen, {held['loom'][1]:,} B "
            f"({jdk} B metadata and the runtime's entry and park frames)") in text
    assert f"dotnet: 3 allocations: the task's own + 2 boxes, {want['dotnet']['bytes_allocated']:,} B" in text
    assert "#2 box, copied in at its first suspension: level_1's state machine, 136 B" in text
    sizes = rules.chain_frames("pinbox", 2, 1, 64, {0, 2})  # pinbox nesting: level_1 at the end of level_2
    assert re.search(rf"^\s+{sizes[2] - sizes[1]}\s+level_1 \(inline\)\s+{sizes[1]} B", text, re.M)
    # The numbers are the run's.
    program = get_workload("chain").compile({"depth": 2, "borrow": "10"})
    for strategy, blocks in (("always_heap", 3), ("anchor_box", 2), ("pinbox", 1), ("rc", 3)):
        metrics = execute(program, strategy, "system")
        assert (metrics["allocs_per_task"], metrics["bytes_per_task"]) == (blocks, want[strategy]["bytes_allocated"])


def test_explain_one_strategy_and_a_step_choice(tmp_path):
    done = pinbench("explain", "server", "-s", "always_heap", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "always_heap:" in done.stdout and "pinbox:" not in done.stdout
    assert re.search(r"^\s+\d+\s+state\s+[\d,]+ B", done.stdout, re.M)
    assert "handle: step 3 call('query')" in done.stdout


@pytest.mark.parametrize(
    "args,needles",
    [
        (["explain", "nosuch"], ["unknown workload 'nosuch'"]),
        (["explain", "chain", "--param", "depth=abc"], ["depth"]),
        (["explain", "chain", "--param", "nosuch=1"], ["no parameter 'nosuch'"]),
        (["explain", "chain", "--param", "depth=1,2"], ["one value"]),
        (["explain", "chain", "--param", "depth"], ["NAME=VALUE"]),
        (["explain", "chain", "-s", "nosuch"], ["unknown strategy"]),
        (["report", "no/such/folder"], ["no results folder"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, needles):
    assert_one_line_error(pinbench(*args, cwd=tmp_path), *needles)


def test_report_of_a_folder_without_results_and_a_bad_layout_flag(tmp_path, counts_run):
    assert_one_line_error(pinbench("report", tmp_path, cwd=tmp_path), "no results.json")
    out, _ = counts_run
    assert_one_line_error(pinbench("report", out, "--layout", "chain:depth=x", cwd=tmp_path), "depth")
    assert_one_line_error(pinbench("report", out, "--layout", "nosuch", cwd=tmp_path), "unknown workload")


# -- the page ------------------------------------------------------------------------------------


def test_the_page_is_self_contained_and_complete(timed_run):
    out, _ = timed_run
    page = (out / "report.html").read_text()
    doc = read_results(out)
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == len(stems(out))
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG_SIGNATURE
    # Nothing from the network: no http(s) reference in any src, href or CSS url().
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "url(" not in page and "@import" not in page
    # Links to the files beside it exist.
    for href in re.findall(r'href="(figures/[^"]+)"', page):
        assert (out / href).is_file(), href
    # Environment and mode, summary, noisy list, the exact command, per-workload sections.
    import shlex

    assert shlex.join(doc["command"]) in page.replace("&#x27;", "'").replace("&quot;", '"')
    for heading in ("Summary", "Noisy benchmarks", "Environment and mode", "How to reproduce",
                    "Workload: chain", "Workload: server"):
        assert f">{heading}</h2>" in page, heading
    assert doc["environment"]["python"] in page
    noisy = [b for b in doc["benchmarks"] if b["metrics"].get("noisy")]
    assert (f"{len(noisy)} of {len(doc['benchmarks'])} benchmarks are too noisy to trust" in page) == bool(noisy)
    # One colour per strategy, the figures' own (this run's three; every built-in's: the counts run's page).
    for name in ("pinbox", "rc", "loom"):
        assert f"background:{strategies.BUILTIN[name].color}" in page, name


def test_every_strategy_has_its_colour_on_the_page(counts_run):
    page = (counts_run[0] / "report.html").read_text()
    for name, strategy in strategies.BUILTIN.items():
        assert f"background:{strategy.color}" in page, name


def test_report_rewrites_figures_and_drops_stale_ones(tiny_run):
    out = tiny_run
    (out / "figures").mkdir(exist_ok=True)
    stale = out / "figures" / "left-over.png"
    stale.write_bytes(b"old")
    path = report.build_report(out, layouts=[("chain", {"depth": 1})])
    assert path == out / "report.html"
    assert not stale.exists()
    assert (out / "figures" / "chain-layout.png").is_file()
    drawn = svg_blocks(out / "figures" / "chain-layout.svg")
    heap = rules.chain("always_heap", depth=1, borrow="all", waits=1, locals=64, tasks=1)
    assert drawn["always_heap"] == (2, heap["bytes_allocated"])
    assert not list((out / "figures").glob(".*.tmp"))


def test_a_registered_section_appears_when_its_file_is_present(tiny_run, monkeypatch):
    out = tiny_run

    def figure(data, doc):
        fig = plots.new_figure(6, 3)
        ax = fig.add_subplot()
        ax.bar(list(data), list(data.values()), color=strategies.BUILTIN["pinbox"].color)
        ax.set_ylabel("ratio (HEAD / BASE)")
        return fig

    section = report.ExtraSection("comparison.json", "Comparison with the base run", "comparison", figure)
    monkeypatch.setattr(report, "EXTRA_SECTIONS", [section])
    report.build_report(out)
    assert not (out / "figures" / "comparison-1.png").exists()
    (out / "comparison.json").write_text(json.dumps({"chain": 1.02, "fanout": 0.97}))
    try:
        report.build_report(out)
        assert (out / "figures" / "comparison-1.png").read_bytes()[:8] == PNG_SIGNATURE
        assert ">Comparison with the base run</h2>" in (out / "report.html").read_text()
    finally:
        (out / "comparison.json").unlink()


def test_a_section_whose_function_writes_its_own_files(tiny_run, monkeypatch):
    out = tiny_run

    def draw(data, path):  # like compare_report.comparison_figure(comparison, path)
        fig = plots.new_figure(6, 3)
        fig.add_subplot().plot([1, 2, 3], data["values"])
        return list(plots.save_figure(fig, path.parent, path.name))

    section = report.ExtraSection("validation.json", "Model against native programs", "fidelity", draw,
                                  writes_files=True)
    monkeypatch.setattr(report, "EXTRA_SECTIONS", [section])
    (out / "validation.json").write_text(json.dumps({"values": [1.0, 1.1, 0.9]}))
    try:
        report.build_report(out)
        assert (out / "figures" / "fidelity-1.svg").is_file()
        page = (out / "report.html").read_text()
        assert ">Model against native programs</h2>" in page
        assert 'href="figures/fidelity-1.png"' in page
        (out / "validation.json").write_text("{not json")
        report.build_report(out)  # a damaged file is a note on the page, not a failed report
        assert "validation.json could not be drawn" in (out / "report.html").read_text()
    finally:
        (out / "validation.json").unlink()


def test_open_starts_the_browser_on_the_page(tiny_run, tmp_path):
    out = tiny_run
    record = tmp_path / "opened.txt"
    script = tmp_path / "browser"
    script.write_text(f"#!{sys.executable}\nimport sys\nopen({str(record)!r}, 'w').write(sys.argv[1])\n")
    script.chmod(0o755)
    done = pinbench("report", out, "--open", cwd=tmp_path, env={"BROWSER": str(script)})
    assert done.returncode == 0, done.stderr
    assert record.read_text() == (out / "report.html").resolve().as_uri()


def test_a_saved_comparison_is_drawn_in_the_report(tmp_path):
    """`compare --save` leaves comparison.json in HEAD; the report draws it."""

    def cli(*args):
        return pinbench(*args, cwd=tmp_path)

    for name in ("base", "head"):
        done = cli("run", "--quick", "-w", "yield_many", "-s", "pinbox", "-o", tmp_path / name)
        assert done.returncode == 0, done.stderr
    done = cli("compare", tmp_path / "base", tmp_path / "head", "--save")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "head" / "comparison.json").is_file()
    done = cli("report", tmp_path / "head")
    assert done.returncode == 0, done.stderr
    png = tmp_path / "head" / "figures" / "comparison-1.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert "Comparison with the base run" in (tmp_path / "head" / "report.html").read_text()


def test_the_page_names_the_skipped_benchmarks(tiny_run):
    """A benchmark that did not fit is said above the summary (it was missing from the page)."""
    doc = RunDocument.read(tiny_run)
    page = report.render_html(tiny_run, doc, [])
    assert 'id="skipped"' not in page
    doc.skipped = [{"benchmark": "skynet/fiber/system", "reason": "needs more than <1 GiB> of stacks"},
                      {"benchmark": "skynet/loom/bump", "reason": "too big"}]
    page = report.render_html(tiny_run, doc, [])
    summary = page.split('<h2 id="summary">')[1].split("<h2")[0]
    assert "2 benchmarks of this run's suite did not fit and were skipped" in summary
    assert "<code>skynet/fiber/system</code>: needs more than &lt;1 GiB&gt; of stacks" in summary
    assert "<code>skynet/loom/bump</code>: too big" in summary
