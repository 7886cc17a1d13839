"""The record steps the importers share (ecomcrm.io._items)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ecomcrm.domain import Channel, Consent, Customer, Identity, Purpose
from ecomcrm.errors import ValidationError
from ecomcrm.io._items import (
    add_customer_row,
    add_record,
    add_rows,
    new_customer,
    optional_address,
    parse_tags,
    start_import,
    time_zone,
)
from ecomcrm.io._rows import Item, RowError
from ecomcrm.storage import Store

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _build(row: str, line: int) -> Item | None:
    if row == "bad":
        raise RowError("col", "is bad", row)
    if row == "late":
        error = RowError("col", "is bad on a later row", row)
        error.line = line + 5
        raise error
    if row == "erased":
        return None
    return Item(line)


def test_add_rows_sorts_records_into_queued_rejected_and_suppressed(memory_store: Store) -> None:
    writer = start_import(
        memory_store, "/tmp/x/file.csv", "test", unit="rows", progress=None, batch_size=10
    )
    assert writer.report.source == "file.csv"
    assert writer.report.kind == "test"
    rows = [(2, "ok"), (3, "bad"), (4, "late"), (5, "erased")]
    add_rows(writer, rows, _build)
    report = writer.report
    assert report.rows == 4
    assert report.suppressed == 1
    assert [r.line for r in report.rejections] == [3, 9]
    assert report.rejections[0].reason == "is bad"
    writer.close()


def test_add_record_passes_arguments(memory_store: Store) -> None:
    writer = start_import(memory_store, "f.csv", "test", unit="rows", progress=None, batch_size=1)
    seen: list[tuple[str, int]] = []

    def build(row: str, line: int, *, tag: str) -> Item | None:
        seen.append((row + tag, line))
        return None

    add_record(writer, 7, build, "r", 7, tag="!")
    assert seen == [("r!", 7)]
    assert writer.report.suppressed == 1
    writer.close()


def test_new_customer_queues_it_and_turns_refusals_into_row_errors(memory_store: Store) -> None:
    writer = start_import(memory_store, "f.csv", "test", unit="rows", progress=None, batch_size=1)
    item = Item(2)
    ada = [Identity.email("ada@example.com")]
    assert new_customer(item, writer.resolver, writer.report, "c1", ada, T0) == "c1"
    assert [c.id for c in item.customers] == ["c1"]
    assert writer.resolver.get("c1") is item.customers[0]
    with pytest.raises(RowError):
        new_customer(item, writer.resolver, writer.report, "c2", ada, T0, country="France")
    writer.close()


def test_add_customer_row_records_only_consents_that_change_the_state(
    memory_store: Store,
) -> None:
    ada = Customer(id="c1", created_at=T0, identities=[Identity.email("ada@example.com")])
    memory_store.customers.put_many([ada])
    memory_store.consents.record_many(
        [Consent(customer_id="c1", channel=Channel.EMAIL, purpose=Purpose.MARKETING,
                 granted=True, at=T0, source="before")]
    )  # fmt: skip
    writer = start_import(memory_store, "f.csv", "test", unit="rows", progress=None, batch_size=1)
    item = Item(2)
    add_customer_row(
        item, writer.resolver, ada, ada, T0,
        ((Channel.EMAIL, True, "f.csv:2"), (Channel.SMS, None, "f.csv:2")),
    )  # fmt: skip
    assert item.customer_state == "unchanged"
    assert item.consents == [] and item.customers == []
    add_customer_row(item, writer.resolver, ada, ada, T0, ((Channel.SMS, False, "f.csv:2"),))
    assert item.customer_state == "updated"
    assert [(c.channel, c.granted, c.source) for c in item.consents] == [
        (Channel.SMS, False, "f.csv:2")
    ]
    new = Item(3)
    add_customer_row(new, writer.resolver, None, ada, T0, ())
    assert new.customer_state == "imported"
    assert new.customers == [ada]
    writer.close()


def test_optional_address() -> None:
    assert optional_address(
        "A1", line1="", line2="", city="", region="", postal_code="", country=None
    ) is None  # fmt: skip
    address = optional_address(
        "A1", line1="1 Main St", line2="", city="Paris", region="", postal_code="75001",
        country="FR",
    )  # fmt: skip
    assert address is not None and address.city == "Paris"
    with pytest.raises(RowError) as caught:
        optional_address(
            "A1", line1="1 Main St", line2="", city="", region="", postal_code="",
            country="France",
        )  # fmt: skip
    assert caught.value.column == "A1"


def test_time_zone_and_tags() -> None:
    assert str(time_zone("Europe/Paris")) == "Europe/Paris"
    with pytest.raises(ValidationError):
        time_zone("Mars/Olympus")
    assert parse_tags(" vip,, wholesale ,") == {"vip", "wholesale"}
