"""`pinbench validate --go`: go_stack against a real Go program.

What must hold is asserted: the Go program builds and runs, its figures
parse, every level's frame is read from the assembly listing, and the
model's side equals the stack-doubling rule worked out by hand
(tests/oracles/go_stack.py). How close Go's stacks come to the model's is
recorded (pytest's record_property, and printed with -s), never asserted:
the model's frames are not Go's (docs/validation.md, "go_stack against Go").

Go is required in CI (.ci/run installs Debian's golang-go and sets CI);
elsewhere a missing go is a skip that says why.
"""

from __future__ import annotations

import pytest

from pinbench.bench.validate import go

from .helpers import assert_one_line_error, in_ci, pinbench
from .oracles.go_stack import START, hand_rule

pytestmark = pytest.mark.native  # builds Go programs


def require_go():
    tool = go.find_go()
    if tool is not None:
        return tool
    advice = "install it (Debian: apt-get install golang-go; .ci/run does this) or set GO"
    if in_ci():
        pytest.fail(f"go is not installed, and in CI go_stack must be validated against Go: {advice}")
    pytest.skip(f"NOT VALIDATED AGAINST GO: go is not installed on this machine; {advice}")


CASES = [go.Case(1, 0), go.Case(8, 256), go.Case(4, 1024)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"depth{c.depth}-locals{c.locals}")
def test_the_model_side_is_the_doubling_rule(case):
    cap, used, old = hand_rule(case.depth, case.locals)
    model = go.model_case(case, tasks=10)
    assert model["stack"] == cap
    assert model["used"] == used
    # All ten goroutines are parked at once; the last to grow still holds
    # its old stack at the moment of the copy.
    assert model["peak_reserved"] == 10 * cap + old


def test_go_runs_and_its_figures_are_recorded(tmp_path, record_property, capsys):
    require_go()
    result = go.compare(CASES, goroutines=2_000, cache_dir=tmp_path / "cache", timeout=120)
    assert result["go"].startswith("go version go")
    assert len(result["rows"]) == len(CASES)
    for case, row in zip(CASES, result["rows"]):
        cap, used, _ = hand_rule(case.depth, case.locals)
        assert (row["depth"], row["locals"]) == (case.depth, case.locals)
        assert row["model_stack"] == cap and row["model_frames"] == used
        assert row["goroutines"] == 2_000
        # The program ran and parked them all: a goroutine holds at least Go's starting stack.
        assert row["go_per_goroutine"] >= 0.9 * START
        for stack in (row["go_stack"], row["go_warm_stack"]):
            assert stack >= START and stack & (stack - 1) == 0
        # Every level's frame was read from the listing, and holds its array.
        assert row["go_frames"] is not None and row["go_frames"] >= (case.depth + 1) * (case.locals + 8)
        record_property(
            f"depth{case.depth}-locals{case.locals}",
            f"model {cap} B; Go cold {row['go_per_goroutine']:.1f} B/goroutine ({row['go_stack']}, "
            + ("agree" if row["agree"] else "differ")
            + f"), warm {row['go_warm_per_goroutine']:.1f} ({row['go_warm_stack']}, "
            + ("agree" if row["warm_agree"] else "differ") + ")",
        )
    with capsys.disabled():
        print("\n" + go.format_table(result))


def test_the_command_prints_the_table(tmp_path):
    require_go()
    done = pinbench("validate", "--go", "-p", "depth=1", "-p", "locals=0", "--cache-dir", tmp_path, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "go_stack: stack bytes per goroutine" in done.stdout
    assert "stack sizes agree: " in done.stdout


def test_without_go_the_command_is_a_one_line_note(tmp_path):
    done = pinbench("validate", "--go", "--quick", cwd=tmp_path, env={"PATH": str(tmp_path), "GO": ""})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"note: {go.MISSING}"


@pytest.mark.parametrize("args,needle", [
    (["-w", "fanout"], "chain workload only"),
    (["-p", "k=2"], "depth and locals only"),
    (["-p", "locals=-1"], "locals"),
])
def test_bad_usage_is_one_line(tmp_path, args, needle):
    assert_one_line_error(pinbench("validate", "--go", *args, cwd=tmp_path), needle)
