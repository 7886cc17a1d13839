"""A verified delivery, ready to be mapped and written: alone, or as part of a batch.

Each platform module turns a request (headers, raw body) into a :class:`Delivery`: the
signature is checked and the body parsed there, and what remains is the mapping of the
payload (``build``), or an answer that needs no mapping (a ping, a callback that only
says what to fetch), or an action on the store itself (a privacy request). :func:`run_one`
handles one delivery in its own transaction; ``_webhook_batch`` handles many in one.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from ecomcrm.io._people import Resolver
from ecomcrm.io._report import ImportReport
from ecomcrm.io._webhook_core import (
    Change,
    Reads,
    WebhookResult,
    apply_change,
    delivery_seen,
    map_payload,
    new_resolver,
)
from ecomcrm.storage import Store

Build = Callable[[Reads, Resolver, ImportReport], Change | None]
"""Maps a payload, reading the store through ``Reads`` and finding people with the resolver."""


@attrs.frozen(kw_only=True)
class Delivery:
    """A delivery whose signature and body were checked; what handling it still takes.

    Exactly one of ``build`` (map the payload, then write it), ``result`` (the answer,
    with nothing to write) and ``alone`` (a privacy request: it acts on the store itself,
    so a batch writes what it holds first) is set. A ``delivery_id`` seen before makes
    the delivery a duplicate, unless ``alone`` is set.
    """

    platform: str
    topic: str
    delivery_id: str | None = None
    build: Build | None = None
    result: WebhookResult | None = None
    alone: Callable[[Store], WebhookResult] | None = None

    def duplicate(self) -> WebhookResult:
        """The answer to a replay of this delivery."""
        return WebhookResult(
            platform=self.platform, topic=self.topic, status="duplicate",
            delivery_id=self.delivery_id,
        )  # fmt: skip

    def map(self, reads: Reads, resolver: Resolver, report: ImportReport) -> Change | None:
        """The payload's change; ValidationError naming the platform, topic and field."""
        build = self.build
        assert build is not None
        return map_payload(
            lambda: build(reads, resolver, report), platform=self.platform, topic=self.topic
        )


def run_one(store: Store, delivery: Delivery) -> WebhookResult:
    """Handle one delivery: duplicate check, mapping and its own write transaction."""
    if delivery.alone is not None:
        return delivery.alone(store)
    reads = Reads(store)
    if delivery.delivery_id is not None and delivery_seen(
        reads, delivery.platform, delivery.delivery_id
    ):
        return delivery.duplicate()
    if delivery.build is None:
        assert delivery.result is not None
        return delivery.result
    resolver, report = new_resolver(store)
    change = delivery.map(reads, resolver, report)
    return apply_change(
        store, change, platform=delivery.platform, topic=delivery.topic,
        delivery_id=delivery.delivery_id, resolver=resolver,
    )  # fmt: skip
