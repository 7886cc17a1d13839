"""Validated input arrays for the recommenders: interactions, catalog, SKU codes, currencies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs
import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from ecomcrm.errors import ValidationError

Weight = Literal["binary", "quantity", "log1p", "revenue"]
_WEIGHTS = ("binary", "quantity", "log1p", "revenue")


def _first_bad(mask: NDArray[np.bool_]) -> int:
    return int(np.flatnonzero(mask)[0])


def as_codes(
    values: ArrayLike, *, entity: str, field: str, n: int | None = None
) -> NDArray[np.int64]:
    """Return ``values`` as a 1-D int64 array of codes in ``[0, n)``, else ValidationError."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValidationError(
            "must be one-dimensional", entity=entity, field=field, value=arr.shape
        )
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        raise ValidationError(
            "must be integer codes", entity=entity, field=field, value=str(arr.dtype)
        )
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            row = _first_bad(bad)
            raise ValidationError(
                "must be integer codes", entity=entity, field=field, value=arr[row].item(), row=row
            )
    out = arr.astype(np.int64, copy=False)
    neg = out < 0
    if neg.any():
        row = _first_bad(neg)
        raise ValidationError(
            "must not be negative", entity=entity, field=field, value=int(out[row]), row=row
        )
    if n is not None:
        over = out >= n
        if over.any():
            unknown = np.unique(out[over])
            shown = ", ".join(str(v) for v in unknown[:10])
            more = f" and {unknown.size - 10} more" if unknown.size > 10 else ""
            raise ValidationError(
                f"unknown codes {shown}{more} (only {n} known)",
                entity=entity,
                field=field,
                value=int(out[_first_bad(over)]),
                row=_first_bad(over),
            )
    return out


def _as_bool(values: ArrayLike, *, field: str, n: int) -> NDArray[np.bool_]:
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise ValidationError(
            f"must have one value per product ({n})", entity="Catalog", field=field, value=arr.shape
        )
    if arr.dtype.kind not in "biu":
        raise ValidationError(
            "must be boolean", entity="Catalog", field=field, value=str(arr.dtype)
        )
    return arr.astype(np.bool_)


def encode_skus(skus: ArrayLike, catalog_skus: ArrayLike) -> NDArray[np.int64]:
    """Map SKU strings to product codes (positions in ``catalog_skus``).

    Args:
        skus: The SKUs to encode (any array-like of strings).
        catalog_skus: The known SKUs; the product code of a SKU is its position here.

    Returns:
        An int64 array of product codes.

    Raises:
        ValidationError: Naming the unknown SKUs and the first row holding one, or a
            duplicate SKU in the catalog.

    Example:
        >>> encode_skus(["B", "A", "B"], ["A", "B", "C"]).tolist()
        [1, 0, 1]
    """
    cat = np.asarray(catalog_skus).astype(str)
    wanted = np.asarray(skus).astype(str)
    order = np.argsort(cat, kind="stable")
    sorted_cat = cat[order]
    dup = sorted_cat[1:] == sorted_cat[:-1]
    if dup.any():
        raise ValidationError(
            "duplicate SKU in catalog",
            entity="Catalog",
            field="sku",
            value=str(sorted_cat[1:][dup][0]),
        )
    if wanted.size == 0:
        return np.zeros(0, dtype=np.int64)
    if cat.size == 0:
        pos = np.zeros(wanted.size, dtype=np.int64)
        found = np.zeros(wanted.size, dtype=np.bool_)
    else:
        pos = np.searchsorted(sorted_cat, wanted)
        pos_c = np.minimum(pos, sorted_cat.size - 1)
        found = sorted_cat[pos_c] == wanted
        pos = pos_c
    if not found.all():
        unknown = np.unique(wanted[~found])
        shown = ", ".join(repr(str(s)) for s in unknown[:10])
        more = f" and {unknown.size - 10} more" if unknown.size > 10 else ""
        row = _first_bad(~found)
        raise ValidationError(
            f"unknown SKUs {shown}{more}",
            entity="OrderLine",
            field="sku",
            value=str(wanted[row]),
            row=row,
        )
    return order[pos].astype(np.int64)


def convert_amounts(
    amount: ArrayLike,
    currency: ArrayLike | str | None,
    *,
    conversion: Mapping[str, float] | None = None,
) -> NDArray[np.float64]:
    """Return amounts in one currency, refusing silent currency mixtures.

    Args:
        amount: Amounts, one per line.
        currency: ISO codes, one per line (or one code for all, or None for "all the same").
        conversion: Rate that converts one unit of each currency into the common currency,
            e.g. ``{"EUR": 1.0, "USD": 0.92}``. Required when more than one currency occurs.

    Raises:
        ValidationError: Several currencies without ``conversion``, or a currency missing
            from it.

    Example:
        >>> convert_amounts([10.0, 20.0], ["EUR", "USD"], conversion={"EUR": 1.0, "USD": 0.5}).tolist()
        [10.0, 10.0]
    """
    amt = np.asarray(amount, dtype=np.float64)
    if currency is None or isinstance(currency, str):
        if conversion is not None and isinstance(currency, str):
            if currency not in conversion:
                raise ValidationError(
                    "currency missing from the conversion mapping",
                    entity="OrderLine",
                    field="currency",
                    value=currency,
                )
            return amt * float(conversion[currency])
        return amt
    cur = np.asarray(currency).astype(str)
    if cur.shape != amt.shape:
        raise ValidationError(
            f"must have one code per amount ({amt.size})",
            entity="OrderLine",
            field="currency",
            value=cur.shape,
        )
    codes, inverse = np.unique(cur, return_inverse=True)
    if conversion is None:
        if codes.size > 1:
            raise ValidationError(
                f"amounts mix currencies {', '.join(codes.tolist())}; pass conversion="
                "{currency: rate to a common currency} to combine them",
                entity="OrderLine",
                field="currency",
                value=codes.tolist(),
                row=_first_bad(cur != cur[0]),
            )
        return amt
    missing = [c for c in codes.tolist() if c not in conversion]
    if missing:
        row = _first_bad(np.isin(cur, missing))
        raise ValidationError(
            f"currencies {', '.join(missing)} missing from the conversion mapping",
            entity="OrderLine",
            field="currency",
            value=missing[0],
            row=row,
        )
    rates = np.array([float(conversion[c]) for c in codes.tolist()], dtype=np.float64)
    return np.asarray(amt * rates[inverse], dtype=np.float64)


@attrs.frozen(kw_only=True, eq=False)
class Catalog:
    """Product metadata arrays, indexed by product code.

    Attributes:
        category: Category code per product (int64, ``-1`` when unknown).
        in_stock: Whether each product can be recommended now.
        consumable: Whether each product is bought again and again (may be re-recommended).
        sku: Optional SKU per product, for :meth:`encode`.

    Example:
        >>> cat = Catalog.from_arrays(category=[0, 0, 1], in_stock=[True, False, True])
        >>> cat.n_products, cat.consumable.tolist()
        (3, [False, False, False])
    """

    category: NDArray[np.int64]
    in_stock: NDArray[np.bool_]
    consumable: NDArray[np.bool_]
    sku: NDArray[np.str_] | None = None

    @property
    def n_products(self) -> int:
        """Number of products in the catalog."""
        return int(self.category.size)

    @property
    def n_categories(self) -> int:
        """One more than the largest category code (0 when none)."""
        return int(self.category.max()) + 1 if self.category.size else 0

    @classmethod
    def from_arrays(
        cls,
        *,
        category: ArrayLike | None = None,
        in_stock: ArrayLike | None = None,
        consumable: ArrayLike | None = None,
        sku: ArrayLike | None = None,
        n_products: int | None = None,
    ) -> Catalog:
        """Build a catalog, validating lengths; omitted flags default to in stock / durable.

        Example:
            >>> Catalog.from_arrays(n_products=2).in_stock.tolist()
            [True, True]
        """
        sizes = [
            np.asarray(a).shape[0] for a in (category, in_stock, consumable, sku) if a is not None
        ]
        if n_products is None:
            if not sizes:
                raise ValidationError(
                    "give n_products or at least one array", entity="Catalog", field="n_products"
                )
            n_products = int(sizes[0])
        n = int(n_products)
        if category is None:
            cat = np.zeros(n, dtype=np.int64)
        else:
            raw = np.asarray(category)
            if raw.shape != (n,):
                raise ValidationError(
                    f"must have one value per product ({n})",
                    entity="Catalog",
                    field="category",
                    value=raw.shape,
                )
            cat = raw.astype(np.int64)
            if (cat < -1).any():
                row = _first_bad(cat < -1)
                raise ValidationError(
                    "must be a code >= 0 (or -1 for unknown)",
                    entity="Catalog",
                    field="category",
                    value=int(cat[row]),
                    row=row,
                )
        stock = (
            np.ones(n, np.bool_) if in_stock is None else _as_bool(in_stock, field="in_stock", n=n)
        )
        cons = (
            np.zeros(n, np.bool_)
            if consumable is None
            else _as_bool(consumable, field="consumable", n=n)
        )
        skus = None
        if sku is not None:
            skus = np.asarray(sku).astype(str)
            if skus.shape != (n,):
                raise ValidationError(
                    f"must have one value per product ({n})",
                    entity="Catalog",
                    field="sku",
                    value=skus.shape,
                )
        return cls(category=cat, in_stock=stock, consumable=cons, sku=skus)

    def encode(self, skus: ArrayLike) -> NDArray[np.int64]:
        """Product codes for SKUs; unknown SKUs raise ValidationError naming them.

        Example:
            >>> Catalog.from_arrays(sku=["A", "B"]).encode(["B"]).tolist()
            [1]
        """
        if self.sku is None:
            raise ValidationError("catalog has no SKUs", entity="Catalog", field="sku")
        return encode_skus(skus, self.sku)


@attrs.frozen(kw_only=True, eq=False)
class Interactions:
    """Purchase lines as validated integer-coded arrays (one row per order line).

    Build with :meth:`from_arrays`. Basket codes are re-coded to ``0..n_baskets-1``;
    customer and product codes must already be ``0..n-1``.

    Attributes:
        basket: Basket (order) code per line, ``0..n_baskets-1``.
        customer: Customer code per line.
        product: Product code per line.
        quantity: Units per line (float64, 1 when not given).
        timestamp: Purchase time per line (datetime64[us]) or None.
        amount: Line value in one currency (float64) or None.
        n_customers: Number of customer codes.
        n_products: Number of product codes.
        n_baskets: Number of distinct baskets.

    Example:
        >>> it = Interactions.from_arrays(basket=[7, 7, 9], customer=[0, 0, 1], product=[0, 1, 1], n_products=3)
        >>> it.basket.tolist(), it.n_baskets, it.n_customers
        ([0, 0, 1], 2, 2)
    """

    basket: NDArray[np.int64]
    customer: NDArray[np.int64]
    product: NDArray[np.int64]
    quantity: NDArray[np.float64]
    timestamp: NDArray[np.datetime64] | None
    amount: NDArray[np.float64] | None
    n_customers: int
    n_products: int
    n_baskets: int

    @classmethod
    def from_arrays(
        cls,
        *,
        basket: ArrayLike,
        customer: ArrayLike,
        product: ArrayLike,
        n_products: int,
        n_customers: int | None = None,
        quantity: ArrayLike | None = None,
        timestamp: ArrayLike | None = None,
        amount: ArrayLike | None = None,
        currency: ArrayLike | str | None = None,
        conversion: Mapping[str, float] | None = None,
    ) -> Interactions:
        """Validate and build interactions.

        Args:
            basket: Order / basket id per line (any integers).
            customer: Customer code per line, ``0..n_customers-1``.
            product: Product code per line, ``0..n_products-1``; other codes raise
                ValidationError naming them (use :func:`encode_skus` for SKU strings).
            n_products: Catalog size.
            n_customers: Number of customers (default: largest code + 1).
            quantity: Units per line (default 1); must be positive.
            timestamp: Purchase time per line, converted to datetime64[us].
            amount: Line value, needed for ``weight="revenue"``.
            currency: Currency per line (or one code); several currencies need ``conversion``.
            conversion: Rates into a common currency, see :func:`convert_amounts`.

        Example:
            >>> it = Interactions.from_arrays(basket=[0], customer=[0], product=[2], n_products=3)
            >>> it.quantity.tolist()
            [1.0]
        """
        prod = as_codes(product, entity="OrderLine", field="product", n=int(n_products))
        n = prod.size
        cust = as_codes(customer, entity="OrderLine", field="customer", n=n_customers)
        bask_raw = as_codes(basket, entity="OrderLine", field="basket")
        for name, arr in (("customer", cust), ("basket", bask_raw)):
            if arr.size != n:
                raise ValidationError(
                    f"must have one value per line ({n})",
                    entity="OrderLine",
                    field=name,
                    value=arr.size,
                )
        if n and bask_raw.max() < 4 * n:
            present = np.zeros(int(bask_raw.max()) + 1, dtype=np.int64)
            present[bask_raw] = 1
            recode = np.cumsum(present) - 1
            bask = recode[bask_raw]
            n_baskets = int(present.sum())
        else:
            uniq, inv = np.unique(bask_raw, return_inverse=True)
            bask, n_baskets = inv.astype(np.int64), int(uniq.size)
        if quantity is None:
            qty = np.ones(n, dtype=np.float64)
        else:
            qty = np.asarray(quantity, dtype=np.float64)
            if qty.shape != (n,):
                raise ValidationError(
                    f"must have one value per line ({n})",
                    entity="OrderLine",
                    field="quantity",
                    value=qty.shape,
                )
            bad = ~(qty > 0)
            if bad.any():
                row = _first_bad(bad)
                raise ValidationError(
                    "must be positive",
                    entity="OrderLine",
                    field="quantity",
                    value=float(qty[row]),
                    row=row,
                )
        ts = None
        if timestamp is not None:
            ts = np.asarray(timestamp).astype("datetime64[us]")
            if ts.shape != (n,):
                raise ValidationError(
                    f"must have one value per line ({n})",
                    entity="OrderLine",
                    field="timestamp",
                    value=ts.shape,
                )
            if np.isnat(ts).any():
                row = _first_bad(np.isnat(ts))
                raise ValidationError(
                    "must not be missing",
                    entity="OrderLine",
                    field="timestamp",
                    value="NaT",
                    row=row,
                )
        amt = None
        if amount is not None:
            amt = convert_amounts(amount, currency, conversion=conversion)
            if amt.shape != (n,):
                raise ValidationError(
                    f"must have one value per line ({n})",
                    entity="OrderLine",
                    field="amount",
                    value=amt.shape,
                )
        ncust = int(n_customers) if n_customers is not None else (int(cust.max()) + 1 if n else 0)
        return cls(
            basket=bask,
            customer=cust,
            product=prod,
            quantity=qty,
            timestamp=ts,
            amount=amt,
            n_customers=ncust,
            n_products=int(n_products),
            n_baskets=n_baskets,
        )

    @property
    def n_lines(self) -> int:
        """Number of lines."""
        return int(self.product.size)

    def subset(self, mask: NDArray[np.bool_]) -> Interactions:
        """The lines where ``mask`` holds, keeping customer and product code spaces.

        Example:
            >>> it = Interactions.from_arrays(basket=[0, 1], customer=[0, 1], product=[0, 1], n_products=2)
            >>> it.subset(it.customer == 1).n_lines, it.subset(it.customer == 1).n_customers
            (1, 2)
        """
        return Interactions.from_arrays(
            basket=self.basket[mask],
            customer=self.customer[mask],
            product=self.product[mask],
            n_products=self.n_products,
            n_customers=self.n_customers,
            quantity=self.quantity[mask],
            timestamp=None if self.timestamp is None else self.timestamp[mask],
            amount=None if self.amount is None else self.amount[mask],
        )

    def basket_matrix(self) -> Any:
        """Binary basket x product CSR matrix (int32), duplicates collapsed.

        Example:
            >>> it = Interactions.from_arrays(basket=[0, 0, 0], customer=[0, 0, 0], product=[1, 1, 0], n_products=2)
            >>> it.basket_matrix().toarray().tolist()
            [[1, 1]]
        """
        return _binary_csr(self.basket, self.product, (self.n_baskets, self.n_products))

    def customer_matrix(self, weight: Weight = "binary") -> Any:
        """Customer x product CSR matrix (float64).

        Args:
            weight: ``"binary"`` (bought or not), ``"quantity"`` (units), ``"log1p"``
                (log(1 + units)) or ``"revenue"`` (needs ``amount``).

        Example:
            >>> it = Interactions.from_arrays(basket=[0, 1], customer=[0, 0], product=[1, 1], n_products=2, quantity=[2, 3])
            >>> it.customer_matrix("quantity").toarray().tolist()
            [[0.0, 5.0]]
        """
        shape = (self.n_customers, self.n_products)
        if weight not in _WEIGHTS:
            raise ValidationError(
                f"must be one of {', '.join(_WEIGHTS)}",
                entity="recommend",
                field="weight",
                value=weight,
            )
        if weight == "binary":
            m = _binary_csr(self.customer, self.product, shape)
            return m.astype(np.float64)
        if weight == "revenue":
            if self.amount is None:
                raise ValidationError(
                    "weight='revenue' needs amounts", entity="Interactions", field="amount"
                )
            vals = self.amount
        else:
            vals = self.quantity
        m = sp.csr_array((vals, (self.customer, self.product)), shape=shape, dtype=np.float64)
        m.sum_duplicates()
        if weight == "log1p":
            m.data = np.log1p(m.data)
        return m


def _binary_csr(rows: NDArray[np.int64], cols: NDArray[np.int64], shape: tuple[int, int]) -> Any:
    """Binary CSR (int32 data) from (row, col) pairs, duplicates collapsed, indices sorted."""
    m = sp.csr_array(
        (np.ones(rows.size, dtype=np.int32), (rows, cols)), shape=shape, dtype=np.int32
    )
    m.sum_duplicates()
    m.data[:] = 1
    return m


def check_catalog(catalog: Catalog | None, n_products: int) -> Catalog:
    """Return ``catalog`` (or a default one) after checking it matches ``n_products``."""
    if catalog is None:
        return Catalog.from_arrays(n_products=n_products)
    if catalog.n_products != n_products:
        raise ValidationError(
            f"catalog has {catalog.n_products} products, interactions use {n_products}",
            entity="Catalog",
            field="n_products",
            value=catalog.n_products,
        )
    return catalog


def as_sequence_of_codes(
    values: Sequence[int] | ArrayLike, *, field: str, n: int
) -> NDArray[np.int64]:
    """Product codes given by the caller (e.g. a basket) validated against ``n``."""
    return as_codes(
        np.asarray(values, dtype=np.int64).ravel(), entity="recommend", field=field, n=n
    )
