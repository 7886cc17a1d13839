"""customer_summary and calibration_and_holdout: hand-computed cases, bad input, the naive
reference on random data, and Hypothesis properties."""

from __future__ import annotations

import datetime as dt
from typing import Any

import _metrics_naive as naive
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecomcrm.errors import ValidationError
from ecomcrm.metrics import calibration_and_holdout, customer_summary


def M(*values: str) -> np.ndarray:
    return np.array(values, dtype="M8[us]")


END = np.datetime64("2024-03-31")


# --- hand-computed -------------------------------------------------------------------


def test_daily_hand_computed() -> None:
    # customer 1: Jan 1 (two orders, same day), Jan 11, Jan 21; customer 2: one order
    ts = M("2024-01-01T09", "2024-01-01T18", "2024-01-11", "2024-01-21", "2024-01-05")
    s = customer_summary(
        [1, 1, 1, 1, 2], ts, [10.0, 5.0, 30.0, 50.0, 7.0], observation_end="2024-01-31"
    )
    assert s.customer_id.tolist() == [1, 2]
    assert s.frequency.tolist() == [2.0, 0.0]  # three distinct days - 1
    assert s.recency.tolist() == [20.0, 0.0]
    assert s.T.tolist() == [30.0, 26.0]
    assert s.monetary_value.tolist() == [40.0, 0.0]  # mean of 30 and 50; first day excluded
    assert s.n_orders.tolist() == [4, 1]
    assert s.total_spent.tolist() == [95.0, 7.0]
    assert s.first_purchase.tolist() == M("2024-01-01T09", "2024-01-05").tolist()
    assert s.last_purchase.tolist() == M("2024-01-21", "2024-01-05").tolist()
    assert s.observation_end == np.datetime64("2024-01-31T00:00:00", "us")
    assert len(s) == 2


def test_weekly_uses_monday_weeks() -> None:
    # 2024-01-07 is a Sunday, 2024-01-08 a Monday: two different weeks
    ts = M("2024-01-07", "2024-01-08", "2024-01-14")
    s = customer_summary([1, 1, 1], ts, [1.0, 2.0, 4.0], observation_end="2024-01-29", freq="W")
    assert s.frequency.tolist() == [1.0]  # weeks of Jan 1 and Jan 8
    assert s.recency.tolist() == [1.0]
    assert s.T.tolist() == [4.0]  # Jan 1 -> Jan 29
    assert s.monetary_value.tolist() == [6.0]


def test_monthly_uses_mean_month_length() -> None:
    ts = M("2024-01-20", "2024-03-02")
    s = customer_summary([1, 1], ts, [1.0, 2.0], observation_end="2024-05-15", freq="M")
    month_days = 30.436875
    assert s.recency[0] == pytest.approx(60 / month_days, rel=1e-15)  # Jan 1 -> Mar 1
    assert s.T[0] == pytest.approx(121 / month_days, rel=1e-15)  # Jan 1 -> May 1


def test_hourly_with_multiplier_gives_fractional_days() -> None:
    ts = M("2024-01-01T06:10", "2024-01-03T18:59")
    s = customer_summary(
        [1, 1], ts, None, observation_end="2024-01-05T00:30", freq="h", freq_multiplier=24
    )
    assert s.recency.tolist() == [(2 * 24 + 12) / 24]
    assert s.T.tolist() == [(4 * 24 - 6) / 24]
    assert s.monetary_value.tolist() == [0.0]


def test_include_first_transaction() -> None:
    ts = M("2024-01-01", "2024-01-02", "2024-01-02")
    s = customer_summary(
        [1, 1, 1], ts, [3.0, 4.0, 5.0], observation_end=END, include_first_transaction=True
    )
    assert s.frequency.tolist() == [2.0]
    assert s.monetary_value.tolist() == [6.0]  # (3 + 9) / 2


def test_identical_timestamps_count_once() -> None:
    ts = M("2024-01-01", "2024-01-01", "2024-01-01")
    s = customer_summary([5, 5, 5], ts, [1.0, 1.0, 1.0], observation_end=END)
    assert (s.frequency[0], s.recency[0], s.n_orders[0]) == (0.0, 0.0, 3)


def test_refunds_are_not_purchases_but_are_netted() -> None:
    ts = M("2024-01-01", "2024-01-05", "2024-01-09", "2024-02-01")
    s = customer_summary([1, 1, 1, 2], ts, [50.0, 20.0, -15.0, -5.0], observation_end=END)
    # customer 2 has only a refund: not a customer of the summary
    assert s.customer_id.tolist() == [1]
    assert s.frequency.tolist() == [1.0]
    assert s.recency.tolist() == [4.0]
    assert s.last_purchase.tolist() == M("2024-01-05").tolist()
    assert s.monetary_value.tolist() == [20.0]
    assert s.n_orders.tolist() == [2]
    assert s.total_spent.tolist() == [55.0]
    with pytest.raises(ValidationError) as info:
        customer_summary(
            [1, 1, 1, 2], ts, [50.0, 20.0, -15.0, -5.0], observation_end=END, refunds="raise"
        )
    assert (info.value.field, info.value.row, info.value.value) == ("amount", 2, -15.0)


def test_rows_after_observation_end() -> None:
    ts = M("2024-01-01", "2024-01-31T20:00", "2024-02-01", "2024-02-03")
    with pytest.raises(ValidationError) as info:
        customer_summary([1, 1, 1, 2], ts, observation_end="2024-01-31T12:00")
    assert (info.value.field, info.value.row) == ("timestamp", 2)
    # the whole period of observation_end is observed (lifetimes): Jan 31 20:00 counts
    s = customer_summary([1, 1, 1, 2], ts, observation_end="2024-01-31T12:00", after_end="drop")
    assert s.customer_id.tolist() == [1]
    assert (s.frequency[0], s.recency[0], s.T[0]) == (1.0, 30.0, 30.0)


def test_empty_and_single_customer() -> None:
    s = customer_summary([], np.array([], "M8[us]"), [], observation_end=END)
    assert len(s) == 0 and s.frequency.dtype == np.float64
    one = customer_summary([3], M("2024-02-01"), [9.0], observation_end=END)
    assert (one.frequency[0], one.recency[0], one.T[0], one.monetary_value[0]) == (
        0.0,
        0.0,
        59.0,
        0.0,
    )


def test_time_zone_moves_period_boundaries() -> None:
    ts = M("2024-01-01T23:30", "2024-01-02T00:30")  # UTC; in Paris: Jan 2 00:30 and 01:30
    utc = customer_summary([1, 1], ts, observation_end="2024-01-10")
    paris = customer_summary([1, 1], ts, observation_end="2024-01-10", tz="Europe/Paris")
    assert utc.frequency.tolist() == [1.0]
    assert paris.frequency.tolist() == [0.0]
    assert paris.T.tolist() == [8.0]
    with pytest.raises(ValidationError, match="time zone"):
        customer_summary([1], ts[:1], observation_end=END, tz="Mars/Olympus")


def test_id_kinds_agree() -> None:
    ts = M("2024-01-01", "2024-01-03", "2024-01-02", "2024-01-09")
    dense = customer_summary([0, 0, 1, 1], ts, observation_end=END)
    sparse = customer_summary([10**15, 10**15, 7, 7], ts, observation_end=END)
    strings = customer_summary(["b", "b", "a", "a"], ts, observation_end=END)
    assert sparse.customer_id.tolist() == [7, 10**15]
    assert strings.customer_id.tolist() == ["a", "b"]
    np.testing.assert_array_equal(dense.recency, [2.0, 7.0])
    np.testing.assert_array_equal(sparse.recency, [7.0, 2.0])
    np.testing.assert_array_equal(strings.recency, [7.0, 2.0])


def test_timestamp_inputs() -> None:
    days = np.array(["2024-01-01", "2024-01-05"], dtype="M8[D]")
    aware = [
        dt.datetime(2024, 1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        dt.datetime(2024, 1, 5),
    ]
    a = customer_summary([1, 1], days, observation_end=END)
    b = customer_summary([1, 1], aware, observation_end=dt.datetime(2024, 3, 31, tzinfo=dt.UTC))
    c = customer_summary([1, 1], ["2024-01-01", "2024-01-05"], observation_end="2024-03-31")
    assert a.recency.tolist() == [4.0]
    assert b.first_purchase.tolist() == M("2023-12-31T23:00").tolist()
    assert b.recency.tolist() == [5.0]
    assert c.recency.tolist() == [4.0]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"freq": "Q"}, "freq"),
        ({"freq_multiplier": 0}, "freq_multiplier"),
        ({"after_end": "keep"}, "after_end"),
        ({"refunds": "ignore"}, "refunds"),
        ({"observation_end": "not a date"}, "observation_end"),
    ],
)
def test_bad_options(kwargs: dict[str, Any], field: str) -> None:
    args = {"observation_end": END, **kwargs}
    with pytest.raises(ValidationError) as info:
        customer_summary([1], M("2024-01-01"), [1.0], **args)
    assert info.value.field == field


def test_bad_arrays() -> None:
    with pytest.raises(ValidationError) as info:
        customer_summary([1, 2], M("2024-01-01", "2024-01-02"), [1.0, np.inf], observation_end=END)
    assert (info.value.field, info.value.row) == ("amount", 1)
    with pytest.raises(ValidationError) as info:
        customer_summary([1, 2, 3], M("2024-01-01", "2024-01-02"), observation_end=END)
    assert (info.value.field, info.value.row) == ("timestamp", 2)
    with pytest.raises(ValidationError) as info:
        customer_summary([1, 2], [1.5, 2.5], observation_end=END)
    assert info.value.field == "timestamp"
    with pytest.raises(ValidationError):
        customer_summary([[1, 2]], M("2024-01-01", "2024-01-02"), observation_end=END)


def test_calibration_holdout_hand_computed() -> None:
    ts = M(
        "2024-01-01",
        "2024-01-10",
        "2024-02-02",
        "2024-02-02T05",
        "2024-02-20",
        "2024-03-05",
        "2024-01-20",
    )
    ch = calibration_and_holdout(
        [1, 1, 1, 1, 1, 3, 2],
        ts,
        [10.0, 20.0, 5.0, 7.0, 9.0, 1.0, 4.0],
        calibration_end="2024-01-31",
        observation_end="2024-02-29",
        after_end="drop",
    )
    assert ch.customer_id.tolist() == [1, 2]  # customer 3 has no calibration purchase
    assert ch.frequency_cal.tolist() == [1.0, 0.0]
    assert ch.recency_cal.tolist() == [9.0, 0.0]
    assert ch.T_cal.tolist() == [30.0, 11.0]
    assert ch.monetary_value_cal.tolist() == [20.0, 0.0]
    assert ch.frequency_holdout.tolist() == [2.0, 0.0]  # Feb 2 (twice) and Feb 20
    assert ch.monetary_value_holdout.tolist() == [7.0, 0.0]  # mean of rows 5, 7, 9
    assert ch.duration_holdout == 29.0
    assert ch.to_dict()["duration_holdout"].tolist() == [29.0, 29.0]
    with pytest.raises(ValidationError) as info:
        calibration_and_holdout(
            [1], M("2024-01-01"), calibration_end="2024-02-01", observation_end="2024-01-15"
        )
    assert info.value.field == "calibration_end"
    with pytest.raises(ValidationError) as info2:
        calibration_and_holdout(
            [1, 1, 1, 1, 1, 3, 2], ts, calibration_end="2024-01-31", observation_end="2024-02-29"
        )
    assert (info2.value.field, info2.value.row) == ("timestamp", 5)


def test_calibration_holdout_empty_holdout_gives_zeros() -> None:
    ch = calibration_and_holdout(
        [1, 1],
        M("2024-01-01", "2024-01-03"),
        [1.0, 2.0],
        calibration_end="2024-02-01",
        observation_end="2024-03-01",
        freq="M",
    )
    assert ch.frequency_holdout.tolist() == [0.0]
    assert ch.duration_holdout == 1.0


# --- naive reference on random data ---------------------------------------------------


def _random_log(
    seed: int, n: int, customers: int, days: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, customers, n)
    ts = np.datetime64("2023-10-20", "us") + (rng.integers(0, days * 86_400, n) * 1_000_000).astype(
        "m8[us]"
    )
    amounts = np.round(rng.normal(40.0, 30.0, n), 2)  # some refunds
    return ids, ts, amounts


@pytest.mark.parametrize(
    ("freq", "fm", "tz", "include_first"),
    [
        ("D", 1.0, None, False),
        ("W", 1.0, None, False),
        ("M", 1.0, None, False),
        ("h", 24.0, None, False),
        ("D", 1.0, "America/New_York", False),
        ("W", 2.0, "Asia/Kolkata", True),
        ("M", 1.0, "Europe/London", False),
    ],
)
def test_agrees_with_naive_reference(
    freq: str, fm: float, tz: str | None, include_first: bool
) -> None:
    ids, ts, amounts = _random_log(hash((freq, fm, tz)) % 1000, 600, 60, 200)
    end = np.datetime64("2024-04-15T13:00", "us")
    got = customer_summary(
        ids,
        ts,
        amounts,
        observation_end=end,
        freq=freq,
        freq_multiplier=fm,  # type: ignore[arg-type]
        tz=tz,
        after_end="drop",
        include_first_transaction=include_first,
    )
    times = [naive.to_datetime(t) for t in ts]
    expected = naive.summary(
        ids.tolist(), times, amounts.tolist(), naive.to_datetime(end), freq, fm, include_first, tz
    )
    assert got.customer_id.tolist() == sorted(expected)
    for i, cid in enumerate(got.customer_id.tolist()):
        row = expected[cid]
        for name in ("frequency", "recency", "T", "monetary_value", "total_spent"):
            assert getattr(got, name)[i] == pytest.approx(row[name], rel=1e-9, abs=1e-9), (
                cid,
                name,
            )
        assert got.n_orders[i] == row["n_orders"]
        assert got.first_purchase[i].item() == row["first_purchase"]
        assert got.last_purchase[i].item() == row["last_purchase"]


@pytest.mark.parametrize("freq", ["D", "W", "M"])
def test_holdout_agrees_with_naive_reference(freq: str) -> None:
    ids, ts, amounts = _random_log(7, 500, 40, 150)
    cal, end = np.datetime64("2024-01-15T10:00", "us"), np.datetime64("2024-03-01", "us")
    got = calibration_and_holdout(
        ids, ts, amounts, calibration_end=cal, observation_end=end, freq=freq, after_end="drop"
    )  # type: ignore[arg-type]
    expected, duration = naive.holdout(
        ids.tolist(),
        [naive.to_datetime(t) for t in ts],
        amounts.tolist(),
        naive.to_datetime(cal),
        naive.to_datetime(end),
        freq,
    )
    assert got.customer_id.tolist() == sorted(expected)
    assert got.duration_holdout == duration
    for i, cid in enumerate(got.customer_id.tolist()):
        for name, value in expected[cid].items():
            assert getattr(got, name)[i] == pytest.approx(value, rel=1e-9, abs=1e-9), (cid, name)


# --- Hypothesis properties ------------------------------------------------------------

BASE = np.datetime64("2024-01-01", "us")


@st.composite
def transaction_logs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(0, 40))
    ids = draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))
    minutes = draw(st.lists(st.integers(0, 60 * 24 * 200), min_size=n, max_size=n))
    amounts = draw(
        st.lists(
            st.floats(0, 1000, allow_nan=False).map(lambda x: round(x, 2)), min_size=n, max_size=n
        )
    )
    ts = BASE + (np.array(minutes, dtype=np.int64) * 60_000_000).astype("m8[us]")
    return np.array(ids, dtype=np.int64), ts, np.array(amounts, dtype=np.float64)


SUMMARY_END = np.datetime64("2024-07-19T23:59", "us")


@settings(max_examples=60)
@given(transaction_logs(), st.sampled_from(["h", "D", "W", "M"]), st.randoms(use_true_random=False))
def test_summary_invariant_under_row_order(log: Any, freq: str, random: Any) -> None:
    ids, ts, amounts = log
    order = np.arange(len(ids))
    random.shuffle(order)
    a = customer_summary(ids, ts, amounts, observation_end=SUMMARY_END, freq=freq)  # type: ignore[arg-type]
    b = customer_summary(
        ids[order], ts[order], amounts[order], observation_end=SUMMARY_END, freq=freq
    )  # type: ignore[arg-type]
    for name, arr in a.to_dict().items():
        if arr.dtype.kind == "f":
            np.testing.assert_allclose(getattr(b, name), arr, rtol=1e-12, atol=1e-9)
        else:
            np.testing.assert_array_equal(getattr(b, name), arr)


@settings(max_examples=60)
@given(transaction_logs(), st.sampled_from(["h", "D", "W", "M"]))
def test_summary_bounds(log: Any, freq: str) -> None:
    ids, ts, amounts = log
    s = customer_summary(ids, ts, amounts, observation_end=SUMMARY_END, freq=freq)  # type: ignore[arg-type]
    assert np.all(s.recency >= 0)
    assert np.all(s.recency <= s.T)
    assert np.all(s.frequency >= 0)
    assert np.all(s.frequency <= s.n_orders - 1)
    assert np.all(s.monetary_value >= 0)
    assert np.all(s.first_purchase <= s.last_purchase)
    assert s.n_orders.sum() == len(ids)
    np.testing.assert_allclose(s.total_spent.sum(), amounts.sum(), rtol=1e-9, atol=1e-6)
    assert np.all((s.frequency == 0) == (s.recency == 0))


@settings(max_examples=40)
@given(transaction_logs(), st.integers(0, 200 * 24 * 60))
def test_calibration_plus_holdout_periods_match_full_summary(log: Any, cut_minutes: int) -> None:
    ids, ts, amounts = log
    cal_end = BASE + np.timedelta64(cut_minutes * 60_000_000, "us")
    cal_end = cal_end.astype("M8[D]").astype("M8[us]") - np.timedelta64(1, "us")  # end of a day
    ch = calibration_and_holdout(
        ids, ts, amounts, calibration_end=cal_end, observation_end=SUMMARY_END
    )
    full = customer_summary(ids, ts, amounts, observation_end=SUMMARY_END)
    idx = np.searchsorted(full.customer_id, ch.customer_id)
    # every day with a purchase is either in the calibration or in the holdout period
    np.testing.assert_array_equal(ch.frequency_cal + ch.frequency_holdout, full.frequency[idx])


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        (np.array([2**64 - 1, 2**64 - 1, 2**64 - 2], dtype=np.uint64), [2**64 - 2, 2**64 - 1]),
        (np.array([-5, -5, -3], dtype=np.int8), [-5, -3]),
        (np.array([5, 5, 3], dtype=np.int32), [3, 5]),
        (np.array([1.5, 1.5, 0.5]), [0.5, 1.5]),
    ],
)
def test_integer_id_dtypes_and_extremes(ids: np.ndarray, expected: list[Any]) -> None:
    ts = M("2024-01-01", "2024-01-03", "2024-01-02")
    s = customer_summary(ids, ts, observation_end="2024-02-01")
    assert s.customer_id.tolist() == expected
    assert sorted(s.recency.tolist()) == [0.0, 2.0]
