"""The bridge from a store to the recommenders: line facts in, coded arrays out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import numpy as np
from numpy.typing import ArrayLike, NDArray

from ecomcrm.domain import Product
from ecomcrm.errors import ValidationError
from ecomcrm.recommend._data import Catalog, Interactions
from ecomcrm.recommend._recommend import Recommendations, recommend
from ecomcrm.storage import LineFacts, Store


@attrs.frozen(kw_only=True, eq=False)
class StoreInteractions:
    """What :func:`interactions_from_store` read: the recommenders' inputs and code tables.

    Customer codes are rows of the store's customer table (``customer_ids``); product
    codes are positions in the sorted ``skus``; catalog category codes are positions in
    the sorted ``categories`` (category paths joined with ``" > "``, -1 when unknown).

    Attributes:
        interactions: The purchased lines (non-cancelled, quantity > 0): basket = order,
            with quantity, time and amount (in ``currency``).
        catalog: Category, in stock and consumable per product, and the SKUs.
        customer_ids: Customer id per customer code.
        skus: SKU per product code.
        categories: Category path per catalog category code.
        returned_customer: With ``returned_product``: the (customer, product) pairs of
            returned units, for :func:`~ecomcrm.recommend.recommend`'s exclusions.
        returned_product: See ``returned_customer``.
        currency: The currency of ``interactions.amount``.

    Example:
        >>> import ecomcrm
        >>> data = interactions_from_store(ecomcrm.open_store("memory://"), currency="EUR")
        >>> data.interactions.n_lines, data.skus
        (0, ())
    """

    interactions: Interactions
    catalog: Catalog
    customer_ids: NDArray[np.object_]
    skus: tuple[str, ...]
    categories: tuple[str, ...]
    returned_customer: NDArray[np.int64]
    returned_product: NDArray[np.int64]
    currency: str

    def customer_codes(self, customer_ids: ArrayLike) -> NDArray[np.int64]:
        """Customer codes of these (resolved, live) customer ids; unknown ids raise.

        Example:
            >>> import ecomcrm
            >>> data = interactions_from_store(ecomcrm.open_store("memory://"), currency="EUR")
            >>> data.customer_codes([]).tolist()
            []
        """
        wanted = np.asarray(customer_ids, dtype=object).reshape(-1).astype(str)
        known = self.customer_ids.astype(str)
        if wanted.size == 0:
            return np.zeros(0, dtype=np.int64)
        pos = np.minimum(np.searchsorted(known, wanted), max(known.size - 1, 0))
        found = known[pos] == wanted if known.size else np.zeros(wanted.size, dtype=bool)
        if not found.all():
            row = int(np.flatnonzero(~found)[0])
            raise ValidationError(
                "unknown customer", entity="recommend", field="customer", value=wanted[row], row=row
            )
        return pos.astype(np.int64)

    def sku_of(self, products: ArrayLike) -> NDArray[np.object_]:
        """The SKU of each product code (None for -1, the padding of recommendations).

        Example:
            >>> import ecomcrm
            >>> data = interactions_from_store(ecomcrm.open_store("memory://"), currency="EUR")
            >>> data.sku_of([-1]).tolist()
            [None]
        """
        codes = np.asarray(products, dtype=np.int64)
        table = np.empty(len(self.skus) + 1, dtype=object)
        table[:-1] = self.skus
        table[-1] = None
        out: NDArray[np.object_] = table[np.where(codes >= 0, codes, len(self.skus))]
        return out

    def recommend(self, *, n: int = 10, **options: Any) -> Recommendations:
        """:func:`~ecomcrm.recommend.recommend` with this catalog and these returns excluded.

        ``options`` are passed on (``customers``, ``segment``, ``similarity``, ``weight``...).

        Example:
            >>> import ecomcrm
            >>> data = interactions_from_store(ecomcrm.open_store("memory://"), currency="EUR")
            >>> data.recommend(n=3).items.shape
            (0, 3)
        """
        return recommend(
            self.interactions,
            self.catalog,
            n=n,
            returned_customer=self.returned_customer,
            returned_product=self.returned_product,
            **options,
        )


def _product_columns(
    products: Iterable[Product],
) -> tuple[NDArray[np.str_], NDArray[np.str_], NDArray[np.bool_], NDArray[np.bool_]]:
    """SKU, category path, in stock and consumable of each product (one pass)."""
    rows = [(p.sku, " > ".join(p.category), p.in_stock, p.consumable) for p in products]
    sku = np.asarray([r[0] for r in rows], dtype=str)
    ordered = np.sort(sku)
    dup = ordered[1:] == ordered[:-1]
    if dup.any():
        raise ValidationError(
            "duplicate SKU", entity="Product", field="sku", value=str(ordered[1:][dup][0])
        )
    return (
        sku,
        np.asarray([r[1] for r in rows], dtype=str),
        np.asarray([r[2] for r in rows], dtype=bool),
        np.asarray([r[3] for r in rows], dtype=bool),
    )


def _latest_category(
    lines: LineFacts, product: NDArray[np.int64], n_products: int
) -> NDArray[np.int64]:
    """Per product, the category code of its latest line that has one (-1 when none)."""
    out = np.full(n_products, -1, dtype=np.int64)
    has = np.flatnonzero(lines.category_code >= 0)[::-1]  # newest first
    if has.size:
        first_products, first = np.unique(product[has], return_index=True)
        out[first_products] = lines.category_code[has[first]]
    return out


def interactions_from_store(
    store: Store,
    *,
    currency: str | None = None,
    rates: Mapping[str, float] | None = None,
    products: Iterable[Product] | None = None,
) -> StoreInteractions:
    """Build the recommenders' inputs from a store's :meth:`~ecomcrm.storage.Store.line_facts`.

    Interactions are the lines of non-cancelled orders with a positive quantity: basket =
    order, customer = row of the customer table, product = SKU code, with quantity,
    ``placed_at`` and the line amount converted to ``currency`` with ``rates`` (as the
    store's order facts convert; a currency mixture without rates raises
    ValidationError). Lines with returned units give the ``returned_customer`` /
    ``returned_product`` exclusions (returned products are never recommended to that
    customer again).

    The store keeps no product catalogue. Without ``products`` the catalog covers the
    SKUs sold, each with the category of its latest line that has one, and every product
    counts as in stock and not consumable (so anything a customer bought is not
    recommended to them again). With ``products`` (e.g. ``SyntheticShop.products()`` or
    your catalogue export) their SKUs join the product codes (unsold products included),
    and their category, ``in_stock`` and ``consumable`` are used; a duplicate SKU raises
    ValidationError.

    Example:
        >>> import ecomcrm
        >>> from ecomcrm.io import SyntheticShop
        >>> store = ecomcrm.open_store("memory://")
        >>> shop = SyntheticShop(customers=100, seed=1)
        >>> _ = shop.to_store(store)
        >>> data = interactions_from_store(store, products=shop.products())
        >>> data.interactions.n_products == len(data.skus) == len(shop.products())
        True
    """
    lines = store.line_facts(currency=currency, rates=rates)
    customer_ids = lines.customer_ids
    line_skus = np.asarray(lines.skus, dtype=str)
    product = lines.sku_code.astype(np.int64)
    given = _product_columns(products if products is not None else ())
    catalog_sku, catalog_category, in_stock, consumable = given
    if catalog_sku.size:
        all_skus = np.union1d(line_skus, catalog_sku)
        product = np.searchsorted(all_skus, line_skus)[product] if product.size else product
    else:
        all_skus = line_skus
    n_products = int(all_skus.size)
    keep = ~lines.cancelled & (lines.quantity > 0) & (lines.customer_index >= 0)
    interactions = Interactions.from_arrays(
        basket=lines.order_index[keep],
        customer=lines.customer_index[keep],
        product=product[keep],
        n_products=n_products,
        n_customers=len(customer_ids),
        quantity=lines.quantity[keep],
        timestamp=lines.placed_at[keep],
        amount=lines.amount[keep],
    )
    category = _latest_category(lines, product, n_products)
    names = np.asarray(lines.categories, dtype=str)
    stock = np.ones(n_products, dtype=bool)
    cons = np.zeros(n_products, dtype=bool)
    if catalog_sku.size:
        at = np.searchsorted(all_skus, catalog_sku)
        stock[at], cons[at] = in_stock, consumable
        named = catalog_category != ""
        names = np.union1d(names, catalog_category[named])
        category = np.where(
            category >= 0,
            np.searchsorted(names, np.asarray((*lines.categories, ""), dtype=str)[category]),
            -1,
        )
        category[at[named]] = np.searchsorted(names, catalog_category[named])
    returned = (lines.returned_units > 0) & (lines.customer_index >= 0)
    pairs = np.unique(lines.customer_index[returned] * max(n_products, 1) + product[returned])
    return StoreInteractions(
        interactions=interactions,
        catalog=Catalog.from_arrays(
            category=category,
            in_stock=stock,
            consumable=cons,
            sku=all_skus,
            n_products=n_products,
        ),
        customer_ids=customer_ids,
        skus=tuple(str(s) for s in all_skus),
        categories=tuple(str(c) for c in names),
        returned_customer=(pairs // max(n_products, 1)).astype(np.int64),
        returned_product=(pairs % max(n_products, 1)).astype(np.int64),
        currency=lines.currency,
    )
