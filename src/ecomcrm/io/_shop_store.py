"""The synthetic shop's store writer: each chunk as domain objects, one transaction per chunk."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import attrs
import numpy as np

from ecomcrm.domain import (
    Channel,
    Consent,
    Customer,
    Event,
    Identity,
    IdentityKind,
    LoyaltyEntry,
    LoyaltyKind,
    Order,
    OrderLine,
    OrderStatus,
    Purpose,
    Refund,
    ReturnLine,
    SupportTicket,
    TicketStatus,
)
from ecomcrm.domain._activity import _trusted_event
from ecomcrm.io._progress import ProgressOption, make_progress
from ecomcrm.io._shop_model import (
    CHANNELS,
    CODES,
    EPOCH,
    FIRST_NAMES,
    LAST_NAMES,
    RETURN_REASONS,
    TICKET_SUBJECTS,
    TICKET_TAGS,
    ZONES,
    Chunk,
    ShopModel,
    cents_to_money,
    utc_at,
)
from ecomcrm.storage import Store

# build the generated events without re-validation (see ``_event_objects``); the tests
# switch it off to compare with validated events
_TRUSTED_EVENTS = True


@attrs.frozen(kw_only=True)
class GenerationSummary:
    """How many records a synthetic shop produced.

    Example:
        >>> GenerationSummary().orders
        0
    """

    customers: int = 0
    orders: int = 0
    lines: int = 0
    refunds: int = 0
    events: int = 0
    tickets: int = 0
    consents: int = 0
    loyalty_entries: int = 0
    identity_links: int = 0

    def __add__(self, other: GenerationSummary) -> GenerationSummary:
        return GenerationSummary(
            **{
                f.name: getattr(self, f.name) + getattr(other, f.name)
                for f in attrs.fields(type(self))
            }
        )


class StoreWriter(ShopModel):
    """The shop written into a store (``SyntheticShop.to_store``)."""

    __slots__ = ()

    def to_store(self, store: Store, *, progress: ProgressOption = None) -> GenerationSummary:
        """Generate the shop into ``store``, one transaction per chunk of customers.

        Returns the counts written. Writing twice into the same store writes the same
        records again (same ids); nothing is duplicated.

        Example:
            >>> from ecomcrm.io import SyntheticShop
            >>> import ecomcrm
            >>> store = ecomcrm.open_store("memory://")
            >>> s = SyntheticShop(customers=20, seed=2, events=False).to_store(store)
            >>> s.customers, s.events
            (20, 0)
        """
        cat = self._catalog()
        bar = make_progress(progress, "generate shop", total=self.customers, unit="customers")
        summary = GenerationSummary()
        for k, i0, i1 in self.chunk_bounds():
            ch = self._generate(k, i0, i1, cat)
            summary = summary + self._write_chunk(store, ch, cat)
            bar.update(i1 - i0)
        bar.close()
        return summary

    def _write_chunk(self, store: Store, ch: Chunk, cat: dict[str, Any]) -> GenerationSummary:
        c = ch.cust
        n = c["index"].shape[0]
        ids = [self.customer_id(int(i)) for i in c["index"]]
        customers: list[Customer] = []
        for j in range(n):
            first = FIRST_NAMES[c["first"][j]]
            last = LAST_NAMES[c["last"][j]]
            zone = ZONES[c["zone"][j]]
            identities = [
                Identity(
                    kind=IdentityKind.EMAIL, value=self._email(int(c["index"][j]), first, last)
                )
            ]
            if c["has_phone"][j]:
                identities.append(
                    Identity(kind=IdentityKind.PHONE, value=f"+{zone[4]}{c['phone_tail'][j]}")
                )
            bday = int(c["birthday"][j])
            customers.append(
                Customer(
                    id=ids[j],
                    created_at=utc_at(c["created_us"][j]),
                    identities=identities,
                    first_name=first,
                    last_name=last,
                    timezone=zone[0],
                    locale=zone[2],
                    country=zone[1],
                    birthday=None if bday < -100_000 else date(1970, 1, 1) + timedelta(days=bday),
                    acquisition_channel=CHANNELS[c["channel"][j]],
                )
            )
        orders = self._orders(ch, ids, cat)
        refunds = self._refunds(ch, ids, orders, cat)
        consents = self._consents(ch, ids)
        tickets = self._tickets(ch, ids, orders)
        loyalty = self._loyalty(ch, ids, orders)
        events, links = self._event_objects(ch, ids, orders, cat) if self.events else ([], [])
        with store.transaction():
            store.customers.put_many(customers)
            store.orders.put_many(orders)
            store.orders.add_refunds(refunds)
            store.consents.record_many(consents)
            store.tickets.put_many(tickets)
            store.loyalty.append_many(loyalty)
            if events:
                store.events.append_many(events)
            for customer_id, identity in links:
                store.link_identity(customer_id, identity)
        return GenerationSummary(
            customers=n,
            orders=len(orders),
            lines=int(ch.lines["qty"].shape[0]),
            refunds=len(refunds),
            events=len(events),
            tickets=len(tickets),
            consents=len(consents),
            loyalty_entries=len(loyalty),
            identity_links=len(links),
        )

    def _orders(self, ch: Chunk, ids: list[str], cat: dict[str, Any]) -> list[Order]:
        o = ch.orders
        ln = ch.lines
        out: list[Order] = []
        starts = (np.cumsum(o["n_lines"]) - o["n_lines"]).tolist()
        index = ch.cust["index"].tolist()
        refunded = np.zeros(o["owner"].shape[0], dtype=np.int64)
        np.add.at(refunded, ch.refunds["order"], ch.refunds["amount"])
        skus, titles, cats = cat["sku"], cat["title"], cat["category"]
        # Python lists: indexing numpy arrays one element at a time costs more than the work.
        prices = [cents_to_money(p) for p in cat["price"].tolist()]
        product, qty = ln["product"].tolist(), ln["qty"].tolist()
        owners, n_lines, seqs = o["owner"].tolist(), o["n_lines"].tolist(), o["seq"].tolist()
        placed_us, codes = o["placed_us"].tolist(), o["code"].tolist()
        cancelled, states = o["cancelled"].tolist(), o["status"].tolist()
        totals, refunded_l = o["total"].tolist(), refunded.tolist()
        subtotals, discounts = o["subtotal"].tolist(), o["discount"].tolist()
        shippings, taxes = o["shipping"].tolist(), o["tax"].tolist()
        line_of: dict[tuple[int, int], OrderLine] = {}
        for i in range(len(owners)):
            owner = owners[i]
            s = starts[i]
            lines = []
            for j in range(s, s + n_lines[i]):
                # a line is a frozen value: orders with the same product and quantity share one
                key = (product[j], qty[j])
                line = line_of.get(key)
                if line is None:
                    line = line_of[key] = OrderLine(
                        sku=skus[product[j]],
                        title=titles[product[j]],
                        quantity=int(qty[j]),
                        unit_price=prices[product[j]],
                        category=cats[product[j]],
                    )
                lines.append(line)
            placed = EPOCH + timedelta(microseconds=int(placed_us[i]))
            code = int(codes[i])
            if cancelled[i]:
                status = OrderStatus.CANCELLED
            elif refunded_l[i] >= totals[i]:
                status = OrderStatus.REFUNDED
            elif refunded_l[i] > 0:
                status = OrderStatus.PARTIALLY_REFUNDED
            else:
                status = (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.DELIVERED)[states[i]]
            out.append(
                Order(
                    id=self._order_name(int(index[owner]), int(seqs[i])),
                    customer_id=ids[owner],
                    placed_at=placed,
                    currency=self.currency,
                    lines=lines,
                    subtotal=cents_to_money(subtotals[i]),
                    discount=cents_to_money(discounts[i]),
                    shipping=cents_to_money(shippings[i]),
                    tax=cents_to_money(taxes[i]),
                    taxes_included=True,
                    total=cents_to_money(totals[i]),
                    status=status,
                    sales_channel="web",
                    discount_codes=(CODES[code],) if code >= 0 else (),
                    cancelled_at=placed + timedelta(hours=2) if cancelled[i] else None,
                    shipped_at=placed + timedelta(days=1) if states[i] >= 1 else None,
                    delivered_at=placed + timedelta(days=4) if states[i] >= 2 else None,
                )
            )
        return out

    def _refunds(
        self, ch: Chunk, ids: list[str], orders: list[Order], cat: dict[str, Any]
    ) -> list[Refund]:
        r = ch.refunds
        owner = ch.orders["owner"]
        out: list[Refund] = []
        for k in range(r["order"].shape[0]):
            i = int(r["order"][k])
            order = orders[i]
            returned = bool(r["returned"][k])
            reason = RETURN_REASONS[r["reason"][k]] if returned else "late delivery"
            line = order.lines[0]
            out.append(
                Refund(
                    id=f"{order.id}:r1",
                    order_id=order.id,
                    customer_id=ids[int(owner[i])],
                    at=max(utc_at(r["at"][k]), order.placed_at),
                    amount=cents_to_money(r["amount"][k]),
                    currency=self.currency,
                    reason=reason,
                    returned=returned,
                    lines=[ReturnLine(sku=line.sku, quantity=line.quantity, reason=reason)]
                    if returned
                    else [],
                )
            )
        return out

    def _consents(self, ch: Chunk, ids: list[str]) -> list[Consent]:
        c = ch.consents
        created = ch.cust["created_us"]
        out: list[Consent] = []
        for j in np.flatnonzero(c["email"] | c["sms"]):
            at = utc_at(created[j])
            if c["email"][j]:
                out.append(
                    Consent(customer_id=ids[j], channel=Channel.EMAIL, purpose=Purpose.MARKETING,
                            granted=True, at=at, source="signup form")
                )  # fmt: skip
            if c["sms"][j]:
                out.append(
                    Consent(customer_id=ids[j], channel=Channel.SMS, purpose=Purpose.MARKETING,
                            granted=True, at=at, source="checkout")
                )  # fmt: skip
            if c["revoke"][j]:
                out.append(
                    Consent(customer_id=ids[j], channel=Channel.EMAIL, purpose=Purpose.MARKETING,
                            granted=False, at=utc_at(c["revoke_at"][j]), source="unsubscribe link")
                )  # fmt: skip
        return out

    def _tickets(self, ch: Chunk, ids: list[str], orders: list[Order]) -> list[SupportTicket]:
        t = ch.tickets
        owner = ch.orders["owner"]
        out: list[SupportTicket] = []
        channels = (Channel.EMAIL, Channel.CHAT, Channel.PHONE)
        for k in range(t["order"].shape[0]):
            i = int(t["order"][k])
            closed = int(t["closed"][k])
            first = int(t["first_response"][k])
            csat = int(t["csat"][k])
            subject = int(t["subject"][k])
            out.append(
                SupportTicket(
                    id=f"{orders[i].id}:t1",
                    customer_id=ids[int(owner[i])],
                    channel=channels[t["channel"][k]],
                    subject=TICKET_SUBJECTS[subject],
                    tags={TICKET_TAGS[subject]},
                    status=TicketStatus.CLOSED if closed >= 0 else TicketStatus.OPEN,
                    opened_at=utc_at(t["opened"][k]),
                    first_response_at=utc_at(first) if first >= 0 else None,
                    closed_at=utc_at(closed) if closed >= 0 else None,
                    satisfaction=csat or None,
                    order_id=orders[i].id,
                )
            )
        return out

    def _loyalty(self, ch: Chunk, ids: list[str], orders: list[Order]) -> list[LoyaltyEntry]:
        lo = ch.loyalty
        owner = ch.orders["owner"]
        out: list[LoyaltyEntry] = []
        for i in np.flatnonzero(lo["earned"] > 0):
            order = orders[i]
            cid = ids[int(owner[i])]
            out.append(
                LoyaltyEntry(id=f"order:{order.id}:earn", customer_id=cid, kind=LoyaltyKind.EARN,
                             points=int(lo["earned"][i]), at=order.placed_at, source="order",
                             expires_at=order.placed_at + timedelta(days=730))
            )  # fmt: skip
            if lo["redeem"][i]:
                out.append(
                    LoyaltyEntry(id=f"order:{order.id}:redeem", customer_id=cid,
                                 kind=LoyaltyKind.REDEEM, points=-500,
                                 at=order.placed_at + timedelta(seconds=1), source="reward")
                )  # fmt: skip
        return out

    def _event_objects(
        self, ch: Chunk, ids: list[str], orders: list[Order], cat: dict[str, Any]
    ) -> tuple[list[Event], list[tuple[str, Identity]]]:
        e = ch.events
        names = ("Product Viewed", "Product Added", "Checkout Started", "Order Completed")
        index = ch.cust["index"]
        out: list[Event] = []
        skus = cat["sku"]
        prices = [int(p) / 100 for p in cat["price"].tolist()]
        # Python lists: indexing numpy arrays one element at a time costs more than the work.
        at_us = e["at"].tolist()
        owners = e["owner"].tolist()
        kinds = e["name"].tolist()
        order_of = e["order"].tolist()
        product = e["product"].tolist()
        anons = e["anon"].tolist()
        seed, currency = self.seed, self.currency
        id_prefix = [f"s{seed}-e{int(i):08d}-" for i in index.tolist()]
        anon_id = [f"anon-s{seed}-{int(i)}" for i in index.tolist()]
        # Every part below is valid by construction (fixed names, UTC instants, non-empty
        # ids, str and finite float properties), so the events skip re-validation
        # (``_trusted_event``; the tests compare them with validated ones). A product's
        # properties are one read-only mapping shared by its events.
        make: Callable[..., Event] = _trusted_event if _TRUSTED_EVENTS else Event
        product_props = [
            {"sku": skus[p], "price": prices[p], "currency": currency} for p in range(len(prices))
        ]
        epoch, micro = EPOCH, timedelta(microseconds=1)
        for k in range(len(at_us)):
            owner = owners[k]
            name = kinds[k]
            if name == 3:
                order = orders[order_of[k]]
                props = {"order_id": order.id, "total": float(order.total), "currency": currency}
            else:
                props = product_props[product[k]]
            anon = anons[k]
            out.append(
                make(
                    id=f"{id_prefix[owner]}{k}",
                    name=names[name],
                    at=epoch + at_us[k] * micro,
                    customer_id=None if anon else ids[owner],
                    anonymous_id=anon_id[owner] if anon else None,
                    properties=props,
                    source="synthetic",
                )
            )
        links = [
            (
                ids[j],
                Identity(kind=IdentityKind.ANONYMOUS, value=f"anon-s{self.seed}-{int(index[j])}"),
            )
            for j in np.flatnonzero(ch.cust["anon"])
        ]
        return out, links
