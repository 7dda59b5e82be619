"""How long `pinbench import rust` takes to read a 100,000-line sizes file.

The file is made from tests/fixtures/rust_import/small-sizes.txt, its async
bodies renamed per copy so that every copy is a tree of its own, repeated
until it has the lines asked for. The whole `pinbench import rust FILE` is
timed, and its first part (parsing and the await tree) on its own; cargo's
build time is the user's.

    python tools/import_speed.py            # 100,000 lines
    python tools/import_speed.py 400000     # linear: 4x the lines, ~4x the time
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

from pinbench.bench import cli
from pinbench.bench.rust_import import sizes, tree, workload

SMALL = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "rust_import" / "small-sizes.txt"


def make(lines: int) -> str:
    base = SMALL.read_text()
    names = ("top()", "mid()", "leaf()", "a.rs:")
    out, count, copy = [], 0, 0
    while count < lines:
        text = base
        for name in names:
            text = text.replace(name, name.replace("(", f"_{copy}(").replace(".rs:", f"_{copy}.rs:"))
        out.append(text)
        count += text.count("\n")
        copy += 1
    return "".join(out)


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    text = make(lines)
    with tempfile.TemporaryDirectory() as folder:
        sizes_file = Path(folder) / "sizes.txt"
        sizes_file.write_text(text)
        parse_times, import_times = [], []
        for _ in range(3):  # the best of three: the machine is shared
            start = time.perf_counter()
            bodies = tree.build(sizes.parse(text, "generated"), "generated")
            parse_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                code = cli.main(["import", "rust", str(sizes_file), "--output", str(Path(folder) / "out.toml"),
                                 "--force"])
            import_times.append(time.perf_counter() - start)
            assert code == 0
    print(f"{text.count(chr(10)):,} lines, {len(bodies):,} futures, {len(workload.roots_of(bodies)):,} roots: "
          f"parse and tree {min(parse_times):.2f} s; the whole import (workload file written and "
          f"read back, every question answered, each of the 4 biggest roots run under every strategy) "
          f"{min(import_times):.2f} s")


if __name__ == "__main__":
    main()
