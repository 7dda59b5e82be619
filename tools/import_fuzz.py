"""Check `pinbench import rust`'s box predictions against rustc on random programs.

Each program is a chain of async fns that hold arrays of u8, u16, u32, u64
or a 32-byte-aligned type across awaits of each other (some through
Box::pin) and of leaf futures of random sizes and alignments. For every
inline edge, the tool boxes it in the source, rebuilds with rustc, and
compares every async body's new size with the model's prediction (and the
imported sizes with rustc's first). It prints each mismatch and a count.

    python tools/import_fuzz.py            # seeds 0..199
    python tools/import_fuzz.py 200 400    # other seeds

Needs rustc; each program takes a few rustc runs (about 1 s per seed here).
The tests check the fixtures the same way; this covers layouts they do not.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from pinbench.bench.rust_import import questions, sizes, tree, workload
from pinbench.bench.rust_import.source_edit import box_call

PRELUDE = """
use std::future::Future; use std::pin::Pin; use std::task::{Context, Poll};
pub struct Tick<const N: usize, T: Copy + Default> { polled: bool, buf: [T; N] }
impl<const N: usize, T: Copy + Default + Unpin> Future for Tick<N, T> {
    type Output = u64;
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u64> {
        if self.polled { Poll::Ready(N as u64) } else { self.polled = true; let _ = self.buf[0]; Poll::Pending }
    }
}
pub fn tick<const N: usize, T: Copy + Default>() -> Tick<N, T> { Tick { polled: false, buf: [T::default(); N] } }
#[repr(align(32))] #[derive(Clone, Copy, Default)] pub struct A32(#[allow(dead_code)] u8);
"""
TYPES = ("u8", "u16", "u32", "u64", "A32")


def program(rng: random.Random) -> str:
    count = rng.randint(3, 6)
    fns = []
    for i in range(count):
        lines, kept = [], []
        for k in range(rng.randint(1, 4)):
            if rng.random() < 0.5:
                lines.append(f"    let l{k} = [{rng.choice(TYPES)}::default(); {rng.randint(1, 40)}];")
                kept.append(f"l{k}")
            if i + 1 < count and rng.random() < 0.7:
                call = f"f{rng.randint(i + 1, count - 1)}(acc)"
                lines.append(f"    acc += {f'Box::pin({call})' if rng.random() < 0.2 else call}.await;")
            else:
                lines.append(f"    acc += tick::<{rng.randint(1, 64)}, {rng.choice(TYPES)}>().await;")
        used = " + ".join(f"(std::mem::size_of_val(&{name}) as u64)" for name in kept) or "0"
        fns.append(f"pub async fn f{i}(x: u64) -> u64 {{\n    let mut acc = x;\n" + "\n".join(lines)
                   + f"\n    acc + {used}\n}}")
    return PRELUDE + "\n".join(fns) + "\n"


def rustc_sizes(source: str, folder: Path) -> str:
    path = folder / "p.rs"
    path.write_text(source)
    done = subprocess.run(["rustc", "--edition", "2021", "-O", "--crate-type", "lib", "-Zprint-type-sizes",
                           "-o", str(folder / "p.rlib"), str(path)],
                          env={**os.environ, "RUSTC_BOOTSTRAP": "1"}, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr)
    return done.stdout


def check(seed: int, folder: Path) -> tuple:
    """(sizes compared, mismatches) for one random program."""
    source = program(random.Random(seed))
    bodies = tree.build(sizes.parse(rustc_sizes(source, folder), "p.rs"), "p.rs")
    compiled = workload.build_program(bodies, workload.roots_of(bodies), f"p{seed}")[0].compile()
    sizer = questions.Sizer(compiled)
    compared = bad = 0
    for fn, frame in enumerate(compiled.fn_native):
        if frame is not None and sizer.sizes[fn] != frame.size:
            print(f"seed {seed}: {frame.path} imported as {sizer.sizes[fn]}, rustc {frame.size}")
            bad += 1
    for e in range(len(compiled.edge_callee)):
        parent_fn = int(sizer.edge_fn[e])
        if sizer.base[e] or compiled.fn_native[parent_fn] is None:
            continue
        predicted, _ = sizer.boxing([e])
        parent, child = compiled.fn_native[parent_fn].path, compiled.fn_native[int(compiled.edge_callee[e])].path
        earlier = sum(1 for x, _ in questions.edges_of(compiled, parent_fn)
                      if x < e and compiled.edge_callee[x] == compiled.edge_callee[e])
        rebuilt = sizes.parse(rustc_sizes(box_call(source, parent, child, earlier), folder), "boxed")
        real = {tree.readable(name): size for name, (size, _) in rebuilt.types.items() if sizes.is_coroutine(name)}
        for fn, frame in enumerate(compiled.fn_native):
            if frame is None or frame.path not in real:
                continue
            compared += 1
            if predicted[fn] != real[frame.path]:
                bad += 1
                print(f"seed {seed}: box {parent} -> {child}: {frame.path} predicted {predicted[fn]}, "
                      f"rustc {real[frame.path]}")
    return compared, bad


def main() -> None:
    first, last = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) > 2 else (0, 200)
    compared = bad = 0
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(first, last):
            c, b = check(seed, Path(folder))
            compared, bad = compared + c, bad + b
    print(f"seeds {first}..{last - 1}: {compared:,} sizes after a Box::pin compared with rustc, {bad} differ")


if __name__ == "__main__":
    main()
