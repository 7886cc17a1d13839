"""The sub-commands' argument parsers, each bound to its handler."""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

from ecomcrm.cli._commands import (
    cmd_analyze,
    cmd_demo,
    cmd_flows,
    cmd_import,
    cmd_report,
    cmd_segments,
)
from ecomcrm.cli._importing import FORMATS
from ecomcrm.cli._performance import performance_options
from ecomcrm.cli._privacy import (
    audit_options,
    cmd_erase,
    cmd_export,
    register_privacy_commands,
)

_CURRENCY_HELP = (
    "the currency of amounts in files without a currency column, and the currency of the "
    "report (other currencies are converted with --rates)"
)


_RATES_HELP = (
    "exchange rates into --currency: a JSON object such as '{\"JPY\": 0.0061}' (units of "
    "--currency per unit of each), or the path of a file holding one"
)


#: The keys a generic importer's --mapping may name, per --kind (``ecomcrm.io.GENERIC_FIELDS``,
#: copied so that ``--help`` does not import the importers; a test keeps the two equal),
#: and the keys each kind needs (one of each group).
MAPPING_KEYS: dict[str, tuple[str, ...]] = {
    "orders": (
        "order_id", "customer_id", "email", "phone", "placed_at", "currency", "total", "sku",
        "title", "quantity", "unit_price", "shipping", "tax", "discount", "status",
    ),
    "customers": (
        "customer_id", "email", "phone", "first_name", "last_name", "created_at", "country",
        "timezone", "email_marketing", "sms_marketing", "tags",
    ),
    "events": ("event_id", "name", "at", "customer_id", "email", "phone", "anonymous_id",
               "properties"),
}  # fmt: skip
MAPPING_NEEDS = {
    "orders": "placed_at; customer_id, email or phone; total or unit_price",
    "customers": "customer_id, email or phone",
    "events": "name; at; customer_id, email, phone or anonymous_id",
}


def mapping_epilog() -> str:
    """The ``--mapping`` keys of each ``--kind``, for the import commands' ``--help``."""
    lines = ["--mapping keys (ecomcrm field -> the file's column), per --kind:"]
    for kind, keys in MAPPING_KEYS.items():
        lines.append(textwrap.fill(f"{kind}: {', '.join(keys)}", 78, initial_indent="  ",
                                   subsequent_indent="    "))  # fmt: skip
        lines.append(f"    needs: {MAPPING_NEEDS[kind]}")
    lines.append("A file with one row per order line repeats order_id on each line (sku, title,")
    lines.append(
        "quantity, unit_price per line). See docs/cli.md, 'Any CSV: the generic importer'."
    )
    return "\n".join(lines)


def _money(parser: argparse.ArgumentParser, *, rates: bool = True) -> None:
    parser.add_argument("--currency", metavar="CODE", help=_CURRENCY_HELP)
    if rates:
        parser.add_argument("--rates", metavar="FILE_OR_JSON", help=_RATES_HELP)


def _import_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format", choices=FORMATS,
        help="the file's layout (default: guessed from the header; 'generic' when --kind or "
        "--mapping is given)",
    )  # fmt: skip
    parser.add_argument(
        "--kind", choices=("customers", "orders", "events"), help="what a generic file holds"
    )
    parser.add_argument(
        "--mapping", metavar="JSON_OR_FILE",
        help='generic files: ecomcrm fields to the file\'s columns, e.g. \'{"order_id": '
        '"InvoiceNo", "customer_id": "CustomerID", "placed_at": "InvoiceDate", ...}\'',
    )  # fmt: skip
    parser.add_argument(
        "--delimiter", default=",",
        help="generic CSV files: the separator: one character, 'tab', or 'whitespace' (runs "
        "of blanks, as in the CDNOW file)",
    )  # fmt: skip
    parser.add_argument(
        "--columns", metavar="NAME,NAME,...",
        help="generic files without a header line: the names of their columns, in order",
    )  # fmt: skip
    parser.add_argument(
        "--timezone",
        help="the zone of naive timestamps (generic, WooCommerce, Magento, BigCommerce; "
        "default UTC)",
    )
    parser.add_argument(
        "--rejections", metavar="FILE",
        help="write every rejected row as CSV (file,line,column,value,reason)",
    )  # fmt: skip


def _analysis_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--now", help="analysis time (default: the data's last timestamp)")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--html", default="", metavar="PATH", help="also write the HTML report")
    parser.add_argument(
        "--flow-days", type=int, default=7, help="days of events to replay through the flows"
    )
    parser.add_argument("--no-flows", action="store_true", help="skip the flows' backtest")
    _money(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


_QUIET = "no progress messages on stderr"


def register_commands(sub: Any) -> None:
    demo = sub.add_parser("demo", help="build a sample shop and show what ecomcrm sees in it")
    demo.add_argument("--customers", type=int, default=5_000, help="shop size (default 5,000)")
    demo.add_argument(
        "--seed", type=int, default=7, help="random seed of the sample shop (default 7)"
    )
    demo.add_argument("--db", default="ecomcrm-demo.db", help="SQLite file to (re)create")
    demo.add_argument("--now", help="analysis time (default: the end of the shop's history)")
    demo.add_argument(
        "--flow-days", type=int, default=7, help="days of events to replay through flows"
    )
    demo.add_argument(
        "--html", default="ecomcrm-report.html", help="HTML report path ('' for none)"
    )
    demo.add_argument("--quiet", action="store_true", help=_QUIET)
    demo.set_defaults(handler=cmd_demo)

    def with_db(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--db", default="ecomcrm.db", metavar="FILE",
            help="the SQLite store, a plain file path (default ecomcrm.db); commands that "
            "read an existing store (export, erase, purge...) also take a postgresql:// URL",
        )  # fmt: skip
        parser.add_argument("--quiet", action="store_true", help=_QUIET)

    imp = sub.add_parser(
        "import", help="import an export file into the store (created if new)",
        epilog=mapping_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    imp.add_argument("file", help="the export file (.gz files are read compressed)")
    _import_options(imp)
    _money(imp, rates=False)
    imp.add_argument(
        "--workers", type=int, default=0,
        help="processes for a first load of a Shopify orders file into an empty store "
        "(default 0: two for a file of 10 MB or more on a multi-core machine)",
    )  # fmt: skip
    with_db(imp)
    imp.set_defaults(handler=cmd_import)

    ana = sub.add_parser(
        "analyze", help="analyse export files without keeping a store",
        epilog=mapping_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    ana.add_argument("files", nargs="+", help="export files, imported in this order")
    _import_options(ana)
    _analysis_options(ana)
    ana.set_defaults(handler=cmd_analyze)

    rep = sub.add_parser("report", help="the full report of a store")
    _analysis_options(rep)
    rep.add_argument("--db", default="ecomcrm.db", metavar="FILE", help="the SQLite store")
    rep.set_defaults(handler=cmd_report)

    seg = sub.add_parser("segments", help="segment sizes, or the customers matching an expression")
    seg.add_argument("expression", nargs="?", help='e.g. "total_spent > 100 and consent_email"')
    seg.add_argument("--now", help="evaluation time (default: the data's last timestamp)")
    seg.add_argument(
        "--limit", type=int, default=20, help="customer ids to print for an expression (default 20)"
    )
    _money(seg)
    with_db(seg)
    seg.set_defaults(handler=cmd_segments)

    flows = sub.add_parser("flows", help="lifecycle flows")
    flow_sub = flows.add_subparsers(dest="flows_command", metavar="ACTION", required=True)
    bt = flow_sub.add_parser("backtest", help="replay recent events through the built-in flows")
    bt.add_argument("--days", type=int, default=30, help="days of events to replay (default 30)")
    bt.add_argument("--now", help="end of the replay (default: the data's last timestamp)")
    bt.add_argument("--json", action="store_true", help="print the report as a JSON object")
    _money(bt)
    with_db(bt)
    bt.set_defaults(handler=cmd_flows)
    perf = flow_sub.add_parser(
        "performance", help="per flow, step, variant and channel: sends, conversions, revenue, lift"
    )
    performance_options(perf)
    _money(perf)
    with_db(perf)

    exp = sub.add_parser("export", help="print everything stored about a customer (JSON)")
    exp.add_argument("customer", help="the customer's id")
    exp.add_argument("--output", metavar="FILE", help="write the JSON to FILE instead of stdout")
    audit_options(exp)
    with_db(exp)
    exp.set_defaults(handler=cmd_export)

    era = sub.add_parser("erase", help="erase a customer's personal data")
    era.add_argument("customer", help="the customer's id")
    era.add_argument(
        "--keep-order-facts", action="store_true",
        help="keep their orders, without personal data, for the shop's figures",
    )  # fmt: skip
    era.add_argument("--json", action="store_true", help="print the erasure report as JSON")
    audit_options(era)
    with_db(era)
    era.set_defaults(handler=cmd_erase)

    register_privacy_commands(sub, with_db)
