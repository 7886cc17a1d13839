"""Input coercion and validation shared by every metric function.

All helpers raise :class:`ecomcrm.errors.ValidationError` naming the function (``entity``),
the argument (``field``), the offending value and the first offending row.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ecomcrm.errors import ValidationError

_US_PER_DAY = 86_400_000_000

# Integer ids whose range is at most this many times the number of rows (or this absolute
# size) are used directly as codes (no sort); sparser ids go through ``np.unique``.
_DENSE_FACTOR = 4
_DENSE_MIN = 1 << 16


def first_true(mask: NDArray[np.bool_]) -> int:
    """Index of the first True in ``mask`` (which must contain one)."""
    return int(np.argmax(mask))


def as_1d(x: ArrayLike, *, entity: str, field: str) -> NDArray[Any]:
    """Return ``x`` as a 1-D numpy array without copying when possible."""
    if hasattr(x, "dt") and getattr(getattr(x, "dt", None), "tz", None) is not None:
        # a tz-aware pandas Series: make it naive UTC without importing pandas
        x = x.dt.tz_convert("UTC").dt.tz_localize(None)
    arr = np.asarray(x)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValidationError(
            "must be one-dimensional", entity=entity, field=field, value=f"shape {arr.shape}"
        )
    return arr


def missing_mask(arr: NDArray[Any]) -> NDArray[np.bool_] | None:
    """Boolean mask of missing values (NaN, NaT, None), or None when the dtype has none."""
    kind = arr.dtype.kind
    if kind in "fc":
        return np.asarray(np.isnan(arr), dtype=bool)
    if kind in "mM":
        return np.asarray(np.isnat(arr), dtype=bool)
    if kind == "O":
        with np.errstate(invalid="ignore"):
            ne = np.asarray(arr != arr, dtype=bool)  # NaN-like objects
        is_none = np.asarray(arr == None, dtype=bool)  # noqa: E711 - elementwise
        return np.asarray(ne | is_none, dtype=bool)
    return None


def check_same_length(entity: str, arrays: dict[str, NDArray[Any]]) -> int:
    """Check that all arrays have the same length and return it."""
    names = list(arrays)
    if not names:
        return 0
    n0 = len(arrays[names[0]])
    for name in names[1:]:
        n = len(arrays[name])
        if n != n0:
            raise ValidationError(
                f"has {n} rows but {names[0]} has {n0}; the arrays must be row-aligned",
                entity=entity,
                field=name,
                value=n,
                row=min(n, n0),
            )
    return n0


def _datetime_to_utc_naive(value: _dt.datetime) -> _dt.datetime:
    if value.tzinfo is not None and value.utcoffset() is not None:
        value = value.astimezone(_dt.UTC).replace(tzinfo=None)
    return value


def as_timestamps(x: ArrayLike, *, entity: str, field: str = "timestamp") -> NDArray[np.int64]:
    """Return timestamps as int64 microseconds since the epoch (UTC).

    Accepts datetime64 arrays of any unit (the fast path is ``datetime64[us]``, a view),
    ISO strings, and sequences of ``datetime`` (aware ones are converted to UTC, naive ones
    are taken as UTC).
    """
    arr = x if isinstance(x, np.ndarray) else as_1d(x, entity=entity, field=field)
    if arr.ndim != 1:
        raise ValidationError(
            "must be one-dimensional", entity=entity, field=field, value=f"shape {arr.shape}"
        )
    if arr.dtype.kind == "O":
        arr = np.array(
            [_datetime_to_utc_naive(v) if isinstance(v, _dt.datetime) else v for v in arr],
            dtype=object,
        )
    if arr.dtype != np.dtype("M8[us]"):
        if arr.dtype.kind not in "MOUS" and len(arr):
            raise ValidationError(
                "must be datetime64 values", entity=entity, field=field, value=str(arr.dtype)
            )
        try:
            arr = arr.astype("M8[us]")
        except (ValueError, TypeError) as exc:
            raise ValidationError(
                f"cannot be read as datetimes ({exc})", entity=entity, field=field
            ) from exc
    nat = np.isnat(arr)
    if nat.any():
        row = first_true(nat)
        raise ValidationError("is missing (NaT)", entity=entity, field=field, value=None, row=row)
    return arr.view(np.int64)


def as_timestamp_scalar(value: Any, *, entity: str, field: str) -> int:
    """Return one point in time as int64 microseconds since the epoch (UTC)."""
    if isinstance(value, _dt.datetime):
        value = _datetime_to_utc_naive(value)
    elif isinstance(value, _dt.date):
        value = _dt.datetime(value.year, value.month, value.day)
    try:
        ts = np.datetime64(value, "us")
    except (ValueError, TypeError) as exc:
        raise ValidationError(
            "cannot be read as a datetime", entity=entity, field=field, value=value
        ) from exc
    if np.isnat(ts):
        raise ValidationError("is missing (NaT)", entity=entity, field=field, value=value)
    return int(ts.astype(np.int64))


def as_amounts(x: ArrayLike, *, entity: str, field: str = "amount") -> NDArray[np.float64]:
    """Return amounts as float64; infinities are rejected (NaN is handled by ``nan_policy``)."""
    arr = x if isinstance(x, np.ndarray) else as_1d(x, entity=entity, field=field)
    if arr.dtype.kind not in "biuf":
        try:
            arr = arr.astype(np.float64)
        except (ValueError, TypeError) as exc:
            raise ValidationError(
                f"must be numeric ({exc})", entity=entity, field=field, value=str(arr.dtype)
            ) from exc
    out = np.asarray(arr, dtype=np.float64)
    bad = ~np.isfinite(out)
    if bad.any():
        row = first_true(bad)
        raise ValidationError("must be finite", entity=entity, field=field, value=out[row], row=row)
    return out


def encode_ids(ids: NDArray[Any]) -> tuple[NDArray[np.int64], NDArray[Any]]:
    """Map customer ids to integer codes ``0..C-1``.

    Returns ``(codes, uniques)`` where ``uniques[codes] == ids``. ``uniques`` is sorted; for
    integer ids of a dense range it is the whole range ``min..max`` (callers keep only the
    codes that occur), which avoids sorting the ids at all.
    """
    if ids.dtype.kind in "iub" and len(ids):
        lo = int(ids.min())
        hi = int(ids.max())
        span = hi - lo + 1
        if span <= max(_DENSE_FACTOR * len(ids), _DENSE_MIN):
            if ids.dtype == np.bool_:
                ids = ids.astype(np.int64)
            if lo == 0 and ids.dtype == np.int64:
                codes = ids
            elif lo == 0:
                codes = ids.astype(np.int64)
            else:  # subtract in the ids' own dtype: no overflow since 0 <= ids - lo < span
                codes = (ids - ids.dtype.type(lo)).astype(np.int64, copy=False)
            uniques = ids.dtype.type(lo) + np.arange(span).astype(ids.dtype, copy=False)
            return codes, uniques
    uniques, inverse = np.unique(ids, return_inverse=True)
    return inverse.astype(np.int64, copy=False).reshape(-1), uniques


def as_ids(x: ArrayLike, *, entity: str, field: str = "customer_id") -> NDArray[Any]:
    """Return customer ids as a 1-D array (missing ids are caught by ``nan_policy``)."""
    arr = x if isinstance(x, np.ndarray) else as_1d(x, entity=entity, field=field)
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr)
        if bad.any():
            row = first_true(bad)
            raise ValidationError(
                "must be finite", entity=entity, field=field, value=arr[row], row=row
            )
    return arr


def check_choice(value: Any, choices: tuple[Any, ...], *, entity: str, field: str) -> None:
    """Raise unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValidationError(
            f"must be one of {', '.join(repr(c) for c in choices)}",
            entity=entity,
            field=field,
            value=value,
        )
