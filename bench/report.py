"""The report of a results folder (`pinbench report DIR`, whose command is
``commands/report.py``).

It draws the figures of a results folder (:mod:`.plots`) into
``DIR/figures/`` (PNG and SVG) and writes ``DIR/report.html``: one
self-contained page (every figure embedded as a base64 data URI, inline CSS,
no fonts, scripts or anything else from the network) with the run's
environment and mode, a summary table, the noisy benchmarks, the figures
grouped by workload and the exact command that reproduces the run.

Other parts of pinbench add sections to the page in one place,
:data:`EXTRA_SECTIONS`: a section appears when its file (e.g.
``comparison.json``) is in the results folder, and its figure function
draws from that file's JSON.
"""

from __future__ import annotations

import base64
import datetime
import html
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .. import __version__
from .. import strategies as registry
from ..model.errors import UsageError
from ..strategies import color_of
from . import formatting as fmt
from . import plots
from .compare_report import comparison_figure
from .engine import engine_text
from .layout_view.figure import fig_layout
from .layout_view.model import task_view, views_for
from . import metrics
from .metrics import BY_NAME, LATENCY_SHOWN, SUMMARY
from .plots import PNG_DPI
from .results import RunDocument, atomic_write_text, find_problems, load_json, writing
from .rust_import import questions
from .statistics import CONFIDENCE, TRUST_WITHIN
from .toml_loader import load_program
from .validate.plots import fig_fidelity
from .workloads import WORKLOADS, get_workload

FIGURES_DIR = "figures"
REPORT_FILE = "report.html"
# A layout diagram draws every block legibly up to about this many blocks
# per strategy and this many frames nested inline.
LEGIBLE_BLOCKS = 16
LEGIBLE_NESTING = 10


@dataclass(frozen=True)
class ExtraSection:
    """A section of the page drawn from a file in the results folder.

    ``figures(data, doc)`` gets the file's parsed JSON and the results
    document and returns a Figure, a list of ``(caption, Figure)`` pairs, or
    None; ``stem`` names the files (``figures/<stem>-1.png`` ...). A function
    that saves its own files instead (``writes_files=True``) is called as
    ``figures(data, path)`` with the path to write without its suffix
    (``figures/<stem>-1``) and returns the paths it wrote (a .png and a .svg).
    """

    source: str  # file name in the results folder, e.g. "comparison.json"
    title: str
    stem: str
    figures: Callable
    intro: str = ""
    writes_files: bool = False


# Add a section here (one line) to put it on the page whenever its file is
# in the results folder, e.g.
#   ExtraSection("comparison.json", "Comparison with the base run", "comparison",
#                compare_report.comparison_figure, writes_files=True),
#   ExtraSection("validation.json", "Model against native programs", "fidelity", validate_plots.fig_fidelity),
EXTRA_SECTIONS: list = [
    ExtraSection(
        "comparison.json", "Comparison with the base run", "comparison", comparison_figure,
        intro="HEAD/BASE time ratio per benchmark with its 95% bootstrap interval "
        "(pinbench compare --save, or compare-branches).",
        writes_files=True,
    ),
    ExtraSection(
        "validation.json", "Model against native programs", "fidelity", fig_fidelity,
        intro="How far the model's time differences between strategies carry over to rustc and g++ "
        "(pinbench validate --save). Bars of equal length: the difference carries over exactly.",
    ),
]


@dataclass
class FigureFile:
    stem: str
    title: str
    caption: str
    png: Path
    svg: Path


@dataclass
class Section:
    key: str
    title: str
    intro: str = ""
    figures: list = field(default_factory=list)
    html_blocks: list = field(default_factory=list)  # extra HTML (tables)
    nav: str = ""  # its link in the page's navigation (default: the key)


# -- choosing what to draw ------------------------------------------------------------


def _safe_stem(text: str) -> str:
    out = "".join(c if c.isalnum() or c in "-_" else "-" for c in text)
    return out.strip("-") or "workload"


def layout_choice(workload: str, benches: list, strategies: list):
    """(params, views) for the layout diagram of a workload in a run: the
    parameter set that shows the most blocks while every strategy's picture
    stays legible (at most LEGIBLE_BLOCKS blocks and LEGIBLE_NESTING nested
    frames); if none is legible, the one with the fewest blocks."""
    source = benches[0].get("workload_file") or benches[0]["workload"]
    definition = get_workload(source)
    best = fallback = None
    for params in plots.param_sets(benches):
        program = definition.compile(params)
        views = [task_view(program, name) for name in strategies]
        blocks = max(v.block_count for v in views)
        nesting = max((b.frame.nesting for v in views for b in v.blocks if b.frame), default=1)
        total = sum(v.block_count for v in views)
        if blocks <= LEGIBLE_BLOCKS and nesting <= LEGIBLE_NESTING:
            if best is None or total > best[0]:
                best = (total, params, views)
        if fallback is None or blocks < fallback[0]:
            fallback = (blocks, params, views)
    chosen = best or fallback
    return chosen[1], chosen[2]


def parse_layout_flag(flag: str):
    """``chain:depth=3,borrow=10`` -> ("chain", {"depth": 3, "borrow": "10"}):
    the workload and the typed values given (the rest come from the run, or
    the defaults)."""
    name, _, rest = flag.partition(":")
    name = name.strip()
    if not name:
        raise UsageError(f"--layout '{flag}' names no workload; e.g. --layout chain:depth=3,borrow=10")
    workload = get_workload(name)
    given = {}
    for item in filter(None, (x.strip() for x in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise UsageError(f"--layout '{flag}': '{item}' is not NAME=VALUE; e.g. --layout chain:depth=3,borrow=10")
        given[key.strip()] = workload.param(key.strip()).parse(workload.name, value)
    workload.compile(given)  # a combination it rejects fails now, in one line
    return name, given


# -- building the report -----------------------------------------------------------------


class _Writer:
    """Saves figures under figures/ and remembers them for the page."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.dir = folder / FIGURES_DIR
        self.written = set()

    def add(self, section: Section, stem: str, fig, title: str, caption: str = ""):
        if fig is None:
            return
        try:
            png, svg = plots.save_figure(fig, self.dir, stem)
        except OSError as error:
            raise UsageError(f"cannot write figures into {self.dir}: {error.strerror or error}") from None
        self.written.update({png.name, svg.name})
        section.figures.append(FigureFile(stem, title, caption, png, svg))

    def remove_stale(self):
        """Figures from an earlier report that this one did not draw."""
        if not self.dir.is_dir():
            return
        for path in self.dir.iterdir():
            if path.suffix in (".png", ".svg") and path.name not in self.written:
                path.unlink(missing_ok=True)


def build_report(folder, layouts=None) -> Path:
    """Draw every figure of the results folder and write report.html; return
    the page's path. ``layouts`` (optional) is a list of (workload, params)
    to draw layout diagrams for instead of each workload's default choice;
    parameters not given take the run's values for that workload (its first
    benchmark's), or the defaults if the run does not hold it."""
    folder = Path(folder)
    doc = RunDocument.read(folder)
    writer = _Writer(folder)
    try:
        writer.dir.mkdir(exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot write figures into {writer.dir}: {error.strerror}") from None
    strategies = plots.strategies_of(doc)
    by_workload = plots.workload_benches(doc)

    overview = Section("overview", "Overview: the strategies side by side", nav="overview")
    for metric in metrics.FIGURES:  # each declared with its metric (metrics.py)
        writer.add(overview, metric.figure.stem, plots.fig_metric(doc, metric), metric.figure.heading,
                   metric.figure.caption)

    wanted = {}
    for flag_workload, params in layouts or []:
        wanted.setdefault(flag_workload, []).append(params)

    sections = [overview]
    for key, benches in by_workload.items():
        section = Section(key, f"Workload: {key}", _workload_intro(benches))
        stem = _safe_stem(key)
        writer.add(section, f"{stem}-scaling", plots.fig_scaling(key, benches), "Scaling",
                   "Allocations, bytes and time per task against the swept parameter.")
        writer.add(section, f"{stem}-latency", plots.fig_latency(key, benches), "Latency percentiles",
                   "HDR-style: latency against 1/(1-p) on log axes, p50 to the maximum "
                   "(placed one decade past p99.9). With few samples the high percentiles "
                   "are interpolated between the largest ones.")
        builtin = None if benches[0].get("workload_file") else WORKLOADS.get(benches[0]["workload"])
        if builtin is not None and builtin.open_loop:
            writer.add(section, f"{stem}-latency-vs-rate", plots.fig_server_rate(benches),
                       "Latency against offered rate",
                       "Open loop: each request's latency from its scheduled arrival. Where p99 leaves "
                       "the dotted service time, the executor is saturating and requests queue.")
        name = benches[0]["workload"]
        diagrams = []
        if name in wanted and not benches[0].get("workload_file"):
            for given in wanted.pop(name):
                params = {**benches[0]["params"], **given}  # the run's values where none is given
                diagrams.append((params, views_for(name, params, strategies)))
        else:
            try:
                diagrams.append(layout_choice(key, benches, strategies))
            except UsageError as error:  # a workload file that moved, a plug-in not installed
                section.html_blocks.append(f'<p class="sub">No layout diagram: {html.escape(str(error))}</p>')
        for i, (params, views) in enumerate(diagrams):
            run = {b["strategy"]: b["metrics"] for b in reversed(benches) if b["params"] == params}
            suffix = "" if i == 0 else f"-{i + 1}"
            writer.add(section, f"{stem}-layout{suffix}", fig_layout(views, run or None),
                       f"Layout of one task: {plots.params_label(params)}", _layout_caption(views, run))
        section.html_blocks.append(_details_table(benches))
        section.html_blocks.append(_imported_html(benches[0]))
        sections.append(section)

    if wanted:  # --layout for workloads the run does not hold
        section = Section("layouts", "Layout diagrams")
        for name, param_list in wanted.items():
            for i, params in enumerate(param_list):
                views = views_for(name, params, strategies)
                writer.add(section, f"{_safe_stem(name)}-layout-extra-{i + 1}", fig_layout(views),
                           f"{name}: {plots.params_label(params)}", _layout_caption(views, {}))
        sections.append(section)

    for extra in EXTRA_SECTIONS:
        section = _extra_section(folder, doc, extra, writer)
        if section is not None:
            sections.append(section)

    writer.remove_stale()
    page = render_html(folder, doc, sections)
    path = folder / REPORT_FILE
    with writing(path):
        atomic_write_text(path, page)
    return path


def _extra_section(folder: Path, doc: RunDocument, extra: ExtraSection, writer: _Writer):
    source = folder / extra.source
    if not source.is_file():
        return None
    section = Section(_safe_stem(extra.stem), extra.title, extra.intro)
    stem = _safe_stem(extra.stem)
    try:
        data = load_json(source)
        if extra.writes_files:
            paths = [Path(p) for p in extra.figures(data, writer.dir / f"{stem}-1") or []]
            png = next((p for p in paths if p.suffix == ".png"), None)
            svg = next((p for p in paths if p.suffix == ".svg"), None)
            if png is not None and svg is not None:
                writer.written.update({png.name, svg.name})
                section.figures.append(FigureFile(f"{stem}-1", extra.title, "", png, svg))
            return section
        result = extra.figures(data, doc)
    except (OSError, ValueError, KeyError, TypeError, UsageError) as error:
        section.html_blocks.append(
            f'<p class="warning">{html.escape(extra.source)} could not be drawn: {html.escape(str(error))}</p>'
        )
        return section
    if result is None:
        return section
    pairs = result if isinstance(result, list) else [("", result)]
    for i, (caption, fig) in enumerate(pairs):
        writer.add(section, f"{stem}-{i + 1}", fig, caption or extra.title, "")
    return section


def _imported_html(bench: dict) -> str:
    """For a workload imported from rustc (pinbench import rust): its biggest
    futures, captures stored twice and where to box, as on the terminal."""
    path = bench.get("workload_file")
    if not path:
        return ""
    try:
        program = load_program(path)
    except UsageError:
        return ""  # the file moved or changed: the layout diagram's note says so
    text = questions.report(program)
    if not text:
        return ""
    return ("<h3>Imported from rustc's type sizes</h3>"
            f"<pre class=\"imported\">{html.escape(text)}</pre>")


def _workload_intro(benches: list) -> str:
    first = benches[0]
    if first.get("workload_file"):
        return f"The program in workload file {first['workload_file']}."
    workload = WORKLOADS.get(first["workload"])
    if workload is None:
        return ""
    return f"{workload.summary[0].upper()}{workload.summary[1:]}. Origin: {workload.origin}."


def _layout_caption(views: list, run: dict) -> str:
    parts = []
    for view in views:
        text = f"{view.strategy}: {view.block_count} block{'s' if view.block_count != 1 else ''}, {view.total_bytes:,} B"
        m = (run or {}).get(view.strategy)
        if m and m.get("allocs_per_task") is not None:
            same = m["allocs_per_task"] == view.block_count and m.get("bytes_per_task") == view.total_bytes
            text += " (the run: the same)" if same else (
                f" (the run: {m['allocs_per_task']:.4g} allocations and {m.get('bytes_per_task', 0):,.6g} B "
                "per task, averaged over every task's whole life)"
            )
        parts.append(text)
    chosen = {}
    for view in views:
        for fn, step in view.choices.items():
            chosen.setdefault(fn, step)
    how = (
        "Each block is one allocation, its width its size in bytes (one scale for every panel); "
        "frames stored inline sit inside their parent's child area; arrows are pointers to boxes "
        "and Rc cells."
    )
    if chosen:
        how += " Functions that await in several steps are shown at the step whose children occupy the most: " + \
            "; ".join(f"{fn} at {step}" for fn, step in chosen.items()) + "."
    return how + " " + "; ".join(parts) + "."


# -- HTML --------------------------------------------------------------------------------------

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: #1d1d1d; background: #fff; margin: 0; }
main { max-width: 1000px; margin: 0 auto; padding: 16px 20px 48px; }
h1 { font-size: 1.6em; margin: 0.4em 0 0.1em; }
h2 { font-size: 1.25em; margin: 1.8em 0 0.5em; padding-bottom: 4px; border-bottom: 2px solid #e4e4e4; }
h3 { font-size: 1.02em; margin: 1.3em 0 0.3em; }
p.sub { color: #555; margin-top: 0; }
details summary { cursor: pointer; color: #0b5aa2; margin: 0.3em 0; }
code { font-size: 0.92em; background: #f3f3f3; padding: 0 3px; border-radius: 3px; }
nav { font-size: 0.92em; margin: 0.6em 0 0.2em; }
nav a { margin-right: 0.9em; white-space: nowrap; }
a { color: #0b5aa2; }
figure { margin: 0.4em 0 1.4em; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #444; margin-top: 4px; }
figcaption .files { color: #777; white-space: nowrap; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.86em; margin: 0.4em 0 1em; }
th, td { padding: 3px 6px; border-bottom: 1px solid #e6e6e6; text-align: right; white-space: nowrap; }
th { background: #f6f6f6; font-weight: 600; }
td.l, th.l { text-align: left; }
td.wl { text-align: left; white-space: normal; min-width: 9em; max-width: 15em; }
td.wl small { color: #666; }
table.kv td, table.kv th { text-align: left; white-space: normal; }
table.kv th { width: 12em; background: none; }
pre { background: #f5f5f5; padding: 10px 12px; overflow-x: auto; font-size: 0.88em; border-radius: 4px; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; border-radius: 2px; vertical-align: -0.1em;
          margin-right: 0.3em; }
.legend span.item { margin-right: 1.2em; }
.legend .desc { color: #555; }
.noisy { color: #9a5b00; font-weight: 600; }
.warning { background: #fff4e0; border-left: 4px solid #e69f00; padding: 8px 12px; }
.bug { background: #fdeaea; border-left: 4px solid #d55e00; padding: 8px 12px; }
.ok { color: #2e6b2e; }
footer { color: #777; font-size: 0.85em; margin-top: 3em; }
"""

# A self-check, run by the browser when the page has loaded: every image
# must have loaded (naturalWidth > 0) and nothing may have reported an
# error. The verdict goes into #pinbench-check as JSON (tests read it with
# `chromium --dump-dom`); a problem is also shown on the page.
SELF_CHECK = """
(function () {
  var errors = [];
  window.addEventListener("error", function (event) {
    var t = event.target;
    if (t && t !== window && t.tagName) {
      errors.push("failed to load <" + t.tagName.toLowerCase() + "> " + (t.alt || "").slice(0, 80));
    } else {
      errors.push(String(event.message || "script error"));
    }
  }, true);
  var original = console.error;
  console.error = function () {
    errors.push(Array.prototype.map.call(arguments, String).join(" "));
    return original.apply(console, arguments);
  };
  window.addEventListener("load", function () {
    var images = Array.prototype.slice.call(document.images);
    var broken = images.filter(function (img) {
      return !(img.complete && img.naturalWidth > 0);
    }).map(function (img) { return img.alt || "image"; });
    var verdict = {images: images.length, broken: broken, errors: errors,
                   widths: images.map(function (img) { return img.naturalWidth; })};
    var box = document.getElementById("pinbench-check");
    box.setAttribute("data-verdict", JSON.stringify(verdict));
    if (broken.length || errors.length) {
      box.hidden = false;
      box.textContent = "This page did not load completely: " +
        broken.concat(errors).join("; ");
    }
  });
})();
"""


def _esc(value) -> str:
    return html.escape(str(value), quote=True)


def _swatch(name: str) -> str:
    return f'<span class="swatch" style="background:{color_of(name)}"></span>'


def _strategy_name(name: str) -> str:
    return f"{_swatch(name)}{_esc(name)}"


def _time(value, noisy=False) -> str:
    if value is None:
        return "-"
    text = _esc(fmt.duration(value))
    return f'<span class="noisy" title="{_esc(BY_NAME["noisy"].label)}">{text} !</span>' if noisy else text


def _within(m: dict) -> str:
    """± the wider side of the median's interval (results from before the
    interval: '-')."""
    within = m.get("timing_within")
    return "-" if within is None else f"±{within:.0%}"


def _outliers(m: dict) -> str:
    """Outliers by Tukey's fences, mild and severe (criterion's classes)."""
    if m.get("outliers_high_mild") is None:
        return "-"
    mild = (m.get("outliers_low_mild") or 0) + (m.get("outliers_high_mild") or 0)
    severe = (m.get("outliers_low_severe") or 0) + (m.get("outliers_high_severe") or 0)
    return ", ".join(f"{n:g} {kind}" for n, kind in ((mild, "mild"), (severe, "severe")) if n) or "0"


def _img(path: Path, alt: str) -> str:
    data = path.read_bytes()
    width = height = None
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        width = int.from_bytes(data[16:20], "big")
        height = int.from_bytes(data[20:24], "big")
    size = ""
    if width and height:  # shown at the figure's size in inches x 96 css px
        size = f' width="{round(width * 96 / PNG_DPI)}" height="{round(height * 96 / PNG_DPI)}"'
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img src="data:image/png;base64,{encoded}" alt="{_esc(alt)}"{size}>'


def _figure_html(fig: FigureFile) -> str:
    files = (
        f'<span class="files">(<a href="{FIGURES_DIR}/{_esc(fig.png.name)}">PNG</a> · '
        f'<a href="{FIGURES_DIR}/{_esc(fig.svg.name)}">SVG</a>)</span>'
    )
    caption = f"<b>{_esc(fig.title)}.</b> {_esc(fig.caption)} {files}"
    return f"<figure>{_img(fig.png, fig.title)}<figcaption>{caption}</figcaption></figure>"


def _given(value) -> str:
    """A field of the run as the page shows it: ``?`` when the run lacks it."""
    return "?" if value is None else value


def _environment_table(folder: Path, doc: RunDocument) -> str:
    env = doc.environment
    n = len(doc.benchmarks)
    planned = doc.benchmarks_planned
    rows = [
        ("results folder", str(folder)),
        ("mode", f"{_given(doc.mode)}" + ("" if doc.timing else " (counts only, no timing)")),
        ("engine", engine_text(doc)),
        ("benchmarks", f"{n}" + (f" of {planned} planned" if planned and planned != n else "")
         + ("" if doc.complete else " — incomplete (interrupted)")),
        ("started", doc.started),
        ("finished", doc.finished),
        ("pinbench", doc.pinbench_version),
    ]
    commit = env.get("git_commit")
    if commit:
        rows.append(("git commit", commit + (" (uncommitted changes)" if env.get("git_dirty") else "")))
    labels = {
        "cpu": "CPU", "logical_cores": "logical cores", "os": "OS", "kernel": "kernel",
        "machine": "machine", "hostname": "host", "python": "Python",
        "python_implementation": "Python implementation", "cython": "Cython", "numpy": "numpy",
        "compiler": "C compiler",
    }
    for key, label in labels.items():
        if env.get(key) is not None:
            rows.append((label, env[key]))
    for key, value in env.items():
        if key not in labels and key not in ("git_commit", "git_dirty", "pinbench", "python_executable"):
            rows.append((key.replace("_", " "), value))
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc('-' if v is None else v)}</td></tr>" for k, v in rows)
    return f'<table class="kv">{body}</table>'


def _summary_table(doc: RunDocument) -> str:
    """Per workload and parameter set: allocations, peak bytes and time per
    task under each strategy (the first allocator of each group)."""
    strategies = plots.strategies_of(doc)
    timed = plots.timed(doc.benchmarks)
    sub = [BY_NAME[name].summary for name in SUMMARY + (("ns_per_task_median",) if timed else ())]
    head1 = '<th class="l" rowspan="2">workload</th>' + "".join(
        f'<th colspan="{len(sub)}" style="border-bottom:3px solid {color_of(s)}">{_strategy_name(s)}</th>'
        for s in strategies
    )
    head2 = "".join(f"<th>{x}</th>" for _ in strategies for x in sub)
    rows = []
    for key, benches in plots.workload_benches(doc).items():
        vary = plots.varying(benches)
        for params in plots.param_sets(benches):
            cells = []
            for s in strategies:
                bench = plots.pick(benches, params, s)
                m = bench["metrics"] if bench else {}
                cells += [_esc(BY_NAME[name].text(m.get(name))) for name in SUMMARY]
                if timed:
                    cells.append(_time(m.get("ns_per_task_median"), m.get("noisy")))
            label = plots.params_label(params, vary) if vary else plots.params_label(params)
            rows.append(
                f'<tr><td class="wl">{_esc(key)}<br><small>{_esc(label)}</small></td>'
                + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
            )
    note = (
        "<p class=\"sub\">held B = bytes a live task holds at the peak (stacks, slabs, chunks and boxes, "
        "used or not, and the runtime's task objects), in use B = the bytes of its frames in use in them, "
        "allocs = allocations per task"
        + (", time = time per task (the median of pyperf's values; ! = too noisy to trust)" if timed else "")
        + ". Counts are exact and the same under every allocator; times are for the first allocator "
        "of each row. Every value of every benchmark is in metrics.csv.</p>"
    )
    return (f'<div class="scroll"><table><thead><tr>{head1}</tr><tr>{head2}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>{note}')


def _details_table(benches: list) -> str:
    vary = plots.varying(benches)
    timed = plots.timed(benches)
    latency = plots.has_latency(benches)
    # Optional metrics (instruction counts) are columns only where a run has them.
    columns = [metric for metric in metrics.REPORTED
               if not metric.optional or any(metric.name in b["metrics"] for b in benches)]
    heads = (["parameters"] if vary else []) + ["strategy", "allocator"] + [metric.report for metric in columns]
    if timed:
        heads += [BY_NAME["ns_per_task_median"].header, f"{CONFIDENCE:.0%} interval", "outliers"]
    if latency:
        heads += [BY_NAME[name].brief for name in LATENCY_SHOWN]
    rows = []
    for b in benches:
        m = b["metrics"]
        cells = ([f'<td class="l">{_esc(plots.params_label(b["params"], vary))}</td>'] if vary else []) + [
            f'<td class="l">{_strategy_name(b["strategy"])}</td>',
            f'<td class="l">{_esc(b["allocator"])}</td>',
        ] + [f"<td>{_esc(metric.text(m.get(metric.name)))}</td>" for metric in columns]
        if timed:
            cells += [f"<td>{_time(m.get('ns_per_task_median'), m.get('noisy'))}</td>",
                      f"<td>{_within(m)}</td>", f"<td>{_outliers(m)}</td>"]
        if latency:
            cells += [f"<td>{_time(m.get(name))}</td>" for name in LATENCY_SHOWN]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = "".join(f'<th class="{"l" if h in ("parameters", "strategy", "allocator") else ""}">{h}</th>' for h in heads)
    fixed = {k: v for k, v in benches[0]["params"].items() if k not in vary}
    caption = f"<p class=\"sub\">Parameters: {_esc(plots.params_label(fixed)) or 'none'}" + (
        f"; varied: {_esc(', '.join(vary))}" if vary else "") + ".</p>"
    return (f'<h3>Every benchmark</h3>{caption}<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _noisy_html(doc: RunDocument) -> str:
    noisy = [b for b in doc.benchmarks if b["metrics"].get("noisy")]
    if not doc.timing and not plots.timed(doc.benchmarks):
        return "<p>This run was not timed (<code>--counts-only</code>): the counts are exact, nothing is noisy.</p>"
    if not noisy:
        return (f'<p class="ok">None: the {CONFIDENCE:.0%} bootstrap interval of every timed benchmark\'s '
                f'median lies within ±{TRUST_WITHIN:.0%} of it.</p>')
    rows = "".join(
        f'<tr><td class="l">{_esc(b["workload"])}</td><td class="l">{_esc(plots.params_label(b["params"]))}</td>'
        f'<td class="l">{_strategy_name(b["strategy"])}</td><td class="l">{_esc(b["allocator"])}</td>'
        f'<td>{_time(b["metrics"].get("ns_per_task_median"))}</td>'
        f'<td class="noisy">{_within(b["metrics"])}</td><td>{_outliers(b["metrics"])}</td>'
        f'<td>{_esc(b["metrics"].get("timing_values", "-"))}</td></tr>'
        for b in noisy
    )
    table = (
        '<div class="scroll"><table><thead><tr><th class="l">workload</th><th class="l">parameters</th>'
        f'<th class="l">strategy</th><th class="l">allocator</th><th>{BY_NAME["ns_per_task_median"].header}</th>'
        f'<th>{CONFIDENCE:.0%} interval</th>'
        f"<th>outliers</th><th>values</th></tr></thead><tbody>{rows}</tbody></table></div>"
    )
    if len(noisy) > 8:  # a long list folds away (no script needed)
        table = f"<details><summary>the {len(noisy)} noisy benchmarks</summary>{table}</details>"
    return (
        f'<p class="warning">{len(noisy)} of {len(doc.benchmarks)} benchmarks are too noisy to trust: the '
        f"{CONFIDENCE:.0%} bootstrap interval of the median of pyperf's values is wider than ±{TRUST_WITHIN:.0%} "
        "of it, after as many more values as the time cap allowed. Their times are marked ! in the tables "
        "and hollow in the figures. Rerun them with <code>--rigorous</code> on a quieter machine; their "
        "counts are exact all the same.</p>" + table
    )


def _reproduce_html(folder: Path, doc: RunDocument) -> str:
    env = doc.environment
    command = doc.command
    lines = []
    commit = env.get("git_commit")
    if commit:
        lines.append(f"git checkout {commit}")
    lines.append("python3 -m venv .venv && . .venv/bin/activate && pip install .")
    lines.append(shlex.join(command) if command else "# (the command was not recorded)")
    lines.append(f"pinbench report {shlex.quote(str(folder))}")
    note = ""
    if env.get("git_dirty"):
        note = ('<p class="warning">The tree had uncommitted changes when this ran, so the commit alone '
                "does not reproduce it exactly.</p>")
    return (
        "<p>The exact command that made this run (from results.json), and how to redo it from a checkout:</p>"
        f"<pre>{_esc(chr(10).join(lines))}</pre>{note}"
    )


def _problems_html(doc: RunDocument) -> str:
    problems = find_problems(doc)
    if not problems:
        return ""
    items = "".join(f"<li>{_esc(p)}</li>" for p in problems)
    return f'<div class="bug"><b>These results show a bug:</b><ul>{items}</ul></div>'


def _skipped_html(doc: RunDocument) -> str:
    """The benchmarks of the suite that did not fit and were skipped (a
    finding about a strategy at that scale): said above the summary, as
    `pinbench run` and `show` say it, so no figure is read as complete."""
    skipped = doc.skipped
    if not skipped:
        return ""
    items = "".join(f"<li><code>{_esc(s['benchmark'])}</code>: {_esc(s['reason'])}</li>" for s in skipped)
    return (f'<div class="warning" id="skipped"><p>{len(skipped)} benchmark{"s" if len(skipped) != 1 else ""} '
            f"of this run's suite did not fit and {'were' if len(skipped) != 1 else 'was'} skipped; the "
            f"figures and tables leave {'them' if len(skipped) != 1 else 'it'} out:</p><ul>{items}</ul></div>")


def render_html(folder: Path, doc: RunDocument, sections: list) -> str:
    title = f"pinbench report: {folder.resolve().name}"
    names = plots.strategies_of(doc)
    available = registry.available()
    legend = "".join(
        f'<span class="item">{_strategy_name(n)}'
        + (f' <span class="desc">— {_esc(available[n].summary)}</span>' if n in available and available[n].summary else "")
        + "</span><br>"
        for n in names
    )
    links = [("summary", "summary")] + [(s.key, s.nav or s.key) for s in sections] + [
        ("noisy", "noisy"), ("environment", "environment"), ("reproduce", "reproduce")]
    nav = "".join(f'<a href="#{_esc(key)}">{_esc(text)}</a>' for key, text in links)
    command = shlex.join(doc.command) or "?"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title>",
        f"<style>{CSS}</style>",
        f"<script>{SELF_CHECK}</script>",
        "</head><body><main>",
        f"<h1>{_esc(title)}</h1>",
        f'<p class="sub">{_esc(_given(doc.mode))} run of {len(doc.benchmarks)} benchmarks, '
        f'started {_esc(doc.started or "?")}'
        + ("" if doc.complete else ' — <b>incomplete</b> (interrupted)')
        + f'<br>made with <code>{_esc(command)}</code></p>',
        '<div id="pinbench-check" class="bug" hidden></div>',
        _problems_html(doc),
        f'<div class="legend">{legend}</div>',
        f"<nav>{nav}</nav>",
        '<h2 id="summary">Summary</h2>',
        _skipped_html(doc),
        _summary_table(doc),
    ]
    for section in sections:
        parts.append(f'<h2 id="{_esc(section.key)}">{_esc(section.title)}</h2>')
        if section.intro:
            parts.append(f'<p class="sub">{_esc(section.intro)}</p>')
        parts += [_figure_html(f) for f in section.figures]
        parts += section.html_blocks
    parts += [
        '<h2 id="noisy">Noisy benchmarks</h2>',
        _noisy_html(doc),
        '<h2 id="environment">Environment and mode</h2>',
        _environment_table(folder, doc),
        '<h2 id="reproduce">How to reproduce</h2>',
        _reproduce_html(folder, doc),
    ]
    now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    parts.append(
        f"<footer>Made by pinbench {_esc(__version__)} on {_esc(now)} from {_esc(folder / 'results.json')}. "
        "The figures are embedded in this page; PNG and SVG files are in figures/ beside it. "
        "docs/report.md explains every figure.</footer>"
    )
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"
