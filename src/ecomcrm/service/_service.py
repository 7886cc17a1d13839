"""Return rates with reasons, ticket statistics by segment, and poor-experience flags."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
from numpy.typing import ArrayLike, NDArray

from ecomcrm.errors import ValidationError
from ecomcrm.metrics._nps import nps_category

_US_PER_HOUR = 3_600_000_000
_US_PER_DAY = 86_400_000_000


def _codes(values: ArrayLike, field: str, entity: str, n: int | None = None) -> NDArray[np.int64]:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValidationError(
            "must be one-dimensional", entity=entity, field=field, value=arr.shape
        )
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise ValidationError(
            "must be integer codes", entity=entity, field=field, value=str(arr.dtype)
        )
    out = arr.astype(np.int64)
    bad = out < 0 if n is None else (out < 0) | (out >= n)
    if bad.any():
        row = int(np.argmax(bad))
        rule = "must not be negative" if n is None else f"must be a code in [0, {n})"
        raise ValidationError(rule, entity=entity, field=field, value=int(out[row]), row=row)
    return out


def _same_len(n: int, entity: str, **arrays: NDArray[Any]) -> None:
    for name, arr in arrays.items():
        if arr.shape[0] != n:
            raise ValidationError(
                f"must have one value per row ({n})", entity=entity, field=name, value=arr.shape[0]
            )


def _quantity(values: ArrayLike | None, n: int, field: str, entity: str) -> NDArray[np.float64]:
    if values is None:
        return np.ones(n, dtype=np.float64)
    q = np.asarray(values, dtype=np.float64)
    _same_len(n, entity, **{field: q})
    bad = ~(q >= 0)
    if bad.any():
        row = int(np.argmax(bad))
        raise ValidationError(
            "must not be negative", entity=entity, field=field, value=float(q[row]), row=row
        )
    return q


def _times(values: ArrayLike | None, n: int, field: str, entity: str) -> NDArray[np.datetime64]:
    if values is None:
        return np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    t = np.asarray(values).astype("datetime64[us]")
    _same_len(n, entity, **{field: t})
    return t


@attrs.frozen(kw_only=True, eq=False)
class ReturnRates:
    """Units sold and returned per key (product, category or customer), with reasons.

    Attributes:
        sold: Units sold per key.
        returned: Units returned per key.
        rate: ``returned / sold``; NaN where nothing was sold.
        reasons: ``(n_keys, n_reasons)`` units returned per reason code.
        reason_share: ``reasons / returned`` row-wise; NaN where nothing was returned.
        overall_rate: All units returned / all units sold (NaN when nothing was sold).

    Example:
        >>> r = return_rates([0, 0, 1], [2, 2, 5], [0], [1], reason=[1], n_keys=2, n_reasons=2)
        >>> r.rate.tolist(), r.reasons.tolist()
        ([0.25, 0.0], [[0.0, 1.0], [0.0, 0.0]])
    """

    sold: NDArray[np.float64]
    returned: NDArray[np.float64]
    rate: NDArray[np.float64]
    reasons: NDArray[np.float64]
    reason_share: NDArray[np.float64]
    overall_rate: float


def return_rates(
    sold_key: ArrayLike,
    sold_quantity: ArrayLike | None,
    returned_key: ArrayLike,
    returned_quantity: ArrayLike | None,
    *,
    reason: ArrayLike | None = None,
    n_keys: int | None = None,
    n_reasons: int | None = None,
) -> ReturnRates:
    """Return rate and reasons breakdown per key (product, category, customer...).

    Args:
        sold_key: Key code of each sold line.
        sold_quantity: Units per sold line (1 when None).
        returned_key: Key code of each returned line.
        returned_quantity: Units per returned line (1 when None).
        reason: Reason code of each returned line (one reason 0 when None).
        n_keys: Number of keys (default: largest code + 1).
        n_reasons: Number of reason codes (default: largest code + 1).

    Example:
        >>> r = return_rates([0, 1, 1], None, [1, 1], None, reason=[0, 2])
        >>> r.rate.tolist(), r.reason_share[1].tolist(), r.overall_rate
        ([0.0, 1.0], [0.5, 0.0, 0.5], 0.6666666666666666)
    """
    sk = _codes(sold_key, "key", "SoldLine", n_keys)
    rk = _codes(returned_key, "key", "ReturnLine", n_keys)
    sq = _quantity(sold_quantity, sk.size, "quantity", "SoldLine")
    rq = _quantity(returned_quantity, rk.size, "quantity", "ReturnLine")
    rr = (
        np.zeros(rk.size, dtype=np.int64)
        if reason is None
        else _codes(reason, "reason", "ReturnLine", n_reasons)
    )
    _same_len(rk.size, "ReturnLine", reason=rr)
    n = int(n_keys) if n_keys is not None else int(max(sk.max(initial=-1), rk.max(initial=-1)) + 1)
    nr = int(n_reasons) if n_reasons is not None else int(rr.max(initial=0) + 1)
    sold = np.bincount(sk, weights=sq, minlength=n).astype(np.float64)
    returned = np.bincount(rk, weights=rq, minlength=n).astype(np.float64)
    reasons = (
        np.bincount(rk * nr + rr, weights=rq, minlength=n * nr).astype(np.float64).reshape(n, nr)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(sold > 0, returned / sold, np.nan)
        share = np.where(returned[:, None] > 0, reasons / returned[:, None], np.nan)
    total_sold = float(sold.sum())
    overall = float(returned.sum()) / total_sold if total_sold > 0 else float("nan")
    return ReturnRates(
        sold=sold,
        returned=returned,
        rate=rate,
        reasons=reasons,
        reason_share=share,
        overall_rate=overall,
    )


def category_return_rates(
    sold_product: ArrayLike,
    sold_quantity: ArrayLike | None,
    returned_product: ArrayLike,
    returned_quantity: ArrayLike | None,
    *,
    product_category: ArrayLike,
    reason: ArrayLike | None = None,
    n_categories: int | None = None,
    n_reasons: int | None = None,
) -> ReturnRates:
    """Return rates per category, mapping each line's product through ``product_category``.

    Example:
        >>> r = category_return_rates([0, 1, 2], None, [2], None, product_category=[0, 1, 1])
        >>> r.rate.tolist()
        [0.0, 0.5]
    """
    cat = _codes(product_category, "category", "Product")
    sp_ = _codes(sold_product, "product", "SoldLine", cat.size)
    rp = _codes(returned_product, "product", "ReturnLine", cat.size)
    n_cat = n_categories if n_categories is not None else int(cat.max(initial=-1) + 1)
    return return_rates(
        cat[sp_],
        sold_quantity,
        cat[rp],
        returned_quantity,
        reason=reason,
        n_keys=n_cat,
        n_reasons=n_reasons,
    )


def _segment(
    segment: ArrayLike | None, n: int, n_segments: int | None
) -> tuple[NDArray[np.int64], int]:
    if segment is None:
        return np.zeros(n, dtype=np.int64), 1
    seg = _codes(segment, "segment", "Ticket", n_segments)
    _same_len(n, "Ticket", segment=seg)
    return seg, int(n_segments) if n_segments is not None else int(seg.max(initial=0) + 1)


def grouped_percentiles(
    values: ArrayLike, group: ArrayLike, n_groups: int, percentiles: Sequence[float]
) -> NDArray[np.float64]:
    """Percentiles of ``values`` per group (linear interpolation, NaN values ignored).

    Vectorized: one sort of (group, value), then index arithmetic per percentile.

    Example:
        >>> grouped_percentiles([1.0, 3.0, 10.0, np.nan], [0, 0, 1, 1], 3, [50]).tolist()
        [[2.0], [10.0], [nan]]
    """
    v = np.asarray(values, dtype=np.float64)
    g = np.asarray(group, dtype=np.int64)
    ok = ~np.isnan(v)
    v, g = v[ok], g[ok]
    order = np.lexsort((v, g))
    v, g = v[order], g[order]
    counts = np.bincount(g, minlength=n_groups)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    out = np.full((n_groups, len(percentiles)), np.nan)
    has = counts > 0
    for j, q in enumerate(percentiles):  # a handful of percentiles
        if not 0 <= q <= 100:
            raise ValidationError(
                "must be within [0, 100]", entity="percentiles", field="q", value=q
            )
        pos = (counts[has] - 1) * (q / 100.0)
        lo = np.floor(pos).astype(np.int64)
        hi = np.ceil(pos).astype(np.int64)
        frac = pos - lo
        a = v[start[has] + lo]
        b = v[start[has] + hi]
        out[has, j] = a + (b - a) * frac
    return out


@attrs.frozen(kw_only=True, eq=False)
class TicketStats:
    """Support ticket figures per segment (arrays indexed by segment code).

    Attributes:
        percentiles: The percentiles reported (columns of the time arrays).
        volume: Tickets opened.
        open: Tickets still open at ``now``.
        unanswered: Tickets without a first response yet.
        first_response_hours: ``(n_segments, len(percentiles))`` hours to first response.
        resolution_hours: ``(n_segments, len(percentiles))`` hours from opening to closing.
        csat_responses: Tickets with a satisfaction rating.
        csat_mean: Mean rating (NaN without ratings).
        csat: Share of ratings in the top two points of the scale (4-5 of 5), in percent.

    Example:
        >>> ts = ticket_stats(opened_at=["2024-01-01T00"], first_response_at=["2024-01-01T02"],
        ...                   closed_at=["2024-01-02T00"], csat=[5], now="2024-02-01")
        >>> ts.first_response_hours.tolist(), float(ts.resolution_hours[0, 0]), ts.csat.tolist()
        ([[2.0, 2.0]], 24.0, [100.0])
    """

    percentiles: tuple[float, ...]
    volume: NDArray[np.int64]
    open: NDArray[np.int64]
    unanswered: NDArray[np.int64]
    first_response_hours: NDArray[np.float64]
    resolution_hours: NDArray[np.float64]
    csat_responses: NDArray[np.int64]
    csat_mean: NDArray[np.float64]
    csat: NDArray[np.float64]


def ticket_stats(
    *,
    opened_at: ArrayLike,
    now: Any,
    first_response_at: ArrayLike | None = None,
    closed_at: ArrayLike | None = None,
    csat: ArrayLike | None = None,
    segment: ArrayLike | None = None,
    n_segments: int | None = None,
    percentiles: Sequence[float] = (50.0, 90.0),
    csat_scale: int = 5,
) -> TicketStats:
    """Ticket volume, first-response and resolution time percentiles and CSAT per segment.

    Args:
        opened_at: When each ticket was opened.
        now: The time of the report (tickets opened later are ignored).
        first_response_at: First agent response per ticket (NaT: none yet).
        closed_at: Closing time per ticket (NaT: still open).
        csat: Satisfaction rating 1..``csat_scale`` per ticket (NaN: not rated).
        segment: Segment code per ticket (e.g. the customer's segment).
        n_segments: Number of segments.
        percentiles: Percentiles of the time distributions.
        csat_scale: Top of the rating scale; the top two points count as satisfied.

    Raises:
        ValidationError: A response or close before the opening, a rating off the scale.

    Example:
        >>> ts = ticket_stats(opened_at=["2024-01-01", "2024-01-01"], closed_at=["2024-01-03", "NaT"],
        ...                   segment=[0, 1], now="2024-01-05", percentiles=[50])
        >>> ts.volume.tolist(), ts.open.tolist(), ts.resolution_hours.tolist()
        ([1, 1], [0, 1], [[48.0], [nan]])
    """
    t_now = np.datetime64(now, "us")
    opened = np.asarray(opened_at).astype("datetime64[us]")
    n = opened.size
    if np.isnat(opened).any():
        row = int(np.argmax(np.isnat(opened)))
        raise ValidationError(
            "must not be missing", entity="Ticket", field="opened_at", value="NaT", row=row
        )
    first = _times(first_response_at, n, "first_response_at", "Ticket")
    closed = _times(closed_at, n, "closed_at", "Ticket")
    for name, t in (("first_response_at", first), ("closed_at", closed)):
        bad = ~np.isnat(t) & (t < opened)
        if bad.any():
            row = int(np.argmax(bad))
            raise ValidationError(
                "is before opened_at", entity="Ticket", field=name, value=str(t[row]), row=row
            )
    seg, n_seg = _segment(segment, n, n_segments)
    rating = np.full(n, np.nan) if csat is None else np.asarray(csat, dtype=np.float64)
    _same_len(n, "Ticket", csat=rating)
    bad = ~np.isnan(rating) & ((rating < 1) | (rating > csat_scale))
    if bad.any():
        row = int(np.argmax(bad))
        raise ValidationError(
            f"must be within 1..{csat_scale}",
            entity="Ticket",
            field="csat",
            value=float(rating[row]),
            row=row,
        )
    live = opened <= t_now
    seg_l = seg[live]
    first_l = np.where(first[live] <= t_now, first[live], np.datetime64("NaT"))
    closed_l = np.where(closed[live] <= t_now, closed[live], np.datetime64("NaT"))
    opened_l = opened[live]
    volume = np.bincount(seg_l, minlength=n_seg)
    is_open = np.isnat(closed_l)
    no_resp = np.isnat(first_l)
    hours_first = np.where(no_resp, np.nan, (first_l - opened_l).astype(np.int64) / _US_PER_HOUR)
    hours_res = np.where(is_open, np.nan, (closed_l - opened_l).astype(np.int64) / _US_PER_HOUR)
    pct = tuple(float(q) for q in percentiles)
    r = rating[live]
    rated = ~np.isnan(r)
    n_rated = np.bincount(seg_l[rated], minlength=n_seg)
    total = np.bincount(seg_l[rated], weights=r[rated], minlength=n_seg)
    happy = np.bincount(
        seg_l[rated], weights=(r[rated] >= csat_scale - 1).astype(np.float64), minlength=n_seg
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n_rated > 0, total / n_rated, np.nan)
        share = np.where(n_rated > 0, 100.0 * happy / n_rated, np.nan)
    return TicketStats(
        percentiles=pct,
        volume=volume.astype(np.int64),
        open=np.bincount(seg_l[is_open], minlength=n_seg).astype(np.int64),
        unanswered=np.bincount(seg_l[no_resp], minlength=n_seg).astype(np.int64),
        first_response_hours=grouped_percentiles(hours_first, seg_l, n_seg, pct),
        resolution_hours=grouped_percentiles(hours_res, seg_l, n_seg, pct),
        csat_responses=n_rated.astype(np.int64),
        csat_mean=mean,
        csat=share,
    )


@attrs.frozen(kw_only=True, eq=False)
class SegmentNPS:
    """Net Promoter Score per segment (promoters 9-10, detractors 0-6).

    Attributes:
        nps: ``100 * (promoters - detractors) / responses``; NaN without responses.
        promoters: Count of 9-10 scores.
        passives: Count of 7-8 scores.
        detractors: Count of 0-6 scores.
        responses: Count of scores.

    Example:
        >>> nps_by_segment([10, 9, 3, 8], [0, 0, 0, 1]).nps.round(2).tolist()
        [33.33, 0.0]
    """

    nps: NDArray[np.float64]
    promoters: NDArray[np.int64]
    passives: NDArray[np.int64]
    detractors: NDArray[np.int64]
    responses: NDArray[np.int64]


def nps_by_segment(
    score: ArrayLike, segment: ArrayLike | None = None, n_segments: int | None = None
) -> SegmentNPS:
    """NPS by segment from 0-10 survey scores (NaN scores are skipped).

    Example:
        >>> nps_by_segment([10, 0]).nps.tolist()
        [0.0]
    """
    s = np.asarray(score, dtype=np.float64)
    bad = ~np.isnan(s) & ((s < 0) | (s > 10) | (s != np.round(s)))
    if bad.any():
        row = int(np.argmax(bad))
        raise ValidationError(
            "must be a whole number 0..10",
            entity="Survey",
            field="score",
            value=float(s[row]),
            row=row,
        )
    seg, n_seg = _segment(segment, s.size, n_segments)
    ok = ~np.isnan(s)
    s, seg = s[ok], seg[ok]
    counts = np.bincount(seg * 3 + nps_category(s), minlength=3 * n_seg).reshape(n_seg, 3)
    det, pas, pro = counts[:, 0], counts[:, 1], counts[:, 2]
    n = pro + pas + det
    with np.errstate(divide="ignore", invalid="ignore"):
        val = np.where(n > 0, 100.0 * (pro - det) / n, np.nan)
    return SegmentNPS(
        nps=val,
        promoters=pro.astype(np.int64),
        passives=pas.astype(np.int64),
        detractors=det.astype(np.int64),
        responses=n.astype(np.int64),
    )


@attrs.frozen(kw_only=True, eq=False)
class ExperienceFlags:
    """Boolean flags per customer for a poor recent experience (for rules and the 360 view).

    Attributes:
        open_ticket: Has a ticket open at ``now``.
        delayed_order: Has an order promised in the window that arrived late or is overdue.
        open_ticket_and_delayed_order: Both of the above.
        returns_in_window: Returns made in the window.
        repeated_returns: ``returns_in_window >= min_returns``.
        poor_experience: ``open_ticket_and_delayed_order | repeated_returns``.

    Example:
        >>> f = experience_flags(2, now="2024-01-10", return_customer=[1, 1], return_at=["2024-01-05"] * 2)
        >>> f.repeated_returns.tolist(), f.poor_experience.tolist()
        ([False, True], [False, True])
    """

    open_ticket: NDArray[np.bool_]
    delayed_order: NDArray[np.bool_]
    open_ticket_and_delayed_order: NDArray[np.bool_]
    returns_in_window: NDArray[np.int64]
    repeated_returns: NDArray[np.bool_]
    poor_experience: NDArray[np.bool_]


def experience_flags(
    n_customers: int,
    *,
    now: Any,
    ticket_customer: ArrayLike | None = None,
    ticket_opened_at: ArrayLike | None = None,
    ticket_closed_at: ArrayLike | None = None,
    order_customer: ArrayLike | None = None,
    order_promised_at: ArrayLike | None = None,
    order_delivered_at: ArrayLike | None = None,
    return_customer: ArrayLike | None = None,
    return_at: ArrayLike | None = None,
    window_days: int = 30,
    min_returns: int = 2,
) -> ExperienceFlags:
    """Flag customers whose recent experience is poor.

    An order is delayed when it was promised within the last ``window_days`` and was
    delivered after the promise, or is still undelivered after it. A ticket is open when
    opened by ``now`` and not closed by then.

    Args:
        n_customers: Number of customer codes.
        now: The time of evaluation.
        ticket_customer: Customer code per ticket.
        ticket_opened_at: Opening time per ticket.
        ticket_closed_at: Closing time per ticket (NaT: open).
        order_customer: Customer code per order.
        order_promised_at: Promised delivery time per order.
        order_delivered_at: Delivery time per order (NaT: not delivered).
        return_customer: Customer code per return.
        return_at: Time of each return.
        window_days: The "recent" window.
        min_returns: Returns in the window that make "repeated returns".

    Example:
        >>> f = experience_flags(2, now="2024-01-10", ticket_customer=[0], ticket_opened_at=["2024-01-08"],
        ...                      order_customer=[0, 1], order_promised_at=["2024-01-05", "2024-01-05"],
        ...                      order_delivered_at=["NaT", "2024-01-04"])
        >>> f.open_ticket_and_delayed_order.tolist()
        [True, False]
    """
    t_now = np.datetime64(now, "us")
    window: Any = np.timedelta64(window_days * _US_PER_DAY, "us")
    if min_returns < 1:
        raise ValidationError(
            "must be >= 1", entity="experience_flags", field="min_returns", value=min_returns
        )
    open_ticket = np.zeros(n_customers, dtype=np.bool_)
    if ticket_customer is not None:
        tc = _codes(ticket_customer, "customer", "Ticket", n_customers)
        if ticket_opened_at is None:
            raise ValidationError("needed with ticket_customer", entity="Ticket", field="opened_at")
        to = _times(ticket_opened_at, tc.size, "opened_at", "Ticket")
        tcl = _times(ticket_closed_at, tc.size, "closed_at", "Ticket")
        is_open = (to <= t_now) & (np.isnat(tcl) | (tcl > t_now))
        open_ticket[tc[is_open]] = True
    delayed = np.zeros(n_customers, dtype=np.bool_)
    if order_customer is not None:
        oc = _codes(order_customer, "customer", "Order", n_customers)
        if order_promised_at is None:
            raise ValidationError("needed with order_customer", entity="Order", field="promised_at")
        prom = _times(order_promised_at, oc.size, "promised_at", "Order")
        dlv = _times(order_delivered_at, oc.size, "delivered_at", "Order")
        recent = ~np.isnat(prom) & (prom > t_now - window) & (prom <= t_now)
        late = np.where(np.isnat(dlv), True, dlv > prom)
        delayed[oc[recent & late]] = True
    counts = np.zeros(n_customers, dtype=np.int64)
    if return_customer is not None:
        rc = _codes(return_customer, "customer", "Return", n_customers)
        if return_at is None:
            raise ValidationError("needed with return_customer", entity="Return", field="at")
        rat = _times(return_at, rc.size, "at", "Return")
        inside = (rat > t_now - window) & (rat <= t_now)
        counts = np.bincount(rc[inside], minlength=n_customers).astype(np.int64)
    both = open_ticket & delayed
    repeated = counts >= min_returns
    return ExperienceFlags(
        open_ticket=open_ticket,
        delayed_order=delayed,
        open_ticket_and_delayed_order=both,
        returns_in_window=counts,
        repeated_returns=repeated,
        poor_experience=both | repeated,
    )


def ticket_counts(
    ticket_customer: ArrayLike,
    n_customers: int,
    *,
    opened_at: ArrayLike | None = None,
    since: Any = None,
) -> NDArray[np.int64]:
    """Tickets per customer, optionally only those opened at or after ``since``.

    Example:
        >>> ticket_counts([0, 2, 2], 3).tolist()
        [1, 0, 2]
    """
    tc = _codes(ticket_customer, "customer", "Ticket", n_customers)
    if since is not None:
        if opened_at is None:
            raise ValidationError("needed with since", entity="Ticket", field="opened_at")
        to = _times(opened_at, tc.size, "opened_at", "Ticket")
        tc = tc[to >= np.datetime64(since, "us")]
    return np.bincount(tc, minlength=n_customers).astype(np.int64)
