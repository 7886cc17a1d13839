"""Cells of admin-panel exports as people really hand them over: formatted, or opened in Excel.

The Magento and BigCommerce order exports are downloaded from an admin grid and often
opened (and saved again) in a spreadsheet first. What that does to a cell, and how it is
read back here:

- dates in the admin's words (``Mar 1, 2024 2:05:12 PM``; Magento before 2.3 wrote a
  24-hour hour *and* a marker, ``Mar 1, 2024 14:05:12 PM``), in a day-first or month-first
  short form (``01/03/2024 14:05``), or as Excel's serial day number (``45352.5869``);
- amounts with a currency symbol or ISO code (``$84.20``, ``€1.234,50``, ``84.20 EUR``);
- Magento order numbers that lost their leading zeros (``000000042`` saved as ``42``);
- a row with fewer cells than the header: the file was cut short.

Every refusal is a :class:`~ecomcrm.io._rows.RowError` naming the column and the cell.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ecomcrm.io._cells import parse_datetime, parse_decimal
from ecomcrm.io._rows import RowError

#: Excel's day 0 (its serial day numbers count from here, leap-year bug included).
_EXCEL_EPOCH = datetime(1899, 12, 30)
#: Serial day numbers read as dates: 1954-10-03 to 2119-01-10; other numbers are not dates.
_EXCEL_DAYS = (20_000.0, 80_000.0)
_SERIAL = re.compile(r"\d{5}(\.\d+)?")
_HOUR_AND_MARKER = re.compile(r"(\d{1,2})(:\d{2}(?::\d{2})?)\s*([AaPp][Mm])\b")
_SLASH_DATE = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{2,4})(.*)")

#: Currency symbols read as one currency. A bare ``$`` is the file's currency when that
#: is a dollar, else USD; ``¥`` is read as JPY (a CNY shop's export should carry ``CNY``
#: or be imported with ``currency="CNY"`` and no symbol); ``kr`` (SEK, NOK, DKK, ISK) is
#: not read at all: such cells need their ISO code.
CURRENCY_SYMBOLS: dict[str, str] = {
    "US$": "USD", "CA$": "CAD", "C$": "CAD", "A$": "AUD", "AU$": "AUD", "NZ$": "NZD",
    "HK$": "HKD", "S$": "SGD", "R$": "BRL", "MX$": "MXN", "€": "EUR", "£": "GBP",
    "¥": "JPY", "₹": "INR", "₩": "KRW", "₺": "TRY", "₽": "RUB", "₪": "ILS", "zł": "PLN",
}  # fmt: skip
_DOLLARS = frozenset({"USD", "CAD", "AUD", "NZD", "HKD", "SGD", "MXN"})
_CODE = re.compile(r"\b([A-Z]{3})\b")
_SYMBOLS = sorted(CURRENCY_SYMBOLS, key=len, reverse=True)


def export_datetime(text: str, column: str, *, zone: Any, dayfirst: bool) -> datetime:
    """A date and time of an admin export, in ``zone`` unless it states an offset.

    Example:
        >>> from zoneinfo import ZoneInfo
        >>> z = ZoneInfo("Europe/Paris")
        >>> [export_datetime(t, "Purchase Date", zone=z, dayfirst=True).isoformat()
        ...  for t in ("Mar 1, 2024 14:05:12 PM", "01/03/2024 14:05", "45352.5869")]
        ['2024-03-01T13:05:12+00:00', '2024-03-01T13:05:00+00:00', '2024-03-01T13:05:08+00:00']
    """
    s = text.strip()
    if _SERIAL.fullmatch(s):
        days = float(s)
        if _EXCEL_DAYS[0] <= days <= _EXCEL_DAYS[1]:
            seconds = round(days * 86_400)
            local = _EXCEL_EPOCH + timedelta(seconds=seconds)
            return local.replace(tzinfo=zone).astimezone(UTC)
        raise RowError(column, "is a number, not a date (nor an Excel day number)", text)
    marker = _HOUR_AND_MARKER.search(s)
    if marker is not None and int(marker.group(1)) > 12:
        # "14:05:12 PM": a 24-hour clock with a marker (Magento's "H:i:s A"); the hour holds
        s = s[: marker.start()] + marker.group(1) + marker.group(2) + s[marker.end() :]
    slash = _SLASH_DATE.fullmatch(s)
    if slash is not None:
        first, second, year, rest = slash.groups()
        day, month = (first, second) if dayfirst else (second, first)
        full_year = year if len(year) == 4 else f"20{year}"
        s = f"{full_year}-{int(month):02d}-{int(day):02d}{rest}"
        try:
            datetime(int(full_year), int(month), int(day))
        except ValueError:
            order = "day/month/year" if dayfirst else "month/day/year"
            raise RowError(column, f"is not a date read as {order}", text) from None
    return parse_datetime(s, column, default_tz=zone)


def export_money(text: str, column: str, *, currency: str) -> tuple[Decimal, str]:
    """An amount and its currency: the symbol or ISO code in the cell, else ``currency``.

    Example:
        >>> export_money("€1.234,50", "Grand Total (Purchased)", currency="USD")
        (Decimal('1234.50'), 'EUR')
        >>> export_money("84.2000", "Grand Total (Base)", currency="GBP")
        (Decimal('84.2000'), 'GBP')
    """
    s = text.strip()
    found = currency
    code = _CODE.search(s)
    if code is not None:
        found = code.group(1)
        s = (s[: code.start()] + s[code.end() :]).strip()
    else:
        for symbol in _SYMBOLS:
            if symbol in s:
                found = CURRENCY_SYMBOLS[symbol]
                s = s.replace(symbol, "", 1).strip()
                break
        else:
            if "$" in s:
                found = currency if currency in _DOLLARS else "USD"
                s = s.replace("$", "", 1).strip()
    negative = s.startswith("-") or (s.startswith("(") and s.endswith(")"))
    s = s.strip("()-+ \u00a0")
    if "." in s and "," in s and s.rfind(",") > s.rfind("."):
        s = s.replace(".", "").replace(",", ".")  # "1.234,50": a European thousands dot
    value = parse_decimal(s, column)
    if negative and value:
        raise RowError(column, "must not be negative", text)
    return value, found


def magento_increment_id(text: str, column: str) -> str:
    """A Magento order number, with the leading zeros a spreadsheet dropped put back.

    Magento pads order numbers to nine digits (``000000042``); a spreadsheet reads them
    as numbers and saves ``42``. Other forms (a store prefix, letters) are kept as given.

    Example:
        >>> magento_increment_id("42", "ID"), magento_increment_id("2000000042", "ID")
        ('000000042', '2000000042')
    """
    s = text.strip()
    if not s:
        raise RowError(column, "is empty", text)
    if s.endswith(".0") and s[:-2].isdigit():
        s = s[:-2]
    return s.zfill(9) if s.isdigit() and len(s) < 9 else s


def check_width(row: list[str], width: int) -> None:
    """RowError when ``row`` has fewer cells than the header: the file was cut short."""
    if len(row) < width:
        raise RowError(
            None,
            f"has {len(row)} cells where the header has {width}: the file is cut short "
            "(or the row lost its end)",
            None,
        )
