"""The synthetic shop's model: its customers, catalogue and behaviour, simulated in chunks.

The purchase process is BG/NBD-like (Fader, Hardie and Lee 2005): each customer buys at a
Poisson rate ``lambda ~ Gamma(r, alpha)`` (per day) and, after each purchase, drops out with
probability ``p ~ Beta(a, b)``. Order values follow the Gamma-Gamma spend model (Fader,
Hardie and Berger 2004): ``z ~ Gamma(p, nu)`` with ``nu ~ Gamma(q, gamma)`` per customer.
Around the orders come browsing sessions, carts (some abandoned), refunds and returns with
reasons, support tickets with satisfaction scores, marketing consents (some revoked later),
loyalty points and customers spread over many IANA time zones.

Everything is generated one chunk of customers at a time with vectorized numpy draws, as
arrays (:class:`Chunk`), so a 10,000,000-customer shop streams without being held in
memory. The same configuration (seed and chunk size included) always gives the same shop.
The writers turn chunks into domain objects (``_shop_store``) or export files
(``_shop_files``); ``_synthetic`` puts them together as the public ``SyntheticShop``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray

from ecomcrm.domain import Product
from ecomcrm.errors import ValidationError

MAX_CUSTOMERS = 10_000_000

# (time zone, country, locale, weight, phone country code)
ZONES: tuple[tuple[str, str, str, float, str], ...] = (
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

FIRST_NAMES = (
    "Ada", "Alan", "Grace", "Linus", "Marie", "Emmy", "Rosalind", "Nikola", "Hedy", "Katherine",
    "Tim", "Barbara", "Dennis", "Frances", "Edsger", "Radia", "Ken", "Margaret", "John", "Sophie",
    "Lena", "Yuki", "Priya", "Mateo", "Amara", "Chen", "Olga", "Omar", "Ines", "Noah", "Zara",
    "Leon", "Maya", "Arjun", "Sara", "Kofi", "Hana", "Lucas", "Elif", "Jonas",
)  # fmt: skip
LAST_NAMES = (
    "Lovelace", "Turing", "Hopper", "Pauling", "Curie", "Noether", "Franklin", "Tesla", "Lamarr",
    "Johnson", "Berners", "Liskov", "Ritchie", "Allen", "Dijkstra", "Perlman", "Thompson",
    "Hamilton", "Backus", "Wilson", "Schmidt", "Tanaka", "Sharma", "Garcia", "Okafor", "Wang",
    "Ivanova", "Haddad", "Silva", "Kim", "Rossi", "Dubois", "Nowak", "Jensen", "Costa", "Yilmaz",
)  # fmt: skip
CHANNELS = ("organic", "paid_search", "social", "email", "referral", "marketplace")
CHANNEL_P = (0.34, 0.22, 0.18, 0.1, 0.1, 0.06)
CATEGORIES = (
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
CODES = ("WELCOME10", "SPRING10", "VIP10", "COMEBACK10", "FREESHIP")
RETURN_REASONS = ("too small", "too large", "damaged", "not as described", "changed mind")
TICKET_SUBJECTS = (
    "Where is my order?",
    "Wrong size",
    "Item arrived damaged",
    "Change delivery address",
    "Discount code not working",
    "Question about returns",
    "Invoice request",
)
TICKET_TAGS = ("shipping", "returns", "damaged", "shipping", "promo", "returns", "billing")

DAY_US = 86_400_000_000


class Chunk:
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


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc_at(us: int | np.integer[Any]) -> datetime:
    return EPOCH + timedelta(microseconds=int(us))


def cents_to_money(cents: int | np.integer[Any]) -> Decimal:
    return Decimal(int(cents)).scaleb(-2)


@attrs.frozen(kw_only=True)
class ShopModel:
    """The synthetic shop's parameters and its simulation (public as ``SyntheticShop``).

    The fields are documented on :class:`ecomcrm.io.SyntheticShop`, which adds the writers.

    Example:
        >>> ShopModel(customers=10, seed=1).customer_id(3)
        's1-c00000003'
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
        for category, code, title, low, high, cons in CATEGORIES:
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
            >>> from ecomcrm.io import SyntheticShop
            >>> len(SyntheticShop(seed=3).products()) > 100
            True
        """
        cat = self._catalog()
        return [
            Product(
                sku=str(cat["sku"][i]),
                title=str(cat["title"][i]),
                category=str(cat["category"][i]),
                price=cents_to_money(cat["price"][i]),
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

    def _generate(self, k: int, i0: int, i1: int, cat: dict[str, Any]) -> Chunk:
        rng = np.random.default_rng([self.seed, k, 104_729])
        n = i1 - i0
        ch = Chunk()
        start_us = int((self.start - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))
        end_us = int((self.end - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))
        span = (end_us - start_us) / DAY_US

        # customers ------------------------------------------------------------------------
        zones_w = np.asarray([z[3] for z in ZONES])
        zone = rng.choice(len(ZONES), size=n, p=zones_w / zones_w.sum())
        created_d = span * rng.uniform(0.0, 1.0, n) ** 0.8  # more sign-ups lately
        created_us = start_us + (created_d * DAY_US).astype(np.int64) // 1_000_000 * 1_000_000
        buys = rng.uniform(size=n) >= self.never_bought
        lam = rng.gamma(self.r, 1.0 / self.alpha, n)
        pdrop = rng.beta(self.a, self.b, n)
        nu = rng.gamma(self.q, 1.0 / self.gamma, n)
        ch.cust = {
            "index": np.arange(i0, i1),
            "created_us": created_us,
            "zone": zone,
            "first": rng.integers(0, len(FIRST_NAMES), n),
            "last": rng.integers(0, len(LAST_NAMES), n),
            "has_phone": rng.uniform(size=n) < 0.35,
            # unique per customer (a bijection of the index mod 90M), varied by seed
            "phone_tail": 10_000_000
            + ((np.arange(i0, i1, dtype=np.int64) + self.seed * 1_000_003) * 7_919) % 90_000_000,
            "birthday": np.where(
                rng.uniform(size=n) < 0.7, rng.integers(-7_300, 12_800, n), np.iinfo(np.int64).min
            ),
            "channel": rng.choice(len(CHANNELS), size=n, p=CHANNEL_P),
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
        placed_us = start_us + (t_d[order_idx] * DAY_US).astype(np.int64) // 1_000_000 * 1_000_000
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
        code = rng.integers(0, len(CODES), m)
        discount = np.where(has_code, np.round(subtotal * 0.10).astype(np.int64), 0)
        shipping = np.where(subtotal - discount < 5_000, 490, 0)
        total = subtotal - discount + shipping
        tax = np.round(total * 0.2 / 1.2).astype(np.int64)
        cancelled = rng.uniform(size=m) < 0.015
        age_d = (end_us - placed_us) / DAY_US
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
        r_at = placed_us[r_orders] + (rng.uniform(2.0, 25.0, r_orders.shape[0]) * DAY_US).astype(
            np.int64
        )
        r_at = np.minimum(r_at, end_us - 60_000_000)
        ch.refunds = {
            "order": r_orders,
            "amount": np.maximum(r_amount, 1),
            "at": r_at,
            "returned": returned[r_orders],
            "reason": rng.integers(0, len(RETURN_REASONS), r_orders.shape[0]),
            "line": first_line[r_orders],
        }

        # tickets with satisfaction ------------------------------------------------------------
        p_ticket = np.where(rmask, 0.35, 0.03)
        t_orders = np.flatnonzero((rng.uniform(size=m) < p_ticket) & (age_d > 1))
        nt = t_orders.shape[0]
        opened = placed_us[t_orders] + (rng.uniform(0.5, 12.0, nt) * DAY_US).astype(np.int64)
        opened = np.minimum(opened, end_us - 3_600_000_000)
        first_resp = opened + (rng.exponential(6.0, nt) * 3_600_000_000).astype(np.int64)
        closed = first_resp + (rng.exponential(1.5, nt) * DAY_US).astype(np.int64)
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
        ch: Chunk,
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
            np.minimum(last_us + 45 * DAY_US, end_us),
            np.minimum(created_us + 20 * DAY_US, end_us),
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
        r_at = end_us - (rng.uniform(0.05, 3.0, r_owner.shape[0]) * DAY_US).astype(np.int64)
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
        a_at = created_us[a_owner] - (rng.uniform(0.1, 5.0, a_owner.shape[0]) * DAY_US).astype(
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

    def chunks(self) -> Iterator[Chunk]:
        """Every chunk's arrays, in customer order (an internal, array-level view)."""
        cat = self._catalog()
        for k, i0, i1 in self.chunk_bounds():
            yield self._generate(k, i0, i1, cat)

    # --- naming -----------------------------------------------------------------------------

    def customer_id(self, index: int) -> str:
        """The id of customer number ``index``.

        Example:
            >>> from ecomcrm.io import SyntheticShop
            >>> SyntheticShop(seed=5).customer_id(42)
            's5-c00000042'
        """
        return f"s{self.seed}-c{index:08d}"

    def _email(self, index: int, first: str, last: str) -> str:
        return f"{first.lower()}.{last.lower()}.{index}@example.com"

    def _order_name(self, index: int, seq: int) -> str:
        return f"#S{self.seed}-{index:08d}-{seq:03d}"
