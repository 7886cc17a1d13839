"""The privacy sub-commands: ``export``, ``erase`` and ``purge``, each recorded in the audit log."""

from __future__ import annotations

import argparse
from typing import Any

from ecomcrm.cli._commands import _open_db, _print_json
from ecomcrm.cli._errors import EXIT_OK
from ecomcrm.cli._options import _now, _say
from ecomcrm.errors import ValidationError

_CLASSES = (
    ("messages", "messages older than this are deleted"),
    ("tickets", "tickets closed longer ago than this are deleted"),
    ("order_personal_fields", "orders older than this lose address and discount codes"),
    ("anonymous_profiles", "never-identified profiles silent this long are erased"),
    ("consent_history", "superseded consent decisions older than this are deleted"),
)


def audit_options(parser: argparse.ArgumentParser) -> None:
    """``--actor``, ``--reason`` and ``--source``: what the audit log records for the run."""
    parser.add_argument("--actor", default="cli", help="who runs this, for the audit log")
    parser.add_argument("--reason", default="", help="why, for the audit log")
    parser.add_argument("--source", default="cli", help="where from, for the audit log")


def register_privacy_commands(sub: Any, with_db: Any) -> None:
    """Add ``purge`` to the CLI's sub-parsers."""
    purge = sub.add_parser(
        "purge", help="apply a retention policy: delete or pseudonymise what is due"
    )
    purge.add_argument(
        "--events", metavar="PERIOD", help="events older than this are deleted (e.g. 2y, 90d)"
    )
    purge.add_argument(
        "--event", action="append", default=[], metavar="NAME=PERIOD",
        help="a period for one event name (repeatable; --events covers the others)",
    )  # fmt: skip
    for name, text in _CLASSES:
        purge.add_argument("--" + name.replace("_", "-"), metavar="PERIOD", help=text)
    purge.add_argument("--now", help="the instant periods count back from (default: now)")
    purge.add_argument("--json", action="store_true", help="print the report as JSON")
    audit_options(purge)
    with_db(purge)
    purge.set_defaults(handler=cmd_purge)


def _event_periods(args: argparse.Namespace) -> dict[str, str] | None:
    periods: dict[str, str] = {}
    for item in args.event:
        name, sep, period = item.partition("=")
        if not sep or not name:
            raise ValidationError("must be NAME=PERIOD", field="--event", value=item)
        periods[name] = period
    if args.events is not None:
        periods["*"] = args.events
    return periods or None


def cmd_purge(args: argparse.Namespace) -> int:
    """Apply the retention policy given by the options to the store."""
    from datetime import UTC, datetime

    from ecomcrm.storage import RetentionPolicy, SupportsRetention, audit_context

    policy = RetentionPolicy(
        events=_event_periods(args), **{name: getattr(args, name) for name, _ in _CLASSES}
    )
    now = _now(args.now) or datetime.now(UTC)
    store = _open_db(args, must_exist=True)
    try:
        if not isinstance(store, SupportsRetention):  # pragma: no cover - SQLite claims it
            raise ValidationError("this store cannot apply retention policies", field="--db")
        with audit_context(args.actor, reason=args.reason, source=args.source):
            report = store.apply_retention(policy, now)
    finally:
        store.close()
    if args.json:
        _print_json({"now": now.isoformat(), "counts": dict(report.counts)})
    elif not args.quiet:
        done = ", ".join(f"{k} {v}" for k, v in report.counts.items()) or "nothing to apply"
        print(f"purged at {now.isoformat()}: {done}")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    """Print (or write to ``--output``) the person's machine-readable export (Art. 15, 20)."""
    import json

    from ecomcrm.privacy import export_person

    store = _open_db(args, must_exist=True)
    try:
        document = export_person(
            store, args.customer, actor=args.actor, reason=args.reason, source=args.source
        )
    finally:
        store.close()
    text = json.dumps(document, indent=2, ensure_ascii=False)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        _say(args)(f"wrote the export of {document['subject']} to {args.output}")
    else:
        print(text)
    return EXIT_OK


def cmd_erase(args: argparse.Namespace) -> int:
    """Erase a person; report what was deleted, pseudonymised and kept, and why."""
    from ecomcrm.privacy import erase_person
    from ecomcrm.rules import Engine

    store = _open_db(args, must_exist=True)
    try:
        report = erase_person(
            store,
            args.customer,
            keep_order_facts=args.keep_order_facts,
            actor=args.actor,
            reason=args.reason,
            source=args.source,
        )
        # What a rules engine running on this store kept about them (enrollments, timers,
        # actions handed out) goes too.
        engine = Engine(store, [])
        forgotten = sum(engine.forget(cid) for cid in {args.customer, report.customer_id})
    finally:
        store.close()
    if args.json:
        _print_json({**report.to_dict(), "rules_records": forgotten})
        return EXIT_OK
    deleted = ", ".join(f"{k} {v}" for k, v in sorted(report.deleted.items()))
    tombstones = report.kept["suppression_tombstones"]["count"]
    print(
        f"erased {report.customer_id}: {deleted}; {tombstones} identities "
        f"suppressed; {forgotten} rules records"
    )
    if report.pseudonymised:
        done = ", ".join(f"{k} {v}" for k, v in sorted(report.pseudonymised.items()))
        print(f"pseudonymised: {done} (as {report.pseudonym})")
    for kind, kept in report.kept.items():
        print(f"kept {kind} ({kept['count']}): {kept['reason']}")
    return EXIT_OK
