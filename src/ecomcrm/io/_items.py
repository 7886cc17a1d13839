"""The steps every importer takes between reading a record and queueing its :class:`Item`.

An importer keeps only its format's mapping (which column holds what, how a line item is
spelled). Starting an import, sorting a record into queued, rejected or suppressed, creating
the customer a record brings in, and recording a customers file's people with their marketing
consents are the same for every format, and live here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

from ecomcrm.domain import Address, Channel, Consent, Customer, Identity, Purpose, is_time_zone
from ecomcrm.errors import EcomcrmError, ValidationError
from ecomcrm.io._batches import BatchWriter
from ecomcrm.io._people import Resolver
from ecomcrm.io._progress import ProgressOption, make_progress
from ecomcrm.io._report import ImportReport
from ecomcrm.io._rows import Item, PathLike, RowError, reject, source_name, unexpected
from ecomcrm.storage import Store

P = ParamSpec("P")
Row = TypeVar("Row")


def time_zone(name: str) -> ZoneInfo:
    """The zone an importer's ``timezone=`` names; ValidationError when it is no IANA name."""
    if not is_time_zone(name):
        raise ValidationError("must be an IANA time zone name", field="timezone", value=name)
    return ZoneInfo(name)


def start_import(
    store: Store,
    path: PathLike,
    kind: str,
    *,
    unit: str,
    progress: ProgressOption,
    batch_size: int,
    complete: bool | None = None,
    fresh: bool | None = None,
    done: Callable[[int], None] | None = None,
    bulk: bool = False,
) -> BatchWriter:
    """The writer of one import of ``path``, with its report, resolver and progress display.

    The report (``writer.report``) is named after the file and ``kind``; ``complete`` goes
    to the :class:`Resolver` (``writer.resolver``), the other options to the
    :class:`BatchWriter`.
    """
    file = source_name(path)
    report = ImportReport(source=file, kind=kind)
    resolver = Resolver(store, complete=complete)
    return BatchWriter(
        store, report, resolver, make_progress(progress, f"import {file}", unit=unit),
        batch_size=batch_size, fresh=fresh, done=done, bulk=bulk,
    )  # fmt: skip


def add_record(
    writer: BatchWriter,
    line: int,
    build: Callable[P, Item | None],
    *args: P.args,
    **kwargs: P.kwargs,
) -> None:
    """Queue the item ``build(*args, **kwargs)`` makes of the record starting at ``line``.

    A RowError rejects the record, at the line the error names (a later row of the record)
    or else at ``line``, and undoes the customers the record had created or changed, so a
    rejected record creates nobody; None (the record's person was erased) counts it as
    suppressed. A domain ValidationError rejects it too. Any other exception but a
    store's (a bug that some input triggers) rejects the record with the exception as its
    reason rather than end the import half-way: the rest of the file still goes in, and
    the report says what happened where.
    """
    queue_record(writer, line, build, args, kwargs)


def _nothing() -> None:
    pass


def queue_record(
    writer: BatchWriter,
    line: int,
    build: Callable[..., Item | None],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    drop_staged: Callable[[], None] = _nothing,
    keep_staged: Callable[[], None] = _nothing,
) -> None:
    """:func:`add_record`, for an importer that stages state of its own while it builds an item.

    ``drop_staged()`` runs wherever the record's customers are undone (the record is
    refused, or the import stops on it); ``keep_staged()`` once the record is taken (queued,
    or suppressed), so a refused record leaves no trace in the importer either.
    """
    resolver = writer.resolver
    resolver.begin_record()
    try:
        item = build(*args, **kwargs)
    except RowError as exc:
        resolver.undo_record()  # a rejected record creates nobody
        drop_staged()
        reject(writer.report, exc.line or line, exc)
        return
    except ValidationError as exc:
        resolver.undo_record()
        drop_staged()
        reject(writer.report, line, RowError.from_validation(exc))
        return
    except EcomcrmError as exc:  # the store failed (StorageError...): the import stops
        resolver.undo_record()
        drop_staged()
        writer.stopped(exc, line)
        raise
    except MemoryError as exc:
        resolver.undo_record()
        drop_staged()
        writer.stopped(exc, line)
        raise
    except Exception as exc:  # any other: a record no rule foresaw, not a reason to stop
        resolver.undo_record()
        drop_staged()
        reject(writer.report, line, unexpected(exc))
        return
    except BaseException:
        resolver.undo_record()
        drop_staged()
        raise
    resolver.end_record()
    keep_staged()
    if item is None:
        writer.report.suppressed += 1
        return
    try:
        writer.add(item)
    except BaseException as exc:
        writer.stopped(exc, line)
        raise


def add_rows(
    writer: BatchWriter,
    rows: Iterable[tuple[int, Row | RowError]],
    build: Callable[Concatenate[Row, int, P], Item | None],
    *args: P.args,
    **kwargs: P.kwargs,
) -> None:
    """Count each ``(line, row)`` of a file with one record a row, and :func:`add_record` it.

    The item is ``build(row, line, *args, **kwargs)``; a row the reader could not read
    (a RowError in its place) is rejected.
    """
    report = writer.report
    for line, row in rows:
        report.rows += 1
        if isinstance(row, RowError):
            reject(report, line, row)
            continue
        add_record(writer, line, build, row, line, *args, **kwargs)


def new_customer(
    item: Item,
    resolver: Resolver,
    report: ImportReport,
    customer_id: str,
    identities: Sequence[Identity],
    created_at: datetime,
    **details: Any,
) -> str:
    """Create the customer a record brings in, queued with ``item``; returns its id.

    Phones another customer already holds are left off (:meth:`Resolver.unowned`, counted
    in ``report``); ``details`` are further :class:`~ecomcrm.domain.Customer` fields. A
    value the domain refuses is a RowError naming its field.
    """
    try:
        customer = Customer(
            id=customer_id,
            created_at=created_at,
            identities=resolver.unowned(identities, report),
            **details,
        )
    except ValidationError as exc:
        raise RowError.from_validation(exc) from None
    resolver.add(customer)
    item.customers.append(customer)
    return customer.id


def add_customer_row(
    item: Item,
    resolver: Resolver,
    existing: Customer | None,
    customer: Customer,
    at: datetime,
    consents: Iterable[tuple[Channel, bool | None, str]],
) -> None:
    """Queue a customers-file row's ``customer`` and the marketing consents it states.

    ``customer`` is the row's person: new when ``existing`` is None, else ``existing``
    with the row merged in; it is queued with ``item`` unless nothing changed, and
    ``item.customer_state`` says which ("imported", "updated" or "unchanged").
    ``consents`` are ``(channel, granted, source)``; ``granted`` None (no decision) is
    skipped, and so is a decision the customer's current consent already records. Each
    consent recorded is dated ``at`` and makes an unchanged customer "updated".
    """
    if existing is None:
        item.customer_state = "imported"
    else:
        item.customer_state = "unchanged" if customer == existing else "updated"
    if item.customer_state != "unchanged":
        resolver.add(customer)
        item.customers.append(customer)
    # The current decision: one queued earlier in this batch, else the stored one.
    current = {} if existing is None else resolver.store.consents.current(customer.id)
    queued = resolver.queued_consents
    for channel, granted, source in consents:
        if granted is None:
            continue
        key = (customer.id, channel, Purpose.MARKETING)
        latest = queued.get(key)
        if latest is None:
            stored = current.get((channel, Purpose.MARKETING))
            latest = None if stored is None else stored.granted
        if latest == granted:
            continue
        queued[key] = granted
        item.consents.append(
            Consent(
                customer_id=customer.id,
                channel=channel,
                purpose=Purpose.MARKETING,
                granted=granted,
                at=at,
                source=source,
            )
        )
        if item.customer_state == "unchanged":
            item.customer_state = "updated"


def optional_address(
    column: str,
    *,
    line1: str,
    line2: str,
    city: str,
    region: str,
    postal_code: str,
    country: str | None,
) -> Address | None:
    """A record's address, None when ``line1`` is blank; one the domain refuses is a RowError.

    The RowError names ``column`` (the file's first address column).
    """
    if not line1:
        return None
    try:
        return Address(
            line1=line1,
            line2=line2,
            city=city,
            region=region,
            postal_code=postal_code,
            country=country,
        )
    except ValidationError as exc:
        raise RowError.from_validation(exc, column) from None


def parse_tags(text: str) -> set[str]:
    """The tags of a comma-separated cell, blanks dropped.

    Example:
        >>> sorted(parse_tags("vip, wholesale,,"))
        ['vip', 'wholesale']
    """
    return {t.strip() for t in text.split(",") if t.strip()}
