"""Vectorized loyalty status for all customers from ledger arrays."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
from numpy.typing import ArrayLike, NDArray

from ecomcrm.errors import ValidationError
from ecomcrm.loyalty._program import LoyaltyProgram

EARN, REDEEM, EXPIRE, ADJUST = 0, 1, 2, 3
KIND_CODES: dict[str, int] = {"earn": EARN, "redeem": REDEEM, "expire": EXPIRE, "adjust": ADJUST}
_US_PER_DAY = 86_400_000_000
_INT63 = 2**62


@attrs.frozen(kw_only=True, eq=False)
class Ledger:
    """Validated ledger arrays, one row per entry.

    Attributes:
        customer: Customer code per entry (``0..n_customers-1``).
        at: Entry time (datetime64[us], UTC).
        kind: Kind code per entry: 0 earn, 1 redeem, 2 expire, 3 adjust (see ``KIND_CODES``).
        points: Signed points (int64): earn > 0, redeem < 0, expire < 0, adjust != 0.
        n_customers: Number of customer codes.

    Example:
        >>> led = Ledger.from_arrays(customer=[0, 0], at=["2024-01-01", "2024-02-01"],
        ...                          kind=["earn", "redeem"], points=[100, -40])
        >>> led.kind.tolist(), led.n_customers
        ([0, 1], 1)
    """

    customer: NDArray[np.int64]
    at: NDArray[np.datetime64]
    kind: NDArray[np.int8]
    points: NDArray[np.int64]
    n_customers: int

    @classmethod
    def from_arrays(
        cls,
        *,
        customer: ArrayLike,
        at: ArrayLike,
        kind: ArrayLike,
        points: ArrayLike,
        n_customers: int | None = None,
    ) -> Ledger:
        """Validate ledger arrays; kinds may be codes (0-3) or names ("earn", ...).

        Raises:
            ValidationError: Naming the field, value and first offending row.

        Example:
            >>> Ledger.from_arrays(customer=[0], at=["2024-01-01"], kind=[0], points=[5]).points.tolist()
            [5]
        """
        cust = np.asarray(customer)
        n = cust.shape[0] if cust.ndim == 1 else -1
        if cust.ndim != 1 or (cust.size and cust.dtype.kind not in "iu"):
            raise ValidationError(
                "must be 1-D integer codes",
                entity="Ledger",
                field="customer",
                value=str(cust.dtype),
            )
        cust = cust.astype(np.int64)
        if cust.size and cust.min() < 0:
            row = int(np.argmax(cust < 0))
            raise ValidationError(
                "must not be negative",
                entity="Ledger",
                field="customer",
                value=int(cust[row]),
                row=row,
            )
        ncust = int(n_customers) if n_customers is not None else (int(cust.max()) + 1 if n else 0)
        if cust.size and cust.max() >= ncust:
            row = int(np.argmax(cust >= ncust))
            raise ValidationError(
                f"must be below n_customers ({ncust})",
                entity="Ledger",
                field="customer",
                value=int(cust[row]),
                row=row,
            )
        ts = np.asarray(at).astype("datetime64[us]")
        kraw = np.asarray(kind)
        if kraw.dtype.kind in "UO":
            names = kraw.astype(str)
            k = np.full(names.shape, -1, dtype=np.int8)
            for name, code in KIND_CODES.items():
                k[names == name] = code
        else:
            k = kraw.astype(np.int8)
        pts_raw = np.asarray(points)
        if pts_raw.dtype.kind == "f":
            bad = ~np.isfinite(pts_raw) | (pts_raw != np.round(pts_raw))
            if bad.any():
                row = int(np.argmax(bad))
                raise ValidationError(
                    "must be whole points",
                    entity="Ledger",
                    field="points",
                    value=float(pts_raw[row]),
                    row=row,
                )
        pts = pts_raw.astype(np.int64)
        for name, arr in (("at", ts), ("kind", k), ("points", pts)):
            if arr.shape != (n,):
                raise ValidationError(
                    f"must have one value per entry ({n})",
                    entity="Ledger",
                    field=name,
                    value=arr.shape,
                )
        if np.isnat(ts).any():
            row = int(np.argmax(np.isnat(ts)))
            raise ValidationError(
                "must not be missing", entity="Ledger", field="at", value="NaT", row=row
            )
        bad_kind = (k < 0) | (k > 3)
        if bad_kind.any():
            row = int(np.argmax(bad_kind))
            raise ValidationError(
                "must be earn/redeem/expire/adjust (0-3)",
                entity="Ledger",
                field="kind",
                value=kraw[row].item(),
                row=row,
            )
        bad_sign = np.where(k == EARN, pts <= 0, np.where(k == ADJUST, pts == 0, pts >= 0))
        if bad_sign.any():
            row = int(np.argmax(bad_sign))
            rule = {EARN: "positive", REDEEM: "negative", EXPIRE: "negative", ADJUST: "non-zero"}
            raise ValidationError(
                f"must be {rule[int(k[row])]} for a {list(KIND_CODES)[int(k[row])]} entry",
                entity="Ledger",
                field="points",
                value=int(pts[row]),
                row=row,
            )
        return cls(customer=cust, at=ts, kind=k, points=pts, n_customers=ncust)

    @property
    def n_entries(self) -> int:
        """Number of entries."""
        return int(self.points.size)


@attrs.frozen(kw_only=True, eq=False)
class LoyaltyStatus:
    """Per-customer loyalty figures at ``now`` (arrays indexed by customer code).

    Attributes:
        now: The time the figures hold for.
        ledger_sum: Sum of all ledger points up to ``now``.
        due_expiry: Points whose expiry date has passed but no expire entry records yet.
        balance: ``ledger_sum - due_expiry`` (never negative).
        expiring_soon: Points that will expire within the horizon unless spent first.
        qualifying_points: Earn + adjust points in the current tier period.
        previous_qualifying_points: The same in the previous period.
        tier: Tier code (index into ``program.tiers``).
        next_tier: Next tier code, ``-1`` at the top tier.
        points_to_next_tier: Qualifying points still needed for ``next_tier`` (0 at the top).
        progress: ``qualifying_points / threshold(next_tier)`` in ``[0, 1]`` (1 at the top).

    Example:
        >>> led = Ledger.from_arrays(customer=[0], at=["2024-01-01"], kind=["earn"], points=[100])
        >>> st = loyalty_status(LoyaltyProgram(), led, now="2024-06-01")
        >>> st.balance.tolist(), st.tier.tolist()
        ([100], [0])
    """

    now: np.datetime64
    ledger_sum: NDArray[np.int64]
    due_expiry: NDArray[np.int64]
    balance: NDArray[np.int64]
    expiring_soon: NDArray[np.int64]
    qualifying_points: NDArray[np.int64]
    previous_qualifying_points: NDArray[np.int64]
    tier: NDArray[np.int64]
    next_tier: NDArray[np.int64]
    points_to_next_tier: NDArray[np.int64]
    progress: NDArray[np.float64]


def _bincount(idx: NDArray[np.int64], w: NDArray[Any], n: int) -> NDArray[np.int64]:
    if idx.size == 0:
        return np.zeros(n, dtype=np.int64)
    return np.rint(np.bincount(idx, weights=w.astype(np.float64), minlength=n)).astype(np.int64)


def _time_key_unit(n_customers: int, lo: np.datetime64, hi: np.datetime64) -> int:
    """Finest of µs / ms / s such that ``n_customers * span`` fits int63."""
    span = int((hi - lo).astype(np.int64)) + 2
    for unit in (1, 1_000, 1_000_000):
        if (n_customers + 1) * (span // unit + 2) < _INT63:
            return unit
    raise ValidationError(
        "time span too long for this many customers", entity="Ledger", field="at", value=span
    )


class _Keys:
    """Composite (customer, time) int64 keys so one sort orders by customer then time."""

    def __init__(self, n_customers: int, lo: np.datetime64, hi: np.datetime64) -> None:
        self.lo = lo
        self.unit = _time_key_unit(n_customers, lo, hi)
        self.width = (int((hi - lo).astype(np.int64)) + 2) // self.unit + 2

    def __call__(self, customer: NDArray[np.int64], t: NDArray[np.datetime64]) -> NDArray[np.int64]:
        rel = (t - self.lo).astype(np.int64) // self.unit + 1
        rel = np.clip(rel, 0, self.width - 1)
        return np.asarray(customer * self.width + rel, dtype=np.int64)


def _segmented_cummax(values: NDArray[np.int64], first: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Running max of non-negative ``values`` restarting where ``first`` is True."""
    if values.size == 0:
        return values.copy()
    span = int(values.max()) + 1
    out = np.empty_like(values)
    rank = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    per = max(1, _INT63 // span - 1)
    n_seg = int(rank[-1]) + 1
    bounds = np.r_[starts, values.size]
    for g0 in range(0, n_seg, per):  # usually one pass; more only for huge point totals
        a, b = int(bounds[g0]), int(bounds[min(g0 + per, n_seg)])
        off = (rank[a:b] - g0) * span
        out[a:b] = np.maximum.accumulate(values[a:b] + off) - off
    return out


def fifo_expiry(
    program: LoyaltyProgram, ledger: Ledger, now: Any, *, stable: bool = True
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.datetime64], NDArray[np.int64]]:
    """Expiry of every earned lot under FIFO consumption.

    Returns ``(lot_row, lot_customer, lot_expires_at, lot_expiry)``: the ledger row of
    each credit (earn or positive adjust) up to ``now``, its customer and expiry time, and
    the points of it that expire (or expired) unspent, assuming redemptions and negative
    adjustments consume the oldest unexpired points first. A lot is expired from its
    expiry instant on, so a debit made at that very instant cannot spend it. Recorded
    expire entries are not used here; compare with them to find what is still due.

    With ``stable=False`` a faster sort is used: lots of one customer earned at the same
    microsecond may then split their expiry differently (per-customer totals are equal).

    Example:
        >>> led = Ledger.from_arrays(customer=[0, 0], at=["2024-01-01", "2024-01-10"],
        ...                          kind=["earn", "redeem"], points=[100, -30])
        >>> fifo_expiry(LoyaltyProgram(expiry_days=30), led, "2024-03-01")[3].tolist()
        [70]
    """
    t_now = np.datetime64(now, "us")
    empty = np.zeros(0, dtype=np.int64)
    if program.expiry_days is None:
        return empty, empty, np.zeros(0, "datetime64[us]"), empty
    period_us = program.expiry_days * _US_PER_DAY
    at = ledger.at.view(np.int64)
    now_i = int(t_now.astype(np.int64))
    kind, pts = ledger.kind, ledger.points
    credit = (kind == EARN) | ((kind == ADJUST) & (pts > 0))
    debit = (kind == REDEEM) | ((kind == ADJUST) & (pts < 0))
    rel = np.flatnonzero((credit | debit) & (at <= now_i))
    if not credit[rel].any():
        return empty, empty, np.zeros(0, "datetime64[us]"), empty
    lo = int(at[rel].min())
    unit = _time_key_unit(
        ledger.n_customers, np.datetime64(lo, "us"), np.datetime64(now_i + period_us, "us")
    )
    width = (now_i + period_us - lo + 2) // unit + 2
    cust = ledger.customer[rel]
    t_rel = at[rel] - lo if unit == 1 else (at[rel] - lo) // unit
    key = cust * width + t_rel + 1
    order = np.argsort(key, kind="stable" if stable else "quicksort")
    rel, key, cust = rel[order], key[order], cust[order]
    is_credit = credit[rel]
    signed = pts[rel]
    # debits: cumulative amounts in (customer, time) order
    dkey = key[~is_credit]
    dcum = np.r_[0, np.cumsum(-signed[~is_credit])]
    lots = rel[is_credit]
    lc = cust[is_credit]
    lamt = signed[is_credit]
    n_c = ledger.n_customers
    first = np.r_[True, lc[1:] != lc[:-1]]
    # credits before each customer's first lot, and each customer's first debit position
    credit_before = np.r_[0, np.cumsum(np.bincount(lc, weights=lamt, minlength=n_c))]
    c_i = np.cumsum(lamt) - np.rint(credit_before[lc]).astype(np.int64)
    debit_start = np.r_[0, np.cumsum(np.bincount(cust[~is_credit], minlength=n_c))]
    exp_i = at[lots] + period_us
    exp_rel = exp_i - lo if unit == 1 else (exp_i - lo) // unit
    # Only debits strictly before a lot's expiry can spend it: a lot is expired from its
    # expiry instant on (``loyalty_status`` counts it due when ``expires_at <= now``), so
    # a debit at that very instant must use later lots. Counting it against the expiring
    # lot would let one debit re-assign an already written expiry to a later lot.
    hi = np.searchsorted(dkey, lc * width + exp_rel + 1, side="left")
    r_i = dcum[hi] - dcum[debit_start[lc]]
    z = _segmented_cummax(np.maximum(c_i - r_i, 0), first)
    prev = np.where(first, 0, np.r_[0, z[:-1]])
    return lots, lc, exp_i.view("datetime64[us]"), z - prev


def loyalty_status(
    program: LoyaltyProgram,
    ledger: Ledger,
    *,
    now: Any,
    expiring_within_days: int = 30,
) -> LoyaltyStatus:
    """Balances, expiring points and tiers for every customer at once.

    Entries after ``now`` are ignored. Vectorized: bincounts for sums and windows, one
    sort of the credits and debits for FIFO expiry; no loop per customer or entry.

    Args:
        program: The program (expiry and tier rules).
        ledger: The ledger arrays.
        now: The time the figures are for.
        expiring_within_days: Horizon for :attr:`LoyaltyStatus.expiring_soon`.

    Example:
        >>> from ecomcrm.loyalty import Tier
        >>> p = LoyaltyProgram(expiry_days=30, tiers=(Tier(name="base", threshold=0),
        ...                                           Tier(name="gold", threshold=150)))
        >>> led = Ledger.from_arrays(customer=[0, 0, 0, 1], kind=["earn", "earn", "redeem", "earn"],
        ...                          at=["2024-01-01", "2024-01-20", "2024-01-25", "2024-02-01"],
        ...                          points=[100, 80, -60, 10])
        >>> st = loyalty_status(p, led, now="2024-02-05", expiring_within_days=30)
        >>> st.due_expiry.tolist(), st.balance.tolist(), st.expiring_soon.tolist()
        ([40, 0], [80, 10], [80, 10])
        >>> st.tier.tolist(), st.points_to_next_tier.tolist()
        ([1, 0], [0, 140])
    """
    t_now = np.datetime64(now, "us")
    n = ledger.n_customers
    upto = ledger.at <= t_now
    cust, pts, kind, at = (
        ledger.customer[upto],
        ledger.points[upto],
        ledger.kind[upto],
        ledger.at[upto],
    )
    ledger_sum = _bincount(cust, pts, n)
    recorded = -_bincount(cust[kind == EXPIRE], pts[kind == EXPIRE], n)
    due = np.zeros(n, dtype=np.int64)
    soon = np.zeros(n, dtype=np.int64)
    if program.expiry_days is not None:
        _, lc, exp_at, amount = fifo_expiry(program, ledger, t_now, stable=False)
        is_due = exp_at <= t_now
        due = np.maximum(_bincount(lc[is_due], amount[is_due], n) - recorded, 0)
        horizon = t_now + np.timedelta64(expiring_within_days * _US_PER_DAY, "us")
        upcoming = ~is_due & (exp_at <= horizon)
        soon = _bincount(lc[upcoming], amount[upcoming], n)
    balance = np.maximum(ledger_sum - due, 0)
    qual = (kind == EARN) | (kind == ADJUST)
    (cur_lo, cur_hi), (prev_lo, prev_hi) = tier_periods(program, t_now)
    in_cur = qual & (at > cur_lo) & (at <= cur_hi)
    in_prev = qual & (at > prev_lo) & (at <= prev_hi)
    q_cur = _bincount(cust[in_cur], pts[in_cur], n)
    q_prev = _bincount(cust[in_prev], pts[in_prev], n)
    thresholds = np.array([t.threshold for t in program.tiers], dtype=np.int64)
    tier = np.searchsorted(thresholds, q_cur, side="right").astype(np.int64) - 1
    tier = np.maximum(tier, 0)
    if program.downgrade == "after_next_period":
        t_prev = np.maximum(
            np.searchsorted(thresholds, q_prev, side="right").astype(np.int64) - 1, 0
        )
        tier = np.maximum(tier, t_prev)
    top = len(program.tiers) - 1
    next_tier = np.where(tier < top, tier + 1, -1)
    nxt_th = thresholds[np.minimum(tier + 1, top)]
    to_next = np.where(tier < top, np.maximum(nxt_th - q_cur, 0), 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        progress = np.where(tier < top, np.clip(q_cur / np.maximum(nxt_th, 1), 0.0, 1.0), 1.0)
    return LoyaltyStatus(
        now=t_now,
        ledger_sum=ledger_sum,
        due_expiry=due,
        balance=balance,
        expiring_soon=soon,
        qualifying_points=q_cur,
        previous_qualifying_points=q_prev,
        tier=tier,
        next_tier=next_tier.astype(np.int64),
        points_to_next_tier=to_next.astype(np.int64),
        progress=progress.astype(np.float64),
    )


def tier_periods(program: LoyaltyProgram, now: Any) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """The current and previous qualification periods at ``now`` as ``(lo, hi]`` bounds.

    Example:
        >>> p = LoyaltyProgram(tier_period="calendar_year")
        >>> (lo, hi), (plo, phi) = tier_periods(p, "2024-06-01")
        >>> str(lo), str(plo)
        ('2023-12-31T23:59:59.999999', '2022-12-31T23:59:59.999999')
    """
    t = np.datetime64(now, "us")
    one = np.timedelta64(1, "us")
    if program.tier_period == "calendar_year":
        year = t.astype("datetime64[Y]")
        start = year.astype("datetime64[us]")
        prev_start = (year - 1).astype("datetime64[us]")
        return (start - one, t), (prev_start - one, start - one)
    w = np.timedelta64(program.tier_window_days * _US_PER_DAY, "us")
    return (t - w, t), (t - 2 * w, t - w)


@attrs.frozen(kw_only=True, eq=False)
class TierHistory:
    """Tier changes, one row per change, ordered by customer then time.

    Attributes:
        customer: Customer code.
        at: When the tier changed.
        tier: The new tier code.
        previous: The tier before.

    Example:
        >>> TierHistory(customer=np.zeros(0, np.int64), at=np.zeros(0, "datetime64[us]"),
        ...             tier=np.zeros(0, np.int64), previous=np.zeros(0, np.int64)).customer.size
        0
    """

    customer: NDArray[np.int64]
    at: NDArray[np.datetime64]
    tier: NDArray[np.int64]
    previous: NDArray[np.int64]


def tier_history(program: LoyaltyProgram, ledger: Ledger, *, until: Any) -> TierHistory:
    """Every tier change of every customer up to ``until``, vectorized.

    The tier can only change when a qualifying entry is made or leaves a period, so it is
    evaluated at those instants (entry times, entry times plus one and two windows, or the
    next two 1 January boundaries) with window sums from one sort and cumulative sums.

    Example:
        >>> from ecomcrm.loyalty import Tier
        >>> p = LoyaltyProgram(tier_window_days=10, tiers=(Tier(name="base", threshold=0),
        ...                                                Tier(name="gold", threshold=100)))
        >>> led = Ledger.from_arrays(customer=[0, 0], kind=["earn", "earn"],
        ...                          at=["2024-01-01", "2024-01-05"], points=[60, 50])
        >>> h = tier_history(p, led, until="2024-03-01")
        >>> [str(t)[:10] for t in h.at], h.tier.tolist()
        (['2024-01-05', '2024-01-11'], [1, 0])
    """
    t_until = np.datetime64(until, "us")
    qual = (ledger.at <= t_until) & ((ledger.kind == EARN) | (ledger.kind == ADJUST))
    rows = np.flatnonzero(qual)
    c, t, p = ledger.customer[rows], ledger.at[rows], ledger.points[rows]
    empty = TierHistory(
        customer=np.zeros(0, np.int64),
        at=np.zeros(0, "datetime64[us]"),
        tier=np.zeros(0, np.int64),
        previous=np.zeros(0, np.int64),
    )
    if rows.size == 0:
        return empty
    one = np.timedelta64(1, "us")
    if program.tier_period == "calendar_year":
        y = t.astype("datetime64[Y]")
        cand_t = [t, (y + 1).astype("datetime64[us]"), (y + 2).astype("datetime64[us]")]
        span_lo = y.min().astype("datetime64[us]") - np.timedelta64(800 * _US_PER_DAY, "us")
    else:
        w = np.timedelta64(program.tier_window_days * _US_PER_DAY, "us")
        cand_t = [t, t + w, t + 2 * w]
        span_lo = t.min() - 3 * w
    if program.downgrade == "immediate":
        cand_t = cand_t[:2]
    qc = np.concatenate([c] * len(cand_t))
    qt = np.concatenate(cand_t)
    keep = qt <= t_until
    qc, qt = qc[keep], qt[keep]
    keys = _Keys(ledger.n_customers, span_lo, max(t_until, t.max()) + one)
    ek = keys(c, t)
    eo = np.argsort(ek, kind="stable")
    ek = ek[eo]
    ecum = np.r_[0, np.cumsum(p[eo])]

    def window_sum(lo: NDArray[Any], hi: NDArray[Any]) -> NDArray[np.int64]:
        a = np.searchsorted(ek, keys(qc, lo), side="right")
        b = np.searchsorted(ek, keys(qc, hi), side="right")
        return np.asarray(ecum[b] - ecum[a], dtype=np.int64)

    if program.tier_period == "calendar_year":
        yq = qt.astype("datetime64[Y]")
        start = yq.astype("datetime64[us]") - one
        prev = (yq - 1).astype("datetime64[us]") - one
        cur_s, prev_s = window_sum(start, qt), window_sum(prev, start)
    else:
        cur_s, prev_s = window_sum(qt - w, qt), window_sum(qt - 2 * w, qt - w)
    th = np.array([x.threshold for x in program.tiers], dtype=np.int64)
    tier = np.maximum(np.searchsorted(th, cur_s, side="right") - 1, 0).astype(np.int64)
    if program.downgrade == "after_next_period":
        tier = np.maximum(tier, np.maximum(np.searchsorted(th, prev_s, side="right") - 1, 0))
    order = np.lexsort((qt, qc))
    qc, qt, tier = qc[order], qt[order], tier[order]
    first = np.r_[True, qc[1:] != qc[:-1]]
    prev_tier = np.where(first, 0, np.r_[0, tier[:-1]])
    changed = tier != prev_tier
    return TierHistory(
        customer=qc[changed], at=qt[changed], tier=tier[changed], previous=prev_tier[changed]
    )
