"""Build the Cython core; everything else is declared in pyproject.toml."""

import os
import shutil

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# compare-branches builds one environment per commit; a commit whose core
# sources (cython_core/, this file) are those of a core it built before
# names that compiled core here, and it is copied instead of compiled again
# (bench/branches.py, reused_core).
PREBUILT = os.environ.get("PINBENCH_PREBUILT_CORE")
# Python's own flags (sysconfig's CFLAGS) carry -g: debug information that
# takes a third of the compile and 3.4 MB of the module and changes no
# instruction (the same .text). Left out unless CFLAGS asks for it
# (tools/sanitize.sh, a debugger).
DEBUG_INFO = any(flag.startswith("-g") for flag in os.environ.get("CFLAGS", "").split())

extensions = [
    Extension(
        "pinbench.cython_core._executor",
        ["cython_core/_executor.pyx"],
        include_dirs=["cython_core"],
        depends=["cython_core/allocators.h", "cython_core/runtime.h", "cython_core/tasks.h", "cython_core/runtime.pxd",
                 "cython_core/storage.pxi"],
        # gcc's default limits left the per-task helpers (block_counted,
        # task_done) as calls: inlining them into spawn_task and the loop
        # saves 38 instructions per task (docs/validation.md, issue 20).
        extra_compile_args=["-O2", "--param=max-inline-insns-single=400",
                            "--param=large-function-growth=400", "--param=inline-unit-growth=200",
                            "--param=large-stack-frame-growth=2000"] + ([] if DEBUG_INFO else ["-g0"]),
    )
]


class BuildExt(build_ext):
    def build_extension(self, ext):
        if not PREBUILT:
            return super().build_extension(ext)
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(PREBUILT, target)


if not PREBUILT:
    from Cython.Build import cythonize

    # include_path: _executor.pyx cimports runtime.pxd beside it.
    extensions = cythonize(extensions, language_level=3, annotate=False, include_path=["cython_core"])
setup(ext_modules=extensions, cmdclass={"build_ext": BuildExt})
