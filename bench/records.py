"""A benchmark's identity, in one place: what matches it across runs, the
name pyperf files its timing under, and the short names tables, progress
lines and comparisons show.

A benchmark of a results document (``results.json``'s ``benchmarks``
entries, a comparison's records) and a cell of a suite
(``runner.Benchmark``) are the same five facts: workload, strategy,
allocator, parameters, and the workload file it came from, if any.
:class:`BenchmarkRecord` holds them and makes every name from them, so the
name a run gives pyperf is the one compare, merge, history and
compare-branches look it up by.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .formatting import param_text, params_text


@dataclass(frozen=True)
class BenchmarkRecord:
    workload: str  # the workload's name (a workload file's own name for its workload)
    strategy: str
    allocator: str
    params: dict = field(default_factory=dict)
    workload_file: str | None = None  # the file a workload came from (None: a built-in)

    @classmethod
    def of(cls, entry: dict) -> BenchmarkRecord:
        """The record of a results document's benchmark entry (or a comparison's record)."""
        return cls(entry["workload"], entry["strategy"], entry["allocator"], entry["params"],
                   entry.get("workload_file"))

    @property
    def key(self) -> str:
        """What matches a benchmark across two runs: workload, strategy,
        allocator and the complete parameter values (not the file: a
        workload file that moved is still the same workload)."""
        return json.dumps([self.workload, self.strategy, self.allocator, sorted(self.params.items())],
                          separators=(",", ":"))

    @property
    def label(self) -> str:
        """The name pyperf gives the benchmark's timing in pyperf.json, and
        history's: every parameter as Python writes it (``True``, as the
        pyperf.json files already written have it); a workload file's
        benchmarks under the file's path, as the run was asked for them."""
        args = ",".join(f"{k}={v}" for k, v in self.params.items())
        return _name(self.workload_file or self.workload, f"[{args}]", self.strategy, self.allocator)

    def name(self, shown=()) -> str:
        """A short name for tables and progress lines: the workload, the
        parameters named in ``shown`` (those that tell it apart from its
        neighbours: :func:`varying`), the strategy and the allocator:
        ``chain[depth=8]/rc/pool``."""
        args = [f"{k}={param_text(self.params[k])}" for k in shown if k in self.params]
        return _name(self.workload, f"[{','.join(args)}]" if args else "", self.strategy, self.allocator)

    @property
    def workload_title(self) -> str:
        """The workload as the report's sections name it: ``chain``, or a
        workload file's ``server (examples/server.toml)``."""
        return self.workload + (f" ({self.workload_file})" if self.workload_file else "")

    @property
    def variant(self) -> str:
        """What tells the benchmarks of one workload and parameter set apart: ``rc/pool``."""
        return f"{self.strategy}/{self.allocator}"

    @property
    def described(self) -> str:
        """The benchmark in a sentence (a problem found in a run): ``chain depth=4 / rc / pool``."""
        return f"{self.workload} {params_text(self.params)} / {self.strategy} / {self.allocator}"

    @property
    def case(self) -> tuple:
        """The workload and parameter set: the benchmarks of one case run the
        same program, so they must compute the same checksum."""
        return (self.workload, self.workload_file, tuple(sorted(self.params.items(), key=str)))


def _name(workload: str, args: str, strategy: str, allocator: str) -> str:
    return f"{workload}{args}/{strategy}/{allocator}"


def varying(params_list) -> list:
    """The parameter names whose values differ between these parameter sets,
    in order of first appearance (a set that lacks a name counts as a
    different value)."""
    params_list = list(params_list)
    names = list(dict.fromkeys(name for params in params_list for name in params))
    return [n for n in names if len({json.dumps(p.get(n)) for p in params_list}) > 1]


def names(entries: list) -> dict:
    """``{key: short name}`` of these benchmarks: each named with the
    parameters that vary among the benchmarks of its workload."""
    records = [BenchmarkRecord.of(entry) for entry in entries]
    by_workload = {}
    for record in records:
        by_workload.setdefault(record.workload, []).append(record.params)
    shown = {workload: varying(params_list) for workload, params_list in by_workload.items()}
    return {record.key: record.name(shown[record.workload]) for record in records}
