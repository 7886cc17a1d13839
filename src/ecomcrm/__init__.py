"""ecomcrm: an embeddable CRM library for e-commerce retention.

Hold customer profiles, orders, events and consents in an embedded store, compute
RFM, churn risk and lifetime value with vectorized functions, select segments with a
safe condition language, and run lifecycle flows that return the messages to send.

Subpackages are imported on first use, so ``import ecomcrm`` stays cheap.

Example:
    >>> import ecomcrm
    >>> ecomcrm.__version__
    '0.1.0'
    >>> store = ecomcrm.open_store("memory://")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ecomcrm import errors
from ecomcrm._version import __version__

if TYPE_CHECKING:
    from ecomcrm import (
        domain,
        io,
        loyalty,
        metrics,
        predict,
        recommend,
        rules,
        segments,
        service,
        storage,
    )
    from ecomcrm.storage import open_store

__all__ = [
    "__version__",
    "domain",
    "errors",
    "io",
    "loyalty",
    "metrics",
    "open_store",
    "predict",
    "recommend",
    "rules",
    "segments",
    "service",
    "storage",
]

_SUBPACKAGES = {
    "domain",
    "io",
    "loyalty",
    "metrics",
    "predict",
    "recommend",
    "rules",
    "segments",
    "service",
    "storage",
    "testing",
}


def __getattr__(name: str) -> Any:
    if name == "open_store":
        from ecomcrm.storage import open_store

        return open_store
    if name in _SUBPACKAGES:
        return importlib.import_module(f"ecomcrm.{name}")
    raise AttributeError(f"module 'ecomcrm' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(__all__) | {"testing"})
