"""Capability ``SupportsAuditLog`` (a behaviour group of the storage conformance kit)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from ecomcrm.domain import Identity
from ecomcrm.errors import ValidationError
from ecomcrm.storage import AuditEntry, AuditLog, Store, SupportsAuditLog, audit_context
from ecomcrm.storage.toolkit import audit_pseudonym
from ecomcrm.testing._conformance._fixtures import StoreFixtures, consent, customer


def _actions(log: AuditLog, subject: str) -> list[str]:
    return [e.action for e in log.entries(subject=subject)]


class AuditLogBehaviour(StoreFixtures):
    """The store's audit log records privacy operations and cannot be rewritten."""

    def _log(self, store: Store) -> AuditLog:
        claimed: SupportsAuditLog = self.claimed(store, SupportsAuditLog)
        return claimed.audit

    def test_consent_decisions_are_recorded_with_actor_and_source(self, store: Store) -> None:
        """Contract: each recorded decision appends consent.granted / consent.withdrawn."""
        log = self._log(store)
        store.customers.put(customer("c1"))
        store.consents.record(consent("c1", True, source="signup form"))
        with audit_context("support:ann", reason="phone call", source="helpdesk"):
            store.consents.record_many([consent("c1", False, 1, channel="sms")])
        found = log.entries(subject="c1")
        assert [e.action for e in found] == ["consent.granted", "consent.withdrawn"]
        assert [e.actor for e in found] == ["system", "support:ann"]
        assert found[0].source == "signup form" and found[1].source == "helpdesk"
        assert found[1].reason == "phone call"
        assert (found[1].details["channel"], found[1].details["purpose"]) == ("sms", "marketing")

    def test_merge_export_and_erase_are_recorded(self, store: Store) -> None:
        """Contract: merge, export and erasure append entries; erasure pseudonymises."""
        log = self._log(store)
        store.customers.put(customer("keep", Identity.email("keep@example.com")))
        store.customers.put(customer("dup", Identity.email("dup@example.com")))
        store.consents.record(consent("dup", True))
        store.merge("keep", "dup", at=datetime(2024, 2, 1, tzinfo=UTC))
        with audit_context("dpo", reason="Art. 15 request"):
            first = store.export("keep")
        assert store.export("keep") == first  # auditing an export never changes it
        assert _actions(log, "dup") == ["consent.granted"]
        assert _actions(log, "keep") == ["merge", "export", "export"]
        assert log.entries(action="export")[0].actor == "dpo"
        receipt = store.erase("keep")
        pseudonym = audit_pseudonym("keep")
        assert log.entries(subject="keep") == [] and log.entries(subject="dup") == []
        trail = _actions(log, pseudonym)
        assert trail[:4] == ["consent.granted", "merge", "export", "export"]
        assert trail[4:] == ["erasure", "suppression.added"]
        erasure = log.entries(action="erasure")[-1]
        assert erasure.details["customers"] == 1 and erasure.details["consents"] == 1
        assert receipt.counts["merges"] == 1
        text = json.dumps([e.to_dict() for e in log.entries()])
        for secret in ('"keep"', '"dup"', "keep@example.com", "dup@example.com"):
            assert secret not in text

    def test_reads_filter_by_subject_action_and_time(self, store: Store) -> None:
        """Contract: entries(subject, action, since, until) filter; ordered by time."""
        log = self._log(store)
        t0 = datetime(2024, 1, 1, tzinfo=UTC)
        for n, (action, subject) in enumerate(
            [("app.b", "x"), ("app.a", "y"), ("app.a", "x"), ("app.c", None)]
        ):
            log.append(AuditEntry(at=t0 + timedelta(days=3 - n), action=action, subject=subject))
        ours = [e for e in log.entries() if e.action.startswith("app.")]
        assert [e.action for e in ours] == ["app.c", "app.a", "app.a", "app.b"]
        assert [e.action for e in log.entries(subject="x")] == ["app.a", "app.b"]
        assert [e.subject for e in log.entries(action="app.a")] == ["x", "y"]
        window = log.entries(since=t0 + timedelta(days=1), until=t0 + timedelta(days=3))
        assert [e.action for e in window] == ["app.a", "app.a"]
        assert log.entries(subject="x", action="app.b", since=t0 + timedelta(days=3)) != []
        with pytest.raises(ValidationError):
            log.entries(since=datetime(2024, 1, 1))  # naive

    def test_entries_round_trip_and_ties_keep_append_order(self, store: Store) -> None:
        """Contract: an appended entry reads back equal; equal instants keep append order."""
        log = self._log(store)
        t = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
        written = [
            AuditEntry(
                at=t,
                action=f"app.{n}",
                subject="s",
                actor="ann",
                reason="r é",
                source="form-7",
                details={"n": n, "ids": ["a", "b"], "nested": {"ok": True}},
            )
            for n in range(3)
        ]
        for entry in written:
            log.append(entry)
        assert log.entries(subject="s") == written

    def test_the_api_cannot_change_or_delete_entries(self, store: Store) -> None:
        """Contract: the log has no update or delete; append refuses what is not an entry."""
        log = self._log(store)
        offered = set(dir(log))
        for name in ("delete", "update", "remove", "clear", "put"):
            assert name not in offered, f"the audit log must not offer {name}()"
        with pytest.raises(ValidationError):
            log.append({"action": "x"})  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            AuditEntry(at=datetime(2024, 1, 1, tzinfo=UTC), action="")

    def test_a_rolled_back_operation_leaves_no_entry(self, store: Store) -> None:
        """Contract: entries are written in the operation's transaction."""
        log = self._log(store)
        store.customers.put(customer("c1"))
        before = log.entries()
        with pytest.raises(RuntimeError), store.transaction():
            store.consents.record(consent("c1", True))
            store.export("c1")
            raise RuntimeError("boom")
        assert log.entries() == before

    def test_entries_survive_reopening(self, store: Store) -> None:
        """Contract: the log is as durable as the rest of the store."""
        self.require("reopen")
        log = self._log(store)
        store.customers.put(customer("c1"))
        store.consents.record(consent("c1", True, source="checkout"))
        again = self.reopen(store)
        assert [e.source for e in self._log(again).entries(subject="c1")] == ["checkout"]
        del log
