"""A/B winners: deciding, setting and reverting the winner of a split, recorded once.

A decision is the state record ``win:<flow>:<step>`` (``rules._keys.WinnerRecord``),
written with compare-and-set like all engine state: a first decision is created only
if no record exists, a change only if the record is still the version read. So when
several processes decide at once exactly one decision stands (the others see it and
leave it). Every enrollment that reaches the split afterwards takes the winner and its
decision log says so (``Engine.explain``); reverting the winner lets the split split
again, and the record keeps the history of decisions.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs

from ecomcrm.errors import ConflictError, NotFoundError, ValidationError
from ecomcrm.rules._flow import Flow
from ecomcrm.rules._keys import win_key
from ecomcrm.rules._report import PerformanceReport
from ecomcrm.rules._schedule import from_micros, require_aware, to_micros
from ecomcrm.rules._steps import SplitStep
from ecomcrm.storage import StateRepository


@attrs.frozen(kw_only=True)
class Winner:
    """The recorded winner of a split (``variant`` None once reverted).

    Example:
        >>> from datetime import datetime, timezone
        >>> w = Winner(flow_id="cart", step_id="ab", variant="B", status="decided", by="auto",
        ...            at=datetime(2024, 6, 1, tzinfo=timezone.utc), probability=0.93,
        ...            enrollments={"A": 600, "B": 610})
        >>> w.variant, w.by
        ('B', 'auto')
    """

    flow_id: str
    step_id: str
    variant: str | None
    status: str
    by: str
    at: datetime
    probability: float | None
    enrollments: dict[str, int]
    history: tuple[dict[str, Any], ...] = ()


class Winners:
    """Decide, set, revert and read A/B split winners (``Engine.winners``).

    Example:
        >>> import ecomcrm
        >>> from ecomcrm.rules import Engine
        >>> Engine(ecomcrm.open_store("memory://"), []).winners.get("cart", "ab") is None
        True
    """

    def __init__(
        self,
        state: StateRepository,
        flows: Callable[[], dict[str, Flow]],
        report: Callable[[datetime], PerformanceReport],
    ) -> None:
        self._state = state
        self._flows = flows
        self._report = report

    def _split(self, flow_id: str, step_id: str) -> SplitStep:
        flow = self._flows().get(flow_id)
        if flow is None:
            raise NotFoundError("no such flow in this engine", entity="flow", value=flow_id)
        if not flow.has_step(step_id) or not isinstance(flow.step(step_id), SplitStep):
            raise NotFoundError(f"flow {flow_id!r} has no split step", entity="SplitStep",
                                field="id", value=step_id)  # fmt: skip
        step = flow.step(step_id)
        assert isinstance(step, SplitStep)
        return step

    def get(self, flow_id: str, step_id: str) -> Winner | None:
        """The split's recorded decision (None when none was ever taken).

        Example:
            >>> import ecomcrm
            >>> from ecomcrm.rules import Engine
            >>> Engine(ecomcrm.open_store("memory://"), []).winners.get("f", "s") is None
            True
        """
        record = self._state.get(win_key(flow_id, step_id))
        if record is None:
            return None
        v = record.value
        return Winner(
            flow_id=flow_id, step_id=step_id, variant=v.get("variant"), status=v["status"],
            by=v["by"], at=from_micros(v["at"]), probability=v.get("p"),
            enrollments=dict(v.get("n") or {}),
            history=tuple(dict(h) for h in v.get("history") or ()),
        )  # fmt: skip

    def _write(self, flow_id: str, step_id: str, value: dict[str, Any], *, first: bool) -> bool:
        key = win_key(flow_id, step_id)
        record = self._state.get(key)
        if first and record is not None:
            return False  # decided (or reverted) before: a decision is taken once
        if record is not None:
            old = dict(record.value)
            history = list(old.pop("history", None) or ())
            value["history"] = [*history, old]
        try:
            self._state.put(key, value, expected_version=None if record is None else record.version)
        except ConflictError:
            return False  # another process decided first; its decision stands
        return True

    def set(self, flow_id: str, step_id: str, variant: str, now: datetime) -> Winner:
        """Make ``variant`` the split's winner by hand (replacing any decision).

        Example:
            >>> import ecomcrm
            >>> from datetime import datetime, timezone
            >>> from ecomcrm.rules import ActionStep, Engine, Flow, SplitStep, Trigger, Variant
            >>> flow = Flow(id="f", trigger=Trigger.on_event("X"), steps=[
            ...     SplitStep(id="ab", variants=[Variant(name="A", weight=1, next="a"),
            ...                                  Variant(name="B", weight=1, next="b")]),
            ...     ActionStep(id="a", channel="email", template="a", next="end"),
            ...     ActionStep(id="b", channel="email", template="b")])
            >>> engine = Engine(ecomcrm.open_store("memory://"), [flow])
            >>> engine.winners.set("f", "ab", "B", datetime(2024, 6, 1, tzinfo=timezone.utc)).variant
            'B'
        """
        now = require_aware(now, "now")
        step = self._split(flow_id, step_id)
        if variant not in [v.name for v in step.variants]:
            raise ValidationError("is not a variant of the split", entity="SplitStep",
                                  field="variant", value=variant)  # fmt: skip
        value: dict[str, Any] = {"variant": variant, "status": "decided", "by": "manual", "at": to_micros(now),
                 "p": None, "n": {}}  # fmt: skip
        while not self._write(flow_id, step_id, value, first=False):
            value.pop("history", None)
        found = self.get(flow_id, step_id)
        assert found is not None
        return found

    def revert(self, flow_id: str, step_id: str, now: datetime) -> Winner:
        """Undo the split's winner: new enrollments are split again; the history is kept.

        An automatic decision is not taken again after a revert (set one by hand).

        Raises:
            NotFoundError: The split has no decision to revert.
        """
        now = require_aware(now, "now")
        self._split(flow_id, step_id)
        while True:
            current = self.get(flow_id, step_id)
            if current is None or current.status != "decided":
                raise NotFoundError("has no winner to revert", entity="SplitStep", field="id",
                                    value=f"{flow_id}/{step_id}")  # fmt: skip
            value: dict[str, Any] = {"variant": None, "status": "reverted", "by": "manual",
                     "at": to_micros(now), "p": None, "n": {}}  # fmt: skip
            if self._write(flow_id, step_id, value, first=False):
                found = self.get(flow_id, step_id)
                assert found is not None
                return found

    def decide(self, now: datetime) -> list[Winner]:
        """Take the automatic decisions that are due; returns the ones taken by this call.

        For every split with ``auto_winner`` and no decision yet: when each variant has
        at least ``min_recipients`` enrollments (over all time up to ``now``) and the best
        one's probability of converting best is at least ``probability``, it becomes the
        winner. Call it now and then (say with each daily ``refresh``); it reads the
        engine's records in bulk (one performance report).
        """
        now = require_aware(now, "now")
        pending = [
            (flow.id, step)
            for flow in self._flows().values()
            for step in flow.steps
            if isinstance(step, SplitStep) and step.auto_winner is not None
            and self._state.get(win_key(flow.id, step.id)) is None
        ]  # fmt: skip
        if not pending:
            return []
        report = self._report(now)
        taken: list[Winner] = []
        for flow_id, step in pending:
            rule = step.auto_winner
            assert rule is not None
            rows = {
                r.variant: r for r in report.rows_of(flow_id, "variant") if r.step_id == step.id
            }
            names = [v.name for v in step.variants]
            if any(name not in rows or rows[name].enrollments < rule.min_recipients
                   for name in names):  # fmt: skip
                continue
            best = max(names, key=lambda n: rows[n].prob_best or 0.0)
            p = rows[best].prob_best
            if p is None or p < rule.probability:
                continue
            value: dict[str, Any] = {"variant": best, "status": "decided", "by": "auto", "at": to_micros(now),
                     "p": p, "n": {n: rows[n].enrollments for n in names}}  # fmt: skip
            if self._write(flow_id, step.id, value, first=True):
                found = self.get(flow_id, step.id)
                assert found is not None
                taken.append(found)
        return taken
