"""Contact policies applied to every outgoing message: consent, suppression, caps, quiet hours.

Order of checks before an action is handed out (the first that fails decides):

1. the customer is known, not erased and none of their identities is suppressed
   (applies to every message, transactional ones too);
2. marketing only: a current consent grant for (channel, marketing), or for the flow's
   consent topic on the channel when the flow declares one (``Flow.topic``);
3. marketing only: outside the quiet hours of the channel, in the customer's time zone
   (else deferred to the end of the quiet hours);
4. marketing only: every frequency cap has room (else skipped or deferred, as the step says).

Transactional messages and internal tasks are exempt from 2-4 by definition.

:meth:`Policies.gate` is that decision as a pure function: what it knows of the person
(a :class:`Recipient`), the step, the recent sends and the clock in; a verdict out
(:class:`Send`, :class:`Skip`, :class:`Defer` or :class:`ExitFlow`). The engine records
the verdict; it reads and writes nothing itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, time, timedelta
from typing import Protocol, TypeAlias

import attrs

from ecomcrm.domain import Channel, Customer
from ecomcrm.errors import ValidationError
from ecomcrm.rules._schedule import (
    format_duration,
    format_time_of_day,
    from_micros,
    in_window,
    next_allowed,
    parse_duration,
    parse_time_of_day,
    to_micros,
    zone,
)
from ecomcrm.rules._steps import ActionStep, OnCap


def _channels(value: Iterable[Channel | str] | None) -> frozenset[Channel] | None:
    return None if value is None else frozenset(Channel(c) for c in value)


def _channel(value: Channel | str | None) -> Channel | None:
    return None if value is None else Channel(value)


@attrs.frozen(kw_only=True)
class FrequencyCap:
    """At most ``limit`` marketing messages per ``per`` to one customer (on ``channel``, or on all).

    Example:
        >>> cap = FrequencyCap(limit=1, per="16h")
        >>> cap.per
        datetime.timedelta(seconds=57600)
    """

    limit: int = 1
    per: timedelta = attrs.field(default=timedelta(hours=16), converter=parse_duration)
    channel: Channel | None = attrs.field(default=None, converter=_channel)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.limit, int) or self.limit < 1:
            raise ValidationError(
                "must be a positive integer", entity="FrequencyCap", field="limit", value=self.limit
            )
        if self.per <= timedelta(0):
            raise ValidationError(
                "must be positive", entity="FrequencyCap", field="per", value=self.per
            )

    def applies_to(self, channel: Channel) -> bool:
        """True when this cap counts messages on ``channel``."""
        return self.channel is None or self.channel is channel

    def describe(self) -> str:
        """The cap in words.

        Example:
            >>> FrequencyCap(limit=2, per="1d", channel="sms").describe()
            'at most 2 marketing messages per 1d on sms'
        """
        where = f" on {self.channel.value}" if self.channel else ""
        noun = "message" if self.limit == 1 else "messages"
        return f"at most {self.limit} marketing {noun} per {format_duration(self.per)}{where}"

    def free_at(
        self, channel: Channel, sends: Sequence[tuple[str, int]], now: datetime
    ) -> datetime | None:
        """None when one more message fits at ``now``; else when the cap next has room.

        ``sends`` are (channel, microseconds) of earlier marketing messages.

        Example:
            >>> from datetime import datetime, timezone
            >>> now = datetime(2024, 1, 1, 12, tzinfo=timezone.utc)
            >>> cap = FrequencyCap(limit=1, per="16h")
            >>> cap.free_at(Channel.EMAIL, [("sms", to_micros(now) - 3_600_000_000)], now).hour
            3
        """
        if not self.applies_to(channel):
            return None
        now_us = to_micros(now)
        window = int(self.per / timedelta(microseconds=1))
        times = sorted(t for c, t in sends if self.applies_to(Channel(c)) and t > now_us - window)
        if len(times) < self.limit:
            return None
        return from_micros(times[len(times) - self.limit] + window)

    def to_dict(self) -> dict[str, object]:
        """JSON form."""
        return {
            "limit": self.limit,
            "per": format_duration(self.per),
            "channel": None if self.channel is None else self.channel.value,
        }


@attrs.frozen(kw_only=True)
class QuietHours:
    """No marketing message on ``channels`` between ``start`` and ``end`` local time.

    A window whose end is not after its start wraps midnight. Messages that fall in it
    are deferred to its end, computed in the customer's zone (DST-correct).

    Example:
        >>> q = QuietHours(start="21:00", end="08:00", channels=["sms"])
        >>> from datetime import datetime, timezone
        >>> q.allowed_at(Channel.SMS, datetime(2024, 7, 1, 20, tzinfo=timezone.utc), "Europe/Paris").isoformat()
        '2024-07-02T06:00:00+00:00'
    """

    start: time = attrs.field(converter=parse_time_of_day)
    end: time = attrs.field(converter=parse_time_of_day)
    channels: frozenset[Channel] | None = attrs.field(default=None, converter=_channels)

    def __attrs_post_init__(self) -> None:
        if self.start == self.end:
            raise ValidationError(
                "start and end must differ", entity="QuietHours", field="end", value=self.end
            )

    def applies_to(self, channel: Channel) -> bool:
        """True when the quiet hours cover ``channel``."""
        return self.channels is None or channel in self.channels

    def is_quiet(self, channel: Channel, at: datetime, tz: str | None) -> bool:
        """True when ``at`` is inside the quiet hours for ``channel`` in ``tz``."""
        return self.applies_to(channel) and in_window(at, self.start, self.end, tz)

    def allowed_at(self, channel: Channel, at: datetime, tz: str | None) -> datetime:
        """``at`` when allowed, else the end of the quiet hours (UTC)."""
        if not self.applies_to(channel):
            return at
        return next_allowed(at, self.start, self.end, tz)

    def describe(self) -> str:
        """The quiet hours in words."""
        which = "all channels" if self.channels is None else ", ".join(sorted(self.channels))
        return f"quiet {format_time_of_day(self.start)}-{format_time_of_day(self.end)} local on {which}"

    def to_dict(self) -> dict[str, object]:
        """JSON form."""
        return {
            "start": format_time_of_day(self.start),
            "end": format_time_of_day(self.end),
            "channels": None if self.channels is None else sorted(c.value for c in self.channels),
        }


def _caps(value: Iterable[FrequencyCap]) -> tuple[FrequencyCap, ...]:
    return tuple(value)


def _quiet(value: Iterable[QuietHours]) -> tuple[QuietHours, ...]:
    return tuple(value)


def _tz(value: str) -> str:
    zone(value)
    return value


class Recipient(Protocol):
    """What :meth:`Policies.gate` asks about the person an action is for.

    ``customer`` is None for a person the store does not know (or erased); ``anonymous``
    says whether the id is an unidentified visitor's. The methods are asked only when
    the decision needs them (suppression for every message, consent and time zone for
    marketing), so an implementation may read lazily.

    Example:
        >>> from datetime import datetime, timezone
        >>> from ecomcrm.rules import ActionStep
        >>> class Visitor:  # an anonymous id nobody has linked to a customer yet
        ...     customer = None
        ...     anonymous = True
        ...     def is_suppressed(self): return False
        ...     def consent(self, channel): return False
        ...     def timezone(self, default): return default
        >>> step = ActionStep(id="a", channel="email", template="t")
        >>> at = datetime(2024, 1, 1, tzinfo=timezone.utc)
        >>> Policies.default().gate(step, Visitor(), [], at).reason
        'unknown_customer'
    """

    @property
    def customer(self) -> Customer | None:
        """The customer, None when unknown or erased."""

    @property
    def anonymous(self) -> bool:
        """True for an anonymous visitor's id (``anonymous:<id>``)."""

    def is_suppressed(self) -> bool:
        """True when one of the customer's identities is suppressed."""

    def consent(self, channel: Channel) -> bool:
        """True when the customer currently grants marketing on ``channel``."""

    def topic_consent(self, channel: Channel, topic: str) -> bool:
        """True when the decision in force for marketing ``topic`` on ``channel`` is a grant.

        ``ecomcrm.domain.current_decision`` of the person's consent history; asked only
        for a flow that declares a topic.
        """

    def timezone(self, default: str) -> str:
        """The customer's time zone (``default`` without one)."""


@attrs.frozen
class Send:
    """The gate's verdict: the action goes out now.

    Example:
        >>> Send()
        Send()
    """


@attrs.frozen
class Skip:
    """The gate's verdict: this action is not sent; the enrollment moves on to the next step.

    Example:
        >>> Skip("consent", "no current email marketing consent").reason
        'consent'
    """

    reason: str
    text: str


@attrs.frozen
class Defer:
    """The gate's verdict: the action waits until ``until`` (UTC) and is judged again then.

    Example:
        >>> from datetime import datetime, timezone
        >>> Defer("quiet_hours", "quiet", datetime(2024, 1, 2, 8, tzinfo=timezone.utc)).until.hour
        8
    """

    reason: str
    text: str
    until: datetime


@attrs.frozen
class ExitFlow:
    """The gate's verdict: the enrollment ends here (the person may never be contacted).

    Example:
        >>> ExitFlow("suppressed", "an identity is suppressed").reason
        'suppressed'
    """

    reason: str
    text: str


#: What :meth:`Policies.gate` decides.
Verdict: TypeAlias = Send | Skip | Defer | ExitFlow
_SEND = Send()


@attrs.frozen(kw_only=True)
class Policies:
    """The contact policies of an engine.

    Args:
        caps: Frequency caps on marketing messages.
        quiet_hours: Quiet hours per channel.
        default_timezone: Zone for customers without one.
        require_consent: Check consent on marketing messages (switch off only in tests).

    Example:
        >>> p = Policies.default()
        >>> [c.describe() for c in p.caps]
        ['at most 1 marketing message per 16h']
        >>> p.quiet_hours[0].describe()
        'quiet 21:00-08:00 local on push, sms, whatsapp'
    """

    caps: tuple[FrequencyCap, ...] = attrs.field(default=(), converter=_caps)
    quiet_hours: tuple[QuietHours, ...] = attrs.field(default=(), converter=_quiet)
    default_timezone: str = attrs.field(default="UTC", converter=_tz)
    require_consent: bool = True

    @classmethod
    def default(cls) -> Policies:
        """One marketing message per 16 h per customer; SMS, WhatsApp and push only 08:00-21:00."""
        return cls(
            caps=[FrequencyCap(limit=1, per=timedelta(hours=16))],
            quiet_hours=[
                QuietHours(start="21:00", end="08:00", channels=["sms", "whatsapp", "push"])
            ],
        )

    @property
    def longest_cap(self) -> timedelta:
        """The longest cap window (how long send history must be kept)."""
        return max((c.per for c in self.caps), default=timedelta(0))

    def quiet_until(
        self, channel: Channel, at: datetime, tz: str | None
    ) -> tuple[QuietHours, datetime] | None:
        """None when ``at`` is allowed; else the quiet hours that block it and when it may go.

        Example:
            >>> from datetime import datetime, timezone
            >>> late = datetime(2024, 1, 1, 23, tzinfo=timezone.utc)
            >>> Policies.default().quiet_until(Channel.SMS, late, "UTC")[1].isoformat()
            '2024-01-02T08:00:00+00:00'
        """
        for _ in range(4):  # two overlapping windows can chain
            blocking = [q for q in self.quiet_hours if q.is_quiet(channel, at, tz)]
            if not blocking:
                return None
            until = max(q.allowed_at(channel, at, tz) for q in blocking)
            later = [q for q in self.quiet_hours if q.is_quiet(channel, until, tz)]
            if not later:
                return blocking[0], until
            at = until
        return blocking[0], until

    def cap_until(
        self, channel: Channel, sends: Sequence[tuple[str, int]], now: datetime
    ) -> tuple[FrequencyCap, datetime] | None:
        """None when every cap has room; else the blocking cap and when it frees up."""
        worst: tuple[FrequencyCap, datetime] | None = None
        for cap in self.caps:
            free = cap.free_at(channel, sends, now)
            if free is not None and (worst is None or free > worst[1]):
                worst = (cap, free)
        return worst

    def gate(
        self,
        step: ActionStep,
        person: Recipient,
        sends: Sequence[tuple[str, int]],
        now: datetime,
        *,
        exit_on_consent_withdrawn: bool = False,
        topic: str | None = None,
    ) -> Verdict:
        """May the action of ``step`` go to ``person`` at ``now``? A pure decision.

        The checks run in the order of this module's docstring; the first that fails
        decides. An unknown person is skipped while anonymous (they may be identified
        later) and exits the flow otherwise; a suppressed identity exits; a missing
        address skips; missing marketing consent skips (exits with
        ``exit_on_consent_withdrawn``); with a ``topic`` (the flow's), the consent checked
        is that topic's on the channel; quiet hours defer to their end; a full frequency
        cap defers or skips as ``step.on_cap`` says. ``sends`` are the person's recent
        marketing messages as (channel, µs).

        Example:
            >>> from datetime import datetime, timezone
            >>> from ecomcrm.domain import Customer, Identity
            >>> from ecomcrm.rules import ActionStep
            >>> at = datetime(2024, 1, 1, 12, tzinfo=timezone.utc)
            >>> class Person:
            ...     customer = Customer(id="c1", created_at=at, identities=[Identity.email("a@b.co")])
            ...     anonymous = False
            ...     def is_suppressed(self): return False
            ...     def consent(self, channel): return True
            ...     def timezone(self, default): return default
            >>> step = ActionStep(id="a", channel="email", template="t")
            >>> Policies.default().gate(step, Person(), [], at)
            Send()
            >>> Policies.default().gate(step, Person(), [("email", to_micros(at) - 1)], at).reason
            'frequency_cap'
        """
        customer = person.customer
        if customer is None:
            if person.anonymous:
                return Skip(
                    "unknown_customer", "anonymous visitor not identified yet; not contacted"
                )
            return ExitFlow("unknown_customer", "customer unknown or erased; never contacted")
        if person.is_suppressed():
            return ExitFlow("suppressed", "an identity is suppressed")
        channel = step.channel
        if channel is not None:
            if channel is Channel.EMAIL and customer.email is None:
                return Skip("no_address", "no email address")
            if channel in (Channel.SMS, Channel.WHATSAPP) and customer.phone is None:
                return Skip("no_address", f"no phone number for {channel.value}")
        if not step.is_marketing:
            return _SEND
        assert channel is not None  # a marketing step has a channel
        if self.require_consent and not (
            person.consent(channel) if topic is None else person.topic_consent(channel, topic)
        ):
            text = f"no current {channel.value} marketing consent"
            if topic is not None:
                text += f" for topic {topic!r}"
            return ExitFlow("consent", text) if exit_on_consent_withdrawn else Skip("consent", text)
        tz = person.timezone(self.default_timezone)
        quiet = self.quiet_until(channel, now, tz)
        if quiet is not None:
            rule, until = quiet
            return Defer("quiet_hours", f"{rule.describe()} ({tz}); deferred", until)
        blocked = self.cap_until(channel, sends, now)
        if blocked is not None:
            cap, free = blocked
            if step.on_cap is OnCap.DEFER:
                return Defer("frequency_cap", f"{cap.describe()}; deferred", free)
            return Skip("frequency_cap", f"{cap.describe()}; skipped")
        return _SEND

    def to_dict(self) -> dict[str, object]:
        """JSON form."""
        return {
            "caps": [c.to_dict() for c in self.caps],
            "quiet_hours": [q.to_dict() for q in self.quiet_hours],
            "default_timezone": self.default_timezone,
            "require_consent": self.require_consent,
        }
