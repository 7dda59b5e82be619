"""compare-branches interrupted while `git worktree add` checks out a ref.

A small repository whose commit holds a file behind a slow smudge filter
(`sleep 30`): `git worktree add` of it takes 30 s, long enough to interrupt
it for sure. Ctrl-C at a terminal (SIGINT to the whole process group) and
SIGTERM to the process must both end the run with the 'interrupted' line
and leave no worktree (not even one "locked initializing") and nothing in
the temporary folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

GIT_ID = ["-c", "user.name=pinbench test", "-c", "user.email=test@pinbench.invalid", "-c", "commit.gpgsign=false"]


def git(*args, cwd):
    done = subprocess.run(["git", *GIT_ID, *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def slow_repo(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    git("config", "filter.slow.smudge", "sleep 30; cat", cwd=repo)
    git("config", "filter.slow.clean", "cat", cwd=repo)
    (repo / ".gitattributes").write_text("*.slow filter=slow\n")
    (repo / "data.slow").write_text("checked out slowly\n")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "slow to check out", cwd=repo)
    return repo


@pytest.mark.parametrize("how", ["SIGINT to the process group", "SIGTERM to the process"])
def test_an_interrupted_worktree_add_leaves_no_worktree_and_no_files(slow_repo, tmp_path, how):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "PINBENCH_CACHE": str(tmp_path / "cache"), "TMPDIR": str(scratch)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pinbench.bench.cli", "compare-branches", "main", "main", "--counts-only",
         "-w", "chain", "-o", str(tmp_path / "out")],
        cwd=slow_repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "building its environment" in line:
            break
    deadline = time.monotonic() + 20
    while "worktree " + str(scratch) not in git("worktree", "list", "--porcelain", cwd=slow_repo):
        assert time.monotonic() < deadline and proc.poll() is None, "".join(seen)
        time.sleep(0.05)
    time.sleep(0.5)  # git is inside the smudge filter now
    if how.startswith("SIGINT"):
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C at a terminal does
        expected = 128 + signal.SIGINT
    else:
        proc.send_signal(signal.SIGTERM)
        expected = 128 + signal.SIGTERM
    started = time.monotonic()
    _, rest = proc.communicate(timeout=60)
    assert time.monotonic() - started < 15, "the interrupt waited for the checkout to finish"
    assert proc.returncode == expected, "".join(seen) + rest
    assert "interrupted; the worktrees are removed" in rest and "Traceback" not in rest, rest
    assert git("worktree", "list", "--porcelain", cwd=slow_repo).count("worktree ") == 1
    assert not (slow_repo / ".git" / "worktrees").exists() or not any((slow_repo / ".git" / "worktrees").iterdir())
    assert list(scratch.iterdir()) == []
    assert git("status", "--porcelain", cwd=slow_repo) == ""
