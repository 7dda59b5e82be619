"""Command-line edges: a reader that leaves early, output folders that are
not what they seem, flags that contradict each other, numbers that only
look like numbers, names too long to be names."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .helpers import CLI, assert_one_line_error, pinbench


@pytest.fixture(scope="module")
def a_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("edges") / "run"
    done = pinbench("run", "--counts-only", "-w", "chain", "-s", "pinbox,rc", "-a", "system", "-o", folder,
                    cwd=folder.parent)
    assert done.returncode == 0, done.stderr
    return folder


@pytest.mark.parametrize("command", [["show", "RUN"], ["list"], ["compare", "RUN", "RUN"], ["explain", "chain"]])
def test_a_reader_that_leaves_early_is_no_error(a_run, command):
    """`pinbench show RUN | head -1`: the pipe closes before pinbench writes;
    exit 0 and nothing on stderr."""
    args = [str(a_run) if arg == "RUN" else arg for arg in command]
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # the reader is gone before the first write
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0 and err == "", err


def test_a_reader_that_leaves_early_keeps_the_exit_status(a_run, tmp_path):
    """`pinbench compare BASE HEAD | head -1` on a regression still exits 1."""
    head = tmp_path / "head"
    shutil.copytree(a_run, head)
    doc = json.loads((head / "results.json").read_text())
    doc["benchmarks"][0]["metrics"]["allocs"] += 1
    (head / "results.json").write_text(json.dumps(doc))
    proc = subprocess.Popen([*CLI, "compare", str(a_run), str(head)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 1 and err == "", err


def test_a_run_whose_output_is_closed_still_writes_its_results(tmp_path):
    """`pinbench run ... 2>&1 | head -1`: the reader leaves at the first
    progress line; the run goes on, writes every benchmark and exits 0."""
    folder = tmp_path / "run"
    proc = subprocess.Popen([*CLI, "run", "--counts-only", "-w", "chain", "-s", "pinbox,rc", "-a", "system,pool",
                             "--engine", "interpreted", "-o", str(folder)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path)
    proc.stdout.close()
    assert proc.wait(timeout=120) == 0
    doc = json.loads((folder / "results.json").read_text())
    assert doc["complete"] and len(doc["benchmarks"]) == 4


@pytest.mark.parametrize("command", [["show", "RUN"], ["compare", "RUN", "RUN"], ["list"]])
def test_a_full_output_device_is_one_line(a_run, command):
    args = [str(a_run) if arg == "RUN" else arg for arg in command]
    with open("/dev/full", "w") as full:
        done = subprocess.run([*CLI, *args], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    done.stdout = ""  # it went to /dev/full
    assert_one_line_error(done, "cannot write to standard output", "No space left on device")


@pytest.mark.parametrize("command", [["show", "RUN"], ["compare", "RUN", "RUN"], ["list"], ["explain", "chain"],
                                     ["run", "--help"]])
def test_an_ascii_only_output_encoding_is_no_error(a_run, command):
    """PYTHONIOENCODING=ascii: characters ASCII lacks (×, µ, …, box lines) become '?'."""
    args = [str(a_run) if arg == "RUN" else arg for arg in command]
    done = pinbench(*args, cwd=a_run.parent, env={"PYTHONIOENCODING": "ascii"})
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.strip()


def test_output_empty_is_refused(tmp_path):
    assert_one_line_error(pinbench("run", "--counts-only", "-w", "chain", "-o", "", cwd=tmp_path),
                          "argument -o/--output: '' names no folder")
    assert_one_line_error(pinbench("compare-branches", "a", "b", "--counts-only", "-o", " ", cwd=tmp_path),
                          "argument -o/--output: ' ' names no folder")
    assert not (tmp_path / "results").exists()


def test_a_non_empty_folder_that_holds_no_run_needs_force(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work\n")
    args = ["run", "--counts-only", "-w", "chain", "-s", "pinbox", "-a", "system", "-o", mine]
    assert_one_line_error(pinbench(*args, cwd=tmp_path), f"{mine} is not empty and holds no pinbench run",
                          "pass --force to write into it")
    assert sorted(p.name for p in mine.iterdir()) == ["thesis.tex"]
    done = pinbench(*args, "--force", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (mine / "thesis.tex").read_text() == "years of work\n" and (mine / "results.json").exists()
    # compare-branches would replace a/, b/ and rounds/ in it: the same rule
    (mine / "a").mkdir()
    (mine / "a" / "keep.txt").write_text("x\n")
    done = pinbench("compare-branches", "HEAD", "HEAD", "--counts-only", "--repo", Path(__file__).parent,
                    "-o", mine / "a", cwd=tmp_path, env={"PINBENCH_CACHE": str(tmp_path / "cache")})
    assert_one_line_error(done, "is not empty and holds no comparison", "pass --force", narrated=True)
    assert not (tmp_path / "cache").exists() and [p.name for p in (mine / "a").iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("command", ["run", "compare-branches"])
def test_counts_only_cannot_be_rigorous(tmp_path, command):
    refs = ["HEAD", "HEAD"] if command == "compare-branches" else []
    for flags in (["--counts-only", "--rigorous"], ["--rigorous", "--counts-only"]):
        assert_one_line_error(pinbench(command, *refs, *flags, "-w", "chain", cwd=tmp_path),
                              "argument --rigorous: not allowed with argument --counts-only")
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("args, needle", [
    (["run", "--counts-only", "-w", "chain", "-p", "depth=\uff11\uff12"], "depth='\uff11\uff12' is not allowed"),
    (["run", "--counts-only", "-w", "chain", "-p", "depth=1_0"], "depth='1_0' is not allowed"),
    (["run", "--counts-only", "-w", "chain", "-p", "depth=\u0663"], "is not allowed"),  # Arabic-Indic 3
    (["explain", "chain", "-p", "depth=\uff13"], "is not allowed"),
    (["run", "--counts-only", "-w", "chain", "--memory-limit", "\uff11"], "argument --memory-limit"),
    (["run", "--counts-only", "-w", "chain", "--memory-limit", "nan"], "argument --memory-limit"),
    (["compare-branches", "HEAD", "HEAD", "--rounds", "\uff13"], "argument --rounds"),
    (["compare", "A", "A", "--threshold", "\uff15%"], "argument --threshold"),
    (["compare", "A", "A", "--alpha", "0.\uff10\uff15"], "argument --alpha"),
])
def test_digits_other_than_ascii_are_not_numbers(tmp_path, args, needle):
    assert_one_line_error(pinbench(*[str(tmp_path) if a == "A" else a for a in args], cwd=tmp_path), needle)


def test_ascii_numbers_still_parse():
    from pinbench.bench.formatting import parse_float, parse_int

    assert [parse_int(t) for t in ("12", " 7 ", "-3", "+4", "0")] == [12, 7, -3, 4, 0]
    assert [parse_float(t) for t in ("0.5", "2", ".25", "1e3", "3.")] == [0.5, 2.0, 0.25, 1000.0, 3.0]
    for bad in ("\uff11\uff12", "1_000", "", "0x10", "1.5"):
        with pytest.raises(ValueError):
            parse_int(bad)
    for bad in ("\uff11.\uff15", "nan", "inf", "1,5", "1e"):
        with pytest.raises(ValueError):
            parse_float(bad)


def test_a_workload_file_override_takes_ascii_digits_only(tmp_path):
    path = tmp_path / "w.toml"
    path.write_text("[fn.main]\nsteps = [{ io = 1 }]\n")
    assert_one_line_error(pinbench("run", "--counts-only", "-w", path, "-p", "tasks=\uff12", cwd=tmp_path),
                          "tasks")


def test_compare_never_calls_a_nan_count_better(a_run, tmp_path):
    head = tmp_path / "head"
    shutil.copytree(a_run, head)
    doc = json.loads((head / "results.json").read_text())
    doc["benchmarks"][0]["metrics"]["allocs"] = float("nan")
    (head / "results.json").write_text(json.dumps(doc))  # json writes NaN as the bare token NaN
    done = pinbench("compare", a_run, head, "--format", "json", cwd=tmp_path)
    assert done.returncode == 1, done.stderr  # a count that became NaN fails the gate
    (bench,) = [b for b in json.loads(done.stdout)["benchmarks"] if b["changes"]]
    assert [(c["metric"], c["kind"]) for c in bench["changes"]] == [("allocs", "regression")]
    text = pinbench("compare", a_run, head, cwd=tmp_path)
    assert "better" not in text.stdout and "REGRESSION" in text.stdout
    # NaN on both sides is the same value, not a change
    assert pinbench("compare", head, head, cwd=tmp_path).returncode == 0


def test_a_workload_name_of_100000_characters_is_one_short_line(tmp_path):
    path = tmp_path / "long.toml"
    path.write_text(f'[workload]\nname = "{"x" * 100_000}"\n\n[fn.main]\nsteps = [{{ io = 1 }}]\n')
    for command in (["run", "--counts-only", "-w", path, "-o", tmp_path / "out"], ["explain", path]):
        line = assert_one_line_error(pinbench(*command, cwd=tmp_path), "workload name", "at most 100 characters")
        assert len(line) < 400
    assert not (tmp_path / "out").exists()


# -- --force replaces a run only with a whole one ------------------------------------------


FORCED = ["run", "--counts-only", "-w", "chain", "-a", "system", "--engine", "interpreted"]


@pytest.fixture
def old_run(tmp_path, monkeypatch):
    """A run with what later commands add to its folder: a saved
    comparison, figures and a report."""
    from pinbench.bench.cli import main

    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "out"
    assert main([*FORCED, "-s", "pinbox", "-o", str(folder)]) == 0
    (folder / "comparison.json").write_text("{}")
    (folder / "figures").mkdir()
    (folder / "figures" / "old.png").write_bytes(b"png")
    (folder / "report.html").write_text("<html>")
    return folder, (folder / "results.json").read_text()


def siblings(folder: Path) -> list:
    return sorted(p.name for p in folder.parent.iterdir() if p != folder)


def test_force_replaces_the_whole_old_run(old_run, capsys):
    from pinbench.bench.cli import main

    folder, _ = old_run
    before = siblings(folder)
    assert main([*FORCED, "-s", "rc", "-o", str(folder), "--force"]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["metrics.csv", "results.json"]  # nothing stale
    doc = json.loads((folder / "results.json").read_text())
    assert doc["complete"] and {b["strategy"] for b in doc["benchmarks"]} == {"rc"}
    assert siblings(folder) == before  # no staging or old folder left beside it


def test_force_keeps_the_old_run_when_the_new_one_fails_to_build(old_run, capsys, monkeypatch):
    from pinbench.bench import engine
    from pinbench.bench.cli import main

    if engine.find_compiler() is None:
        pytest.skip("needs a C compiler")
    folder, text = old_run
    before = siblings(folder)
    monkeypatch.setenv(engine.BREAK_ENV, "1")
    args = [a if a != "interpreted" else "compiled" for a in FORCED]
    assert main([*args, "-s", "rc", "-o", str(folder), "--force"]) == 2
    err = capsys.readouterr().err
    assert "failed to compile" in err and f"{folder} still holds the previous run" in err, err
    assert (folder / "results.json").read_text() == text and (folder / "comparison.json").exists()
    assert siblings(folder) == before


def test_force_interrupted_keeps_the_old_run_and_what_finished(old_run, capsys, monkeypatch):
    from pinbench.bench import runner
    from pinbench.bench.cli import main

    folder, text = old_run
    before = siblings(folder)
    execute, calls = runner.execute, []

    def interrupted_on_the_second(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return execute(*args, **kwargs)

    monkeypatch.setattr(runner, "execute", interrupted_on_the_second)
    assert main([*FORCED, "-s", "rc,pinbox", "-o", str(folder), "--force"]) == 130
    err = capsys.readouterr().err
    assert (folder / "results.json").read_text() == text and (folder / "comparison.json").exists()
    [partial] = [folder.parent / name for name in siblings(folder) if name not in before]
    assert f"1 of 2 benchmarks finished; partial results in {partial}; {folder} still holds" in err, err
    doc = json.loads((partial / "results.json").read_text())
    assert doc["complete"] is False and len(doc["benchmarks"]) == 1


@pytest.mark.parametrize("variable, value", [("PINBENCH_CC", 'gcc "-m64'), ("PINBENCH_CFLAGS", "-O2 '-g")])
def test_an_unbalanced_quote_in_the_compiler_variables_is_one_line(tmp_path, monkeypatch, capsys, variable, value):
    from pinbench.bench.cli import main

    monkeypatch.setenv(variable, value)
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--counts-only", "-w", "chain", "-s", "pinbox", "-a", "system", "-o", "out"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"${variable} is not valid shell words" in err and "quoting" in err, err
    assert not (tmp_path / "out").exists()


# -- helpers.pinbench: a forked command answers as a started one -------------------------------


def started(args, cwd):
    """``python -m pinbench.bench.cli ARGS`` at the width the forked commands get."""
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, "COLUMNS": "90"})


def answer(done) -> tuple:
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("args", [["list"], ["show", "RUN"], ["show", "no-such-run"], ["run", "-w", "nope"],
                                  ["frobnicate"]])
def test_a_forked_command_answers_as_python_dash_m_does(a_run, args):
    """The tests' commands are forked from a server with the harness
    imported (cli_server.py); each must give the status, stdout and stderr
    that ``python -m pinbench.bench.cli`` gives, errors included."""
    args = [str(a_run) if arg == "RUN" else arg for arg in args]
    assert answer(pinbench(*args, cwd=a_run.parent, columns=90)) == answer(started(args, a_run.parent))


def test_a_forked_command_past_its_timeout_is_killed(tmp_path):
    """As subprocess.run's timeout: TimeoutExpired, and the command gone."""
    with pytest.raises(subprocess.TimeoutExpired):
        pinbench("run", "--counts-only", "-w", "yield_many", "-p", "yields=1000000", "-s", "pinbox", "-a", "system",
                 "--engine", "interpreted", "-o", tmp_path / "run", cwd=tmp_path, timeout=1)  # a billion polls
    assert not (tmp_path / "run" / "results.json").exists()
    assert pinbench("list", cwd=tmp_path).returncode == 0  # the server serves the next one


def test_a_command_run_after_the_tests_environment_changed_starts_as_python_dash_m(a_run, monkeypatch):
    """A variable that shapes an interpreter as it starts, set after the
    server started, cannot reach a forked child: that command is started."""
    assert pinbench("list", cwd=a_run.parent).returncode == 0  # the server runs
    monkeypatch.setenv("PYTHONIOENCODING", "ascii:backslashreplace")
    forked, python_dash_m = pinbench("list", cwd=a_run.parent, columns=90), started(["list"], a_run.parent)
    assert "+---" in python_dash_m.stdout and "\u2502" not in python_dash_m.stdout  # rich drew the table in ASCII
    assert answer(forked) == answer(python_dash_m)
