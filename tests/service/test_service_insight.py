import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ecomcrm.service as pkg
from ecomcrm.errors import ValidationError
from ecomcrm.service import (
    category_return_rates,
    experience_flags,
    grouped_percentiles,
    nps_by_segment,
    return_rates,
    ticket_counts,
    ticket_stats,
)


def test_return_rates_hand_computed() -> None:
    # products 0..3; sold 0:10, 1:4, 2:5, 3:0; returned 0: 2 (reason 0) + 1 (reason 2); 1: 2 (reason 1)
    r = return_rates(
        [0, 0, 1, 2],
        [6, 4, 4, 5],
        [0, 0, 1],
        [2, 1, 2],
        reason=[0, 2, 1],
        n_keys=4,
        n_reasons=3,
    )
    assert r.sold.tolist() == [10, 4, 5, 0]
    assert r.returned.tolist() == [3, 2, 0, 0]
    np.testing.assert_allclose(r.rate, [0.3, 0.5, 0.0, np.nan])
    assert r.reasons.tolist() == [[2, 0, 1], [0, 2, 0], [0, 0, 0], [0, 0, 0]]
    np.testing.assert_allclose(r.reason_share[0], [2 / 3, 0, 1 / 3])
    assert np.isnan(r.reason_share[2]).all()
    assert r.overall_rate == pytest.approx(5 / 19)


def test_category_and_customer_rates() -> None:
    cat = [0, 0, 1]
    r = category_return_rates(
        [0, 1, 2, 2], None, [1, 2], [1, 2], product_category=cat, reason=[1, 0]
    )
    # category 0 sold 2 returned 1; category 1 sold 2 returned 2
    assert r.rate.tolist() == [0.5, 1.0]
    assert r.reasons.tolist() == [[0, 1], [2, 0]]
    cust = return_rates([0, 0, 1], None, [1], None, n_keys=3)
    np.testing.assert_allclose(cust.rate, [0.0, 1.0, np.nan])
    with pytest.raises(ValidationError, match=r"code in \[0, 3\)") as exc:
        category_return_rates([0, 5], None, [], None, product_category=cat)
    assert exc.value.row == 1
    with pytest.raises(ValidationError, match="negative"):
        return_rates([0], [-1], [], None)
    with pytest.raises(ValidationError, match="one value per row"):
        return_rates([0], None, [0, 0], None, reason=[1])


def test_ticket_stats_hand_computed() -> None:
    opened = np.array(
        ["2024-01-01T00", "2024-01-01T00", "2024-01-02T00", "2024-01-03T00", "2024-03-01T00"],
        dtype="datetime64[us]",
    )
    first = np.array(
        ["2024-01-01T01", "2024-01-01T03", "NaT", "2024-01-03T10", "2024-03-01T01"],
        dtype="datetime64[us]",
    )
    closed = np.array(
        ["2024-01-02T00", "2024-01-01T12", "NaT", "2024-01-05T00", "NaT"], dtype="datetime64[us]"
    )
    ts = ticket_stats(
        opened_at=opened,
        first_response_at=first,
        closed_at=closed,
        csat=[5, 2, np.nan, 4, 1],
        segment=[0, 0, 0, 1, 1],
        n_segments=3,
        now="2024-02-01",
        percentiles=[50, 90],
    )
    # the last ticket is after now and ignored
    assert ts.volume.tolist() == [3, 1, 0]
    assert ts.open.tolist() == [1, 0, 0]
    assert ts.unanswered.tolist() == [1, 0, 0]
    # segment 0 first responses 1 h, 3 h -> p50 2, p90 1 + 0.9 * 2 = 2.8
    np.testing.assert_allclose(ts.first_response_hours[0], [2.0, 2.8])
    np.testing.assert_allclose(ts.first_response_hours[1], [10.0, 10.0])
    assert np.isnan(ts.first_response_hours[2]).all()
    # resolution segment 0: 24 h and 12 h -> p50 18, p90 12 + 0.9 * 12 = 22.8; segment 1: 48
    np.testing.assert_allclose(ts.resolution_hours[0], [18.0, 22.8])
    np.testing.assert_allclose(ts.resolution_hours[1], [48.0, 48.0])
    assert ts.csat_responses.tolist() == [2, 1, 0]
    np.testing.assert_allclose(ts.csat_mean, [3.5, 4.0, np.nan])
    np.testing.assert_allclose(ts.csat, [50.0, 100.0, np.nan])
    with pytest.raises(ValidationError, match="before opened_at") as exc:
        ticket_stats(opened_at=["2024-01-02"], closed_at=["2024-01-01"], now="2024-02-01")
    assert exc.value.field == "closed_at" and exc.value.row == 0
    with pytest.raises(ValidationError, match=r"1\.\.5"):
        ticket_stats(opened_at=["2024-01-02"], csat=[6], now="2024-02-01")


def test_nps_by_segment() -> None:
    res = nps_by_segment([10, 9, 7, 6, 0, np.nan, 8], [0, 0, 0, 0, 1, 1, 2], n_segments=4)
    assert res.promoters.tolist() == [2, 0, 0, 0]
    assert res.passives.tolist() == [1, 0, 1, 0]
    assert res.detractors.tolist() == [1, 1, 0, 0]
    np.testing.assert_allclose(res.nps, [25.0, -100.0, 0.0, np.nan])
    with pytest.raises(ValidationError, match=r"0\.\.10"):
        nps_by_segment([11])
    try:
        from ecomcrm.metrics import nps
    except ImportError:  # pragma: no cover - metrics is another package
        return
    scores = np.array([10, 9, 7, 6, 0, 8, 3, 10], dtype=float)
    assert nps_by_segment(scores).nps[0] == pytest.approx(float(nps(scores).score))


def test_experience_flags_hand_computed() -> None:
    f = experience_flags(
        4,
        now="2024-01-31",
        ticket_customer=[0, 1, 2],
        ticket_opened_at=["2024-01-20", "2024-01-20", "2024-01-20"],
        ticket_closed_at=["NaT", "2024-01-25", "2024-02-05"],  # 2 closes after now: open
        order_customer=[0, 1, 2, 3],
        order_promised_at=["2024-01-25", "2024-01-25", "2023-11-01", "2024-01-29"],
        order_delivered_at=["2024-01-27", "NaT", "NaT", "2024-01-28"],
        return_customer=[3, 3, 3, 1],
        return_at=["2024-01-10", "2024-01-30", "2023-12-01", "2024-01-15"],
        window_days=30,
        min_returns=2,
    )
    assert f.open_ticket.tolist() == [True, False, True, False]
    # 0 delivered late; 1 overdue; 2's promise is outside the window; 3 on time
    assert f.delayed_order.tolist() == [True, True, False, False]
    assert f.open_ticket_and_delayed_order.tolist() == [True, False, False, False]
    assert f.returns_in_window.tolist() == [0, 1, 0, 2]
    assert f.repeated_returns.tolist() == [False, False, False, True]
    assert f.poor_experience.tolist() == [True, False, False, True]
    empty = experience_flags(2, now="2024-01-01")
    assert not empty.poor_experience.any()
    with pytest.raises(ValidationError, match="opened_at"):
        experience_flags(2, now="2024-01-01", ticket_customer=[0])
    with pytest.raises(ValidationError, match=r"code in \[0, 2\)"):
        experience_flags(2, now="2024-01-01", return_customer=[2], return_at=["2024-01-01"])


def test_ticket_counts() -> None:
    assert ticket_counts([0, 1, 1], 3).tolist() == [1, 2, 0]
    got = ticket_counts(
        [0, 1, 1], 3, opened_at=["2024-01-01", "2024-02-01", "2023-01-01"], since="2024-01-15"
    )
    assert got.tolist() == [0, 1, 0]


def test_exports() -> None:
    assert len(set(pkg.__all__)) == len(pkg.__all__)
    assert {n for n in dir(pkg) if not n.startswith("_")} == set(pkg.__all__)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3), st.one_of(st.floats(0, 1000, allow_nan=False), st.just(np.nan))
        ),
        max_size=40,
    ),
    st.lists(st.floats(0, 100), min_size=1, max_size=4),
)
def test_grouped_percentiles_match_numpy(rows, qs) -> None:
    g = np.array([r[0] for r in rows], dtype=np.int64)
    v = np.array([r[1] for r in rows], dtype=np.float64)
    got = grouped_percentiles(v, g, 4, qs)
    for k in range(4):
        vals = v[(g == k) & ~np.isnan(v)]
        if vals.size == 0:
            assert np.isnan(got[k]).all()
        else:
            np.testing.assert_allclose(got[k], np.percentile(vals, qs), rtol=1e-9, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 4), st.integers(1, 5)), max_size=30),
    st.lists(st.tuples(st.integers(0, 4), st.integers(0, 5), st.integers(1, 3)), max_size=30),
)
def test_return_reasons_sum_to_returned(sold, returned) -> None:
    r = return_rates(
        [s[0] for s in sold],
        [s[1] for s in sold],
        [x[0] for x in returned],
        [x[2] for x in returned],
        reason=[x[1] for x in returned],
        n_keys=5,
        n_reasons=6,
    )
    np.testing.assert_allclose(r.reasons.sum(axis=1), r.returned)
    has = r.returned > 0
    np.testing.assert_allclose(r.reason_share[has].sum(axis=1), 1.0)
