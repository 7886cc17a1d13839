from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecomcrm.errors import ConfigurationError
from ecomcrm.rules import BUILTIN_FLOWS, ActionStep, Flow, Trigger, WaitStep, builtin_flow


def base() -> dict[str, Any]:
    return copy.deepcopy(dict(BUILTIN_FLOWS["abandoned_cart"]))


@pytest.mark.parametrize("name", sorted(BUILTIN_FLOWS))
def test_builtin_round_trip_through_json(name: str) -> None:
    flow = builtin_flow(name)
    again = Flow.from_dict(json.loads(json.dumps(flow.to_dict())))
    assert again == flow
    assert again.to_dict() == flow.to_dict()


def test_unknown_step_type() -> None:
    d = base()
    d["steps"][1] = {"type": "sms_blast", "id": "boom"}
    with pytest.raises(ConfigurationError) as info:
        Flow.from_dict(d)
    assert str(info.value).startswith("flow 'abandoned_cart': step 'boom': unknown step type")
    assert info.value.field == "step 'boom'"


def test_unreachable_step() -> None:
    d = base()
    # after a step that ends the flow and before one only the branch reaches
    d["steps"].insert(5, {"type": "action", "id": "orphan", "channel": "email", "template": "x"})
    with pytest.raises(
        ConfigurationError, match="flow 'abandoned_cart': step 'orphan': is unreachable"
    ):
        Flow.from_dict(d)


def test_negative_wait() -> None:
    d = base()
    d["steps"][0]["duration"] = "-2h"
    with pytest.raises(ConfigurationError, match="step 'wait_1h': wait must not be negative"):
        Flow.from_dict(d)


def test_condition_that_does_not_compile() -> None:
    d = base()
    d["steps"][3]["condition"] = "orders_cnt == 0"
    with pytest.raises(ConfigurationError) as info:
        Flow.from_dict(d)
    text = str(info.value)
    assert "flow 'abandoned_cart': step 'first_time_buyer': condition does not compile" in text
    assert "orders_count" in text  # the suggestion


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (lambda d: d["steps"][3].update(then="nowhere"), "goes to unknown step 'nowhere'"),
        (lambda d: d["steps"][5].update(next="wait_24h"), "loop"),
        (lambda d: d["steps"].append(dict(d["steps"][0])), "duplicate step id"),
        (lambda d: d.update(trigger={"kind": "event"}), "needs an event name"),
        (lambda d: d.update(trigger={"kind": "date", "field": "wedding"}), "date field"),
        (lambda d: d.update(filter="tags >"), "filter: condition does not compile"),
        (lambda d: d.update(exits=[{}]), "exit #0: needs an event, a condition or .ordered."),
        (lambda d: d.update(holdout={"percent": 100}), "holdout"),
        (lambda d: d.update(reentry={"mode": "cooldown"}), "cooldown"),
        (lambda d: d.update(colour="red"), "unknown keys"),
        (lambda d: d["steps"][1].pop("channel"), "marketing action needs a channel"),
        (lambda d: d["steps"][1].update(channel="pigeon"), "invalid step"),
    ],
)
def test_other_invalid_definitions(patch: Any, message: str) -> None:
    d = base()
    patch(d)
    with pytest.raises(ConfigurationError, match=message) as info:
        Flow.from_dict(d)
    assert str(info.value).startswith("flow 'abandoned_cart'")


def test_python_builder_validates_too() -> None:
    with pytest.raises(ConfigurationError, match="flow 'x': step 'w': wait must not be negative"):
        Flow(id="x", trigger=Trigger.on_event("E"), steps=[WaitStep(id="w", duration="-1m")])


def test_next_defaults_and_end() -> None:
    f = Flow(
        id="x",
        trigger=Trigger.on_event("E"),
        steps=[ActionStep(id="a", channel="email", template="t"), WaitStep(id="w", duration="1h")],
    )
    assert f.successor("a") == "w" and f.successor("w") is None
    assert f.successor("a", "end") is None


durations = st.sampled_from(["1m", "90m", "1h", "36h", "1d", "7d", "2w"])


@given(
    waits=st.lists(durations, min_size=1, max_size=5),
    holdout=st.sampled_from([None, 5, 12.5]),
    reentry=st.sampled_from(["never", "always", {"mode": "cooldown", "cooldown": "2d"}]),
)
def test_generated_flows_round_trip(waits: list[str], holdout: Any, reentry: Any) -> None:
    steps: list[dict[str, Any]] = []
    for i, w in enumerate(waits):
        steps.append({"type": "wait", "id": f"w{i}", "duration": w})
        steps.append({"type": "action", "id": f"a{i}", "channel": "email", "template": f"t{i}"})
    d = {"id": "gen", "trigger": {"kind": "event", "event": "E"}, "steps": steps,
         "reentry": reentry, "holdout": holdout}  # fmt: skip
    flow = Flow.from_dict(d)
    assert Flow.from_dict(json.loads(json.dumps(flow.to_dict()))) == flow
