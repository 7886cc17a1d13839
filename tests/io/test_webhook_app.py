"""examples/webhook_app.py through Starlette's TestClient: what each platform gets back."""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from starlette.testclient import TestClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DATA = Path(__file__).resolve().parent.parent / "data" / "webhooks"
SECRETS = {"shopify": "shpss_test", "woocommerce": "wc_test"}


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("webhook_app", EXAMPLES / "webhook_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


webhook_app = _load()


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = webhook_app.create_app(str(tmp_path / "crm.db"), SECRETS)
    with TestClient(app) as test_client:
        yield test_client


def _sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _shopify(client: TestClient, topic: str, data: dict[str, Any] | bytes, webhook_id: str,
             *, secret: str = SECRETS["shopify"]) -> Any:  # fmt: skip
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    return client.post("/webhooks/shopify", content=body, headers={
        "X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": _sign(body, secret),
        "X-Shopify-Webhook-Id": webhook_id, "Content-Type": "application/json",
    })  # fmt: skip


def _woo(client: TestClient, topic: str, data: dict[str, Any] | bytes, delivery: str,
         *, secret: str = SECRETS["woocommerce"]) -> Any:  # fmt: skip
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    return client.post("/webhooks/woocommerce", content=body, headers={
        "X-WC-Webhook-Topic": topic, "X-WC-Webhook-Signature": _sign(body, secret),
        "X-WC-Webhook-Delivery-ID": delivery, "Content-Type": "application/json",
    })  # fmt: skip


def _payload(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text())  # type: ignore[no-any-return]


def test_shopify_signed_duplicated_forged_and_malformed(client: TestClient) -> None:
    order = _payload("shopify_orders_create")
    first = _shopify(client, "orders/create", order, "w-1")
    assert first.status_code == 200
    answer = first.json()
    assert answer["status"] == "written" and answer["events"] == ["Order Completed"]
    assert answer["actions"]  # the post-purchase flow reacted at once
    again = _shopify(client, "orders/create", order, "w-1")
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    forged = _shopify(client, "orders/create", order, "w-2", secret="guessed")
    assert forged.status_code == 401 and forged.json()["error"] == "signature"
    broken = _shopify(client, "orders/create", b'{"id": 1, "name": ', "w-3")
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["detail"]
    unknown = _shopify(client, "orders/teleported", order, "w-4")
    assert unknown.status_code == 400 and "X-Shopify-Topic" in unknown.json()["detail"]
    store = client.app.state.store  # type: ignore[attr-defined]
    assert store.orders.count() == 1 and store.events.count() == 1


def test_shopify_checkout_starts_the_abandoned_cart_flow(client: TestClient) -> None:
    response = _shopify(client, "checkouts/create", _payload("shopify_checkouts_create"), "c-1")
    assert response.status_code == 200
    assert response.json()["events"] == ["Checkout Started"]
    engine = client.app.state.engine  # type: ignore[attr-defined]
    assert engine is not None


def test_woocommerce_ping_signed_duplicated_forged_and_malformed(client: TestClient) -> None:
    ping = client.post(
        "/webhooks/woocommerce", content=b"webhook_id=12",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert ping.status_code == 200 and ping.json()["status"] == "ignored"
    order = _payload("woocommerce_order_created")
    first = _woo(client, "order.created", order, "d-1")
    assert first.status_code == 200 and first.json()["status"] == "written"
    assert _woo(client, "order.created", order, "d-1").json()["status"] == "duplicate"
    assert _woo(client, "order.created", order, "d-2", secret="nope").status_code == 401
    missing = {key: value for key, value in order.items() if key != "date_created_gmt"}
    bad = _woo(client, "order.created", missing, "d-3")
    assert bad.status_code == 400 and "date_created_gmt" in bad.json()["detail"]
    store = client.app.state.store  # type: ignore[attr-defined]
    assert store.orders.count() == 1


def test_an_unknown_platform_is_not_found(client: TestClient) -> None:
    assert client.post("/webhooks/magento", content=b"{}").status_code == 404
