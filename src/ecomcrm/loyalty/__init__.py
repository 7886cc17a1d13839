"""Loyalty programs: points, tiers, redemption and expiry over an append-only ledger.

- :class:`LoyaltyProgram` / :class:`Tier` -- the rules, JSON round-trippable.
- Array level: :class:`Ledger`, :func:`loyalty_status` (balances, expiring points, tiers
  and progress for every customer at once), :func:`tier_history`, :func:`fifo_expiry`.
- Entry level (pure): :func:`earn_for_order`, :func:`earn_for_event`,
  :func:`clawback_for_refund`, :func:`redeem_entries`, :func:`expiry_entries` return the
  :class:`~ecomcrm.domain.LoyaltyEntry` objects to append, keyed for idempotency.
- :class:`LoyaltyService` applies them to any :class:`LedgerWriter` (the store's loyalty
  repository, or :class:`MemoryLedger`).

Example:
    >>> from datetime import datetime, timezone
    >>> from ecomcrm.loyalty import LoyaltyProgram, LoyaltyService, MemoryLedger, Tier
    >>> program = LoyaltyProgram(currency="EUR", tiers=(Tier(name="member", threshold=0),
    ...                                                Tier(name="gold", threshold=500, multiplier=2)))
    >>> svc = LoyaltyService(program, MemoryLedger())
    >>> t = datetime(2024, 5, 1, tzinfo=timezone.utc)
    >>> _ = svc.record_order_amount("1001", "c1", "600.00", "EUR", t)
    >>> svc.status("c1", now=t).tier
    'gold'
"""

from ecomcrm.loyalty._bulk import (
    KIND_CODES,
    Ledger,
    LoyaltyStatus,
    TierHistory,
    fifo_expiry,
    loyalty_status,
    tier_history,
    tier_periods,
)
from ecomcrm.loyalty._entries import (
    Clawback,
    CustomerLoyalty,
    clawback_for_refund,
    customer_status,
    earn_for_event,
    earn_for_order,
    event_key,
    expiry_entries,
    ledger_from_entries,
    order_key,
    order_points,
    redeem_entries,
    redemption_value,
    refund_key,
    to_program_currency,
)
from ecomcrm.loyalty._ledger import LedgerWriter, LoyaltyService, MemoryLedger
from ecomcrm.loyalty._program import LoyaltyProgram, Tier

__all__ = [
    "KIND_CODES",
    "Clawback",
    "CustomerLoyalty",
    "Ledger",
    "LedgerWriter",
    "LoyaltyProgram",
    "LoyaltyService",
    "LoyaltyStatus",
    "MemoryLedger",
    "Tier",
    "TierHistory",
    "clawback_for_refund",
    "customer_status",
    "earn_for_event",
    "earn_for_order",
    "event_key",
    "expiry_entries",
    "fifo_expiry",
    "ledger_from_entries",
    "loyalty_status",
    "order_key",
    "order_points",
    "redeem_entries",
    "redemption_value",
    "refund_key",
    "tier_history",
    "tier_periods",
    "to_program_currency",
]
