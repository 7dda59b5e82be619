"""The timing-fidelity figure: how far the model's time ratios carry over.

For each validated case and each strategy pair (always_heap/pinbox is
g++ against rustc natively; the others rustc against rustc), the model's
time ratio beside the native programs' ratio. Bars of equal length mean the
model's time difference carries over exactly.
"""

from __future__ import annotations

import matplotlib

from ...strategies import color_of
from ..plots import new_figure


def fig_fidelity(data: dict, doc: dict | None = None):
    """A figure from a saved ``validation.json`` (``pinbench validate --save``)."""
    rows = [r for r in data.get("timing", []) if r.get("native_ratio") is not None]
    if not rows:
        return None
    pairs = list(dict.fromkeys(r["ratio"] for r in rows))
    label = lambda r: f"{r['workload']} {r['params']}".strip() + (f" ({r['engine']})" if r.get("engine") else "")
    cases = list(dict.fromkeys(label(r) for r in rows))
    fig = new_figure(10.0, 1.8 + 0.42 * len(cases), layout="constrained")
    axes = fig.subplots(1, len(pairs), sharey=True, squeeze=False)[0]
    for ax, pair in zip(axes, pairs):
        first = pair.split("/")[0]
        colour = color_of(first)
        by_case = {label(r): r for r in rows if r["ratio"] == pair}
        ys = list(range(len(cases)))
        for y, case in zip(ys, cases):
            if case not in by_case:
                continue
            model, native = by_case[case]["model_ratio"], by_case[case]["native_ratio"]
            ax.plot([model, native], [y, y], color=colour, linewidth=1.2, alpha=0.6)
            ax.plot(model, y, "o", markersize=8, markerfacecolor="white", markeredgecolor=colour,
                    markeredgewidth=1.6, label="model" if y == ys[0] else None)
            ax.plot(native, y, "o", markersize=8, color=colour, label="native" if y == ys[0] else None)
        ax.axvline(1.0, color="#555555", linewidth=0.8, linestyle="--")
        natives = {by_case[c]["native"] for c in cases if c in by_case}
        ax.set_title(f"{pair}\n(native: {', '.join(sorted(n for n in natives if n))})", fontsize=10)
        ax.set_xlabel("time ratio (1 = equal; log scale)")
        ax.set_xscale("log")
        values = [v for r in by_case.values() for v in (r["model_ratio"], r["native_ratio"])] + [1.0]
        ax.set_xlim(min(values) / 1.3, max(values) * 1.3)
        plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(plain)
        ax.tick_params(axis="x", which="minor", labelsize=7)
        ax.grid(axis="x", which="both", alpha=0.25)
    axes[0].set_yticks(range(len(cases)), cases)
    axes[0].set_ylim(len(cases) - 0.5, -0.5)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=2, fontsize=9)
    fig.suptitle("Timing fidelity: the model's time ratios against the native programs'", fontsize=11)
    return fig
