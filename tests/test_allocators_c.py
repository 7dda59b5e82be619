"""Compile tests/c/test_allocators.c against cython_core/allocators.h under
AddressSanitizer + UndefinedBehaviorSanitizer, run it, and require a clean exit.

The allocators sit under every frame the executor allocates, so a bug there
would show up as wrong counts or crashes far away; this checks them on their
own, including that destroy() gives every byte back (LeakSanitizer).
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "tests" / "c" / "test_allocators.c"
INCLUDE = ROOT / "cython_core"

FLAGS = ["-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined", "-g"]

# The default build, a strict C99 -O2 build that forces the portable
# (over-allocating) path for 16-byte alignment, which glibc x86_64 never
# takes, and a build on the C library's own malloc (no sanitizer: ASan
# replaces malloc, and the system allocator then asks it every block's size).
CONFIGS = {
    "default": [],
    "c99-portable-O2": ["-std=c99", "-pedantic", "-O2", "-DPB_ALLOC_MALLOC_ALIGNED=0"],
    "libc-malloc-O2": ["-O2", "-fno-sanitize=all"],
}

SANITIZER_MARKERS = ("Sanitizer", "runtime error:")


@pytest.mark.parametrize("extra", list(CONFIGS.values()), ids=list(CONFIGS))
def test_allocators_c(tmp_path, extra):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc not found on PATH; it is a build requirement (the Cython core)")

    exe = tmp_path / "test_allocators"
    build = subprocess.run(
        [gcc, *FLAGS, *extra, f"-I{INCLUDE}", str(SOURCE), "-o", str(exe)],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, f"compilation failed:\n{build.stdout}{build.stderr}"

    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "detect_leaks=1:halt_on_error=1"
    env["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1"
    run = subprocess.run([str(exe)], capture_output=True, text=True, env=env, timeout=600)
    output = run.stdout + run.stderr
    assert run.returncode == 0, f"test_allocators exited {run.returncode}:\n{output}"
    for marker in SANITIZER_MARKERS:
        assert marker not in output, f"sanitizer output:\n{output}"
    assert run.stderr == "", f"unexpected stderr:\n{run.stderr}"
    assert "all checks passed" in run.stdout
