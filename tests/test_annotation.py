"""The hot loop is C: `cython -a` must show no Python interaction in it.

Everything above the "Python API" section of _executor.pyx is the executor
proper, and so is every .pxi it includes (storage.pxi); Cython scores a line
above 0 when it touches the Python C-API.
"""

import re
import shutil
import subprocess
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "cython_core" / "_executor.pyx"
MODULE_HEADER = ("# cython:", "import ", "from ")  # module-level directives and imports run once


def scores(html: Path) -> dict:
    """Line number -> Cython's score, from one annotated file's page."""
    return {
        int(line): int(score)
        for score, line in re.findall(
            r'<pre class="cython line score-(\d+)"[^>]*>\+?<span class="">(\d+)</span>', html.read_text()
        )
    }


def touching(source: Path, html: Path, end: int | None = None) -> list:
    """The code lines of ``source`` before line ``end`` that touch Python."""
    src = source.read_text().splitlines()
    return [
        (source.name, n, src[n - 1].strip())
        for n, score in scores(html).items()
        if (end is None or n < end) and score > 0 and not src[n - 1].startswith(MODULE_HEADER)
    ]


def test_executor_hot_loop_has_no_python_interaction(tmp_path):
    cython = shutil.which("cython") or shutil.which("cython3")
    assert cython, "Cython is a build requirement; install it (pip install Cython)"
    for pattern in ("*.pyx", "*.pxd", "*.pxi", "*.h"):  # the module, what it cimports and includes, the headers
        for name in SOURCE.parent.glob(pattern):
            shutil.copy(name, tmp_path)
    subprocess.run([cython, "-3", "-a", SOURCE.name], cwd=tmp_path, check=True)
    found = scores(tmp_path / "_executor.html")
    src = SOURCE.read_text().splitlines()
    api = next(i for i, l in enumerate(src, 1) if l.startswith("# -") and "Python API" in l)
    # Comments and blank lines carry no score; code on both sides of the marker must.
    assert min(found) < api < max(found), "could not read the annotation"
    included = sorted(SOURCE.parent.glob("*.pxi"))
    assert included, "the executor's storage.pxi is missing"
    python = touching(SOURCE, tmp_path / "_executor.html", api)
    for pxi in included:
        html = tmp_path / (pxi.stem + ".html")
        assert scores(html), f"could not read the annotation of {pxi.name}"
        python += touching(pxi, html)
    assert python == []
