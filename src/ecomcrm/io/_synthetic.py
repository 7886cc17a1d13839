"""The public synthetic shop: its model with its two writers as methods.

``SyntheticShop`` is ``_shop_model.ShopModel`` (the configuration and the simulation; its
module describes the purchase, spend and behaviour processes) with the store writer of
``_shop_store`` (``to_store``) and the file writer of ``_shop_files`` (``to_files``).
"""

from __future__ import annotations

import attrs

from ecomcrm.io._progress import ProgressOption
from ecomcrm.io._shop_files import FileWriter
from ecomcrm.io._shop_store import GenerationSummary, StoreWriter
from ecomcrm.storage import Store


@attrs.frozen(kw_only=True)
class SyntheticShop(FileWriter, StoreWriter):
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
