"""How long `pinbench import rust` takes to read a 100,000-line sizes file.

The file is made from tests/fixtures/rust_import/small-sizes.txt, its async
bodies renamed per copy so that every copy is a tree of its own, repeated
until it has the lines asked for. Parsing and building the tree are timed
(the import's part; cargo's build time is the user's).

    python tools/import_speed.py            # 100,000 lines
    python tools/import_speed.py 400000     # linear: 4x the lines, ~4x the time
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

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
    start = time.perf_counter()
    parsed = sizes.parse(text, "generated")
    bodies = tree.build(parsed, "generated")
    roots = workload.roots_of(bodies)
    took = time.perf_counter() - start
    print(f"{text.count(chr(10)):,} lines, {len(bodies):,} futures, {len(roots):,} roots: "
          f"parsed and built in {took:.2f} s")


if __name__ == "__main__":
    main()
