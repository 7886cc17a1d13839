"""What the sub-commands share: reading their options, and running a batch job."""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ecomcrm.errors import ValidationError


def _say(args: argparse.Namespace) -> Callable[[str], None]:
    started = time.perf_counter()

    def say(message: str) -> None:
        if not getattr(args, "quiet", False):
            print(f"[{time.perf_counter() - started:6.1f}s] {message}", file=sys.stderr)

    return say


def _now(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            "must be an ISO date or datetime", field="--now", value=text
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- the database file ----------------------------------------------------------------


def _db_path(text: str, *, must_exist: bool, option: str = "--db") -> Path:
    """``--db`` as a plain file path (no URL decoding); read commands need an existing file."""
    if not text or "\x00" in text:
        raise ValidationError(
            "is not a valid file path (empty, or it holds a NUL character)",
            field=option,
            value=text,
        )
    path = Path(text)
    if path.is_dir():
        raise ValidationError(f"{option} {text}: is a directory, not a file")
    if must_exist and not path.is_file():
        raise ValidationError(
            f"{option} {text}: no such database file (read commands never create one; "
            "`ecomcrm import FILE --db PATH` makes it)"
        )
    return path


# --- currencies -----------------------------------------------------------------------


def _currency(args: argparse.Namespace) -> str | None:
    text: str | None = getattr(args, "currency", None)
    if text is None:
        return None
    code = text.strip().upper()
    if len(code) != 3 or not code.isalpha() or not code.isascii():
        raise ValidationError(
            "must be a three-letter ISO 4217 code", field="--currency", value=text
        )
    return code


def _json_option(text: str, option: str) -> Any:
    """An option given as JSON text (starting with ``{``) or as the path of a file holding it."""
    source = text
    if not text.lstrip().startswith("{"):
        path = _db_path(text, must_exist=False, option=option)  # the same path checks
        if not path.is_file():
            raise ValidationError(
                "is neither a JSON object nor an existing file", field=option, value=text
            )
        source = path.read_text(encoding="utf-8")
    try:
        return json.loads(source)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"is not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
            field=option,
            value=text,
        ) from None


def _rates(args: argparse.Namespace) -> dict[str, float] | None:
    """``--rates``: a JSON object {"JPY": 0.0061, ...} or the path of a file holding one."""
    text = getattr(args, "rates", None)
    if text is None:
        return None
    value = _json_option(text, "--rates")
    if not isinstance(value, dict):
        raise ValidationError(
            'must be a JSON object such as {"JPY": 0.0061}', field="--rates", value=value
        )
    rates: dict[str, float] = {}
    for code, rate in value.items():
        ok = isinstance(rate, int | float) and not isinstance(rate, bool)
        if not ok or not math.isfinite(rate) or rate <= 0:
            raise ValidationError(
                "must map currency codes to finite positive numbers",
                field=f"--rates {code}",
                value=rate,
            )
        rates[str(code).strip().upper()] = float(rate)
    if getattr(args, "currency", None) is None:
        raise ValidationError("needs --currency CODE, the currency the rates convert into",
                              field="--rates")  # fmt: skip
    return rates


def _money_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"currency": _currency(args), "rates": _rates(args)}


# --- batch runs -----------------------------------------------------------------------


def _progress(args: argparse.Namespace) -> Any:
    return None if getattr(args, "quiet", False) else True


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a batch run (restored afterwards).

    The demo builds millions of objects (generated records, then the replay's state) that
    mostly live until a phase ends and are freed by reference counting; the cyclic
    collector finds next to nothing in them but walks them again and again as they
    accumulate. At 100,000 customers, on a loaded 2-core machine, pausing it took the
    demo from 54 to 47 s (from 69 to 57 s without the other speed-ups), with the same
    report and the same peak memory. Reference counting still frees everything as
    usual; a collection runs once at the end.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.collect()
