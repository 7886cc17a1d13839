"""The columnar feature table that segments are evaluated over."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, TypeAlias

import attrs
import numpy as np
from numpy.typing import ArrayLike, NDArray

from ecomcrm.errors import ValidationError
from ecomcrm.segments._durations import from_datetime64, from_timedelta64, to_datetime64
from ecomcrm.segments._types import FieldType, Schema

__all__ = ["FeatureTable", "StringColumn", "TagsColumn"]


def _vocab_and_codes(values: NDArray[Any]) -> tuple[tuple[str, ...], NDArray[np.int32]]:
    """Dictionary-encode an object array of str/None (None and NaN are null)."""
    n = len(values)
    valid = np.fromiter((isinstance(v, str) for v in values), dtype=bool, count=n)
    codes = np.full(n, -1, dtype=np.int32)
    if valid.any():
        present = values[valid].astype(str)
        vocab, inverse = np.unique(present, return_inverse=True)
        codes[valid] = inverse.astype(np.int32)
        return tuple(str(v) for v in vocab), codes
    return (), codes


@attrs.frozen(eq=False)
class StringColumn:
    """A dictionary-encoded string column: ``codes[i]`` indexes ``vocabulary``; -1 is null.

    The vocabulary is sorted, so comparing codes orders the strings.

    Example:
        >>> col = StringColumn.from_values(["US", None, "DE", "US"])
        >>> col.vocabulary, col.codes.tolist()
        (('DE', 'US'), [1, -1, 0, 1])
        >>> col.value(2)
        'DE'
    """

    codes: NDArray[np.int32]
    vocabulary: tuple[str, ...]

    def __attrs_post_init__(self) -> None:
        if list(self.vocabulary) != sorted(set(self.vocabulary)):
            raise ValidationError(
                "vocabulary must be sorted and unique", entity="StringColumn", field="vocabulary"
            )
        if len(self.codes) and (
            int(self.codes.max()) >= len(self.vocabulary) or int(self.codes.min()) < -1
        ):
            bad = int(np.flatnonzero((self.codes >= len(self.vocabulary)) | (self.codes < -1))[0])
            raise ValidationError(
                "code out of range of the vocabulary",
                entity="StringColumn",
                field="codes",
                value=int(self.codes[bad]),
                row=bad,
            )

    @classmethod
    def from_values(cls, values: Iterable[str | None] | NDArray[Any]) -> StringColumn:
        """Encode strings (``None`` or NaN for null).

        Example:
            >>> StringColumn.from_values(["a", "b", "a"]).codes.tolist()
            [0, 1, 0]
        """
        arr = np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=object)
        vocab, codes = _vocab_and_codes(arr.reshape(-1))
        return cls(codes, vocab)

    def __len__(self) -> int:
        return len(self.codes)

    def value(self, row: int) -> str | None:
        """The string at ``row`` (``None`` when null)."""
        code = int(self.codes[row])
        return None if code < 0 else self.vocabulary[code]

    def take(self, index: NDArray[np.intp]) -> StringColumn:
        """Rows at ``index``."""
        return StringColumn(self.codes[index], self.vocabulary)

    def recode(self, vocabulary: tuple[str, ...]) -> NDArray[np.int32]:
        """Codes into a larger sorted ``vocabulary`` that contains this one."""
        lut = np.append(
            np.searchsorted(
                np.asarray(vocabulary, dtype=object), np.asarray(self.vocabulary, dtype=object)
            ).astype(np.int32),
            np.int32(-1),
        )
        return lut[self.codes]


@attrs.frozen(eq=False)
class TagsColumn:
    """Per-row lists of strings in CSR form: row ``i`` holds ``codes[indptr[i]:indptr[i+1]]``.

    Example:
        >>> col = TagsColumn.from_lists([["vip", "b2b"], [], ["vip"]])
        >>> col.vocabulary, col.indptr.tolist(), col.codes.tolist()
        (('b2b', 'vip'), [0, 2, 2, 3], [1, 0, 1])
        >>> col.row(0)
        ('vip', 'b2b')
    """

    indptr: NDArray[np.int64]
    codes: NDArray[np.int32]
    vocabulary: tuple[str, ...]

    def __attrs_post_init__(self) -> None:
        if (
            len(self.indptr) == 0
            or int(self.indptr[0]) != 0
            or int(self.indptr[-1]) != len(self.codes)
        ):
            raise ValidationError(
                "indptr must start at 0 and end at len(codes)", entity="TagsColumn", field="indptr"
            )
        if np.any(np.diff(self.indptr) < 0):
            bad = int(np.flatnonzero(np.diff(self.indptr) < 0)[0])
            raise ValidationError(
                "indptr must not decrease", entity="TagsColumn", field="indptr", row=bad
            )
        if list(self.vocabulary) != sorted(set(self.vocabulary)):
            raise ValidationError(
                "vocabulary must be sorted and unique", entity="TagsColumn", field="vocabulary"
            )
        if len(self.codes) and (
            int(self.codes.min()) < 0 or int(self.codes.max()) >= len(self.vocabulary)
        ):
            raise ValidationError(
                "code out of range of the vocabulary", entity="TagsColumn", field="codes"
            )

    @classmethod
    def from_lists(cls, lists: Iterable[Iterable[str] | None]) -> TagsColumn:
        """Encode one list (or ``None``, meaning no tags) per row.

        Example:
            >>> TagsColumn.from_lists([None, ["x"]]).indptr.tolist()
            [0, 0, 1]
        """
        rows = [tuple(row) if row is not None else () for row in lists]
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        flat = np.array([t for r in rows for t in r], dtype=object)
        for position, tag in enumerate(flat):
            if not isinstance(tag, str):
                raise ValidationError(
                    "tags must be strings",
                    entity="TagsColumn",
                    field="tags",
                    value=tag,
                    row=int(np.searchsorted(indptr, position, side="right") - 1),
                )
        if len(flat):
            vocab, inverse = np.unique(flat.astype(str), return_inverse=True)
            return cls(indptr, inverse.astype(np.int32), tuple(str(v) for v in vocab))
        return cls(indptr, np.zeros(0, dtype=np.int32), ())

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def row(self, row: int) -> tuple[str, ...]:
        """The tags of ``row``."""
        start, stop = int(self.indptr[row]), int(self.indptr[row + 1])
        return tuple(self.vocabulary[c] for c in self.codes[start:stop])

    def entry_rows(self) -> NDArray[np.intp]:
        """The row of every entry of ``codes``."""
        return np.repeat(np.arange(len(self), dtype=np.intp), np.diff(self.indptr))

    def take(self, index: NDArray[np.intp]) -> TagsColumn:
        """Rows at ``index`` (vectorized gather of the CSR slices)."""
        lengths = np.diff(self.indptr)[index]
        indptr = np.zeros(len(index) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        starts = self.indptr[:-1][index]
        total = int(indptr[-1])
        offsets = np.arange(total, dtype=np.int64) - np.repeat(indptr[:-1], lengths)
        gather = np.repeat(starts, lengths) + offsets
        return TagsColumn(indptr, self.codes[gather], self.vocabulary)

    def recode(self, vocabulary: tuple[str, ...]) -> NDArray[np.int32]:
        """Codes into a larger sorted ``vocabulary`` that contains this one."""
        lut = np.searchsorted(
            np.asarray(vocabulary, dtype=object), np.asarray(self.vocabulary, dtype=object)
        ).astype(np.int32)
        return lut[self.codes] if len(self.codes) else self.codes


Column: TypeAlias = NDArray[Any] | StringColumn | TagsColumn


def _convert(name: str, kind: FieldType, values: Any, n: int) -> Column:
    """Bring one column into its storage form (see the table docstring)."""
    if kind in (FieldType.STRING, FieldType.CATEGORY):
        col: Column = (
            values if isinstance(values, StringColumn) else StringColumn.from_values(values)
        )
    elif kind is FieldType.TAGS:
        col = values if isinstance(values, TagsColumn) else TagsColumn.from_lists(values)
    elif kind in (FieldType.NUMBER, FieldType.INTEGER):
        arr = np.asarray(values)
        if arr.dtype == object:
            arr = np.array([np.nan if v is None else v for v in arr.tolist()], dtype=np.float64)
        if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
            raise ValidationError(
                f"a {kind.value} column must be numeric",
                entity="FeatureTable",
                field=name,
                value=str(arr.dtype),
            )
        col = arr.astype(np.int64 if arr.dtype.kind in "iu" else np.float64, copy=False)
    elif kind is FieldType.BOOL:
        arr = np.asarray(values)
        if arr.dtype.kind == "b":
            col = arr.astype(np.int8)
        elif arr.dtype.kind == "i" and arr.dtype.itemsize == 1 and np.all((arr >= -1) & (arr <= 1)):
            col = arr.astype(np.int8, copy=False)
        else:
            out = np.full(arr.shape, -1, dtype=np.int8)
            for i, v in enumerate(arr.tolist()):  # small inputs only: object/float form
                if v is None or v != v:
                    continue
                if v not in (True, False, 0, 1):
                    raise ValidationError(
                        "a bool column holds true, false or null",
                        entity="FeatureTable",
                        field=name,
                        value=v,
                        row=i,
                    )
                out[i] = 1 if v else 0
            col = out
    elif kind is FieldType.DATETIME:
        arr = np.asarray(values)
        if arr.dtype.kind == "M":
            col = arr.astype("datetime64[us]")
        else:
            out_dt = np.empty(arr.shape, dtype="datetime64[us]")
            for i, v in enumerate(arr.tolist()):
                if v is None or (isinstance(v, float) and v != v):
                    out_dt[i] = np.datetime64("NaT", "us")
                elif isinstance(v, dt.datetime):
                    if v.tzinfo is None:
                        raise ValidationError(
                            "datetimes must be timezone-aware",
                            entity="FeatureTable",
                            field=name,
                            value=v,
                            row=i,
                        )
                    out_dt[i] = to_datetime64(v)
                else:
                    raise ValidationError(
                        "not a datetime", entity="FeatureTable", field=name, value=v, row=i
                    )
            col = out_dt
    elif kind is FieldType.DURATION:
        arr = np.asarray(values)
        if arr.dtype.kind == "m":
            col = arr.astype("timedelta64[us]")
        else:
            col = np.array(
                [
                    np.timedelta64("NaT", "us") if v is None else np.timedelta64(v, "us")
                    for v in arr.tolist()
                ],
                dtype="timedelta64[us]",
            )
    else:  # pragma: no cover
        raise AssertionError(kind)
    if len(col) != n:
        raise ValidationError(
            f"has {len(col)} rows but the table has {n} ids",
            entity="FeatureTable",
            field=name,
        )
    if isinstance(col, np.ndarray) and col.ndim != 1:
        raise ValidationError("must be one-dimensional", entity="FeatureTable", field=name)
    return col


def _html_value(value: Any) -> Any:
    """A record value as a notebook cell shows it (datetimes without microseconds)."""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value


def _null_column(kind: FieldType, n: int) -> Column:
    if kind in (FieldType.STRING, FieldType.CATEGORY):
        return StringColumn(np.full(n, -1, dtype=np.int32), ())
    if kind is FieldType.TAGS:
        return TagsColumn(np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int32), ())
    if kind is FieldType.BOOL:
        return np.full(n, -1, dtype=np.int8)
    if kind is FieldType.DATETIME:
        return np.full(n, np.datetime64("NaT", "us"))
    if kind is FieldType.DURATION:
        return np.full(n, np.timedelta64("NaT", "us"))
    return np.full(n, np.nan)


def _record_value(kind: FieldType, col: Column, row: int) -> Any:
    if isinstance(col, StringColumn):
        return col.value(row)
    if isinstance(col, TagsColumn):
        return col.row(row)
    value = col[row]
    if kind is FieldType.BOOL:
        return None if value < 0 else bool(value)
    if kind is FieldType.DATETIME:
        return from_datetime64(value)
    if kind is FieldType.DURATION:
        return from_timedelta64(value)
    if col.dtype.kind == "f":
        return None if value != value else float(value)
    return int(value)


def row_positions(ids: ArrayLike, wanted: ArrayLike) -> NDArray[np.int64]:
    """The position of each of ``wanted`` in ``ids`` (-1 where it is not there).

    One stable argsort of ``ids`` and one binary search per wanted id.

    Example:
        >>> row_positions(["b", "a", "c"], ["c", "z", "b"]).tolist()
        [2, -1, 0]
    """
    have = np.asarray(ids)
    want = np.asarray(wanted)
    if not len(have) or not len(want):
        return np.full(len(want), -1, dtype=np.int64)
    order = np.argsort(have, kind="stable")
    sorted_ids = have[order]
    found = np.searchsorted(sorted_ids, want)
    clipped = np.minimum(found, len(sorted_ids) - 1)
    ok = (found < len(sorted_ids)) & (sorted_ids[clipped] == want)
    return np.where(ok, order[clipped], -1).astype(np.int64)


class FeatureTable:
    """One row per customer, one column per feature, typed by a :class:`Schema`.

    Storage (what :meth:`column` returns), nulls in brackets:

    * ``number`` / ``integer``: ``float64`` (NaN) or ``int64`` (no nulls);
    * ``bool``: ``int8`` with 1 true, 0 false (-1);
    * ``string`` / ``category``: :class:`StringColumn`, sorted vocabulary + ``int32`` codes (-1);
    * ``datetime``: ``datetime64[us]`` in UTC (NaT); ``duration``: ``timedelta64[us]`` (NaT);
    * ``tags``: :class:`TagsColumn` (CSR ``indptr`` + codes; an empty list, never null).

    The constructor converts plain inputs (lists with ``None``, bool arrays, aware
    datetimes) into that form. Tables are immutable: :meth:`filter`, :meth:`select`,
    :meth:`take` and :meth:`update` return new tables sharing unchanged arrays (and the
    :attr:`metadata` of the table they come from).

    Args:
        ids: The row ids (customer ids), unique.
        columns: Column name to values.
        schema: Types of (at least) the given columns.
        metadata: Facts about the table as a whole (read-only), e.g. the
            ``"model_coverage"`` that :func:`~ecomcrm.segments.build_customer_features`
            records: how many customers each model scored or left out, and why.

    Example:
        >>> import numpy as np
        >>> table = FeatureTable(
        ...     [10, 11, 12],
        ...     {"total_spent": [250.0, None, 40.0], "country": ["US", "DE", None]},
        ...     {"total_spent": "number", "country": "category"},
        ... )
        >>> len(table), table.to_record(0)
        (3, {'total_spent': 250.0, 'country': 'US'})
        >>> table.filter(np.array([True, False, True])).ids.tolist()
        [10, 12]
    """

    __slots__ = ("_columns", "_ids", "_meta", "_schema")

    def __init__(
        self,
        ids: ArrayLike,
        columns: Mapping[str, Any],
        schema: Schema | Mapping[str, FieldType | str],
        *,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        full = schema if isinstance(schema, Schema) else Schema(schema)
        id_array = np.asarray(ids)
        if id_array.ndim != 1:
            raise ValidationError("ids must be one-dimensional", entity="FeatureTable", field="ids")
        n = len(id_array)
        if n:
            order = np.argsort(id_array, kind="stable")
            dup = np.flatnonzero(id_array[order][1:] == id_array[order][:-1])
            if len(dup):
                row = int(order[dup[0] + 1])
                raise ValidationError(
                    "ids must be unique",
                    entity="FeatureTable",
                    field="ids",
                    value=id_array[row].item(),
                    row=row,
                )
        converted: dict[str, Column] = {}
        for name, values in columns.items():
            if name not in full:
                raise ValidationError(
                    "column is not in the schema", entity="FeatureTable", field=name
                )
            converted[name] = _convert(name, full[name], values, n)
        self._ids = id_array
        self._columns = converted
        self._schema = Schema({name: full[name] for name in converted})
        self._meta: Mapping[str, Any] = MappingProxyType(dict(metadata or {}))

    @classmethod
    def _raw(
        cls,
        ids: NDArray[Any],
        columns: dict[str, Column],
        schema: Schema,
        metadata: Mapping[str, Any] | None = None,
    ) -> FeatureTable:
        table = cls.__new__(cls)
        table._ids = ids
        table._columns = columns
        table._schema = schema
        table._meta = MappingProxyType(dict(metadata or {}))
        return table

    @property
    def metadata(self) -> Mapping[str, Any]:
        """Facts about the whole table (read-only; empty unless the builder set some).

        Example:
            >>> FeatureTable([1], {}, {}, metadata={"source": "test"}).metadata["source"]
            'test'
        """
        return self._meta

    def with_metadata(self, **items: Any) -> FeatureTable:
        """Return this table with ``items`` added to its :attr:`metadata` (columns shared).

        Example:
            >>> FeatureTable([1], {}, {}).with_metadata(note="x").metadata["note"]
            'x'
        """
        return FeatureTable._raw(self._ids, self._columns, self._schema, {**self._meta, **items})

    @classmethod
    def from_records(
        cls,
        records: Sequence[Mapping[str, Any]],
        schema: Schema | Mapping[str, FieldType | str],
        *,
        id_field: str = "id",
    ) -> FeatureTable:
        """Build a (small) table from dicts; missing keys are null.

        Example:
            >>> t = FeatureTable.from_records([{"id": 1, "orders_count": 2}], {"orders_count": "integer"})
            >>> t.column("orders_count").tolist()
            [2]
        """
        full = schema if isinstance(schema, Schema) else Schema(schema)
        ids = [r[id_field] for r in records]
        columns: dict[str, Any] = {}
        for name, kind in full.items():
            values = [r.get(name) for r in records]
            if kind in (FieldType.NUMBER, FieldType.INTEGER) and any(v is None for v in values):
                columns[name] = np.array(
                    [np.nan if v is None else v for v in values], dtype=np.float64
                )
            elif kind in (FieldType.NUMBER, FieldType.INTEGER):
                columns[name] = np.array(
                    values,
                    dtype=np.float64 if any(isinstance(v, float) for v in values) else np.int64,
                )
            elif kind is FieldType.BOOL:
                columns[name] = np.array(values, dtype=object)
            else:
                columns[name] = values
        return cls(ids, columns, full)

    # ---- access ----
    @property
    def ids(self) -> NDArray[Any]:
        """The row ids."""
        return self._ids

    @property
    def schema(self) -> Schema:
        """The types of the columns this table has."""
        return self._schema

    @property
    def names(self) -> tuple[str, ...]:
        """Column names."""
        return tuple(self._columns)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, name: object) -> bool:
        return name in self._columns

    def __repr__(self) -> str:
        return f"FeatureTable({len(self)} rows, columns={list(self._columns)})"

    def _repr_html_(self, rows: int = 10, columns: int = 12) -> str:
        """The first rows and columns as a compact HTML table (Jupyter shows it).

        Example:
            >>> t = FeatureTable([1, 2], {"total_spent": [5.0, None]}, {"total_spent": "number"})
            >>> "<caption" in t._repr_html_() and "2 customers" in t._repr_html_()
            True
        """
        from ecomcrm._html import html_table

        names = list(self._columns)[:columns]
        shown = min(len(self), rows)
        body = []
        for i in range(shown):  # at most ``rows`` rows
            record = self.to_record(i)
            body.append([self.ids[i], *(_html_value(record.get(n)) for n in names)])
        hidden_cols = len(self._columns) - len(names)
        note = ", ".join(
            part
            for part in (
                f"{len(self) - shown:,} more rows" if len(self) > shown else "",
                f"{hidden_cols} more columns" if hidden_cols > 0 else "",
            )
            if part
        )
        return html_table(
            f"FeatureTable: {len(self):,} customers x {len(self._columns)} columns",
            ["id", *names],
            body,
            note=f"... {note}" if note else "",
        )

    def column(self, name: str) -> Column:
        """The stored column ``name`` (see the class docstring for its form).

        Raises:
            ValidationError: No such column.
        """
        try:
            return self._columns[name]
        except KeyError:
            raise ValidationError(
                f"no such column; the table has {sorted(self._columns)}",
                entity="FeatureTable",
                field=name,
            ) from None

    def positions(self, ids: ArrayLike) -> NDArray[np.intp]:
        """Row positions of ``ids``.

        Raises:
            NotFoundError: An id that is not in the table.

        Example:
            >>> t = FeatureTable(["a", "b"], {}, {})
            >>> t.positions(["b"]).tolist()
            [1]
        """
        from ecomcrm.errors import NotFoundError

        wanted = np.asarray(ids)
        found = row_positions(self._ids, wanted)
        if np.any(found < 0):
            bad = int(np.flatnonzero(found < 0)[0])
            raise NotFoundError(
                "no such id in the table",
                entity="FeatureTable",
                field="ids",
                value=wanted[bad].item(),
                row=bad,
            )
        return found.astype(np.intp)

    def to_record(self, row: int) -> dict[str, Any]:
        """Row ``row`` as a dict of Python values (the scalar backend's input).

        Nulls are ``None``; datetimes are aware UTC datetimes; tags are tuples.
        """
        if not -len(self) <= row < len(self):
            raise ValidationError("row out of range", entity="FeatureTable", field="row", value=row)
        row = row % len(self)
        return {
            name: _record_value(self._schema[name], col, row) for name, col in self._columns.items()
        }

    def record_for(self, customer_id: Any) -> dict[str, Any]:
        """The record of one id (see :meth:`to_record`)."""
        return self.to_record(int(self.positions([customer_id])[0]))

    # ---- derived tables ----
    def with_null_columns(self, schema: Schema | Mapping[str, FieldType | str]) -> FeatureTable:
        """Return this table plus every column of ``schema`` it lacks, all null.

        Useful to evaluate segments that name features a table was not built with (a
        shop without a fitted model has no ``p_alive``): the conditions then follow the
        null rules for those features.

        Example:
            >>> t = FeatureTable([1, 2], {"n": [1, 2]}, {"n": "integer"})
            >>> t.with_null_columns({"n": "integer", "p": "number", "tags": "tags"}).to_record(0)
            {'n': 1, 'p': None, 'tags': ()}
        """
        full = schema if isinstance(schema, Schema) else Schema(schema)
        n = len(self)
        columns = dict(self._columns)
        kinds = dict(self._schema.items())
        for name, kind in full.items():
            if name in columns:
                continue
            kinds[name] = kind
            columns[name] = _null_column(kind, n)
        return FeatureTable._raw(self._ids, columns, Schema(kinds), self._meta)

    def select(self, names: Iterable[str]) -> FeatureTable:
        """A table with only the named columns.

        Example:
            >>> FeatureTable([1], {"a": [1.0], "b": [2.0]}, {"a": "number", "b": "number"}).select(["b"]).names
            ('b',)
        """
        chosen = {name: self.column(name) for name in names}
        return FeatureTable._raw(
            self._ids, chosen, Schema({n: self._schema[n] for n in chosen}), self._meta
        )

    def take(self, index: ArrayLike) -> FeatureTable:
        """Rows at the positions ``index`` (in that order)."""
        idx = np.asarray(index, dtype=np.intp)
        columns: dict[str, Column] = {}
        for name, col in self._columns.items():
            columns[name] = (
                col.take(idx) if isinstance(col, StringColumn | TagsColumn) else col[idx]
            )
        return FeatureTable._raw(self._ids[idx], columns, self._schema, self._meta)

    def filter(self, mask: ArrayLike) -> FeatureTable:
        """Rows where the boolean ``mask`` is true (e.g. a segment's membership)."""
        m = np.asarray(mask)
        if m.dtype != bool or m.shape != (len(self),):
            raise ValidationError(
                f"mask must be a boolean array of length {len(self)}",
                entity="FeatureTable",
                field="mask",
            )
        return self.take(np.flatnonzero(m))

    @staticmethod
    def concat(tables: Sequence[FeatureTable]) -> FeatureTable:
        """Stack tables with the same columns (ids must stay unique)."""
        if not tables:
            raise ValidationError("nothing to concatenate", entity="FeatureTable")
        first = tables[0]
        for t in tables[1:]:
            if t.schema != first.schema:
                raise ValidationError(
                    "tables have different schemas", entity="FeatureTable", field="schema"
                )
        columns: dict[str, Column] = {}
        for name in first.names:
            parts = [t.column(name) for t in tables]
            if isinstance(parts[0], StringColumn):
                strs = [p for p in parts if isinstance(p, StringColumn)]
                vocab = tuple(sorted(set().union(*(p.vocabulary for p in strs))))
                columns[name] = StringColumn(
                    np.concatenate([p.recode(vocab) for p in strs]).astype(np.int32), vocab
                )
            elif isinstance(parts[0], TagsColumn):
                tags = [p for p in parts if isinstance(p, TagsColumn)]
                vocab = tuple(sorted(set().union(*(p.vocabulary for p in tags))))
                lengths = np.concatenate([np.diff(p.indptr) for p in tags])
                indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
                np.cumsum(lengths, out=indptr[1:])
                codes = np.concatenate([p.recode(vocab) for p in tags]).astype(np.int32)
                columns[name] = TagsColumn(indptr, codes, vocab)
            else:
                columns[name] = np.concatenate(parts)  # type: ignore[arg-type]
        ids = np.concatenate([t.ids for t in tables])
        return FeatureTable(ids, columns, first.schema, metadata=first.metadata)

    def update(self, changed: FeatureTable) -> FeatureTable:
        """Return this table with the rows of ``changed`` replaced (same id) or appended (new id).

        This is how a table is refreshed for the customers that changed: rebuild their
        rows only, then ``table = table.update(rebuilt)``. Row order of existing ids is kept.

        Example:
            >>> old = FeatureTable([1, 2], {"x": [1.0, 2.0]}, {"x": "number"})
            >>> new = old.update(FeatureTable([2, 3], {"x": [20.0, 30.0]}, {"x": "number"}))
            >>> new.ids.tolist(), new.column("x").tolist()
            ([1, 2, 3], [1.0, 20.0, 30.0])
        """
        if changed.schema != self.schema:
            raise ValidationError(
                "the changed rows must have the same columns and types",
                entity="FeatureTable",
                field="schema",
            )
        order = np.argsort(changed.ids, kind="stable")
        sorted_changed = changed.ids[order]
        pos = np.searchsorted(sorted_changed, self._ids)
        pos_c = np.minimum(pos, max(len(sorted_changed) - 1, 0))
        hit = (pos < len(sorted_changed)) & (
            sorted_changed[pos_c] == self._ids if len(sorted_changed) else np.zeros(len(self), bool)
        )
        n_old = len(self)
        index = np.arange(n_old, dtype=np.intp)
        index[hit] = n_old + order[pos_c[hit]]
        used = np.zeros(len(changed), dtype=bool)
        used[order[pos_c[hit]]] = True
        new_rows = n_old + np.flatnonzero(~used)
        stacked = _stack(self, changed)
        return stacked.take(np.concatenate([index, new_rows]))


def _stack(a: FeatureTable, b: FeatureTable) -> FeatureTable:
    """Concatenate without the unique-id check (ids may repeat; callers take a subset)."""
    columns: dict[str, Column] = {}
    for name in a.names:
        pa, pb = a.column(name), b.column(name)
        if isinstance(pa, StringColumn) and isinstance(pb, StringColumn):
            vocab = tuple(sorted(set(pa.vocabulary) | set(pb.vocabulary)))
            columns[name] = StringColumn(
                np.concatenate([pa.recode(vocab), pb.recode(vocab)]).astype(np.int32), vocab
            )
        elif isinstance(pa, TagsColumn) and isinstance(pb, TagsColumn):
            vocab = tuple(sorted(set(pa.vocabulary) | set(pb.vocabulary)))
            lengths = np.concatenate([np.diff(pa.indptr), np.diff(pb.indptr)])
            indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
            np.cumsum(lengths, out=indptr[1:])
            codes = np.concatenate([pa.recode(vocab), pb.recode(vocab)]).astype(np.int32)
            columns[name] = TagsColumn(indptr, codes, vocab)
        else:
            assert isinstance(pa, np.ndarray) and isinstance(pb, np.ndarray)
            columns[name] = np.concatenate([pa, pb])
    return FeatureTable._raw(np.concatenate([a.ids, b.ids]), columns, a.schema, a.metadata)
