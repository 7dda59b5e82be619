"""`pinbench import rust PATH`: a Rust crate's futures as a workload file."""

from __future__ import annotations

import sys
from pathlib import Path

from ...model.errors import UsageError
from ..rust_import import questions, sizes, toolchain, tree, workload
from ..results import atomic_write_text, writing
from ..toml_loader import load_program
from .common import add_command

NAME = "import"
MAX_ROOTS_SHOWN = 4  # columns of the every-strategy table: the biggest roots

DESCRIPTION = """\
Read the layout rustc gives every async fn body and async block of a Rust
crate (-Zprint-type-sizes), build the await tree, write it as a workload file
that runs under every strategy, and answer: which futures are biggest and
why, which captures are stored twice, and where a Box::pin would bring every
future under --max-future-bytes with the fewest allocations.
PATH is a cargo package (built offline), one .rs file (rustc), or a saved
-Zprint-type-sizes text file (no toolchain needed)."""
EPILOG = """\
examples:
  pinbench import rust path/to/crate
  pinbench import rust src/main.rs --output main.toml --force
  RUSTC_BOOTSTRAP=1 cargo rustc --release -- -Zprint-type-sizes > sizes.txt
  pinbench import rust sizes.txt --root app::serve --max-future-bytes 2048
  pinbench run --workload crate.toml --counts-only

docs/import.md explains the workflow and what type sizes cannot tell.

exit status: 0 ok, 2 bad input (no toolchain, a crate that does not build,
an empty, truncated or garbled sizes file, no async code)."""


def add_parser(subparsers):
    p = add_command(subparsers, NAME, "import a Rust crate's futures as a workload file", DESCRIPTION, EPILOG, run)
    p.add_argument("language", choices=["rust"], help="the language of PATH (rust)")
    p.add_argument("path", metavar="PATH", help="a cargo package directory, a .rs file or a sizes file")
    p.add_argument("-o", "--output", metavar="FILE", help="the workload file to write (default: NAME.toml here)")
    p.add_argument("--force", action="store_true", help="overwrite --output if it exists")
    p.add_argument("--root", action="append", metavar="NAME",
                   help="import only this root: an async fn's path or a block's FILE:LINE:COL (repeatable)")
    p.add_argument("--max-future-bytes", type=int, default=questions.DEFAULT_MAX_FUTURE_BYTES, metavar="N",
                   help="the size every future should fit under (default: %(default)s, clippy's large_futures)")
    return p


def run(args, argv) -> int:
    if args.max_future_bytes < 1:
        raise UsageError(f"--max-future-bytes must be at least 1, not {args.max_future_bytes}")
    text, name = toolchain.sizes_text(args.path)
    parsed = sizes.parse(text, args.path)
    bodies = tree.build(parsed, args.path)
    roots = workload.pick_roots(bodies, args.root or [], args.path)
    output = Path(args.output or f"{tree.identifier(name)}.toml")
    if output.is_symlink() or (output.exists() and not output.is_file()):
        # --force replaces a workload file, never a folder, a device, a pipe or a link
        raise UsageError(f"{output} exists and is not a regular file; choose another --output")
    if output.exists() and not args.force:
        raise UsageError(f"{output} exists; pass --force to overwrite it or --output another file")
    program, toml_text = workload.build_program(bodies, roots, workload.workload_name(name))
    compiled = program.compile()
    # What we write must load back (the loader also checks every imported
    # size against rustc's) before it takes the output's name.
    with writing(output):
        atomic_write_text(output, toml_text, check=lambda tmp: _loads_back(tmp, output))
    print(f"imported {len(bodies)} futures, {len(roots)} root(s), from {args.path} into {output}\n")
    sys.stdout.write(questions.report(compiled, args.max_future_bytes))
    biggest = sorted(roots, key=lambda r: -r.size)[:MAX_ROOTS_SHOWN]
    per_root = [(root.path, workload.build_program(bodies, [root], root.name)[0].compile()) for root in biggest]
    sys.stdout.write(questions.strategies_text(per_root))
    return 0


def _loads_back(tmp, output) -> None:
    """The file about to become ``output`` loads into the same program, its
    sizes rustc's; if not (a bug of ours), say so under the name the user asked for."""
    try:
        load_program(tmp)
    except UsageError as error:
        raise UsageError(f"{str(error).replace(str(tmp), str(output))} (nothing was written)") from None
