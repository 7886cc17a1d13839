from __future__ import annotations

import argparse
import csv
import gc
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ecomcrm.cli._errors import (
    EXIT_OK,
    EXIT_REJECTED,
    currency_hint,
    describe_in_file,
    describe_os_error,
    describe_rejection,
)
from ecomcrm.errors import ConvergenceError, ExpressionError, ValidationError

FORMATS = (
    "shopify-orders",
    "shopify-customers",
    "woocommerce",
    "segment",
    "ga4",
    "generic",
    "csv",
    "jsonl",
)
SHOWN_REJECTIONS = 20
"""How many rejected rows an import prints; ``--rejections FILE`` writes all of them."""


def _say(args: argparse.Namespace) -> Callable[[str], None]:
    started = time.perf_counter()

    def say(message: str) -> None:
        if not getattr(args, "quiet", False):
            print(f"[{time.perf_counter() - started:6.1f}s] {message}", file=sys.stderr)

    return say


def _now(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            "must be an ISO date or datetime", field="--now", value=text
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- the database file -------------------------------------------------------------------


def _db_path(text: str, *, must_exist: bool, option: str = "--db") -> Path:
    """``--db`` as a plain file path (no URL decoding); read commands need an existing file."""
    if not text or "\x00" in text:
        raise ValidationError(
            "is not a valid file path (empty, or it holds a NUL character)",
            field=option,
            value=text,
        )
    path = Path(text)
    if path.is_dir():
        raise ValidationError(f"{option} {text}: is a directory, not a file")
    if must_exist and not path.is_file():
        raise ValidationError(
            f"{option} {text}: no such database file (read commands never create one; "
            "`ecomcrm import FILE --db PATH` makes it)"
        )
    return path


def _open_db(args: argparse.Namespace, *, must_exist: bool) -> Any:
    from ecomcrm.storage import SqliteStore

    return SqliteStore(_db_path(args.db, must_exist=must_exist))


# --- currencies --------------------------------------------------------------------------


def _currency(args: argparse.Namespace) -> str | None:
    text: str | None = getattr(args, "currency", None)
    if text is None:
        return None
    code = text.strip().upper()
    if len(code) != 3 or not code.isalpha() or not code.isascii():
        raise ValidationError(
            "must be a three-letter ISO 4217 code", field="--currency", value=text
        )
    return code


def _json_option(text: str, option: str) -> Any:
    """An option given as JSON text (starting with ``{``) or as the path of a file holding it."""
    source = text
    if not text.lstrip().startswith("{"):
        path = _db_path(text, must_exist=False, option=option)  # the same path checks
        if not path.is_file():
            raise ValidationError(
                "is neither a JSON object nor an existing file", field=option, value=text
            )
        source = path.read_text(encoding="utf-8")
    try:
        return json.loads(source)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"is not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
            field=option,
            value=text,
        ) from None


def _rates(args: argparse.Namespace) -> dict[str, float] | None:
    """``--rates``: a JSON object {"JPY": 0.0061, ...} or the path of a file holding one."""
    text = getattr(args, "rates", None)
    if text is None:
        return None
    value = _json_option(text, "--rates")
    if not isinstance(value, dict):
        raise ValidationError(
            'must be a JSON object such as {"JPY": 0.0061}', field="--rates", value=value
        )
    rates: dict[str, float] = {}
    for code, rate in value.items():
        ok = isinstance(rate, int | float) and not isinstance(rate, bool)
        if not ok or not math.isfinite(rate) or rate <= 0:
            raise ValidationError(
                "must map currency codes to finite positive numbers",
                field=f"--rates {code}",
                value=rate,
            )
        rates[str(code).strip().upper()] = float(rate)
    if getattr(args, "currency", None) is None:
        raise ValidationError("needs --currency CODE, the currency the rates convert into",
                              field="--rates")  # fmt: skip
    return rates


def _money_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"currency": _currency(args), "rates": _rates(args)}


# --- batch runs --------------------------------------------------------------------------


def _progress(args: argparse.Namespace) -> Any:
    return None if getattr(args, "quiet", False) else True


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a batch run (restored afterwards).

    The demo builds millions of objects (generated records, then the replay's state) that
    mostly live until a phase ends and are freed by reference counting; the cyclic
    collector finds next to nothing in them but walks them again and again as they
    accumulate. At 100,000 customers, on a loaded 2-core machine, pausing it took the
    demo from 54 to 47 s (from 69 to 57 s without the other speed-ups), with the same
    report and the same peak memory. Reference counting still frees everything as
    usual; a collection runs once at the end.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.collect()


def _html_check(args: argparse.Namespace) -> None:
    """Refuse ``--html`` up front when matplotlib, which draws the charts, is missing."""
    if not getattr(args, "html", ""):
        return
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ValidationError(
            "needs matplotlib for its charts: pip install 'ecomcrm[plot]' "
            "(or pip install matplotlib)",
            field="--html",
            value=args.html,
        ) from None


def _write_html(args: argparse.Namespace, analysis: Any, say: Callable[[str], None]) -> None:
    from ecomcrm.cli._analysis import render_html

    page = render_html(analysis)
    if page is None:
        raise ValidationError(
            "needs matplotlib for its charts: pip install 'ecomcrm[plot]'", field="--html"
        )
    Path(args.html).write_text(page, encoding="utf-8")
    say(f"wrote the HTML report to {args.html}")


def _print_json(document: Mapping[str, Any]) -> None:
    print(json.dumps(_finite(document), indent=2, ensure_ascii=False, allow_nan=False))


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: those become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def cmd_demo(args: argparse.Namespace) -> int:
    from ecomcrm.cli._analysis import analyze_store, render_html, render_text
    from ecomcrm.io import SyntheticShop
    from ecomcrm.storage import SqliteStore

    say = _say(args)
    db = _db_path(args.db, must_exist=False)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shop = SyntheticShop(customers=args.customers, seed=args.seed)
    now = _now(args.now) or shop.end
    say(f"building a sample shop of {args.customers:,} customers in {db}")
    store = SqliteStore(db)
    try:
        with _no_cyclic_gc():
            summary = shop.to_store(store, progress=_progress(args))
            say(
                f"wrote {summary.customers:,} customers, {summary.orders:,} orders, "
                f"{summary.events:,} events"
            )
            analysis = analyze_store(store, now=now, flow_days=args.flow_days, say=say)
        print(render_text(analysis))
        if args.html:
            page = render_html(analysis)
            if page is None:
                print(
                    "ecomcrm: note: no HTML report: matplotlib is not installed "
                    "(pip install 'ecomcrm[plot]')",
                    file=sys.stderr,
                )
            else:
                Path(args.html).write_text(page, encoding="utf-8")
                say(f"wrote the HTML report to {args.html}")
    finally:
        store.close()
    return EXIT_OK


# --- imports -----------------------------------------------------------------------------


def _mapping(args: argparse.Namespace) -> dict[str, str]:
    mapping = _json_option(args.mapping, "--mapping")
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise ValidationError(
            'must be a JSON object of field names to column names, such as {"order_id": "Invoice"}',
            field="--mapping",
            value=mapping,
        )
    return mapping


def _delimiter(text: str) -> str:
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
    value = named.get(text.lower(), text)
    if value != "whitespace" and len(value) != 1:
        raise ValidationError(
            "must be one character, tab, or whitespace (runs of blanks)",
            field="--delimiter",
            value=text,
        )
    return value


def _import_file(store: Any, path: Path, fmt: str, args: argparse.Namespace) -> Any:
    from ecomcrm import io

    progress = _progress(args)
    if fmt == "shopify-orders":
        workers = _workers(getattr(args, "workers", 0), path)
        return io.import_shopify_orders(store, path, progress=progress, workers=workers)
    if fmt == "shopify-customers":
        return io.import_shopify_customers(store, path, progress=progress)
    if fmt == "woocommerce":
        return io.import_woocommerce_orders(
            store, path, progress=progress, timezone=args.timezone or "UTC"
        )
    if fmt == "segment":
        return io.import_segment_events(store, path, progress=progress)
    if fmt == "ga4":
        return io.import_ga4_events(store, path, progress=progress)
    if not args.mapping or not args.kind:
        raise ValidationError(
            "the generic importer needs --kind (orders, customers or events) and --mapping",
            field="--mapping",
        )
    columns = [c.strip() for c in args.columns.split(",")] if args.columns else None
    return io.import_generic(
        store,
        path,
        kind=args.kind,
        mapping=_mapping(args),
        format="csv" if fmt == "csv" else "jsonl" if fmt == "jsonl" else None,
        delimiter=_delimiter(args.delimiter),
        columns=columns,
        currency=_currency(args),
        timezone=args.timezone or "UTC",
        progress=progress,
    )


_PARALLEL_FROM_BYTES = 10_000_000


def _workers(option: int, path: Path) -> int:
    """``--workers``; 0 (auto) means two processes for a file of 10 MB or more, else one."""
    if option > 0:
        return option
    cpus = os.cpu_count() or 1
    return 2 if cpus >= 2 and path.stat().st_size >= _PARALLEL_FROM_BYTES else 1


def _layouts() -> dict[str, set[str]]:
    from ecomcrm import io

    return {
        "shopify-orders": {c.lower() for c in io.SHOPIFY_ORDER_COLUMNS},
        "shopify-customers": {c.lower() for c in io.SHOPIFY_CUSTOMER_COLUMNS}
        # the customers export before Shopify split email and SMS consent (2022)
        | {"accepts marketing", "company", "address1", "address2", "city", "province",
           "province code", "country", "country code", "zip"},
        "woocommerce": {c.lower() for c in io.WOOCOMMERCE_ORDER_COLUMNS},
    }  # fmt: skip


def _guess_format(path: Path, args: argparse.Namespace) -> str:
    """The format of a file: generic when --kind/--mapping are given, else from its header.

    A header is taken for the known layout that holds most of its columns, when that layout
    holds at least three of them and at least half (exports may leave columns out, and
    small hand-made files use only a few: the examples of docs/io.md are recognised).
    """
    if getattr(args, "kind", None) or getattr(args, "mapping", None):
        return "generic"
    from ecomcrm.io._csvfile import open_text

    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    with open_text(path) as handle:
        first = handle.readline()
    if suffixes and suffixes[-1] in (".jsonl", ".json", ".ndjson"):
        return "ga4" if "event_name" in first else "segment"
    header = [cell.strip().lower() for cell in next(csv.reader([first]), [])]
    named = [h for h in header if h]
    scores: dict[str, tuple[int, float]] = {}
    for fmt, columns in _layouts().items():
        hits = sum(
            1
            for h in named
            if h in columns or (fmt == "woocommerce" and h.startswith("line_item_"))
        )
        scores[fmt] = (hits, hits / max(len(named), 1))
    best = max(scores, key=lambda fmt: scores[fmt])
    hits, share = scores[best]
    if hits < 3 or share < 0.5:
        if first.lstrip().startswith("{"):
            return "ga4" if "event_name" in first else "segment"
        raise ValidationError(
            "cannot tell the file's format from its header; pass --format, or --kind and "
            "--mapping for the generic importer",
            entity=str(path),
            field="--format",
        )
    return best


def _report_rejections(reports: list[Any], args: argparse.Namespace) -> None:
    """The first rejected rows on stderr, how many more there were, and where all of them are."""
    shown = 0
    total = sum(r.rejected for r in reports)
    kept = [row for r in reports for row in r.rejections]
    for row in kept[:SHOWN_REJECTIONS]:
        print(f"  rejected {describe_rejection(row)}", file=sys.stderr)
        shown += 1
    target = getattr(args, "rejections", None)
    if target:
        _write_rejections(Path(target), kept)
    more = total - shown
    if more > 0:
        where = (
            f"all {len(kept):,} are in {target}"
            if target
            else "--rejections FILE writes all of them as CSV"
        )
        print(f"  ... and {more:,} more rejected rows ({where})", file=sys.stderr)
    if target and len(kept) < total:
        print(
            f"  the importer kept the details of the first {len(kept):,} of {total:,} "
            "rejected rows; the counts are exact",
            file=sys.stderr,
        )
    warnings = [row for r in reports for row in r.warnings]
    for row in warnings[:SHOWN_REJECTIONS]:
        print(f"  warning {describe_rejection(row)}", file=sys.stderr)
    if len(warnings) > SHOWN_REJECTIONS:
        print(
            f"  ... and {len(warnings) - SHOWN_REJECTIONS:,} more warnings (records imported "
            "with a caveat)",
            file=sys.stderr,
        )


def _write_rejections(path: Path, rows: list[Any]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("file", "line", "column", "value", "reason"))
        for row in rows:
            writer.writerow((row.file, row.line, row.column or "", row.value or "", row.reason))


def _not_a_file(name: str) -> str:
    if "\x00" in name:
        return f"{name!r}: is not a valid file path (it holds a NUL character)"
    return f"{name}: is a directory, not a file" if Path(name).is_dir() else f"{name}: no such file"


def _check_import_options(args: argparse.Namespace) -> None:
    """Options of the generic importer are an error with another --format (not ignored)."""
    if args.format not in (None, "generic", "csv", "jsonl"):
        generic_only = [
            option
            for option, given in (
                ("--kind", args.kind),
                ("--mapping", args.mapping),
                ("--columns", args.columns),
                ("--delimiter", args.delimiter != ","),
            )
            if given
        ]
        if generic_only:
            raise ValidationError(
                f"{', '.join(generic_only)} apply to the generic importer only, not to "
                f"--format {args.format}"
            )


def _import_files(
    store: Any, names: list[str], args: argparse.Namespace, *, to: Any = None
) -> list[Any]:
    """Import every file (format given or guessed); each summary line goes to ``to``."""
    say = _say(args)
    paths = []
    for name in names:
        path = Path(name)
        if "\x00" in name or not path.is_file():
            raise ValidationError(_not_a_file(name))
        paths.append(path)
    _check_import_options(args)
    reports = []
    for path in paths:
        fmt = args.format or _guess_format(path, args)
        say(f"importing {path} as {fmt}")
        try:
            with _no_cyclic_gc():
                report = _import_file(store, path, fmt, args)
        except ExpressionError:
            raise
        except ValidationError as exc:
            if exc.field in ("--mapping", "--delimiter", "--currency") and exc.row is None:
                raise
            raise ValidationError(describe_in_file(exc, str(path))) from None
        except UnicodeDecodeError as exc:
            raise ValidationError(
                f"{path}: is not UTF-8 text ({exc.reason} at byte {exc.start})"
            ) from None
        except csv.Error as exc:
            raise ValidationError(f"{path}: is not a readable CSV file ({exc})") from None
        except OSError as exc:
            if exc.filename is not None:
                raise
            raise ValidationError(f"{path}: {describe_os_error(exc)}") from None
        print(report.summary(), file=to or sys.stdout)
        reports.append(report)
    _report_rejections(reports, args)
    return reports


def cmd_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if "\x00" in args.file or not path.is_file():
        raise ValidationError(_not_a_file(args.file))
    _check_import_options(args)
    db = _db_path(args.db, must_exist=False)
    created = not db.exists()
    store = _open_db(args, must_exist=False)
    try:
        reports = _import_files(store, [args.file], args)
    except BaseException:
        # a file refused as a whole leaves no new, empty database behind (one that
        # holds committed batches stays: importing the file again finishes the job)
        empty = created and _holds_nothing(store)
        store.close()
        if empty:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
        raise
    store.close()
    return EXIT_OK if all(r.rejected == 0 for r in reports) else EXIT_REJECTED


def _holds_nothing(store: Any) -> bool:
    try:
        return bool(
            store.customers.count() == 0 and store.orders.count() == 0 and store.events.count() == 0
        )
    except Exception:  # a store that cannot even count is not ours to delete
        return False


# --- analysis ----------------------------------------------------------------------------


def _analysis_output(args: argparse.Namespace, analysis: Any, imports: list[Any]) -> None:
    from ecomcrm.cli._analysis import render_text, report_dict

    say = _say(args)
    if args.json:
        document = report_dict(analysis)
        if imports:
            document["imports"] = [
                {k: v for k, v in r.to_dict().items() if k != "rejections"} for r in imports
            ]
        _print_json(document)
    else:
        print(render_text(analysis), end="")
    if args.html:
        _write_html(args, analysis, say)


def cmd_analyze(args: argparse.Namespace) -> int:
    from ecomcrm.cli._analysis import analyze_store
    from ecomcrm.storage import open_store

    _html_check(args)
    money = _money_options(args)
    now = _now(args.now)  # bad options fail before the files are read
    say = _say(args)
    store = open_store("memory://")
    reports = _import_files(store, args.files, args, to=sys.stderr if args.json else None)
    with currency_hint():
        analysis = analyze_store(
            store, now=now, say=say, run_flows=not args.no_flows, flow_days=args.flow_days,
            **money,
        )  # fmt: skip
    _analysis_output(args, analysis, reports)
    return EXIT_OK if all(r.rejected == 0 for r in reports) else EXIT_REJECTED


def cmd_report(args: argparse.Namespace) -> int:
    from ecomcrm.cli._analysis import analyze_store

    _html_check(args)
    money = _money_options(args)
    say = _say(args)
    store = _open_db(args, must_exist=True)
    try:
        with currency_hint():
            analysis = analyze_store(
                store, now=_now(args.now), say=say, run_flows=not args.no_flows, flow_days=args.flow_days,
                **money,
            )  # fmt: skip
        _analysis_output(args, analysis, [])
    finally:
        store.close()
    return EXIT_OK


def cmd_segments(args: argparse.Namespace) -> int:
    from ecomcrm.cli._analysis import latest_time
    from ecomcrm.segments import (
        CUSTOMER_FEATURES_SCHEMA,
        build_customer_features,
        builtin_segments,
        compile_expression,
        evaluate_segments,
        fit_value_models,
    )

    money = _money_options(args)
    compiled = (
        compile_expression(args.expression, CUSTOMER_FEATURES_SCHEMA) if args.expression else None
    )
    store = _open_db(args, must_exist=True)
    try:
        with currency_hint():
            now = _now(args.now) or latest_time(store, **money)
            facts = store.order_facts(**money)
            try:
                models = fit_value_models(facts, now=now) if len(facts) >= 20 else None
            except (ConvergenceError, ValidationError):
                models = None
            table = build_customer_features(store, now=now, models=models, **money)
        if compiled is not None:
            mask = compiled.mask(table, now=now)
            ids = table.ids[mask]
            print(f"{len(ids):,} of {len(table):,} customers match")
            for cid in ids[: args.limit]:
                print(f"  {cid}")
        else:
            for name, count in (
                evaluate_segments(table, builtin_segments(), now=now).counts().items()
            ):
                print(f"{name:<28}{count:>10,}")
    finally:
        store.close()
    return EXIT_OK


def cmd_flows(args: argparse.Namespace) -> int:
    from ecomcrm.cli._analysis import backtest_recent, latest_time

    money = _money_options(args)
    store = _open_db(args, must_exist=True)
    try:
        with currency_hint():
            now = _now(args.now) or latest_time(store, **money)
            report = backtest_recent(store, now=now, days=args.days, **money)
    finally:
        store.close()
    if args.json:
        _print_json(report.to_dict())
    else:
        print(report.summary())
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    store = _open_db(args, must_exist=True)
    try:
        document = store.export(args.customer)
    finally:
        store.close()
    print(json.dumps(document, indent=2, ensure_ascii=False))
    return EXIT_OK


def cmd_erase(args: argparse.Namespace) -> int:
    from ecomcrm.rules import Engine

    store = _open_db(args, must_exist=True)
    try:
        receipt = store.erase(args.customer, keep_order_facts=args.keep_order_facts)
        # What a rules engine running on this store kept about them (enrollments, timers,
        # actions handed out) goes too.
        engine = Engine(store, [])
        forgotten = sum(engine.forget(cid) for cid in {args.customer, receipt.customer_id})
    finally:
        store.close()
    counts = ", ".join(f"{k} {v}" for k, v in sorted(receipt.counts.items()))
    print(
        f"erased {receipt.customer_id}: {counts}; {len(receipt.tombstones)} identities "
        f"suppressed; {forgotten} rules records"
    )
    return EXIT_OK


# --- the parser --------------------------------------------------------------------------

_CURRENCY_HELP = (
    "the currency of amounts in files without a currency column, and the currency of the "
    "report (other currencies are converted with --rates)"
)
_RATES_HELP = (
    "exchange rates into --currency: a JSON object such as '{\"JPY\": 0.0061}' (units of "
    "--currency per unit of each), or the path of a file holding one"
)


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
        "--timezone", help="the zone of naive timestamps (generic, WooCommerce; default UTC)"
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


def register_commands(sub: Any) -> None:
    demo = sub.add_parser("demo", help="build a sample shop and show what ecomcrm sees in it")
    demo.add_argument("--customers", type=int, default=5_000, help="shop size (default 5,000)")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--db", default="ecomcrm-demo.db", help="SQLite file to (re)create")
    demo.add_argument("--now", help="analysis time (default: the end of the shop's history)")
    demo.add_argument(
        "--flow-days", type=int, default=7, help="days of events to replay through flows"
    )
    demo.add_argument(
        "--html", default="ecomcrm-report.html", help="HTML report path ('' for none)"
    )
    demo.add_argument("--quiet", action="store_true")
    demo.set_defaults(handler=cmd_demo)

    def with_db(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--db", default="ecomcrm.db", metavar="FILE",
            help="the SQLite store, a plain file path (default ecomcrm.db)",
        )  # fmt: skip
        parser.add_argument("--quiet", action="store_true")

    imp = sub.add_parser("import", help="import an export file into the store (created if new)")
    imp.add_argument("file")
    _import_options(imp)
    _money(imp, rates=False)
    imp.add_argument(
        "--workers", type=int, default=0,
        help="processes for a first load of a Shopify orders file into an empty store "
        "(default 0: two for a file of 10 MB or more on a multi-core machine)",
    )  # fmt: skip
    with_db(imp)
    imp.set_defaults(handler=cmd_import)

    ana = sub.add_parser("analyze", help="analyse export files without keeping a store")
    ana.add_argument("files", nargs="+")
    _import_options(ana)
    _analysis_options(ana)
    ana.set_defaults(handler=cmd_analyze)

    rep = sub.add_parser("report", help="the full report of a store")
    _analysis_options(rep)
    rep.add_argument("--db", default="ecomcrm.db", metavar="FILE", help="the SQLite store")
    rep.set_defaults(handler=cmd_report)

    seg = sub.add_parser("segments", help="segment sizes, or the customers matching an expression")
    seg.add_argument("expression", nargs="?", help='e.g. "total_spent > 100 and consent_email"')
    seg.add_argument("--now")
    seg.add_argument("--limit", type=int, default=20)
    _money(seg)
    with_db(seg)
    seg.set_defaults(handler=cmd_segments)

    flows = sub.add_parser("flows", help="lifecycle flows")
    flow_sub = flows.add_subparsers(dest="flows_command", metavar="ACTION", required=True)
    bt = flow_sub.add_parser("backtest", help="replay recent events through the built-in flows")
    bt.add_argument("--days", type=int, default=30)
    bt.add_argument("--now")
    bt.add_argument("--json", action="store_true", help="print the report as a JSON object")
    _money(bt)
    with_db(bt)
    bt.set_defaults(handler=cmd_flows)

    exp = sub.add_parser("export", help="print everything stored about a customer (JSON)")
    exp.add_argument("customer")
    with_db(exp)
    exp.set_defaults(handler=cmd_export)

    era = sub.add_parser("erase", help="erase a customer's personal data")
    era.add_argument("customer")
    era.add_argument("--keep-order-facts", action="store_true")
    with_db(era)
    era.set_defaults(handler=cmd_erase)
