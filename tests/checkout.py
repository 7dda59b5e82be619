"""Which files of this checkout make up "the project" for tests that copy it.

A copy must hold the code under test (so uncommitted edits and new, not yet
added source files count), but nothing else a checkout may hold: a
virtual environment under any name, build output, scratch files. Tracked
files are taken as they are in the working tree; an untracked file only
when it lies in one of the package's source folders (pyproject's
package-dir, plus tests/ and examples/) and not inside a virtual
environment (a folder holding pyvenv.cfg).
"""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path


def source_folders(root: Path) -> set:
    with open(root / "pyproject.toml", "rb") as file:
        package_dir = tomllib.load(file)["tool"]["setuptools"]["package-dir"]
    return {Path(folder).parts[0] for folder in package_dir.values()} | {"tests", "examples"}


def _in_venv(root: Path, name: str) -> bool:
    return any((root / parent / "pyvenv.cfg").exists() for parent in Path(name).parents)


def project_files(root: Path) -> list | None:
    """Relative paths of the project's files in ``root``; None outside a git checkout."""
    def listed(*flags):
        done = subprocess.run(["git", "ls-files", "-z", *flags], cwd=root, capture_output=True, text=True)
        return None if done.returncode != 0 else [n for n in done.stdout.split("\0") if n]

    tracked = listed("--cached")
    untracked = listed("--others", "--exclude-standard")
    if tracked is None or untracked is None:
        return None
    folders = source_folders(root)
    extra = [n for n in untracked if Path(n).parts[0] in folders and not _in_venv(root, n)]
    return [n for n in sorted(set(tracked) | set(extra)) if (root / n).is_file()]
