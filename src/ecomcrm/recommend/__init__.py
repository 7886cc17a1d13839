"""Product affinity and recommendations on sparse purchase matrices.

Arrays in (integer-coded order lines plus product metadata), sparse matrices and
arrays out. Nothing here builds a dense product x product matrix.

- :func:`co_purchase` -- support, confidence and lift of product pairs (``B.T @ B``).
- :func:`item_similarity` -- item-to-item cosine on the customer x product matrix.
- :func:`frequently_bought_together` -- suggestions for a basket.
- :func:`recommend` -- personalised top-N for many customers, with exclusions and a
  segment-popularity fallback for cold start.
- :func:`category_affinity`, :func:`popularity`, :func:`evaluate`.
- :func:`interactions_from_store` -- the inputs above read from a store's line facts.

Example:
    >>> from ecomcrm.recommend import Interactions, co_purchase
    >>> it = Interactions.from_arrays(basket=[0, 0, 1], customer=[0, 0, 1], product=[0, 1, 0], n_products=2)
    >>> co_purchase(it).count.nnz
    2
"""

from ecomcrm.recommend._affinity import (
    Affinity,
    CategoryAffinity,
    category_affinity,
    co_purchase,
    frequently_bought_together,
    item_similarity,
    popularity,
)
from ecomcrm.recommend._data import Catalog, Interactions, convert_amounts, encode_skus
from ecomcrm.recommend._recommend import (
    Evaluation,
    Recommendations,
    evaluate,
    exclusion_matrix,
    recommend,
)
from ecomcrm.recommend._store import StoreInteractions, interactions_from_store

__all__ = [
    "Affinity",
    "Catalog",
    "CategoryAffinity",
    "Evaluation",
    "Interactions",
    "Recommendations",
    "StoreInteractions",
    "category_affinity",
    "co_purchase",
    "convert_amounts",
    "encode_skus",
    "evaluate",
    "exclusion_matrix",
    "frequently_bought_together",
    "interactions_from_store",
    "item_similarity",
    "popularity",
    "recommend",
]
