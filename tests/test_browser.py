"""A generated report.html opened in headless Chromium: every figure loads, no error text.

Marked ``browser``; skipped with a reason when Chromium is not installed
(`apt-get install -y chromium`; .ci/run installs it).
"""

from __future__ import annotations

import base64
import html
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from test_reporting import GOOD, build_example_reports

pytestmark = pytest.mark.browser

CHROMIUM = next((p for p in (shutil.which("chromium"), "/usr/bin/chromium", shutil.which("chromium-browser"),
                             shutil.which("google-chrome")) if p and Path(p).exists()), None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars"]

# appended to a copy of the page: after load, record every image's natural size on <body>
PROBE = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var bad = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).length;
  document.body.setAttribute('data-img-total', String(imgs.length));
  document.body.setAttribute('data-img-broken', String(bad));
});
</script>"""


def _chromium(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> Path:
    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed (apt-get install -y chromium)")
    built = build_example_reports(tmp_path_factory.getbasetemp() / "example-reports")
    page = Path(built["out"]) / GOOD / "report.html"
    assert page.is_file(), built["runs"]
    return page


def _visible_text(dom: str) -> str:
    dom = re.sub(r"(?is)<(script|style)[^>]*>.*?</\1>", " ", dom)
    dom = re.sub(r'(?i)src="data:[^"]*"', " ", dom)
    return html.unescape(re.sub(r"(?s)<[^>]+>", " ", dom))


def test_every_figure_loads_and_no_error_text(report_html, tmp_path):
    probe = tmp_path / "report.html"
    probe.write_text(report_html.read_text().replace("</body>", PROBE + "</body>"))
    run = _chromium(["--virtual-time-budget=10000", "--dump-dom", probe.as_uri()], tmp_path)
    dom = run.stdout
    assert "<body" in dom, run.stderr[-2000:]
    total = int(re.search(r'data-img-total="(\d+)"', dom).group(1))
    broken = int(re.search(r'data-img-broken="(\d+)"', dom).group(1))
    assert total >= 2 and broken == 0, (total, broken)
    # every image is an embedded PNG (self-contained page)
    srcs = re.findall(r'<img[^>]+src="([^"]+)"', report_html.read_text())
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    for s in srcs:
        assert base64.b64decode(s.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    text = _visible_text(dom)
    for bad in ("Traceback", "Error", "NameError", "Exception"):
        assert bad not in text, bad
    assert not re.search(r"(?i)\bnan\b", text)
    assert "Executive summary" in text and "90% equal-tailed" in text


def test_screenshot_of_the_top_of_the_report(report_html, tmp_path):
    """The page renders: a screenshot that is not blank, and a DOM with the headline numbers
    of summary.json and, for each outcome, its model math and its priors in the appendix."""
    import json

    from PIL import Image, ImageStat

    shot = tmp_path / "top.png"
    run = _chromium(["--window-size=1100,1400", f"--screenshot={shot}", report_html.as_uri()], tmp_path)
    assert shot.is_file(), run.stderr[-2000:]
    img = Image.open(shot).convert("L")
    assert img.size == (1100, 1400)
    # a blank or uniform page has one grey level and no spread; text, tables and banners give many
    assert len(img.getcolors(maxcolors=256 * 256) or range(257)) > 20
    assert ImageStat.Stat(img).stddev[0] > 10
    # the top band (title, banner, recommendation) is not empty either
    assert ImageStat.Stat(img.crop((0, 0, 1100, 300))).stddev[0] > 10

    summ = json.loads((report_html.parent / "summary.json").read_text())
    dom = _chromium(["--virtual-time-budget=10000", "--dump-dom", report_html.as_uri()], tmp_path).stdout
    text = " ".join(_visible_text(dom).split())
    assert summ["name"] in text
    assert summ["outcomes"]
    for oid, o in summ["outcomes"].items():
        assert o["display"]["effect_abs"] in text, oid
        # the appendix: this outcome's model section with its math (as an image with the LaTeX
        # as its alt text, and the LaTeX source) and the table of its priors
        sec = re.search(rf'(?s)<h3 id="model-{re.escape(oid)}">.*?(?=<h3 id="model-|$)', dom)
        assert sec, f"no model section for {oid}"
        sec = sec.group(0)
        assert re.search(r'<pre class="lnd-latex">\$\$.*?\\[a-z]+.*?\$\$</pre>', html.unescape(sec), re.S), oid
        assert re.search(r'<img alt="[^"]*\\[a-z]+[^"]*" src="data:image/png;base64,', html.unescape(sec)), oid
        assert f"Priors ({oid})" in sec
        assert re.search(r"<caption>Priors \(" + re.escape(oid) + r"\)</caption>.*?<tbody><tr>", sec, re.S), oid
