"""A results document as terminal tables (rich): what `pinbench run` prints
when it ends and what `pinbench show` prints. The columns of the counts
table are the metrics declared with a ``show`` header in metrics.py."""

from __future__ import annotations

from rich import box
from rich.table import Table

from .engine import engine_text
from .console import EXIT_BUG, EXIT_OK, PROG, esc, stderr_console
from .formatting import compact, format_ns, param_text, params_text
from .metrics import BY_NAME, HEADLINE, INSTRUCTIONS_SHOWN, LATENCY_SHOWN, NS, SHOWN, TIMING_SHOWN
from .records import BenchmarkRecord
from .results import RunDocument, find_problems, groups
from .statistics import CONFIDENCE, TRUST_WITHIN


# Up to this many strategies get a column each; more make a row each.
MAX_STRATEGY_COLUMNS = 5


def _by_strategy(doc: RunDocument, title: str, caption: str, cell, headers: tuple):
    """Per workload and parameters, ``cell(metrics)`` (a tuple of texts, one
    per header) of the group's first benchmark under each strategy: a
    column per strategy, or with many strategies (they would not fit 100
    columns) a row each."""
    strategy_names = doc.strategies
    wide = len(strategy_names) <= MAX_STRATEGY_COLUMNS
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    table.add_column("workload", style="bold")
    if wide:
        for name in strategy_names:
            table.add_column(name, justify="right", no_wrap=True)
    else:
        table.add_column("strategy", no_wrap=True)
        for header in headers:
            table.add_column(header, justify="right", no_wrap=True)
    for group in groups(doc):
        cells = {}
        for bench in group:
            cells.setdefault(bench["strategy"], cell(bench["metrics"]))
        first = group[0]
        params = params_text(first["params"])
        name = esc(first["workload"]) + (f"\n[dim]{esc(params)}[/dim]" if params else "")
        if wide:
            table.add_row(name, *(" / ".join(cells.get(s, ("",) * len(headers))) for s in strategy_names))
            continue
        shown = [s for s in strategy_names if s in cells]
        labels = [esc(first["workload"]), f"[dim]{esc(params)}[/dim]" if params else ""]
        if len(shown) == 1:
            labels = [name]
        for i, strategy in enumerate(shown):
            table.add_row(labels[i] if i < len(labels) else "", esc(strategy), *cells[strategy],
                          end_section=i == len(shown) - 1)
    return table


def _ratio(value, best) -> str:
    """``value`` over the best one, as ``1.00``; a dash when there is no
    ratio (no value, or the best is 0 and this is not)."""
    if value is None or best is None:
        return "-"
    if best == 0:
        return "1.00" if value == 0 else "-"
    ratio = value / best
    return f"{ratio:.0f}" if ratio >= 100 else f"{ratio:.1f}" if ratio >= 10 else f"{ratio:.2f}"


def _headline_cell(metric, m: dict) -> str:
    value = m.get(metric.name)
    if value is None:
        return "-"
    return metric.cell(value) + (" [bold yellow]![/bold yellow]" if metric.unit == NS and m.get("noisy") else "")


def headline_table(doc: RunDocument):
    """The mission's question in one table: per workload and parameters,
    each strategy's held bytes per live task, allocations and time per task
    (metrics.HEADLINE; time only in a timed run), each beside its ratio to
    the best (lowest) strategy's in that workload. The first allocator of
    each group (counts are the same under every allocator)."""
    columns = [m for m in HEADLINE if m.deterministic or has_timing(doc)]
    table = Table(title="per task, by workload and strategy: each value and its ratio to the best strategy's",
                  title_justify="left", caption_justify="left",
                  caption="(x best: over the lowest of the workload's strategies; held: stacks, slabs, chunks and "
                  "boxes, used or not, and the runtime's task objects, per task live at their peak; "
                  + ("time: the median of pyperf's values, ! = too noisy to trust; " if has_timing(doc) else "")
                  + "the first allocator of each workload)")
    table.add_column("workload", style="bold", no_wrap=True)
    table.add_column("strategy", no_wrap=True)
    for metric in columns:
        table.add_column(metric.headline, justify="right", no_wrap=True)
        table.add_column("x\nbest", justify="right", no_wrap=True)
    for group in groups(doc):
        by_strategy = {}
        for bench in group:
            by_strategy.setdefault(bench["strategy"], bench)
        firsts = list(by_strategy.values())
        best = {}
        for metric in columns:
            values = [b["metrics"][metric.name] for b in firsts if b["metrics"].get(metric.name) is not None]
            best[metric.name] = min(values) if values else None
        labels = group_labels(firsts)
        for i, bench in enumerate(firsts):
            m = bench["metrics"]
            cells = []
            for metric in columns:
                cells += [_headline_cell(metric, m), _ratio(m.get(metric.name), best[metric.name])]
            table.add_row(labels[i] if i < len(labels) else "", esc(bench["strategy"]), *cells,
                          end_section=i == len(firsts) - 1)
    return table


def has_instructions(doc: RunDocument) -> bool:
    return any(b["metrics"].get("instructions_per_task") is not None for b in doc.benchmarks)


def instructions_summary_table(doc: RunDocument):
    """Per workload and parameters: instructions and estimated cycles per
    task under each strategy (--instructions; the first allocator's)."""
    return _by_strategy(
        doc, "instructions per task / estimated cycles per task, by strategy",
        "(callgrind, the core's loop only: exact for one binary; see docs/comparing.md)",
        lambda m: tuple(BY_NAME[name].cell(m.get(name)) for name in INSTRUCTIONS_SHOWN),
        tuple(BY_NAME[name].header for name in INSTRUCTIONS_SHOWN),
    )


def group_labels(group: list) -> list:
    """A group's caption runs down its first column: the workload on the
    first row, then its parameters, packed into the rows there are."""
    first = group[0]
    params = [esc(f"{k}={param_text(v)}") for k, v in first["params"].items()]
    labels = [f"[bold]{esc(first['workload'])}[/bold]"]
    slots = max(len(group) - 1, 1)
    if len(params) <= slots:
        labels += [f"[dim]{p}[/dim]" for p in params]
    else:
        per_row = -(-len(params) // slots)
        labels += [f"[dim]{' '.join(params[i:i + per_row])}[/dim]" for i in range(0, len(params), per_row)]
    if len(group) == 1:
        labels = ["\n".join(labels)]
    return labels


def has_timing(doc: RunDocument) -> bool:
    return any("ns_per_task_mean" in b["metrics"] for b in doc.benchmarks)


def noisy_benchmarks(doc: RunDocument) -> list:
    return [b for b in doc.benchmarks if b["metrics"].get("noisy")]


def print_noise_warning(out, doc: RunDocument):
    noisy = noisy_benchmarks(doc)
    if noisy:
        names = ", ".join(BenchmarkRecord.of(b).name() for b in noisy[:6])
        more = f" and {len(noisy) - 6} more" if len(noisy) > 6 else ""
        out.print(
            f"[bold yellow]warning:[/bold yellow] {len(noisy)} benchmark(s) too noisy to trust (the "
            f"{CONFIDENCE:.0%} interval of the median wider than ±{TRUST_WITHIN:.0%}): {esc(names)}{more} "
            "(marked ! ; rerun them, with --rigorous, on a quieter machine)"
        )


def time_cell(m: dict) -> str:
    """The median time per task, ± the wider side of its confidence interval
    (results from before the interval: the mean ± stdev/mean), ! if noisy."""
    if "ns_per_task_mean" not in m:
        return "-"
    flag = " [bold yellow]![/bold yellow]" if m.get("noisy") else ""
    if m.get("timing_within") is None:
        return f"{format_ns(m['ns_per_task_mean'])} ±{m.get('timing_cv', 0):.0%}{flag}"
    return f"{format_ns(m['ns_per_task_median'])} ±{m['timing_within']:.0%}{flag}"


def timing_table(doc: RunDocument):
    """Every benchmark's timing: pyperf's ns/task and the latency percentiles."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0), show_edge=False)
    table.add_column("workload\nparams", overflow="fold")
    table.add_column("strategy", no_wrap=True)
    table.add_column("allocator", no_wrap=True)
    for name in TIMING_SHOWN + LATENCY_SHOWN:
        table.add_column(BY_NAME[name].header, justify="right", no_wrap=True)
    for group in groups(doc):
        labels = group_labels(group)
        for i, bench in enumerate(group):
            m = bench["metrics"]
            table.add_row(
                labels[i] if i < len(labels) else "",
                esc(bench["strategy"]),
                esc(bench["allocator"]),
                time_cell(m),
                str(m.get("timing_values", "-")),
                compact(m.get("tasks_per_second")),
                *(BY_NAME[name].cell(m.get(name)) for name in LATENCY_SHOWN),
                end_section=i == len(group) - 1,
            )
    return table


def results_table(doc: RunDocument):
    # Columns are one space apart (the box's divider) so that the widest
    # rows (20-digit checksums, 6-digit byte counts) fit in 100 columns; the
    # text columns get a second space of their own.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=0, show_edge=False)
    table.add_column("workload\nparams", overflow="fold")
    table.add_column(" strategy", no_wrap=True)
    table.add_column(" alloc-\n ator", no_wrap=True)
    for metric in SHOWN:
        table.add_column(metric.show, justify="right", no_wrap=True)
    table.add_column("checksum", justify="right", no_wrap=True)
    for group in groups(doc):
        first = group[0]
        labels = group_labels(group)
        reference = first["metrics"].get("checksum")
        for i, bench in enumerate(group):
            m = bench["metrics"]
            checksum = m.get("checksum")
            if i == 0:
                checksum_text = str(checksum)
            elif checksum == reference:
                checksum_text = "[dim]same[/dim]"
            else:
                checksum_text = f"[bold red]{checksum}[/bold red]"
            leak = m.get("live_blocks_end") or m.get("live_bytes_end")
            table.add_row(
                labels[i] if i < len(labels) else "",
                " " + esc(bench["strategy"]) + (" [bold red]LEAK[/bold red]" if leak else ""),
                " " + esc(bench["allocator"]),
                *(metric.cell(m.get(metric.name)) for metric in SHOWN),
                checksum_text,
                end_section=i == len(group) - 1,
            )
    return table


def header_lines(folder, doc: RunDocument) -> list:
    environment = doc.environment

    def env(key):  # any JSON scalar may stand there (results.RUN_SHAPE): shown as text
        value = environment.get(key)
        return None if value is None or value == "" or value is False else str(value)

    started = str(doc.started or "?").replace("T", " ")
    machine = env("hostname") or "?"
    details = [x for x in (env("cpu"), f"{env('logical_cores')} cores" if env("logical_cores") else None,
                           " ".join(x for x in (env("os"), env("kernel")) if x) or None) if x]
    commit = env("git_commit")
    commit_text = "no git checkout" if not commit else commit[:12] + (" (dirty)" if env("git_dirty") else "")
    lines = [
        f"[bold]{esc(folder)}[/bold]",
        esc(f"mode: {_given(doc.mode)}  started: {started}  commit: {commit_text}"),
        esc(f"engine: {engine_text(doc)}"),
        esc(
            f"machine: {machine}" + (f" ({', '.join(details)})" if details else "")
            + f"  pinbench {_given(doc.pinbench_version)}"
        ),
    ]
    shard = doc.shard
    if shard:
        lines.append(esc(f"shard {shard['index']}/{shard['count']}: {shard['cases']} of the suite's "
                         f"{shard['suite_cases']} cases (pinbench merge joins the shards)"))
    merged = doc.merged
    if merged:  # each benchmark keeps its own machine; the line above is the first shard's
        missing = f", missing {', '.join(map(str, merged['missing']))}" if merged["missing"] else ""
        lines.append(esc(f"merged: {len(merged['present'])} of {merged['shards']} shards{missing}, "
                         f"run on {merged['machines']} machine(s)"))
    skipped = doc.skipped
    if skipped:
        names = ", ".join(s["benchmark"] for s in skipped[:4]) + (f" and {len(skipped) - 4} more" if len(skipped) > 4 else "")
        lines.append(esc(f"note: {len(skipped)} benchmark(s) skipped, as they do not fit: {names}"))
    if not doc.complete:
        planned = doc.benchmarks_planned
        of = f" of {planned}" if planned else ""
        lines.append(
            f"[bold yellow]warning:[/bold yellow] this run is incomplete: "
            f"{len(doc.benchmarks)}{of} benchmarks finished "
            + ("(a partial merge)" if merged and merged["missing"] else "(interrupted or stopped)")
        )
    return lines


def _given(value) -> str:
    """A field of the run as the header shows it: ``?`` when the run lacks it."""
    return "?" if value is None else value


def report_problems(doc: RunDocument) -> int:
    problems = find_problems(doc)
    if not problems:
        return EXIT_OK
    err = stderr_console()
    err.print(f"[bold red]{PROG}: BUG[/bold red]: {len(problems)} problem(s) in these results:")
    for problem in problems:
        err.print(f"  - {problem}", soft_wrap=True, markup=False)
    return EXIT_BUG
