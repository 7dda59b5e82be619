"""`pinbench compare-branches`, for real, in a temporary repository.

The repository is a copy of this project (the files of this checkout, so
the code under test is the code being tested) with a few commits on top:
a branch whose pinbox strategy boxes its first call edge (one more
allocation per task: the gate must fail and the Markdown must name the
benchmark), a branch whose core makes one extra pass over the locals in
`work` (the same counts, a few percent more instructions: the instruction
gate must fail), a commit that does not build, and a harmless one that is
interrupted while it builds. Environments are built into a private
PINBENCH_CACHE, so nothing outside the test's folders is touched.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pinbench.bench.formatting import exact

from . import checkout, helpers
from .helpers import needs_valgrind

ROOT = Path(__file__).resolve().parents[1]
pinbench = functools.partial(helpers.pinbench, timeout=600)
# compare-branches narrates its builds on stderr: count its error lines only.
assert_one_line_error = functools.partial(helpers.assert_one_line_error, narrated=True)
GIT_ID = ["-c", "user.name=pinbench test", "-c", "user.email=test@pinbench.invalid", "-c", "commit.gpgsign=false"]
ADD_AN_ALLOCATION = '''

def _box_first_edge(self, program, edge):
    """Box the first call edge too: one more allocation per task."""
    return bool(program.edge_back[edge]) or edge == 0


PinBox.box_edge = _box_first_edge
'''

# The core reads the locals once more in every `work` step, into a volatile
# sink: every count and checksum stays the same, the loop does more work.
WORK = "    h.acc = acc\n"
EXTRA_PASS = WORK + "    pb_extra_pass(mem, n)\n"
IMPORT = "import numpy as np\n"
SINK = """
cdef extern from *:
    \"\"\"
    static volatile unsigned char pb_sink;
    static void pb_extra_pass(const unsigned char *mem, long n) {
        for (long i = 0; i < n; i++) pb_sink += mem[i];
    }
    \"\"\"
    void pb_extra_pass(const unsigned char *mem, long n) nogil
"""


def git(*args, cwd):
    done = subprocess.run(["git", *GIT_ID, *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def project_files() -> list:
    names = checkout.project_files(ROOT)
    if names is None:
        pytest.skip("the tests do not run from a git checkout of pinbench")
    return names


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A clone-like repository of this project: main (base), and branches
    'regress' (an extra allocation), 'broken' (does not build), 'other'."""
    path = tmp_path_factory.mktemp("repo") / "pinbench"
    for name in project_files():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    git("init", "-q", "-b", "main", cwd=path)
    git("add", "-A", cwd=path)
    git("commit", "-q", "-m", "base", cwd=path)
    git("checkout", "-q", "-b", "regress", cwd=path)
    with open(path / "strategies" / "pinbox.py", "a") as file:
        file.write(ADD_AN_ALLOCATION)
    git("commit", "-q", "-am", "pinbox boxes its first call edge", cwd=path)
    git("checkout", "-q", "-b", "slower", "main", cwd=path)
    core = path / "cython_core" / "_executor.pyx"
    text = core.read_text()
    assert text.count(WORK) == 1, "the test's patch no longer fits the core's work()"
    assert text.count(IMPORT) == 1, "the test's patch no longer fits the core's imports"
    core.write_text(text.replace(WORK, EXTRA_PASS).replace(IMPORT, IMPORT + SINK))
    git("commit", "-q", "-am", "work() reads the locals twice", cwd=path)
    git("checkout", "-q", "-b", "broken", "main", cwd=path)
    (path / "setup.py").write_text("this is not python\n")
    git("commit", "-q", "-am", "a setup.py that cannot build", cwd=path)
    git("checkout", "-q", "-b", "other", "main", cwd=path)
    with open(path / "README.md", "a") as file:
        file.write("\nAnother line.\n")
    git("commit", "-q", "-am", "docs only", cwd=path)
    git("checkout", "-q", "main", cwd=path)
    # An uncommitted change and an untracked file the command must leave alone.
    with open(path / "README.md", "a") as file:
        file.write("\nwork in progress\n")
    (path / "notes.txt").write_text("mine\n")
    return path


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    tmp = tmp_path_factory.mktemp("tmp")
    return {**os.environ, "PINBENCH_CACHE": str(cache), "TMPDIR": str(tmp), "COLUMNS": "100"}


def state(repo):
    """Everything of the user's clone compare-branches must not change."""
    return {
        "head": git("rev-parse", "HEAD", cwd=repo),
        "branch": git("symbolic-ref", "HEAD", cwd=repo),
        "status": git("status", "--porcelain", "--untracked-files=all", cwd=repo),
        "diff": git("diff", cwd=repo),
        "index": git("diff", "--cached", cwd=repo),
        "worktrees": git("worktree", "list", "--porcelain", cwd=repo),
        "stash": git("stash", "list", cwd=repo),
    }


def no_worktrees_left(repo, env):
    assert git("worktree", "list", "--porcelain", cwd=repo).count("worktree ") == 1
    assert not list(Path(env["TMPDIR"]).glob("pinbench-worktree-*"))


# Three A/A comparisons, each of one benchmark with 5 rounds: 5 pyperf runs a
# side, enough for a timing regression to be significant (the smallest
# possible p-value is 0.008, below alpha 0.01), so each could fire; none may.
A_A = [("yield_many", "pinbox"), ("chain", "always_heap"), ("spawn_many", "rc")]


def test_a_ref_against_itself_reports_no_regression(repo, env, tmp_path):
    before = state(repo)
    results, seconds = [], []
    for i, (workload, strategy) in enumerate(A_A):
        out = tmp_path / f"aa{i}"
        started = time.perf_counter()
        done = pinbench("compare-branches", "main", "main", "--quick", "--rounds", "5", "-w", workload,
                        "-s", strategy, "-o", out, "--format", "json", cwd=repo, env=env)
        seconds.append(time.perf_counter() - started)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        assert ("reusing the environment" in done.stderr) == (i > 0)
        result = json.loads(done.stdout)
        results.append(result)
        (bench,) = result["benchmarks"]
        assert bench["name"] == f"{workload}/{strategy}/system" and not bench["changes"]
        t = bench["timing"]
        assert t["n_base"] == t["n_head"] == 5  # one pyperf run per round and arm (quick)
        assert not any("too few independent timings" in w for w in result["warnings"])
        # What the arms leave: merged results folders, comparison.json, no rounds.
        for arm in ("a", "b"):
            assert {p.name for p in (out / arm).iterdir()} >= {"results.json", "metrics.csv", "pyperf.json"}
            doc = json.loads((out / arm / "results.json").read_text())
            assert doc["branch_run"]["arm"] == arm and doc["complete"]
            assert doc["environment"]["git_commit"] == before["head"]
            assert doc["benchmarks"][0]["metrics"]["timing_values"] == 15  # 5 rounds x 3 values
        assert (out / "b" / "comparison.json").exists() and not (out / "rounds").exists()
    false_alarms = sum(b["timing"]["regression"] for r in results for b in r["benchmarks"])
    print(f"\nA/A compare-branches: {len(results)} comparisons, {false_alarms} false alarms, "
          f"ratios {[round(r['benchmarks'][0]['timing']['ratio'], 3) for r in results]}, "
          f"seconds {[round(s) for s in seconds]}")
    assert false_alarms == 0
    assert state(repo) == before
    no_worktrees_left(repo, env)


def test_a_branch_that_adds_an_allocation_fails_the_gate(repo, env, tmp_path):
    before = state(repo)
    relative = os.path.relpath(tmp_path / "out", repo)  # resolved where the command starts, not where arms run
    done = pinbench("compare-branches", "main", "regress", "--quick", "--counts-only",
                    "-w", "chain,yield_many", "-s", "pinbox,always_heap", "-o", relative,
                    "--format", "markdown", cwd=repo, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    # regress changes a strategy, not the core: main's compiled core is copied, not compiled again
    assert "regress (" in done.stderr and "copying that core, not compiling it" in done.stderr, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith(":x: **pinbench: REGRESSION: 1 regression(s): chain/pinbox/system (allocs 100 -> 200")
    assert "| `chain/pinbox/system` | allocs | 100 | 200 | +100 (+100.0%) | **regression** |" in done.stdout
    assert "neither folder has pyperf.json" in done.stdout
    assert state(repo) == before
    no_worktrees_left(repo, env)
    # The comparison is saved where the report looks for it.
    saved = json.loads((tmp_path / "out" / "b" / "comparison.json").read_text())
    assert saved["verdict"]["failed"] and saved["branches"]["refs"] == {"a": "main", "b": "regress"}


def test_bad_refs_and_bad_places_are_one_line_and_exit_2(repo, env, tmp_path):
    assert_one_line_error(
        pinbench("compare-branches", "main", "no-such-branch", "--counts-only", cwd=repo, env=env),
        "unknown git ref 'no-such-branch'",
    )
    assert_one_line_error(
        pinbench("compare-branches", "main", "main", "--counts-only", cwd=tmp_path, env=env),
        "is not inside a git repository",
    )
    assert_one_line_error(
        pinbench("compare-branches", "main", "main", "-w", "nope", cwd=repo, env=env), "unknown workload",
    )
    assert_one_line_error(
        pinbench("compare-branches", "main", "main", "--rounds", "0", cwd=repo, env=env), "out of range",
    )
    no_worktrees_left(repo, env)


def test_a_ref_that_does_not_build_is_one_line_and_cleans_up(repo, env, tmp_path):
    before = state(repo)
    done = pinbench("compare-branches", "main", "broken", "--counts-only", "-w", "chain", "-s", "pinbox",
                    "-o", tmp_path / "out", cwd=repo, env=env)
    assert_one_line_error(done, "building broken (", "failed in pip install", "build.log")
    assert state(repo) == before
    no_worktrees_left(repo, env)


def test_an_interrupted_build_removes_its_worktree(repo, env, tmp_path):
    before = state(repo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pinbench.bench.cli", "compare-branches", "main", "other", "--counts-only",
         "-w", "chain", "-o", tmp_path / "out"],
        cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    seen = []
    deadline = time.monotonic() + 120
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("pinbench: other (") and "building its environment" in line:
            break
        assert time.monotonic() < deadline, seen
    time.sleep(1.0)  # pip is compiling in the worktree now
    assert len(git("worktree", "list", "--porcelain", cwd=repo).split("worktree ")) == 3
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, "".join(seen) + rest
    assert "interrupted" in rest and "Traceback" not in rest
    assert state(repo) == before
    no_worktrees_left(repo, env)


INSTRUCTION_SUITE = ["--quick", "--counts-only", "--instructions", "-w", "chain,spawn_many", "-s", "pinbox,rc"]


@needs_valgrind
@pytest.mark.native
def test_instruction_counts_of_a_ref_against_itself_are_identical(repo, env, tmp_path):
    done = pinbench("compare-branches", "main", "main", *INSTRUCTION_SUITE, "-o", tmp_path / "out",
                    "--format", "json", cwd=repo, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert len(result["benchmarks"]) == 4
    assert all(not b["changes"] for b in result["benchmarks"])
    arms = [json.loads((tmp_path / "out" / arm / "results.json").read_text()) for arm in ("a", "b")]
    counts = [[b["metrics"]["instructions_per_task"] for b in doc["benchmarks"]] for doc in arms]
    assert counts[0] == counts[1] and all(c > 0 for c in counts[0])
    assert arms[0]["instructions"]["tool"].startswith("valgrind")


@needs_valgrind
@pytest.mark.native
def test_a_branch_with_an_extra_pass_over_the_locals_fails_the_instruction_gate(repo, env, tmp_path):
    # "slower" patches the interpreter's work(); the compiled engine's is generated.
    done = pinbench("compare-branches", "main", "slower", *INSTRUCTION_SUITE, "--engine", "interpreted",
                    "-o", tmp_path / "out", "--format", "markdown", cwd=repo, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "copying that core" not in done.stderr  # its core changed: compiled
    first = done.stdout.splitlines()[0]
    assert first.startswith(":x: **pinbench: REGRESSION:") and "instructions_per_task" in first
    arms = [json.loads((tmp_path / "out" / arm / "results.json").read_text()) for arm in ("a", "b")]
    for base, head in zip(*(doc["benchmarks"] for doc in arms)):
        # Nothing but the instructions changed: same counts, same checksum.
        assert base["metrics"]["allocs"] == head["metrics"]["allocs"]
        assert base["metrics"]["checksum"] == head["metrics"]["checksum"]
        before, after = base["metrics"]["instructions_per_task"], head["metrics"]["instructions_per_task"]
        if base["workload"] == "chain":  # 64 bytes of locals per level: the pass costs several percent
            assert after > before * 1.01
            name = f"chain/{base['strategy']}/system"
            assert f"| `{name}` | instructions_per_task {before:,.0f} -> {after:,.0f} (+" in done.stdout
            assert f"| `{name}` | instructions_per_task | {exact(before)} | {exact(after)} |" in done.stdout


def test_sharded_comparisons_merge_into_one_verdict(repo, env, tmp_path):
    """compare-branches --shard K/N in N jobs, then merge: the verdict of the
    whole comparison (the regression is in one shard only), one exit status."""
    folders = []
    for k in (1, 2, 3):  # two cases in three shards: one shard is empty
        out = tmp_path / f"cmp-{k}"
        done = pinbench("compare-branches", "main", "regress", "--quick", "--counts-only", "-w", "chain,yield_many",
                        "-s", "pinbox,always_heap", "--shard", f"{k}/3", "-o", out, "--format", "json",
                        cwd=repo, env=env)
        assert done.returncode in (0, 1), done.stderr[-3000:]
        folders.append(out)
    done = pinbench("merge", *folders, "-o", tmp_path / "merged", "--format", "json", cwd=tmp_path, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    merged = json.loads(done.stdout)
    assert merged["verdict"]["regressions"] == 1 and len(merged["benchmarks"]) == 4
    assert [b["name"] for b in merged["benchmarks"] if b["status"] == "regression"] == ["chain/pinbox/system"]
    assert json.loads((tmp_path / "merged" / "b" / "comparison.json").read_text())["verdict"] == merged["verdict"]
    for arm in ("a", "b"):
        doc = json.loads((tmp_path / "merged" / arm / "results.json").read_text())
        assert doc["complete"] and doc["merged"]["present"] == [1, 2, 3]
    helpers.assert_one_line_error(pinbench("merge", *folders[:2], "-o", tmp_path / "partial", cwd=tmp_path, env=env),
                   "shard(s) 3/3 missing")
