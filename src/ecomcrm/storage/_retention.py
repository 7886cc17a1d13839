"""Retention policies: how long each class of personal data is kept (GDPR Art. 5(1)(c, e)).

A :class:`RetentionPolicy` names a period per data class; a store with the optional
capability :class:`SupportsRetention` applies it in bulk with
``store.apply_retention(policy, now)`` (the CLI: ``ecomcrm purge``) and returns a
:class:`RetentionReport`. What a period means for each class:

- ``events``: events whose ``at`` is older are deleted. One period for every name, or a
  mapping from event name to period where ``"*"`` covers the names not listed (names
  neither listed nor covered are kept).
- ``messages``: messages whose ``at`` is older are deleted.
- ``tickets``: closed tickets whose ``closed_at`` is older are deleted (open ones stay).
- ``order_personal_fields``: orders placed earlier lose their shipping address and
  discount codes, refunds made earlier their free-text reasons; amounts, dates, lines
  and status stay, so the metrics and models read the same facts.
- ``anonymous_profiles``: profiles never identified (no email, phone or external id)
  created earlier and without an event since are erased as ``erase(keep_order_facts=True)``
  erases (their orders stay as anonymous facts).
- ``consent_history``: consent decisions older than the period that are no longer the
  current one for their channel and purpose are deleted; the current decision (the
  proof of what the person chose) always stays.

Applying a policy is idempotent (a second run with the same ``now`` finds nothing due)
and is recorded in the audit log (``retention.purge``) of a store that keeps one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import attrs

from ecomcrm.errors import ValidationError

_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_PERIOD = re.compile(r"^\s*(\d+)\s*([hdwy])\s*$")

Period = str | timedelta
"""A retention period: a :class:`~datetime.timedelta` or ``"<n>h|d|w|y"`` (``y`` = 365 days)."""


def parse_period(value: Any, *, field: str = "period") -> timedelta:
    """A positive period from ``"90d"``, ``"2y"``, ``"6w"``, ``"36h"`` or a timedelta.

    Example:
        >>> parse_period("2y"), parse_period("90d").days
        (datetime.timedelta(days=730), 90)
        >>> parse_period("soon")
        Traceback (most recent call last):
        ...
        ecomcrm.errors.ValidationError: RetentionPolicy.period: must be a positive period such as '90d', '6w', '2y' or a timedelta (got 'soon')
    """
    if isinstance(value, timedelta):
        if value > timedelta(0):
            return value
    elif isinstance(value, str) and (match := _PERIOD.match(value.lower())):
        n, unit = int(match[1]), match[2]
        period = timedelta(days=365 * n) if unit == "y" else n * _UNITS[unit]
        if period > timedelta(0):
            return period
    raise ValidationError(
        "must be a positive period such as '90d', '6w', '2y' or a timedelta",
        entity="RetentionPolicy",
        field=field,
        value=value,
    )


def _period_of_field(value: Any, field: attrs.Attribute[Any]) -> timedelta | None:
    return None if value is None else parse_period(value, field=field.name)


_optional_period = attrs.Converter(_period_of_field, takes_field=True)


def _event_periods(value: Any) -> Mapping[str, timedelta] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        out = {}
        for name, period in value.items():
            if not isinstance(name, str) or not name:
                raise ValidationError(
                    "event names must be non-empty strings",
                    entity="RetentionPolicy",
                    field="events",
                    value=name,
                )
            out[name] = parse_period(period, field=f"events[{name}]")
        return dict(sorted(out.items()))
    return {"*": parse_period(value, field="events")}


@attrs.frozen
class RetentionPolicy:
    """How long each data class is kept; None (the default) keeps it forever.

    Example:
        >>> p = RetentionPolicy(events="2y", anonymous_profiles="90d", messages="1y")
        >>> p.events["*"].days, p.messages.days, p.tickets is None
        (730, 365, True)
        >>> RetentionPolicy(events={"page_view": "30d", "*": "2y"}).events["page_view"].days
        30
    """

    events: Mapping[str, timedelta] | None = attrs.field(default=None, converter=_event_periods)
    messages: timedelta | None = attrs.field(default=None, converter=_optional_period)  # type: ignore[misc]
    tickets: timedelta | None = attrs.field(default=None, converter=_optional_period)  # type: ignore[misc]
    order_personal_fields: timedelta | None = attrs.field(default=None, converter=_optional_period)  # type: ignore[misc]
    anonymous_profiles: timedelta | None = attrs.field(default=None, converter=_optional_period)  # type: ignore[misc]
    consent_history: timedelta | None = attrs.field(default=None, converter=_optional_period)  # type: ignore[misc]

    def to_dict(self) -> dict[str, Any]:
        """The policy as JSON (periods in days, events as a name -> days mapping).

        Example:
            >>> RetentionPolicy(messages="1y").to_dict()["messages"]
            365.0
        """

        def days(period: timedelta | None) -> float | None:
            return None if period is None else period.total_seconds() / 86400

        return {
            "events": None
            if self.events is None
            else {name: days(p) for name, p in self.events.items()},
            "messages": days(self.messages),
            "tickets": days(self.tickets),
            "order_personal_fields": days(self.order_personal_fields),
            "anonymous_profiles": days(self.anonymous_profiles),
            "consent_history": days(self.consent_history),
        }


@attrs.frozen
class RetentionReport:
    """What one application of a policy did.

    Attributes:
        now: The instant the periods were counted back from.
        counts: How many records each step deleted or pseudonymised: ``events``,
            ``messages``, ``tickets``, ``orders`` and ``refunds`` (pseudonymised),
            ``anonymous_profiles`` (erased), ``consents`` (superseded decisions deleted).

    Example:
        >>> from datetime import datetime, timezone
        >>> r = RetentionReport(now=datetime(2024, 1, 1, tzinfo=timezone.utc), counts={"events": 2})
        >>> r.total
        2
    """

    now: datetime
    counts: Mapping[str, int] = attrs.field(factory=dict)

    @property
    def total(self) -> int:
        """How many records were deleted or pseudonymised in all."""
        return sum(self.counts.values())


@runtime_checkable
class SupportsRetention(Protocol):
    """A store that applies a :class:`RetentionPolicy` in bulk (see the module docstring).

    Example:
        >>> import ecomcrm
        >>> isinstance(ecomcrm.open_store("memory://"), SupportsRetention)
        True
    """

    def apply_retention(self, policy: RetentionPolicy, now: datetime) -> RetentionReport:
        """Delete or pseudonymise what ``policy`` says is due at ``now``; idempotent.

        Example:
            >>> from datetime import datetime, timezone
            >>> import ecomcrm
            >>> store = ecomcrm.open_store("memory://")
            >>> store.apply_retention(RetentionPolicy(events="1y"),
            ...                       datetime(2024, 1, 1, tzinfo=timezone.utc)).total
            0
        """
        ...
