"""Attribution windows: hand-computed cases, a brute-force oracle (Hypothesis) and pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecomcrm.errors import ValidationError
from ecomcrm.metrics import first_conversion, last_touch, window_totals

D = np.timedelta64(1, "D")
H = np.timedelta64(1, "h")
T0 = np.datetime64("2024-03-01T00:00", "us")


def at(*hours: float) -> np.ndarray:
    return T0 + (np.array(hours) * 3600e6).astype("timedelta64[us]")


def test_windows_by_channel_and_the_latest_covering_touch_wins() -> None:
    # customer a: email opened at 0h (5-day window), sms clicked at 24h (1-day window)
    touches_c = ["a", "a", "b"]
    touches_t = at(0, 24, 0)
    window = np.array([5, 1, 5], dtype="timedelta64[D]").astype("timedelta64[us]")
    orders_c = ["a", "a", "a", "b", "b"]
    # 30h: both cover, the sms is later; 72h: only the email (sms window ended at 48h);
    # 121h: the email's window ended at 120h; b at 0h: same instant, not after; b at 120h: edge, in
    orders_t = at(30, 72, 121, 0, 120)
    got = last_touch(orders_c, orders_t, touches_c, touches_t, window=window)
    assert got.tolist() == [1, 0, -1, -1, 2]


def test_ties_between_touches_go_to_the_later_row_and_each_order_once() -> None:
    got = last_touch([1, 1], at(5, 6), [1, 1, 1], at(2, 2, 1), window=np.timedelta64(7, "D"))
    assert got.tolist() == [1, 1]  # rows 0 and 1 share 2h: the later row wins


def test_unsorted_inputs_and_integer_ids() -> None:
    orders_t = at(50, 3, 20)
    touches_t = at(10, 1, 40)
    got = last_touch([7, 7, 8], orders_t, [8, 7, 7], touches_t, window=2 * D)
    # order 0 (7 at 50h): touch 2 (40h) covers; order 1 (7 at 3h): touch 1 (1h);
    # order 2 (8 at 20h): touch 0 (10h)
    assert got.tolist() == [2, 1, 0]


def test_first_conversion_at_most_once_and_strictly_after() -> None:
    starts_c = ["a", "a", "b", "c"]
    starts_t = at(0, 100, 0, 0)
    goals_c = ["a", "a", "b", "c"]
    goals_t = at(0, 30, 200, 168)  # a's goal at 0h is not after its entry
    got = first_conversion(starts_c, starts_t, goals_c, goals_t, window=7 * D)
    # a@0 -> goal 1 (30h); a@100 -> none after 100h; b: 200h > 168h; c: exactly 7 days
    assert got.tolist() == [1, -1, -1, 3]


def test_window_totals_hand_computed() -> None:
    got = window_totals(
        ["a", "a", "b"], at(0, 10, 0),
        ["a", "a", "a", "b"], at(5, 10, 11, 1), [1.0, 2.0, 4.0, 8.0], window=np.timedelta64(6, "h"),
    )  # fmt: skip
    # a@0: 5h and ... 10h > 6h -> 1; a@10: 11h -> 4 (10h is not after); b@0: 1h -> 8
    assert got.tolist() == [1.0, 4.0, 8.0]


def test_bad_input_names_the_argument() -> None:
    with pytest.raises(ValidationError, match="window"):
        last_touch(["a"], at(1), ["a"], at(0), window=-D)
    with pytest.raises(ValidationError, match="touch_time"):
        last_touch(["a"], at(1), ["a", "b"], at(0), window=D)
    with pytest.raises(ValidationError, match="order_time"):
        last_touch(["a"], np.array(["NaT"], dtype="M8[us]"), ["a"], at(0), window=D)
    with pytest.raises(ValidationError, match="order_customer"):
        last_touch([None], at(1), ["a"], at(0), window=D)


def test_empty_sides() -> None:
    assert last_touch([], at(), ["a"], at(0), window=D).tolist() == []
    assert last_touch(["a"], at(1), [], at(), window=D).tolist() == [-1]


def _oracle_last_touch(oc, ot, tc, tt, win):  # type: ignore[no-untyped-def]
    out = []
    for c, t in zip(oc, ot, strict=True):
        best = -1
        for j, (c2, t2, w) in enumerate(zip(tc, tt, win, strict=True)):
            if c2 == c and t2 < t <= t2 + w and (best < 0 or t2 >= tt[best]):
                best = j
        out.append(best)
    return out


events = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 40)), max_size=25)


@settings(max_examples=200, deadline=None)
@given(
    orders=events, touches=events, windows=st.lists(st.integers(0, 12), min_size=25, max_size=25)
)
def test_last_touch_equals_the_brute_force_oracle(orders, touches, windows) -> None:  # type: ignore[no-untyped-def]
    oc = [c for c, _ in orders]
    ot = [t for _, t in orders]
    tc = [c for c, _ in touches]
    tt = [t for _, t in touches]
    win = windows[: len(touches)]
    got = last_touch(
        oc, T0 + np.array(ot, dtype="timedelta64[h]"), tc, T0 + np.array(tt, dtype="timedelta64[h]"),
        window=np.array(win, dtype="timedelta64[h]"),
    )  # fmt: skip
    assert got.tolist() == _oracle_last_touch(oc, ot, tc, tt, win)


@settings(max_examples=200, deadline=None)
@given(starts=events, goals=events, window=st.integers(0, 20))
def test_first_conversion_and_totals_equal_the_oracle(starts, goals, window) -> None:  # type: ignore[no-untyped-def]
    sc = [c for c, _ in starts]
    stt = [t for _, t in starts]
    gc = [c for c, _ in goals]
    gt = [t for _, t in goals]
    amounts = [float(1 + (i * 7) % 5) for i in range(len(goals))]
    ts = T0 + np.array(stt, dtype="timedelta64[h]")
    tg = T0 + np.array(gt, dtype="timedelta64[h]")
    w = np.timedelta64(window, "h")
    got = first_conversion(sc, ts, gc, tg, window=w)
    totals = window_totals(sc, ts, gc, tg, amounts, window=w)
    for i, (c, t) in enumerate(starts):
        inside = [j for j, (c2, t2) in enumerate(goals) if c2 == c and t < t2 <= t + window]
        first = min(inside, key=lambda j: (gt[j], j)) if inside else -1
        assert got[i] == first
        assert totals[i] == pytest.approx(sum(amounts[j] for j in inside))


def test_attributed_revenue_equals_a_pandas_merge_asof_per_channel() -> None:
    rng = np.random.default_rng(7)
    n_touch, n_order, n_cust = 3000, 2000, 300
    tc = rng.integers(0, n_cust, n_touch)
    tt = T0 + rng.integers(0, 30 * 24 * 3600, n_touch).astype("timedelta64[s]")
    channel = rng.choice(["email", "sms"], n_touch)
    windows = {"email": np.timedelta64(5, "D"), "sms": np.timedelta64(1, "D")}
    oc = rng.integers(0, n_cust, n_order)
    ot = T0 + rng.integers(0, 30 * 24 * 3600, n_order).astype("timedelta64[s]")
    amount = rng.uniform(5, 200, n_order).round(2)
    win = np.where(channel == "email", windows["email"], windows["sms"]).astype("m8[us]")
    got = last_touch(oc, ot, tc, tt, window=win)
    # pandas: one merge_asof per channel (strictly before, within its window), latest wins
    orders = pd.DataFrame(
        {"c": oc, "t": ot.astype("M8[ns]"), "amount": amount, "row": np.arange(n_order)}
    )
    best = pd.Series(pd.NaT, index=orders.index, dtype="datetime64[ns]")
    credited = pd.Series(-1, index=orders.index)
    for name, length in windows.items():
        sub = np.flatnonzero(channel == name)
        touches = pd.DataFrame({"c": tc[sub], "t": tt[sub].astype("M8[ns]"), "touch": sub})
        touches["tt"] = touches["t"]
        merged = pd.merge_asof(
            orders.sort_values("t"), touches.sort_values(["t", "touch"]), on="t", by="c",
            allow_exact_matches=False, tolerance=pd.Timedelta(length),
        ).set_index("row").sort_index()  # fmt: skip
        later = merged["tt"].notna() & (best.isna() | (merged["tt"] > best))
        best[later] = merged["tt"][later]
        credited[later] = merged["touch"][later].astype(int)
    by_touch_ours = np.bincount(got[got >= 0], weights=amount[got >= 0], minlength=n_touch)
    ours = {name: by_touch_ours[channel == name].sum() for name in windows}
    theirs = {
        name: amount[(credited >= 0).to_numpy()][channel[credited[credited >= 0]] == name].sum()
        for name in windows
    }
    assert ours == pytest.approx(theirs)
    assert (got >= 0).sum() == (credited >= 0).sum()
