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
    """The latest decision per (channel, purpose) of a history in ledger order.

    ``history`` must be ordered by ``at`` then insertion (as ``ConsentRepository.history``
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
        current[(consent.channel, consent.purpose)] = consent
    return current
