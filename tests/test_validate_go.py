"""The Go backend of `pinbench validate`: go_stack against real goroutines.

What must hold is asserted exactly: Go lays out each function's frame as
go_stack's rule says (read from `go build -gcflags=-S` here), and the stack
each parked goroutine holds -- its size class, the nearest power of two of
StackInuse per goroutine -- is the one tests/oracles/rules.py works out from Go's
rules, natively and in the model, on the chain cases whose class the
frame header, the goroutine's base frames or the park path decide.

Go is required in CI (.ci/run installs Debian's golang-go and sets CI);
elsewhere a missing go is a skip that says why.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from pinbench import strategies
from pinbench.bench.validate import go, held_agreement, validate
from pinbench.bench.validate.backend import BACKENDS, nearest_power
from pinbench.bench.workloads import get_workload

from .helpers import in_ci, pinbench
from .oracles import rules

pytestmark = pytest.mark.native  # builds Go programs


def require_go():
    tool = go.find_go()
    if tool is not None:
        return tool
    advice = "install it (Debian: apt-get install golang-go; .ci/run does this) or set GO"
    if in_ci():
        pytest.fail(f"go is not installed, and in CI go_stack must be validated against Go: {advice}")
    pytest.skip(f"NOT VALIDATED AGAINST GO: go is not installed on this machine; {advice}")


def chain(depth, locals_, waits=1):
    workload = get_workload("chain")
    return workload.compile(workload.parse_params({"depth": str(depth), "locals": str(locals_),
                                                   "waits": str(waits), "tasks": "64"}))


def test_go_stack_maps_to_the_go_backend_by_its_layout():
    layout = strategies.get("go_stack").plan(chain(2, 64))
    assert BACKENDS["go"].expresses(layout)
    # fiber's stacks do not grow; a join's arms are goroutines of their own (not generated)
    assert not BACKENDS["go"].expresses(strategies.get("fiber").plan(chain(2, 64)))
    fanout = get_workload("fanout")
    assert not BACKENDS["go"].expresses(strategies.get("go_stack").plan(fanout.compile(fanout.parse_params({}))))


def test_go_lays_out_frames_as_go_stack_says(tmp_path):
    """Every function's frame in Go's own listing equals go_stack's rule."""
    tool = require_go()
    programs = [chain(d, l, w) for d, l, w in ((2, 0, 1), (2, 64, 1), (1, 1024, 1), (1, 20, 2))]
    source = go.generate([(p.view, [strategies.get("go_stack").plan(p)]) for p in programs])
    (tmp_path / "main.go").write_text(source)
    done = subprocess.run([tool.path, "build", "-gcflags=-S", "-o", str(tmp_path / "prog"), "main.go"],
                          cwd=tmp_path, env=go.build_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    frames = go.go_frames(done.stdout + done.stderr)
    for index, program in enumerate(programs):
        layout = strategies.get("go_stack").plan(program)
        for fn, name in enumerate(program.fn_names):
            assert frames[index, fn] == layout.fn_bytes[fn], f"program {index} {name}"
    # The goroutine's base: the `go` statement's closure (16 bytes, rules.GO_BASE's last part).
    closure = [int(line.split("locals=0x")[1].split()[0], 16) for line in (done.stdout + done.stderr).splitlines()
               if line.startswith("main.p0_start.func1 STEXT")]
    assert closure == [rules.GO_BASE - 32 - 8]


# The chain cases whose stack class each part of Go's rule decides: the
# 2 KiB stack, the park path (depth 4, locals 64: 4 KiB cold), the frame
# header (depth 16 without locals: Go's 24-byte frames stay in 2 KiB), a
# big leaf frame, and a stack that grows twice.
CASES = [(0, 0), (4, 64), (16, 0), (0, 1024), (32, 64)]


def test_parked_goroutines_hold_the_stack_gos_rules_say(tmp_path):
    require_go()
    results = validate([("chain", {"depth": d, "locals": l}) for d, l in CASES], repeat=1, languages=["go"],
                       cache_dir=tmp_path, engines=["interpreted"], timeout=300, strategies=["go_stack"])
    rows = results[results["strategy"] == "go_stack"]
    assert len(rows) == len(CASES)
    for (depth, locals_), row in zip(CASES, rows.itertuples()):
        _, stack = rules.held_while_waiting("chain", "go_stack", depth=depth, locals=locals_)
        assert row.native == "go" and row.tasks_native == go.goroutines_for(chain(depth, locals_).view)
        assert nearest_power(row.reserved_model) == stack, (depth, locals_)
        assert nearest_power(row.reserved_native) == stack, (depth, locals_, row.reserved_native)
        assert row.reserved_agree
        assert row.allocs_native is None and row.allocs_agree is None  # held memory only
    assert held_agreement(results) == {"reserved": (len(CASES), len(CASES))}


def test_the_command_prints_and_saves_the_held_figures(tmp_path):
    require_go()
    done = pinbench("validate", "--language", "go", "-w", "chain", "-p", "depth=4", "-p", "locals=64",
                    "--engine", "interpreted", "--repeat", "1", "--cache-dir", tmp_path / "cache",
                    "--save", tmp_path / "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Held memory per parked task" in done.stdout
    assert "held memory (reserved per parked task): 1 of 1 agree with the model" in done.stdout
    row = next(r for r in json.loads((tmp_path / "out" / "validation.json").read_text())["cases"]
               if r["strategy"] == "go_stack")
    _, stack = rules.held_while_waiting("chain", "go_stack", depth=4, locals=64)
    assert nearest_power(row["reserved_native"]) == nearest_power(row["reserved_model"]) == stack == 4096
    assert row["reserved_agree"] is True


def test_without_go_the_go_language_is_one_line(tmp_path):
    done = pinbench("validate", "--language", "go", "--quick", cwd=tmp_path, env={"PATH": str(tmp_path), "GO": ""})
    assert done.returncode == 2
    assert done.stderr.strip() == f"pinbench: error: --language go needs go, which is not found; {go.MISSING}"


def test_without_go_the_default_validate_skips_go_with_a_note(tmp_path):
    done = pinbench("validate", "-w", "chain", "--quick", "--engine", "interpreted", "--repeat", "1", cwd=tmp_path,
                    env={"PATH": str(tmp_path), "GO": "", "RUSTC": "", "CXX": "", "CLANG": ""})  # no compiler at all
    assert done.returncode == 0, done.stderr
    assert f"note: go not found ({go.MISSING}): skipping the go counterparts (go_stack)" in done.stdout


def test_a_case_go_cannot_express_is_a_note_beside_one_it_can(tmp_path):
    require_go()
    results = validate([("fanout", {"k": 2, "depth": 1}), ("chain", {"depth": 1, "locals": 0})], repeat=1,
                       languages=["go"], cache_dir=tmp_path, engines=["interpreted"], timeout=300,
                       strategies=["go_stack"])
    assert any(note.startswith("fanout") and "go_stack: its layout has no go counterpart" in note
               for note in results.attrs["notes"])
    go_rows = results[results["strategy"] == "go_stack"]
    assert list(go_rows["native"].isna()) == [True, False]  # fanout not run; chain run
    _, stack = rules.held_while_waiting("chain", "go_stack", depth=1, locals=0)
    assert nearest_power(go_rows["reserved_native"].iloc[1]) == nearest_power(go_rows["reserved_model"].iloc[1]) == stack
