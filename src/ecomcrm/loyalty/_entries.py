"""Pure functions that produce the ledger entries to append, with idempotency keys."""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

import attrs
import numpy as np

from ecomcrm.domain import LoyaltyEntry, LoyaltyKind
from ecomcrm.errors import ValidationError
from ecomcrm.loyalty._bulk import (
    KIND_CODES,
    Ledger,
    LoyaltyStatus,
    fifo_expiry,
    loyalty_status,
)
from ecomcrm.loyalty._program import LoyaltyProgram
from ecomcrm.storage.toolkit import from_micros


def order_key(order_id: str) -> str:
    """Idempotency key of the points earned on an order.

    Example:
        >>> order_key("1001")
        'order:1001:earn'
    """
    return f"order:{order_id}:earn"


def refund_key(order_id: str, refund_id: str) -> str:
    """Idempotency key of the clawback for one refund of an order.

    Example:
        >>> refund_key("1001", "r1")
        'order:1001:refund:r1'
    """
    return f"order:{order_id}:refund:{refund_id}"


def event_key(event_type: str, event_id: str) -> str:
    """Idempotency key of the points for an event.

    Example:
        >>> event_key("review_written", "rv9")
        'event:review_written:rv9'
    """
    return f"event:{event_type}:{event_id}"


def _utc(at: datetime, field: str) -> datetime:
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise ValidationError(
            "must be a timezone-aware datetime", entity="LoyaltyEntry", field=field, value=at
        )
    return at.astimezone(UTC)


def _np_time(at: datetime) -> np.datetime64:
    return np.datetime64(at.astimezone(UTC).replace(tzinfo=None), "us")


def _expires(program: LoyaltyProgram, at: datetime) -> datetime | None:
    return None if program.expiry_days is None else at + timedelta(days=program.expiry_days)


def to_program_currency(
    program: LoyaltyProgram,
    amount: Decimal | float | str,
    currency: str,
    conversion: Mapping[str, float | Decimal] | None = None,
) -> Decimal:
    """An amount in the program's currency; other currencies need ``conversion``.

    Args:
        program: The program (gives the currency).
        amount: The amount.
        currency: Its ISO code.
        conversion: Rate converting one unit of a currency into the program currency.

    Raises:
        ValidationError: A foreign currency without a rate.

    Example:
        >>> p = LoyaltyProgram(currency="EUR")
        >>> to_program_currency(p, "10.00", "USD", {"USD": "0.9"})
        Decimal('9.000')
    """
    value = Decimal(str(amount))
    if currency == program.currency:
        return value
    if conversion is None or currency not in conversion:
        raise ValidationError(
            f"is not the program currency {program.currency}; pass conversion="
            f"{{{currency!r}: rate}} to convert",
            entity="Order",
            field="currency",
            value=currency,
        )
    return value * Decimal(str(conversion[currency]))


def order_points(
    program: LoyaltyProgram,
    amount: Decimal | float | str,
    currency: str,
    *,
    tier: str | None = None,
    conversion: Mapping[str, float | Decimal] | None = None,
) -> int:
    """Points an order earns: ``floor(amount * points_per_unit * tier multiplier)``.

    Example:
        >>> from ecomcrm.loyalty import Tier
        >>> p = LoyaltyProgram(currency="EUR", tiers=(Tier(name="m", threshold=0),
        ...                                          Tier(name="gold", threshold=100, multiplier=1.5)))
        >>> order_points(p, "39.80", "EUR"), order_points(p, "39.80", "EUR", tier="gold")
        (39, 59)
    """
    value = to_program_currency(program, amount, currency, conversion)
    if value < 0:
        raise ValidationError(
            "must not be negative", entity="Order", field="total", value=str(value)
        )
    mult = Decimal(str(program.tiers[program.tier_index(tier)].multiplier))
    raw = value * Decimal(str(program.points_per_unit)) * mult
    return int(raw.to_integral_value(rounding=ROUND_FLOOR))


def earn_for_order(
    program: LoyaltyProgram,
    *,
    order_id: str,
    customer_id: str,
    amount: Decimal | float | str,
    currency: str,
    at: datetime,
    existing: Container[str] = frozenset(),
    tier: str | None = None,
    conversion: Mapping[str, float | Decimal] | None = None,
) -> list[LoyaltyEntry]:
    """The entries to append for an order: one earn entry, or none when already recorded.

    The entry's id is ``"order:<order_id>:earn"``; when it is in ``existing`` (the keys
    already in the ledger) nothing is returned, so replaying an order never awards twice.

    Example:
        >>> from datetime import datetime, timezone
        >>> t = datetime(2024, 5, 1, tzinfo=timezone.utc)
        >>> p = LoyaltyProgram(currency="EUR")
        >>> [e.points for e in earn_for_order(p, order_id="1001", customer_id="c1", amount="39.80",
        ...                                    currency="EUR", at=t)]
        [39]
        >>> earn_for_order(p, order_id="1001", customer_id="c1", amount="39.80", currency="EUR",
        ...                at=t, existing={"order:1001:earn"})
        []
    """
    at = _utc(at, "at")
    key = order_key(order_id)
    if key in existing:
        return []
    pts = order_points(program, amount, currency, tier=tier, conversion=conversion)
    if pts <= 0:
        return []
    return [
        LoyaltyEntry(
            id=key,
            customer_id=customer_id,
            kind=LoyaltyKind.EARN,
            points=pts,
            at=at,
            expires_at=_expires(program, at),
            source=f"order:{order_id}",
            description=f"order {order_id}",
        )
    ]


def earn_for_event(
    program: LoyaltyProgram,
    *,
    event_type: str,
    event_id: str,
    customer_id: str,
    at: datetime,
    existing: Container[str] = frozenset(),
) -> list[LoyaltyEntry]:
    """The entries to append for an event that earns points (review, referral, ...).

    Raises:
        ValidationError: An event type the program does not reward.

    Example:
        >>> from datetime import datetime, timezone
        >>> p = LoyaltyProgram(event_points={"review_written": 50})
        >>> e = earn_for_event(p, event_type="review_written", event_id="rv1", customer_id="c1",
        ...                    at=datetime(2024, 5, 1, tzinfo=timezone.utc))
        >>> e[0].id, e[0].points
        ('event:review_written:rv1', 50)
    """
    at = _utc(at, "at")
    if event_type not in program.event_points:
        known = ", ".join(program.event_points) or "none"
        raise ValidationError(
            f"earns no points in this program (rewarded events: {known})",
            entity="Event",
            field="type",
            value=event_type,
        )
    key = event_key(event_type, event_id)
    if key in existing:
        return []
    return [
        LoyaltyEntry(
            id=key,
            customer_id=customer_id,
            kind=LoyaltyKind.EARN,
            points=int(program.event_points[event_type]),
            at=at,
            expires_at=_expires(program, at),
            source=f"event:{event_id}",
            description=event_type,
        )
    ]


def ledger_from_entries(
    entries: Sequence[LoyaltyEntry], customer_ids: Sequence[str] | None = None
) -> tuple[Ledger, list[str]]:
    """Ledger arrays from entry objects, with the customer id of each code.

    Example:
        >>> from datetime import datetime, timezone
        >>> t = datetime(2024, 5, 1, tzinfo=timezone.utc)
        >>> led, ids = ledger_from_entries([LoyaltyEntry(id="k", customer_id="c1", kind="earn", points=5, at=t)])
        >>> ids, led.points.tolist()
        (['c1'], [5])
    """
    ids = (
        list(customer_ids) if customer_ids is not None else sorted({e.customer_id for e in entries})
    )
    code = {cid: i for i, cid in enumerate(ids)}
    led = Ledger.from_arrays(
        customer=np.array([code[e.customer_id] for e in entries], dtype=np.int64),
        at=np.array([_np_time(e.at) for e in entries], dtype="datetime64[us]"),
        kind=np.array([KIND_CODES[str(LoyaltyKind(e.kind).value)] for e in entries], dtype=np.int8),
        points=np.array([e.points for e in entries], dtype=np.int64),
        n_customers=len(ids),
    )
    return led, ids


@attrs.frozen(kw_only=True)
class CustomerLoyalty:
    """One customer's loyalty figures (see :class:`LoyaltyStatus` for the meanings).

    Example:
        >>> CustomerLoyalty(balance=10, expiring_soon=0, due_expiry=0, tier="member",
        ...                 next_tier=None, points_to_next_tier=0, progress=1.0,
        ...                 qualifying_points=10).tier
        'member'
    """

    balance: int
    expiring_soon: int
    due_expiry: int
    tier: str
    next_tier: str | None
    points_to_next_tier: int
    progress: float
    qualifying_points: int


def customer_status(
    program: LoyaltyProgram,
    entries: Sequence[LoyaltyEntry],
    *,
    now: datetime,
    expiring_within_days: int = 30,
) -> CustomerLoyalty:
    """Loyalty figures of one customer from their entries (same rules as the bulk path).

    Example:
        >>> from datetime import datetime, timezone
        >>> t = datetime(2024, 5, 1, tzinfo=timezone.utc)
        >>> e = [LoyaltyEntry(id="k", customer_id="c1", kind="earn", points=5, at=t)]
        >>> customer_status(LoyaltyProgram(), e, now=t).balance
        5
    """
    now = _utc(now, "now")
    ids = sorted({e.customer_id for e in entries})
    if len(ids) > 1:
        raise ValidationError(
            "entries of several customers", entity="LoyaltyEntry", field="customer_id", value=ids
        )
    led, _ = ledger_from_entries(entries, ids or ["?"])
    st: LoyaltyStatus = loyalty_status(
        program, led, now=_np_time(now), expiring_within_days=expiring_within_days
    )
    names = program.tier_names
    nxt = int(st.next_tier[0])
    return CustomerLoyalty(
        balance=int(st.balance[0]),
        expiring_soon=int(st.expiring_soon[0]),
        due_expiry=int(st.due_expiry[0]),
        tier=names[int(st.tier[0])],
        next_tier=None if nxt < 0 else names[nxt],
        points_to_next_tier=int(st.points_to_next_tier[0]),
        progress=float(st.progress[0]),
        qualifying_points=int(st.qualifying_points[0]),
    )


def redeem_entries(
    program: LoyaltyProgram,
    *,
    customer_id: str,
    points: int,
    at: datetime,
    key: str,
    balance: int,
    existing: Container[str] = frozenset(),
) -> list[LoyaltyEntry]:
    """The entry to append for a redemption; ValidationError beyond the balance.

    Args:
        program: The program (gives ``min_redemption``).
        customer_id: The customer.
        points: Points to redeem (positive).
        at: When.
        key: Idempotency key chosen by the caller, e.g. ``"redeem:<cart id>"``.
        balance: The customer's current balance (see :func:`customer_status`).
        existing: Keys already in the ledger (a replay returns nothing).

    Example:
        >>> from datetime import datetime, timezone
        >>> t = datetime(2024, 5, 1, tzinfo=timezone.utc)
        >>> redeem_entries(LoyaltyProgram(), customer_id="c1", points=30, at=t, key="redeem:x",
        ...                balance=50)[0].points
        -30
    """
    at = _utc(at, "at")
    if key in existing:
        return []
    if not isinstance(points, int) or isinstance(points, bool) or points < program.min_redemption:
        raise ValidationError(
            f"must be a whole number of at least {program.min_redemption}",
            entity="Redemption",
            field="points",
            value=points,
        )
    if points > balance:
        raise ValidationError(
            f"exceeds the balance of {balance} points",
            entity="Redemption",
            field="points",
            value=points,
        )
    return [
        LoyaltyEntry(
            id=key,
            customer_id=customer_id,
            kind=LoyaltyKind.REDEEM,
            points=-points,
            at=at,
            source=key,
            description=f"redeemed {points} points",
        )
    ]


def redemption_value(program: LoyaltyProgram, points: int) -> Decimal:
    """Currency value of redeeming ``points`` (rounded to cents).

    Example:
        >>> redemption_value(LoyaltyProgram(redemption_value=0.01), 250)
        Decimal('2.50')
    """
    raw = Decimal(points) * Decimal(str(program.redemption_value))
    return raw.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@attrs.frozen(kw_only=True)
class Clawback:
    """What a refund takes back from the points its order earned.

    Attributes:
        entries: The entries to append (empty when nothing can or need be taken).
        requested: Points the refund should take back (proportional to the refunded share).
        applied: Points actually taken (capped by the balance).
        shortfall: ``requested - applied``; also written in the entry's description.

    Example:
        >>> Clawback(entries=(), requested=10, applied=8, shortfall=2).shortfall
        2
    """

    entries: tuple[LoyaltyEntry, ...]
    requested: int
    applied: int
    shortfall: int


def clawback_for_refund(
    program: LoyaltyProgram,
    *,
    order_id: str,
    refund_id: str,
    order_amount: Decimal | float | str,
    refund_amount: Decimal | float | str,
    at: datetime,
    entries: Sequence[LoyaltyEntry],
) -> Clawback:
    """Take back, proportionally, the points an order earned when (part of) it is refunded.

    ``requested = round(earned * refund_amount / order_amount)``, limited so that all
    clawbacks of the order never exceed what it earned, then capped by the customer's
    balance so it never goes negative; the rest is the shortfall. Amounts are in the
    order's currency (only the ratio matters). The entry is an ``adjust`` with id
    ``"order:<order_id>:refund:<refund_id>"``; a replay returns nothing.

    Args:
        program: The program.
        order_id: The refunded order.
        refund_id: The refund (one order may have several).
        order_amount: The order's total.
        refund_amount: The amount refunded now.
        at: When.
        entries: The customer's ledger entries.

    Example:
        >>> from datetime import datetime, timezone
        >>> t = datetime(2024, 5, 1, tzinfo=timezone.utc)
        >>> p = LoyaltyProgram(currency="EUR")
        >>> led = earn_for_order(p, order_id="1", customer_id="c1", amount="100", currency="EUR", at=t)
        >>> cb = clawback_for_refund(p, order_id="1", refund_id="r1", order_amount="100",
        ...                          refund_amount="25", at=t, entries=led)
        >>> cb.applied, cb.entries[0].points, cb.entries[0].kind.value
        (25, -25, 'adjust')
    """
    at = _utc(at, "at")
    key = refund_key(order_id, refund_id)
    ids = {e.id for e in entries}
    customers = sorted({e.customer_id for e in entries})
    if key in ids:
        return Clawback(entries=(), requested=0, applied=0, shortfall=0)
    total = Decimal(str(order_amount))
    part = Decimal(str(refund_amount))
    if not total > 0:
        raise ValidationError("must be positive", entity="Order", field="total", value=str(total))
    if part < 0 or part > total:
        raise ValidationError(
            f"must be between 0 and the order total {total}",
            entity="Refund",
            field="amount",
            value=str(part),
        )
    earned = sum(e.points for e in entries if e.id == order_key(order_id))
    if earned <= 0:
        return Clawback(entries=(), requested=0, applied=0, shortfall=0)
    prefix = f"order:{order_id}:refund:"
    taken = -sum(e.points for e in entries if e.id.startswith(prefix))
    noted = sum(_noted_shortfall(e.description) for e in entries if e.id.startswith(prefix))
    want = int((Decimal(earned) * part / total).to_integral_value(rounding=ROUND_HALF_UP))
    want = max(0, min(want, earned - taken - noted))
    now = _np_time(at)
    led, _ = ledger_from_entries(entries, customers or ["?"])
    bal = int(loyalty_status(program, led, now=now).balance[0]) if entries else 0
    applied = min(want, max(bal, 0))
    short = want - applied
    out: tuple[LoyaltyEntry, ...] = ()
    if applied > 0:
        desc = f"refund {refund_id} of order {order_id}: clawback {applied} of {want} points"
        if short:
            desc += f"; shortfall {short}"
        out = (
            LoyaltyEntry(
                id=key,
                customer_id=customers[0],
                kind=LoyaltyKind.ADJUST,
                points=-applied,
                at=at,
                source=f"order:{order_id}",
                description=desc,
            ),
        )
    return Clawback(entries=out, requested=want, applied=applied, shortfall=short)


def _noted_shortfall(description: str) -> int:
    marker = "; shortfall "
    if marker not in description:
        return 0
    tail = description.rsplit(marker, 1)[1]
    return int(tail) if tail.isdigit() else 0


def expiry_entries(
    program: LoyaltyProgram, entries: Sequence[LoyaltyEntry], *, now: datetime
) -> list[LoyaltyEntry]:
    """The expire entries now due for one customer, one per lot (FIFO), with ids ``"expire:<lot id>"``.

    Each is dated at its lot's expiry time; lots already expired in the ledger are skipped.

    Example:
        >>> from datetime import datetime, timezone
        >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
        >>> p = LoyaltyProgram(expiry_days=30)
        >>> led = earn_for_order(p, order_id="1", customer_id="c1", amount="100", currency="USD", at=t)
        >>> [(e.id, e.points) for e in expiry_entries(p, led, now=datetime(2024, 3, 1, tzinfo=timezone.utc))]
        [('expire:order:1:earn', -100)]
    """
    now = _utc(now, "now")
    if program.expiry_days is None or not entries:
        return []
    ids = sorted({e.customer_id for e in entries})
    led, _ = ledger_from_entries(entries, ids)
    lots, _, exp_at, amount = fifo_expiry(program, led, _np_time(now))
    recorded: dict[str, int] = {}
    for e in entries:
        if LoyaltyKind(e.kind) is LoyaltyKind.EXPIRE:
            recorded[e.id] = recorded.get(e.id, 0) - e.points
    out = []
    t_now = _np_time(now)
    for row, when, pts in zip(lots.tolist(), exp_at, amount.tolist(), strict=True):
        lot = entries[row]
        key = f"expire:{lot.id}"
        due = int(pts) - recorded.get(key, 0)
        if when <= t_now and due > 0:
            at = from_micros(int(when.astype(np.int64)))
            out.append(
                LoyaltyEntry(
                    id=key,
                    customer_id=lot.customer_id,
                    kind=LoyaltyKind.EXPIRE,
                    points=-due,
                    at=at,
                    source=lot.id,
                    description=f"expired {due} points earned {lot.at.date().isoformat()}",
                )
            )
    return out
