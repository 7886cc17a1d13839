"""The sub-commands' handlers: each a thin shell over the library, returning an exit code."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ecomcrm.cli._errors import EXIT_OK, EXIT_REJECTED, currency_hint
from ecomcrm.cli._importing import _check_import_options, _import_files, _not_a_file
from ecomcrm.cli._options import _db_path, _money_options, _no_cyclic_gc, _now, _progress, _say
from ecomcrm.errors import ConvergenceError, ValidationError

if TYPE_CHECKING:
    from ecomcrm.storage import Store


def _open_db(args: argparse.Namespace, *, must_exist: bool) -> Store:
    if args.db.startswith(("postgresql://", "postgres://")):  # a server store, by URL
        from ecomcrm.storage import open_store

        return open_store(args.db)
    return _open_sqlite(_db_path(args.db, must_exist=must_exist))


def _open_sqlite(path: Path) -> Store:
    """The SQLite store of the file ``path``, opened by URL (``open_store``)."""
    from ecomcrm.storage import open_store

    return open_store("sqlite:///" + quote(os.fspath(path)))


def _html_check(args: argparse.Namespace) -> None:
    """Say up front what to install when ``--html`` is asked and matplotlib is missing.

    The page is still written, with every figure as a table instead of a chart.
    """
    if not getattr(args, "html", ""):
        return
    from ecomcrm.cli._report_charts import available
    from ecomcrm.cli._report_html import INSTALL

    if not available():
        print(
            f"ecomcrm: note: the HTML report will have tables but no charts: {INSTALL} "
            "(or pip install matplotlib) draws them",
            file=sys.stderr,
        )


def _write_html(args: argparse.Namespace, analysis: Any, say: Callable[[str], None]) -> None:
    from ecomcrm.cli._analysis import render_html

    Path(args.html).write_text(render_html(analysis), encoding="utf-8")
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
    from ecomcrm.cli._analysis import analyze_store, render_text
    from ecomcrm.io import SyntheticShop

    say = _say(args)
    db = _db_path(args.db, must_exist=False)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shop = SyntheticShop(customers=args.customers, seed=args.seed)
    now = _now(args.now) or shop.end
    say(f"building a sample shop of {args.customers:,} customers in {db}")
    store = _open_sqlite(db)
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
            _html_check(args)
            _write_html(args, analysis, say)
    finally:
        store.close()
    return EXIT_OK


# --- imports --------------------------------------------------------------------------


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


# --- analysis -------------------------------------------------------------------------


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
