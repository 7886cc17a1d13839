"""Properties of the command line, for any input Hypothesis finds."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecomcrm.cli import main

MAPPING = '{"order_id": "invoice", "customer_id": "client", "placed_at": "date", "total": "amount"}'

rows = st.lists(
    st.tuples(
        st.sampled_from(["c1", "c2", "c3", "c4", "c5"]),
        st.dates(
            min_value=pd.Timestamp("2023-01-01").date(), max_value=pd.Timestamp("2024-12-31").date()
        ),
        st.integers(min_value=0, max_value=1_000_000),  # cents
    ),
    min_size=1,
    max_size=40,
)


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=rows)
def test_the_json_report_agrees_with_pandas_on_any_orders(
    rows: list[tuple[str, object, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        sales = Path(folder) / "sales.csv"
        sales.write_text(
            "invoice,client,date,amount\n"
            + "".join(f"I{i},{c},{d},{cents / 100:.2f}\n" for i, (c, d, cents) in enumerate(rows))
        )
        code = main(["analyze", str(sales), "--kind", "orders", "--mapping", MAPPING,
                     "--currency", "EUR", "--json", "--quiet", "--no-flows"])  # fmt: skip
        out, err = capsys.readouterr()
        assert code == 0, err
        report = json.loads(out)
        frame = pd.read_csv(sales, parse_dates=["date"])
    assert report["orders"] == len(frame)
    assert report["customers"] == frame["client"].nunique()
    assert report["revenue"] == pytest.approx(frame["amount"].sum(), abs=1e-6)
    assert report["as_of"] == frame["date"].max().tz_localize("UTC").isoformat()
    assert sum(report["lifecycle_stages"].values()) == report["customers"]


names = st.text(
    alphabet=st.sampled_from("ab%41?#&=+ ;~@!$'()[]{}é"), min_size=1, max_size=12
).filter(lambda s: s.strip() == s and s not in (".", ".."))


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=names)
def test_db_is_the_file_named_whatever_its_characters(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        sales = Path(folder) / "sales.csv"
        sales.write_text("invoice,client,date,amount\nA,c,2024-01-02,1.00\n")
        db = Path(folder) / f"{name}.db"
        code = main(["import", str(sales), "--kind", "orders", "--mapping", MAPPING,
                     "--currency", "EUR", "--db", str(db), "--quiet"])  # fmt: skip
        _out, err = capsys.readouterr()
        assert code == 0, err
        assert sorted(p.name for p in Path(folder).iterdir() if p.name.endswith(".db")) == [db.name]
        assert main(["segments", "orders_count >= 1", "--db", str(db)]) == 0
        assert capsys.readouterr().out.startswith("1 of 1 customers match")
