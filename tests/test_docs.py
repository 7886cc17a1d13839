"""Runs every ```python block of README.md and docs/*.md, in order, one namespace per file.

A block whose first line is ``# not run`` is skipped (for shell snippets shown as python).
"""

import os
import re
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
