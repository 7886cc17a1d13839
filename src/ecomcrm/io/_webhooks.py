"""The webhook entry point: one call per delivery, whatever the platform.

ecomcrm runs no server: the app's own web framework receives the request and passes its
headers and raw body here. See :func:`handle_webhook`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ecomcrm.errors import ValidationError
from ecomcrm.io._webhook_batch import run_batch
from ecomcrm.io._webhook_bigcommerce import bigcommerce_delivery, bigcommerce_resource
from ecomcrm.io._webhook_core import MAX_WEBHOOK_BODY, WebhookResult
from ecomcrm.io._webhook_delivery import Delivery, run_one
from ecomcrm.io._webhook_magento import magento_delivery, magento_resource
from ecomcrm.io._webhook_shopify import shopify_delivery
from ecomcrm.io._webhook_woocommerce import woocommerce_delivery
from ecomcrm.storage import Store

#: The platforms :func:`handle_webhook` knows.
WEBHOOK_PLATFORMS: tuple[str, ...] = ("shopify", "woocommerce", "bigcommerce", "magento")

#: The header carrying the shared secret of platforms that do not sign (BigCommerce, Magento).
SECRET_HEADER = "X-Webhook-Secret"


def handle_webhook(
    platform: str,
    headers: Mapping[str, str] | Sequence[tuple[str, str]],
    body: bytes,
    *,
    secret: str | bytes | None = None,
    store: Store,
    now: datetime | None = None,
    max_bytes: int = MAX_WEBHOOK_BODY,
    secret_header: str = SECRET_HEADER,
    public_key: str | bytes | None = None,
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

    Platforms: ``"shopify"`` (``X-Shopify-Hmac-Sha256``), ``"woocommerce"``
    (``X-WC-Webhook-Signature``), ``"magento"`` (Adobe Commerce's RSA signature,
    ``x-adobe-commerce-webhook-signature``: pass the store's webhook ``public_key`` in PEM;
    needs ``pip install "ecomcrm[crypto]"``) and ``"bigcommerce"``, which does not sign
    its requests: register the webhook with a custom header ``secret_header`` (default
    ``X-Webhook-Secret``) holding ``secret`` (Magento webhooks may use one too). A BigCommerce callback carries only an id:
    its result has status ``"fetch"`` and ``fetch=(kind, id)``; fetch that object from the
    REST API and pass it to :func:`sync_resource` with ``delivery_id=result.delivery_id``.

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
    _check_credentials(platform, secret, public_key)
    at = now if now is not None else datetime.now(UTC)
    delivery = _delivery(platform, headers, body, secret, public_key, at, max_bytes, secret_header)
    return run_one(store, delivery)


Headers = Mapping[str, str] | Sequence[tuple[str, str]]


def handle_webhooks(
    platform: str,
    deliveries: Iterable[tuple[Headers, bytes]],
    *,
    secret: str | bytes | None = None,
    store: Store,
    now: datetime | None = None,
    max_bytes: int = MAX_WEBHOOK_BODY,
    secret_header: str = SECRET_HEADER,
    public_key: str | bytes | None = None,
) -> list[WebhookResult]:
    """Handle many deliveries of one platform at once: one result each, in their order.

    The same as :func:`handle_webhook` for each ``(headers, body)`` in turn, and the same
    results, but written in one store transaction through the store's bulk writes: for
    an app that queues the requests it received (a worker draining a queue) rather than
    writing each one while the platform waits. A delivery that :func:`handle_webhook`
    would refuse is not raised: its result has status ``"refused"`` and the error in
    ``error`` (answer it 401 for a :class:`~ecomcrm.errors.SignatureError`, else 400),
    and the others still go in. Duplicates within the batch, and updates of one object
    in any order, end as they would one by one. Should another process write one of the
    batch's deliveries first, the batch is handled again one by one.

    Example:
        >>> import base64, hashlib, hmac, json, ecomcrm
        >>> from ecomcrm.io import handle_webhooks
        >>> store = ecomcrm.open_store("memory://")
        >>> def signed(n):
        ...     body = json.dumps({"id": n, "name": f"#{n}", "email": "ada@example.com",
        ...         "created_at": "2024-03-01T10:00:00Z", "currency": "EUR",
        ...         "financial_status": "paid", "total_price": "9.00",
        ...         "line_items": [{"sku": "TEE", "title": "Tee", "quantity": 1, "price": "9.00"}],
        ...     }).encode()
        ...     sig = base64.b64encode(hmac.new(b"shh", body, hashlib.sha256).digest()).decode()
        ...     return {"X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": sig,
        ...             "X-Shopify-Webhook-Id": f"w{n}"}, body
        >>> batch = [signed(1001), signed(1002), signed(1001), ({}, b"{}")]
        >>> [r.status for r in handle_webhooks("shopify", batch, secret="shh", store=store)]
        ['written', 'written', 'duplicate', 'refused']
    """
    _check_credentials(platform, secret, public_key)
    at = now if now is not None else datetime.now(UTC)
    prepared: list[Delivery | ValidationError] = []
    for headers, body in deliveries:
        try:
            prepared.append(
                _delivery(platform, headers, body, secret, public_key, at, max_bytes, secret_header)
            )
        except ValidationError as exc:  # SignatureError too: answered per delivery
            prepared.append(exc)
    return run_batch(store, prepared, platform=platform)


def _check_credentials(
    platform: str, secret: str | bytes | None, public_key: str | bytes | None
) -> None:
    """A ValidationError now, not one per delivery, when nothing can verify the requests."""
    if platform not in WEBHOOK_PLATFORMS:
        raise ValidationError(
            f"is not a platform handled here ({', '.join(WEBHOOK_PLATFORMS)})",
            entity="webhook", field="platform", value=platform,
        )  # fmt: skip
    if public_key is not None and platform != "magento":
        raise ValidationError(
            "is for Adobe Commerce (magento) signatures only", entity=f"{platform} webhook",
            field="public_key",
        )  # fmt: skip
    if secret is None and public_key is None:
        needed = "secret or public_key" if platform == "magento" else "secret"
        raise ValidationError(
            f"is missing: pass the webhook's {needed}", entity=f"{platform} webhook",
            field="secret", value=None,
        )  # fmt: skip


def _delivery(
    platform: str,
    headers: Headers,
    body: bytes,
    secret: str | bytes | None,
    public_key: str | bytes | None,
    now: datetime,
    max_bytes: int,
    secret_header: str,
) -> Delivery:
    if platform == "magento":
        return magento_delivery(
            headers, body, secret=secret, secret_header=secret_header, max_bytes=max_bytes,
            public_key=public_key,
        )  # fmt: skip
    assert secret is not None
    if platform == "shopify":
        return shopify_delivery(headers, body, secret=secret, now=now, max_bytes=max_bytes)
    if platform == "woocommerce":
        return woocommerce_delivery(headers, body, secret=secret, now=now, max_bytes=max_bytes)
    if platform == "bigcommerce":
        return bigcommerce_delivery(
            headers, body, secret=secret, secret_header=secret_header, max_bytes=max_bytes
        )
    raise ValidationError(
        f"is not a platform handled here ({', '.join(WEBHOOK_PLATFORMS)})",
        entity="webhook", field="platform", value=platform,
    )  # fmt: skip


def sync_resource(
    platform: str,
    kind: str,
    resource: Mapping[str, Any],
    *,
    store: Store,
    products: Sequence[Mapping[str, Any]] | None = None,
    delivery_id: str | None = None,
    topic: str | None = None,
) -> WebhookResult:
    """Map an object the app fetched from a platform's REST API into the store.

    For ``"bigcommerce"``: ``kind`` ``"order"`` (``GET /v2/orders/{id}``, with ``products``
    from ``GET /v2/orders/{id}/products``), ``"customer"`` (a v3 customer) or ``"cart"``
    (``GET /v3/carts/{id}``, optionally with its ``redirect_urls``). For ``"magento"``:
    ``"order"`` (``GET /V1/orders/{id}``) or ``"customer"`` (``GET /V1/customers/{id}``).
    The rules, errors and result are :func:`handle_webhook`'s; ``delivery_id`` (the
    callback's, from its result) makes a redelivered callback a duplicate.

    Example:
        >>> import ecomcrm
        >>> from ecomcrm.io import sync_resource
        >>> store = ecomcrm.open_store("memory://")
        >>> cart = {"id": "a1b2", "customer_id": 0, "email": "ada@example.com",
        ...         "currency": {"code": "GBP"}, "cart_amount": 30, "line_items": {},
        ...         "created_time": "2024-03-01T10:00:00+00:00"}
        >>> result = sync_resource("bigcommerce", "cart", cart, store=store)
        >>> [e.name for e in result.events], result.events[0].properties["value"]
        (['Checkout Started'], 30.0)
    """
    name = topic or f"{kind} sync"
    if platform == "bigcommerce":
        return run_one(store, bigcommerce_resource(
            kind, resource, products=products, delivery_id=delivery_id, topic=name
        ))  # fmt: skip
    if platform == "magento":
        return run_one(store, magento_resource(kind, resource, delivery_id=delivery_id, topic=name))
    raise ValidationError(
        "is not a platform whose objects are fetched (bigcommerce, magento)",
        entity="webhook", field="platform", value=platform,
    )  # fmt: skip
