"""Consent ledger rules: the current decision per channel and purpose."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ecomcrm.domain import (
    Channel,
    Consent,
    Purpose,
)

if TYPE_CHECKING:
    pass


def consent_key(channel: Channel | str, purpose: Purpose | str) -> str:
    """``"channel:purpose"``, the key of the customer table's consent columns.

    Example:
        >>> consent_key("email", "marketing")
        'email:marketing'
    """
    return f"{Channel(channel).value}:{Purpose(purpose).value}"


def latest_consents(history: Iterable[Consent]) -> dict[tuple[Channel, Purpose], Consent]:
    """The latest purpose-wide decision per (channel, purpose) of a history in ledger order.

    Decisions about one topic (``Consent.topic`` set) are left out: they decide only that
    topic (``ecomcrm.domain.current_decision``), never the purpose as a whole. ``history`` must be ordered by ``at`` then insertion (as ``ConsentRepository.history``
    returns it); on equal ``at`` the last recorded decision wins.

    Example:
        >>> from datetime import datetime, timezone
        >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
        >>> h = [Consent(customer_id="c", channel="email", purpose="marketing", granted=g, at=t)
        ...      for g in (True, False)]
        >>> latest_consents(h)[(Channel.EMAIL, Purpose.MARKETING)].granted
        False
    """
    current: dict[tuple[Channel, Purpose], Consent] = {}
    for consent in sorted(history, key=lambda c: c.at):
        if consent.topic is not None:
            continue
        current[(consent.channel, consent.purpose)] = consent
    return current
