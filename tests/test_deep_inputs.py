"""Inputs deep or large enough to break a recursive algorithm or a 64-bit
size: each either works (a legitimate program: exact sizes, explain and
report run) or is one line on stderr and exit 2, never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pinbench import strategies
from pinbench.bench.toml_loader import load_program
from pinbench.model.layout import IO_LEAF, MAX_FRAME_BYTES, TOP_DOWN_HEADER

from .helpers import assert_one_line_error, pinbench
from .oracles import rules


def chain_file(path: Path, n: int) -> Path:
    """f0 awaits f1 ... awaits f(n-1), which waits one tick."""
    parts = ['[workload]\nname = "deep"\n']
    for i in range(n):
        step = f'{{ call = "f{i + 1}" }}' if i < n - 1 else "{ io = 1 }"
        parts.append(f"[fn.f{i}]\nsteps = [{step}]\n")
    path.write_text("\n".join(parts))
    return path


def tree_file(path: Path, levels: int) -> Path:
    """t0 joins two t1, each joins two t2 ... t(levels) waits one tick."""
    parts = ['[workload]\nname = "tree"\n']
    for i in range(levels):
        parts.append(f'[fn.t{i}]\nsteps = [{{ join = ["t{i + 1}", "t{i + 1}"] }}]\n')
    parts.append(f"[fn.t{levels}]\nsteps = [{{ io = 1 }}]\n")
    path.write_text("\n".join(parts))
    return path


def test_a_10000_function_chain_has_exact_sizes_and_explain_and_report_work(tmp_path):
    path = chain_file(tmp_path / "deep.toml", 10_000)
    program = load_program(path)
    layout = strategies.get("pinbox").plan(program)  # all inline: one frame nests 10,000 deep
    # f(n-1) is a header and an io leaf; every other fi a header around f(i+1).
    assert [int(layout.fn_size[i]) for i in (9999, 9998, 0)] == [
        TOP_DOWN_HEADER + IO_LEAF, 2 * TOP_DOWN_HEADER + IO_LEAF, 10_000 * TOP_DOWN_HEADER + IO_LEAF,
    ]
    # The native (rustc) size the model counts: each level adds what a
    # three-function chain shows one level adds, down to the same leaf.
    short = strategies.get("pinbox").plan(load_program(chain_file(tmp_path / "short.toml", 3))).fn_bytes
    step, leaf = int(short[0] - short[1]), int(short[2])
    native = layout.fn_bytes
    assert step > 0 and all(int(native[i] - native[i + 1]) == step for i in range(9999)) and int(native[9999]) == leaf
    done = pinbench("explain", path, cwd=tmp_path)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "always_heap: 10000 allocations" in done.stdout
    assert f"pinbox: 1 allocation, {9999 * step + leaf:,} B" in done.stdout
    run = pinbench("run", "--counts-only", "-w", path, "-s", "always_heap,pinbox", "-a", "system",
                   "-o", tmp_path / "out", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    report = pinbench("report", tmp_path / "out", cwd=tmp_path)
    assert report.returncode == 0 and "Traceback" not in report.stderr, report.stderr[-3000:]
    assert (tmp_path / "out" / "report.html").stat().st_size > 0


@pytest.mark.parametrize("workload", ["chain", "fanout"])
def test_depth_1000_built_ins_explain_and_report(tmp_path, workload):
    done = pinbench("explain", workload, "--param", "depth=1000", cwd=tmp_path)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    # a thousand frames of 136 bytes do not fit a fiber's default 128 KiB stack
    every = ",".join(s if s != "fiber" else "fiber:stack=262144" for s in strategies.BUILTIN)
    run = pinbench("run", "--counts-only", "-w", workload, "-p", "depth=1000", "-p", "tasks=2",
                   "-s", every, "-a", "system", "-o", tmp_path / "out", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    report = pinbench("report", tmp_path / "out", cwd=tmp_path)
    assert report.returncode == 0 and "Traceback" not in report.stderr, report.stderr[-3000:]


# D+1, 1+B', 1, 1+B, 1 allocations (README), D = 1000, every level borrowing;
# 1001 frames of 136 bytes (the leaf's 144) on one stack, in one chunk, 1000
# boxed, or 6 to a 984-byte slab (160 with a header).
WRITTEN_OUT = {line.partition(":")[0]: line for line in [
    "always_heap: 1001 allocations: the task's own + 1000 heap frames",
    "anchor_box: 1001 allocations: the task's own + 1000 boxes",
    "pinbox: 1 allocation",
    "rc: 1002 allocations: the task's own + 1001 Rc cells",
    "halo: 1 allocation",
    "go_stack: 1 allocation", "loom: 1 allocation",
    "dotnet: 1001 allocations: the task's own + 1000 boxes",
    "swift_slab: 168 allocations: the task's own + 167 slabs", "fiber: 1 allocation",
]}


def test_chain_depth_1000_explains_every_strategy_exactly(tmp_path):
    done = pinbench("explain", "chain", "--param", "depth=1000", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    heads = [line.split(",")[0] for line in done.stdout.splitlines() if line and not line.startswith(" ")]
    # Every built-in in the registry's order, its headline by the rules
    # (tests/oracles/rules.py explain_headline).
    assert heads[2:] == [rules.explain_headline(s, 1000, "all", 64) for s in strategies.BUILTIN]
    # Those of docs/workloads.md's strategies, written out (the rules' own check).
    by_name = {head.partition(":")[0]: head for head in heads[2:]}
    assert {name: by_name.get(name) for name in WRITTEN_OUT} == WRITTEN_OUT
    # go_stack: Go's frames (tests/oracles/rules.py), 1000 of 64 + 32 bytes and the leaf's 64 + 40, above
    # the goroutine's 56: the leaf's park path needs 96,056 + 705 + the 928-byte guard, past 64 KiB.
    assert "#1 stack, grown by copying: level_1000 at its base, 131,072 B reserved, 96,104 B used" in done.stdout
    assert ("#1 fixed stack and its guard page: level_1000 at its base, 135,168 B reserved, 136,144 B used "
            "(more than it holds: a run stops)") in done.stdout


def test_a_join_tree_whose_frame_fits_is_sized_exactly_and_one_that_cannot_is_refused(tmp_path):
    fits = load_program(tree_file(tmp_path / "t30.toml", 30))
    layout = strategies.get("pinbox").plan(fits)
    # size(t30) = H + 16; size(ti) = H + 2 size(t(i+1)) -> size(t0) = H (2^31 - 1) + 16 * 2^30
    assert int(layout.fn_size[0]) == TOP_DOWN_HEADER * (2**31 - 1) + IO_LEAF * 2**30
    assert int(layout.fn_size[0]) < MAX_FRAME_BYTES
    path = tree_file(tmp_path / "t60.toml", 60)
    run = ["run", "--counts-only", "-w", path, "-s", "pinbox", "-o", tmp_path / "out"]
    for command in (["explain", path], run):
        assert_one_line_error(pinbench(*command, cwd=tmp_path), "would hold", "bytes, beyond the",
                              "make the inline nesting narrower or shallower")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", ["[" * 100_000 + "]" * 100_000, "{ a = " * 5_000 + "1" + " }" * 5_000])
def test_deeply_nested_toml_is_one_line(tmp_path, value):
    path = tmp_path / "nested.toml"
    path.write_text(f'[workload]\nname = "n"\n\n[fn.main]\nsteps = [{{ io = 1 }}]\nx = {value}\n')
    for command in (["explain", path], ["run", "--counts-only", "-w", path, "-o", tmp_path / "out"]):
        assert_one_line_error(pinbench(*command, cwd=tmp_path), "nested hundreds of levels deep", "fix the file")


def test_a_results_json_of_100000_nested_brackets_is_one_line(tmp_path):
    folder = tmp_path / "damaged"
    folder.mkdir()
    (folder / "results.json").write_text("[" * 100_000 + "]" * 100_000)
    for command in (["show", folder], ["report", folder], ["compare", folder, folder]):
        assert_one_line_error(pinbench(*command, cwd=tmp_path), "nests arrays or objects hundreds of levels deep")


def _read_only_folder(tmp_path):
    """A folder this process cannot create files in, and how to run in it:
    chmod 555 for a normal user; for root (who ignores permissions), a
    read-only tmpfs mounted in a private mount namespace of the command."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return folder, []
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("running as root without unshare(1): no way to make a folder read-only for this test")
    probe = subprocess.run([unshare, "-m", "sh", "-c", f"mount -t tmpfs -o ro none '{folder}' && ! touch '{folder}/x'"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"running as root and cannot mount a read-only tmpfs here: {probe.stderr.strip()}")
    return folder, [unshare, "-m", "sh", "-c", f"mount -t tmpfs -o ro none '{folder}' && exec \"$0\" \"$@\""]


def test_output_into_a_read_only_folder_is_one_line_before_anything_runs(tmp_path):
    folder, wrapper = _read_only_folder(tmp_path)
    done = subprocess.run([*wrapper, sys.executable, "-m", "pinbench.bench.cli", "run", "--counts-only",
                           "-w", "chain", "-o", str(folder)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert_one_line_error(done, f"cannot write into the results folder {folder}", "choose another --output")
    assert "[1/" not in done.stderr  # refused before the first benchmark
