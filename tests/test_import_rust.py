"""`pinbench import rust`: the model's sizes against rustc's, the box advice
against a rebuild, and bad input.

Every expected number comes from rustc: the tests read the sizes it prints
with their own small pattern (not the importer's parser) and compare. The
cargo builds are slow, so each fixture crate is built once per session.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from pinbench.bench import cache as cache_folders
from pinbench.bench.cli import main
from pinbench.bench.runner import execute
from pinbench.bench.rust_import import questions
from pinbench.bench.rust_import.source_edit import box_call
from pinbench.bench.toml_loader import load_program
from pinbench.model.errors import UsageError
from pinbench.model.layout import compute_layout
from pinbench.model.program import OP_CALL, OP_IO, OP_JOIN, OP_SELECT
from pinbench.strategies import BUILTIN, get

from .helpers import in_ci
from .hostile_names import HOSTILE_NAMES, PAYLOAD_FILE

pytestmark = pytest.mark.native  # runs cargo and rustc

FIXTURES = Path(__file__).parent / "fixtures" / "rust_import"
REGISTRY = Path("/usr/share/cargo/registry")  # Debian's packaged crates (librust-*-dev)
HAVE_CARGO = shutil.which("cargo") is not None
HAVE_TOKIO = REGISTRY.is_dir() and any(p.name.startswith("tokio-1") for p in REGISTRY.iterdir())
# In CI (.ci/run installs them) a missing toolchain or tokio fails instead of skipping.
needs_cargo = pytest.mark.skipif(not HAVE_CARGO and not in_ci(), reason="cargo is not installed")
needs_tokio = pytest.mark.skipif(not (HAVE_CARGO and HAVE_TOKIO) and not in_ci(),
                                 reason="Debian's librust-tokio-dev is not installed (.ci/run installs it)")
_RUSTC_TYPE = re.compile(
    r"^print-type-size type: `(\{async (?:fn body of |block@|closure body@).*)`: (\d+) bytes, alignment: (\d+) bytes$",
    re.M)


def rustc_output(crate: Path, target: Path) -> str:
    """rustc's -Zprint-type-sizes output for ``crate``, its package built
    afresh in ``target`` (whose dependencies are reused: only the package
    itself prints its sizes)."""
    env = {**os.environ, "RUSTC_BOOTSTRAP": "1"}
    name = tomllib.loads((crate / "Cargo.toml").read_text())["package"]["name"]
    common = ["--release", "--offline", "--quiet", "--target-dir", str(target)]
    cleaned = subprocess.run(["cargo", "clean", "-p", name, *common], cwd=crate, env=env, capture_output=True,
                             text=True, timeout=300)
    assert cleaned.returncode == 0, cleaned.stderr
    done = subprocess.run(["cargo", "rustc", *common, "--", "-Zprint-type-sizes"], cwd=crate, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return done.stdout


def futures_in(text: str) -> dict:
    """rustc's own (size, alignment) of every async body in its output, by name."""
    return {m.group(1): (int(m.group(2)), int(m.group(3))) for m in _RUSTC_TYPE.finditer(text)}


def rustc_futures(crate: Path, target: Path) -> dict:
    return futures_in(rustc_output(crate, target))


def display(key: str) -> str:
    """rustc's type name as the importer shows it (the RustFrame's path)."""
    if key.startswith("{async fn body of "):
        return key[len("{async fn body of "):-1].removesuffix("()")
    if key.startswith("{async closure body@"):
        return "async closure@" + key[len("{async closure body@"):-1].split(": ")[0]
    return "async block@" + key[len("{async block@"):-1].split(": ")[0]


def run_import(tmp_path, path, *extra):
    out = tmp_path / "imported.toml"
    code = main(["import", "rust", str(path), "--output", str(out), "--force", *extra])
    assert code == 0
    return load_program(out), out


@pytest.fixture(scope="session")
def cache():
    """The tests' own cargo builds use the importer's target folder (in the
    session's pinbench cache, tests/conftest.py): each crate's dependencies
    (tokio's) are built once for both; each build cleans its package first."""
    return cache_folders.cache_root(cache_folders.IMPORT_TARGET)


@pytest.fixture(scope="session")
def plain(cache, tmp_path_factory):
    """(program, rustc's sizes) of the dependency-free fixture, built once."""
    if not HAVE_CARGO:
        pytest.skip("cargo is not installed")
    rustc = rustc_futures(FIXTURES / "plain", cache)
    program, _ = run_import(tmp_path_factory.mktemp("plain"), FIXTURES / "plain")
    return program, rustc


@pytest.fixture(scope="session")
def tokio_sizes(cache, tmp_path_factory):
    """rustc's output for the tokio fixture, saved to a file (built once)."""
    if not (HAVE_CARGO and HAVE_TOKIO) and not in_ci():
        pytest.skip("Debian's librust-tokio-dev is not installed")
    path = tmp_path_factory.mktemp("tokio-sizes") / "sizes.txt"
    path.write_text(rustc_output(FIXTURES / "tokio", cache))
    return path


@pytest.fixture(scope="session")
def tokio(tokio_sizes, tmp_path_factory):
    """(program imported by cargo, rustc's sizes) of the tokio fixture."""
    program, _ = run_import(tmp_path_factory.mktemp("tokio"), FIXTURES / "tokio")
    return program, futures_in(tokio_sizes.read_text())


def assert_rustc_sizes(program, rustc):
    """Under pinbox every imported future's counted bytes, and the alignment
    the model lays it out with, are rustc's."""
    layout = compute_layout(get("pinbox"), program)
    model_align = questions.Sizer(program).aligns
    by_path = {}
    for key, value in rustc.items():
        by_path.setdefault(display(key), set()).add(value)
    checked = 0
    for fn, frame in enumerate(program.fn_native):
        if frame is None or frame.path not in by_path:
            continue
        assert (int(layout.fn_bytes[fn]), model_align[fn]) in by_path[frame.path], frame.path
        checked += 1
    # every async body rustc printed is in the workload
    assert checked == len({display(k) for k in rustc}), sorted(by_path)


@needs_cargo
def test_plain_crate_sizes_equal_rustc(plain):
    program, rustc = plain
    assert_rustc_sizes(program, rustc)
    ops = {program.step_op[s] for s in range(len(program.step_op))}
    assert {OP_CALL, OP_JOIN, OP_SELECT, OP_IO} <= ops  # nested calls, join, select and leaf waits
    assert program.edge_pinned.any()  # top's Box::pin(mid(2))
    paths = {f.path for f in program.fn_native if f is not None}
    assert any(p.startswith("async closure@") for p in paths) and any(p.startswith("async block@") for p in paths)


@needs_tokio
def test_tokio_crate_sizes_equal_rustc(tokio):
    program, rustc = tokio
    assert_rustc_sizes(program, rustc)
    paths = [f.path for f in program.fn_native if f is not None]
    assert any("relay" in p for p in paths)  # the generic async fn
    assert len(questions.roots(program)) >= 2  # the spawned blocks
    assert max(f.align for f in program.fn_native if f is not None) == 128  # tokio's Sleep
    assert max(rustc.values(), key=lambda v: v[1])[1] == 128


@needs_tokio
def test_each_tokio_root_costs_rustc_bytes_per_task(tokio_sizes, tmp_path):
    """--root makes one root the task: under pinbox its bytes per task, run
    by the executor, are rustc's size for it (every await below a spawned
    block is inline, its JoinHandles are leaves)."""
    rustc = futures_in(tokio_sizes.read_text())
    spawned = [k for k in rustc if k.startswith("{async block@src/main.rs")]
    assert len(spawned) == 3  # block_on's block and the two spawned ones
    for key in spawned:
        block = key[len("{async block@"):-1].split(": ")[0]
        program, _ = run_import(tmp_path, tokio_sizes, "--root", block)
        metrics = execute(program, "pinbox", "system")
        assert metrics["allocs_per_task"] == 1
        assert metrics["bytes_per_task"] == rustc[key][0], block


def test_a_file_whose_sizes_disagree_is_refused(tmp_path):
    out = tmp_path / "small.toml"
    assert main(["import", "rust", str(FIXTURES / "small-sizes.txt"), "--output", str(out)]) == 0
    text = out.read_text()
    out.write_text(text.replace("size = 288", "size = 280", 1))
    with pytest.raises(UsageError, match="lay out to 288 bytes, not the 280 rustc printed"):
        load_program(out)


@needs_cargo
def test_every_strategy_lays_out_the_import(plain):
    program, _ = plain
    for name in BUILTIN:
        layout = compute_layout(get(name), program)
        assert (layout.fn_bytes > 0).all(), name


def source_name(program, fn: int) -> str:
    """The Rust name of an imported async fn: its path's last part, no generics."""
    return re.sub(r"<.*", "", program.fn_native[fn].path).rsplit("::", 1)[-1]


def check_box_advice(program, crate_dir: Path, limit: int, target: Path, tmp_path: Path):
    """Take the advice (the fewest boxes that fit every future under
    ``limit``), apply it to a copy of the crate, rebuild: rustc's new sizes
    are the model's prediction, for every async body."""
    chosen, exact = questions.fewest_boxes(program, limit)
    assert chosen and exact
    boxed = questions.source_boxed(program)
    boxed[chosen] = 1
    predicted = questions.sizes_with(program, boxed)
    crate = tmp_path / crate_dir.name
    shutil.copytree(crate_dir, crate)
    main_rs = crate / "src" / "main.rs"
    source = main_rs.read_text()
    for e in chosen:
        parent = next(f for f in range(len(program.fn_names))
                      if any(x == e for x, _ in questions.edges_of(program, f)))
        child = int(program.edge_callee[e])
        earlier = [x for x, _ in questions.edges_of(program, parent)
                   if x < e and source_name(program, int(program.edge_callee[x])) == source_name(program, child)]
        source = box_call(source, source_name(program, parent), source_name(program, child), len(earlier))
    main_rs.write_text(source)
    rebuilt = {display(k): size for k, (size, _) in rustc_futures(crate, target).items()}
    assert rebuilt, "rustc printed no sizes: the copy was not rebuilt"
    compared = 0
    for fn, frame in enumerate(program.fn_native):
        if frame is not None and frame.path in rebuilt:
            assert predicted[fn] == rebuilt[frame.path], frame.path
            compared += 1
    assert compared == len(rebuilt)
    for root in questions.roots(program):
        assert predicted[root] <= limit
    assert any(program.fn_native[r].size > limit for r in questions.roots(program))


@needs_cargo
def test_box_advice_matches_a_rebuild(plain, cache, tmp_path):
    program, _ = plain
    check_box_advice(program, FIXTURES / "plain", 6000, cache, tmp_path)


@needs_tokio
def test_box_advice_matches_a_rebuild_with_tokio(tokio, cache, tmp_path):
    """tokio's join! tuple and Sleep's 128-byte alignment: boxing a child
    changes its parent's alignment too (fetch drops from 128 to 8)."""
    program, _ = tokio
    check_box_advice(program, FIXTURES / "tokio", 2048, cache, tmp_path)


def _fails(capsys, tmp_path, path, *extra):
    out = tmp_path / "out.toml"
    code = main(["import", "rust", str(path), "--output", str(out), *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".out.toml.*"))
    return err


@pytest.fixture()
def sizes_file(tmp_path):
    text = (FIXTURES / "small-sizes.txt").read_text()
    return text


def test_bad_sizes_files(capsys, tmp_path, sizes_file):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert "empty" in _fails(capsys, tmp_path, empty)
    truncated = tmp_path / "truncated.txt"
    truncated.write_text(sizes_file[: sizes_file.index("variant `Returned`")])
    assert "truncated" in _fails(capsys, tmp_path, truncated)
    garbled = tmp_path / "garbled.txt"
    garbled.write_text(sizes_file.replace("bytes, alignment", "bites, alinement", 1))
    assert "garbled" in _fails(capsys, tmp_path, garbled)
    no_async = tmp_path / "plain.txt"
    no_async.write_text("print-type-size type: `Leaf`: 48 bytes, alignment: 8 bytes\n"
                        "print-type-size     field `.n`: 8 bytes\n")
    assert "no async" in _fails(capsys, tmp_path, no_async)
    old = tmp_path / "old.txt"
    old.write_text(re.sub(r", type: .*", "", sizes_file))
    assert "awaitee types" in _fails(capsys, tmp_path, old)


def test_saved_sizes_file_and_overwrite(capsys, tmp_path):
    out = tmp_path / "small.toml"
    assert main(["import", "rust", str(FIXTURES / "small-sizes.txt"), "--output", str(out)]) == 0
    first = out.read_text()
    capsys.readouterr()
    assert main(["import", "rust", str(FIXTURES / "small-sizes.txt"), "--output", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert out.read_text() == first
    # rustc's numbers in the saved file, read here with the test's own pattern
    rustc = {display(m.group(1)): int(m.group(2)) for m in _RUSTC_TYPE.finditer(
        (FIXTURES / "small-sizes.txt").read_text())}
    program = load_program(out)
    layout = compute_layout(get("pinbox"), program)
    for fn, frame in enumerate(program.fn_native):
        if frame is not None:
            assert int(layout.fn_bytes[fn]) == rustc[frame.path]


@needs_cargo
def test_crate_that_does_not_build(capsys, tmp_path):
    crate = tmp_path / "broken"
    shutil.copytree(FIXTURES / "plain", crate)
    (crate / "src" / "main.rs").write_text("async fn f() -> u64 { undefined_name }\nfn main() {}\n")
    err = _fails(capsys, tmp_path, crate)
    assert "cannot find value `undefined_name`" in err and "main.rs" in err


def test_no_toolchain(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    source = tmp_path / "a.rs"
    source.write_text("async fn f() {}\n")
    assert "rustc is not installed" in _fails(capsys, tmp_path, source)


def test_long_and_odd_names_become_valid_function_names(tmp_path):
    """rustc's paths can be longer than a function name may be, or hold
    generics: the name is cut the same way every time, the path kept whole."""
    long_path = "app::" + "a_very_long_async_fn_name_" * 6 + "top<T, U>"  # 165 characters without its module
    text = (FIXTURES / "small-sizes.txt").read_text().replace("async fn body of top()", f"async fn body of {long_path}()")
    sizes = tmp_path / "long.txt"
    sizes.write_text(text)
    first, _ = run_import(tmp_path, sizes)
    again, _ = run_import(tmp_path, sizes)
    root = first.entry
    assert first.fn_native[root].path == long_path
    assert len(first.fn_names[root]) <= 100 and first.fn_names[root].isidentifier()
    assert first.fn_names == again.fn_names


def test_unknown_root(capsys, tmp_path):
    err = _fails(capsys, tmp_path, FIXTURES / "small-sizes.txt", "--root", "no::such")
    assert "no async fn or block 'no::such'" in err


def small_rustc_sizes() -> dict:
    """rustc's sizes in the saved fixture, by the path the importer shows."""
    return {display(m.group(1)): int(m.group(2))
            for m in _RUSTC_TYPE.finditer((FIXTURES / "small-sizes.txt").read_text())}


def test_explain_answers_on_the_imported_workload(capsys, tmp_path):
    _, out = run_import(tmp_path, FIXTURES / "small-sizes.txt")
    capsys.readouterr()
    assert main(["explain", str(out), "-s", "pinbox"]) == 0
    text = capsys.readouterr().out
    assert "Imported from rustc's type sizes" in text
    assert f"top  {small_rustc_sizes()['top']:,} bytes" in text  # the root's tree, rustc's size
    assert "`s`, 24 bytes wasted" in text  # top's String argument, stored twice
    assert "Box here" in text


def test_report_answers_on_a_run_of_the_imported_workload(tmp_path, capsys):
    _, out = run_import(tmp_path, FIXTURES / "small-sizes.txt")
    results = tmp_path / "run"
    assert main(["run", "--workload", str(out), "--counts-only", "-s", "pinbox", "-a", "system",
                 "--output", str(results)]) == 0
    assert main(["report", str(results)]) == 0
    page = (results / "report.html").read_text()
    assert "Imported from rustc&#x27;s type sizes" in page or "Imported from rustc's type sizes" in page
    assert f"top  {small_rustc_sizes()['top']:,} bytes" in page


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_rust_names_stay_data(name, tmp_path, monkeypatch):
    """A crate's names reach the workload file as TOML strings and comments
    only: whatever rustc's path for an async fn holds, the file loads back
    with that exact path, valid function names and nothing executed. A name
    that breaks the sizes file's lines is refused in one line instead."""
    monkeypatch.chdir(tmp_path)
    text = (FIXTURES / "small-sizes.txt").read_text().replace("async fn body of top()", f"async fn body of {name}()")
    sizes = tmp_path / "sizes.txt"
    sizes.write_text(text, encoding="utf-8", errors="surrogatepass")
    out = tmp_path / "hostile.toml"
    code = main(["import", "rust", str(sizes), "--output", str(out)])
    assert code in (0, 2)
    assert not (tmp_path / PAYLOAD_FILE).exists()
    if code == 2:
        assert not out.exists()
        return
    program = load_program(out)
    paths = {f.path for f in program.fn_native if f is not None}
    assert (name if name.strip() else "{async fn body of " + name + "()}") in paths
    assert all(n.isidentifier() and n.isascii() and len(n) <= 100 for n in program.fn_names)


@pytest.mark.parametrize("kind", ["symlink", "fifo", "folder"])
def test_force_replaces_a_workload_file_only(capsys, tmp_path, kind):
    """--force once turned /dev/full into a regular file: an output that
    exists and is not a regular file is refused, whatever --force says."""
    out = tmp_path / "out.toml"
    target = tmp_path / "target.toml"
    target.write_text("kept")
    {"symlink": lambda: out.symlink_to(target), "fifo": lambda: os.mkfifo(out), "folder": out.mkdir}[kind]()
    code = main(["import", "rust", str(FIXTURES / "small-sizes.txt"), "--output", str(out), "--force"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "is not a regular file" in err, err
    assert target.read_text() == "kept" and (out.is_symlink() or out.is_fifo() or out.is_dir())


@needs_cargo
def test_a_future_too_big_for_a_fiber_is_imported_and_said_not_to_fit(capsys, tmp_path):
    """A 200,000-byte future (the case the importer exists for) does not fit
    a fiber's 128 KiB stack: the import succeeds and its table says so."""
    source = tmp_path / "big.rs"
    source.write_text(
        "async fn leaf() {}\n"
        "async fn top() -> u8 { let b = [7u8; 200000]; leaf().await; b[99] }\n"
        "fn main() { let _ = top(); }\n"
    )
    out = tmp_path / "big.toml"
    assert main(["import", "rust", str(source), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    fiber = next(line for line in printed.splitlines() if line.strip().startswith("fiber"))
    assert "does not fit" in fiber
    assert "note: fiber:" in printed and out.is_file()
