"""What the engine hands to the app: actions (intents), and the decisions behind them."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

import attrs

from ecomcrm.domain import Channel, Purpose
from ecomcrm.rules._schedule import from_micros, to_micros


def idempotency_key(
    flow_id: str, version: int, enrollment_id: str, step_id: str, occurrence: int = 0
) -> str:
    """The deterministic key of one action: flow, version, enrollment, step and occurrence.

    Example:
        >>> idempotency_key("cart", 2, "e1f0", "remind")
        'cart:v2:e1f0:remind:0'
    """
    return f"{flow_id}:v{version}:{enrollment_id}:{step_id}:{occurrence}"


def action_id_for(key: str) -> str:
    """The action id derived from an idempotency key (a short blake2b hash).

    Example:
        >>> action_id_for("cart:v2:e1f0:remind:0") == action_id_for("cart:v2:e1f0:remind:0")
        True
    """
    return "act_" + hashlib.blake2b(key.encode(), digest_size=10).hexdigest()


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _opt_channel(value: Channel | str | None) -> Channel | None:
    return None if value is None else Channel(value)


def _frozen(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class Action:
    """An intent the app should carry out (send a message, open a task), then ``ack``.

    ``idempotency_key`` is the same whenever the same step of the same enrollment is
    reached, so the app (and its email or SMS provider) can drop a repeat. ``channel`` is
    None for internal tasks. ``params`` holds the step's params, and under ``"event"`` the
    properties of the event that started the enrollment.

    Example:
        >>> from datetime import datetime, timezone
        >>> a = Action(id="act_1", idempotency_key="cart:v1:e1:remind:0", customer_id="c1",
        ...            channel="email", purpose="marketing", kind="send", template="cart_1",
        ...            params={}, flow_id="cart", flow_version=1, step_id="remind",
        ...            enrollment_id="e1", due_at=datetime(2024, 1, 1, tzinfo=timezone.utc))
        >>> Action.from_dict(a.to_dict()) == a
        True
    """

    id: str
    idempotency_key: str
    customer_id: str
    channel: Channel | None = attrs.field(converter=_opt_channel)
    purpose: Purpose = attrs.field(converter=Purpose)
    kind: str
    template: str
    params: Mapping[str, Any] = attrs.field(converter=_frozen)
    flow_id: str
    flow_version: int
    step_id: str
    enrollment_id: str
    due_at: datetime
    variant: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``due_at`` as microseconds since the epoch, UTC)."""
        return {
            "id": self.id,
            "key": self.idempotency_key,
            "customer_id": self.customer_id,
            "channel": None if self.channel is None else self.channel.value,
            "purpose": self.purpose.value,
            "kind": self.kind,
            "template": self.template,
            "params": _thaw(self.params),
            "flow_id": self.flow_id,
            "flow_version": self.flow_version,
            "step_id": self.step_id,
            "enrollment_id": self.enrollment_id,
            "due_at": to_micros(self.due_at),
            "variant": self.variant,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Action:
        """Inverse of :meth:`to_dict`."""
        return cls(
            id=data["id"],
            idempotency_key=data["key"],
            customer_id=data["customer_id"],
            channel=data["channel"],
            purpose=data["purpose"],
            kind=data["kind"],
            template=data["template"],
            params=data["params"],
            flow_id=data["flow_id"],
            flow_version=data["flow_version"],
            step_id=data["step_id"],
            enrollment_id=data["enrollment_id"],
            due_at=from_micros(data["due_at"]),
            variant=data.get("variant"),
        )


def _thaw(value: Any) -> Any:
    if type(value) in _SCALARS:
        return value
    if type(value) in (dict, MappingProxyType) or isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_thaw(v) for v in value]
    return value


@attrs.frozen(kw_only=True)
class Decision:
    """One recorded decision of the engine about a customer in a flow.

    ``kind`` is one of ``enrolled``, ``rejected``, ``holdout``, ``waiting``, ``branch``,
    ``split``, ``action``, ``skipped``, ``deferred``, ``exited``, ``completed``;
    ``reason`` names what decided (``trigger``, ``filter``, ``reentry``, ``consent``,
    ``frequency_cap``, ``quiet_hours``, ``suppressed``, ``exit``, ...).

    Example:
        >>> from datetime import datetime, timezone
        >>> d = Decision(at=datetime(2024, 1, 1, tzinfo=timezone.utc), kind="skipped",
        ...              step="remind", reason="consent", text="no email marketing consent")
        >>> d.to_dict()["reason"]
        'consent'
    """

    at: datetime
    kind: str
    step: str | None
    reason: str
    text: str
    data: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "at": self.at.isoformat(),
            "kind": self.kind,
            "step": self.step,
            "reason": self.reason,
            "text": self.text,
            "data": _thaw(self.data),
        }

    @classmethod
    def from_log(cls, entry: list[Any]) -> Decision:
        """A decision from its compact stored form ``[micros, kind, step, reason, text, data]``."""
        at, kind, step, reason, text, data = entry
        return cls(at=from_micros(at), kind=kind, step=step, reason=reason, text=text, data=data)


@attrs.frozen(kw_only=True)
class Explanation:
    """Why a customer is where they are in a flow: status, decisions, and a summary in words.

    Example:
        >>> e = Explanation(customer_id="c1", flow_id="cart", status="never entered",
        ...                 enrollment_id=None, flow_version=None, current_step=None,
        ...                 next_due=None, decisions=(), text="c1 never entered 'cart'.")
        >>> str(e)
        "c1 never entered 'cart'."
    """

    customer_id: str
    flow_id: str
    status: str
    enrollment_id: str | None
    flow_version: int | None
    current_step: str | None
    next_due: datetime | None
    decisions: tuple[Decision, ...]
    text: str

    def __str__(self) -> str:
        return self.text

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "customer_id": self.customer_id,
            "flow_id": self.flow_id,
            "status": self.status,
            "enrollment_id": self.enrollment_id,
            "flow_version": self.flow_version,
            "current_step": self.current_step,
            "next_due": None if self.next_due is None else self.next_due.isoformat(),
            "decisions": [d.to_dict() for d in self.decisions],
            "text": self.text,
        }
