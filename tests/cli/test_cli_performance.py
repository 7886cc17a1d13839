"""``ecomcrm flows performance``: the report of the flows an engine ran on a SQLite store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import ecomcrm
from ecomcrm.cli import main
from ecomcrm.domain import Consent, Customer, Event, Identity, Order, OrderLine
from ecomcrm.rules import ActionStep, Engine, Flow, Trigger

T0 = datetime(2024, 5, 6, 10, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    store = ecomcrm.open_store(f"sqlite:///{path}")
    flow = Flow(id="cart", trigger=Trigger.on_event("Checkout Started"),
                steps=[ActionStep(id="mail", channel="email", template="cart")])  # fmt: skip
    engine = Engine(store, [flow])
    for cid in ("c1", "c2"):
        store.customers.put(Customer(id=cid, created_at=T0 - timedelta(days=9),
                                     identities=[Identity.email(f"{cid}@example.com")]))  # fmt: skip
        store.consents.record(Consent(customer_id=cid, channel="email", purpose="marketing",
                                      granted=True, at=T0 - timedelta(days=9)))  # fmt: skip
        (action,) = engine.handle(Event(name="Checkout Started", customer_id=cid, at=T0))
        engine.ack(action.id, "opened", at=T0 + timedelta(hours=1))
    store.orders.upsert(Order(id="o1", customer_id="c1", currency="EUR",
                              placed_at=T0 + timedelta(days=1),
                              lines=[OrderLine(sku="S", quantity=1, unit_price="42.00")]))  # fmt: skip
    store.close()
    return path


def test_json_report(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flows", "performance", "--db", str(db), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (flow,) = [r for r in report["rows"] if r["level"] == "flow"]
    assert (flow["enrollments"], flow["sends"], flow["conversions"]) == (2, 2, 1)
    assert flow["attributed_revenue"] == 42.0 and flow["revenue_per_recipient"] == 21.0
    assert report["currency"] == "EUR"


def test_text_report_and_period(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flows", "performance", "--db", str(db), "--counted-from", "sent"]) == 0
    out = capsys.readouterr().out
    assert "cart/mail" in out and "42.00" in out
    assert main(["flows", "performance", "--db", str(db), "--since", "2024-06-01"]) == 0
    assert "no flow activity" in capsys.readouterr().out


def test_bad_instant_names_the_option(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flows", "performance", "--db", str(db), "--since", "yesterday"]) != 0
    assert "--since" in capsys.readouterr().err
