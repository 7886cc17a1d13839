"""``handle_webhooks`` (a batch in one transaction) against ``handle_webhook`` one by one.

The property: for any sequence of deliveries (orders created and updated out of order,
the same webhook id twice, refunds, customers, checkouts, privacy requests, forged and
malformed bodies), split into batches anyhow, the batch path gives the same results,
in order, and leaves the same store as handling each delivery alone.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ecomcrm
from ecomcrm.errors import ValidationError
from ecomcrm.io import WebhookResult, handle_webhook, handle_webhooks
from ecomcrm.storage import Store

DATA = Path(__file__).resolve().parent.parent / "data" / "webhooks"
SECRET = "batch-secret"
NOW = datetime(2024, 3, 20, tzinfo=UTC)
EMAILS = ("ann@example.com", "bob@example.com", "cy@example.com")
Delivery = tuple[dict[str, str], bytes]


def _payload(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"shopify_{name}.json").read_text())  # type: ignore[no-any-return]


ORDER, REFUND, CUSTOMER, CHECKOUT = (
    _payload(n) for n in ("orders_create", "refunds_create", "customers_create", "checkouts_create")
)


def _signed(
    topic: str, data: dict[str, Any] | bytes, webhook_id: str, *, forged: bool = False
) -> Delivery:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    key = b"not-the-secret" if forged else SECRET.encode()
    signature = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()
    return {
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": signature,
        "X-Shopify-Webhook-Id": webhook_id,
    }, body


def _stamp(minutes: int) -> str:
    return (datetime(2024, 3, 6, 15, tzinfo=UTC) + timedelta(minutes=minutes)).isoformat()


@st.composite
def deliveries(draw: st.DrawFn) -> Delivery:
    kind = draw(st.sampled_from(["order", "order", "order", "refund", "customer", "checkout",
                                 "redact", "forged", "malformed"]))  # fmt: skip
    webhook_id = f"w{draw(st.integers(0, 12))}"  # few ids: the same id comes back
    number = draw(st.integers(0, 2))
    email = draw(st.sampled_from(EMAILS))
    minutes = draw(st.integers(0, 30))
    if kind == "order":
        p = copy.deepcopy(ORDER)
        p.update(id=1000 + number, name=f"#{1000 + number}", email=email, contact_email=email,
                 updated_at=_stamp(minutes), financial_status=draw(st.sampled_from(
                     ["paid", "pending", "partially_refunded"])))  # fmt: skip
        p["customer"] = {**p["customer"], "id": 500 + EMAILS.index(email), "email": email}
        if draw(st.booleans()):
            p["cancelled_at"] = _stamp(minutes)
        topic = draw(st.sampled_from(["orders/create", "orders/updated", "orders/paid"]))
        return _signed(topic, p, webhook_id)
    if kind == "refund":
        p = copy.deepcopy(REFUND)
        p.update(id=7000 + draw(st.integers(0, 3)), order_id=1000 + number)
        return _signed("refunds/create", p, webhook_id)
    if kind == "customer":
        p = copy.deepcopy(CUSTOMER)
        p.update(id=500 + EMAILS.index(email), email=email, updated_at=_stamp(minutes),
                 accepts_marketing=draw(st.booleans()), first_name=draw(st.sampled_from(
                     ["Ann", "Bo", "Cy"])))  # fmt: skip
        p.pop("email_marketing_consent", None)
        return _signed(draw(st.sampled_from(["customers/create", "customers/update"])), p,
                       webhook_id)  # fmt: skip
    if kind == "checkout":
        p = copy.deepcopy(CHECKOUT)
        p.update(token=f"tok{number}", email=email, updated_at=_stamp(minutes))
        return _signed("checkouts/create", p, webhook_id)
    if kind == "redact":
        body = {"shop_id": 1, "customer": {"id": 500 + EMAILS.index(email), "email": email}}
        return _signed("customers/redact", body, webhook_id)
    if kind == "forged":
        return _signed("orders/create", copy.deepcopy(ORDER), webhook_id, forged=True)
    return _signed("orders/create", b'{"id": 1, "name": ', webhook_id)


def _one_by_one(store: Store, batch: list[Delivery]) -> list[WebhookResult]:
    out = []
    for headers, body in batch:
        try:
            out.append(
                handle_webhook("shopify", headers, body, secret=SECRET, store=store, now=NOW)
            )
        except ValidationError as exc:
            out.append(WebhookResult(platform="shopify", topic="", status="refused", error=exc))
    return out


def _batched(store: Store, batch: list[Delivery], cuts: list[int]) -> list[WebhookResult]:
    out: list[WebhookResult] = []
    bounds = [0, *sorted({c % (len(batch) + 1) for c in cuts}), len(batch)]
    for start, end in itertools.pairwise(bounds):
        out += handle_webhooks("shopify", batch[start:end], secret=SECRET, store=store, now=NOW)
    return out


def _same_result(a: WebhookResult, b: WebhookResult) -> None:
    if a.status == "refused":
        assert b.status == "refused" and b.error is not None and a.error is not None
        assert (type(b.error), str(b.error)) == (type(a.error), str(a.error))
        return
    fields = ("platform", "topic", "status", "delivery_id", "customers", "orders", "refunds",
              "events", "fetch", "reason")  # fmt: skip
    assert {f: getattr(b, f) for f in fields} == {f: getattr(a, f) for f in fields}
    assert (a.response is None) == (b.response is None)


def _snapshot(store: Store) -> dict[str, Any]:
    customers = sorted(store.customers.iterate(), key=lambda c: c.id)
    orders = {}
    for n in range(3):
        try:
            orders[n] = store.orders.get(f"#{1000 + n}")
        except ecomcrm.errors.NotFoundError:
            orders[n] = None
    people = [c.id for c in customers]
    return {
        "customers": customers,
        "orders": orders,
        "refunds": {n: store.orders.refunds_for_order(f"#{1000 + n}") for n in range(3)},
        "events": {c: store.events.for_customer(c) for c in people},
        "consents": {c: store.consents.history(c) for c in people},
        "counts": (store.orders.count(), store.events.count()),
        "state": sorted((r.key, r.value, r.owner) for r in store.state.scan("webhook:")),
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(deliveries(), max_size=24), cuts=st.lists(st.integers(0, 30), max_size=3))
def test_a_batch_gives_what_one_by_one_gives(batch: list[Delivery], cuts: list[int]) -> None:
    alone, together = ecomcrm.open_store("memory://"), ecomcrm.open_store("memory://")
    expected = _one_by_one(alone, batch)
    got = _batched(together, batch, cuts)
    assert len(got) == len(expected)
    for a, b in zip(expected, got, strict=True):
        _same_result(a, b)
    assert _snapshot(together) == _snapshot(alone)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(deliveries(), min_size=1, max_size=16))
def test_a_batch_into_sqlite_gives_what_one_by_one_gives(
    tmp_path_factory: pytest.TempPathFactory, batch: list[Delivery]
) -> None:
    root = tmp_path_factory.mktemp("batch")
    alone = ecomcrm.open_store(f"sqlite:///{root / 'alone.db'}")
    together = ecomcrm.open_store(f"sqlite:///{root / 'together.db'}")
    expected = _one_by_one(alone, batch)
    got = handle_webhooks("shopify", batch, secret=SECRET, store=together, now=NOW)
    for a, b in zip(expected, got, strict=True):
        _same_result(a, b)
    assert _snapshot(together) == _snapshot(alone)
    alone.close()
    together.close()


def test_reordered_updates_within_one_batch_keep_the_newest() -> None:
    newer, older = copy.deepcopy(ORDER), copy.deepcopy(ORDER)
    newer.update(updated_at=_stamp(20), financial_status="paid")
    older.update(updated_at=_stamp(5), financial_status="pending")
    store = ecomcrm.open_store("memory://")
    results = handle_webhooks(
        "shopify",
        [_signed("orders/updated", newer, "a"), _signed("orders/updated", older, "b"),
         _signed("orders/updated", newer, "a")],
        secret=SECRET, store=store, now=NOW,
    )  # fmt: skip
    assert [r.status for r in results] == ["written", "stale", "duplicate"]
    assert store.orders.get(ORDER["name"]).status.value == "paid"


def test_refused_deliveries_carry_the_error_and_the_rest_goes_in() -> None:
    store = ecomcrm.open_store("memory://")
    results = handle_webhooks(
        "shopify",
        [_signed("orders/create", ORDER, "x", forged=True), _signed("orders/create", ORDER, "y"),
         _signed("orders/nope", ORDER, "z")],
        secret=SECRET, store=store, now=NOW,
    )  # fmt: skip
    assert [r.status for r in results] == ["refused", "written", "refused"]
    assert isinstance(results[0].error, ecomcrm.errors.SignatureError)
    assert results[2].error is not None and results[2].error.field == "X-Shopify-Topic"
    assert store.orders.count() == 1
