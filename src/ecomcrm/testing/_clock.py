"""A settable clock for tests of code that takes ``now`` or a clock callable."""

from __future__ import annotations

from datetime import datetime, timedelta

from ecomcrm.errors import ValidationError


class FakeClock:
    """A clock that only moves when told to; call it to read the time.

    Args:
        start: An aware datetime to start at.

    Example:
        >>> from datetime import datetime, timedelta, timezone
        >>> clock = FakeClock(datetime(2024, 1, 1, tzinfo=timezone.utc))
        >>> clock.advance(timedelta(days=1)) == clock()
        True
        >>> clock.now.day
        2
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValidationError(
                "must be timezone-aware", entity="FakeClock", field="start", value=start
            )
        self._now = start

    def __call__(self) -> datetime:
        """The current fake time."""
        return self._now

    @property
    def now(self) -> datetime:
        """The current fake time."""
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` (never backwards) and return the new time."""
        if delta < timedelta(0):
            raise ValidationError(
                "must not be negative", entity="FakeClock", field="delta", value=delta
            )
        self._now = self._now + delta
        return self._now

    def set(self, when: datetime) -> datetime:
        """Jump to ``when`` (which must not be earlier than now) and return it."""
        if when.tzinfo is None or when.utcoffset() is None:
            raise ValidationError(
                "must be timezone-aware", entity="FakeClock", field="when", value=when
            )
        if when < self._now:
            raise ValidationError(
                "must not move the clock backwards", entity="FakeClock", field="when", value=when
            )
        self._now = when
        return self._now
