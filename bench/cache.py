"""Where pinbench keeps what it builds: one root, one rule.

The root is ``--cache-dir DIR`` where a command takes it (validate), else
``$PINBENCH_CACHE``, else ``$XDG_CACHE_HOME/pinbench``, else
``~/.cache/pinbench``. Under it, one folder per kind of build:

- ``engines/``: the compiled engines (bench/engine.py);
- ``native/``: validate's native programs (bench/validate/toolchain.py);
- ``envs/``: compare-branches' environments, one per commit (bench/branches.py);
- ``import-target/``: cargo's target folder for `pinbench import rust`
  (bench/rust_import/toolchain.py: the crates' dependencies, built once).

Paths are absolute: they reach processes that start in other folders (the
instruction counter's scratch folder, pyperf's workers, a worktree).
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "PINBENCH_CACHE"
ENGINES, NATIVE, ENVS, IMPORT_TARGET = "engines", "native", "envs", "import-target"


def cache_root(kind: str | None = None, cache_dir=None) -> Path:
    """The cache's root, or its folder for ``kind`` (one of ENGINES, NATIVE, ENVS, IMPORT_TARGET)."""
    if cache_dir:
        root = Path(cache_dir).expanduser()
    elif os.environ.get(ENV):
        root = Path(os.environ[ENV]).expanduser()
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "pinbench"
    root = Path(os.path.abspath(root))
    return root / kind if kind else root
