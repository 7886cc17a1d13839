"""Retention, cohorts, inter-purchase times, next purchase, funnel and cart abandonment."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import _metrics_naive as naive
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecomcrm.errors import ConfigurationError, ValidationError
from ecomcrm.metrics import (
    cart_abandonment,
    churn_rate,
    cohort_retention,
    conversion_funnel,
    expected_next_purchase,
    inter_purchase_times,
    repeat_purchase_rate,
    retention_rate,
    retention_table,
)


def M(*values: str) -> np.ndarray:
    return np.array(values, dtype="M8[us]")


# --- retention ------------------------------------------------------------------------


def test_retention_table_hand_computed() -> None:
    # Jan: 1, 2, 3   Feb: 1, 4   Mar: 2 (back after a lapse), 4
    ids = [1, 2, 3, 1, 4, 2, 4, 1]
    ts = M(
        "2024-01-02",
        "2024-01-10",
        "2024-01-31T23:00",
        "2024-02-03",
        "2024-02-14",
        "2024-03-01",
        "2024-03-09",
        "2024-02-20",
    )
    t = retention_table(ids, ts)
    assert t.period_start.tolist() == M("2024-01-01", "2024-02-01", "2024-03-01").tolist()
    assert t.customers_start.tolist() == [0, 3, 2]
    assert t.customers_end.tolist() == [3, 2, 2]
    assert t.new_customers.tolist() == [3, 1, 0]
    assert t.lost_customers.tolist() == [0, 2, 1]
    np.testing.assert_array_equal(t.retention_rate, [np.nan, 1 / 3, 1.0])
    np.testing.assert_array_equal(t.churn_rate, [np.nan, 2 / 3, 0.5])
    np.testing.assert_array_equal(retention_rate(ids, ts), t.retention_rate)
    np.testing.assert_array_equal(churn_rate(ids, ts), t.churn_rate)
    # with two-month activity customer 2 never lapses and 3 stays until March
    t2 = retention_table(ids, ts, active_periods=2)
    assert t2.customers_end.tolist() == [3, 4, 3]
    assert t2.lost_customers.tolist() == [0, 0, 1]
    assert len(t2) == 3


def test_retention_time_zone_and_errors() -> None:
    ts = M("2024-01-31T23:30")  # Feb 1 in Berlin
    assert (
        retention_table([1], ts, tz="Europe/Berlin").period_start.tolist()
        == M("2024-02-01").tolist()
    )
    assert len(retention_table([], np.array([], "M8[us]"))) == 0
    with pytest.raises(ValidationError):
        retention_table([1], ts, active_periods=0)
    with pytest.raises(ValidationError) as info:
        retention_table([1], ts, freq="h")  # type: ignore[arg-type]
    assert info.value.field == "freq"


def naive_retention(
    ids: list[int], times: list[dt.datetime], freq: str, w: int
) -> dict[str, list[float]]:
    periods = defaultdict(set)
    for cid, t in zip(ids, times, strict=True):
        periods[cid].add(naive.period_start(t, freq))
    all_p = sorted({p for ps in periods.values() for p in ps})
    # enumerate every calendar period from the first to the last
    cal = []
    p = all_p[0]
    while p <= all_p[-1]:
        cal.append(p)
        p = naive.period_start(
            p + dt.timedelta(days=32 if freq == "M" else 7 if freq == "W" else 1), freq
        )
    index = {p: i for i, p in enumerate(cal)}

    def active(cid: int, k: int) -> bool:
        return any(k - w < index[p] <= k for p in periods[cid])

    out: dict[str, list[float]] = {"end": [], "new": [], "lost": []}
    for k in range(len(cal)):
        out["end"].append(sum(active(c, k) for c in periods))
        out["new"].append(sum(min(index[p] for p in periods[c]) == k for c in periods))
        out["lost"].append(sum(k > 0 and active(c, k - 1) and not active(c, k) for c in periods))
    return out


@pytest.mark.parametrize(("freq", "w"), [("D", 1), ("W", 2), ("M", 1), ("M", 3)])
def test_retention_agrees_with_naive(freq: str, w: int) -> None:
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 30, 300)
    ts = np.datetime64("2024-01-01", "us") + (rng.integers(0, 150 * 86400, 300) * 1_000_000).astype(
        "m8[us]"
    )
    t = retention_table(ids, ts, freq=freq, active_periods=w)  # type: ignore[arg-type]
    ref = naive_retention(ids.tolist(), [naive.to_datetime(x) for x in ts], freq, w)
    assert t.customers_end.tolist() == ref["end"]
    assert t.new_customers.tolist() == ref["new"]
    assert t.lost_customers.tolist() == ref["lost"]


def test_repeat_purchase_rate() -> None:
    assert repeat_purchase_rate([1, 1, 2, 3]) == pytest.approx(1 / 3)
    assert repeat_purchase_rate([1, 1, 2], [5.0, -5.0, 3.0]) == 0.0
    assert np.isnan(repeat_purchase_rate([]))


# --- cohorts --------------------------------------------------------------------------


def test_cohort_matrix_hand_computed() -> None:
    ids = [1, 2, 1, 3, 2, 1, 4]
    ts = M(
        "2024-01-05",
        "2024-01-20",
        "2024-02-01",
        "2024-02-10",
        "2024-03-03",
        "2024-03-04",
        "2024-03-30",
    )
    c = cohort_retention(ids, ts)
    assert c.cohort.tolist() == M("2024-01-01", "2024-02-01", "2024-03-01").tolist()
    assert c.size.tolist() == [2, 1, 1]
    assert c.active.tolist() == [[2, 1, 2], [1, 0, 0], [1, 0, 0]]
    np.testing.assert_array_equal(
        c.retention, [[1.0, 0.5, 1.0], [1.0, 0.0, np.nan], [1.0, np.nan, np.nan]]
    )
    assert c.periods_since.tolist() == [0, 1, 2]
    weekly = cohort_retention(ids, ts, freq="W")
    assert weekly.size.sum() == 4
    assert cohort_retention([], np.array([], "M8[us]")).active.shape == (0, 0)
    with pytest.raises(ValidationError):
        cohort_retention([1, 1], M("1990-01-01", "2024-01-01"), freq="D")


@settings(max_examples=40)
@given(st.lists(st.tuples(st.integers(0, 8), st.integers(0, 400)), min_size=1, max_size=40))
def test_cohort_properties(rows: list[tuple[int, int]]) -> None:
    ids = [r[0] for r in rows]
    ts = np.datetime64("2024-01-01", "us") + (
        np.array([r[1] for r in rows]) * 86_400_000_000
    ).astype("m8[us]")
    c = cohort_retention(ids, ts)
    assert c.size.sum() == len(set(ids))
    assert np.all(c.active <= c.size[:, None])
    finite = c.retention[np.isfinite(c.retention)]
    assert np.all((finite >= 0) & (finite <= 1))


# --- inter-purchase times and next purchase -------------------------------------------


def test_inter_purchase_times_and_next_purchase() -> None:
    ids = [2, 1, 1, 1, 1, 3]
    ts = M("2024-01-01", "2024-01-10", "2024-01-01", "2024-01-04", "2024-01-04", "2024-01-05")
    g = inter_purchase_times(ids, ts)
    assert g.customer_id.tolist() == [1, 1]
    assert g.gap.tolist() == [3.0, 6.0]
    assert inter_purchase_times(ids, ts, unit="h").gap.tolist() == [72.0, 144.0]
    assert len(inter_purchase_times([1], ts[:1])) == 0
    nxt = expected_next_purchase(ids, ts)
    assert nxt.customer_id.tolist() == [1, 2, 3]
    assert nxt.n_purchases.tolist() == [3, 1, 1]
    assert nxt.mean_gap[0] == np.timedelta64(108, "h")  # (Jan 10 - Jan 1) / 2
    assert nxt.expected[0] == np.datetime64("2024-01-14T12:00")
    assert np.isnat(nxt.expected[1]) and np.isnat(nxt.mean_gap[2])
    assert nxt.last_purchase.tolist() == M("2024-01-10", "2024-01-01", "2024-01-05").tolist()
    with pytest.raises(ValidationError):
        inter_purchase_times(ids, ts, unit="fortnight")  # type: ignore[arg-type]


@settings(max_examples=40)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 10_000)), min_size=1, max_size=40))
def test_gaps_add_up_to_span(rows: list[tuple[int, int]]) -> None:
    ids = [r[0] for r in rows]
    ts = np.datetime64("2024-01-01", "us") + (np.array([r[1] for r in rows]) * 60_000_000).astype(
        "m8[us]"
    )
    g = inter_purchase_times(ids, ts, unit="m")
    assert np.all(g.gap > 0)
    for cid in set(ids):
        minutes = [r[1] for r in rows if r[0] == cid]
        assert g.gap[g.customer_id == cid].sum() == max(minutes) - min(minutes)
        assert (g.customer_id == cid).sum() == len(set(minutes)) - 1


# --- funnel ---------------------------------------------------------------------------

STEPS = ("Product Viewed", "Product Added", "Checkout Started", "Order Completed")


def test_funnel_order_ties_and_window() -> None:
    ev = [
        "Product Viewed",
        "Product Added",
        "Checkout Started",
        "Order Completed",  # 1: all, in order
        "Product Added",
        "Product Viewed",  # 2: added before viewing -> stops at step 0
        "Product Viewed",
        "Product Added",
        "Checkout Started",  # 3: same timestamp for all
        "Product Viewed",
        "Product Added",  # 4: added 10 days later
        "Page Viewed",  # 5: not a funnel event
    ]
    ts = M(
        "2024-01-01T10",
        "2024-01-01T11",
        "2024-01-01T12",
        "2024-01-01T13",
        "2024-01-02T09",
        "2024-01-02T10",
        "2024-01-03",
        "2024-01-03",
        "2024-01-03",
        "2024-01-01",
        "2024-01-11",
        "2024-01-01",
    )
    ids = [1, 1, 1, 1, 2, 2, 3, 3, 3, 4, 4, 5]
    f = conversion_funnel(ids, ev, ts)
    assert f.steps == STEPS
    assert f.customers.tolist() == [4, 3, 2, 1]
    np.testing.assert_allclose(f.step_conversion, [1.0, 0.75, 2 / 3, 0.5])
    np.testing.assert_allclose(f.overall_conversion, [1.0, 0.75, 0.5, 0.25])
    assert f.drop_off.tolist() == [0, 1, 1, 1]
    np.testing.assert_allclose(f.drop_off_rate, [0.0, 0.25, 1 / 3, 0.5])
    w = conversion_funnel(ids, ev, ts, window=np.timedelta64(7, "D"))
    assert w.customers.tolist() == [4, 2, 2, 1]
    custom = conversion_funnel(ids, ev, ts, steps=["Product Added", "Product Viewed"])
    assert custom.customers.tolist() == [4, 2]  # 2 views after adding; 3 at the same time
    assert len(custom) == 2
    nobody = conversion_funnel(ids, ev, ts, steps=["Signed Up", "Order Completed"])
    assert nobody.customers.tolist() == [0, 0]
    assert np.isnan(nobody.step_conversion).all()
    with pytest.raises(ConfigurationError):
        conversion_funnel(ids, ev, ts, steps=["A", "A"])
    with pytest.raises(ValidationError):
        conversion_funnel(ids, ev, ts, window="soon")


def naive_funnel(ids: list[int], ev: list[str], ts: list[int], steps: tuple[str, ...]) -> list[int]:
    counts = [0] * len(steps)
    for cid in set(ids):
        rows = sorted((t, e) for i, e, t in zip(ids, ev, ts, strict=True) if i == cid)
        at = None
        for k, name in enumerate(steps):
            cands = [t for t, e in rows if e == name and (at is None or t >= at)]
            if not cands or (k > 0 and at is None):
                break
            at = min(cands)
            counts[k] += 1
    return counts


@settings(max_examples=60)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.sampled_from(STEPS), st.integers(0, 50)),
        min_size=1,
        max_size=40,
    )
)
def test_funnel_matches_naive_and_is_monotone(rows: list[tuple[int, str, int]]) -> None:
    ids = [r[0] for r in rows]
    ev = [r[1] for r in rows]
    minutes = [r[2] for r in rows]
    ts = np.datetime64("2024-01-01", "us") + (np.array(minutes) * 60_000_000).astype("m8[us]")
    f = conversion_funnel(ids, np.array(ev, dtype=object), ts)
    assert f.customers.tolist() == naive_funnel(ids, ev, minutes, STEPS)
    assert np.all(np.diff(f.customers) <= 0)


def test_cart_abandonment_hand_computed() -> None:
    ev = [
        "Product Added",
        "Product Added",
        "Order Completed",  # 1: cart, more items, ordered in 30 min
        "Product Added",
        "Order Completed",  # 2: ordered the next day (recovered)
        "Product Added",  # 3: never ordered
        "Order Completed",
        "Product Added",
        "Order Completed",  # 4: order w/o cart, then a cart at the same time as its order
        "Product Viewed",
    ]
    ts = M(
        "2024-01-01T10:00",
        "2024-01-01T10:10",
        "2024-01-01T10:30",
        "2024-01-01T10:00",
        "2024-01-02T10:00",
        "2024-01-01T10:00",
        "2024-01-01T08:00",
        "2024-01-05T08:00",
        "2024-01-05T08:00",
        "2024-01-01",
    )
    ids = [1, 1, 1, 2, 2, 3, 4, 4, 4, 5]
    r = cart_abandonment(ids, ev, ts)
    assert (r.carts, r.completed, r.abandoned, r.recovered) == (4, 2, 2, 1)
    assert (r.abandonment_rate, r.recovery_rate) == (0.5, 0.5)
    strict = cart_abandonment(ids, ev, ts, recovery_window=np.timedelta64(12, "h"))
    assert strict.recovered == 0
    lenient = cart_abandonment(ids, ev, ts, abandon_after=np.timedelta64(2, "D"))
    assert (lenient.completed, lenient.abandoned) == (3, 1)
    none = cart_abandonment([1], ["Page Viewed"], M("2024-01-01"))
    assert none.carts == 0 and np.isnan(none.abandonment_rate)
    with pytest.raises(ConfigurationError):
        cart_abandonment(ids, ev, ts, cart_event="X", order_event="X")
    with pytest.raises(ValidationError):
        cart_abandonment(ids, ev, ts, abandon_after=np.timedelta64(-1, "h"))
