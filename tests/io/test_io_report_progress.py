"""ImportReport bookkeeping and the progress sinks."""

from __future__ import annotations

import io
import sys
import types

from ecomcrm.io import MAX_REJECTION_DETAILS, ImportReport, TextProgress, make_progress


def test_report_buckets_and_format() -> None:
    r = ImportReport(source="o.csv", kind="shopify_orders", imported=3, updated=1, unchanged=2,
                     suppressed=1)  # fmt: skip
    r.reject(line=9, column="Total", reason="not a number", value="x")
    assert r.read == 8 and not r.ok
    text = r.format()
    assert text.splitlines()[1] == "  o.csv:9: Total: not a number (got 'x')"
    d = r.to_dict()
    assert d["read"] == 8 and d["rejections"][0]["line"] == 9


def test_report_keeps_counting_past_detail_limit() -> None:
    r = ImportReport(source="big.csv", kind="generic")
    for line in range(MAX_REJECTION_DETAILS + 5):
        r.reject(line=line + 2, column=None, reason="bad")
    assert r.rejected == MAX_REJECTION_DETAILS + 5
    assert len(r.rejections) == MAX_REJECTION_DETAILS
    assert r.format(limit=2).endswith(f"... and {MAX_REJECTION_DETAILS + 3} more rejected rows")


def test_merge() -> None:
    a = ImportReport(source="a", kind="k", imported=1)
    a.count("consents")
    b = ImportReport(source="b", kind="k", rejected=0, unchanged=2)
    b.reject(line=1, column=None, reason="x")
    b.count("consents", 2)
    a.merge(b)
    assert (a.read, a.extra["consents"], len(a.rejections)) == (4, 3, 1)
    assert next(iter(a)).file == "b"


def test_text_progress_fallback() -> None:
    out = io.StringIO()
    bar = TextProgress("import", total=None, stream=out, interval=0.0)
    bar.update(5)
    bar.close()
    assert out.getvalue().rstrip().endswith("/s)") and "import: 5 rows" in out.getvalue()


def test_make_progress_choices(monkeypatch: object) -> None:
    silent = make_progress(None, "x")
    silent.update(3)
    silent.close()
    assert make_progress(False, "x").__class__.__name__ == "_Silent"
    # without tqdm, True falls back to the built-in text bar
    mp = __import__("pytest").MonkeyPatch()
    mp.setitem(sys.modules, "tqdm", None)
    try:
        assert isinstance(make_progress(True, "x", total=3), TextProgress)
    finally:
        mp.undo()
    # with tqdm, True uses it
    calls: list[int] = []

    class FakeBar:
        def __init__(self, **kw: object) -> None:
            pass

        def update(self, n: int) -> None:
            calls.append(n)

        def close(self) -> None:
            calls.append(-1)

    fake = types.ModuleType("tqdm")
    fake.tqdm = FakeBar  # type: ignore[attr-defined]
    mp.setitem(sys.modules, "tqdm", fake)
    try:
        bar = make_progress(True, "x", total=3)
        bar.update(2)
        bar.close()
    finally:
        mp.undo()
    assert calls == [2, -1]
