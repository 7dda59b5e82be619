"""A third-party strategy, registered through the entry-point group.

The strategy lives in this test: we write a tiny installed distribution
(a .dist-info with entry_points.txt) to a temporary folder on sys.path, which
is exactly what pip leaves behind for a real plug-in package.
"""

import subprocess
import sys
import textwrap

import pytest

from pinbench import strategies
from pinbench.bench.runner import execute
from pinbench.bench.workloads import get_workload

PLUGIN = textwrap.dedent(
    """
    from pinbench.strategies import Strategy

    class BoxEverything(Strategy):
        '''Top-down polling, but every child in its own box ("box futures > 0 bytes").'''
        name = "box_everything"
        summary = "every child boxed, polled top-down"
        origin = "test plug-in"

        def box_edge(self, program, edge):
            return True

    STRATEGY = BoxEverything()
    """
)


@pytest.fixture
def plugin_path(tmp_path, monkeypatch):
    (tmp_path / "pinbench_test_plugin.py").write_text(PLUGIN)
    dist = tmp_path / "pinbench_test_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: pinbench-test-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[pinbench.strategies]\nbox_everything = pinbench_test_plugin:STRATEGY\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_plugin_strategy_is_found_and_runs(plugin_path):
    assert "box_everything" in strategies.available()
    wl = get_workload("chain")
    program = wl.compile(wl.parse_params({"depth": "5", "tasks": "4", "borrow": "none"}))
    m = execute(program, "box_everything", "pool")
    # Every invocation is its own block (like always_heap) but polled top-down:
    # one poll of every level per wake, two wakes (waits=1).
    assert m["allocs"] == 4 * 6
    assert m["polls"] == 4 * 2 * 6
    assert m["live_blocks_end"] == 0
    pinbox = execute(program, "pinbox", "pool")
    assert m["checksum"] == pinbox["checksum"]


def test_plugin_strategy_reaches_the_cli(plugin_path, tmp_path):
    env_path = f"{plugin_path}"
    out = subprocess.run(
        [sys.executable, "-c", "import sys; from pinbench.bench.cli import main; sys.exit(main(['list']))"],
        capture_output=True, text=True, env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )
    assert out.returncode == 0, out.stderr
    assert "box_everything" in out.stdout


def test_a_broken_plugin_is_one_clear_error(tmp_path, monkeypatch):
    dist = tmp_path / "broken-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[pinbench.strategies]\nbroken = no_such_module:X\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(strategies.UsageError, match="broken.*failed to load"):
        strategies.available()


@pytest.mark.native
def test_a_plugin_naming_a_native_backend_is_validated_with_no_code_of_its_own(plugin_path, monkeypatch):
    """The Rust backend writes whatever layout it is given: a plug-in that
    boxes every child and says `native = "rust"` gets a Rust counterpart
    whose allocations, bytes and checksum agree with the model's."""
    from pinbench.bench.validate import disagreements, toolchain, validate

    if toolchain.find_rustc() is None:
        pytest.skip("rustc is not installed")
    (plugin_path / "pinbench_test_plugin.py").write_text(PLUGIN + "\nSTRATEGY.native = 'rust'\n")
    monkeypatch.delitem(sys.modules, "pinbench_test_plugin", raising=False)  # an earlier test imported it
    results = validate([("chain", {"depth": 3, "tasks": 4})], repeat=1, engines=["interpreted"],
                       cache_dir=plugin_path / "cache", strategies=["box_everything"])
    row = results[results["strategy"] == "box_everything"].iloc[0]
    assert row["native"] == "rustc"
    assert row["allocs_native"] == row["allocs_model"] == 4 * 4  # the task and its three boxed children
    assert row["bytes_native"] == row["bytes_model"]
    assert disagreements(results) == []


def install(tmp_path, monkeypatch, name: str, source: str, module: str = "pinbench_odd_plugin") -> None:
    """A plug-in distribution whose entry point ``name`` is ``module``'s
    STRATEGY (a module name of its own per test: Python keeps what it imported)."""
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    dist = tmp_path / f"{module}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[pinbench.strategies]\n{name} = {module}:STRATEGY\n")
    monkeypatch.syspath_prepend(str(tmp_path))


def one_line_run(capsys, *needles):
    """A default-suite run (in-process) stops with one error line naming
    the plug-in (after the built-ins' benchmarks, when only laying out a
    program under it fails); returns the run's progress lines."""
    from pinbench.bench.cli import main

    assert main(["run", "--counts-only", "-w", "chain", "-a", "system", "--engine", "interpreted",
                 "-o", "unused"]) == 2
    lines = capsys.readouterr().err.splitlines()
    errors = [line for line in lines if not line.startswith("[")]  # not a progress line
    assert len(errors) == 1 and errors[0].startswith("pinbench: error: strategy plug-in "), lines
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return lines[:-1]


@pytest.mark.parametrize("name", ["x:y", "a,b", "all"])
def test_a_plugin_whose_name_cannot_be_selected_is_one_line(tmp_path, monkeypatch, capsys, name):
    """`x:y` would read as strategy x with option y: every default run
    failed on a strategy it could not find."""
    install(tmp_path, monkeypatch, name, PLUGIN)
    monkeypatch.chdir(tmp_path)
    assert one_line_run(capsys, f"'{name}'", "rename its entry point") == []
    assert not (tmp_path / "unused").exists()


def test_a_plugin_that_raises_when_made_is_one_line(tmp_path, monkeypatch, capsys):
    install(tmp_path, monkeypatch, "raiser", """
        from pinbench.strategies import Strategy

        class Raiser(Strategy):
            def __init__(self):
                raise RuntimeError("no configuration file")

        STRATEGY = Raiser
    """, module="pinbench_raising_plugin")
    monkeypatch.chdir(tmp_path)
    one_line_run(capsys, "'raiser'", "failed to load: RuntimeError: no configuration file")


def test_a_plugin_whose_rules_raise_is_one_line(tmp_path, monkeypatch, capsys):
    install(tmp_path, monkeypatch, "raiser", """
        from pinbench.strategies import Strategy

        class Raiser(Strategy):
            name = "raiser"

            def box_edge(self, program, edge):
                return {}[edge]

        STRATEGY = Raiser()
    """, module="pinbench_bad_rules_plugin")
    monkeypatch.chdir(tmp_path)
    one_line_run(capsys, "'raiser' (pinbench_bad_rules_plugin) failed to lay out chain: KeyError: 0")
