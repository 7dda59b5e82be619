"""Workload files are data: no name reaches generated code as code.

Every generator (the compiled engine's C, validate's C++ and Rust) is run on
the names of tests/hostile_names.py, each name as a program's name and as a
function's, under every strategy or variant, in a folder of the test's own;
the programs are built and run; the names must change nothing but comment
text, and no file may appear that the program did not create. The
held-memory generators (Go, Java, Boost) are given the names too; as they
write case and function numbers, never a name, a named source is the
plainly named program's, byte for byte, and that one program is built and
run.
"""

from __future__ import annotations

import dataclasses
import subprocess
import urllib.parse

import pytest

from pinbench import strategies
from pinbench.bench import cache as cache_folders
from pinbench.bench import codegen, engine
from pinbench.bench.escape import MAX_COMMENT, comment_text
from pinbench.bench.validate import _run_native, toolchain
from pinbench.bench.validate.backend import BACKENDS, missing_note
from pinbench.cython_core import _executor
from pinbench.model.program import Program

from .helpers import pinbench
from .hostile_names import HOSTILE_NAMES, PAYLOAD_FILE

STRATEGIES = sorted(strategies.available())
CC = engine.find_compiler()


def test_the_corpus_is_large_and_distinct():
    assert len(set(HOSTILE_NAMES)) == len(HOSTILE_NAMES) >= 50


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_comment_text_keeps_only_inert_characters_and_can_be_decoded(name):
    text = comment_text(name)
    assert text.isascii() and text.isprintable()
    for dangerous in ("*", "/", "\\", "?", '"', "`"):
        assert dangerous not in text
    assert len(text) <= MAX_COMMENT
    if not text.endswith("..."):  # a name cut for length cannot be decoded whole
        assert urllib.parse.unquote(text, errors="surrogatepass") == name


def small_program(name: str):
    """A task that borrows across an await of a child that waits: every
    strategy stores something, and the name is the user's."""
    p = Program("plain", tasks=3)
    p.fn("main", locals=32, borrows=True).work(16).call("leaf").work(16)
    p.fn("leaf", locals=8).work(8).io(1)
    return dataclasses.replace(p.compile(), name=name)


def named(program, i: int):
    """``program`` named by the ``i``-th hostile name, its functions by the
    names after it: over ``i``, every name is a program's name and a
    function's."""
    fn_names = tuple(HOSTILE_NAMES[(i + k + 1) % len(HOSTILE_NAMES)] for k in range(len(program.fn_names)))
    return dataclasses.replace(program, name=HOSTILE_NAMES[i], fn_names=fn_names)


def leaf_program():
    """One function that borrows its locals across an io: a frame per task.
    A native program's build time goes by its coroutines, so a case of one
    function is the cheapest case that still carries a program's name and
    a function's."""
    p = Program("plain", tasks=3)
    p.fn("main", locals=32, borrows=True).work(16).io(1)
    return p.compile()


def chain_of(length: int):
    """``length`` functions, each calling the next, the last waiting on io."""
    p = Program("plain", tasks=100)  # a Java class counted once per task stands out of background allocations
    for i in range(length - 1):
        p.fn(f"f{i}", locals=8).work(4).call(f"f{i + 1}")
    p.fn(f"f{length - 1}", locals=8).work(4).io(1)
    return p.compile()


# What separates the sources that one call of the C preprocessor strips of
# their comments: an identifier it passes through, on a line of its own.
NEXT_SOURCE = "\npinbench_next_source\n"


def without_comments(*sources: str) -> list:
    """The tokens a C compiler sees in each source: comments removed by its
    own lexer (with trigraphs on, as in ISO C), includes and macros left as
    written. One compiler process for them all: a source whose comment ran
    on would swallow the separator after it and change the count."""
    done = subprocess.run(
        [CC.command[0], "-fpreprocessed", "-trigraphs", "-dD", "-E", "-P", "-x", "c", "-"],
        input=NEXT_SOURCE.join(sources).encode("utf-8", "surrogatepass"), capture_output=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout.decode().split(NEXT_SOURCE.strip())


@pytest.mark.skipif(CC is None, reason="the compiled engine needs a C compiler")
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_engine_source_is_the_same_code_whatever_the_name(strategy):
    plain = small_program("plain")
    layout = strategies.get(strategy).plan(plain)
    sources = [codegen.generate(named(plain, i), layout, key="k") for i in range(len(HOSTILE_NAMES))]
    # The plain source as many times over, stripped alike: the same
    # separators, so the same lines around them.
    expected = without_comments(*[codegen.generate(plain, layout, key="k")] * len(sources))
    stripped = without_comments(*sources)
    assert len(stripped) == len(expected)
    for i, (source, plain_source) in enumerate(zip(stripped, expected)):
        assert source == plain_source, repr(HOSTILE_NAMES[i])


@pytest.mark.skipif(CC is None, reason="the compiled engine needs a C compiler")
def test_engines_named_by_hostile_names_build_and_run_with_no_side_effect(tmp_path, monkeypatch):
    """Each name once as the program's name (and twice as a function's),
    the strategies taking turns: built, loaded and run in this process (a
    constructor would run at load), counting exactly what the plainly named
    program counts."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PINBENCH_CACHE", str(tmp_path / "cache"))
    plain = small_program("plain")
    expected = {}
    for i, name in enumerate(HOSTILE_NAMES):
        strategy = STRATEGIES[i % len(STRATEGIES)]
        layout = strategies.get(strategy).plan(plain)
        program = named(plain, i)
        result = _executor.run(program, layout, "system", engine=engine.compiled(program, layout))
        if strategy not in expected:
            expected[strategy] = _executor.run(plain, layout, "system")
        for counter in ("checksum", "allocs", "peak_live_bytes", "polls", "live_blocks_end"):
            assert result[counter] == expected[strategy][counter], (repr(name), strategy, counter)
    assert set(p.name for p in tmp_path.iterdir()) == {"cache"}
    assert not any(p.name == PAYLOAD_FILE for p in tmp_path.rglob("*"))


def build(backend, tool, source: str, cache):
    """The executable for ``source``, built as validate builds it (bench/validate/__init__.py)."""
    if backend.build is not None:
        return backend.build(tool, source, cache)
    env = backend.build_env(cache_folders.cache_root(cache_folders.NATIVE, cache)) if backend.build_env else None
    return toolchain.compile_cached(tool, source, cache, env=env)


def layouts_of(backend, program, key=None) -> tuple:
    """The layouts of ``program`` that ``backend`` expresses, of one build
    variant (``key``; None: the first one's), and that key."""
    layouts = [layout for layout in (s.plan(program) for s in strategies.available().values())
               if backend.expresses(layout)]
    assert layouts, f"no strategy's layout of {program.name} has a {backend.name} counterpart"
    key = backend.variant(layouts[0]) if key is None else key
    return [layout for layout in layouts if backend.variant(layout) == key], key


@pytest.mark.native
@pytest.mark.parametrize("language", list(BACKENDS))
def test_native_programs_named_by_hostile_names_build_and_run_with_no_side_effect(language, tmp_path, monkeypatch):
    """A counting backend: one program of a case per name (one function,
    named by the next name), each case under every layout of one build
    variant, counting what the plainly named case counts. A held-memory
    backend starts a process per case (a JVM each for Java): a chain
    instead, its functions named by every name, the program by each name
    in turn. A named source that is the plain program's byte for byte (its
    generator wrote no name) is that program: built and run once."""
    backend = BACKENDS[language]
    tool = backend.find()
    if tool is None:
        pytest.skip(missing_note(backend, []))
    monkeypatch.chdir(tmp_path)
    program = leaf_program() if backend.counts else chain_of(len(HOSTILE_NAMES))
    layouts, key = layouts_of(backend, program)
    assert backend.supports(program.view)
    if backend.counts:  # [(its programs' names, its cases)] per named source
        named_sources = [(HOSTILE_NAMES, [(named(program, i).view, layouts) for i in range(len(HOSTILE_NAMES))])]
    else:
        chain = dataclasses.replace(program, fn_names=HOSTILE_NAMES)
        named_sources = [((name,), [(dataclasses.replace(chain, name=name).view, layouts)]) for name in HOSTILE_NAMES]
    tool = dataclasses.replace(tool, flags=(*tool.flags, *backend.flags(key)))
    plain_source = backend.generate([(program.view, layouts)], key)
    plain_rows = _run_native(tool, build(backend, tool, plain_source, tmp_path / "cache"), timeout=120)
    assert {(row["program"], row["variant"]) for row in plain_rows} == {(0, v) for v in range(len(layouts))}
    by_variant = {row["variant"]: row for row in plain_rows}
    # What the backend's rows carry: the counting allocator's exact figures, or
    # held memory's, as validate compares them (Go's: a stack's size class).
    fields = ("checksum", "allocs", "bytes", "size_of") if backend.counts else ("tasks",)
    run = {plain_source}
    for names, cases in named_sources:
        source = backend.generate(cases, key)
        if source in run:
            continue
        run.add(source)
        rows = _run_native(tool, build(backend, tool, source, tmp_path / "cache"), timeout=600)
        assert {(row["program"], row["variant"]) for row in rows} == {
            (p, v) for p in range(len(cases)) for v in range(len(layouts))
        }
        for row in rows:
            expected = by_variant[row["variant"]]
            where = (names[row["program"]], row["variant"])
            for field in fields:
                assert row[field] == expected[field], (*where, field)
            for held in backend.held:
                named_class, plain_class = held.classes(row[held.figure], expected[held.figure])
                assert named_class == plain_class, (*where, held.figure)
    # A counting backend's cases carry their names in comments: a program of their own.
    assert len(run) == 2 or not backend.counts
    assert set(p.name for p in tmp_path.iterdir()) == {"cache"}
    assert not any(p.name == PAYLOAD_FILE for p in tmp_path.rglob("*"))


def test_a_workload_file_whose_name_carries_code_runs_as_data(tmp_path):
    """The reported attack, end to end through the CLI: the name closes the
    engine's comment and defines a constructor that would create a file."""
    payload = next(n for n in HOSTILE_NAMES if "constructor" in n)
    quoted = payload.replace("\\", "\\\\").replace('"', '\\"')
    (tmp_path / "evil.toml").write_text(
        f'[workload]\nname = "{quoted}"\n\n[fn.main]\nlocals = 16\nsteps = [{{ work = 8 }}, {{ io = 1 }}]\n'
    )
    done = pinbench("run", "-w", "evil.toml", "--counts-only", "-s", "all", "-o", "out",
                    cwd=tmp_path, env={"PINBENCH_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr
    assert not any(p.name == PAYLOAD_FILE for p in tmp_path.rglob("*"))
