"""Build the Cython core; everything else is declared in pyproject.toml."""

from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension(
        "pinbench.cython_core._executor",
        ["cython_core/_executor.pyx"],
        include_dirs=["cython_core"],
        depends=["cython_core/allocators.h", "cython_core/runtime.h"],
        extra_compile_args=["-O2"],
    )
]

setup(ext_modules=cythonize(extensions, language_level=3, annotate=False))
