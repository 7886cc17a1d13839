"""A record of an import file: what it implies (:class:`Item`), or why it is refused."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from ecomcrm.domain import Consent, Customer, Event, Identity, Order, Refund
from ecomcrm.errors import ValidationError
from ecomcrm.io._report import ImportReport

PathLike = str | os.PathLike[str]


class RowError(Exception):
    """A record cannot be imported: names the column, the reason and the offending value."""

    def __init__(self, column: str | None, reason: str, value: Any = None) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason
        self.value = value
        self.line: int | None = None

    @classmethod
    def from_validation(cls, exc: ValidationError, column: str | None = None) -> RowError:
        """Turn a domain ValidationError into a row error naming the domain field."""
        field = f"{exc.entity}.{exc.field}" if exc.entity and exc.field else exc.field
        return cls(column or field, exc.message, exc.value if exc.has_value else None)


def unexpected(exc: Exception) -> RowError:
    """The RowError of a record that raised an exception no rule foresaw (a bug, reported).

    Example:
        >>> unexpected(OverflowError("date value out of range")).reason
        'could not be imported (unexpected OverflowError: date value out of range)'
    """
    text = str(exc)[:200]
    return RowError(None, f"could not be imported (unexpected {type(exc).__name__}: {text})")


def source_name(path: PathLike) -> str:
    """The name a report and consent sources use for a file: its base name."""
    return Path(path).name


def reject(report: ImportReport, line: int, error: RowError) -> None:
    """Record a RowError in the report."""
    report.reject(line=line, column=error.column, reason=error.reason, value=error.value)


class Item:
    """Everything one record of a file implies, written together."""

    __slots__ = (
        "consents",
        "customer_state",
        "customers",
        "events",
        "line",
        "links",
        "merges",
        "order",
        "refunds",
    )

    def __init__(self, line: int) -> None:
        self.line = line
        self.customers: list[Customer] = []
        self.customer_state: str | None = None  # "imported" | "updated" | "unchanged"
        self.order: Order | None = None
        self.refunds: list[Refund] = []
        self.consents: list[Consent] = []
        self.events: list[Event] = []
        self.links: list[tuple[str, Identity]] = []
        self.merges: list[tuple[str, str, datetime]] = []
