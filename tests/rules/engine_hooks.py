"""The engine with the switches the reference tests set directly (replay mode, reference paths).

``Engine(..., _as_of_events=True)`` runs as a backtest's replay does (the store read as
of each unit's instant, no ``seen:`` marks); ``_log_observer`` receives each decision's
compact log entry. ``_vector_refresh``, ``_bulk_orders`` and ``_keep_reads`` switch to
the per-customer reference paths the fast ones are compared with.
"""

from __future__ import annotations

from typing import Any

from ecomcrm.rules import Engine as PublicEngine
from ecomcrm.rules._context import OrderTimes
from ecomcrm.storage import StateRepository


class Engine(PublicEngine):
    __doc__ = PublicEngine.__doc__  # the same engine, with the switches below

    def __init__(
        self, *args: Any, _as_of_events: bool = False, _log_observer: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if _as_of_events:
            self._rt.replay(_log_observer)
        else:
            self._rt.log_observer = _log_observer

    @property
    def _state(self) -> StateRepository:
        return self._rt.state

    @property
    def _vector_refresh(self) -> bool:
        return self._rt.vector_refresh

    @_vector_refresh.setter
    def _vector_refresh(self, value: bool) -> None:
        self._rt.vector_refresh = value

    @property
    def _bulk_orders(self) -> bool:
        return self._rt.bulk_orders

    @_bulk_orders.setter
    def _bulk_orders(self, value: bool) -> None:
        self._rt.bulk_orders = value

    @property
    def _keep_reads(self) -> bool:
        return self._rt.keep_reads

    @_keep_reads.setter
    def _keep_reads(self, value: bool) -> None:
        self._rt.keep_reads = value

    def _order_times(self) -> OrderTimes | None:
        return self._rt.order_times()
