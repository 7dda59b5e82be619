"""Fuzzing the workload-file path end to end (hypothesis).

Two generators:

- random *structures*: TOML documents built from the format's own keys and
  step kinds with values of every TOML type, plus random edits of a valid
  file's text. Loading one gives a program or a one-line UsageError,
  nothing else.
- random *valid-looking programs*: a DAG of functions (back edges with
  limits too) using every step kind, written as a workload file. The loader
  accepts it or names the problem in one line; an accepted program runs
  under every strategy (or stops on the memory limit with one line) with
  zero live blocks and runtime objects at the end and the checksum the independent oracle
  computes, equal across strategies; ``explain`` draws it.

Bounded: small programs, a fixed number of examples and no deadline per
example, a few tens of seconds in all. In CI (CI=true) the examples are
derandomized (the same every run, no example database); elsewhere each run
tries new ones.
"""

from __future__ import annotations

import json
import re
import string
import sys

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pinbench import strategies as strategy_registry
from pinbench.bench import engine as engines, runner
from pinbench.bench.metrics import DETERMINISTIC, OPTIONAL
from pinbench.model.errors import UsageError
from pinbench.bench.layout_view.model import task_view
from pinbench.bench.layout_view.text import explain_text
from pinbench.bench.toml_loader import load_program

from .helpers import fuzz_settings
from .programs import finished_while_queued_program
from .oracles.checksum import expected_checksum

FUZZ = fuzz_settings(120, HealthCheck.data_too_large)
MEMORY_LIMIT = 64 << 20  # a fuzzed program that needs more stops with one line
STRATEGIES = sorted(strategy_registry.available())


# -- writing TOML ------------------------------------------------------------------------


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else "nan"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"


def toml_document(doc: dict) -> str:
    """Top-level tables as [headers] (and [fn.NAME]), everything else inline."""
    lines = []
    for key, value in doc.items():
        if not isinstance(value, dict):
            lines.append(f"{toml_key(key)} = {toml_value(value)}")
    for key, value in doc.items():
        if not isinstance(value, dict):
            continue
        if key == "fn" and all(isinstance(v, dict) for v in value.values()):
            for name, table in value.items():
                lines.append(f"\n[fn.{toml_key(name)}]")
                lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in table.items()]
        else:
            lines.append(f"\n[{toml_key(key)}]")
            lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()]
    return "\n".join(lines) + "\n"


# -- random structures ----------------------------------------------------------------------

KEYS = ["workload", "fn", "name", "entry", "tasks", "locals", "borrows", "generator", "steps", "work",
        "call", "join", "select", "io", "spawn", "gen", "items", "count", "wait", "limit", "yield_now",
        "main", "f", "g", "x"]
NAMES = ["main", "f", "g", "h", "", "main ", "0x", "ü", "a" * 300]
INTS = st.one_of(st.integers(-3, 20), st.sampled_from([0, 1, 2**31, 2**32 + 1, 2**63 - 1, -(2**63),
                                                         10_000_000, 10_000_001, 100_000_001]))
SCALARS = st.one_of(INTS, st.booleans(), st.sampled_from(NAMES), st.text(max_size=8),
                    st.floats(allow_nan=True, allow_infinity=True))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)),
    max_leaves=20,
)
STEP = st.one_of(
    st.just("yield_now"), st.sampled_from(["work", "io", "spawn", "bogus"]),
    st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=3),
    st.fixed_dictionaries({"call": st.sampled_from(NAMES)}, optional={"limit": INTS}),
    st.fixed_dictionaries({"join": st.lists(st.sampled_from(NAMES), max_size=3)}, optional={"limit": INTS}),
    st.fixed_dictionaries({"spawn": st.sampled_from(NAMES)},
                          optional={"count": INTS, "wait": st.booleans(), "limit": INTS}),
    st.fixed_dictionaries({"gen": st.sampled_from(NAMES), "items": INTS}),
    st.fixed_dictionaries({"work": INTS}), st.fixed_dictionaries({"io": INTS}),
    VALUES,
)
FN_TABLE = st.fixed_dictionaries({}, optional={"locals": INTS, "borrows": st.one_of(st.booleans(), VALUES),
                                               "generator": st.booleans(), "steps": st.lists(STEP, max_size=4),
                                               "x": VALUES})
DOCUMENT = st.fixed_dictionaries(
    {},
    optional={
        "workload": st.fixed_dictionaries({}, optional={"name": st.sampled_from(NAMES), "entry": st.sampled_from(NAMES),
                                                        "tasks": st.one_of(INTS, SCALARS), "x": VALUES}),
        "fn": st.one_of(st.dictionaries(st.sampled_from(NAMES[:4]), FN_TABLE, max_size=4), VALUES),
        "x": VALUES,
    },
)


def load_or_one_line(path):
    """The program, or None after checking the error is one line naming the file."""
    try:
        return load_program(path)
    except UsageError as error:
        message = str(error)
        assert message and "\n" not in message and "Traceback" not in message, message
        assert message.startswith(str(path)), message
        return None


@FUZZ
@given(doc=DOCUMENT)
def test_random_structures_load_or_fail_in_one_line(tmp_path_factory, doc):
    path = tmp_path_factory.mktemp("fuzz") / "w.toml"
    path.write_text(toml_document(doc), encoding="utf-8")
    program = load_or_one_line(path)
    if program is not None:
        check_runs(program)


VALID = (
    '[workload]\nname = "echo"\ntasks = 2\n\n[fn.main]\nlocals = 16\nborrows = true\n'
    'steps = [{ work = 8 }, { call = "a" }, { join = ["a", "b"] }, { select = ["a", "c"] }, "yield_now",'
    ' { spawn = "b", count = 2 }, { gen = "g", items = 2 }, { call = "main", limit = 1 }]\n\n'
    '[fn.a]\nsteps = [{ io = 1 }]\n\n[fn.b]\nlocals = 8\nsteps = [{ work = 8 }]\n\n'
    '[fn.c]\nsteps = [{ io = 3 }]\n\n[fn.g]\ngenerator = true\nlocals = 4\nsteps = [{ work = 4 }]\n'
)


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, len(VALID)), st.integers(0, 3),
                                st.text(alphabet=string.printable + "\u00e9\u4e00\x00", max_size=3)),
                      min_size=1, max_size=4))
def test_random_edits_of_a_valid_file_load_or_fail_in_one_line(tmp_path_factory, edits):
    text = VALID
    for at, cut, insert in edits:
        at = min(at, len(text))
        text = text[:at] + insert + text[at + cut:]
    path = tmp_path_factory.mktemp("fuzz") / "w.toml"
    path.write_text(text, encoding="utf-8")
    program = load_or_one_line(path)
    if program is not None:
        check_runs(program)


# -- random valid programs ------------------------------------------------------------------


@st.composite
def programs(draw):
    """A workload file: functions f0..fn (f0 the entry), each calling later
    ones (and, with a limit, earlier ones), generators g0.., every step kind."""
    n = draw(st.integers(1, 5))
    names = [f"f{i}" for i in range(n)]
    gens = [f"g{i}" for i in range(draw(st.integers(0, 2)))]
    doc = {"workload": {"name": "fuzzed", "tasks": draw(st.integers(1, 3))}, "fn": {}}
    for i, name in enumerate(names):
        size = draw(st.sampled_from([0, 1, 8, 13, 64]))
        later, earlier = names[i + 1:], names[: i + 1]
        steps = []
        for _ in range(draw(st.integers(0, 5))):
            kinds = ["io", "yield", "back_call", "back_join", "back_spawn"] + (["work"] if size else []) \
                + (["call", "join", "select", "spawn"] if later else []) + (["gen"] if gens else [])
            kind = draw(st.sampled_from(kinds))
            if kind == "work":
                steps.append({"work": draw(st.integers(0, size))})
            elif kind == "io":
                steps.append({"io": draw(st.integers(1, 4))})
            elif kind == "yield":
                steps.append("yield_now")
            elif kind == "call":
                steps.append({"call": draw(st.sampled_from(later))})
            elif kind == "join":
                steps.append({"join": draw(st.lists(st.sampled_from(later), min_size=1, max_size=3))})
            elif kind == "select":
                steps.append({"select": draw(st.lists(st.sampled_from(later), min_size=1, max_size=3, unique=True))})
            elif kind == "spawn":
                steps.append({"spawn": draw(st.sampled_from(later)), "count": draw(st.integers(1, 3)),
                              "wait": draw(st.booleans())})
            elif kind == "gen":
                steps.append({"gen": draw(st.sampled_from(gens)), "items": draw(st.integers(0, 4))})
            elif kind == "back_call":
                steps.append({"call": draw(st.sampled_from(earlier)), "limit": draw(st.integers(0, 2))})
            elif kind == "back_join":
                steps.append({"join": [draw(st.sampled_from(earlier))] + ([draw(st.sampled_from(later))] if later else []),
                              "limit": draw(st.integers(0, 2))})
            else:
                steps.append({"spawn": draw(st.sampled_from(earlier)), "count": draw(st.integers(1, 2)),
                              "wait": draw(st.booleans()), "limit": draw(st.integers(0, 2))})
        doc["fn"][name] = {"locals": size, "borrows": draw(st.booleans()), "steps": steps}
    # Every function reachable (the loader refuses others): one not called
    # by an earlier function is called by one drawn among them.
    for i, name in enumerate(names[1:], start=1):
        called = any(name in json.dumps(doc["fn"][f]["steps"]) for f in names[:i])
        if not called:
            doc["fn"][names[draw(st.integers(0, i - 1))]]["steps"].append({"call": name})
    used = json.dumps([doc["fn"][f]["steps"] for f in names])
    gens = [g for g in gens if f'"{g}"' in used]
    for name in gens:
        size = draw(st.sampled_from([1, 8, 30]))
        doc["fn"][name] = {"generator": True, "locals": size, "borrows": draw(st.booleans()),
                           "steps": [{"work": draw(st.integers(0, size))} for _ in range(draw(st.integers(0, 3)))]}
    return doc


def check_runs(program):
    """Every strategy: a leak-free run with the oracle's checksum, or one line
    (the memory limit); explain draws every strategy."""
    expected = None
    checksums = {}
    for name in STRATEGIES:
        view = task_view(program, name)
        assert explain_text([view])
        try:
            metrics = runner.execute(program, name, "system", MEMORY_LIMIT)
        except UsageError as error:
            assert "\n" not in str(error) and "memory" in str(error), str(error)
            continue
        assert metrics["live_blocks_end"] == 0 and metrics["live_bytes_end"] == 0, (name, metrics)
        assert metrics["allocs"] == metrics["frees"], (name, metrics)
        # The runtime's task objects (a g, a VirtualThread, a box's Task...) end with their
        # tasks, threads and boxes, cancelled ones included; held is never less than reserved.
        assert metrics["runtime_live_end"] == 0, (name, metrics)
        assert metrics["peak_held_bytes"] >= metrics["peak_reserved_bytes"], (name, metrics)
        checksums[name] = metrics["checksum"]
    if checksums:
        limit = sys.getrecursionlimit()
        try:
            expected = expected_checksum(program)  # raises the recursion limit for itself
        finally:
            sys.setrecursionlimit(limit)
        assert set(checksums.values()) == {expected}, (checksums, expected)


@FUZZ
@given(doc=programs(), allocator=st.sampled_from(runner.ALLOCATORS))
def test_random_programs_run_leak_free_with_the_oracles_checksum(tmp_path_factory, doc, allocator):
    path = tmp_path_factory.mktemp("fuzz") / "w.toml"
    path.write_text(toml_document(doc), encoding="utf-8")
    program = load_or_one_line(path)
    if program is None:
        event("refused by the loader")
        return
    event("loaded and run")
    check_runs(program)
    # The same program under the drawn allocator: the same counts as under system.
    for name in STRATEGIES:
        try:
            a = runner.execute(program, name, "system", MEMORY_LIMIT)
            b = runner.execute(program, name, allocator, MEMORY_LIMIT)
        except UsageError:
            continue
        counted = [m for m in DETERMINISTIC if m not in OPTIONAL]  # instruction counts need --instructions
        assert {m: a[m] for m in counted} == {m: b[m] for m in counted}, (name, allocator)


@pytest.mark.parametrize("engine", [engines.INTERPRETED, engines.COMPILED])
def test_a_task_that_finishes_while_queued_is_not_polled_again(engine):
    """Its run queue entry stays taken until the queue reaches it, under
    every strategy and both engines: no crash, no leak, the oracle's
    checksum."""
    program = finished_while_queued_program()
    expected = expected_checksum(program)
    for name in STRATEGIES:
        metrics = runner.execute(program, name, "system", engine=engine)
        assert (metrics["tasks"], metrics["checksum"]) == (3, expected), name
        assert metrics["live_blocks_end"] == 0 and metrics["allocs"] == metrics["frees"], name


def test_the_program_generator_yields_runnable_programs(tmp_path):
    """The fuzzer would prove little if the loader refused everything it
    makes: most generated programs must load and run."""
    from hypothesis import find

    loaded = []

    def accepted(doc):
        path = tmp_path / f"p{len(loaded)}.toml"
        path.write_text(toml_document(doc), encoding="utf-8")
        try:
            program = load_program(path)
        except UsageError:
            return False
        loaded.append(program)
        return len(program.fn_names) >= 4 and any(op == 3 for op in program.step_op.tolist())

    find(programs(), accepted, settings=settings(max_examples=2000, database=None, derandomize=True))
