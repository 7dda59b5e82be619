"""Get the ``-Zprint-type-sizes`` text for a PATH: a cargo package, one .rs
file, or a saved sizes file.

cargo runs offline and prints sizes for the package itself only
(``cargo rustc`` passes the flag to the last compiler invocation, the
package's own crate). The flag is unstable: ``RUSTC_BOOTSTRAP=1`` lets a
stable toolchain accept it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import tomllib
from pathlib import Path

from ...model.errors import UsageError
from .. import cache

FLAG = "-Zprint-type-sizes"


def sizes_text(path: str) -> tuple:
    """(text, a name for the workload) for PATH."""
    p = Path(path)
    if p.is_dir():
        if not (p / "Cargo.toml").is_file():
            raise UsageError(f"{path}: a directory without Cargo.toml; name a cargo package, a .rs file or a sizes file")
        return _cargo(p), p.resolve().name
    if not p.is_file():
        raise UsageError(f"{path}: no such file or directory; name a cargo package, a .rs file or a sizes file")
    if p.suffix == ".rs":
        # A program (with main) builds as one; anything else as a library,
        # whose public async fns are compiled and so laid out.
        kind = "bin" if "fn main" in p.read_text(encoding="utf-8", errors="replace") else "lib"
        with tempfile.TemporaryDirectory(prefix="pinbench-import-") as out:
            return _run(["rustc", "--edition", "2021", "-O", "--crate-type", kind, "-o", str(Path(out) / "out"),
                         FLAG, str(p.resolve())], out, "rustc"), p.stem
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: cannot read it as text ({error}); give the sizes file rustc printed") from None
    if not text.strip():
        raise UsageError(f"{path}: the file is empty; save the output of "
                         "RUSTC_BOOTSTRAP=1 cargo rustc --release -- -Zprint-type-sizes into it")
    return text, p.stem


def _cargo(package: Path) -> str:
    """The package's sizes. cargo skips a crate that is up to date, and then
    rustc prints nothing, so the package alone is cleaned first, in a
    target folder of pinbench's own (the user's stays untouched, and the
    dependencies built there are reused next time)."""
    try:
        name = tomllib.loads((package / "Cargo.toml").read_text(encoding="utf-8"))["package"]["name"]
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError):
        raise UsageError(f"{package}/Cargo.toml: no [package] name in it; name a cargo package") from None
    target = cache.cache_root(cache.IMPORT_TARGET)
    common = ["--release", "--offline", "--quiet", "--target-dir", str(target)]
    _run(["cargo", "clean", "-p", name, *common], package, "cargo clean")
    return _run(["cargo", "rustc", *common, "--", FLAG], package, "cargo")


def _run(command, cwd, tool) -> str:
    if shutil.which(command[0]) is None:
        raise UsageError(f"{command[0]} is not installed (not on PATH); install Rust's toolchain, "
                         "or import a saved -Zprint-type-sizes file")
    env = {**os.environ, "RUSTC_BOOTSTRAP": "1", "CARGO_TERM_COLOR": "never"}
    try:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, errors="replace")
    except OSError as error:
        raise UsageError(f"{command[0]} could not be started ({error.strerror})") from None
    if done.returncode != 0:
        raise UsageError(f"{tool} failed: {_first_error(done.stderr)}")
    return done.stdout


def _first_error(stderr: str) -> str:
    """The compiler's first error, with where it is."""
    lines = stderr.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("error"):
            where = next((l.strip() for l in lines[i + 1:i + 3] if l.strip().startswith("-->")), "")
            return " ".join(f"{line} {where}".split())
    return " ".join((lines[-1] if lines else "no output").split())
