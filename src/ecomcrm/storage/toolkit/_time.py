"""Time conversion: aware datetimes to and from integer microseconds since the Unix epoch.

The one place ecomcrm turns an aware :class:`~datetime.datetime` into the integer
microseconds its columns and state records hold, and back (the columnar reads' and the
rules engine's timestamps are these integers), and checks that a datetime is aware.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ecomcrm.errors import ValidationError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_last_to_micros: tuple[datetime, int] = (_EPOCH, 0)  # the latest conversion (see to_micros)
_last_from_micros: tuple[int, datetime] = (0, _EPOCH)  # and the latest back (from_micros)


def to_micros(when: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (exact integer arithmetic).

    Example:
        >>> from datetime import datetime, timezone
        >>> to_micros(datetime(1970, 1, 1, 0, 0, 1, tzinfo=timezone.utc))
        1000000
    """
    global _last_to_micros
    last = _last_to_micros
    if last[0] is when:
        return last[1]  # the same instant again (the rules engine converts one ``now`` often)
    micros: int = (when - _EPOCH) // _MICROSECOND  # exact: timedelta // timedelta is an int
    # one tuple, replaced whole: a reader on another thread sees an old pair or a new one
    # (datetimes are immutable, and the pair holds its datetime alive, so ``is`` is sound)
    _last_to_micros = (when, micros)
    return micros


def from_micros(micros: int) -> datetime:
    """The aware UTC datetime of :func:`to_micros`'s value.

    Example:
        >>> from_micros(1_000_000).isoformat()
        '1970-01-01T00:00:01+00:00'
    """
    global _last_from_micros
    last = _last_from_micros
    if last[0] == micros and type(micros) is int:
        return last[1]  # the same instant again: the same (immutable) datetime
    when = _EPOCH + timedelta(microseconds=micros)
    _last_from_micros = (micros, when)
    return when


def check_aware(value: datetime, *, entity: str, field: str) -> datetime:
    """``value`` itself when it is a timezone-aware datetime; ValidationError otherwise.

    The built-in stores and :class:`~ecomcrm.storage.toolkit.BaseStore` check every
    ``at``/``now`` argument they receive with it (a naive datetime has no place on the
    timeline, so it is refused rather than guessed to be UTC).

    Example:
        >>> from datetime import datetime, timezone
        >>> check_aware(datetime(2024, 1, 1, tzinfo=timezone.utc), entity="merge", field="at").year
        2024
        >>> check_aware(datetime(2024, 1, 1), entity="merge", field="at")
        Traceback (most recent call last):
        ...
        ecomcrm.errors.ValidationError: merge.at: must be timezone-aware (got datetime.datetime(2024, 1, 1, 0, 0))
    """
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError("must be timezone-aware", entity=entity, field=field, value=value)
    return value
