"""The hot loop is C: `cython -a` must show no Python interaction in it.

Everything above the "Python API" section of _executor.pyx is the executor
proper; Cython scores a line above 0 when it touches the Python C-API.
"""

import re
import shutil
import subprocess
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "cython_core" / "_executor.pyx"
MODULE_HEADER = ("# cython:", "import ")  # module-level directives and imports run once


def test_executor_hot_loop_has_no_python_interaction(tmp_path):
    cython = shutil.which("cython") or shutil.which("cython3")
    assert cython, "Cython is a build requirement; install it (pip install Cython)"
    shutil.copy(SOURCE, tmp_path)
    for pattern in ("*.h", "*.pxd", "*.pxi"):  # the headers and what the .pyx cimports or includes
        for header in SOURCE.parent.glob(pattern):
            shutil.copy(header, tmp_path)
    subprocess.run([cython, "-3", "-a", "_executor.pyx"], cwd=tmp_path, check=True)
    html = (tmp_path / "_executor.html").read_text()
    scores = {
        int(line): int(score)
        for score, line in re.findall(
            r'<pre class="cython line score-(\d+)"[^>]*>\+?<span class="">(\d+)</span>', html
        )
    }
    src = SOURCE.read_text().splitlines()
    api = next(i for i, l in enumerate(src, 1) if l.startswith("# -") and "Python API" in l)
    # Comments and blank lines carry no score; code on both sides of the marker must.
    assert min(scores) < api < max(scores), "could not read the annotation"
    touching = [
        (n, src[n - 1].strip())
        for n, score in scores.items()
        if n < api and score > 0 and not src[n - 1].startswith(MODULE_HEADER)
    ]
    assert touching == []
