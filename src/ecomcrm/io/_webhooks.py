"""The webhook entry point: one call per delivery, whatever the platform.

ecomcrm runs no server: the app's own web framework receives the request and passes its
headers and raw body here. See :func:`handle_webhook`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from ecomcrm.errors import ValidationError
from ecomcrm.io._webhook_core import MAX_WEBHOOK_BODY, WebhookResult
from ecomcrm.io._webhook_shopify import shopify_webhook
from ecomcrm.io._webhook_woocommerce import woocommerce_webhook
from ecomcrm.storage import Store

#: The platforms :func:`handle_webhook` knows.
WEBHOOK_PLATFORMS: tuple[str, ...] = ("shopify", "woocommerce")


def handle_webhook(
    platform: str,
    headers: Mapping[str, str] | Sequence[tuple[str, str]],
    body: bytes,
    *,
    secret: str | bytes,
    store: Store,
    now: datetime | None = None,
    max_bytes: int = MAX_WEBHOOK_BODY,
) -> WebhookResult:
    """Verify, parse, map and store one webhook delivery; returns what it did.

    ``headers`` are the request's headers (a mapping or a list of pairs, any case);
    ``body`` the raw bytes as received (the signature covers them exactly: never pass a
    re-serialised JSON). The signature is checked in constant time first
    (:class:`~ecomcrm.errors.SignatureError`, answer 401); then the body is read as
    hostile input and mapped with the file importers' rules (who the person is, erased
    people stay out, exact Decimal amounts in the payload's currency). Anything
    malformed, a missing field or an unknown topic is a
    :class:`~ecomcrm.errors.ValidationError` naming the platform, topic and field (answer
    400), and nothing is written. A delivery handled before (same delivery id) is a
    ``"duplicate"`` and changes nothing; an update older than the stored one is
    ``"stale"``. Pass ``result.events`` to :meth:`ecomcrm.rules.Engine.handle_many`.

    ``now`` (default: the current time) decides whether a shipment's estimated delivery
    has passed.

    Example:
        >>> import base64, hashlib, hmac, json, ecomcrm
        >>> from ecomcrm.io import handle_webhook
        >>> store = ecomcrm.open_store("memory://")
        >>> body = json.dumps({"id": 1, "name": "#1001", "email": "ada@example.com",
        ...     "created_at": "2024-03-01T10:00:00+01:00", "currency": "EUR",
        ...     "financial_status": "paid", "total_price": "20.00", "subtotal_price": "20.00",
        ...     "line_items": [{"sku": "TEE", "title": "Tee", "quantity": 2, "price": "10.00"}],
        ... }).encode()
        >>> sig = base64.b64encode(hmac.new(b"shh", body, hashlib.sha256).digest()).decode()
        >>> headers = {"X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": sig,
        ...            "X-Shopify-Webhook-Id": "b54557e4"}
        >>> result = handle_webhook("shopify", headers, body, secret="shh", store=store)
        >>> result.status, result.orders, [e.name for e in result.events]
        ('written', ('#1001',), ['Order Completed'])
        >>> handle_webhook("shopify", headers, body, secret="shh", store=store).status
        'duplicate'
    """
    at = now if now is not None else datetime.now(UTC)
    if platform == "shopify":
        return shopify_webhook(store, headers, body, secret=secret, now=at, max_bytes=max_bytes)
    if platform == "woocommerce":
        return woocommerce_webhook(store, headers, body, secret=secret, now=at, max_bytes=max_bytes)
    raise ValidationError(
        f"is not a platform handled here ({', '.join(WEBHOOK_PLATFORMS)})",
        entity="webhook", field="platform", value=platform,
    )  # fmt: skip
