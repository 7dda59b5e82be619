"""The metric registry drives the report: a metric declared in
bench/metrics.py with a report column and a figure gets both, with no other
file touched (docs/design.md, "Where to add").

The results folder is written here from a constructed document (no run),
and the metric is registered in a copy of the registry for the one test.
"""

from __future__ import annotations

import pytest

from pinbench.bench import metrics, report
from pinbench.bench.metrics import BYTES, Figure, Metric
from pinbench.bench.results import write_results

GIZMO = Metric(
    "gizmo_bytes_per_task", "bytes of gizmos per task", BYTES, report="gizmo B/task", short="gizmo bytes per task",
    figure=Figure("gizmo-bytes", "Gizmo bytes per task", "What each task's gizmos hold.", rank=99,
                  title="Gizmo bytes per task, by strategy"),
)


def written_run(folder):
    """Two strategies of one chain case, each with a gizmo value."""
    benchmarks = [
        {"workload": "chain", "strategy": strategy, "allocator": "system", "params": {"depth": 4},
         "metrics": {"allocs_per_task": 1 + i, "held_bytes_per_live_task": 100.0 * (i + 1),
                     "peak_bytes_per_live_task": 50.0, "gizmo_bytes_per_task": 12345 * (i + 1)}}
        for i, strategy in enumerate(("always_heap", "pinbox"))
    ]
    write_results(folder, {"complete": True, "benchmarks": benchmarks})
    return folder


@pytest.fixture
def registered(monkeypatch):
    """GIZMO in a copy of the registry, and in what the registry's readers read."""
    registry = metrics.METRICS + (GIZMO,)
    monkeypatch.setattr(metrics, "METRICS", registry)
    monkeypatch.setattr(metrics, "REPORTED", tuple(m for m in registry if m.report))
    monkeypatch.setattr(metrics, "FIGURES", tuple(sorted((m for m in registry if m.figure),
                                                         key=lambda m: m.figure.rank)))


def test_a_metric_declared_with_a_figure_gets_its_figure_and_column(tmp_path, registered):
    page = report.build_report(written_run(tmp_path)).read_text(encoding="utf-8")
    figures = tmp_path / report.FIGURES_DIR
    assert (figures / "gizmo-bytes.png").is_file() and (figures / "gizmo-bytes.svg").is_file()
    assert "<b>Gizmo bytes per task.</b> What each task&#x27;s gizmos hold." in page
    assert "<th class=\"\">gizmo B/task</th>" in page
    assert "<td>12,345</td>" in page and "<td>24,690</td>" in page  # read as its unit (bytes) reads


def test_without_the_declaration_there_is_neither(tmp_path):
    page = report.build_report(written_run(tmp_path)).read_text(encoding="utf-8")
    assert not (tmp_path / report.FIGURES_DIR / "gizmo-bytes.png").exists()
    assert "gizmo B/task" not in page and "12,345" not in page
