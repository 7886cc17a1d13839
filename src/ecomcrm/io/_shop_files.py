"""The synthetic shop's file writers: Shopify orders and customers CSV, Segment JSONL."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from ecomcrm.io._progress import ProgressOption, make_progress
from ecomcrm.io._rows import PathLike
from ecomcrm.io._shop_model import (
    CODES,
    DAY_US,
    FIRST_NAMES,
    LAST_NAMES,
    ZONES,
    Chunk,
    ShopModel,
    utc_at,
)
from ecomcrm.io._shopify import SHOPIFY_CUSTOMER_COLUMNS, SHOPIFY_ORDER_COLUMNS


def _cents_text(cents: int | np.integer[Any]) -> str:
    c = int(cents)
    sign = "-" if c < 0 else ""
    c = abs(c)
    return f"{sign}{c // 100}.{c % 100:02d}"


def _shopify_time(us: int | np.integer[Any], offset_min: int) -> str:
    local = utc_at(us) + timedelta(minutes=offset_min)
    sign = "+" if offset_min >= 0 else "-"
    m = abs(offset_min)
    return local.strftime("%Y-%m-%d %H:%M:%S") + f" {sign}{m // 60:02d}{m % 60:02d}"


class FileWriter(ShopModel):
    """The shop written as export files (``SyntheticShop.to_files``)."""

    __slots__ = ()

    def to_files(
        self,
        directory: PathLike,
        *,
        max_orders: int | None = None,
        events: bool | None = None,
        progress: ProgressOption = None,
    ) -> dict[str, Path]:
        """Write the shop as export files: Shopify orders and customers CSV, Segment JSONL.

        Files: ``shopify_orders.csv`` (one row per line item, Shopify's column layout),
        ``shopify_customers.csv`` (with Accepts Email/SMS Marketing) and, when events are
        generated, ``segment_events.jsonl`` (Segment track calls with the person's email in
        ``context.traits``, then one identify call per person tying their user id and
        anonymous id to that email). Imported with the importers, in any order, the files
        give the people of :meth:`to_store`, each with their orders and events.
        ``max_orders`` stops after that many orders (the benchmark's fixed-size file).
        Returns the paths.

        Example:
            >>> from ecomcrm.io import SyntheticShop
            >>> import tempfile
            >>> paths = SyntheticShop(customers=30, seed=4).to_files(tempfile.mkdtemp())
            >>> sorted(paths)
            ['customers', 'events', 'orders']
        """
        out_dir = Path(directory)
        out_dir.mkdir(parents=True, exist_ok=True)
        want_events = self.events if events is None else events
        shop = attrs.evolve(self, events=want_events)
        paths = {
            "orders": out_dir / "shopify_orders.csv",
            "customers": out_dir / "shopify_customers.csv",
        }
        if want_events:
            paths["events"] = out_dir / "segment_events.jsonl"
        cat = shop._catalog()
        bar = make_progress(progress, "write shop files", total=self.customers, unit="customers")
        written = 0
        with (
            paths["orders"].open("w", newline="", encoding="utf-8") as of,
            paths["customers"].open("w", newline="", encoding="utf-8") as cf,
        ):
            ef = paths["events"].open("w", encoding="utf-8") if want_events else None
            try:
                ow = csv.writer(of)
                cw = csv.writer(cf)
                ow.writerow(SHOPIFY_ORDER_COLUMNS)
                cw.writerow(SHOPIFY_CUSTOMER_COLUMNS)
                for k, i0, i1 in shop.chunk_bounds():
                    ch = shop._generate(k, i0, i1, cat)
                    limit = None if max_orders is None else max_orders - written
                    written += shop._write_order_rows(ow, ch, cat, limit)
                    shop._write_customer_rows(cw, ch)
                    if ef is not None:
                        shop._write_event_lines(ef, ch, cat)
                    bar.update(i1 - i0)
                    if max_orders is not None and written >= max_orders:
                        break
            finally:
                if ef is not None:
                    ef.close()
        bar.close()
        return paths

    def _write_order_rows(self, w: Any, ch: Chunk, cat: dict[str, Any], limit: int | None) -> int:
        o = ch.orders
        ln = ch.lines
        c = ch.cust
        m = o["owner"].shape[0] if limit is None else min(limit, o["owner"].shape[0])
        starts = np.cumsum(o["n_lines"]) - o["n_lines"]
        refunded = np.zeros(o["owner"].shape[0], dtype=np.int64)
        np.add.at(refunded, ch.refunds["order"], ch.refunds["amount"])
        width = len(SHOPIFY_ORDER_COLUMNS)
        col = {name: i for i, name in enumerate(SHOPIFY_ORDER_COLUMNS)}
        skus, titles, prices = cat["sku"], cat["title"], cat["price"]
        for i in range(m):
            owner = int(o["owner"][i])
            index = int(c["index"][owner])
            first = FIRST_NAMES[c["first"][owner]]
            last = LAST_NAMES[c["last"][owner]]
            zone = ZONES[c["zone"][owner]]
            email = self._email(index, first, last)
            offset = _utc_offset_minutes(zone[0], int(o["placed_us"][i]))
            name = self._order_name(index, int(o["seq"][i]))
            created = _shopify_time(o["placed_us"][i], offset)
            s = int(starts[i])
            for j in range(s, s + int(o["n_lines"][i])):
                row = [""] * width
                row[col["Name"]] = name
                row[col["Email"]] = email
                row[col["Created at"]] = created
                p = int(ln["product"][j])
                row[col["Lineitem quantity"]] = str(int(ln["qty"][j]))
                row[col["Lineitem name"]] = titles[p]
                row[col["Lineitem price"]] = _cents_text(prices[p])
                row[col["Lineitem sku"]] = skus[p]
                row[col["Lineitem requires shipping"]] = "true"
                row[col["Lineitem taxable"]] = "true"
                row[col["Lineitem fulfillment status"]] = (
                    "fulfilled" if o["status"][i] else "pending"
                )
                row[col["Lineitem discount"]] = "0.00"
                row[col["Vendor"]] = "Synthetic Goods"
                if j == s:
                    self._order_level(row, col, o, i, refunded[i], created, first, last, zone)
                w.writerow(row)
        return int(m)

    def _order_level(
        self,
        row: list[str],
        col: dict[str, int],
        o: dict[str, Any],
        i: int,
        refunded: int,
        created: str,
        first: str,
        last: str,
        zone: tuple[str, str, str, float, str],
    ) -> None:
        cancelled = bool(o["cancelled"][i])
        total = int(o["total"][i])
        if cancelled:
            financial = "voided"
        elif refunded >= total:
            financial = "refunded"
        elif refunded > 0:
            financial = "partially_refunded"
        else:
            financial = "paid"
        code = int(o["code"][i])
        row[col["Financial Status"]] = financial
        row[col["Paid at"]] = "" if cancelled else created
        row[col["Fulfillment Status"]] = (
            "fulfilled" if o["status"][i] and not cancelled else "unfulfilled"
        )
        row[col["Accepts Marketing"]] = "no"
        row[col["Currency"]] = self.currency
        row[col["Subtotal"]] = _cents_text(o["subtotal"][i] - o["discount"][i])
        row[col["Shipping"]] = _cents_text(o["shipping"][i])
        row[col["Taxes"]] = _cents_text(o["tax"][i])
        row[col["Total"]] = _cents_text(total)
        row[col["Discount Code"]] = CODES[code] if code >= 0 else ""
        row[col["Discount Amount"]] = _cents_text(o["discount"][i])
        row[col["Shipping Method"]] = "Standard"
        row[col["Billing Name"]] = f"{first} {last}"
        row[col["Billing Country"]] = zone[1]
        row[col["Shipping Name"]] = f"{first} {last}"
        row[col["Shipping Country"]] = zone[1]
        row[col["Cancelled at"]] = created if cancelled else ""
        row[col["Payment Method"]] = "Shopify Payments"
        row[col["Refunded Amount"]] = _cents_text(refunded)
        row[col["Outstanding Balance"]] = "0.00"
        row[col["Source"]] = "web"
        row[col["Tax 1 Name"]] = "VAT 20%"
        row[col["Tax 1 Value"]] = _cents_text(o["tax"][i])

    def _write_customer_rows(self, w: Any, ch: Chunk) -> None:
        c = ch.cust
        cons = ch.consents
        for j in range(c["index"].shape[0]):
            index = int(c["index"][j])
            first = FIRST_NAMES[c["first"][j]]
            last = LAST_NAMES[c["last"][j]]
            zone = ZONES[c["zone"][j]]
            phone = f"+{zone[4]}{c['phone_tail'][j]}" if c["has_phone"][j] else ""
            email_ok = bool(cons["email"][j]) and not bool(cons["revoke"][j])
            w.writerow(
                [
                    f"'{index + 1_000_000_000}", first, last, self._email(index, first, last),
                    "yes" if email_ok else "no", "", "", "", "", "", zone[1], "", "", phone,
                    "yes" if cons["sms"][j] else "no", "", "", "", "no", "",
                ]
            )  # fmt: skip

    def _write_event_lines(self, f: Any, ch: Chunk, cat: dict[str, Any]) -> None:
        e = ch.events
        c = ch.cust
        names = ("Product Viewed", "Product Added", "Checkout Started", "Order Completed")
        skus, prices = cat["sku"], cat["price"]
        o = ch.orders
        at_text = np.datetime_as_string(e["at"].astype("datetime64[us]"), unit="ms")
        created_text = np.datetime_as_string(c["created_us"].astype("datetime64[us]"), unit="s")
        emails = [
            self._email(int(c["index"][j]), FIRST_NAMES[c["first"][j]], LAST_NAMES[c["last"][j]])
            for j in range(c["index"].shape[0])
        ]
        for k in range(e["at"].shape[0]):
            owner = int(e["owner"][k])
            index = int(c["index"][owner])
            name = int(e["name"][k])
            if name == 3:
                i = int(e["order"][k])
                props: dict[str, Any] = {
                    "order_id": self._order_name(index, int(o["seq"][i])),
                    "total": int(o["total"][i]) / 100,
                    "currency": self.currency,
                }
            else:
                p = int(e["product"][k])
                props = {"sku": skus[p], "price": int(prices[p]) / 100, "currency": self.currency}
            message: dict[str, Any] = {
                "type": "track",
                "event": names[name],
                "messageId": f"s{self.seed}-e{index:08d}-{k}",
                "timestamp": at_text[k] + "Z",
                "properties": props,
            }
            if e["anon"][k]:
                message["anonymousId"] = f"anon-s{self.seed}-{index}"
            else:
                message["userId"] = self.customer_id(index)
                # as Segment's and RudderStack's libraries send it: the last identify's traits
                message["context"] = {"traits": {"email": emails[owner]}}
            f.write(json.dumps(message, separators=(",", ":")) + "\n")
        # One identify call per person, after their events: it ties the user id and the
        # visitor's anonymous id to the person the orders and customers files know by email
        # (re-pointing the anonymous events), and states when they signed up, so importing
        # the three files gives the people of to_store.
        for j in range(c["index"].shape[0]):
            index = int(c["index"][j])
            identify: dict[str, Any] = {
                "type": "identify",
                "userId": self.customer_id(index),
                "messageId": f"s{self.seed}-i{index:08d}",
                "timestamp": created_text[j] + "Z",
                "traits": {
                    "email": emails[j],
                    "firstName": FIRST_NAMES[c["first"][j]],
                    "lastName": LAST_NAMES[c["last"][j]],
                    "createdAt": created_text[j] + "Z",
                },
            }
            if c["anon"][j]:
                identify["anonymousId"] = f"anon-s{self.seed}-{index}"
            f.write(json.dumps(identify, separators=(",", ":")) + "\n")


_OFFSETS: dict[tuple[str, int], int] = {}


def _utc_offset_minutes(zone: str, us: int) -> int:
    """The zone's UTC offset in minutes at that instant (cached per zone and month)."""
    month = us // (DAY_US * 30)
    key = (zone, month)
    hit = _OFFSETS.get(key)
    if hit is None:
        from zoneinfo import ZoneInfo

        offset = utc_at(us).astimezone(ZoneInfo(zone)).utcoffset()
        hit = int(offset.total_seconds() // 60) if offset is not None else 0
        if len(_OFFSETS) > 100_000:
            _OFFSETS.clear()
        _OFFSETS[key] = hit
    return hit
