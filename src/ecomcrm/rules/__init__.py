"""Lifecycle flows: trigger -> wait -> branch -> act, run by an engine the app embeds.

Define flows (in Python or as JSON dicts), give them to an :class:`Engine` with the store
and the contact :class:`Policies`, then feed it events (``handle``) and time
(``advance``). It returns :class:`Action` intents; the app carries them out and reports
back with ``ack``. Nothing runs in the background: no threads, an explicit clock; the
only pause is the short backoff between retries of work that lost a race to another
process (:class:`Retry`, injectable, ``sleep=None`` to never pause). All state lives in the store's state area, so restarts and several processes are
safe, and every decision is recorded for :meth:`Engine.explain`.

Example:
    >>> import ecomcrm
    >>> from datetime import datetime, timezone
    >>> from ecomcrm.domain import Event
    >>> from ecomcrm.rules import BUILTIN_FLOWS, Engine, builtin_flow
    >>> engine = Engine(ecomcrm.open_store("memory://"), [builtin_flow("abandoned_cart")])
    >>> engine.handle(Event(name="Checkout Started", customer_id="c1",
    ...                     at=datetime(2024, 5, 1, 10, tzinfo=timezone.utc)))
    []
    >>> "welcome_series" in BUILTIN_FLOWS
    True
"""

from ecomcrm.rules._actions import Action, Decision, Explanation, action_id_for, idempotency_key
from ecomcrm.rules._attribution import Attribution, AttributionWindow
from ecomcrm.rules._backtest import BacktestReport, FlowReport, backtest, warmup_horizon
from ecomcrm.rules._builtin_flows import BUILTIN_FLOWS, builtin_flow, builtin_flows
from ecomcrm.rules._conditions import CUSTOMER_FIELDS, EVENT_PROPERTIES, Condition
from ecomcrm.rules._engine import Engine
from ecomcrm.rules._flow import (
    Exit,
    Flow,
    ReentryMode,
    ReentryPolicy,
    Trigger,
    TriggerKind,
)
from ecomcrm.rules._goal import ORDER_EVENT, Goal, Holdout
from ecomcrm.rules._performance import stored_flows
from ecomcrm.rules._policies import (
    Defer,
    ExitFlow,
    FrequencyCap,
    Policies,
    QuietHours,
    Recipient,
    Send,
    Skip,
    Verdict,
)
from ecomcrm.rules._report import PerformanceReport, PerformanceRow
from ecomcrm.rules._retry import Retry
from ecomcrm.rules._steps import (
    STEP_TYPES,
    ActionStep,
    AutoWinner,
    BranchStep,
    OnCap,
    SplitStep,
    Step,
    Variant,
    WaitStep,
    WaitUntilStep,
)
from ecomcrm.rules._winners import Winner, Winners

__all__ = [
    "BUILTIN_FLOWS",
    "CUSTOMER_FIELDS",
    "EVENT_PROPERTIES",
    "ORDER_EVENT",
    "STEP_TYPES",
    "Action",
    "ActionStep",
    "Attribution",
    "AttributionWindow",
    "AutoWinner",
    "BacktestReport",
    "BranchStep",
    "Condition",
    "Decision",
    "Defer",
    "Engine",
    "Exit",
    "ExitFlow",
    "Explanation",
    "Flow",
    "FlowReport",
    "FrequencyCap",
    "Goal",
    "Holdout",
    "OnCap",
    "PerformanceReport",
    "PerformanceRow",
    "Policies",
    "QuietHours",
    "Recipient",
    "ReentryMode",
    "ReentryPolicy",
    "Retry",
    "Send",
    "Skip",
    "SplitStep",
    "Step",
    "Trigger",
    "TriggerKind",
    "Variant",
    "Verdict",
    "WaitStep",
    "WaitUntilStep",
    "Winner",
    "Winners",
    "action_id_for",
    "backtest",
    "builtin_flow",
    "builtin_flows",
    "idempotency_key",
    "stored_flows",
    "warmup_horizon",
]
