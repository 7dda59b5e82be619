"""Workload files: examples/echo.toml round-trips to the builder's program,
and every bad file is one UsageError line naming the file."""

import os
from pathlib import Path

import numpy as np
import pytest

from pinbench.model.errors import UsageError
from pinbench.model.program import OP_NAMES, Program
from pinbench.bench.toml_loader import load_program

ECHO = Path(__file__).resolve().parent.parent / "examples" / "echo.toml"
ARRAY_FIELDS = [
    "fn_locals", "fn_borrows", "fn_generator", "fn_step_start", "fn_step_count",
    "fn_postorder", "step_op", "step_arg", "step_wait", "step_edge_start",
    "step_edge_count", "edge_callee", "edge_back", "edge_limit",
]


def echo_by_builder():
    """examples/echo.toml, written with the builder."""
    p = Program("echo", entry="main", tasks=100)
    p.fn("main", locals=64, borrows=True) \
        .work(32).call("read").join("log", "reply").select("read", "idle_timeout").io(2) \
        .yield_now().spawn("audit", count=10, wait=True).gen("checksums", 5) \
        .call("main", limit=3)
    p.fn("read", locals=256, borrows=True).work(16).io(1).work(16)
    p.fn("log").io(1)
    p.fn("reply", locals=32).work(32).io(1)
    p.fn("idle_timeout").io(4)
    p.fn("audit", locals=16).work(16)
    p.fn("checksums", locals=16, borrows=True, generator=True).work(8)
    return p.compile()


def test_echo_example_has_the_exact_structure():
    c = load_program(ECHO)
    assert c.name == "echo"
    assert c.fn_names == ("main", "read", "log", "reply", "idle_timeout", "audit", "checksums")
    assert (c.entry, c.tasks, c.max_io) == (0, 100, 4)
    assert c.fn_locals.tolist() == [64, 256, 0, 32, 0, 16, 16]
    assert c.fn_borrows.tolist() == [1, 1, 0, 0, 0, 0, 1]
    assert c.fn_generator.tolist() == [0, 0, 0, 0, 0, 0, 1]
    assert c.fn_step_count.tolist() == [9, 3, 1, 2, 1, 1, 1]
    assert [OP_NAMES[op] for op in c.step_op[:9]] == [
        "work", "call", "join", "select", "io", "yield_now", "spawn", "gen", "call",
    ]
    assert c.step_arg.tolist()[:9] == [32, 0, 0, 0, 2, 0, 10, 5, 0]
    assert c.step_wait.tolist()[:9] == [0, 0, 0, 0, 0, 0, 1, 0, 0]
    assert c.edge_callee.tolist() == [1, 2, 3, 1, 4, 5, 6, 0]
    assert c.edge_back.tolist() == [0, 0, 0, 0, 0, 0, 0, 1]
    assert c.edge_limit.tolist() == [-1, -1, -1, -1, -1, -1, -1, 3]
    # main: read 1 + join 1 + select 1 + io 2, plus itself three deep.
    assert [c.duration(0, r) for r in range(5)] == [20, 15, 10, 5, 5]
    assert c.describe().splitlines()[0] == "workload 'echo': entry main, 100 tasks, max io 4"


def test_echo_example_equals_the_builder_program():
    from_file, from_builder = load_program(ECHO), echo_by_builder()
    assert from_file.fn_names == from_builder.fn_names
    assert (from_file.entry, from_file.tasks, from_file.max_io) == (
        from_builder.entry, from_builder.tasks, from_builder.max_io,
    )
    for name in ARRAY_FIELDS:
        assert np.array_equal(getattr(from_file, name), getattr(from_builder, name)), name
    assert from_file.describe() == from_builder.describe()


def test_overrides_replace_workload_settings():
    c = load_program(ECHO, {"tasks": "7"})
    assert c.tasks == 7
    c = load_program(ECHO, {"tasks": 3, "name": "echo2"})
    assert (c.tasks, c.name) == (3, "echo2")


def write(tmp_path, text, name="w.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_name_entry_tasks_and_empty_bodies(tmp_path):
    path = write(tmp_path, '[fn.first]\nsteps = [{ call = "second" }]\n[fn.second]\n', "mine.toml")
    c = load_program(path)
    assert (c.name, c.entry, c.tasks) == ("mine", 0, 1)
    assert c.fn_names == ("first", "second")
    assert c.fn_step_count.tolist() == [1, 0]
    assert c.fn_locals.tolist() == [0, 0]
    assert c.fn_borrows.tolist() == [0, 0]


def test_spawn_defaults_and_join_limit(tmp_path):
    path = write(tmp_path, """
[fn.main]
steps = [{ spawn = "leaf" }, { spawn = "leaf", count = 2, wait = false }, { join = ["leaf", "main"], limit = 1 }]
[fn.leaf]
""")
    c = load_program(path)
    assert c.step_arg.tolist() == [1, 2, 0]
    assert c.step_wait.tolist() == [1, 0, 0]
    assert c.edge_back.tolist() == [0, 0, 0, 1]
    assert c.edge_limit.tolist() == [-1, -1, -1, 1]


def file_error(path, *fragments) -> str:
    with pytest.raises(UsageError) as info:
        load_program(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def test_a_file_read_again_unchanged_is_parsed_once_and_a_changed_one_again(tmp_path, monkeypatch):
    """A run, a report and explain read a workload file in several places:
    the same bytes are the same program, parsed once; new bytes (even of the
    same length, written within the same clock tick) are read anew."""
    from pinbench.bench import toml_loader

    parsed = []
    real = toml_loader.tomllib.loads
    monkeypatch.setattr(toml_loader.tomllib, "loads", lambda text: parsed.append(text) or real(text))
    path = write(tmp_path, '[fn.main]\nsteps = [{ io = 1 }]\n')
    first = load_program(path)
    assert load_program(path) is first and len(parsed) == 1
    write(tmp_path, '[fn.main]\nsteps = [{ io = 2 }]\n')
    changed = load_program(path)
    assert len(parsed) == 2 and changed is not first
    assert changed.step_arg.tolist() == [2] and first.step_arg.tolist() == [1]
    # Overrides are never the cached program.
    assert load_program(path, {"tasks": "3"}).tasks == 3 and load_program(path).tasks == 1


MAIN = "[fn.main]\n"


@pytest.mark.parametrize(
    "text, fragments",
    [
        ('[workload]\nname = "x"\n[fn.main\n', ("TOML syntax error", "line 3", "column")),
        ('colour = "blue"\n' + MAIN, ("unknown top-level key 'colour'",)),
        ("workload = 3\n" + MAIN, ("'workload' must be a table",)),
        ("[workload]\ntask = 3\n" + MAIN, ("unknown key 'task' in [workload]", "allowed: name, entry, tasks")),
        ("[workload]\nname = 'w'\n", ("defines no functions", "[fn.NAME]")),
        ("[fn]\nmain = 3\n", ("fn.main must be a table",)),
        ("fn = 3\n", ("'fn' must hold one [fn.NAME] table per function",)),
        (MAIN + "local = 8\n", ("function 'main': unknown key 'local'", "allowed: locals, borrows")),
        (MAIN + "steps = 3\n", ("function 'main': steps must be an array",)),
        (MAIN + "steps = [5]\n", ("function 'main' step 1", "a step must be a table")),
        (MAIN + 'steps = ["yield"]\n', ("function 'main' step 1", "unknown step kind 'yield'")),
        (MAIN + 'steps = ["work"]\n', ("function 'main' step 1", '"work" needs a value')),
        (MAIN + "steps = [{ wrk = 8 }]\n", ("function 'main' step 1", "unknown step kind 'wrk'")),
        (MAIN + "steps = [{}]\n", ("function 'main' step 1", "an empty table is not a step")),
        (MAIN + "steps = [{ work = 0, io = 1 }]\n", ("step 1", "combines work and io")),
        (MAIN + "steps = [{ work = 0, count = 2 }]\n", ("key 'count' is not allowed in a work step",)),
        (MAIN + 'steps = [{ select = ["a"], limit = 2 }]\n', ("key 'limit' is not allowed in a select step",)),
        (MAIN + 'steps = [{ join = "a" }]\n', ("join takes an array of function names",)),
        (MAIN + 'steps = [{ gen = "g" }]\n', ("gen needs the number of items",)),
        # Values the compiler checks, still prefixed with the file.
        (MAIN + 'locals = "big"\n', ("workload 'w'", "locals='big' must be a whole number")),
        (MAIN + "borrows = 3\n", ("function 'main': borrows=3 must be true or false",)),
        (MAIN + 'generator = "no"\n', ("generator='no' must be true or false",)),
        ("[workload]\ntasks = 'many'\n" + MAIN, ("tasks='many' must be a whole number",)),
        ("[workload]\nentry = 'nope'\n" + MAIN, ("the entry 'nope' is not defined",)),
        (MAIN + "steps = [{ io = 0 }]\n", ("function 'main' step 1 io(0)", "from 1")),
        (MAIN + 'steps = [{ call = "ghost" }]\n', ("step 1 call('ghost')", "'ghost' is not defined")),
        (MAIN + 'steps = [{ call = "main" }]\n', ("recursion the format cannot express", "add limit=N")),
        (MAIN + 'steps = [{ call = ["a"] }]\n', ("callee ['a'] is not a function name",)),
        (MAIN + "[fn.lost]\n", ("function 'lost' is not reachable",)),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, text, fragments):
    file_error(write(tmp_path, text), *fragments)


def test_missing_file_and_directory(tmp_path):
    file_error(tmp_path / "absent.toml", "no such workload file")
    file_error(tmp_path, "is a directory")


def test_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[workload]\nname = "caf\xe9"\n')
    file_error(path, "is not UTF-8 text")


def test_unreadable_file(tmp_path, monkeypatch):
    path = write(tmp_path, MAIN)
    path.chmod(0)
    if os.geteuid() == 0:
        # Root reads files whatever their permissions: raise what the OS
        # would raise for anyone else, so the error path is still exercised.
        from pinbench.bench import toml_loader

        def denied(file, *args, **kwargs):
            raise PermissionError(13, "Permission denied", str(file))

        monkeypatch.setattr(toml_loader, "open", denied, raising=False)
    message = file_error(path, "cannot read the workload file")
    assert "Permission denied" in message and "check its permissions" in message


def test_bad_overrides():
    with pytest.raises(UsageError, match=r"echo\.toml: cannot override 'colour'; overridable: name, entry, tasks"):
        load_program(ECHO, {"colour": "red"})
    with pytest.raises(UsageError, match=r"echo\.toml: tasks='lots' must be a whole number"):
        load_program(ECHO, {"tasks": "lots"})
    with pytest.raises(UsageError, match=r"echo\.toml: workload 'echo': tasks=0 must be"):
        load_program(ECHO, {"tasks": "0"})
