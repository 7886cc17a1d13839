"""Importing files from the command line: the format of each file, the import, its rejected rows."""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path
from typing import Any

from ecomcrm.cli._errors import describe_in_file, describe_os_error, describe_rejection
from ecomcrm.cli._options import _currency, _json_option, _no_cyclic_gc, _progress, _say
from ecomcrm.errors import ExpressionError, ValidationError

FORMATS = (
    "shopify-orders",
    "shopify-customers",
    "woocommerce",
    "magento",
    "bigcommerce",
    "segment",
    "ga4",
    "generic",
    "csv",
    "jsonl",
)


SHOWN_REJECTIONS = 20
"""How many rejected rows an import prints; ``--rejections FILE`` writes all of them."""


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
    if fmt in ("magento", "bigcommerce"):
        importer = io.import_magento_orders if fmt == "magento" else io.import_bigcommerce_orders
        return importer(
            store, path, progress=progress, timezone=args.timezone or "UTC",
            currency=_currency(args) or "USD",
        )  # fmt: skip
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
        "magento": {c.lower() for c in io.MAGENTO_ORDER_COLUMNS},
        "bigcommerce": {c.lower() for c in io.BIGCOMMERCE_ORDER_COLUMNS},
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
