"""The HTML report opened in a real headless Chromium (Debian's ``chromium`` package).

Fails on any console error, uncaught exception, error log entry or failed resource; checks
that every section is there and every chart drew (an SVG with a non-empty box and shapes
in it), on a laptop's and a phone's width; saves screenshots in the test's folder. Skipped
with a one-line reason when no Chromium is installed, unless ``ECOMCRM_REQUIRE_BROWSER=1``
(.ci/run sets it): then a missing browser fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cdp_browser import Browser, find_chromium

SECTIONS = ["headline", "trend", "cohorts", "rfm", "segments", "at-risk", "flows", "products",
            "returns"]  # fmt: skip

PROBE = """JSON.stringify({
  sections: [...document.querySelectorAll('section')].map(s => s.id),
  headings: [...document.querySelectorAll('section > h2')].map(h => h.textContent),
  charts: [...document.querySelectorAll('figure.chart svg')].map(svg => {
    const box = svg.getBoundingClientRect();
    const frame = svg.closest('figure').getBoundingClientRect();
    return {label: svg.getAttribute('aria-label'), width: box.width, height: box.height,
            frame: frame.width,
            shapes: svg.querySelectorAll('path, rect, text, use').length};
  }),
  pageWidth: document.documentElement.scrollWidth,
  viewport: window.innerWidth,
})"""


@pytest.fixture(scope="module")
def chromium() -> str:
    found = find_chromium()
    if found is None:
        if os.environ.get("ECOMCRM_REQUIRE_BROWSER") == "1":
            pytest.fail(
                "ECOMCRM_REQUIRE_BROWSER=1 but no chromium on PATH (apt-get install chromium)"
            )
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    return found


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cwd = tmp_path_factory.mktemp("browser")
    result = subprocess.run(
        [sys.executable, "-m", "ecomcrm", "demo", "--customers", "1000", "--seed", "3",
         "--quiet", "--html", "report.html"],
        cwd=cwd, capture_output=True, text=True, timeout=600,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return cwd / "report.html"


@pytest.mark.parametrize(("device", "width"), [("laptop", 1280), ("phone", 390)])
def test_the_report_opens_cleanly_and_every_chart_draws(
    chromium: str, report: Path, tmp_path: Path, device: str, width: int
) -> None:
    with Browser(chromium, width=width, height=900) as browser:
        browser.open(report.as_uri())
        assert browser.problems() == []
        # one self-contained file: nothing but the page itself was requested
        assert browser.requested() == [report.as_uri()]
        found = json.loads(browser.evaluate(PROBE))
        shot = tmp_path / f"report-{device}.png"
        browser.screenshot(shot)
    assert found["sections"] == SECTIONS
    assert all(h.strip() for h in found["headings"])
    charts = found["charts"]
    assert len(charts) >= 7, charts  # trend, cohorts, RFM, 2 groups, 2 rankings
    for chart in charts:
        assert chart["width"] > 0 and chart["height"] > 0 and chart["shapes"] > 10, chart
        # scaled to a laptop's screen; on a phone at least 640 px wide, scrolled in its frame
        assert chart["frame"] <= width, chart
        assert chart["width"] <= width if width > 600 else chart["width"] >= 640, chart
    # nothing wider than the screen but the tables, which scroll inside their own box
    assert found["pageWidth"] <= found["viewport"] + 1, found
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
