"""Fuzzing the documents pinbench reads back from disk (hypothesis).

results.json and comparison.json are data on disk: a hand edit, another
tool or a damaged copy can change any field's type or shape. Starting from
valid documents, each example changes one to three fields (another type, a
value nested in a list or object, a deletion, a number turned into text)
and runs the commands that read them in-process: show and compare read
results.json (exit 0 or 1 when the document still makes sense, else one
line and exit 2), the report reads both (a damaged comparison.json is a
note on the page). Never a traceback.

Bounded like tests/test_fuzz.py: a fixed number of examples, derandomized
in CI; the report, which draws figures, gets few of them.
"""

from __future__ import annotations

import copy
import json
import shutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pinbench.bench import compare as cmp
from pinbench.bench.cli import main
from pinbench.bench.results import RESULTS_FILE

from .helpers import fuzz_settings

FUZZ = fuzz_settings(60)
FEW = settings(FUZZ, max_examples=8)
SOME = settings(FUZZ, max_examples=20)  # a figure is drawn for each that passes

# Values of every JSON type, the awkward numbers included.
VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=6),
              st.floats(allow_nan=True, allow_infinity=True)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=8,
)


def paths(doc, prefix=()):
    """Every place in a JSON document: tuples of keys and indices."""
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += paths(value, prefix + (key,))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out += paths(value, prefix + (i,))
    return out


@st.composite
def damaged(draw, doc):
    """``doc`` with one to three fields changed in type or shape."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(paths(doc)[1:]))
        parent = doc
        for step in where[:-1]:
            parent = parent[step]
        old = parent[where[-1]]
        action = draw(st.sampled_from(["replace", "delete", "in a list", "in an object", "as text"]))
        if action == "delete":
            del parent[where[-1]]
        else:
            parent[where[-1]] = {"replace": lambda: draw(VALUES), "in a list": lambda: [old],
                                 "in an object": lambda: {"x": old}, "as text": lambda: str(old)}[action]()
    return doc


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A small counts-only run, a copy with one more allocation everywhere
    and their comparison saved in the copy."""
    root = tmp_path_factory.mktemp("documents")
    base, head = root / "base", root / "head"
    assert main(["run", "--counts-only", "-w", "chain", "-s", "pinbox,rc", "-a", "system",
                 "--engine", "interpreted", "-o", str(base)]) == 0
    doc = json.loads((base / RESULTS_FILE).read_text())
    doc["skipped"] = [{"benchmark": "chain/fiber/system", "reason": "does not fit"}]  # fuzzed too
    (base / RESULTS_FILE).write_text(json.dumps(doc))
    shutil.copytree(base, head)
    doc = json.loads((head / RESULTS_FILE).read_text())
    for bench in doc["benchmarks"]:
        bench["metrics"]["allocs"] += 1
    (head / RESULTS_FILE).write_text(json.dumps(doc))
    assert main(["compare", str(base), str(head), "--save"]) == 1
    return base, head


def answers(capsys, argv, statuses=(0, 1), names_the_file=True) -> int:
    """Run a command in-process: a status it may give, or one line (naming
    the file, with ``names_the_file``) and exit 2; an exception escaping it
    fails the test."""
    capsys.readouterr()
    status = main(argv)
    err = capsys.readouterr().err
    if status == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("pinbench: error: "), err
        assert not names_the_file or RESULTS_FILE in lines[0], lines[0]
    else:
        assert status in statuses, (status, err)
    return status


def written(tmp_path_factory, source, name, doc):
    folder = tmp_path_factory.mktemp("fuzzed")
    shutil.copytree(source, folder, dirs_exist_ok=True)
    (folder / name).write_text(json.dumps(doc))  # NaN and Infinity included, as Python's json reads them
    return folder


@FUZZ
@given(data=st.data())
def test_damaged_results_are_one_line_in_show_and_compare(runs, tmp_path_factory, capsys, data):
    base, _ = runs
    doc = data.draw(damaged(json.loads((base / RESULTS_FILE).read_text())))
    folder = written(tmp_path_factory, base, RESULTS_FILE, doc)
    answers(capsys, ["show", str(folder)])
    answers(capsys, ["compare", str(base), str(folder)])
    answers(capsys, ["compare", str(folder), str(base), "--format", "markdown"])


@pytest.mark.parametrize("commit", [True, 7])
def test_a_commit_that_is_not_text_is_one_line_in_every_reader(runs, tmp_path_factory, capsys, commit):
    """Found by the test above: compare cut a ``true`` git_commit as text
    (TypeError), and the report and history would have joined it to text."""
    base, _ = runs
    doc = json.loads((base / RESULTS_FILE).read_text())
    doc["environment"]["git_commit"] = commit
    folder = written(tmp_path_factory, base, RESULTS_FILE, doc)
    database = folder / "history.sqlite"
    for argv in (["show", folder], ["compare", base, folder], ["report", folder],
                 ["history", "add", "--db", database, folder]):
        capsys.readouterr()
        assert main([str(arg) for arg in argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "environment.git_commit should be a string" in err, err


@pytest.fixture(scope="module")
def shard(tmp_path_factory):
    """The one shard of a sweep split in one: what merge and history read."""
    folder = tmp_path_factory.mktemp("shard") / "1"
    assert main(["run", "--counts-only", "-w", "chain", "-s", "pinbox,rc", "-a", "system",
                 "--engine", "interpreted", "--shard", "1/1", "-o", str(folder)]) == 0
    return folder


@SOME
@given(data=st.data())
def test_damaged_results_are_one_line_in_merge_and_history(shard, tmp_path_factory, capsys, data):
    doc = data.draw(damaged(json.loads((shard / RESULTS_FILE).read_text())))
    folder = written(tmp_path_factory, shard, RESULTS_FILE, doc)
    scratch = tmp_path_factory.mktemp("out")
    # A damaged shard may also disagree with itself: the line need not name results.json.
    answers(capsys, ["merge", str(folder), "-o", str(scratch / "merged")], statuses=(0,), names_the_file=False)
    answers(capsys, ["history", "add", str(folder), "--db", str(scratch / "history.sqlite")], statuses=(0,),
            names_the_file=False)
    answers(capsys, ["history", "show", "--db", str(scratch / "history.sqlite")], names_the_file=False)


@FEW
@given(data=st.data())
def test_damaged_results_are_one_line_in_the_report(runs, tmp_path_factory, capsys, data):
    base, _ = runs
    doc = data.draw(damaged(json.loads((base / RESULTS_FILE).read_text())))
    answers(capsys, ["report", str(written(tmp_path_factory, base, RESULTS_FILE, doc))], statuses=(0,))


@SOME
@given(data=st.data())
def test_a_damaged_saved_comparison_is_a_note_or_one_line(runs, tmp_path_factory, data):
    """The report draws comparison.json through this figure; a damaged one
    is a UsageError the report turns into a note on its page."""
    from pinbench.bench.compare_report import comparison_figure
    from pinbench.model.errors import UsageError

    _, head = runs
    doc = data.draw(damaged(json.loads((head / cmp.COMPARISON_FILE).read_text())))
    folder = written(tmp_path_factory, head, cmp.COMPARISON_FILE, doc)
    try:
        comparison_figure(folder, folder / "figure")
    except UsageError as error:
        assert "\n" not in str(error)


def test_the_mutations_reach_every_field(runs):
    """The fuzzer would prove little if it only touched a few fields."""
    base, _ = runs
    doc = json.loads((base / RESULTS_FILE).read_text())
    fields = {step for where in paths(doc) for step in where if isinstance(step, str)}
    assert {"engine", "environment", "skipped", "reason", "params", "metrics", "allocs", "workload"} <= fields


@pytest.mark.parametrize("field, value, needle", [
    ("engine", "compiled", "engine should be an object"),
    ("environment", ["Linux"], "environment should be an object"),
    ("skipped", [1, 2], "skipped[0] should be an object"),
    ("params", {"depth": {"nested": 1}}, "benchmarks[0].params.depth should be a string, number or true/false"),
    ("metrics", {"allocs": "many"}, "benchmarks[0].metrics.allocs should be a number"),
])
@pytest.mark.parametrize("command", ["show", "compare", "report"])
def test_fields_of_the_wrong_type_are_one_line(runs, tmp_path, capsys, field, value, needle, command):
    """The cases found by hand (issue 23), in every command that reads them."""
    base, _ = runs
    doc = json.loads((base / RESULTS_FILE).read_text())
    if field in ("params", "metrics"):
        doc["benchmarks"][0][field] = value
    else:
        doc[field] = value
    folder = tmp_path / "run"
    shutil.copytree(base, folder)
    (folder / RESULTS_FILE).write_text(json.dumps(doc))
    argv = {"show": ["show", str(folder)], "compare": ["compare", str(base), str(folder)],
            "report": ["report", str(folder)]}[command]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{folder / RESULTS_FILE} is damaged: {needle}" in err, err
