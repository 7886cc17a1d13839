"""What a flow is measured on: its conversion goal and its holdout (control) group.

``Flow`` (``rules._flow``) holds them; ``rules._performance`` measures them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import attrs

from ecomcrm.rules._schedule import format_duration, parse_duration

ORDER_EVENT = "Order Completed"
"""The event name of a purchase: what ``Exit(ordered=True)`` and inactivity triggers react to."""


@attrs.frozen(kw_only=True)
class Holdout:
    """A control group: ``percent`` of entrants get no action, for measuring uplift on ``goal``.

    Assignment is a stable hash of flow and customer. Conversion is the ``goal`` event
    within ``within`` of entering.

    Example:
        >>> Holdout(percent=10).goal
        'Order Completed'
    """

    percent: float = attrs.field(default=0.0, converter=float)
    goal: str = "Order Completed"
    within: timedelta = attrs.field(default=timedelta(days=7), converter=parse_duration)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"percent": self.percent, "goal": self.goal, "within": format_duration(self.within)}


@attrs.frozen(kw_only=True)
class Goal:
    """What counts as a conversion of an enrollment, and for how long after entering.

    ``event`` is any event name; the default, ``Order Completed``, also counts every order
    written to the store (an import, ``store.orders.upsert``; cancelled orders do not
    count), with or without an event. An enrollment converts at most once: on the first
    goal strictly after it entered and at most ``within`` later. With ``exit=True`` the
    goal also ends the enrollment, as an ``Exit`` on that event (or ``Exit.on_order()``
    for orders) would: Customer.io's "exit on goal".

    Example:
        >>> Goal(within="3d", exit=True).to_dict()
        {'event': 'Order Completed', 'within': '3d', 'exit': True}
    """

    event: str = ORDER_EVENT
    within: timedelta = attrs.field(default=timedelta(days=7), converter=parse_duration)
    exit: bool = False

    @property
    def counts_orders(self) -> bool:
        """True when orders in the store count (the goal is ``Order Completed``).

        Example:
            >>> Goal().counts_orders, Goal(event="Signed Up").counts_orders
            (True, False)
        """
        return self.event == ORDER_EVENT

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        out: dict[str, Any] = {"event": self.event, "within": format_duration(self.within)}
        if self.exit:
            out["exit"] = True
        return out


def _to_goal(value: Goal | Mapping[str, Any] | None) -> Goal | None:
    if value is None or isinstance(value, Goal):
        return value
    return Goal(**dict(value))


def _to_holdout(value: Holdout | Mapping[str, Any] | float | None) -> Holdout | None:
    if value is None or isinstance(value, Holdout):
        return value
    if isinstance(value, int | float):
        return Holdout(percent=value)
    return Holdout(**dict(value))
