"""Named, versioned segment definitions, their membership and its changes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray

from ecomcrm.errors import ConfigurationError, ExpressionError, ValidationError
from ecomcrm.segments._compile import Expression, compile_expression
from ecomcrm.segments._features import FeatureTable
from ecomcrm.segments._fields import CUSTOMER_FEATURES_SCHEMA
from ecomcrm.segments._types import Schema

__all__ = [
    "Segment",
    "SegmentChange",
    "SegmentMembership",
    "SegmentSet",
    "evaluate_segments",
    "segment_diff",
]


def _check_name(instance: Any, attribute: Any, value: str) -> None:
    if not value or not value.replace("_", "").replace("-", "").isalnum():
        raise ConfigurationError(
            "a segment name is letters, digits, '_' or '-'",
            entity="Segment",
            field="name",
            value=value,
        )


@attrs.frozen(kw_only=True)
class Segment:
    """A named group of customers: a condition on the feature table, stored as text.

    Args:
        name: Identifier (letters, digits, ``_``, ``-``).
        expression: The condition, in the condition language.
        description: What the segment is for, in words.
        version: Bump it when the definition changes, so triggers can tell.

    Example:
        >>> vip = Segment(name="vip", expression="total_spent >= 1000", description="big spenders")
        >>> vip.compile().fields
        ('total_spent',)
    """

    name: str = attrs.field(validator=_check_name)
    expression: str
    description: str = ""
    version: int = 1

    def compile(self, schema: Schema | None = None) -> Expression:
        """The compiled condition (cached), against ``schema`` or the customer features.

        Raises:
            ExpressionError: The expression does not compile; the message names the segment.
        """
        try:
            compiled = compile_expression(self.expression, schema or CUSTOMER_FEATURES_SCHEMA)
        except ExpressionError as exc:
            raise ExpressionError(
                f"segment {self.name!r}: {exc.message}",
                source=exc.source,
                line=exc.line,
                column=exc.column,
                suggestion=exc.suggestion,
            ) from None
        if compiled.type != "bool":
            raise ExpressionError(
                f"segment {self.name!r}: the expression is a {compiled.type}, not a condition",
                source=self.expression,
            )
        return compiled


@attrs.frozen
class SegmentChange:
    """Who entered and who left one segment between two evaluations.

    Example:
        >>> SegmentChange(np.array([3]), np.array([1])).entered.tolist()
        [3]
    """

    entered: NDArray[Any]
    exited: NDArray[Any]


class SegmentMembership(Mapping[str, NDArray[np.bool_]]):
    """Membership masks of several segments over the rows of one table.

    A mapping from segment name to a boolean mask aligned with :attr:`ids`.

    Example:
        >>> m = SegmentMembership(np.array([7, 8]), {"a": np.array([True, False])})
        >>> m.members("a").tolist(), m.counts()
        ([7], {'a': 1})
    """

    __slots__ = ("_masks", "evaluated_at", "ids", "versions")

    def __init__(
        self,
        ids: NDArray[Any],
        masks: Mapping[str, NDArray[np.bool_]],
        *,
        versions: Mapping[str, int] | None = None,
        evaluated_at: dt.datetime | None = None,
    ) -> None:
        self.ids = ids
        self._masks = dict(masks)
        self.versions = dict(versions or {})
        self.evaluated_at = evaluated_at

    def __getitem__(self, name: str) -> NDArray[np.bool_]:
        try:
            return self._masks[name]
        except KeyError:
            raise ValidationError(
                f"no such segment; have {sorted(self._masks)}",
                entity="SegmentMembership",
                field="name",
                value=name,
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._masks)

    def __len__(self) -> int:
        return len(self._masks)

    def __contains__(self, name: object) -> bool:
        return name in self._masks

    def members(self, name: str) -> NDArray[Any]:
        """The ids in segment ``name``."""
        return self.ids[self[name]]

    def counts(self) -> dict[str, int]:
        """Members per segment."""
        return {name: int(mask.sum()) for name, mask in self._masks.items()}

    def _repr_html_(self) -> str:
        """Members and share of the customers per segment, as an HTML table (Jupyter).

        Example:
            >>> m = SegmentMembership(np.array([7, 8]), {"a": np.array([True, False])})
            >>> "<td" in m._repr_html_() and "50.0%" in m._repr_html_()
            True
        """
        from ecomcrm._html import html_table

        n = len(self.ids)
        rows = [
            [name, count, f"{count / n:.1%}" if n else ""] for name, count in self.counts().items()
        ]
        when = "" if self.evaluated_at is None else f" as of {self.evaluated_at:%Y-%m-%d %H:%M}"
        return html_table(
            f"SegmentMembership: {len(self)} segments over {n:,} customers{when}",
            ["segment", "customers", "share"],
            rows,
        )

    def segments_of(self, customer_id: Any) -> tuple[str, ...]:
        """The segments one customer is in."""
        rows = np.flatnonzero(self.ids == customer_id)
        if not len(rows):
            return ()
        row = int(rows[0])
        return tuple(name for name, mask in self._masks.items() if mask[row])


class SegmentSet:
    """Segments compiled once against a schema, evaluated together.

    Args:
        segments: The definitions (names must be unique).
        schema: What they are compiled against (default: the customer features).

    Raises:
        ConfigurationError: Duplicate names.
        ExpressionError: A definition that does not compile.

    Example:
        >>> s = SegmentSet([Segment(name="big", expression="total_spent > 100")])
        >>> t = FeatureTable([1, 2], {"total_spent": [50.0, 150.0]}, CUSTOMER_FEATURES_SCHEMA)
        >>> s.evaluate(t).members("big").tolist()
        [2]
    """

    def __init__(self, segments: Iterable[Segment], schema: Schema | None = None) -> None:
        self.segments = tuple(segments)
        self.schema = schema or CUSTOMER_FEATURES_SCHEMA
        seen: set[str] = set()
        for seg in self.segments:
            if seg.name in seen:
                raise ConfigurationError(
                    "duplicate segment name", entity="SegmentSet", field="name", value=seg.name
                )
            seen.add(seg.name)
        self._compiled = {seg.name: seg.compile(self.schema) for seg in self.segments}

    def __iter__(self) -> Iterator[Segment]:
        return iter(self.segments)

    def __len__(self) -> int:
        return len(self.segments)

    @property
    def fields(self) -> tuple[str, ...]:
        """All fields any segment reads (build only these columns)."""
        return tuple(sorted({f for e in self._compiled.values() for f in e.fields}))

    def evaluate(
        self,
        table: FeatureTable,
        now: dt.datetime | None = None,
        *,
        missing_as_null: bool = False,
    ) -> SegmentMembership:
        """Membership of every segment for every row of ``table``.

        With ``missing_as_null``, columns the segments need but the table lacks are
        taken as all null (see :meth:`FeatureTable.with_null_columns`); otherwise a
        missing column is a ValidationError.
        """
        if missing_as_null:
            needed = {name: self.schema[name] for name in self.fields}
            table = table.with_null_columns(needed)
        masks = {name: expr.mask(table, now) for name, expr in self._compiled.items()}
        return SegmentMembership(
            table.ids,
            masks,
            versions={s.name: s.version for s in self.segments},
            evaluated_at=now,
        )

    def matching(
        self, record: Mapping[str, Any], now: dt.datetime | None = None
    ) -> tuple[str, ...]:
        """The segments one record (a customer profile) belongs to, by the scalar backend."""
        return tuple(name for name, expr in self._compiled.items() if expr.evaluate(record, now))


def evaluate_segments(
    table: FeatureTable,
    segments: Iterable[Segment] | SegmentSet,
    now: dt.datetime | None = None,
    *,
    missing_as_null: bool = False,
) -> SegmentMembership:
    """Membership masks of ``segments`` over all rows of ``table`` at once.

    Example:
        >>> t = FeatureTable([1, 2], {"orders_count": [1, 3]}, CUSTOMER_FEATURES_SCHEMA)
        >>> m = evaluate_segments(t, [Segment(name="repeat", expression="orders_count >= 2")])
        >>> m["repeat"].tolist()
        [False, True]
    """
    seg_set = segments if isinstance(segments, SegmentSet) else SegmentSet(segments)
    return seg_set.evaluate(table, now, missing_as_null=missing_as_null)


def segment_diff(old: SegmentMembership, new: SegmentMembership) -> dict[str, SegmentChange]:
    """Who entered and who exited each segment between two evaluations.

    The two evaluations may cover different customers (new sign-ups, erased customers);
    a customer absent from ``old`` who is a member in ``new`` has entered. Segments in
    only one of the two are compared with an empty membership.

    Example:
        >>> old = SegmentMembership(np.array([1, 2, 3]), {"vip": np.array([True, True, False])})
        >>> new = SegmentMembership(np.array([1, 2, 3, 4]), {"vip": np.array([True, False, True, True])})
        >>> change = segment_diff(old, new)["vip"]
        >>> change.entered.tolist(), change.exited.tolist()
        ([3, 4], [2])
    """
    out: dict[str, SegmentChange] = {}
    empty_old = old.ids[:0]
    empty_new = new.ids[:0]
    for name in dict.fromkeys([*old, *new]):
        before = old.members(name) if name in old else empty_old
        after = new.members(name) if name in new else empty_new
        out[name] = SegmentChange(
            entered=np.setdiff1d(after, before), exited=np.setdiff1d(before, after)
        )
    return out
