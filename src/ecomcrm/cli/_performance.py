"""``ecomcrm flows performance``: what each flow did and earned, from the store alone."""

from __future__ import annotations

import argparse
from datetime import datetime

from ecomcrm.cli._commands import _open_db, _print_json
from ecomcrm.cli._errors import EXIT_OK, currency_hint
from ecomcrm.cli._options import _money_options, _now
from ecomcrm.errors import ValidationError


def _instant(text: str | None, option: str) -> datetime | None:
    try:
        return _now(text)
    except ValidationError as exc:
        raise ValidationError("must be an ISO date or datetime", field=option, value=text) from exc


def cmd_performance(args: argparse.Namespace) -> int:
    """Print the performance report of the flows an engine ran on the store."""
    from ecomcrm.rules import Attribution, Engine, stored_flows

    money = _money_options(args)
    store = _open_db(args, must_exist=True)
    try:
        with currency_hint():
            engine = Engine(store, stored_flows(store.state), **money)
            attribution = Attribution.counted_from(args.counted_from) if args.counted_from else None
            since = _instant(args.since, "--since")
            until = _instant(args.until, "--until")
            report = engine.performance(since, until, attribution=attribution)
    finally:
        store.close()
    if args.json:
        _print_json(report.to_dict())
    else:
        print(report.summary())
    return EXIT_OK


def performance_options(parser: argparse.ArgumentParser) -> None:
    """The command's own options (the parser adds --db and the money options)."""
    parser.add_argument("--since", help="start of the period (ISO date or time; default: all)")
    parser.add_argument("--until", help="end of the period, excluded (default: now)")
    parser.add_argument(
        "--counted-from", choices=["sent", "delivered", "opened", "clicked"],
        help="count every channel's attribution window from this outcome "
        "(default: email opened 5 days, SMS clicked 1 day, ...)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the report as a JSON object")
    parser.set_defaults(handler=cmd_performance)
