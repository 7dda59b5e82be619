"""The README's test command on a fresh machine: whatever the checkout holds
besides the project, and whether or not a browser is installed."""

from __future__ import annotations

import subprocess

import pytest

from . import checkout, test_report_browser


def _git(*args, cwd):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", "-c", "commit.gpgsign=false",
                    *args], cwd=cwd, check=True, capture_output=True)


def test_a_copy_of_the_checkout_takes_source_files_but_no_environment(tmp_path):
    root = tmp_path / "clone"
    (root / "bench").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[tool.setuptools]\npackage-dir = { "pinbench" = "pinbench_pkg", "pinbench.bench" = "bench" }\n')
    (root / "bench" / "cli.py").write_text("committed\n")
    (root / "README.md").write_text("committed\n")
    _git("init", "-q", cwd=root)
    _git("add", "-A", cwd=root)
    _git("commit", "-q", "-m", "base", cwd=root)
    (root / "bench" / "cli.py").write_text("edited, not committed\n")
    (root / "bench" / "new_module.py").write_text("new, not added\n")
    for venv in ("venv2", "bench/.env"):  # environments under names .gitignore does not know
        (root / venv / "lib").mkdir(parents=True)
        (root / venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
        (root / venv / "lib" / "big.py").write_text("x\n")
    (root / "scratch.txt").write_text("a newcomer's notes\n")
    names = checkout.project_files(root)
    assert names == ["README.md", "bench/cli.py", "bench/new_module.py", "pyproject.toml"]


def test_outside_a_git_checkout_there_is_no_list(tmp_path):
    assert checkout.project_files(tmp_path) is None


@pytest.mark.parametrize("ci, outcome", [("true", pytest.fail.Exception), ("", pytest.skip.Exception),
                                         ("false", pytest.skip.Exception)])
def test_a_missing_browser_fails_in_ci_and_is_a_visible_skip_elsewhere(monkeypatch, tmp_path, ci, outcome):
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium here
    monkeypatch.delenv("PINBENCH_CHROMIUM", raising=False)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome) as caught:
        test_report_browser.find_chromium()
    assert "chromium is not installed" in str(caught.value)


def test_skip_reasons_are_printed_by_default():
    from pathlib import Path
    import tomllib

    with open(Path(__file__).resolve().parents[1] / "pyproject.toml", "rb") as file:
        options = tomllib.load(file)["tool"]["pytest"]["ini_options"]["addopts"].split()
    assert "-rs" in options or any(o.startswith("-r") and "s" in o for o in options)


def test_a_strategy_without_its_native_compiler_is_no_disagreement():
    """A fresh machine without rustc: validate skips the Rust programs. Their
    rows have no native label (None, which pandas 3 stores as NaN) and must
    not count as disagreements with the model."""
    import pandas as pd

    from pinbench.bench.validate import COLUMNS, disagreements

    def row(strategy, native):
        values = dict.fromkeys(COLUMNS)
        values.update(case=0, workload="chain", params="depth=4", strategy=strategy, native=native,
                      allocs_model=5, allocs_native=5 if native else None, checksum_model=7,
                      checksum_native=7 if native else None, allocs_agree=bool(native), checksum_agree=bool(native))
        return values

    table = pd.DataFrame([row("always_heap", "g++"), row("pinbox", None)], columns=COLUMNS)
    assert disagreements(table) == []
    table.loc[0, "allocs_agree"] = False
    (line,) = disagreements(table)  # the row with a native program still counts
    assert line.startswith("chain depth=4 / always_heap (g++): ") and "native allocations against 5" in line


def test_every_source_package_is_installed():
    """A non-editable `pip install .` (the README's commands, CI) installs
    only the packages pyproject lists: every folder of the source tree
    holding an __init__.py must be one of them (bench/rust_import was not)."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    with open(root / "pyproject.toml", "rb") as file:
        setuptools = tomllib.load(file)["tool"]["setuptools"]
    found = set()
    for package, folder in setuptools["package-dir"].items():
        for init in (root / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(root / folder).parts
            found.add(".".join((package, *relative)))
    assert found == set(setuptools["packages"])
