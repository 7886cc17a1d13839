"""Segments, membership, diffs, built-in definitions and lifecycle stages."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

import ecomcrm.segments as seg
from ecomcrm.errors import ConfigurationError, ExpressionError, ValidationError
from ecomcrm.segments import (
    CUSTOMER_FEATURES_SCHEMA,
    BuiltinThresholds,
    FeatureTable,
    LifecycleConfig,
    LifecycleStage,
    Segment,
    SegmentMembership,
    SegmentSet,
    builtin_segments,
    classify_lifecycle,
    evaluate_segments,
    segment_diff,
)

UTC = dt.UTC
NOW = dt.datetime(2024, 6, 1, tzinfo=UTC)


def customers() -> FeatureTable:
    """Seven hand-made customers, one per situation."""
    return FeatureTable(
        ["prospect", "browser", "first", "repeat", "vip", "slipping", "gone"],
        {
            "orders_count": np.array([0, 0, 1, 3, 12, 4, 2]),
            "total_spent": [0.0, 0.0, 40.0, 300.0, 5000.0, 200.0, 90.0],
            "days_since_last_order": [None, None, 10.0, 20.0, 5.0, 120.0, 400.0],
            "days_since_first_order": [None, None, 10.0, 300.0, 900.0, 500.0, 700.0],
            "created_at": [NOW - dt.timedelta(days=d) for d in (3, 400, 12, 300, 900, 500, 700)],
            "browse_abandon_count": np.array([0, 4, 0, 0, 0, 0, 0]),
            "cart_abandon_count": np.array([0, 1, 0, 2, 0, 0, 0]),
            "discount_order_share": [None, None, 0.0, 0.67, 0.1, 0.0, 1.0],
            "return_rate": [None, None, 0.0, 0.5, 0.05, 0.0, 0.0],
            "r_score": np.array([0, 0, 5, 5, 5, 2, 1]),
            "f_score": np.array([0, 0, 1, 3, 5, 4, 2]),
            "m_score": np.array([0, 0, 1, 3, 5, 3, 1]),
            "predicted_clv": [None] * 7,
            "p_alive": [None] * 7,
        },
        CUSTOMER_FEATURES_SCHEMA,
    )


def test_builtin_segments_hand_checked() -> None:
    table = customers()
    members = evaluate_segments(table, builtin_segments(), NOW)
    got = {name: members.members(name).tolist() for name in members}
    assert got == {
        "new_customers": ["prospect", "first"],
        "first_time_buyers": ["first"],
        "repeat_buyers": ["repeat", "vip", "slipping", "gone"],
        "vip": ["vip"],
        "at_risk": ["slipping"],
        "lapsed": ["gone"],
        "cart_abandoners": ["browser", "repeat"],
        "browsers_never_buy": ["browser"],
        "discount_sensitive": ["repeat", "gone"],
        "high_returners": ["repeat"],
    }
    assert members.segments_of("vip") == ("repeat_buyers", "vip")
    assert members.counts()["repeat_buyers"] == 4


def test_builtin_segments_use_p_alive_when_known() -> None:
    table = customers()
    p = np.full(len(table), np.nan)
    p[3] = 0.1  # "repeat": ordered 20 days ago but the model thinks they are gone
    table = table.update(
        FeatureTable(table.ids[3:4], {**_columns(table, 3), "p_alive": p[3:4]}, table.schema)
    )
    members = evaluate_segments(table, builtin_segments(), NOW)
    assert "repeat" in members.members("lapsed").tolist()
    assert "gone" in members.members("lapsed").tolist()  # null p_alive: recency rule


def _columns(table: FeatureTable, row: int) -> dict:
    one = table.take([row])
    return {name: one.column(name) for name in one.names}


def test_thresholds_change_definitions() -> None:
    strict = builtin_segments(BuiltinThresholds(vip_min_spent=10_000))
    vip = next(s for s in strict if s.name == "vip")
    assert "10000" in vip.expression
    members = evaluate_segments(customers(), strict, NOW)
    assert members.members("vip").tolist() == ["vip"]  # still in by RFM scores


def test_scalar_membership_matches_vector() -> None:
    table = customers()
    seg_set = SegmentSet(builtin_segments())
    members = seg_set.evaluate(table, NOW)
    for i, cid in enumerate(table.ids):
        assert set(seg_set.matching(table.to_record(i), NOW)) == set(members.segments_of(cid))


def test_segment_diff_entered_exited() -> None:
    old = SegmentMembership(
        np.array([1, 2, 3]),
        {"vip": np.array([True, True, False]), "gone": np.array([0, 0, 1], bool)},
    )
    new = SegmentMembership(
        np.array([1, 2, 3, 4]),
        {"vip": np.array([True, False, True, True]), "fresh": np.array([0, 0, 0, 1], bool)},
    )
    diff = segment_diff(old, new)
    assert diff["vip"].entered.tolist() == [3, 4]
    assert diff["vip"].exited.tolist() == [2]
    assert diff["gone"].exited.tolist() == [3]
    assert diff["gone"].entered.tolist() == []
    assert diff["fresh"].entered.tolist() == [4]


def test_segment_validation() -> None:
    with pytest.raises(ConfigurationError):
        Segment(name="no spaces", expression="true")
    with pytest.raises(ConfigurationError, match="duplicate"):
        SegmentSet([Segment(name="a", expression="true"), Segment(name="a", expression="false")])
    with pytest.raises(ExpressionError, match=r"segment 'bad'.*did you mean 'total_spent'"):
        Segment(name="bad", expression="total_spend > 1").compile()
    with pytest.raises(ExpressionError, match="not a condition"):
        Segment(name="v", expression="total_spent + 1").compile()
    assert SegmentSet([Segment(name="a", expression="total_spent > aov")]).fields == (
        "aov",
        "total_spent",
    )
    with pytest.raises(ValidationError):
        SegmentMembership(np.array([1]), {})["missing"]


def test_lifecycle_stages_by_recency() -> None:
    table = customers()
    stages = classify_lifecycle(table, NOW)
    labels = dict(zip(table.ids.tolist(), (LifecycleStage(s).label for s in stages), strict=True))
    assert labels == {
        "prospect": "prospect",
        "browser": "prospect",
        "first": "new",
        "repeat": "active",
        "vip": "vip",
        "slipping": "at risk",
        "gone": "lapsed",
    }


def test_lifecycle_won_back_and_p_alive() -> None:
    schema = {
        "orders_count": "integer",
        "days_since_last_order": "number",
        "days_between_last_two_orders": "number",
        "p_alive": "number",
    }
    table = FeatureTable(
        [1, 2, 3, 4, 5],
        {
            "orders_count": np.array([3, 3, 3, 3, 3]),
            "days_since_last_order": [10.0, 10.0, 10.0, 300.0, 300.0],
            "days_between_last_two_orders": [400.0, 20.0, 20.0, 20.0, 20.0],
            "p_alive": [None, None, 0.1, 0.9, 0.5],
        },
        schema,
    )
    stages = classify_lifecycle(table).tolist()
    assert stages == [
        LifecycleStage.WON_BACK,
        LifecycleStage.ACTIVE,
        LifecycleStage.LAPSED,  # recent order, but P(alive) = 0.1
        LifecycleStage.ACTIVE,  # long ago, but P(alive) = 0.9
        LifecycleStage.AT_RISK,
    ]
    recency_only = classify_lifecycle(table, config=LifecycleConfig(use_p_alive=False)).tolist()
    assert recency_only[2:] == [LifecycleStage.ACTIVE, LifecycleStage.LAPSED, LifecycleStage.LAPSED]


def test_lifecycle_from_dates_and_config_errors() -> None:
    table = FeatureTable(
        [1, 2],
        {
            "orders_count": np.array([1, 1]),
            "last_order_at": [NOW - dt.timedelta(days=100), NOW - dt.timedelta(days=2)],
            "first_order_at": [NOW - dt.timedelta(days=100), NOW - dt.timedelta(days=2)],
        },
        CUSTOMER_FEATURES_SCHEMA,
    )
    assert classify_lifecycle(table, NOW).tolist() == [LifecycleStage.AT_RISK, LifecycleStage.NEW]
    cfg = LifecycleConfig(active_days=120, lapsed_days=200)
    assert classify_lifecycle(table, NOW, cfg)[0] == LifecycleStage.ACTIVE
    with pytest.raises(ValidationError, match="last_order_at"):
        classify_lifecycle(table)  # no now
    with pytest.raises(ConfigurationError):
        LifecycleConfig(active_days=200, lapsed_days=100)
    with pytest.raises(ConfigurationError):
        LifecycleConfig(p_alive_active=1.5)


def test_public_api_is_exactly_all() -> None:
    public = {name for name in dir(seg) if not name.startswith("_")}
    assert len(set(seg.__all__)) == len(seg.__all__)  # order: ruff's RUF022 sort
    assert set(seg.__all__) <= public
    for name in seg.__all__:
        obj = getattr(seg, name)
        if callable(obj) and not isinstance(obj, seg.Schema):
            assert obj.__doc__ and "Example" in obj.__doc__, name
