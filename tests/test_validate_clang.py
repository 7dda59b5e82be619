"""halo and always_heap:clang=1 against clang 22: the coroutine frames it really allocates.

`pinbench validate`'s clang backend (bench/validate/clang.py) compiles the
C++ program of every case of tests/test_validate.py with clang 22 (the
ziglang package in the test extras) three times: the task type plain
(always_heap:clang=1), marked [[clang::coro_await_elidable]] (halo), and so
marked with -coro-elide-branch-ratio=0 (halo:elide_late=1). Allocations,
checksums and tasks must equal the model's on every case; bytes, the root
frame and every function's frame size too, but for the cases listed in
FRAMES_DIFFER, where clang's frames differ from the model's rule
(docs/validation.md, "halo against clang 22"): those are strict xfails, so
one that starts to agree fails until it is taken off the list. Without
clang 22 the tests skip with the reason, except in CI (`.ci/run` installs
the test extras), where they fail.
"""

from __future__ import annotations

import pytest

from pinbench.bench.validate import clang, validate

from .helpers import in_ci
from .test_validate import ALL_CASES, _case_id

pytestmark = pytest.mark.native  # builds with clang 22

CLANG_STRATEGIES = ("always_heap:clang=1", "halo", "halo:elide_late=1")
HAVE_CLANG = clang.find() is not None
needs_clang = pytest.mark.skipif(
    not HAVE_CLANG and not in_ci(),
    reason="clang 22 is not installed: pip install ziglang (the test extras), or set CLANG",
)

# Cases (ids) whose clang frames the model's rule does not reproduce yet:
# docs/validation.md lists what differs in each.
FRAMES_DIFFER = {"random1", "random4", "random6", "random9", "random10"}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    assert HAVE_CLANG, "clang 22 is missing: pip install '.[test]' (the ziglang package)"
    return validate(ALL_CASES, repeat=1, cache_dir=tmp_path_factory.mktemp("clang-cache"),
                    languages=("clang",), engines=["interpreted"], strategies=CLANG_STRATEGIES)


def _rows(results, index):
    rows = results[(results["case"] == index) & results["strategy"].isin(CLANG_STRATEGIES)]
    assert sorted(rows["strategy"]) == sorted(CLANG_STRATEGIES)
    return rows


@needs_clang
@pytest.mark.parametrize("index", range(len(ALL_CASES)), ids=[_case_id(c) for c in ALL_CASES])
def test_clang_allocates_the_frames_the_model_counts(results, index):
    for row in _rows(results, index).itertuples():
        where = f"{row.workload} {row.params} {row.strategy}"
        assert row.native == "clang 22", where
        # (the agreement flags: the native columns are floats here, beside
        # the rows of the languages not selected)
        assert row.allocs_agree and row.allocs_native == row.allocs_model, where
        assert row.checksum_agree, where
        assert row.tasks_native == row.tasks_model, where
        assert row.frees_native == row.allocs_native, where


FRAME_CASES = [pytest.param(i, id=_case_id(c), marks=pytest.mark.xfail(strict=True, reason="clang's frames differ"))
               if _case_id(c) in FRAMES_DIFFER else pytest.param(i, id=_case_id(c))
               for i, c in enumerate(ALL_CASES)]


@needs_clang
@pytest.mark.parametrize("index", FRAME_CASES)
def test_clang_frames_are_the_models(results, index):
    for row in _rows(results, index).itertuples():
        where = f"{row.workload} {row.params} {row.strategy}"
        assert list(row.fn_frames_model) == list(row.fn_frames_native), where
        assert row.frame_model == row.size_of_native, where
        assert row.bytes_model == row.bytes_native, where


def _by(results, case_id):
    index = [_case_id(c) for c in ALL_CASES].index(case_id)
    return {row.strategy: row for row in _rows(results, index).itertuples()}


@needs_clang
def test_by_default_clang_elides_no_call_after_a_suspension(results):
    """server's query is called after the request's read: clang 22's
    default keeps its heap frame (two blocks per request, always_heap's
    count), the branch ratio at 0 elides it (one block)."""
    rows = _by(results, "server-requests=5")
    requests = rows["halo"].tasks_native
    assert rows["always_heap:clang=1"].allocs_native == 2 * requests
    assert rows["halo"].allocs_native == 2 * requests
    assert rows["halo:elide_late=1"].allocs_native == requests


@needs_clang
def test_clang_elides_no_call_inside_a_recursive_cycle(results):
    """random2: f1 calls f2, and f2 (through a join) recurses into f1, so
    they are one SCC of the call graph: clang splits both before it looks
    at f1's call, and does not elide it, even with the branch ratio at 0.
    Eliding every non-recursive call (the rule without SCCs) would allocate
    fewer frames than clang does."""
    import numpy as np

    from pinbench.bench.runner import execute

    from .test_validate import random_programs

    rows = _by(results, "random2")
    program = random_programs(3)[2]
    assert program.name == "random2"
    f1, f2 = program.fn_index("f1"), program.fn_index("f2")
    assert program.fn_scc[f1] == program.fn_scc[f2]
    native = rows["halo:elide_late=1"].allocs_native
    assert native == execute(program, "halo:elide_late=1", "system")["allocs"]
    program.__dict__["fn_scc"] = np.arange(len(program.fn_names))  # every function a component of its own
    assert native > execute(program, "halo:elide_late=1", "system")["allocs"]
