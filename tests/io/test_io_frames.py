"""DataFrame interop: results to frames with lifetimes' names, frames to arrays and features."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from ecomcrm.errors import ConfigurationError, ValidationError
from ecomcrm.io import (
    LIFETIMES_COLUMNS,
    frame_to_feature_table,
    from_frame,
    summary_frame,
    to_columns,
    to_frame,
)
from ecomcrm.metrics import customer_summary, rfm_scores
from ecomcrm.segments import FeatureTable

END = np.datetime64("2024-03-31")


def _transactions() -> pd.DataFrame:
    return pd.DataFrame({
        "cust": ["a", "a", "a", "b", "c", "c"],
        "when": pd.to_datetime(["2024-01-01", "2024-01-01 18:00", "2024-02-10", "2024-01-20",
                                "2024-03-01", "2024-03-15"], format="ISO8601"),
        "spend": [10.0, 5.0, 30.0, 8.0, 12.0, 20.0],
    })  # fmt: skip


def test_summary_frame_hand_computed() -> None:
    out = summary_frame(_transactions(), customer_id_col="cust", datetime_col="when",
                        monetary_value_col="spend", observation_end=END)  # fmt: skip
    assert list(out.columns[:5]) == list(LIFETIMES_COLUMNS)
    rows = out[list(LIFETIMES_COLUMNS)].values.tolist()
    # a: purchases on Jan 1 (twice, one period) and Feb 10 -> frequency 1, recency 40 days,
    # T = Jan 1 -> Mar 31 = 90 days, monetary value = the repeat period's 30.0
    assert rows == [
        ["a", 1.0, 40.0, 90.0, 30.0],
        ["b", 0.0, 0.0, 71.0, 0.0],
        ["c", 1.0, 14.0, 30.0, 20.0],
    ]
    no_money = summary_frame(_transactions(), customer_id_col="cust", datetime_col="when",
                             observation_end=END, freq="W")  # fmt: skip
    assert "monetary_value" not in no_money.columns


def test_summary_frame_matches_arrays_on_a_bigger_log() -> None:
    rng = np.random.default_rng(3)
    n = 2_000
    ids = rng.integers(0, 300, n)
    ts = np.datetime64("2023-01-01", "us") + rng.integers(0, 365 * 86_400, n).astype("m8[s]")
    amount = rng.gamma(2.0, 20.0, n)
    df = pd.DataFrame({"customer_id": ids, "date": ts, "amount": amount})
    out = summary_frame(
        df, monetary_value_col="amount", observation_end=np.datetime64("2024-01-01")
    )
    ref = customer_summary(ids, ts, amount, observation_end=np.datetime64("2024-01-01"))
    for name in LIFETIMES_COLUMNS:
        assert np.allclose(out[name].to_numpy(), getattr(ref, name))


def test_to_frame_of_results_and_mappings() -> None:
    s = customer_summary([1, 2, 2], np.array(["2024-01-01", "2024-01-01", "2024-01-09"], "M8[us]"),
                         [1.0, 2.0, 3.0], observation_end=END)  # fmt: skip
    frame = to_frame(s)
    assert list(frame.columns[:5]) == list(LIFETIMES_COLUMNS)
    assert "observation_end" not in frame.columns and "first_purchase" in frame.columns
    scores = rfm_scores(s.recency, s.frequency, s.monetary_value)
    assert len(to_frame(scores)) == 2
    p = to_frame({"customer_id": s.customer_id, "p_alive": [0.9, 0.4]})
    assert p["p_alive"].tolist() == [0.9, 0.4]
    with pytest.raises(ValidationError):
        to_columns({"a": [1, 2], "b": [1]})
    with pytest.raises(ValidationError):
        to_columns(42)
    with pytest.raises(ValidationError):
        to_frame({"a": [1]}, backend="excel")  # type: ignore[arg-type]


def test_feature_table_both_ways() -> None:
    table = FeatureTable(
        ["a", "b", "c"],
        {
            "spend": [250.0, None, 40.0],
            "country": ["US", None, "DE"],
            "tags": [["vip"], [], ["b2b", "vip"]],
        },
        {"spend": "number", "country": "category", "tags": "tags"},
    )
    frame = to_frame(table)
    assert frame["customer_id"].tolist() == ["a", "b", "c"]
    country = frame["country"].tolist()
    assert country[0::2] == ["US", "DE"] and pd.isna(country[1])
    assert [sorted(t) for t in frame["tags"]] == [["vip"], [], ["b2b", "vip"]]
    back = frame_to_feature_table(frame, {"spend": "number", "country": "category"})
    assert back.to_record(1) == {"spend": None, "country": None}
    assert back.to_record(2) == {"spend": 40.0, "country": "DE"}


def test_from_frame_dates_and_errors() -> None:
    df = pd.DataFrame({
        "when": pd.to_datetime(["2024-01-01 01:00"]).tz_localize("Europe/Paris"),
        "naive": pd.to_datetime(["2024-01-01 01:00"]),
    })  # fmt: skip
    cols = from_frame(df)
    assert cols["when"][0] == np.datetime64("2024-01-01T00:00", "us")  # converted to UTC
    assert cols["naive"][0] == np.datetime64("2024-01-01T01:00", "us")
    with pytest.raises(ValidationError, match="not in the frame"):
        from_frame(df, ["nope"])
    with pytest.raises(ValidationError):
        from_frame([1, 2, 3])
    assert from_frame({"x": [1, 2]})["x"].tolist() == [1, 2]


def test_missing_backend_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "polars", None)
    with pytest.raises(ConfigurationError, match=r"ecomcrm\[polars\]"):
        to_frame({"a": [1]}, backend="polars")


@pytest.mark.parametrize("backend", ["polars", "pyarrow"])
def test_other_backends_when_installed(backend: str) -> None:
    pytest.importorskip(backend)
    frame = to_frame({"customer_id": ["a", "b"], "frequency": [1.0, 0.0]}, backend=backend)  # type: ignore[arg-type]
    cols = from_frame(frame)
    assert cols["frequency"].tolist() == [1.0, 0.0]
