"""Google Analytics 4 e-commerce events, mapped to the Segment e-commerce names.

Two JSON-lines shapes are read, one object per line:

- the BigQuery export (``event_name``, ``event_timestamp`` in microseconds,
  ``user_pseudo_id``, ``user_id``, ``items``, ``ecommerce``, ``event_params``);
- Measurement Protocol / gtag payloads (``client_id``, ``user_id``,
  ``timestamp_micros``, ``events: [{"name": ..., "params": {...}}]``).

``view_item``, ``add_to_cart``, ``begin_checkout``, ``purchase`` and ``refund`` (and the
other recommended e-commerce events) become ``Product Viewed``, ``Product Added``,
``Checkout Started``, ``Order Completed`` and ``Order Refunded``; GA4's ``items`` become
``products`` with ``product_id``, ``sku``, ``name``, ``price`` and ``quantity``. Other event
names are kept as custom events. ``user_pseudo_id``/``client_id`` is the anonymous id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ecomcrm.io._batches import DEFAULT_BATCH_SIZE
from ecomcrm.io._cells import parse_epoch_micros, parse_int
from ecomcrm.io._progress import ProgressOption
from ecomcrm.io._report import ImportReport
from ecomcrm.io._rows import PathLike, RowError, reject, source_name, unexpected
from ecomcrm.io._segment_events import EventStreamImporter, read_json_lines
from ecomcrm.storage import Store

GA4_EVENT_NAMES: Mapping[str, str] = {
    "page_view": "Page Viewed",
    "screen_view": "Screen Viewed",
    "view_item": "Product Viewed",
    "view_item_list": "Product List Viewed",
    "select_item": "Product Clicked",
    "add_to_cart": "Product Added",
    "remove_from_cart": "Product Removed",
    "view_cart": "Cart Viewed",
    "begin_checkout": "Checkout Started",
    "add_shipping_info": "Checkout Step Completed",
    "add_payment_info": "Payment Info Entered",
    "purchase": "Order Completed",
    "refund": "Order Refunded",
    "add_to_wishlist": "Product Added to Wishlist",
    "view_promotion": "Promotion Viewed",
    "select_promotion": "Promotion Clicked",
    "search": "Products Searched",
    "share": "Product Shared",
}
"""GA4 recommended e-commerce event names and the Segment e-commerce spec names they map to."""


def _param_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        for key in ("string_value", "int_value", "double_value", "float_value"):
            if value.get(key) is not None:
                got = value[key]
                return parse_int(str(got), f"event_params.{key}") if key == "int_value" else got
        return None
    return value


def _product(item: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    item_id = item.get("item_id") or item.get("id")
    if item_id not in (None, "", "(not set)"):
        out["product_id"] = str(item_id)
        out["sku"] = str(item_id)
    for src, dst in (("item_name", "name"), ("item_brand", "brand"), ("item_category", "category"),
                     ("item_variant", "variant"), ("coupon", "coupon")):  # fmt: skip
        if item.get(src) not in (None, "", "(not set)"):
            out[dst] = item[src]
    for src in ("price", "price_in_usd"):
        if isinstance(item.get(src), int | float):
            out["price"] = item[src]
            break
    quantity = item.get("quantity")
    if isinstance(quantity, int | float) and not isinstance(quantity, bool):
        out["quantity"] = parse_int(str(quantity), "items.quantity")
    return out


def _properties(
    params: Mapping[str, Any], items: Any, ecommerce: Mapping[str, Any]
) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for key, value in params.items():
        if key in ("items",) or value is None:
            continue
        props[key] = value
    txn = ecommerce.get("transaction_id") or params.get("transaction_id")
    if txn not in (None, "", "(not set)"):
        props["order_id"] = str(txn)
    value = params.get("value")
    if value is None:
        value = ecommerce.get("purchase_revenue") or ecommerce.get("refund_value")
    if isinstance(value, int | float):
        props["revenue"] = value
        props["total"] = value
    if isinstance(items, list) and items:
        products = [_product(i) for i in items if isinstance(i, Mapping)]
        props["products"] = products
        if len(products) == 1:
            for key in ("product_id", "sku", "name", "price", "quantity"):
                if key in products[0]:
                    props[key] = products[0][key]
    return props


def _timestamp(micros: Any, field: str) -> str:
    return parse_epoch_micros(micros, field).isoformat()


def _message_id(record: Mapping[str, Any], name: str, index: int) -> str:
    payload = json.dumps([record, name, index], sort_keys=True, default=str)
    return hashlib.blake2b(payload.encode(), digest_size=12).hexdigest()


def ga4_to_segment(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The Segment ``track`` messages one GA4 record stands for.

    Example:
        >>> msg = ga4_to_segment({"event_name": "add_to_cart", "event_timestamp": "1714557600000000",
        ...                       "user_pseudo_id": "p1", "items": [{"item_id": "TEE-1", "price": 20.0}]})
        >>> msg[0]["event"], msg[0]["anonymousId"], msg[0]["properties"]["sku"]
        ('Product Added', 'p1', 'TEE-1')
    """
    if "events" in record:  # Measurement Protocol / gtag payload
        events = record["events"]
        if not isinstance(events, list):
            raise RowError("events", "must be a list", events)
        anonymous = record.get("client_id") or record.get("app_instance_id")
        user = record.get("user_id")
        base = record.get("timestamp_micros")
        out = []
        for index, event in enumerate(events):
            if not isinstance(event, Mapping) or not isinstance(event.get("name"), str):
                raise RowError(f"events[{index}].name", "must be an event name", event)
            params = event.get("params") or {}
            if not isinstance(params, Mapping):
                raise RowError(f"events[{index}].params", "must be an object", params)
            micros = event.get("timestamp_micros", base)
            if micros is None:
                raise RowError("timestamp_micros", "is missing", None)
            name = event["name"]
            out.append(
                _message(
                    name, _timestamp(micros, "timestamp_micros"), user, anonymous,
                    _properties(params, params.get("items"), {}), _message_id(record, name, index),
                )
            )  # fmt: skip
        return out
    name = record.get("event_name")
    if not isinstance(name, str) or not name:
        raise RowError("event_name", "must be an event name", name)
    params_raw = record.get("event_params") or []
    if isinstance(params_raw, list):
        params = {
            p["key"]: _param_value(p.get("value"))
            for p in params_raw
            if isinstance(p, Mapping) and isinstance(p.get("key"), str)
        }
    elif isinstance(params_raw, Mapping):
        params = dict(params_raw)
    else:
        raise RowError("event_params", "must be a list of key/value pairs", params_raw)
    ecommerce = record.get("ecommerce") or {}
    if not isinstance(ecommerce, Mapping):
        raise RowError("ecommerce", "must be an object", ecommerce)
    if record.get("event_timestamp") is None:
        raise RowError("event_timestamp", "is missing", None)
    timestamp = _timestamp(record["event_timestamp"], "event_timestamp")
    props = _properties(params, record.get("items"), ecommerce)
    if "currency" not in props and isinstance(params.get("currency"), str):
        props["currency"] = params["currency"]
    return [
        _message(
            name, timestamp, record.get("user_id"), record.get("user_pseudo_id"), props,
            _message_id(record, name, 0),
        )
    ]  # fmt: skip


def _message(
    name: str, timestamp: str, user: Any, anonymous: Any, props: dict[str, Any], message_id: str
) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "type": "track",
        "event": GA4_EVENT_NAMES.get(name, name),
        "timestamp": timestamp,
        "properties": {"ga4_event": name, **props},
        "messageId": message_id,
    }
    if user not in (None, ""):
        msg["userId"] = str(user)
    if anonymous not in (None, ""):
        msg["anonymousId"] = str(anonymous)
    return msg


def import_ga4_events(
    store: Store,
    path: PathLike,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressOption = None,
    id_prefix: str = "ga4:",
) -> ImportReport:
    """Import GA4 e-commerce events (BigQuery export or Measurement Protocol JSON lines).

    Events get Segment e-commerce names (:data:`GA4_EVENT_NAMES`) and content-derived
    ids, so a re-import stores nothing twice; ``user_id`` ties events to a customer (and
    their ``user_pseudo_id`` to them), as in :func:`import_segment_events`.

    Example:
        >>> import ecomcrm, json, pathlib, tempfile
        >>> from ecomcrm.io import import_ga4_events
        >>> row = {"event_name": "purchase", "event_timestamp": "1714557600000000",
        ...        "user_pseudo_id": "p1", "user_id": "u9",
        ...        "ecommerce": {"transaction_id": "T1", "purchase_revenue": 42.0},
        ...        "items": [{"item_id": "TEE-1", "price": 42.0, "quantity": 1}]}
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "ga4.jsonl"
        >>> _ = path.write_text(json.dumps(row))
        >>> store = ecomcrm.open_store("memory://")
        >>> import_ga4_events(store, path).imported
        1
        >>> store.events.for_customer("u9")[0].properties["order_id"]
        'T1'
    """
    file = source_name(path)
    report = ImportReport(source=file, kind="ga4_events")
    importer = EventStreamImporter(
        store, report, source="ga4", batch_size=batch_size, progress=progress, id_prefix=id_prefix
    )
    for line, record in read_json_lines(path):
        if isinstance(record, RowError) or not isinstance(record, Mapping):
            importer.handle(line, record)
            continue
        try:
            messages = ga4_to_segment(record)
        except RowError as exc:
            report.rows += 1
            reject(report, line, exc)
            continue
        except Exception as exc:  # a record no rule foresaw: rejected, the rest goes on
            report.rows += 1
            reject(report, line, unexpected(exc))
            continue
        for message in messages:
            importer.handle(line, message)
    return importer.finish()
