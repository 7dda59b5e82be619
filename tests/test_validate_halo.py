"""halo against Clang: the coroutine frames Clang really allocates.

bench/validate/halo.py compiles the C++ programs `pinbench validate`
generates with clang++-19 (and clang 22 from the ziglang package, with the
task type marked [[clang::coro_await_elidable]]) and counts operator new.
What matches the model, and where it does not, is docs/validation.md's
"halo" section; this asserts that table. .ci/run installs clang-19, so in
CI a missing clang fails instead of skipping.
"""

from __future__ import annotations

import importlib.util
import shutil

import pytest

from pinbench.bench.validate import halo

from .helpers import in_ci

pytestmark = pytest.mark.native  # builds with clang 19 and clang 22

needs_clang = pytest.mark.skipif(
    shutil.which("clang++-19") is None and not in_ci(),
    reason="clang++-19 is not installed: halo is not checked against Clang on this machine "
    "(apt-get install clang-19; .ci/run installs it)",
)


@pytest.fixture(scope="module")
def measured():
    compilers = [halo.clang19()]
    assert compilers[0] is not None, "clang++-19 is not on the PATH (apt-get install clang-19)"
    if importlib.util.find_spec("ziglang") is not None or in_ci():
        compilers += halo.clang22()
        assert len(compilers) == 3, "the ziglang package (clang 22) is missing: pip install '.[test]'"
    return {label: (model, native) for label, model, native in halo.measure(compilers)}, compilers


def frames(native, compiler):
    return native[compiler.label]["allocs"]


@needs_clang
def test_every_case_gives_the_models_checksum(measured):
    rows, compilers = measured
    for label, (model, native) in rows.items():
        for c in compilers:
            assert native[c.label]["checksum"] == model["halo"]["checksum"], (label, c.label)
            assert native[c.label]["frees"] == native[c.label]["allocs"], (label, c.label)


@needs_clang
def test_clang19_allocates_the_frames_halo_counts_but_also_elides_the_generator(measured):
    rows, compilers = measured
    clang = compilers[0]
    for label, (model, native) in rows.items():
        want = model["halo"]["allocs"]
        if label.startswith("generator"):
            # the classic CoroElide pass sees the generator created and
            # destroyed in its consumer: its frame too goes into the caller's
            want -= model["halo"]["tasks"]
        assert frames(native, clang) == want, label


@needs_clang
def test_no_clang_elides_join_or_select_children(measured):
    """Without coro_await_elidable_argument on a combinator's parameters the
    joined and selected children keep heap frames: halo's default."""
    rows, compilers = measured
    for label in ("fanout", "select_loop"):
        (model, native), = [v for k, v in rows.items() if k.startswith(label)]
        assert model["halo:elide_args=1"]["allocs"] < model["halo"]["allocs"]
        for c in compilers:
            assert frames(native, c) == model["halo"]["allocs"], (label, c.label)


@needs_clang
def test_sequential_awaits_each_have_their_own_space(measured):
    """Two more awaited calls of `a` (256 bytes of locals live across its
    await) grow the caller's one frame by two of a's frames: the elided
    frames are summed, not overlapped in the largest."""
    rows, compilers = measured
    one, three = rows["1 sequential call tasks=2"], rows["3 sequential calls tasks=2"]
    assert three[0]["halo"]["allocs"] == one[0]["halo"]["allocs"] == 2  # one block per task
    for c in compilers:
        grown = (three[1][c.label]["bytes"] - one[1][c.label]["bytes"]) // 2  # per task
        assert grown >= 2 * 256, (c.label, grown)


@needs_clang
def test_clang22_annotation_elides_every_awaited_call_only_with_the_branch_ratio_off(measured):
    rows, compilers = measured
    if len(compilers) < 3:
        pytest.skip("clang 22 (pip install ziglang) is not installed")
    annotated, ratio0 = compilers[1], compilers[2]
    for label, (model, native) in rows.items():
        # every case, the generator's included (it is not awaited: a heap frame)
        assert frames(native, ratio0) == model["halo"]["allocs"], label
        late = label.startswith("server") or label.startswith("3 sequential")
        if not late:
            assert frames(native, annotated) == model["halo"]["allocs"], label
    # By default a call site after the first await is estimated to run less
    # often than the threshold (-coro-elide-branch-ratio) and keeps its heap
    # frame: server's query (after a read) and the second and third calls.
    assert frames(rows["server requests=50"][1], annotated) == rows["server requests=50"][0]["always_heap"]["allocs"]
    seq = rows["3 sequential calls tasks=2"]
    assert frames(seq[1], annotated) == seq[0]["halo"]["allocs"] + 2 * 2
