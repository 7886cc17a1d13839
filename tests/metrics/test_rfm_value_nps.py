"""RFM scores and segments, value functions and NPS: hand-computed cases, naive reference,
properties."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecomcrm.errors import ConfigurationError, ValidationError
from ecomcrm.metrics import (
    DEFAULT_SEGMENT_RULES,
    SegmentRule,
    average_order_value,
    historical_clv,
    nps,
    nps_labels,
    purchase_frequency,
    rfm_scores,
    rfm_segments,
    simple_clv,
)

# --- RFM ------------------------------------------------------------------------------


def naive_score(values: list[float], bins: int, higher_is_better: bool) -> list[int]:
    n = len(values)
    out = []
    for v in values:
        worse = sum(1 for u in values if (u < v if higher_is_better else u > v))
        out.append(1 + (worse * bins) // n)
    return out


def test_scores_hand_computed_with_ties() -> None:
    s = rfm_scores([5, 5, 1, 30, 60], [0, 0, 0, 2, 7], [10.0, 20.0, 20.0, 40.0, 80.0], bins=5)
    # recency: lower is better; 1 beats 4 others -> 5; the two 5s beat 2 -> 3; 30 -> 2; 60 -> 1
    assert s.recency.tolist() == [3, 3, 5, 2, 1]
    # frequency: three tied zeros share score 1; 2 beats 3 -> 4; 7 beats 4 -> 5
    assert s.frequency.tolist() == [1, 1, 1, 4, 5]
    assert s.monetary.tolist() == [1, 2, 2, 4, 5]
    assert s.code.tolist() == [311, 312, 512, 244, 155]
    assert len(s) == 5 and s.bins == 5


def test_scores_with_fixed_edges() -> None:
    s = rfm_scores(
        [3, 10, 40, 100],
        [1, 2, 3, 9],
        [5.0, 50.0, 100.0, 1000.0],
        bins=3,
        edges={"recency": [7, 30], "monetary": [50, 500]},
    )
    assert s.recency.tolist() == [3, 2, 1, 1]  # <= 7 -> 3, <= 30 -> 2, else 1
    assert s.monetary.tolist() == [1, 2, 2, 3]  # >= 50 -> 2, >= 500 -> 3
    assert s.frequency.tolist() == [1, 1, 2, 3]  # quantiles
    with pytest.raises(ConfigurationError):
        rfm_scores([1], [1], [1], bins=3, edges={"monetary": [1, 2, 3]})
    with pytest.raises(ConfigurationError):
        rfm_scores([1], [1], [1], bins=3, edges={"loyalty": [1, 2]})
    with pytest.raises(ConfigurationError):
        rfm_scores([1], [1], [1], bins=3, edges={"monetary": [2, 1]})
    with pytest.raises(ConfigurationError):
        rfm_scores([1], [1], [1], bins=1)


def test_scores_empty_and_bad_input() -> None:
    assert len(rfm_scores([], [], [])) == 0
    with pytest.raises(ValidationError) as info:
        rfm_scores([1, 2], [1, 2], [1.0, np.inf])
    assert (info.value.field, info.value.row) == ("monetary", 1)


@settings(max_examples=80)
@given(
    st.lists(
        st.tuples(st.integers(0, 30), st.integers(0, 6), st.floats(0, 500, allow_nan=False)),
        min_size=1,
        max_size=30,
    ),
    st.integers(2, 9),
)
def test_scores_match_naive_and_stay_in_range(
    rows: list[tuple[int, int, float]], bins: int
) -> None:
    r, f, m = (list(x) for x in zip(*rows, strict=True))
    s = rfm_scores(r, f, m, bins=bins)
    assert s.recency.tolist() == naive_score(r, bins, False)
    assert s.frequency.tolist() == naive_score(f, bins, True)
    assert s.monetary.tolist() == naive_score(m, bins, True)
    for arr in (s.recency, s.frequency, s.monetary):
        assert arr.min() >= 1 and arr.max() <= bins
    # a better value never gets a lower score
    order = np.argsort(m)
    assert np.all(np.diff(s.monetary[order]) >= 0)


def test_default_segment_map_covers_the_grid() -> None:
    r, f = np.meshgrid(np.arange(1, 6), np.arange(1, 6), indexing="ij")
    seg = rfm_segments(r.ravel(), f.ravel(), np.full(25, 3))
    grid = seg.reshape(5, 5)
    assert "Other" not in seg
    assert grid[4].tolist() == [
        "New",
        "Potential Loyalist",
        "Potential Loyalist",
        "Champions",
        "Champions",
    ]
    assert grid[0].tolist() == ["Lost", "Hibernating", "At Risk", "At Risk", "Cannot Lose Them"]
    assert grid[2].tolist() == [
        "About to Sleep",
        "About to Sleep",
        "Need Attention",
        "Loyal",
        "Loyal",
    ]
    assert grid[3, 0] == "Promising"
    assert set(seg) == {rule.name for rule in DEFAULT_SEGMENT_RULES}


def test_segment_map_is_overridable() -> None:
    rules = [SegmentRule("Whales", monetary=(5, 5)), SegmentRule("Fresh", recency=(4, 5))]
    seg = rfm_segments([5, 5, 1], [1, 1, 1], [5, 1, 1], rules=rules, default="Rest")
    assert seg.tolist() == ["Whales", "Fresh", "Rest"]
    with pytest.raises(ConfigurationError):
        SegmentRule("bad", recency=(4, 2))
    with pytest.raises(ConfigurationError):
        rfm_segments([1], [1], [1], rules=[("x", (1, 5))])  # type: ignore[list-item]
    with pytest.raises(ValidationError) as info:
        rfm_segments([1, 2.5], [1, 1], [1, 1])
    assert (info.value.field, info.value.row) == ("recency", 1)


# --- value ----------------------------------------------------------------------------


def test_value_hand_computed() -> None:
    ids = ["a", "a", "b", "c", "c", "c"]
    amounts = [100.0, 50.0, 30.0, 20.0, 20.0, -10.0]  # c has one refund
    assert average_order_value(amounts) == pytest.approx(210.0 / 5)
    assert purchase_frequency(ids) == 2.0
    assert purchase_frequency(ids, amounts) == pytest.approx(5 / 3)
    v = historical_clv(ids, amounts, gross_margin=0.4)
    assert v.customer_id.tolist() == ["a", "b", "c"]
    assert v.n_orders.tolist() == [2, 1, 2]
    assert v.revenue.tolist() == [150.0, 30.0, 30.0]
    assert v.average_order_value.tolist() == [75.0, 30.0, 15.0]
    np.testing.assert_allclose(v.clv, [60.0, 12.0, 12.0])
    r = simple_clv(ids, amounts, lifespan=3.0, gross_margin=0.5)
    assert r.clv == pytest.approx(42.0 * (5 / 3) * 3.0 * 0.5)
    assert (r.lifespan, r.gross_margin) == (3.0, 0.5)


def test_value_edge_cases() -> None:
    assert np.isnan(average_order_value([]))
    assert np.isnan(average_order_value([-5.0]))
    assert np.isnan(purchase_frequency([]))
    refund_only = historical_clv([1], [-5.0])
    assert refund_only.n_orders.tolist() == [0] and np.isnan(refund_only.average_order_value[0])
    with pytest.raises(ValidationError) as info:
        historical_clv([1], [1.0], gross_margin=1.5)
    assert info.value.field == "gross_margin"
    with pytest.raises(ValidationError) as info:
        simple_clv([1], [1.0], lifespan=0)
    assert info.value.field == "lifespan"


@settings(max_examples=50)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.floats(0, 100, allow_nan=False)), min_size=1, max_size=30
    )
)
def test_value_identities(rows: list[tuple[int, float]]) -> None:
    ids, amounts = (list(x) for x in zip(*rows, strict=True))
    v = historical_clv(ids, amounts)
    assert v.n_orders.sum() == len(ids)
    np.testing.assert_allclose(v.revenue.sum(), sum(amounts), atol=1e-9)
    # simple CLV with lifespan 1 and margin 1 is the revenue per customer
    r = simple_clv(ids, amounts, lifespan=1.0)
    np.testing.assert_allclose(r.clv, sum(amounts) / len(set(ids)), rtol=1e-9, atol=1e-9)


# --- NPS ------------------------------------------------------------------------------


def test_nps_hand_computed() -> None:
    r = nps([10, 9, 9, 8, 7, 6, 0, 10])
    assert (r.promoters, r.passives, r.detractors, r.n) == (4, 2, 2, 8)
    assert r.score == 25.0
    assert nps_labels([0, 6, 7, 8, 9, 10]).tolist() == [
        "detractor",
        "detractor",
        "passive",
        "passive",
        "promoter",
        "promoter",
    ]
    assert np.isnan(nps([]).score)
    with pytest.raises(ValidationError) as info:
        nps([3, 11])
    assert (info.value.field, info.value.row, info.value.value) == ("scores", 1, 11)
    with pytest.raises(ValidationError) as info:
        nps_labels([3, 7.5])
    assert info.value.row == 1
    with pytest.raises(ValidationError):
        nps(["ten"])


@given(st.lists(st.integers(0, 10), max_size=50))
def test_nps_range(scores: list[int]) -> None:
    r = nps(scores)
    if scores:
        assert -100 <= r.score <= 100
        assert r.promoters + r.passives + r.detractors == len(scores)
        labels: Any = nps_labels(scores)
        assert (labels == "promoter").sum() == r.promoters
