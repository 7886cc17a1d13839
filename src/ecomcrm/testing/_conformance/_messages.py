"""The message log (a behaviour group of the storage conformance kit)."""

from __future__ import annotations

import attrs
import pytest

from ecomcrm.errors import NotFoundError
from ecomcrm.storage import Store
from ecomcrm.testing._conformance._fixtures import (
    StoreFixtures,
    at,
    customer,
    message,
)


class MessageBehaviour(StoreFixtures):
    """The message log."""

    def test_messages(self, store: Store) -> None:
        """Contract: messages."""
        store.customers.put(customer("c1"))
        first = message(
            "m1",
            "c1",
            1,
            params={"name": "Ada", "items": [1, 2]},
            flow_id="welcome",
            action_id="a1",
        )
        second = message("m2", "c1", 0, channel="sms", purpose="transactional")
        assert store.messages.upsert(first) is True
        assert store.messages.upsert(second) is True
        opened = attrs.evolve(first, outcome="opened")
        assert store.messages.upsert(opened) is False
        assert store.messages.get("m1") == opened
        assert store.messages.for_customer("c1") == [second, opened]
        assert store.messages.for_customer("c1", since=at(0.5)) == [opened]
        with pytest.raises(NotFoundError):
            store.messages.get("m9")
