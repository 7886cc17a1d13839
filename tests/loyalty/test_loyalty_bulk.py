from collections import deque

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ecomcrm.errors import ValidationError
from ecomcrm.loyalty import (
    Ledger,
    LoyaltyProgram,
    Tier,
    fifo_expiry,
    loyalty_status,
    tier_history,
    tier_periods,
)

TIERS = (
    Tier(name="base", threshold=0),
    Tier(name="silver", threshold=100, multiplier=1.25),
    Tier(name="gold", threshold=300, multiplier=1.5),
)


def D(s: str) -> np.datetime64:
    return np.datetime64(s, "us")


def test_status_hand_computed() -> None:
    p = LoyaltyProgram(expiry_days=30, tiers=TIERS, tier_window_days=365)
    led = Ledger.from_arrays(
        customer=[0, 0, 0, 0, 1, 2],
        at=["2024-01-01", "2024-01-20", "2024-01-25", "2024-02-01", "2024-02-01", "2023-01-01"],
        kind=["earn", "earn", "redeem", "adjust", "earn", "earn"],
        points=[100, 80, -60, 50, 10, 500],
        n_customers=4,
    )
    st_ = loyalty_status(p, led, now="2024-02-05", expiring_within_days=20)
    # c0 lots: 100 (exp 01-31), 80 (exp 02-19), 50 (exp 03-02); redeem 60 eats the first lot
    # -> 40 of lot 1 expired, 80 expires 02-19 (within 20 days), 50 later
    assert st_.ledger_sum.tolist() == [170, 10, 500, 0]
    assert st_.due_expiry.tolist() == [40, 0, 500, 0]
    assert st_.balance.tolist() == [130, 10, 0, 0]
    assert st_.expiring_soon.tolist() == [80, 0, 0, 0]
    assert st_.qualifying_points.tolist() == [230, 10, 0, 0]
    assert st_.previous_qualifying_points.tolist() == [0, 0, 500, 0]
    assert st_.tier.tolist() == [1, 0, 0, 0]
    assert st_.next_tier.tolist() == [2, 1, 1, 1]
    assert st_.points_to_next_tier.tolist() == [70, 90, 100, 100]
    assert st_.progress.tolist() == pytest.approx([230 / 300, 0.1, 0.0, 0.0])
    # entries after now are ignored
    later = loyalty_status(p, led, now="2024-01-10")
    assert later.ledger_sum.tolist() == [100, 0, 500, 0]


def test_recorded_expiries_are_not_double_counted() -> None:
    p = LoyaltyProgram(expiry_days=30)
    led = Ledger.from_arrays(
        customer=[0, 0, 0],
        at=["2024-01-01", "2024-01-25", "2024-01-31"],
        kind=["earn", "redeem", "expire"],
        points=[100, -60, -40],
    )
    st_ = loyalty_status(p, led, now="2024-03-01")
    assert st_.due_expiry.tolist() == [0] and st_.balance.tolist() == [0]
    lots, _cust, exp_at, amount = fifo_expiry(p, led, D("2024-03-01"))
    assert lots.tolist() == [0] and amount.tolist() == [40]
    assert exp_at.tolist() == [D("2024-01-31").item()]


def test_debit_at_the_expiry_instant_cannot_spend_the_expiring_lot() -> None:
    # lot A (100, 2024-01-01) expires at 2024-01-31T00:00; lot B (50, 2024-01-11) on 02-10.
    # At 01-31 A is expired (due), so the balance is 50 and a redemption of 50 made at that
    # very instant spends B. Counting it against A instead would report 50 still available.
    p = LoyaltyProgram(expiry_days=30)
    rows = dict(customer=[0, 0, 0], kind=["earn", "earn", "redeem"], points=[100, 50, -50])
    led = Ledger.from_arrays(at=["2024-01-01", "2024-01-11", "2024-01-31"], **rows)
    before = loyalty_status(p, led, now=D("2024-01-31") - np.timedelta64(1, "us"))
    assert (before.due_expiry.tolist(), before.balance.tolist()) == ([0], [150])  # A + B
    st_ = loyalty_status(p, led, now="2024-01-31")
    assert (st_.ledger_sum.tolist(), st_.due_expiry.tolist(), st_.balance.tolist()) == (
        [100],
        [100],
        [0],
    )
    _lots, _c, _exp, amount = fifo_expiry(p, led, D("2024-03-01"))
    assert amount.tolist() == [100, 0]  # A expires whole, B was spent
    # one microsecond earlier the redemption does spend A (oldest first)
    led2 = Ledger.from_arrays(
        at=[D("2024-01-01"), D("2024-01-11"), D("2024-01-31") - np.timedelta64(1, "us")], **rows
    )
    assert fifo_expiry(p, led2, D("2024-03-01"))[3].tolist() == [50, 50]
    assert loyalty_status(p, led2, now="2024-01-31").balance.tolist() == [50]


def test_no_expiry_program() -> None:
    p = LoyaltyProgram(expiry_days=None)
    led = Ledger.from_arrays(customer=[0], at=["2000-01-01"], kind=["earn"], points=[7])
    st_ = loyalty_status(p, led, now="2024-01-01")
    assert st_.balance.tolist() == [7] and st_.expiring_soon.tolist() == [0]


def test_calendar_year_and_downgrade_rules() -> None:
    led = Ledger.from_arrays(
        customer=[0, 1, 1],
        at=["2023-06-01", "2023-12-31T23:59:59", "2024-01-01"],
        kind=["earn", "earn", "adjust"],
        points=[350, 120, -20],
    )
    cal = LoyaltyProgram(tiers=TIERS, tier_period="calendar_year", expiry_days=None)
    st_ = loyalty_status(cal, led, now="2024-03-01")
    assert st_.qualifying_points.tolist() == [0, -20]
    assert st_.previous_qualifying_points.tolist() == [350, 120]
    assert st_.tier.tolist() == [0, 0]
    keep = LoyaltyProgram(
        tiers=TIERS, tier_period="calendar_year", downgrade="after_next_period", expiry_days=None
    )
    st_ = loyalty_status(keep, led, now="2024-03-01")
    assert st_.tier.tolist() == [2, 1]
    assert st_.next_tier.tolist() == [-1, 2] and st_.progress[0] == 1.0
    assert st_.points_to_next_tier.tolist() == [0, 320]
    (_lo, hi), (_plo, phi) = tier_periods(cal, "2024-03-01")
    assert str(hi) == "2024-03-01T00:00:00.000000" and str(phi) == "2023-12-31T23:59:59.999999"


def test_tier_history_rolling_and_calendar() -> None:
    p = LoyaltyProgram(tiers=TIERS, tier_window_days=10, expiry_days=None)
    led = Ledger.from_arrays(
        customer=[0, 0, 0, 1],
        at=["2024-01-01", "2024-01-05", "2024-01-08", "2024-01-02"],
        kind=["earn", "earn", "earn", "earn"],
        points=[60, 50, 200, 20],
    )
    h = tier_history(p, led, until="2024-12-31")
    got = list(zip(h.customer.tolist(), [str(t)[:10] for t in h.at], h.tier.tolist(), strict=True))
    # 01-05: 110 silver; 01-08: 310 gold; 01-11: 250 silver (first lot left); 01-15: 200
    # silver; 01-18: 0 base
    assert got == [
        (0, "2024-01-05", 1),
        (0, "2024-01-08", 2),
        (0, "2024-01-11", 1),
        (0, "2024-01-18", 0),
    ]
    assert h.previous.tolist() == [0, 1, 2, 1]
    cal = LoyaltyProgram(tiers=TIERS, tier_period="calendar_year", expiry_days=None)
    led2 = Ledger.from_arrays(customer=[0], at=["2023-05-01"], kind=["earn"], points=[150])
    h = tier_history(cal, led2, until="2025-06-01")
    assert [str(t)[:10] for t in h.at] == ["2023-05-01", "2024-01-01"]
    assert h.tier.tolist() == [1, 0]
    keep = LoyaltyProgram(
        tiers=TIERS, tier_period="calendar_year", downgrade="after_next_period", expiry_days=None
    )
    led3 = Ledger.from_arrays(
        customer=[0, 0], at=["2023-05-01", "2024-02-01"], kind=["earn", "earn"], points=[350, 150]
    )
    h = tier_history(keep, led3, until="2026-06-01")
    # gold in 2023, kept through 2024; 2024 earned 150 (silver) -> silver in 2025, base 2026
    assert [str(t)[:10] for t in h.at] == ["2023-05-01", "2025-01-01", "2026-01-01"]
    assert h.tier.tolist() == [2, 1, 0]


def test_ledger_validation() -> None:
    with pytest.raises(ValidationError, match="positive for a earn") as exc:
        Ledger.from_arrays(customer=[0, 0], at=["2024-01-01"] * 2, kind=[0, 0], points=[5, -1])
    assert exc.value.row == 1
    with pytest.raises(ValidationError, match="negative for a redeem"):
        Ledger.from_arrays(customer=[0], at=["2024-01-01"], kind=["redeem"], points=[5])
    with pytest.raises(ValidationError, match="earn/redeem"):
        Ledger.from_arrays(customer=[0], at=["2024-01-01"], kind=["bonus"], points=[5])
    with pytest.raises(ValidationError, match="whole points"):
        Ledger.from_arrays(customer=[0], at=["2024-01-01"], kind=[0], points=[1.5])
    with pytest.raises(ValidationError, match="NaT"):
        Ledger.from_arrays(customer=[0], at=["NaT"], kind=[0], points=[1])
    with pytest.raises(ValidationError, match="n_customers"):
        Ledger.from_arrays(customer=[3], at=["2024-01-01"], kind=[0], points=[1], n_customers=2)


# --- property: FIFO against a plain event-by-event simulation ------------------------------

ops = st.lists(
    st.tuples(
        st.integers(0, 2),  # customer
        st.integers(0, 120),  # day
        st.sampled_from(["earn", "redeem", "adjust-", "adjust+"]),
        st.integers(1, 100),  # amount or percentage of the balance
    ),
    max_size=30,
)


def simulate(rows, expiry: int, now: int, horizon: int):
    """Event-by-event FIFO reference; returns ledger rows and per-customer figures."""
    rows = sorted(rows, key=lambda r: r[1])  # stable: same-day order kept
    lots = {c: deque() for c in range(3)}
    ledger = []
    expired = [0, 0, 0]

    def expire_until(c: int, t: int) -> None:
        # a lot is expired from its expiry instant on: a debit at that instant cannot use it
        q = lots[c]
        while q and q[0][0] + expiry <= t:
            expired[c] += q.popleft()[1]

    for c, day, op, v in rows:
        if day > now:
            continue
        expire_until(c, day)
        bal = sum(x[1] for x in lots[c])
        if op in ("earn", "adjust+"):
            lots[c].append([day, v])
            ledger.append((c, day, 0 if op == "earn" else 3, v))
            continue
        amt = bal * v // 100
        if amt <= 0:
            continue
        ledger.append((c, day, 1 if op == "redeem" else 3, -amt))
        q = lots[c]
        while amt:
            take = min(amt, q[0][1])
            q[0][1] -= take
            amt -= take
            if q[0][1] == 0:
                q.popleft()
    soon = [0, 0, 0]
    for c in range(3):
        expire_until(c, now)
        soon[c] = sum(r for d, r in lots[c] if now < d + expiry <= now + horizon)
    return ledger, expired, soon


@settings(max_examples=150, deadline=None)
@given(ops, st.integers(1, 60), st.integers(0, 150), st.integers(1, 40))
# a redemption on the very day the oldest lot expires spends the next lot, not the expired one
@example(
    rows=[(0, 0, "earn", 100), (0, 10, "earn", 50), (0, 30, "redeem", 100)],
    expiry=30,
    now=30,
    horizon=20,
)
@example(rows=[(0, 58, "earn", 50), (0, 100, "redeem", 2)], expiry=42, now=100, horizon=1)
def test_fifo_matches_simulation_and_balance_identity(rows, expiry, now, horizon) -> None:
    ledger, expired, soon = simulate(rows, expiry, now, horizon)
    base = np.datetime64("2024-01-01", "us")
    day = np.timedelta64(86_400_000_000, "us")
    led = Ledger.from_arrays(
        customer=np.array([r[0] for r in ledger], dtype=np.int64),
        at=base + np.array([r[1] for r in ledger], dtype=np.int64) * day,
        kind=np.array([r[2] for r in ledger], dtype=np.int8),
        points=np.array([r[3] for r in ledger], dtype=np.int64),
        n_customers=3,
    )
    p = LoyaltyProgram(expiry_days=expiry)
    st_ = loyalty_status(p, led, now=base + now * day, expiring_within_days=horizon)
    assert st_.due_expiry.tolist() == expired
    assert st_.expiring_soon.tolist() == soon
    sums = [sum(r[3] for r in ledger if r[0] == c) for c in range(3)]
    assert st_.ledger_sum.tolist() == sums
    assert (st_.balance == st_.ledger_sum - st_.due_expiry).all()
    assert (st_.balance >= 0).all()
