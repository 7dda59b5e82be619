"""The fixtures every test file shares, and the order the files run in.

Helpers that are not fixtures (the CLI in a subprocess, the one-line error
check) are in helpers.py; the independent models in oracles/.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def session_engine_cache(tmp_path_factory):
    """Compiled engines and native programs go to one cache for the whole
    test session (inherited by the CLI subprocesses), never the user's
    ~/.cache. Under pytest-xdist the workers share it (the folder above
    their own temporary folders): an entry is built in a private folder and
    renamed into place, so concurrent builders are safe, and an engine one
    worker built is a hit for the others."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        folder = Path(tmp_path_factory.getbasetemp()).parent / "pinbench-cache"
        folder.mkdir(exist_ok=True)
    else:
        folder = tmp_path_factory.mktemp("pinbench-cache")
    old = os.environ.get("PINBENCH_CACHE")
    os.environ["PINBENCH_CACHE"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("PINBENCH_CACHE", None)
    else:
        os.environ["PINBENCH_CACHE"] = old
