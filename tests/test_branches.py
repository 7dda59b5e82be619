"""`pinbench compare-branches`, for real, in a temporary repository.

The repository is a copy of this project (the files of this checkout, so
the code under test is the code being tested) with a few commits on top:
a branch whose pinbox strategy boxes its first call edge (one more
allocation per task: the gate must fail and the Markdown must name the
benchmark), a branch whose compiled engine makes one extra pass over the
locals in `work` (the same counts, more instructions: the instruction gate
must fail), a branch that changes the core's sources (never built: it must
not be given a core kept for other sources), a commit that does not build,
and a harmless one that is interrupted while it builds. Environments are
built into a private PINBENCH_CACHE, so nothing outside the test's folders
is touched. Only main's core is compiled: the other branches that build
leave cython_core/ and setup.py alone, so they copy it.
"""

from __future__ import annotations

import functools
import json
import math
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

# The compiled engine's generated `work` reads the locals once more, into a
# volatile sink: every count and checksum stays the same, the loop does more
# work. (A patch of the generator, not of the core: the core stays the one
# main compiled, and the generated C is part of each engine's cache key.)
WORK = '            f"    {h}->acc = acc;",\n'
EXTRA_PASS = WORK + (
    '            "    static volatile unsigned char pb_sink;",\n'
    '            f"    for (i = 0; i < {n}; i++) pb_sink += mem[i];",\n'
)


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
    'regress' (an extra allocation), 'slower' (an extra pass in the compiled
    engine), 'core' (other core sources), 'broken' (does not build), 'other'."""
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
    generator = path / "bench" / "codegen.py"
    text = generator.read_text()
    assert text.count(WORK) == 1, "the test's patch no longer fits the generated work()"
    generator.write_text(text.replace(WORK, EXTRA_PASS))
    git("commit", "-q", "-am", "the generated work() reads the locals twice", cwd=path)
    git("checkout", "-q", "-b", "core", "main", cwd=path)
    with open(path / "cython_core" / "_executor.pyx", "a") as file:
        file.write("\n# another core\n")
    git("commit", "-q", "-am", "a change to the core's sources", cwd=path)
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


# An A/A comparison of one benchmark with 5 rounds: 5 pyperf runs a side,
# enough for a timing regression to be significant (the smallest possible
# p-value, all of one side's runs slower, is 2 / C(10, 5) = 0.008, below
# alpha 0.01), so it could fire; it may not.
A_A = ("yield_many", "pinbox")


def test_a_ref_against_itself_reports_no_regression(repo, env, tmp_path):
    before = state(repo)
    workload, strategy = A_A
    out = tmp_path / "aa"
    done = pinbench("compare-branches", "main", "main", "--quick", "--rounds", "5", "-w", workload,
                    "-s", strategy, "-o", out, "--format", "json", cwd=repo, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    # One environment serves both arms (built now, or reused from an earlier test).
    made = [line for line in done.stderr.splitlines()
            if "building its environment" in line or "reusing the environment" in line]
    assert len(made) == 1 and made[0].startswith("pinbench: main ("), done.stderr
    result = json.loads(done.stdout)
    (bench,) = result["benchmarks"]
    assert bench["name"] == f"{workload}/{strategy}/system" and not bench["changes"]
    t = bench["timing"]
    assert t["n_base"] == t["n_head"] == 5  # one pyperf run per round and arm (quick)
    assert 2 / math.comb(t["n_base"] + t["n_head"], t["n_base"]) < result["settings"]["alpha"]  # it could fire
    assert not any("too few independent timings" in w for w in result["warnings"])
    # What the arms leave: merged results folders, comparison.json, no rounds.
    for arm in ("a", "b"):
        assert {p.name for p in (out / arm).iterdir()} >= {"results.json", "metrics.csv", "pyperf.json"}
        doc = json.loads((out / arm / "results.json").read_text())
        assert doc["branch_run"]["arm"] == arm and doc["complete"]
        assert doc["environment"]["git_commit"] == before["head"]
        assert doc["benchmarks"][0]["metrics"]["timing_values"] == 15  # 5 rounds x 3 values
    assert (out / "b" / "comparison.json").exists() and not (out / "rounds").exists()
    print(f"\nA/A compare-branches: {bench['name']} HEAD/BASE {t['ratio']:.3f}, p {t['p_value']:.3f}, "
          f"regression {t['regression']}")
    assert not t["regression"] and result["verdict"]["regressions"] == 0
    assert state(repo) == before
    no_worktrees_left(repo, env)


def test_a_branch_that_adds_an_allocation_fails_the_gate(repo, env, tmp_path):
    before = state(repo)
    relative = os.path.relpath(tmp_path / "out", repo)  # resolved where the command starts, not where arms run
    done = pinbench("compare-branches", "main", "regress", "--quick", "--counts-only", "--engine", "interpreted",
                    "-w", "chain", "-s", "pinbox,always_heap", "-o", relative,
                    "--format", "markdown", cwd=repo, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    # --engine reaches every arm's rounds, run benchmark by benchmark (they ran compiled)
    for arm in ("a", "b"):
        assert json.loads((tmp_path / "out" / arm / "results.json").read_text())["engine"]["engine"] == "interpreted"
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
    """The interpreter's counts here (--engine reaches both arms), the
    compiled engine's in the extra-pass test below."""
    done = pinbench("compare-branches", "main", "main", *INSTRUCTION_SUITE, "--engine", "interpreted",
                    "-o", tmp_path / "out", "--format", "json", cwd=repo, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert len(result["benchmarks"]) == 4
    assert all(not b["changes"] for b in result["benchmarks"])
    arms = [json.loads((tmp_path / "out" / arm / "results.json").read_text()) for arm in ("a", "b")]
    counts = [[b["metrics"]["instructions_per_task"] for b in doc["benchmarks"]] for doc in arms]
    assert counts[0] == counts[1] and all(c > 0 for c in counts[0])
    assert arms[0]["instructions"]["tool"].startswith("valgrind")
    assert [doc["engine"]["engine"] for doc in arms] == ["interpreted", "interpreted"]
    # Counts only: each arm's count under valgrind is its only run (no rounds to repeat it).
    assert [doc["branch_run"]["rounds"] for doc in arms] == [0, 0] and "round 1" not in done.stderr


@needs_valgrind
@pytest.mark.native
def test_a_branch_with_an_extra_pass_over_the_locals_fails_the_instruction_gate(repo, env, tmp_path):
    # "slower" patches the compiled engine's generated work(): the default engine.
    done = pinbench("compare-branches", "main", "slower", *INSTRUCTION_SUITE,
                    "-o", tmp_path / "out", "--format", "markdown", cwd=repo, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "slower (" in done.stderr and "copying that core, not compiling it" in done.stderr, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith(":x: **pinbench: REGRESSION:") and "instructions_per_task" in first
    arms = [json.loads((tmp_path / "out" / arm / "results.json").read_text()) for arm in ("a", "b")]
    assert [doc["engine"]["engine"] for doc in arms] == ["compiled", "compiled"]
    assert len(arms[0]["benchmarks"]) == len(arms[1]["benchmarks"]) == 4
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
        else:  # spawn_many runs no `work`: its generated engine is main's (malloc's share moves a little)
            assert abs(after / before - 1) < 0.01, (base["strategy"], before, after)


def test_a_kept_core_is_given_only_to_the_same_core_sources(repo):
    """compare-branches copies a compiled core to a commit whose core sources
    (cython_core/, setup.py) are those it was built from (ReusedCore), and
    to no other: the branches that change a strategy or the engine's
    generator share main's, the ones that change the core or setup.py do not."""
    from pinbench.bench.branches import Repo, reused_core

    git_repo = Repo(repo)
    folder = {ref: reused_core(git_repo, git_repo.resolve(ref)).folder for ref in
              ("main", "regress", "slower", "other", "core", "broken")}
    assert folder["main"] == folder["regress"] == folder["slower"] == folder["other"]
    assert len({folder["main"], folder["core"], folder["broken"]}) == 3


@needs_valgrind
@pytest.mark.native
def test_sharded_comparisons_merge_into_one_verdict(repo, env, tmp_path):
    """compare-branches --shard K/N in N jobs, then merge: the verdict of the
    whole comparison (the regression is in one shard only), one exit status.
    With --instructions each shard counts its own cases alone (it counted
    the whole suite in every shard)."""
    folders, ran = [], 0
    for k in (1, 2, 3):  # two cases in three shards: one shard is empty
        out = tmp_path / f"cmp-{k}"
        done = pinbench("compare-branches", "main", "regress", "--quick", "--counts-only", "--instructions",
                        "-w", "chain,yield_many", "-s", "pinbox", "--shard", f"{k}/3", "-o", out, "--format", "json",
                        cwd=repo, env=env)
        assert done.returncode in (0, 1), done.stderr[-3000:]
        folders.append(out)
        if "holds none of the suite" not in done.stderr:
            ran += 1
            for arm in ("a", "b"):
                (bench,) = json.loads((out / arm / "results.json").read_text())["benchmarks"]
                assert bench["metrics"]["instructions_per_task"] > 0
            counted = [line for line in done.stderr.splitlines() if ": counting instructions of" in line]
            assert len(counted) == 2 and all(f"instructions of {bench['workload']}[" in line for line in counted), \
                done.stderr
            if ran > 1:  # the environments the first shard's job found or built are reused, not rebuilt
                reused = [line for line in done.stderr.splitlines() if "reusing the environment" in line]
                assert [line.split(" (")[0] for line in reused] == ["pinbench: main", "pinbench: regress"], done.stderr
                assert "building its environment" not in done.stderr
    assert ran == 2
    done = pinbench("merge", *folders, "-o", tmp_path / "merged", "--format", "json", cwd=tmp_path, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    merged = json.loads(done.stdout)
    assert merged["verdict"]["regressions"] == 1 and len(merged["benchmarks"]) == 2
    assert [b["name"] for b in merged["benchmarks"] if b["status"] == "regression"] == ["chain/pinbox/system"]
    assert json.loads((tmp_path / "merged" / "b" / "comparison.json").read_text())["verdict"] == merged["verdict"]
    for arm in ("a", "b"):
        doc = json.loads((tmp_path / "merged" / arm / "results.json").read_text())
        assert doc["complete"] and doc["merged"]["present"] == [1, 2, 3]
    helpers.assert_one_line_error(pinbench("merge", *folders[:2], "-o", tmp_path / "partial", cwd=tmp_path, env=env),
                   "shard(s) 3/3 missing")
