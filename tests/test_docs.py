"""Runs every ```python block of README.md and docs/*.md, in order, one namespace per file.

A block whose first line is ``# not run`` is skipped (for shell snippets shown as python).
Then builds the site with ``mkdocs build --strict`` (any warning fails) and checks the API
reference pages: examples rendered as code, no raw Sphinx roles, no private defaults.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("**/*.md")])
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


@pytest.mark.parametrize("path", [f for f in FILES if f.exists()], ids=lambda p: p.name)
def test_markdown_examples_run(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict[str, object] = {"__name__": f"docs_{path.stem}"}
    for number, match in enumerate(BLOCK.finditer(path.read_text()), start=1):
        code = match.group(1)
        if code.lstrip().startswith("# not run"):
            continue
        line = path.read_text()[: match.start()].count("\n") + 2
        try:
            exec(compile(code, f"{path.name}:block{number}(line {line})", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the failure message is the point
            raise AssertionError(
                f"{path.relative_to(ROOT)} block {number} at line {line} failed: {exc!r}"
            ) from exc
    assert os.getcwd() == str(tmp_path)


# --- the site itself: `mkdocs build --strict` with no warning, and API pages that render well ---

REFERENCE_PAGES = [
    "ecomcrm", "errors", "domain", "storage", "metrics", "predict", "dask", "segments",
    "rules", "io", "loyalty", "service", "recommend", "testing", "cli",
]  # fmt: skip
ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|mod|data|exc|obj|const):`")
CODE_EXAMPLE = re.compile(r"<(pre|code)\b[^>]*>(?:(?!</(?:pre|code)>).)*?&gt;&gt;&gt; ", re.S)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site_dir = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    warnings = [line for line in output.splitlines() if "WARNING" in line or "ERROR" in line]
    assert result.returncode == 0 and not warnings, "mkdocs build --strict:\n" + "\n".join(
        warnings or output.splitlines()[-20:]
    )
    return site_dir


@pytest.mark.slow
def test_site_builds_strictly_without_warnings(site: Path) -> None:
    assert (site / "index.html").exists()


@pytest.mark.slow
@pytest.mark.parametrize("page", REFERENCE_PAGES)
def test_reference_page_renders_examples_as_code_without_markup_or_private_defaults(
    site: Path, page: str
) -> None:
    html = (site / "reference" / page / "index.html").read_text()
    assert len(html.encode()) < 200_000, f"reference/{page} is {len(html.encode())} bytes"
    assert CODE_EXAMPLE.search(html), f"reference/{page}: no >>> example inside <pre>/<code>"
    assert "&gt;&gt;&gt;" not in re.sub(r"<(pre|code)\b.*?</\1>", "", html, flags=re.S), (
        f"reference/{page}: a >>> example outside code (rendered as prose)"
    )
    assert not ROLE.search(html), f"reference/{page}: raw role {ROLE.search(html)}"
    assert "_MISSING" not in html and "<blockquote>" not in html
