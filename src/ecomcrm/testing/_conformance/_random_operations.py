"""Random operation sequences against a model (a behaviour group of the storage conformance kit)."""

from __future__ import annotations

from typing import ClassVar

from hypothesis import HealthCheck, settings

from ecomcrm.storage import Store
from ecomcrm.testing._conformance._fixtures import StoreFixtures


class StatefulBehaviour(StoreFixtures):
    """Random operation sequences agree with a dict model (:class:`StoreStateMachine`)."""

    stateful_settings: ClassVar[settings] = settings(
        max_examples=15,
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )

    def test_random_operations_agree_with_a_dict_model(self, store: Store) -> None:
        """Contract: random operations agree with a dict model."""
        from ecomcrm.testing._stateful import run_state_machine

        run_state_machine(lambda: store, settings=self.stateful_settings)
