"""The report page in a real browser: headless Chromium loads report.html
from disk with the network cut off, every image must have loaded
(naturalWidth > 0) and the console must stay silent; a screenshot is saved
under the results folder as a CI artifact.

The page carries its own check (report.SELF_CHECK): when it has loaded, a
script writes a JSON verdict (images, broken ones, errors caught through
window.onerror, failed loads and console.error) into #pinbench-check.
`chromium --dump-dom` prints the DOM after the load event, so the test
reads the verdict without any DevTools client; Chromium's own log
(--enable-logging=stderr) must show no console message either.

Chromium is required in CI (`.ci/run` installs Debian's `chromium` and sets
CI=true; a missing browser fails there). Elsewhere a machine without one
skips these tests with a reason pytest prints in its summary.
Set PINBENCH_REPORT_ARTIFACTS to keep the results folder (report.html, the
figures and report-screenshot.png) somewhere CI uploads from.
"""

from __future__ import annotations

import html.parser
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .helpers import pinbench

pytestmark = pytest.mark.browser  # loads the report in Chromium

ARTIFACTS_ENV = "PINBENCH_REPORT_ARTIFACTS"
SCREENSHOT = "report-screenshot.png"


def find_chromium() -> str:
    """The browser to check the report in. Missing: a failure in CI (CI=true,
    which .ci/run sets after installing chromium), else a skip whose reason
    pytest prints in its summary (-rs in pyproject's addopts)."""
    override = os.environ.get("PINBENCH_CHROMIUM")
    for name in ([override] if override else []) + ["chromium", "chromium-browser", "google-chrome"]:
        path = shutil.which(name)
        if path:
            return path
    advice = ("install it (Debian: apt-get install chromium; .ci/run does this) or point "
              "PINBENCH_CHROMIUM at a Chromium or Chrome binary")
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(f"chromium is not installed, and in CI the report page must be checked in a real browser: {advice}")
    pytest.skip(f"NOT CHECKED IN A BROWSER: chromium is not installed on this machine; {advice}")


def chromium(binary, profile, *args, timeout=120):
    """Headless Chromium on a throwaway profile, no network (every host
    name fails to resolve), its log on stderr."""
    command = [
        binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--no-default-browser-check", "--disable-extensions", "--disable-dev-shm-usage",
        f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND",
        "--enable-logging=stderr", "--v=0", *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


class _Verdict(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.verdict = None
        self.images = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images += 1
        if attrs.get("id") == "pinbench-check" and attrs.get("data-verdict"):
            self.verdict = json.loads(attrs["data-verdict"])


@pytest.fixture(scope="module")
def binary():
    return find_chromium()


@pytest.fixture(scope="module")
def report_folder(binary, tmp_path_factory):
    chosen = os.environ.get(ARTIFACTS_ENV)
    folder = Path(chosen).resolve() if chosen else tmp_path_factory.mktemp("browser") / "run"
    folder.parent.mkdir(parents=True, exist_ok=True)
    run = pinbench("run", "--quick", "--counts-only", "-w", "chain,fanout,select_loop", "-p", "depth=1,4",
                   "-s", "all", "-o", folder, "--force", cwd=folder.parent)
    assert run.returncode == 0, run.stderr
    done = pinbench("report", folder, cwd=folder.parent)
    assert done.returncode == 0, done.stderr
    return folder


def test_every_image_loads_and_the_console_stays_silent(binary, report_folder, tmp_path):
    page = report_folder / "report.html"
    done = chromium(binary, tmp_path / "profile", "--virtual-time-budget=10000", "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    parser = _Verdict()
    parser.feed(done.stdout)
    assert parser.verdict is not None, (
        "the page's self-check did not run (no verdict in #pinbench-check); DOM starts: " + done.stdout[:500]
    )
    verdict = parser.verdict
    expected = len(list((report_folder / "figures").glob("*.png")))
    assert expected >= 6
    assert verdict["images"] == parser.images == expected
    assert verdict["broken"] == [], verdict
    assert verdict["errors"] == [], verdict
    assert all(width > 0 for width in verdict["widths"]), verdict
    console = [line for line in done.stderr.splitlines() if re.search(r":CONSOLE[:(]", line)]
    assert console == [], "the browser console was not silent:\n" + "\n".join(console)


def test_a_broken_page_is_caught(binary, report_folder, tmp_path):
    """The check can fail: a missing image and a script error are reported."""
    broken = tmp_path / "broken.html"
    text = (report_folder / "report.html").read_text()
    text = text.replace('src="data:image/png;base64,', 'src="figures/no-such-file.png#', 1)
    text = text.replace("</main>", "<script>undefinedFunction();</script></main>", 1)
    broken.write_text(text)
    done = chromium(binary, tmp_path / "profile", "--virtual-time-budget=10000", "--dump-dom", broken.as_uri())
    parser = _Verdict()
    parser.feed(done.stdout)
    assert parser.verdict is not None
    assert len(parser.verdict["broken"]) == 1, parser.verdict
    assert any("undefinedFunction" in e for e in parser.verdict["errors"]), parser.verdict
    assert any("failed to load <img>" in e for e in parser.verdict["errors"]), parser.verdict


def test_screenshot_is_saved_under_the_results_folder(binary, report_folder, tmp_path):
    shot = report_folder / SCREENSHOT
    shot.unlink(missing_ok=True)
    done = chromium(
        binary, tmp_path / "profile", "--hide-scrollbars", "--window-size=1280,2000",
        f"--screenshot={shot}", (report_folder / "report.html").as_uri(),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    import matplotlib.image as mpimg

    pixels = mpimg.imread(shot)
    assert pixels.shape[:2] == (2000, 1280)
    assert pixels[..., :3].std() > 0.05  # not a blank page
    print(f"screenshot: {shot}")
