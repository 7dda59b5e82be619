"""Sharding a sweep and merging it back: `run --shard K/N`, `pinbench merge`.

The workflow's steps are run here as it runs them: N shards as separate
processes at once, then merge; the merged run must equal the unsharded one
on every exact count. Then every way merge refuses shards that do not fit
together, a timed merge (pyperf.json through pyperf's own API), and compare's
rule that a timing verdict needs both sides on one machine.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess

from pathlib import Path

import pytest

from pinbench.bench import compare, merge, shard
from pinbench.bench.metrics import COMPARED
from pinbench.bench.results import RunDocument
from pinbench.bench.runner import Benchmark
from pinbench.bench.suite import build_suite
from pinbench.model.errors import UsageError

from .helpers import CLI, assert_one_line_error, pinbench

# Four cases (workload with parameters), three strategies: counts only, seconds.
SMALL = ["--quick", "--counts-only", "-w", "chain,skynet,fanout,spawn_many", "-s", "pinbox,rc,always_heap"]
SHARDS = 3


def exact(entry: dict) -> dict:
    """What must be equal between a sharded and an unsharded run."""
    return {**{m: entry["metrics"].get(m) for m in COMPARED}, "frame_bytes": entry["metrics"].get("frame_bytes")}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The unsharded run, and the shards run as separate processes at once."""
    root = tmp_path_factory.mktemp("sweep")
    whole = pinbench("run", *SMALL, "-o", root / "whole", cwd=root)
    assert whole.returncode == 0, whole.stderr
    procs = [subprocess.Popen([*CLI, "run", *SMALL, "--shard", f"{k}/{SHARDS}", "-o", str(root / f"shard-{k}")],
                              cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k in range(1, SHARDS + 1)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    return root


def shards(root) -> list:
    return [root / f"shard-{k}" for k in range(1, SHARDS + 1)]


def test_the_merged_shards_equal_the_unsharded_run_on_every_exact_count(sweep, tmp_path):
    done = pinbench("merge", *shards(sweep), "-o", tmp_path / "merged", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"from {SHARDS} of {SHARDS} shards (1 machine(s))" in done.stdout
    whole = json.loads((sweep / "whole" / "results.json").read_text())
    merged = json.loads((tmp_path / "merged" / "results.json").read_text())
    key = compare.benchmark_key
    assert [key(e) for e in merged["benchmarks"]] == [key(e) for e in whole["benchmarks"]]  # the suite's order
    assert [exact(e) for e in merged["benchmarks"]] == [exact(e) for e in whole["benchmarks"]]
    assert merged["complete"] and merged["benchmarks_planned"] == len(whole["benchmarks"]) == 12
    assert merged["merged"] == {"shards": SHARDS, "present": [1, 2, 3], "missing": [], "machines": 1}
    # Each shard held whole cases: one workload's benchmarks all in one shard.
    for folder in shards(sweep):
        doc = json.loads((folder / "results.json").read_text())
        for entry in doc["benchmarks"]:
            assert all(e["workload"] != entry["workload"] for s in shards(sweep) if s != folder
                       for e in json.loads((s / "results.json").read_text())["benchmarks"])
    # metrics.csv has one row per benchmark, and the merged run reads like any run.
    assert len((tmp_path / "merged" / "metrics.csv").read_text().splitlines()) == 13
    gate = pinbench("compare", sweep / "whole", tmp_path / "merged", "--strict", "--fail-on-change", cwd=tmp_path)
    assert gate.returncode == 0, gate.stdout
    shown = pinbench("show", tmp_path / "merged", cwd=tmp_path)
    assert shown.returncode == 0 and "skynet" in shown.stdout
    assert f"merged: {SHARDS} of {SHARDS} shards, run on 1 machine(s)" in shown.stdout
    doc = json.loads((sweep / "shard-1" / "results.json").read_text())
    assert f"shard 1/{SHARDS}: {doc['shard']['cases']} of the suite's 4 cases" in \
        pinbench("show", sweep / "shard-1", cwd=tmp_path).stdout
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".merged")]  # no staging folder left


def test_merge_refuses_shards_that_do_not_fit_together(sweep, tmp_path):
    one, two, three = shards(sweep)
    out = tmp_path / "out"
    assert_one_line_error(pinbench("merge", one, two, "-o", out, cwd=tmp_path), f"shard(s) 3/{SHARDS} missing",
                          "--partial")
    assert_one_line_error(pinbench("merge", one, two, two, three, "-o", out, cwd=tmp_path),
                          f"are both shard 2/{SHARDS}", "overlap")
    assert_one_line_error(pinbench("merge", one, sweep / "whole", "-o", out, cwd=tmp_path), "is not a shard")
    for what, edit in (("commit", lambda d: d["environment"].update(git_commit="0" * 40)),
                       ("pinbench version", lambda d: d.update(pinbench_version="9.9")),
                       ("engine", lambda d: d["engine"].update(engine="interpreted")),
                       ("options", lambda d: d.update(mode="default")),
                       ("suite", lambda d: d["suite"].update(digest="0" * 16))):
        odd = tmp_path / f"odd-{what}"
        shutil.copytree(three, odd)
        doc = json.loads((odd / "results.json").read_text())
        edit(doc)
        (odd / "results.json").write_text(json.dumps(doc))
        with pytest.raises(UsageError, match=f"not shards of one sweep: their {what} differs"):
            merge.merge_runs([one, two, odd])
    assert_one_line_error(pinbench("merge", one, two, odd, "-o", out, cwd=tmp_path), "their suite differs")
    damaged = tmp_path / "damaged"
    shutil.copytree(three, damaged)
    (damaged / "results.json").write_text((three / "results.json").read_text()[:100])
    assert_one_line_error(pinbench("merge", one, two, damaged, "-o", out, cwd=tmp_path), "is not valid JSON")
    assert not out.exists() and not list(tmp_path.glob(".out.*"))  # a refusal writes nothing
    done = pinbench("merge", one, three, "-o", out, "--partial", cwd=tmp_path)
    assert done.returncode == 0 and "missing shard(s) 2: incomplete" in done.stdout
    doc = json.loads((out / "results.json").read_text())
    assert not doc["complete"] and doc["merged"]["missing"] == [2]
    assert f"merged: 2 of {SHARDS} shards, missing 2," in pinbench("show", out, cwd=tmp_path).stdout
    assert pinbench("merge", one, three, "-o", out, "--partial", cwd=tmp_path).returncode == 2  # no --force
    compared = pinbench("compare", sweep / "whole", out, "--format", "json", cwd=tmp_path)
    assert any("the head run is incomplete" in w for w in json.loads(compared.stdout)["warnings"])


def test_merge_force_replaces_only_a_merged_run_never_its_inputs(sweep, tmp_path):
    """Found by an adversarial pass: --force replaced an input shard, wiped
    a folder of unrelated files, and named staging folders that did not exist."""
    one, two, three = shards(sweep)
    copies = []
    for folder in (one, two, three):
        shutil.copytree(folder, tmp_path / folder.name)
        copies.append(tmp_path / folder.name)
    before = (copies[0] / "results.json").read_bytes()
    for out, needle in ((copies[0], "would replace the shard"), (tmp_path, "would replace the shard"),
                        (Path("."), "would replace")):
        assert_one_line_error(pinbench("merge", *copies, "-o", out, "--force", cwd=tmp_path), needle)
    assert (copies[0] / "results.json").read_bytes() == before
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "keep.txt").write_text("mine")
    assert_one_line_error(pinbench("merge", *copies, "-o", notes, "--force", cwd=tmp_path), "holds no pinbench run")
    assert (notes / "keep.txt").read_text() == "mine"
    (tmp_path / "link").symlink_to(notes)
    assert_one_line_error(pinbench("merge", *copies, "-o", tmp_path / "link", "--force", cwd=tmp_path), "is a link")
    merged = tmp_path / "merged"
    assert pinbench("merge", *copies, "-o", merged, cwd=tmp_path).returncode == 0
    doc = json.loads((copies[1] / "results.json").read_text())
    doc["complete"] = False  # an interrupted shard
    (copies[1] / "results.json").write_text(json.dumps(doc))
    partial = pinbench("merge", *copies, "-o", tmp_path / "partial", cwd=tmp_path)
    assert partial.returncode == 0 and "a shard's run was incomplete, so is the merged one" in partial.stdout
    assert json.loads((tmp_path / "partial" / "results.json").read_text())["complete"] is False
    again = pinbench("merge", *copies, "-o", merged, "--force", cwd=tmp_path)  # a merged run is replaced
    assert again.returncode == 0, again.stderr
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging or old folder left


def test_bad_shard_arguments_are_one_line(tmp_path):
    for bad, needle in (("3/2", "the shard must be 1 to 2"), ("0/2", "the shard must be 1 to 2"),
                        ("1/0", "count of shards must be"), ("2", "is not K/N"), ("a/b", "is not K/N")):
        with pytest.raises(ValueError, match=needle):
            shard.parse_shard(bad)
    assert_one_line_error(pinbench("run", *SMALL, "--shard", "3/2", cwd=tmp_path), "--shard", "the shard must be 1 to 2")
    assert_one_line_error(pinbench("compare-branches", "main", "HEAD", "--shard", "x", cwd=tmp_path), "is not K/N")
    assert_one_line_error(pinbench("run", *SMALL, "--balance", tmp_path, cwd=tmp_path), "--balance only balances")
    assert_one_line_error(pinbench("compare-branches", "main", "HEAD", *SMALL, "--shard", "1/2", "--interleave",
                                   "round", cwd=tmp_path), "--interleave round", "not one shard")


def test_the_expected_duration_is_the_cost_the_shards_are_balanced_by():
    suite = build_suite(["chain", "yield_many"], ["pinbox", "rc"], ["system"], ["tasks=1,2"])
    cases = shard.cases(suite)
    assert len(cases) == 4 and all(len(benches) == 2 for _, benches in cases)
    assert shard.estimated_seconds(suite, 2.5) == 4 * 2 * 2.5  # the declared cost of each benchmark
    # An earlier run's durations where it has them (6 and 2 s: 3 and 1 s a
    # benchmark), the median per benchmark (2 s) times the rest.
    known = {cases[0][0]: 6.0, cases[1][0]: 2.0}
    assert shard.estimated_seconds(suite, 2.5, known) == 6 + 2 + 2 * 2 * 2.0
    assert shard.case_costs(cases, known) == [6.0, 2.0, 4.0, 4.0]
    assert shard.case_costs(cases) == [2.0] * 4  # no run: one per benchmark, what --shard balances by


def test_the_partition_keeps_cases_whole_is_deterministic_and_balances_costs():
    suite = build_suite(["chain", "yield_many"], ["pinbox", "rc"], ["system", "pool"], ["tasks=1,2,3,4,5"])
    cases = shard.cases(suite)
    assert len(cases) == 10 and all(len(benches) == 4 for _, benches in cases)
    parts = shard.partition(suite, 4)
    assert sorted(p for part in parts for p in part) == list(range(10))  # each case exactly once
    assert parts == shard.partition(list(suite), 4)
    assert [len(part) for part in parts] == [3, 3, 2, 2]  # equal costs: counts differ by at most one
    # Known costs: longest first, each to the least loaded shard.
    known = {key: float(i + 1) for i, (key, _) in enumerate(cases)}  # 1..10 seconds
    loads = [sum(i + 1 for i in part) for part in shard.partition(suite, 3, known)]
    assert sorted(loads) == [18, 18, 19]  # 55 s in three: the best there is
    chosen, record = shard.select(suite, (2, 3), known)
    assert [b for _, b in chosen] == [b for p in shard.partition(suite, 3, known)[1] for b in cases[p][1]]
    assert record["balance"].startswith("durations ") and record["cases"] == 3
    # A case new since the balancing run costs the median per benchmark of the
    # others (here 13 s, 52 s a case): 100, then the 52s alternate, then 4.
    assert shard.partition(suite, 2, {cases[0][0]: 100.0, cases[1][0]: 4.0}) == [[0, 1, 4, 6, 8], [2, 3, 5, 7, 9]]
    assert shard.parse_shard(" 2/4") == (2, 4)
    assert isinstance(suite[0], Benchmark)


def test_a_shard_with_no_case_is_written_and_counted(tmp_path):
    args = ["--quick", "--counts-only", "-w", "chain", "-s", "pinbox"]
    outs = [tmp_path / f"s{k}" for k in (1, 2)]
    for k, out in enumerate(outs, start=1):
        done = pinbench("run", *args, "--shard", f"{k}/2", "-o", out, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert "holds none of the suite's 1 cases" in done.stderr
    assert json.loads((outs[1] / "results.json").read_text())["benchmarks"] == []
    done = pinbench("merge", *outs, "-o", tmp_path / "m", cwd=tmp_path)
    assert done.returncode == 0 and "1 benchmarks from 2 of 2 shards" in done.stdout


def test_balance_reads_the_durations_of_a_previous_run(sweep, tmp_path):
    done = pinbench("run", *SMALL, "--shard", f"1/{SHARDS}", "--balance", sweep / "whole", "-o", tmp_path / "b",
                    cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads((tmp_path / "b" / "results.json").read_text())
    whole = json.loads((sweep / "whole" / "results.json").read_text())
    expected = shard.select(build_suite(*_filters()), (1, SHARDS), shard.costs_from_run(RunDocument.from_dict(whole)))[0]
    assert [(e["workload"], e["strategy"]) for e in doc["benchmarks"]] == [(b.workload, b.strategy) for _, b in expected]
    assert all(e["seconds"] >= 0 for e in whole["benchmarks"])
    # Shards balanced by different runs do not fit together.
    assert_one_line_error(pinbench("merge", tmp_path / "b", shards(sweep)[1], "-o", tmp_path / "m", cwd=tmp_path),
                          "their balance differs")


def _filters():
    return ["chain,skynet,fanout,spawn_many"], ["pinbox,rc,always_heap"], None, None, "quick"


TIMED = ["-w", "yield_many", "-s", "pinbox", "-a", "system", "-p", "tasks=100,200", "--quick"]


def test_timed_shards_merge_their_pyperf_files(tmp_path):
    import pyperf

    for k in (1, 2):
        done = pinbench("run", *TIMED, "--shard", f"{k}/2", "-o", tmp_path / f"t{k}", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    done = pinbench("merge", tmp_path / "t1", tmp_path / "t2", "-o", tmp_path / "m", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    merged = {b.get_name(): b.get_values() for b in pyperf.BenchmarkSuite.load(str(tmp_path / "m" / "pyperf.json"))}
    shards_ = {}
    for k in (1, 2):
        shards_.update({b.get_name(): b.get_values()
                        for b in pyperf.BenchmarkSuite.load(str(tmp_path / f"t{k}" / "pyperf.json"))})
    assert merged == shards_ and len(merged) == 2
    result = pinbench("compare", tmp_path / "m", tmp_path / "m", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0 and all(b["timing"] for b in json.loads(result.stdout)["benchmarks"])


def test_a_timing_verdict_needs_both_sides_on_one_machine():
    entry = {"workload": "chain", "strategy": "pinbox", "allocator": "system", "params": {"depth": 1},
             "metrics": {"allocs": 10, "ns_per_task_mean": 1.0}}
    other = dict(copy.deepcopy(entry), strategy="rc")
    env = {"hostname": "a", "cpu": "x", "logical_cores": 2, "machine": "x86_64", "os": "Linux"}
    base_doc = {"benchmarks": [entry, other], "environment": env, "complete": True, "mode": "default"}
    head_doc = copy.deepcopy(base_doc)
    head_doc["benchmarks"][1]["machine"] = dict(env, hostname="b")  # a merged run: rc ran elsewhere
    for bench in head_doc["benchmarks"]:
        bench["metrics"]["allocs"] = 11
    runs = [[1.0, 1.0]] * 3
    values = {compare.benchmark_key(e): runs for e in (entry, other)}
    result = compare.compare_runs({"path": "base", "doc": RunDocument.from_dict(base_doc), "values": values},
                                  {"path": "head", "doc": RunDocument.from_dict(head_doc), "values": values})
    same, elsewhere = result["benchmarks"]
    assert same["timing"] is not None and elsewhere["timing"] is None
    assert [c["metric"] for c in elsewhere["changes"]] == ["allocs"]  # counts compared whatever the machine
    assert any("1 benchmark(s) ran on different machines" in w for w in result["warnings"])
