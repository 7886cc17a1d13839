"""The outcome of an import: counts and every rejected row with its reason."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs

#: How many rejected rows a report keeps in detail; the count is always exact.
MAX_REJECTION_DETAILS = 10_000


@attrs.frozen(kw_only=True)
class _LocatedRow:
    """A record of a file, where it is (file, line, column) and what was said of it."""

    file: str
    line: int
    column: str | None
    reason: str
    value: str | None = None

    def __str__(self) -> str:
        """``file:line: column: reason (got 'value')``: how rejections and warnings read."""
        what = f"{self.column}: {self.reason}" if self.column else self.reason
        got = f" (got {self.value!r})" if self.value is not None else ""
        return f"{self.file}:{self.line}: {what}{got}"


@attrs.frozen(kw_only=True)
class RejectedRow(_LocatedRow):
    """One record an importer could not bring in, and why.

    ``line`` is the 1-based line of the file where the record starts (for CSV files with
    quoted line breaks this is the physical line, as an editor shows it). ``column`` is the
    column or field that was wrong, or None when the record as a whole was refused.

    Example:
        >>> r = RejectedRow(file="orders.csv", line=7, column="Total", reason="not a number", value="abc")
        >>> str(r)
        "orders.csv:7: Total: not a number (got 'abc')"
    """


@attrs.frozen(kw_only=True)
class RowWarning(_LocatedRow):
    """A record that was imported, with something the user should know about it.

    For example an order id that came again with different content (the later version was
    kept). ``line`` is where the record starts; ``column`` names the field concerned.

    Example:
        >>> w = RowWarning(file="orders.csv", line=9, column="Name", reason="came again", value="#1001")
        >>> str(w)
        "orders.csv:9: Name: came again (got '#1001')"
    """


@attrs.define(kw_only=True)
class ImportReport:
    """What an import read, wrote and refused.

    Every record read ends in exactly one bucket, so
    ``read == imported + updated + unchanged + rejected + suppressed``:

    - ``imported``: new records written;
    - ``updated``: records that existed and were changed;
    - ``unchanged``: records that existed already with the same content (a re-import);
    - ``rejected``: records refused, each listed in ``rejections`` with file, line, column
      and reason (details are kept for the first ``MAX_REJECTION_DETAILS``);
    - ``suppressed``: records of people erased earlier, not brought back.

    ``rows`` counts physical data rows (a Shopify order spans several rows). ``warnings``
    lists records imported with a caveat (such as an order id that came again with different
    content), as many as ``MAX_REJECTION_DETAILS``.

    Example:
        >>> report = ImportReport(source="orders.csv", kind="shopify_orders")
        >>> report.read, report.ok
        (0, True)
        >>> report.reject(line=3, column="Total", reason="not a number", value="x")
        >>> report.read, report.rejected, report.ok
        (1, 1, False)
        >>> print(report.summary())
        orders.csv (shopify_orders): read 1, imported 0, updated 0, unchanged 0, rejected 1, suppressed 0
    """

    source: str
    kind: str
    rows: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    suppressed: int = 0
    rejections: list[RejectedRow] = attrs.field(factory=list)
    extra: dict[str, int] = attrs.field(factory=dict)
    warnings: list[RowWarning] = attrs.field(factory=list)

    @property
    def read(self) -> int:
        """How many records were read (the sum of all buckets)."""
        return self.imported + self.updated + self.unchanged + self.rejected + self.suppressed

    @property
    def ok(self) -> bool:
        """True when no record was rejected."""
        return self.rejected == 0

    def reject(
        self, *, line: int, column: str | None, reason: str, value: Any = None, file: str = ""
    ) -> None:
        """Count one rejected record and keep its detail.

        Example:
            >>> r = ImportReport(source="a.csv", kind="generic")
            >>> r.reject(line=2, column=None, reason="empty row")
            >>> r.rejections[0].line
            2
        """
        self.rejected += 1
        if len(self.rejections) < MAX_REJECTION_DETAILS:
            shown = None if value is None else str(value)[:200]
            self.rejections.append(
                RejectedRow(
                    file=file or self.source, line=line, column=column, reason=reason, value=shown
                )
            )

    def warn(
        self, *, line: int, column: str | None, reason: str, value: Any = None, file: str = ""
    ) -> None:
        """Keep a warning about a record that was imported (it changes no count).

        Example:
            >>> r = ImportReport(source="a.csv", kind="generic")
            >>> r.warn(line=5, column="order_id", reason="came again with different content")
            >>> str(r.warnings[0])
            'a.csv:5: order_id: came again with different content'
        """
        if len(self.warnings) < MAX_REJECTION_DETAILS:
            shown = None if value is None else str(value)[:200]
            self.warnings.append(
                RowWarning(
                    file=file or self.source, line=line, column=column, reason=reason, value=shown
                )
            )

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to a secondary counter (such as ``"consents"`` or ``"refunds"``).

        Example:
            >>> r = ImportReport(source="a.csv", kind="generic")
            >>> r.count("consents", 2); r.extra
            {'consents': 2}
        """
        self.extra[name] = self.extra.get(name, 0) + n

    def merge(self, other: ImportReport) -> None:
        """Add another report's counts and rejections into this one.

        Example:
            >>> a = ImportReport(source="a", kind="k", imported=2)
            >>> a.merge(ImportReport(source="b", kind="k", imported=3)); a.imported
            5
        """
        self.rows += other.rows
        self.imported += other.imported
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.rejected += other.rejected
        self.suppressed += other.suppressed
        room = MAX_REJECTION_DETAILS - len(self.rejections)
        self.rejections.extend(other.rejections[: max(room, 0)])
        for key, value in other.extra.items():
            self.count(key, value)
        room = MAX_REJECTION_DETAILS - len(self.warnings)
        self.warnings.extend(other.warnings[: max(room, 0)])

    def __iter__(self) -> Iterator[RejectedRow]:
        return iter(self.rejections)

    def summary(self) -> str:
        """One line with the counts.

        Example:
            >>> ImportReport(source="c.csv", kind="shopify_customers", imported=4).summary()
            'c.csv (shopify_customers): read 4, imported 4, updated 0, unchanged 0, rejected 0, suppressed 0'
        """
        return (
            f"{self.source} ({self.kind}): read {self.read}, imported {self.imported}, "
            f"updated {self.updated}, unchanged {self.unchanged}, rejected {self.rejected}, "
            f"suppressed {self.suppressed}"
        )

    def _repr_html_(self, limit: int = 10) -> str:
        """The counts, then the first ``limit`` rejected rows, as an HTML table (Jupyter).

        Example:
            >>> "rejected" in ImportReport(source="c.csv", kind="shopify_customers")._repr_html_()
            True
        """
        from ecomcrm._html import html_table

        counts = html_table(
            f"ImportReport: {self.source} ({self.kind})",
            ["read", "imported", "updated", "unchanged", "rejected", "suppressed"],
            [[self.read, self.imported, self.updated, self.unchanged, self.rejected,
              self.suppressed]],
        )  # fmt: skip
        if not self.rejections:
            return counts
        hidden = self.rejected - min(limit, len(self.rejections))
        rejected = html_table(
            "Rejected rows",
            ["line", "column", "reason", "value"],
            [[r.line, r.column, r.reason, r.value] for r in self.rejections[:limit]],
            note=f"... and {hidden:,} more" if hidden > 0 else "",
        )
        return counts + rejected

    def format(self, *, limit: int = 20) -> str:
        """The summary followed by the first ``limit`` rejected rows, one per line.

        Example:
            >>> r = ImportReport(source="o.csv", kind="generic")
            >>> r.reject(line=4, column="amount", reason="not a number", value="x")
            >>> print(r.format())
            o.csv (generic): read 1, imported 0, updated 0, unchanged 0, rejected 1, suppressed 0
              o.csv:4: amount: not a number (got 'x')
        """
        lines = [self.summary()]
        lines.extend(f"  {row}" for row in self.rejections[:limit])
        hidden = self.rejected - min(limit, len(self.rejections))
        if hidden > 0:
            lines.append(f"  ... and {hidden} more rejected rows")
        if self.warnings:
            lines.append(f"  warnings ({len(self.warnings)}):")
            lines.extend(f"  {row}" for row in self.warnings[:limit])
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict of the counts and rejections.

        Example:
            >>> ImportReport(source="x", kind="k").to_dict()["read"]
            0
        """
        return {
            "source": self.source,
            "kind": self.kind,
            "rows": self.rows,
            "read": self.read,
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "suppressed": self.suppressed,
            "extra": dict(self.extra),
            "rejections": [attrs.asdict(r) for r in self.rejections],
            "warnings": [attrs.asdict(w) for w in self.warnings],
        }
