"""Contact policies applied to every outgoing message: consent, suppression, caps, quiet hours.

Order of checks before an action is handed out (the first that fails decides):

1. the customer is known, not erased and none of their identities is suppressed
   (applies to every message, transactional ones too);
2. marketing only: a current consent grant for (channel, marketing);
3. marketing only: outside the quiet hours of the channel, in the customer's time zone
   (else deferred to the end of the quiet hours);
4. marketing only: every frequency cap has room (else skipped or deferred, as the step says).

Transactional messages and internal tasks are exempt from 2-4 by definition.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, time, timedelta

import attrs

from ecomcrm.domain import Channel
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

    def to_dict(self) -> dict[str, object]:
        """JSON form."""
        return {
            "caps": [c.to_dict() for c in self.caps],
            "quiet_hours": [q.to_dict() for q in self.quiet_hours],
            "default_timezone": self.default_timezone,
            "require_consent": self.require_consent,
        }
