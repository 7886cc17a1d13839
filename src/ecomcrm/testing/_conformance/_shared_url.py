"""Capability ``SupportsSharedUrl`` (a behaviour group of the storage conformance kit)."""

from __future__ import annotations

import pytest

from ecomcrm.storage import Store, SupportsSharedUrl, open_store
from ecomcrm.testing._conformance._fixtures import StoreFixtures, customer


class SharedUrlBehaviour(StoreFixtures):
    """``open_store(store.url)`` is another store over the same data."""

    def test_url_opens_the_same_data(self, store: Store) -> None:
        """Contract: what one handle commits, a store opened by the url reads, both ways."""
        shared: SupportsSharedUrl = self.claimed(store, SupportsSharedUrl)
        url = shared.url
        if url is None:
            pytest.skip("this store cannot be shared (url is None)")
        assert isinstance(url, str)
        store.customers.put(customer("first"))
        other = open_store(url)
        try:
            assert other.customers.find("first") is not None
            other.customers.put(customer("second"))
            assert store.customers.find("second") is not None
            assert isinstance(other, SupportsSharedUrl) and other.url == url
        finally:
            other.close()
