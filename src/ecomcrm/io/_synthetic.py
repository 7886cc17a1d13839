"""A seeded, realistic synthetic shop, generated in chunks of customers with numpy.

The purchase process is BG/NBD-like (Fader, Hardie and Lee 2005): each customer buys at a
Poisson rate ``lambda ~ Gamma(r, alpha)`` (per day) and, after each purchase, drops out with
probability ``p ~ Beta(a, b)``. Order values follow the Gamma-Gamma spend model (Fader,
Hardie and Berger 2004): ``z ~ Gamma(p, nu)`` with ``nu ~ Gamma(q, gamma)`` per customer.
Around the orders come browsing sessions, carts (some abandoned), refunds and returns with
reasons, support tickets with satisfaction scores, marketing consents (some revoked later),
loyalty points and customers spread over many IANA time zones.

Everything is generated one chunk of customers at a time with vectorized numpy draws, so a
10,000,000-customer shop streams to a store or to files without holding it in memory. The
same configuration (seed and chunk size included) always gives the same shop.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray

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
    Product,
    Purpose,
    Refund,
    ReturnLine,
    SupportTicket,
    TicketStatus,
)
from ecomcrm.domain._activity import _trusted_event
from ecomcrm.errors import ValidationError
from ecomcrm.io._common import PathLike
from ecomcrm.io._progress import ProgressOption, make_progress
from ecomcrm.io._shopify import SHOPIFY_CUSTOMER_COLUMNS, SHOPIFY_ORDER_COLUMNS
from ecomcrm.storage._protocols import Store

MAX_CUSTOMERS = 10_000_000

# (time zone, country, locale, weight, phone country code)
_ZONES: tuple[tuple[str, str, str, float, str], ...] = (
    ("America/New_York", "US", "en-US", 14, "1"),
    ("America/Chicago", "US", "en-US", 8, "1"),
    ("America/Denver", "US", "en-US", 3, "1"),
    ("America/Los_Angeles", "US", "en-US", 9, "1"),
    ("America/Phoenix", "US", "en-US", 1, "1"),
    ("America/Anchorage", "US", "en-US", 0.3, "1"),
    ("Pacific/Honolulu", "US", "en-US", 0.3, "1"),
    ("America/Toronto", "CA", "en-CA", 3, "1"),
    ("America/Vancouver", "CA", "en-CA", 1.5, "1"),
    ("America/Mexico_City", "MX", "es-MX", 2, "52"),
    ("America/Sao_Paulo", "BR", "pt-BR", 3, "55"),
    ("America/Argentina/Buenos_Aires", "AR", "es-AR", 1, "54"),
    ("America/Bogota", "CO", "es-CO", 1, "57"),
    ("Europe/London", "GB", "en-GB", 8, "44"),
    ("Europe/Dublin", "IE", "en-IE", 1, "353"),
    ("Europe/Paris", "FR", "fr-FR", 6, "33"),
    ("Europe/Berlin", "DE", "de-DE", 7, "49"),
    ("Europe/Madrid", "ES", "es-ES", 4, "34"),
    ("Europe/Rome", "IT", "it-IT", 4, "39"),
    ("Europe/Amsterdam", "NL", "nl-NL", 2, "31"),
    ("Europe/Brussels", "BE", "fr-BE", 1, "32"),
    ("Europe/Vienna", "AT", "de-AT", 1, "43"),
    ("Europe/Zurich", "CH", "de-CH", 1, "41"),
    ("Europe/Stockholm", "SE", "sv-SE", 1.5, "46"),
    ("Europe/Oslo", "NO", "nb-NO", 0.8, "47"),
    ("Europe/Copenhagen", "DK", "da-DK", 0.8, "45"),
    ("Europe/Helsinki", "FI", "fi-FI", 0.6, "358"),
    ("Europe/Warsaw", "PL", "pl-PL", 2, "48"),
    ("Europe/Prague", "CZ", "cs-CZ", 0.8, "420"),
    ("Europe/Lisbon", "PT", "pt-PT", 1, "351"),
    ("Europe/Athens", "GR", "el-GR", 0.7, "30"),
    ("Europe/Istanbul", "TR", "tr-TR", 1.5, "90"),
    ("Africa/Johannesburg", "ZA", "en-ZA", 1, "27"),
    ("Africa/Lagos", "NG", "en-NG", 0.8, "234"),
    ("Africa/Cairo", "EG", "ar-EG", 0.6, "20"),
    ("Asia/Dubai", "AE", "en-AE", 1, "971"),
    ("Asia/Kolkata", "IN", "en-IN", 4, "91"),
    ("Asia/Singapore", "SG", "en-SG", 1, "65"),
    ("Asia/Tokyo", "JP", "ja-JP", 3, "81"),
    ("Asia/Seoul", "KR", "ko-KR", 1.5, "82"),
    ("Asia/Shanghai", "CN", "zh-CN", 2, "86"),
    ("Asia/Manila", "PH", "en-PH", 1, "63"),
    ("Asia/Jakarta", "ID", "id-ID", 1, "62"),
    ("Australia/Sydney", "AU", "en-AU", 2.5, "61"),
    ("Australia/Perth", "AU", "en-AU", 0.6, "61"),
    ("Pacific/Auckland", "NZ", "en-NZ", 0.8, "64"),
)

_FIRST = (
    "Ada", "Alan", "Grace", "Linus", "Marie", "Emmy", "Rosalind", "Nikola", "Hedy", "Katherine",
    "Tim", "Barbara", "Dennis", "Frances", "Edsger", "Radia", "Ken", "Margaret", "John", "Sophie",
    "Lena", "Yuki", "Priya", "Mateo", "Amara", "Chen", "Olga", "Omar", "Ines", "Noah", "Zara",
    "Leon", "Maya", "Arjun", "Sara", "Kofi", "Hana", "Lucas", "Elif", "Jonas",
)  # fmt: skip
_LAST = (
    "Lovelace", "Turing", "Hopper", "Pauling", "Curie", "Noether", "Franklin", "Tesla", "Lamarr",
    "Johnson", "Berners", "Liskov", "Ritchie", "Allen", "Dijkstra", "Perlman", "Thompson",
    "Hamilton", "Backus", "Wilson", "Schmidt", "Tanaka", "Sharma", "Garcia", "Okafor", "Wang",
    "Ivanova", "Haddad", "Silva", "Kim", "Rossi", "Dubois", "Nowak", "Jensen", "Costa", "Yilmaz",
)  # fmt: skip
_CHANNELS = ("organic", "paid_search", "social", "email", "referral", "marketplace")
_CHANNEL_P = (0.34, 0.22, 0.18, 0.1, 0.1, 0.06)
_CATEGORIES = (
    ("Apparel > Tops", "TEE", "Tee", 12.0, 45.0, False),
    ("Apparel > Outerwear", "JKT", "Jacket", 60.0, 220.0, False),
    ("Apparel > Bottoms", "PNT", "Trousers", 30.0, 90.0, False),
    ("Home > Kitchen", "MUG", "Mug", 8.0, 30.0, False),
    ("Home > Decor", "DEC", "Print", 15.0, 120.0, False),
    ("Accessories > Bags", "BAG", "Tote", 15.0, 140.0, False),
    ("Accessories > Small", "STK", "Sticker pack", 3.0, 12.0, False),
    ("Beauty > Skincare", "SKN", "Face cream", 12.0, 60.0, True),
    ("Food > Coffee", "COF", "Coffee beans", 9.0, 28.0, True),
)
_CODES = ("WELCOME10", "SPRING10", "VIP10", "COMEBACK10", "FREESHIP")
_RETURN_REASONS = ("too small", "too large", "damaged", "not as described", "changed mind")
_TICKET_SUBJECTS = (
    "Where is my order?",
    "Wrong size",
    "Item arrived damaged",
    "Change delivery address",
    "Discount code not working",
    "Question about returns",
    "Invoice request",
)
_TICKET_TAGS = ("shipping", "returns", "damaged", "shipping", "promo", "returns", "billing")

_DAY_US = 86_400_000_000
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


class _Chunk:
    """One chunk of customers and everything they did, as arrays (microseconds since epoch)."""

    def __init__(self) -> None:
        self.cust: dict[str, Any] = {}
        self.orders: dict[str, Any] = {}
        self.lines: dict[str, Any] = {}
        self.refunds: dict[str, Any] = {}
        self.events: dict[str, Any] = {}
        self.tickets: dict[str, Any] = {}
        self.consents: dict[str, Any] = {}
        self.loyalty: dict[str, Any] = {}


def _group_cumsum(values: NDArray[np.float64], counts: NDArray[np.int64]) -> NDArray[np.float64]:
    """Cumulative sums restarting at each group (groups are consecutive runs of ``counts``)."""
    total = np.concatenate([np.zeros(1), np.cumsum(values, dtype=np.float64)])
    starts = np.cumsum(counts) - counts
    result: NDArray[np.float64] = total[1:] - np.repeat(total[starts], counts)
    return result


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _dt(us: int | np.integer[Any]) -> datetime:
    return _EPOCH + timedelta(microseconds=int(us))


def _money(cents: int | np.integer[Any]) -> Decimal:
    return Decimal(int(cents)).scaleb(-2)


def _cents_text(cents: int | np.integer[Any]) -> str:
    c = int(cents)
    sign = "-" if c < 0 else ""
    c = abs(c)
    return f"{sign}{c // 100}.{c % 100:02d}"


def _shopify_time(us: int | np.integer[Any], offset_min: int) -> str:
    local = _dt(us) + timedelta(minutes=offset_min)
    sign = "+" if offset_min >= 0 else "-"
    m = abs(offset_min)
    return local.strftime("%Y-%m-%d %H:%M:%S") + f" {sign}{m // 60:02d}{m % 60:02d}"


@attrs.frozen(kw_only=True)
class SyntheticShop:
    """A synthetic shop's configuration; generate it into a store or into export files.

    Rates are per day. Defaults give about two orders per buying customer over three
    years at a mean order value near 80 in ``currency``, with about 15% of customers who
    signed up but never bought.

    Args:
        customers: How many customers (1 to 10,000,000).
        seed: The random seed; the same configuration always gives the same shop.
        start: Start of the shop's history (an aware datetime).
        end: End of the shop's history (an aware datetime).
        currency: ISO currency of every order.
        r: Purchase-rate heterogeneity, ``lambda ~ Gamma(shape=r, scale=1/alpha)`` per day.
        alpha: The rate parameter of that Gamma (see ``r``).
        a: Dropout heterogeneity, ``p ~ Beta(a, b)`` (BG/NBD).
        b: The second shape of that Beta (see ``a``).
        p: Gamma-Gamma spend: ``z ~ Gamma(p, nu)``, ``nu ~ Gamma(q, gamma)``.
        q: Shape of the Gamma of ``nu`` (see ``p``).
        gamma: Rate of the Gamma of ``nu`` (see ``p``).
        never_bought: Share of customers who signed up without buying.
        events: Generate browsing, cart and checkout events (the bulk of the volume).
        chunk_size: Customers per chunk (and per store transaction).

    Example:
        >>> import ecomcrm
        >>> from ecomcrm.io import SyntheticShop
        >>> store = ecomcrm.open_store("memory://")
        >>> summary = SyntheticShop(customers=50, seed=1).to_store(store)
        >>> store.customers.count() == summary.customers == 50
        True
        >>> summary.orders == store.orders.count() > 0
        True
    """

    customers: int = 1_000
    seed: int = 0
    start: datetime = datetime(2022, 1, 1, tzinfo=UTC)
    end: datetime = datetime(2025, 1, 1, tzinfo=UTC)
    currency: str = "EUR"
    r: float = 0.6
    alpha: float = 90.0
    a: float = 0.8
    b: float = 2.6
    p: float = 6.0
    q: float = 4.0
    gamma: float = 40.0
    never_bought: float = 0.15
    events: bool = True
    chunk_size: int = 5_000

    def __attrs_post_init__(self) -> None:
        def bad(field: str, message: str, value: Any) -> ValidationError:
            return ValidationError(message, entity="SyntheticShop", field=field, value=value)

        if not 1 <= self.customers <= MAX_CUSTOMERS:
            raise bad("customers", f"must be from 1 to {MAX_CUSTOMERS:,}", self.customers)
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise bad("start", "start and end must be timezone-aware", self.start)
        if self.end - self.start < timedelta(days=30):
            raise bad("end", "must be at least 30 days after start", self.end)
        for name in ("r", "alpha", "a", "b", "p", "q", "gamma"):
            value = getattr(self, name)
            if not value > 0:
                raise bad(name, "must be positive", value)
        if not 0 <= self.never_bought < 1:
            raise bad("never_bought", "must be in [0, 1)", self.never_bought)
        if self.chunk_size < 1:
            raise bad("chunk_size", "must be at least 1", self.chunk_size)

    # --- catalogue ------------------------------------------------------------------------

    def _catalog(self) -> dict[str, Any]:
        rng = np.random.default_rng([self.seed, 7_919])
        skus: list[str] = []
        titles: list[str] = []
        cats: list[str] = []
        prices: list[int] = []
        consumable: list[bool] = []
        for category, code, title, low, high, cons in _CATEGORIES:
            n = 14
            cents = np.round(np.exp(rng.uniform(np.log(low), np.log(high), n)) * 100 / 50) * 50 - 1
            for k in range(n):
                skus.append(f"{code}-{k + 1:03d}")
                titles.append(f"{title} {k + 1}")
                cats.append(category)
                prices.append(int(max(cents[k], 99)))
                consumable.append(cons)
        order = np.argsort(np.asarray(prices), kind="stable")
        return {
            "sku": np.asarray(skus, dtype=object)[order],
            "title": np.asarray(titles, dtype=object)[order],
            "category": np.asarray(cats, dtype=object)[order],
            "price": np.asarray(prices, dtype=np.int64)[order],
            "consumable": np.asarray(consumable, dtype=bool)[order],
        }

    def products(self) -> list[Product]:
        """The shop's catalogue.

        Example:
            >>> len(SyntheticShop(seed=3).products()) > 100
            True
        """
        cat = self._catalog()
        return [
            Product(
                sku=str(cat["sku"][i]),
                title=str(cat["title"][i]),
                category=str(cat["category"][i]),
                price=_money(cat["price"][i]),
                currency=self.currency,
                consumable=bool(cat["consumable"][i]),
            )
            for i in range(len(cat["sku"]))
        ]

    # --- arrays ---------------------------------------------------------------------------

    def chunk_bounds(self) -> Iterator[tuple[int, int, int]]:
        """``(chunk number, first customer, end customer)`` for every chunk."""
        for k, i0 in enumerate(range(0, self.customers, self.chunk_size)):
            yield k, i0, min(i0 + self.chunk_size, self.customers)

    def _generate(self, k: int, i0: int, i1: int, cat: dict[str, Any]) -> _Chunk:
        rng = np.random.default_rng([self.seed, k, 104_729])
        n = i1 - i0
        ch = _Chunk()
        start_us = int((self.start - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))
        end_us = int((self.end - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))
        span = (end_us - start_us) / _DAY_US

        # customers ------------------------------------------------------------------------
        zones_w = np.asarray([z[3] for z in _ZONES])
        zone = rng.choice(len(_ZONES), size=n, p=zones_w / zones_w.sum())
        created_d = span * rng.uniform(0.0, 1.0, n) ** 0.8  # more sign-ups lately
        created_us = start_us + (created_d * _DAY_US).astype(np.int64) // 1_000_000 * 1_000_000
        buys = rng.uniform(size=n) >= self.never_bought
        lam = rng.gamma(self.r, 1.0 / self.alpha, n)
        pdrop = rng.beta(self.a, self.b, n)
        nu = rng.gamma(self.q, 1.0 / self.gamma, n)
        ch.cust = {
            "index": np.arange(i0, i1),
            "created_us": created_us,
            "zone": zone,
            "first": rng.integers(0, len(_FIRST), n),
            "last": rng.integers(0, len(_LAST), n),
            "has_phone": rng.uniform(size=n) < 0.35,
            # unique per customer (a bijection of the index mod 90M), varied by seed
            "phone_tail": 10_000_000
            + ((np.arange(i0, i1, dtype=np.int64) + self.seed * 1_000_003) * 7_919) % 90_000_000,
            "birthday": np.where(
                rng.uniform(size=n) < 0.7, rng.integers(-7_300, 12_800, n), np.iinfo(np.int64).min
            ),
            "channel": rng.choice(len(_CHANNELS), size=n, p=_CHANNEL_P),
            "anon": rng.uniform(size=n) < 0.3,
        }

        # orders: first purchase at sign-up, then Poisson repeats until dropout (BG/NBD) -------
        repeats = np.where(buys, np.minimum(rng.geometric(pdrop) - 1, 200), 0).astype(np.int64)
        owner_r = np.repeat(np.arange(n), repeats)
        gaps = rng.exponential(1.0, owner_r.shape[0]) / lam[owner_r]
        t_r = created_d[owner_r] + _group_cumsum(gaps, repeats)
        keep = t_r < span
        owner = np.concatenate([np.flatnonzero(buys), owner_r[keep]])
        t_d = np.concatenate([created_d[buys] + rng.uniform(0.0, 0.02, int(buys.sum())), t_r[keep]])
        t_d = np.minimum(t_d, span - 1e-6)
        order_idx = np.lexsort((t_d, owner))
        owner = owner[order_idx]
        placed_us = start_us + (t_d[order_idx] * _DAY_US).astype(np.int64) // 1_000_000 * 1_000_000
        m = owner.shape[0]
        value = np.clip(rng.gamma(self.p, 1.0, m) / nu[owner], 3.0, 3_000.0)

        # lines: split the value over 1-6 products near the right price -----------------------
        n_lines = np.minimum(1 + rng.poisson(0.7, m), 6)
        line_order = np.repeat(np.arange(m), n_lines)
        w = rng.gamma(1.0, 1.0, line_order.shape[0])
        wsum = np.add.reduceat(w, np.cumsum(n_lines) - n_lines)
        part = value[line_order] * w / wsum[line_order] * 100.0
        prices = cat["price"]
        pos = np.searchsorted(prices, part) + rng.integers(-4, 5, part.shape[0])
        product = np.clip(pos, 0, prices.shape[0] - 1)
        qty = np.clip(np.round(part / prices[product]), 1, 5).astype(np.int64)
        line_cents = prices[product] * qty
        subtotal = np.add.reduceat(line_cents, np.cumsum(n_lines) - n_lines)
        has_code = rng.uniform(size=m) < 0.18
        code = rng.integers(0, len(_CODES), m)
        discount = np.where(has_code, np.round(subtotal * 0.10).astype(np.int64), 0)
        shipping = np.where(subtotal - discount < 5_000, 490, 0)
        total = subtotal - discount + shipping
        tax = np.round(total * 0.2 / 1.2).astype(np.int64)
        cancelled = rng.uniform(size=m) < 0.015
        age_d = (end_us - placed_us) / _DAY_US
        status = np.where(age_d > 7, 2, np.where(age_d > 2, 1, 0))  # 0 paid, 1 shipped, 2 delivered
        ch.orders = {
            "owner": owner,
            "placed_us": placed_us,
            "subtotal": subtotal,
            "discount": discount,
            "shipping": shipping,
            "tax": tax,
            "total": total,
            "code": np.where(has_code, code, -1),
            "cancelled": cancelled,
            "status": status,
            "n_lines": n_lines,
            "seq": _group_cumsum(
                np.ones(m), np.bincount(owner, minlength=n).astype(np.int64)
            ).astype(np.int64),
        }
        ch.lines = {"order": line_order, "product": product, "qty": qty, "cents": line_cents}

        # refunds and returns ------------------------------------------------------------------
        first_line = np.cumsum(n_lines) - n_lines
        u = rng.uniform(size=m)
        returned = (u < 0.07) & ~cancelled & (age_d > 5)
        refunded_only = (u >= 0.07) & (u < 0.085) & ~cancelled & (age_d > 3)
        rmask = returned | refunded_only
        r_orders = np.flatnonzero(rmask)
        r_amount = np.where(
            returned[r_orders],
            np.minimum(line_cents[first_line[r_orders]], total[r_orders]),
            np.round(total[r_orders] * 0.15).astype(np.int64),
        )
        r_at = placed_us[r_orders] + (rng.uniform(2.0, 25.0, r_orders.shape[0]) * _DAY_US).astype(
            np.int64
        )
        r_at = np.minimum(r_at, end_us - 60_000_000)
        ch.refunds = {
            "order": r_orders,
            "amount": np.maximum(r_amount, 1),
            "at": r_at,
            "returned": returned[r_orders],
            "reason": rng.integers(0, len(_RETURN_REASONS), r_orders.shape[0]),
            "line": first_line[r_orders],
        }

        # tickets with satisfaction ------------------------------------------------------------
        p_ticket = np.where(rmask, 0.35, 0.03)
        t_orders = np.flatnonzero((rng.uniform(size=m) < p_ticket) & (age_d > 1))
        nt = t_orders.shape[0]
        opened = placed_us[t_orders] + (rng.uniform(0.5, 12.0, nt) * _DAY_US).astype(np.int64)
        opened = np.minimum(opened, end_us - 3_600_000_000)
        first_resp = opened + (rng.exponential(6.0, nt) * 3_600_000_000).astype(np.int64)
        closed = first_resp + (rng.exponential(1.5, nt) * _DAY_US).astype(np.int64)
        unhappy = rmask[t_orders]
        csat = (
            np.where(
                unhappy,
                rng.choice(5, size=nt, p=[0.2, 0.2, 0.25, 0.2, 0.15]),
                rng.choice(5, size=nt, p=[0.03, 0.05, 0.12, 0.3, 0.5]),
            )
            + 1
        )
        ch.tickets = {
            "order": t_orders,
            "opened": opened,
            "first_response": np.where(first_resp < end_us, first_resp, -1),
            "closed": np.where(closed < end_us, closed, -1),
            "csat": np.where((closed < end_us) & (rng.uniform(size=nt) < 0.6), csat, 0),
            "subject": np.where(unhappy, rng.choice([1, 2, 5], size=nt), rng.choice(7, size=nt)),
            "channel": rng.choice(3, size=nt, p=[0.6, 0.3, 0.1]),
        }

        # consents: opt-ins at sign-up, some revoked later --------------------------------------
        email_in = rng.uniform(size=n) < 0.62
        sms_in = rng.uniform(size=n) < 0.22
        revoke = email_in & (rng.uniform(size=n) < 0.1)
        revoke_at = created_us + ((end_us - created_us) * rng.uniform(0.1, 1.0, n)).astype(np.int64)
        ch.consents = {
            "email": email_in,
            "sms": sms_in,
            "revoke": revoke & (revoke_at < end_us - 1),
            "revoke_at": revoke_at,
        }

        # loyalty: points for each paid order, 500-point redemptions every 800 earned ------------
        earned = np.where(cancelled, 0, total // 100)
        cum = _group_cumsum(
            earned.astype(np.float64), np.bincount(owner, minlength=n).astype(np.int64)
        )
        before = cum - earned
        redeem = (np.floor(cum / 800.0) > np.floor(before / 800.0)) & (earned > 0)
        ch.loyalty = {"earned": earned, "redeem": redeem}

        # events: browsing, carts (some abandoned), checkouts, completions ----------------------
        if self.events:
            self._events(ch, rng, n, m, start_us, end_us, created_us, buys, lam, cat)
        return ch

    def _events(
        self,
        ch: _Chunk,
        rng: np.random.Generator,
        n: int,
        m: int,
        start_us: int,
        end_us: int,
        created_us: NDArray[np.int64],
        buys: NDArray[np.bool_],
        lam: NDArray[np.float64],
        cat: dict[str, Any],
    ) -> None:
        orders = ch.orders
        lines = ch.lines
        first_line = np.cumsum(orders["n_lines"]) - orders["n_lines"]
        # before every order: view, add to cart, checkout, then the completion at placed time
        o_prod = lines["product"][first_line]
        mins = (rng.uniform(3.0, 40.0, m) * 60_000_000).astype(np.int64)
        o_at = orders["placed_us"]
        kinds = [
            (0, o_at - mins, o_prod),
            (1, o_at - mins // 2, o_prod),
            (2, o_at - mins // 5, o_prod),
            (3, o_at, o_prod),
        ]
        owners = [orders["owner"]] * 4
        order_ref = [np.arange(m)] * 4
        # abandoned carts and plain browsing, spread over each customer's active window
        last_us = np.full(n, -1, dtype=np.int64)
        np.maximum.at(last_us, orders["owner"], orders["placed_us"])
        window_end = np.where(
            last_us > 0,
            np.minimum(last_us + 45 * _DAY_US, end_us),
            np.minimum(created_us + 20 * _DAY_US, end_us),
        )
        window = np.maximum(window_end - created_us, 1)
        n_carts = rng.poisson(0.35 + 0.4 * buys + 40 * lam)
        # a recent cart for some customers, so abandonment flows have work to do "now"
        recent = rng.uniform(size=n) < 0.04
        c_owner = np.repeat(np.arange(n), n_carts)
        c_at = created_us[c_owner] + (window[c_owner] * rng.uniform(size=c_owner.shape[0])).astype(
            np.int64
        )
        r_owner = np.flatnonzero(recent)
        r_at = end_us - (rng.uniform(0.05, 3.0, r_owner.shape[0]) * _DAY_US).astype(np.int64)
        c_owner = np.concatenate([c_owner, r_owner])
        c_at = np.maximum(np.concatenate([c_at, r_at]), created_us[c_owner])
        c_prod = rng.integers(0, cat["price"].shape[0], c_owner.shape[0])
        checkout = rng.uniform(size=c_owner.shape[0]) < 0.45
        kinds += [(0, c_at - 120_000_000, c_prod), (1, c_at, c_prod)]
        owners += [c_owner, c_owner]
        order_ref += [np.full(c_owner.shape[0], -1)] * 2
        kinds.append((2, c_at[checkout] + 90_000_000, c_prod[checkout]))
        owners.append(c_owner[checkout])
        order_ref.append(np.full(int(checkout.sum()), -1))
        n_views = rng.poisson(1.0 + 30 * lam)
        v_owner = np.repeat(np.arange(n), n_views)
        v_at = created_us[v_owner] + (window[v_owner] * rng.uniform(size=v_owner.shape[0])).astype(
            np.int64
        )
        kinds.append((0, v_at, rng.integers(0, cat["price"].shape[0], v_owner.shape[0])))
        owners.append(v_owner)
        order_ref.append(np.full(v_owner.shape[0], -1))
        name = np.concatenate([np.full(k[1].shape[0], k[0], dtype=np.int8) for k in kinds])
        at = np.concatenate([k[1] for k in kinds])
        prod = np.concatenate([k[2] for k in kinds])
        owner = np.concatenate(owners)
        oref = np.concatenate(order_ref)
        at = np.clip(at, start_us, end_us - 1) // 1_000 * 1_000  # whole milliseconds
        # visitors browse anonymously before signing up; sign-up ties the cookie to them
        anon_owner = ch.cust["anon"]
        pre = anon_owner[np.arange(n)]
        a_owner = np.flatnonzero(pre)
        a_at = created_us[a_owner] - (rng.uniform(0.1, 5.0, a_owner.shape[0]) * _DAY_US).astype(
            np.int64
        )
        a_prod = rng.integers(0, cat["price"].shape[0], a_owner.shape[0])
        is_anon = np.concatenate(
            [np.zeros(at.shape[0], dtype=bool), np.ones(a_owner.shape[0], dtype=bool)]
        )
        name = np.concatenate([name, np.zeros(a_owner.shape[0], dtype=np.int8)])
        at = np.concatenate([at, np.maximum(a_at, start_us) // 1_000 * 1_000])
        prod = np.concatenate([prod, a_prod])
        owner = np.concatenate([owner, a_owner])
        oref = np.concatenate([oref, np.full(a_owner.shape[0], -1)])
        idx = np.lexsort((name, at, owner))
        ch.events = {
            "name": name[idx],
            "at": at[idx],
            "product": prod[idx],
            "owner": owner[idx],
            "order": oref[idx],
            "anon": is_anon[idx],
        }

    def chunks(self) -> Iterator[_Chunk]:
        """Every chunk's arrays, in customer order (an internal, array-level view)."""
        cat = self._catalog()
        for k, i0, i1 in self.chunk_bounds():
            yield self._generate(k, i0, i1, cat)

    # --- naming -----------------------------------------------------------------------------

    def customer_id(self, index: int) -> str:
        """The id of customer number ``index``.

        Example:
            >>> SyntheticShop(seed=5).customer_id(42)
            's5-c00000042'
        """
        return f"s{self.seed}-c{index:08d}"

    def _email(self, index: int, first: str, last: str) -> str:
        return f"{first.lower()}.{last.lower()}.{index}@example.com"

    def _order_name(self, index: int, seq: int) -> str:
        return f"#S{self.seed}-{index:08d}-{seq:03d}"

    # --- to a store ---------------------------------------------------------------------------

    def to_store(self, store: Store, *, progress: ProgressOption = None) -> GenerationSummary:
        """Generate the shop into ``store``, one transaction per chunk of customers.

        Returns the counts written. Writing twice into the same store writes the same
        records again (same ids); nothing is duplicated.

        Example:
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

    def _write_chunk(self, store: Store, ch: _Chunk, cat: dict[str, Any]) -> GenerationSummary:
        c = ch.cust
        n = c["index"].shape[0]
        ids = [self.customer_id(int(i)) for i in c["index"]]
        customers: list[Customer] = []
        for j in range(n):
            first = _FIRST[c["first"][j]]
            last = _LAST[c["last"][j]]
            zone = _ZONES[c["zone"][j]]
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
                    created_at=_dt(c["created_us"][j]),
                    identities=identities,
                    first_name=first,
                    last_name=last,
                    timezone=zone[0],
                    locale=zone[2],
                    country=zone[1],
                    birthday=None if bday < -100_000 else date(1970, 1, 1) + timedelta(days=bday),
                    acquisition_channel=_CHANNELS[c["channel"][j]],
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

    def _orders(self, ch: _Chunk, ids: list[str], cat: dict[str, Any]) -> list[Order]:
        o = ch.orders
        ln = ch.lines
        out: list[Order] = []
        starts = (np.cumsum(o["n_lines"]) - o["n_lines"]).tolist()
        index = ch.cust["index"].tolist()
        refunded = np.zeros(o["owner"].shape[0], dtype=np.int64)
        np.add.at(refunded, ch.refunds["order"], ch.refunds["amount"])
        skus, titles, cats = cat["sku"], cat["title"], cat["category"]
        # Python lists: indexing numpy arrays one element at a time costs more than the work.
        prices = [_money(p) for p in cat["price"].tolist()]
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
            placed = _EPOCH + timedelta(microseconds=int(placed_us[i]))
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
                    subtotal=_money(subtotals[i]),
                    discount=_money(discounts[i]),
                    shipping=_money(shippings[i]),
                    tax=_money(taxes[i]),
                    taxes_included=True,
                    total=_money(totals[i]),
                    status=status,
                    sales_channel="web",
                    discount_codes=(_CODES[code],) if code >= 0 else (),
                    cancelled_at=placed + timedelta(hours=2) if cancelled[i] else None,
                    shipped_at=placed + timedelta(days=1) if states[i] >= 1 else None,
                    delivered_at=placed + timedelta(days=4) if states[i] >= 2 else None,
                )
            )
        return out

    def _refunds(
        self, ch: _Chunk, ids: list[str], orders: list[Order], cat: dict[str, Any]
    ) -> list[Refund]:
        r = ch.refunds
        owner = ch.orders["owner"]
        out: list[Refund] = []
        for k in range(r["order"].shape[0]):
            i = int(r["order"][k])
            order = orders[i]
            returned = bool(r["returned"][k])
            reason = _RETURN_REASONS[r["reason"][k]] if returned else "late delivery"
            line = order.lines[0]
            out.append(
                Refund(
                    id=f"{order.id}:r1",
                    order_id=order.id,
                    customer_id=ids[int(owner[i])],
                    at=max(_dt(r["at"][k]), order.placed_at),
                    amount=_money(r["amount"][k]),
                    currency=self.currency,
                    reason=reason,
                    returned=returned,
                    lines=[ReturnLine(sku=line.sku, quantity=line.quantity, reason=reason)]
                    if returned
                    else [],
                )
            )
        return out

    def _consents(self, ch: _Chunk, ids: list[str]) -> list[Consent]:
        c = ch.consents
        created = ch.cust["created_us"]
        out: list[Consent] = []
        for j in np.flatnonzero(c["email"] | c["sms"]):
            at = _dt(created[j])
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
                            granted=False, at=_dt(c["revoke_at"][j]), source="unsubscribe link")
                )  # fmt: skip
        return out

    def _tickets(self, ch: _Chunk, ids: list[str], orders: list[Order]) -> list[SupportTicket]:
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
                    subject=_TICKET_SUBJECTS[subject],
                    tags={_TICKET_TAGS[subject]},
                    status=TicketStatus.CLOSED if closed >= 0 else TicketStatus.OPEN,
                    opened_at=_dt(t["opened"][k]),
                    first_response_at=_dt(first) if first >= 0 else None,
                    closed_at=_dt(closed) if closed >= 0 else None,
                    satisfaction=csat or None,
                    order_id=orders[i].id,
                )
            )
        return out

    def _loyalty(self, ch: _Chunk, ids: list[str], orders: list[Order]) -> list[LoyaltyEntry]:
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
        self, ch: _Chunk, ids: list[str], orders: list[Order], cat: dict[str, Any]
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
        epoch, micro = _EPOCH, timedelta(microseconds=1)
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

    # --- to files -------------------------------------------------------------------------------

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

    def _write_order_rows(self, w: Any, ch: _Chunk, cat: dict[str, Any], limit: int | None) -> int:
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
            first = _FIRST[c["first"][owner]]
            last = _LAST[c["last"][owner]]
            zone = _ZONES[c["zone"][owner]]
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
        row[col["Discount Code"]] = _CODES[code] if code >= 0 else ""
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

    def _write_customer_rows(self, w: Any, ch: _Chunk) -> None:
        c = ch.cust
        cons = ch.consents
        for j in range(c["index"].shape[0]):
            index = int(c["index"][j])
            first = _FIRST[c["first"][j]]
            last = _LAST[c["last"][j]]
            zone = _ZONES[c["zone"][j]]
            phone = f"+{zone[4]}{c['phone_tail'][j]}" if c["has_phone"][j] else ""
            email_ok = bool(cons["email"][j]) and not bool(cons["revoke"][j])
            w.writerow(
                [
                    f"'{index + 1_000_000_000}", first, last, self._email(index, first, last),
                    "yes" if email_ok else "no", "", "", "", "", "", zone[1], "", "", phone,
                    "yes" if cons["sms"][j] else "no", "", "", "", "no", "",
                ]
            )  # fmt: skip

    def _write_event_lines(self, f: Any, ch: _Chunk, cat: dict[str, Any]) -> None:
        e = ch.events
        c = ch.cust
        names = ("Product Viewed", "Product Added", "Checkout Started", "Order Completed")
        skus, prices = cat["sku"], cat["price"]
        o = ch.orders
        at_text = np.datetime_as_string(e["at"].astype("datetime64[us]"), unit="ms")
        created_text = np.datetime_as_string(c["created_us"].astype("datetime64[us]"), unit="s")
        emails = [
            self._email(int(c["index"][j]), _FIRST[c["first"][j]], _LAST[c["last"][j]])
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
                    "firstName": _FIRST[c["first"][j]],
                    "lastName": _LAST[c["last"][j]],
                    "createdAt": created_text[j] + "Z",
                },
            }
            if c["anon"][j]:
                identify["anonymousId"] = f"anon-s{self.seed}-{index}"
            f.write(json.dumps(identify, separators=(",", ":")) + "\n")


_OFFSETS: dict[tuple[str, int], int] = {}


def _utc_offset_minutes(zone: str, us: int) -> int:
    """The zone's UTC offset in minutes at that instant (cached per zone and month)."""
    month = us // (_DAY_US * 30)
    key = (zone, month)
    hit = _OFFSETS.get(key)
    if hit is None:
        from zoneinfo import ZoneInfo

        offset = _dt(us).astimezone(ZoneInfo(zone)).utcoffset()
        hit = int(offset.total_seconds() // 60) if offset is not None else 0
        if len(_OFFSETS) > 100_000:
            _OFFSETS.clear()
        _OFFSETS[key] = hit
    return hit


def generate_shop(
    store: Store,
    *,
    customers: int = 1_000,
    seed: int = 0,
    events: bool = True,
    progress: ProgressOption = None,
) -> GenerationSummary:
    """Fill ``store`` with a synthetic shop (a shortcut for ``SyntheticShop(...).to_store``).

    Example:
        >>> import ecomcrm
        >>> store = ecomcrm.open_store("memory://")
        >>> generate_shop(store, customers=10, seed=1).customers
        10
    """
    return SyntheticShop(customers=customers, seed=seed, events=events).to_store(
        store, progress=progress
    )
