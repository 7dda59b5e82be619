"""Rendering a comparison (:mod:`compare`): a terminal table, Markdown for a
CI job summary or PR comment, JSON, and the figure of HEAD/BASE ratios
(`pinbench compare` and `pinbench compare-branches` print them; their
commands are in ``commands/``).

The report (``pinbench report``) draws a saved comparison with
:func:`comparison_figure`; :func:`compare.load_comparison` finds it.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

from rich import box
from rich.markup import escape
from rich.table import Table

from ..model.errors import UsageError
from . import compare as cmp
from .console import stdout_console
from .formatting import exact, format_ns, signed
from .metrics import BY_NAME, CHANGE, regression

FORMATS = ("text", "markdown", "json")  # what emit() prints


# -- small formatting helpers --------------------------------------------------------


def _delta(change: dict) -> str:
    if regression(change["metric"]) == CHANGE or change["delta"] is None:
        return "changed"
    delta = change["delta"]
    text = signed(delta)
    if change["relative"] is not None:
        text += f" ({change['relative']:+.1%})"
    return text


def _ratio(timing: dict) -> str:
    if not timing or timing.get("ratio") is None:
        return "-"
    return f"{timing['ratio']:.3f}"


def _interval(timing: dict) -> str:
    if not timing or timing.get("ci_low") is None:
        return "-"
    return f"[{timing['ci_low']:.3f}, {timing['ci_high']:.3f}]"


def _p(timing: dict) -> str:
    if not timing or timing.get("p_adjusted") is None:
        return "-"
    p = timing["p_adjusted"]
    return f"{p:.2g}" if p >= 0.001 else "<0.001"


def _side_text(side: dict) -> str:
    commit = side.get("commit")
    bits = []
    if side.get("ref"):
        bits.append(side["ref"])
    if commit:
        bits.append(commit[:10] + (" dirty" if side.get("dirty") else ""))
    bits.append(side.get("mode") or "?")
    if side.get("hostname"):
        bits.append(side["hostname"])
    bits.append("timed" if side.get("timing") else "counts only")
    return f"{side['path']} ({', '.join(bits)})"


def _method_line(comparison: dict) -> str:
    s = comparison["settings"]
    return (
        f"timing: HEAD/BASE of the mean time per task, {s['confidence']:.0%} bootstrap interval and "
        "Mann-Whitney U over pyperf runs (p adjusted across benchmarks); slower only if "
        f"p < {s['alpha']:g} and the interval is above +{s['threshold']:.0%}"
    )


def _kind_order(change: dict) -> int:
    return {"regression": 0, "change": 1, "improvement": 2}.get(change["kind"], 3)


def _changed(comparison: dict) -> list:
    order = {cmp.REGRESSION: 0, cmp.CHANGED: 1, cmp.IMPROVED: 2, cmp.UNCHANGED: 3}
    rows = [b for b in comparison["benchmarks"] if b["changes"]]
    return sorted(rows, key=lambda b: order[b["status"]])


# -- terminal ------------------------------------------------------------------------


def render_text(comparison: dict, console) -> None:
    """The comparison as rich tables on ``console``."""
    v = comparison["verdict"]
    console.print(f"[bold]base[/bold] {escape(_side_text(comparison['base']))}")
    console.print(f"[bold]head[/bold] {escape(_side_text(comparison['head']))}")
    style = "bold red" if v["failed"] else "bold green"
    console.print(f"[{style}]{escape(v['line'])}[/{style}]")
    for warning in comparison["warnings"]:
        console.print(f"[bold yellow]warning:[/bold yellow] {escape(warning)}")

    changed = _changed(comparison)
    if changed:
        console.print()
        table = Table(title="deterministic metrics that changed (exact)", title_justify="left",
                      box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0), show_edge=False)
        table.add_column("benchmark", overflow="fold", min_width=min(max(len(b["name"]) for b in changed), 44))
        table.add_column("metric", no_wrap=True)
        table.add_column("base", justify="right", no_wrap=True)
        table.add_column("head", justify="right", no_wrap=True)
        table.add_column("change", justify="right", no_wrap=True)
        table.add_column("", no_wrap=True)
        for bench in changed:
            changes = sorted(bench["changes"], key=_kind_order)
            for i, change in enumerate(changes):
                kind = change["kind"]
                mark = {"regression": "[bold red]REGRESSION[/bold red]", "improvement": "[green]better[/green]"}.get(
                    kind, "[yellow]changed[/yellow]")
                table.add_row(
                    escape(bench["name"]) if i == 0 else "",
                    escape(change["metric"]), exact(change["base"]), exact(change["head"]), _delta(change), mark,
                    end_section=i == len(changes) - 1,
                )
        console.print(table)

    timed = [b for b in comparison["benchmarks"] if b["timing"]]
    if timed:
        console.print()
        table = Table(title="time per task, HEAD/BASE", title_justify="left", box=box.SIMPLE_HEAD,
                      padding=(0, 1, 0, 0), show_edge=False, pad_edge=False,
                      caption=escape(_method_line(comparison)), caption_justify="left")
        widest = max(len(b["name"]) for b in timed)
        table.add_column("benchmark", overflow="fold", min_width=min(widest, 44))
        table.add_column("base", justify="right", no_wrap=True)
        table.add_column("head", justify="right", no_wrap=True)
        table.add_column(f"ratio [{comparison['settings']['confidence']:.0%} interval]", justify="right",
                         no_wrap=True)
        table.add_column("p", justify="right", no_wrap=True)
        table.add_column("runs", justify="right", no_wrap=True)
        table.add_column("verdict", no_wrap=True)
        for bench in timed:
            t = bench["timing"]
            style = {"slower": "bold red", "faster": "green"}.get(t["verdict"], "")
            verdict = f"[{style}]{t['verdict']}[/{style}]" if style else t["verdict"]
            table.add_row(
                escape(bench["name"]), format_ns(t["base_mean_ns"]), format_ns(t["head_mean_ns"]),
                _ratio(t) + (f" {_interval(t)}" if t.get("ci_low") is not None else ""), _p(t),
                f"{t['n_base']}/{t['n_head']}", verdict,
            )
        console.print(table)

    for side, title in (("base_only", "only in base"), ("head_only", "only in head")):
        if comparison[side]:
            names = ", ".join(b["name"] for b in comparison[side])
            console.print(f"[bold]{title}[/bold] ({len(comparison[side])}): {escape(names)}")
    unchanged = sum(1 for b in comparison["benchmarks"] if not b["changes"])
    console.print(f"[dim]{unchanged} of {len(comparison['benchmarks'])} benchmarks have identical "
                  f"deterministic metrics[/dim]")


# -- Markdown --------------------------------------------------------------------------


def _md(text) -> str:
    """Text safe in a Markdown table cell."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _md_code(text) -> str:
    return "`" + str(text).replace("`", "'").replace("|", "\\|") + "`"


def _md_section(title, columns: list, align: str, rows) -> list:
    """A markdown table under a ``### title`` (none when ``title`` is None),
    and a blank line; nothing at all when there are no rows. ``align`` has
    one letter per column: ``r`` right-aligns it."""
    rows = list(rows)
    if not rows:
        return []
    out = [f"### {title}", ""] if title else []
    out.append("|" + "|".join(f" {c} " if c else " " for c in columns) + "|")
    out.append("|" + "|".join("--:" if a == "r" else "---" for a in align) + "|")
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out + [""]


def render_markdown(comparison: dict) -> str:
    """GitHub-flavoured Markdown: a one-line verdict first, then the
    regressions, the other changes, the timing table and the rest."""
    v = comparison["verdict"]
    lines = []
    icon = ":x:" if v["failed"] else ":white_check_mark:"
    lines.append(f"{icon} **pinbench: {_md(v['line'])}**")
    lines.append("")
    lines.append(f"- base: {_md(_side_text(comparison['base']))}")
    lines.append(f"- head: {_md(_side_text(comparison['head']))}")
    if comparison["timing"]:
        lines.append(f"- {_md(_method_line(comparison))}")
    for warning in comparison["warnings"]:
        lines.append(f"- :warning: {_md(warning)}")
    lines.append("")

    regressed = [b for b in comparison["benchmarks"] if b["status"] == cmp.REGRESSION]
    lines += _md_section("Regressions", ["benchmark", "why"], "--", [
        [_md_code(bench["name"]), _md("; ".join(cmp.regression_reasons(bench)))] for bench in regressed
    ])
    marks = {"regression": "**regression**", "improvement": "better"}
    lines += _md_section("Deterministic metrics that changed", ["benchmark", "metric", "base", "head", "change", ""],
                         "--rrr-", [
        [_md_code(bench["name"]), _md(change["metric"]), _md(exact(change["base"])), _md(exact(change["head"])),
         _md(_delta(change)), marks.get(change["kind"], "changed")]
        for bench in _changed(comparison) for change in sorted(bench["changes"], key=_kind_order)
    ])

    timed = [b for b in comparison["benchmarks"] if b["timing"]]
    if timed:
        flagged = [b for b in timed if b["timing"]["verdict"] in ("slower", "faster")]
        conf = f"{comparison['settings']['confidence']:.0%}"
        columns = ["benchmark", "base", "head", "HEAD/BASE", f"{conf} interval", "p", "runs", "verdict"]

        def rows(benches):
            for bench in benches:
                t = bench["timing"]
                verdict = f"**{t['verdict']}**" if t["verdict"] in ("slower", "faster") else t["verdict"]
                yield [_md_code(bench["name"]), format_ns(t["base_mean_ns"]), format_ns(t["head_mean_ns"]),
                       _ratio(t), _interval(t), _p(t), f"{t['n_base']}/{t['n_head']}", verdict]

        lines += _md_section("Timing changes beyond the threshold", columns, "-rrrrrr-", rows(flagged))
        lines.append("<details><summary>Time per task of every benchmark "
                     f"({len(timed)})</summary>")
        lines.append("")
        lines += _md_section(None, columns, "-rrrrrr-", rows(timed))
        lines.append("</details>")
        lines.append("")

    for side, title in (("base_only", "Only in base"), ("head_only", "Only in head")):
        if comparison[side]:
            names = ", ".join(_md_code(b["name"]) for b in comparison[side])
            lines.append(f"**{title}** ({len(comparison[side])}): {names}")
            lines.append("")
    unchanged = [b for b in comparison["benchmarks"] if not b["changes"]]
    if unchanged:
        lines.append(f"<details><summary>{len(unchanged)} benchmarks with identical deterministic "
                     "metrics</summary>")
        lines.append("")
        lines.append(", ".join(_md_code(b["name"]) for b in unchanged))
        lines.append("")
        lines.append("</details>")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def render_json(comparison: dict) -> str:
    return json.dumps(comparison, indent=2) + "\n"


# -- the figure ---------------------------------------------------------------------------


def comparison_figure(comparison, path) -> list:
    """Draw HEAD/BASE per benchmark with its interval; write PNG and SVG.

    ``comparison`` is a comparison document (:func:`compare.compare_runs`) or
    the path of a comparison.json (or of the results folder holding one).
    ``path`` names the files: its suffix, if any, is replaced by .png and
    .svg. Returns the two paths written.

    Timed comparisons show the ratio of mean time per task with its
    bootstrap interval (log scale, the threshold band shaded); counts-only
    comparisons show the exact ratios of allocations, bytes allocated and
    peak live bytes."""
    import matplotlib  # deferred: matplotlib loads only when a figure is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred, as above

    if not isinstance(comparison, dict):
        loaded = cmp.load_comparison(comparison)
        if loaded is None:
            raise UsageError(f"no {cmp.COMPARISON_FILE} in {comparison}")
        comparison = loaded
    cmp.check_comparison(comparison, "the comparison")  # e.g. a comparison.json the report read
    path = Path(path)
    stem = path.with_suffix("") if path.suffix.lower() in (".png", ".svg") else path
    benchmarks = comparison["benchmarks"]
    threshold = comparison["settings"]["threshold"]
    colors = {"regression": "#c62828", "improvement": "#2e7d32", "neutral": "#455a64"}

    if comparison.get("timing") and any(b["timing"] and b["timing"].get("ratio") for b in benchmarks):
        rows = [b for b in benchmarks if b["timing"] and b["timing"].get("ratio")]
        title = "time per task, HEAD / BASE (mean, {:.0%} bootstrap interval)".format(
            comparison["settings"]["confidence"])
        series = [("time", [b["timing"] for b in rows])]
    else:
        rows = list(benchmarks)
        title = "counts, HEAD / BASE (exact)"
        series = []
        for metric in ("allocs", "bytes_allocated", "peak_live_bytes"):
            points = []
            for bench in rows:
                change = next((c for c in bench["changes"] if c["metric"] == metric), None)
                ratio = 1.0
                if change and isinstance(change["base"], (int, float)) and change["base"]:
                    ratio = change["head"] / change["base"] if change["head"] is not None else 1.0
                points.append({"ratio": ratio, "ci_low": None, "ci_high": None,
                               "regression": bool(change and change["kind"] == "regression"),
                               "improvement": bool(change and change["kind"] == "improvement")})
            series.append((BY_NAME[metric].brief, points))

    height = 1.8 + 0.28 * max(len(rows), 1)
    fig, ax = plt.subplots(figsize=(9, height))
    if not rows:
        ax.text(0.5, 0.5, "no benchmark in both runs", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    else:
        n = len(series)
        offsets = [(i - (n - 1) / 2) * 0.22 for i in range(n)] if n > 1 else [0.0]
        markers = ["o", "s", "^"]
        ratios = []
        for (label, points), offset, marker in zip(series, offsets, markers):
            for y, point in enumerate(points):
                ratio = point["ratio"]
                ratios.append(ratio)
                kind = "regression" if point.get("regression") else "improvement" if point.get("improvement") else "neutral"
                yy = y + offset
                if point.get("ci_low") is not None:
                    ratios += [point["ci_low"], point["ci_high"]]
                    ax.plot([point["ci_low"], point["ci_high"]], [yy, yy], color=colors[kind], lw=2, alpha=0.8)
                hollow = comparison.get("timing") and point.get("ci_low") is None
                ax.plot([ratio], [yy], marker=marker, linestyle="none", color=colors[kind], ms=5,
                        markerfacecolor="white" if hollow else colors[kind],
                        label=label if y == 0 and n > 1 else None)
        ax.axvline(1.0, color="black", lw=0.8)
        if comparison.get("timing"):
            ax.axvspan(1 - threshold, 1 + threshold, color="#9e9e9e", alpha=0.15, lw=0,
                       label=f"threshold ±{threshold:.0%}")
        low = min(min(ratios), 1 - threshold, 0.8)
        high = max(max(ratios), 1 + threshold, 1.25)
        ax.set_xscale("log")
        ax.set_xlim(low / 1.12, high * 1.12)
        from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator  # deferred, as above

        ticks = (0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2, 3, 5, 10, 20, 50, 100)
        ax.xaxis.set_major_locator(FixedLocator([t for t in ticks if low / 1.12 <= t <= high * 1.12]))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda x, _: ""))
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([b["name"] for b in rows], fontsize=8)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_xlabel("HEAD / BASE  (< 1: head is better, > 1: head is worse)")
        ax.grid(axis="x", alpha=0.3)
        if n > 1 or comparison.get("timing"):
            ax.legend(loc="best", fontsize=8, framealpha=0.9)
    verdict = comparison["verdict"]["line"]
    verdict = verdict if len(verdict) < 300 else verdict[:297] + "..."
    if rows and comparison.get("timing") and any(p.get("ci_low") is None for _, pts in series for p in pts):
        title += "\nhollow: no interval (fewer than 3 pyperf runs a side)"
    ax.set_title(title + "\n" + textwrap.fill(verdict, 95), fontsize=8.5)
    fig.tight_layout()
    written = []
    try:
        for suffix in (".png", ".svg"):
            target = stem.with_name(stem.name + suffix)
            fig.savefig(target, dpi=120 if suffix == ".png" else None)
            written.append(target)
    finally:
        plt.close(fig)
    return written


def emit(comparison: dict, fmt: str) -> None:
    """Print the comparison in ``fmt`` on stdout."""
    if fmt == "json":
        sys.stdout.write(render_json(comparison))
    elif fmt == "markdown":
        sys.stdout.write(render_markdown(comparison))
    else:
        render_text(comparison, stdout_console())
    sys.stdout.flush()
