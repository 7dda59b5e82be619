"""Build the Cython core; everything else is declared in pyproject.toml."""

from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension(
        "pinbench.cython_core._executor",
        ["cython_core/_executor.pyx"],
        include_dirs=["cython_core"],
        depends=["cython_core/allocators.h", "cython_core/runtime.h", "cython_core/runtime.pxd",
                 "cython_core/storage.pxi"],
        # gcc's default limits left the per-task helpers (block_counted,
        # task_done) as calls: inlining them into spawn_task and the loop
        # saves 38 instructions per task (docs/validation.md, issue 20).
        extra_compile_args=["-O2", "--param=max-inline-insns-single=400",
                            "--param=large-function-growth=400", "--param=inline-unit-growth=200",
                            "--param=large-stack-frame-growth=2000"],
    )
]

# include_path: _executor.pyx cimports runtime.pxd beside it.
setup(ext_modules=cythonize(extensions, language_level=3, annotate=False, include_path=["cython_core"]))
