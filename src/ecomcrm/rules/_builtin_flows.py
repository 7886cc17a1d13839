"""The built-in flow library: what retention teams run, as plain definitions to copy and edit.

Each entry of :data:`BUILTIN_FLOWS` is a JSON-compatible dict; ``builtin_flow(name)``
loads it. To change one, copy the dict, edit it, bump nothing (it is your flow now) and
load it with :meth:`Flow.from_dict`. Templates are names the app renders; params are
passed through with the action.

Flows whose purpose ends with a purchase (abandoned cart, browse abandonment, win-back,
unredeemed points, back in stock, replenishment) exit with ``{"ordered": true}``
(:meth:`Exit.on_order`): an ``Order Completed`` event or an order that reaches the store
by any other path (an import, ``store.orders.upsert``) ends them. They are version 2;
version 1 ended on the event only.

Events the library listens to (Segment e-commerce spec names where one exists):
``Signed Up``, ``Checkout Started``, ``Product Viewed``, ``Order Completed``,
``Order Shipped``, ``Order Delivered``, ``Shipment Delayed``, ``NPS Submitted``,
``Back In Stock`` (one per interested customer; see :func:`back_in_stock_events`),
``Loyalty Points Earned``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import numpy as np

from ecomcrm.domain import Event
from ecomcrm.rules._flow import Flow
from ecomcrm.rules._schedule import parse_duration
from ecomcrm.storage import Store

_ORDER = "Order Completed"

_DEFINITIONS: dict[str, dict[str, Any]] = {
    "welcome_series": {
        "id": "welcome_series",
        "name": "Welcome series",
        "description": "Three emails after sign-up; non-buyers get an offer in the second.",
        "trigger": {"kind": "event", "event": "Signed Up"},
        "steps": [
            {"type": "action", "id": "welcome_1", "channel": "email", "template": "welcome_1"},
            {"type": "wait", "id": "wait_2d", "duration": "2d"},
            {
                "type": "branch",
                "id": "bought_yet",
                "condition": "orders_count == 0",
                "then": "welcome_2_offer",
                "otherwise": "welcome_2_bestsellers",
            },
            {
                "type": "action",
                "id": "welcome_2_offer",
                "channel": "email",
                "template": "welcome_2_offer",
                "params": {"discount_percent": 10},
                "next": "wait_3d",
            },
            {
                "type": "action",
                "id": "welcome_2_bestsellers",
                "channel": "email",
                "template": "welcome_2_bestsellers",
            },
            {"type": "wait", "id": "wait_3d", "duration": "3d"},
            {
                "type": "action",
                "id": "welcome_3",
                "channel": "email",
                "template": "welcome_3_story",
                "on_cap": "defer",
            },
        ],
        "reentry": {"mode": "never"},
    },
    "abandoned_cart": {
        "id": "abandoned_cart",
        "version": 2,
        "name": "Abandoned cart",
        "description": "Reminder after 1 h, a second 24 h later (first-time buyers get a "
        "discount); any purchase ends it.",
        "trigger": {"kind": "event", "event": "Checkout Started"},
        "steps": [
            {"type": "wait", "id": "wait_1h", "duration": "1h"},
            {
                "type": "action",
                "id": "reminder_1",
                "channel": "email",
                "template": "cart_reminder_1",
            },
            {"type": "wait", "id": "wait_24h", "duration": "24h"},
            {
                "type": "branch",
                "id": "first_time_buyer",
                "condition": "orders_count == 0",
                "then": "reminder_2_discount",
                "otherwise": "reminder_2",
            },
            {
                "type": "action",
                "id": "reminder_2_discount",
                "channel": "email",
                "template": "cart_reminder_2",
                "params": {"discount_percent": 10},
                "next": "end",
            },
            {
                "type": "action",
                "id": "reminder_2",
                "channel": "email",
                "template": "cart_reminder_2",
            },
        ],
        "exits": [{"ordered": True}],
        "reentry": {"mode": "cooldown", "cooldown": "3d"},
    },
    "browse_abandonment": {
        "id": "browse_abandonment",
        "version": 2,
        "name": "Browse abandonment",
        "description": "A product viewed 3 times in 7 days without a purchase.",
        "trigger": {
            "kind": "event",
            "event": "Product Viewed",
            "count": 3,
            "within": "7d",
            "group_by": "sku",
        },
        "steps": [
            {"type": "wait", "id": "wait_2h", "duration": "2h"},
            {
                "type": "action",
                "id": "browse_reminder",
                "channel": "email",
                "template": "browse_reminder",
            },
        ],
        "exits": [{"ordered": True}],
        "reentry": {"mode": "cooldown", "cooldown": "7d"},
    },
    "post_purchase": {
        "id": "post_purchase",
        "name": "Post-purchase",
        "description": "Order confirmation now, an accessory cross-sell a week later.",
        "trigger": {"kind": "event", "event": _ORDER},
        "steps": [
            {
                "type": "action",
                "id": "confirmation",
                "channel": "email",
                "purpose": "transactional",
                "template": "order_confirmation",
            },
            {"type": "wait", "id": "wait_7d", "duration": "7d"},
            {
                "type": "action",
                "id": "cross_sell",
                "channel": "email",
                "template": "accessory_cross_sell",
                "on_cap": "defer",
            },
        ],
        "reentry": {"mode": "always"},
    },
    "shipping_update": {
        "id": "shipping_update",
        "name": "Shipping update",
        "description": "Tell the customer the order is on its way.",
        "trigger": {"kind": "event", "event": "Order Shipped"},
        "steps": [
            {
                "type": "action",
                "id": "shipped",
                "channel": "email",
                "purpose": "transactional",
                "template": "order_shipped",
            },
        ],
        "reentry": {"mode": "always"},
    },
    "review_request": {
        "id": "review_request",
        "name": "Review request",
        "description": "Ask for a review 7 days after delivery.",
        "trigger": {"kind": "event", "event": "Order Delivered"},
        "steps": [
            {"type": "wait", "id": "wait_7d", "duration": "7d"},
            {"type": "wait_until", "id": "morning", "at": "10:00"},
            {
                "type": "action",
                "id": "review",
                "channel": "email",
                "template": "review_request",
                "on_cap": "defer",
            },
        ],
        "reentry": {"mode": "cooldown", "cooldown": "30d"},
    },
    "win_back": {
        "id": "win_back",
        "version": 2,
        "name": "Win-back",
        "description": "No order for 90 days: offers escalate every 30 days, bigger for "
        "customers who spent more; a 10% holdout measures the uplift.",
        "trigger": {"kind": "inactivity", "inactive_for": "90d"},
        "filter": "orders_count >= 1",
        "steps": [
            {
                "type": "branch",
                "id": "high_value",
                "condition": "total_spent >= 500",
                "then": "vip_offer",
                "otherwise": "offer_1",
            },
            {
                "type": "action",
                "id": "vip_offer",
                "channel": "email",
                "template": "winback_vip",
                "params": {"discount_percent": 20},
                "next": "wait_30d",
            },
            {
                "type": "action",
                "id": "offer_1",
                "channel": "email",
                "template": "winback_1",
                "params": {"discount_percent": 10},
            },
            {"type": "wait", "id": "wait_30d", "duration": "30d"},
            {
                "type": "action",
                "id": "offer_2",
                "channel": "email",
                "template": "winback_2",
                "params": {"discount_percent": 15},
                "on_cap": "defer",
            },
            {"type": "wait", "id": "wait_30d_more", "duration": "30d"},
            {
                "type": "action",
                "id": "last_chance",
                "channel": "email",
                "template": "winback_last",
                "params": {"discount_percent": 25},
                "on_cap": "defer",
            },
        ],
        "exits": [{"ordered": True}],
        "reentry": {"mode": "always"},
        "holdout": {"percent": 10, "goal": _ORDER, "within": "30d"},
    },
    "birthday": {
        "id": "birthday",
        "name": "Birthday",
        "description": "A birthday greeting with a gift at 09:00 local (28 Feb for 29 Feb).",
        "trigger": {"kind": "date", "field": "birthday", "at": "09:00"},
        "steps": [
            {
                "type": "action",
                "id": "greeting",
                "channel": "email",
                "template": "birthday",
                "params": {"gift": "free_shipping"},
                "on_cap": "defer",
            },
        ],
        "reentry": {"mode": "always"},
    },
    "signup_anniversary": {
        "id": "signup_anniversary",
        "name": "Signup anniversary",
        "description": "Thank customers on the anniversary of their sign-up.",
        "trigger": {"kind": "date", "field": "signup", "at": "10:00"},
        "steps": [
            {
                "type": "action",
                "id": "thanks",
                "channel": "email",
                "template": "anniversary",
                "on_cap": "defer",
            },
        ],
        "reentry": {"mode": "always"},
    },
    "loyalty_tier_nudge": {
        "id": "loyalty_tier_nudge",
        "name": "Loyalty tier nudge",
        "description": "Points within 100 of the next tier (500): tell them how close they are.",
        "trigger": {
            "kind": "threshold",
            "condition": "loyalty_points >= 400 and loyalty_points < 500",
            "recheck_on": [_ORDER, "Loyalty Points Earned"],
        },
        "steps": [
            {
                "type": "action",
                "id": "nudge",
                "channel": "email",
                "template": "tier_nudge",
                "params": {"next_tier_points": 500},
            },
        ],
        "reentry": {"mode": "cooldown", "cooldown": "30d"},
    },
    "unredeemed_points": {
        "id": "unredeemed_points",
        "version": 2,
        "name": "Unredeemed points reminder",
        "description": "1,000+ points and no order for 30 days: remind them to redeem.",
        "trigger": {
            "kind": "segment_entry",
            "condition": "loyalty_points >= 1000 and days_since_last_order >= 30",
        },
        "steps": [
            {"type": "wait_until", "id": "weekend", "at": "10:00", "weekdays": ["sat"]},
            {"type": "action", "id": "reminder", "channel": "email", "template": "points_reminder"},
        ],
        "exits": [{"ordered": True}],
        "reentry": {"mode": "cooldown", "cooldown": "60d"},
    },
    "back_in_stock": {
        "id": "back_in_stock",
        "version": 2,
        "name": "Back in stock",
        "description": "A viewed or wishlisted product is available again.",
        "trigger": {"kind": "event", "event": "Back In Stock"},
        "steps": [
            {"type": "action", "id": "notify", "channel": "email", "template": "back_in_stock"},
        ],
        "exits": [{"ordered": True}],
        "reentry": {"mode": "always"},
    },
    "shipping_delay": {
        "id": "shipping_delay",
        "name": "Proactive shipping delay notice",
        "description": "Apologise before the customer asks; high-value customers get a discount.",
        "trigger": {"kind": "event", "event": "Shipment Delayed"},
        "steps": [
            {
                "type": "branch",
                "id": "high_value",
                "condition": "total_spent >= 500 or total >= 200",
                "then": "apology_discount",
                "otherwise": "apology",
            },
            {
                "type": "action",
                "id": "apology_discount",
                "channel": "email",
                "purpose": "transactional",
                "template": "delay_apology",
                "params": {"discount_percent": 15},
                "next": "end",
            },
            {
                "type": "action",
                "id": "apology",
                "channel": "email",
                "purpose": "transactional",
                "template": "delay_apology",
            },
        ],
        "reentry": {"mode": "always"},
    },
    "nps_survey": {
        "id": "nps_survey",
        "name": "NPS survey",
        "description": "Ask how likely they are to recommend us, 7 days after delivery.",
        "trigger": {"kind": "event", "event": "Order Delivered"},
        "steps": [
            {"type": "wait", "id": "wait_7d", "duration": "7d"},
            {
                "type": "action",
                "id": "survey",
                "channel": "email",
                "template": "nps_survey",
                "on_cap": "defer",
            },
        ],
        "reentry": {"mode": "cooldown", "cooldown": "90d"},
    },
    "nps_detractor_followup": {
        "id": "nps_detractor_followup",
        "name": "NPS detractor follow-up",
        "description": "A score of 0-6 opens a follow-up task for the support team.",
        "trigger": {"kind": "event", "event": "NPS Submitted", "condition": "score <= 6"},
        "steps": [
            {
                "type": "action",
                "id": "task",
                "purpose": "transactional",
                "action": "task",
                "template": "call_detractor",
            },
        ],
        "reentry": {"mode": "always"},
    },
    "replenishment": {
        "id": "replenishment",
        "version": 2,
        "name": "Replenishment reminder",
        "description": "Remind repeat buyers at their usual reorder interval (30 days if unknown).",
        "trigger": {"kind": "event", "event": _ORDER},
        "filter": "orders_count >= 2",
        "steps": [
            {
                "type": "wait",
                "id": "usual_interval",
                "days_field": "reorder_interval_days",
                "duration": "30d",
            },
            {
                "type": "action",
                "id": "reminder",
                "channel": "email",
                "template": "replenishment_reminder",
                "on_cap": "defer",
            },
        ],
        "exits": [{"ordered": True}],
        "reentry": {"mode": "always"},
    },
}

BUILTIN_FLOWS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {name: MappingProxyType(definition) for name, definition in _DEFINITIONS.items()}
)
"""Name to definition (read-only; ``copy.deepcopy(dict(BUILTIN_FLOWS[name]))`` to edit)."""


def builtin_flow(name: str) -> Flow:
    """Load one built-in flow.

    Raises:
        KeyError: No built-in flow has this name (the message lists them).

    Example:
        >>> builtin_flow("abandoned_cart").exits[0].ordered
        True
    """
    if name not in _DEFINITIONS:
        raise KeyError(f"no built-in flow {name!r}; choose from {sorted(_DEFINITIONS)}")
    return Flow.from_dict(copy.deepcopy(_DEFINITIONS[name]))


def builtin_flows(names: Iterable[str] | None = None) -> list[Flow]:
    """Load several (default: all) built-in flows.

    Example:
        >>> len(builtin_flows()) == len(BUILTIN_FLOWS)
        True
    """
    return [builtin_flow(n) for n in (names if names is not None else _DEFINITIONS)]


def back_in_stock_events(
    store: Store,
    sku: str,
    at: datetime,
    *,
    within: timedelta | str = "30d",
    interest: Iterable[str] = ("Product Viewed", "Product Added to Wishlist"),
) -> list[Event]:
    """One ``Back In Stock`` event per customer who viewed or wishlisted ``sku`` recently.

    Feed them to :meth:`Engine.handle_many` when a product is restocked. Anonymous
    visitors not yet tied to a customer are left out.

    Example:
        >>> import ecomcrm
        >>> from datetime import timezone
        >>> back_in_stock_events(ecomcrm.open_store("memory://"), "TEE-1",
        ...                      datetime(2024, 5, 1, tzinfo=timezone.utc))
        []
    """
    window = parse_duration(within)
    facts = store.event_facts(names=list(interest))
    if len(facts) == 0:
        return []
    start = np.datetime64(int((at - window).timestamp() * 1_000_000), "us")
    stop = np.datetime64(int(at.timestamp() * 1_000_000), "us")
    mask = (facts.product == sku) & (facts.at >= start) & (facts.at <= stop)
    mask &= facts.customer_index >= 0
    codes = np.unique(facts.customer_index[mask])
    ids = sorted(str(facts.customer_ids[c]) for c in codes)
    return [
        Event(name="Back In Stock", customer_id=cid, at=at, properties={"sku": sku}) for cid in ids
    ]
