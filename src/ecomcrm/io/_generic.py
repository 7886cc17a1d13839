"""Any CSV or JSON-lines file, with a mapping from ecomcrm's field names to its columns.

The mapping says where each field is: ``{"order_id": "InvoiceNo", "email": "Customer
Email", "placed_at": "InvoiceDate", "total": "Amount"}``. In JSON lines a source name may be
a dotted path (``"customer.email"``). Consecutive rows with the same ``order_id`` are the
lines of one order (one row per order works too: without ``sku`` the order gets a single
line for its total).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from ecomcrm.domain import (
    Channel,
    Customer,
    Event,
    Identity,
    IdentityKind,
    Order,
    OrderLine,
)
from ecomcrm.errors import ValidationError
from ecomcrm.io._batches import DEFAULT_BATCH_SIZE, BatchWriter
from ecomcrm.io._cells import (
    email_identity,
    parse_consent,
    parse_datetime,
    parse_decimal,
    parse_int,
    parse_json,
    parse_order_status,
    phone_identity,
)
from ecomcrm.io._csvfile import open_text, read_rows
from ecomcrm.io._items import (
    add_customer_row,
    add_record,
    new_customer,
    parse_tags,
    start_import,
    time_zone,
)
from ecomcrm.io._people import Resolver, customer_id_for, merge_customer
from ecomcrm.io._progress import ProgressOption
from ecomcrm.io._report import ImportReport
from ecomcrm.io._rows import Item, PathLike, RowError, reject, source_name
from ecomcrm.io._segment_events import read_json_lines
from ecomcrm.storage import Store
from ecomcrm.storage.toolkit import customer_id_identity

Kind = Literal["orders", "customers", "events"]

GENERIC_FIELDS: Mapping[str, tuple[str, ...]] = {
    "orders": (
        "order_id", "customer_id", "email", "phone", "placed_at", "currency", "total", "sku",
        "title", "quantity", "unit_price", "shipping", "tax", "discount", "status",
    ),
    "customers": (
        "customer_id", "email", "phone", "first_name", "last_name", "created_at", "country",
        "timezone", "email_marketing", "sms_marketing", "tags",
    ),
    "events": ("event_id", "name", "at", "customer_id", "email", "phone", "anonymous_id",
               "properties"),
}  # fmt: skip
"""The fields a mapping may name, per kind of file."""

_REQUIRED: Mapping[str, tuple[tuple[str, ...], ...]] = {
    "orders": (("placed_at",), ("customer_id", "email", "phone"), ("total", "unit_price")),
    "customers": (("customer_id", "email", "phone"),),
    "events": (("name",), ("at",), ("customer_id", "email", "phone", "anonymous_id")),
}  # fmt: skip
_ZERO = Decimal(0)


class _Row:
    """Reads mapped fields from a CSV row or a JSON object, as text."""

    def __init__(self, mapping: Mapping[str, str], header: list[str] | None) -> None:
        self.mapping = mapping
        self.index = (
            {field: header.index(col) for field, col in mapping.items() if col in header}
            if header is not None
            else None
        )
        self.values: Any = None

    def raw(self, field: str) -> Any:
        source = self.mapping.get(field)
        if source is None:
            return None
        if self.index is not None:
            i = self.index.get(field)
            return self.values[i] if i is not None and i < len(self.values) else None
        value = self.values
        for part in source.split("."):
            if not isinstance(value, Mapping):
                return None
            value = value.get(part)
        return value

    def text(self, field: str) -> str:
        value = self.raw(field)
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value).strip()

    def column(self, field: str) -> str:
        return self.mapping.get(field, field)


def _check_mapping(kind: str, mapping: Mapping[str, str], header: list[str] | None) -> None:
    fields = GENERIC_FIELDS.get(kind)
    if fields is None:
        raise ValidationError(
            "must be orders, customers or events", entity="import_generic", field="kind", value=kind
        )
    unknown = sorted(set(mapping) - set(fields))
    if unknown:
        raise ValidationError(
            f"names unknown fields; {kind} files know {', '.join(fields)}",
            entity="import_generic", field="mapping", value=unknown,
        )  # fmt: skip
    for group in _REQUIRED[kind]:
        if not any(f in mapping for f in group):
            raise ValidationError(
                f"must map one of {', '.join(group)}", entity="import_generic", field="mapping",
                value=dict(mapping),
            )  # fmt: skip
    if header is not None:
        missing = sorted(col for col in mapping.values() if col not in header)
        if missing:
            raise ValidationError(
                f"names columns the file does not have (its header: {', '.join(header)})",
                entity="import_generic", field="mapping", value=missing, row=1,
            )  # fmt: skip


def _records(
    path: PathLike, fmt: str, delimiter: str, columns: Sequence[str] | None
) -> tuple[list[str] | None, Iterator[tuple[int, Any]]]:
    if fmt == "csv":
        handle = open_text(path)
        header, rows = read_rows(handle, delimiter=delimiter, columns=columns)

        def csv_rows() -> Iterator[tuple[int, Any]]:
            try:
                yield from rows
            finally:
                handle.close()

        return [h.strip().lstrip("\ufeff") for h in header], csv_rows()
    return None, read_json_lines(path)


def import_generic(
    store: Store,
    path: PathLike,
    *,
    kind: Kind,
    mapping: Mapping[str, str],
    format: Literal["csv", "jsonl"] | None = None,
    delimiter: str = ",",
    columns: Sequence[str] | None = None,
    currency: str | None = None,
    timezone: str = "UTC",
    exported_at: Any = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressOption = None,
    id_prefix: str = "",
) -> ImportReport:
    r"""Import orders, customers or events from any CSV or JSON-lines file.

    ``mapping`` maps ecomcrm field names (:data:`GENERIC_FIELDS`) to the file's columns
    (or dotted JSON paths). ``format`` defaults from the suffix (``.csv``/``.tsv``/``.txt``,
    else JSON lines; a ``.gz`` file is decompressed and judged by the suffix before).
    ``delimiter="whitespace"`` splits lines at runs of blanks (the CDNOW layout);
    ``columns`` names the columns of a file without a header line. Without an
    ``order_id`` mapping every row is one order, whose id is the file's name and the
    row's line (``"cdnow_master.txt:2"``), so a re-import finds the same orders.
    ``currency`` is used when no column gives one; naive timestamps are in
    ``timezone``. Customers come from ``customer_id`` (used as the id) or are found or
    created by ``email``/``phone``. Consent columns (``email_marketing``,
    ``sms_marketing``) are recorded at ``created_at`` (or ``exported_at``) when they
    change the current state.

    Example:
        >>> import ecomcrm, pathlib, tempfile
        >>> from ecomcrm.io import import_generic
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "sales.csv"
        >>> _ = path.write_text("invoice,client,date,amount\n"
        ...                     "A1,c-7,2024-01-02,19.90\nA2,c-7,2024-02-03,5.00\n")
        >>> store = ecomcrm.open_store("memory://")
        >>> report = import_generic(store, path, kind="orders", currency="EUR",
        ...     mapping={"order_id": "invoice", "customer_id": "client",
        ...              "placed_at": "date", "total": "amount"})
        >>> report.imported, [str(o.total) for o in store.orders.for_customer("c-7")]
        (2, ['19.90', '5.00'])
    """
    suffixes = [x.lower() for x in Path(path).suffixes] or [""]
    suffix = suffixes[-2] if suffixes[-1] == ".gz" and len(suffixes) > 1 else suffixes[-1]
    fmt = format or ("csv" if suffix in (".csv", ".tsv", ".txt") else "jsonl")
    if fmt not in ("csv", "jsonl"):
        raise ValidationError("must be csv or jsonl", entity="import_generic", field="format",
                              value=format)  # fmt: skip
    zone = time_zone(timezone)
    if delimiter == "," and suffix == ".tsv":
        delimiter = "\t"
    header, records = _records(path, fmt, delimiter, columns)
    _check_mapping(kind, mapping, header)
    writer = start_import(
        store, path, f"generic_{kind}", unit=kind, progress=progress, batch_size=batch_size
    )
    report = writer.report
    row = _Row(mapping, header)
    ctx = _Context(
        writer.resolver, row, zone, currency, id_prefix, source_name(path), exported_at, report
    )
    if kind == "orders":
        by_id = "order_id" in mapping
        group: list[tuple[int, Any]] = []
        current: Any = object()
        for line, values in records:
            if isinstance(values, RowError):
                report.rows += 1
                reject(report, line, values)
                continue
            report.rows += 1
            row.values = values
            key = row.text("order_id") if by_id else line
            if key != current and group:
                _emit(writer, group, ctx, _order)
                group = []
            current = key
            group.append((line, values))
        if group:
            _emit(writer, group, ctx, _order)
    else:
        build = _customer_item if kind == "customers" else _event_item
        for line, values in records:
            report.rows += 1
            if isinstance(values, RowError):
                reject(report, line, values)
                continue
            _emit(writer, [(line, values)], ctx, build)
    return writer.finish()


class _Context:
    def __init__(
        self,
        resolver: Resolver,
        row: _Row,
        zone: Any,
        currency: str | None,
        id_prefix: str,
        file: str,
        exported_at: Any,
        report: ImportReport,
    ) -> None:
        self.report = report
        self.resolver = resolver
        self.row = row
        self.zone = zone
        self.currency = currency
        self.id_prefix = id_prefix
        self.file = file
        self.exported_at = exported_at


_Build = Callable[[list[tuple[int, Any]], _Context], Item | None]


def _emit(writer: BatchWriter, group: list[tuple[int, Any]], ctx: _Context, build: _Build) -> None:
    """Queue the item ``build`` makes of a record's rows, as :func:`add_record` does."""
    add_record(writer, group[0][0], _validated, build, group, ctx)


def _validated(build: _Build, group: list[tuple[int, Any]], ctx: _Context) -> Item | None:
    """``build(group, ctx)``, a domain ValidationError being the record's RowError."""
    try:
        return build(group, ctx)
    except ValidationError as exc:
        raise RowError.from_validation(exc) from None


def _identities(row: _Row) -> list[Identity]:
    email = email_identity(row.text("email"), row.column("email"))
    phone = phone_identity(row.text("phone"))
    return [i for i in (email, phone) if i is not None]


def _no_person(row: _Row) -> RowError:
    """The error of a record that names nobody: it names the mapped person columns."""
    phone_text = row.text("phone").lstrip("'")
    if phone_text:  # the phone is the only way to know this person: say why it cannot be used
        return RowError(
            row.column("phone"),
            "is not a phone number in international form (+ and country code) and the "
            "record has no email or customer id",
            phone_text,
        )
    mapped = [row.mapping[f] for f in ("customer_id", "email", "phone") if f in row.mapping]
    if len(mapped) == 1:
        return RowError(mapped[0], "is empty: the record names no customer", "")
    return RowError(", ".join(mapped), "are all empty: the record names no customer", "")


def _customer_for(
    item: Item, ctx: _Context, identities: list[Identity], created: Any, customer_id: str
) -> str | None:
    """The customer id for a record; creates a minimal customer when new. None: suppressed."""
    resolver = ctx.resolver
    erased = [customer_id_identity(customer_id)] if customer_id else []  # an erased id too
    if resolver.is_suppressed([*identities, *erased]):
        return None
    found = customer_id if customer_id and resolver.get(customer_id) is not None else None
    found = found or resolver.find_person(identities)
    if found is not None:
        resolver.seen_at(item, found, created)
        return found
    new_id = customer_id or customer_id_for(identities)
    return new_customer(item, resolver, ctx.report, new_id, identities, created)


def _order(group: list[tuple[int, Any]], ctx: _Context) -> Item | None:
    row = ctx.row
    line, first = group[0]
    row.values = first
    order_id = row.text("order_id") if "order_id" in row.mapping else f"{ctx.file}:{line}"
    if not order_id:
        raise RowError(row.column("order_id"), "is empty", "")
    placed_at = parse_datetime(row.text("placed_at"), row.column("placed_at"), default_tz=ctx.zone)
    currency = row.text("currency") or ctx.currency
    if not currency:
        raise RowError(row.column("currency"), "is empty and no currency= was given", "")
    identities = _identities(row)
    customer_text = row.text("customer_id")
    if not identities and not customer_text:
        raise _no_person(row)
    item = Item(line)
    customer_id = _customer_for(item, ctx, identities, placed_at, customer_text)
    if customer_id is None:
        return None
    lines: list[OrderLine] = []
    has_lines = "sku" in row.mapping or "unit_price" in row.mapping
    for row_line, values in group:
        row.values = values
        row_currency = row.text("currency")
        if row_currency and row_currency != currency:
            error = RowError(
                row.column("currency"),
                f"differs from the order's first row ({currency!r}): one order has one currency",
                row_currency,
            )
            error.line = row_line
            raise error
        if not has_lines:
            continue
        try:
            qty = parse_int(row.text("quantity"), row.column("quantity"), default=1)
            if qty < 0:
                raise RowError(
                    row.column("quantity"),
                    "is negative: a return or cancellation, not a sale (import refunds as refunds)",
                    qty,
                )
            price = parse_decimal(row.text("unit_price"), row.column("unit_price"))
            sku = row.text("sku") or row.text("title") or "item"
            lines.append(
                OrderLine(sku=sku, title=row.text("title"), quantity=qty, unit_price=price)
            )
        except RowError as exc:
            exc.line = row_line
            raise
        except ValidationError as exc:
            error = RowError.from_validation(exc)
            error.line = row_line
            raise error from None
    row.values = first
    shipping = parse_decimal(row.text("shipping"), row.column("shipping"), default=_ZERO)
    tax = parse_decimal(row.text("tax"), row.column("tax"), default=_ZERO)
    discount = parse_decimal(row.text("discount"), row.column("discount"), default=_ZERO)
    total_text = row.text("total")
    if not lines:
        total = parse_decimal(total_text, row.column("total"))
        if total < 0:
            raise RowError(row.column("total"), "is negative (record refunds as refunds)", total)
        lines = [OrderLine(sku="order", quantity=1, unit_price=total - shipping - tax + discount)]
    fields: dict[str, Any] = {}
    if total_text:
        fields["total"] = parse_decimal(total_text, row.column("total"))
    status = row.text("status")
    if status:
        fields["status"] = parse_order_status(status, row.column("status"))
    try:
        order = Order(
            id=ctx.id_prefix + order_id, customer_id=customer_id, placed_at=placed_at,
            currency=currency, lines=lines, shipping=shipping, tax=tax, discount=discount,
            **fields,
        )  # fmt: skip
    except ValidationError as exc:
        column = {"total": "total", "currency": "currency", "status": "status"}.get(exc.field or "")
        raise RowError.from_validation(exc, row.column(column) if column else None) from None
    item.order = order
    return item


def _customer_item(group: list[tuple[int, Any]], ctx: _Context) -> Item | None:
    row = ctx.row
    line, values = group[0]
    row.values = values
    identities = _identities(row)
    customer_text = row.text("customer_id")
    if not identities and not customer_text:
        raise _no_person(row)
    if ctx.resolver.is_suppressed(identities):
        return None
    created_text = row.text("created_at")
    created = (
        parse_datetime(created_text, row.column("created_at"), default_tz=ctx.zone)
        if created_text
        else ctx.exported_at
    )
    if created is None:
        raise RowError(row.column("created_at"), "is empty and no exported_at= was given", "")
    email_consent = parse_consent(row.text("email_marketing"), row.column("email_marketing"))
    sms_consent = parse_consent(row.text("sms_marketing"), row.column("sms_marketing"))
    tz = row.text("timezone") or None
    country = row.text("country").upper() or None
    tags = parse_tags(row.text("tags"))
    item = Item(line)
    resolver = ctx.resolver
    existing_id = customer_text if customer_text and resolver.get(customer_text) else None
    existing_id = existing_id or resolver.find_person(identities)
    existing = resolver.get(existing_id) if existing_id else None
    try:
        if existing is None:
            customer = Customer(
                id=customer_text or customer_id_for(identities), created_at=created,
                identities=identities, first_name=row.text("first_name"),
                last_name=row.text("last_name"), country=country, timezone=tz, tags=tags,
            )  # fmt: skip
        else:
            customer = merge_customer(
                existing, identities=identities, first_name=row.text("first_name"),
                last_name=row.text("last_name"), country=country, timezone=tz, tags=tags,
                created_at=min(existing.created_at, created),
            )  # fmt: skip
    except ValidationError as exc:
        field = exc.field or ""
        raise RowError.from_validation(
            exc, row.column(field) if field in row.mapping else None
        ) from None
    source = f"{ctx.file}:{line}"
    add_customer_row(
        item, resolver, existing, customer, created,
        (
            (Channel.EMAIL, email_consent, f"{source} {row.column('email_marketing')}"),
            (Channel.SMS, sms_consent, f"{source} {row.column('sms_marketing')}"),
        ),
    )  # fmt: skip
    return item


def _event_item(group: list[tuple[int, Any]], ctx: _Context) -> Item | None:
    row = ctx.row
    line, values = group[0]
    row.values = values
    name = row.text("name")
    if not name:
        raise RowError(row.column("name"), "is empty", "")
    at = parse_datetime(row.text("at"), row.column("at"), default_tz=ctx.zone)
    anonymous = row.text("anonymous_id") or None
    identities = _identities(row)
    customer_text = row.text("customer_id")
    known = list(identities)
    if anonymous:
        known.append(Identity(kind=IdentityKind.ANONYMOUS, value=anonymous))
    if ctx.resolver.is_suppressed(known):
        return None
    item = Item(line)
    customer_id = None
    if identities or customer_text:
        customer_id = _customer_for(item, ctx, identities, at, customer_text)
        if customer_id is None:
            return None
    if customer_id is None and anonymous is None:
        raise _no_person(row)
    props = row.raw("properties")
    if isinstance(props, str):
        if props.strip():
            try:
                props = parse_json(props, row.column("properties"))
            except RowError as exc:
                exc.value = props
                raise
        else:
            props = {}
    if props is None:
        props = {}
    if not isinstance(props, Mapping):
        raise RowError(row.column("properties"), "is not a JSON object", props)
    fields: dict[str, Any] = {}
    event_id = row.text("event_id")
    if event_id:
        fields["id"] = ctx.id_prefix + event_id
    item.events.append(
        Event(name=name, at=at, customer_id=customer_id, anonymous_id=anonymous,
              properties=props, source=ctx.file, **fields)
    )  # fmt: skip
    return item
