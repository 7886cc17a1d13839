"""What the ``ecomcrm`` command promises: exit codes, one-line errors, JSON reports, options.

Most tests call :func:`ecomcrm.cli.main` in-process (fast); the closed-pipe test runs a
real process.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ecomcrm.cli import main
from ecomcrm.errors import StorageError

DATA = Path(__file__).resolve().parent.parent / "data"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def shop_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("shop") / "shop.db"
    assert main(["import", str(DATA / "shopify_orders.csv"), "--db", str(db), "--quiet"]) == 0
    return db


def _pandas_shopify(path: Path) -> dict[str, float]:
    """Customers, orders and revenue net of refunds of a Shopify export, computed by pandas."""
    frame = pd.read_csv(path)
    orders = frame.drop_duplicates("Name")  # the first row of an order carries its totals
    live = orders[orders["Cancelled at"].isna()]
    return {
        "customers": int(orders["Email"].str.lower().nunique()),
        "orders": len(live),
        "cancelled_orders": len(orders) - len(live),
        "revenue": float(live["Total"].sum() - live["Refunded Amount"].sum()),
        "refunds": float(live["Refunded Amount"].sum()),
    }


# --- 13.10: read commands, the report, JSON ----------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["segments"],
        ["segments", "total_spent > 1"],
        ["flows", "backtest"],
        ["export", "c1"],
        ["erase", "c1"],
        ["report"],
        ["report", "--json"],
    ],
)
def test_read_commands_refuse_a_database_that_does_not_exist(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "missing.db"
    code, out, err = run(capsys, *command, "--db", str(db))
    assert code == 2
    assert out == ""
    assert "no such database file" in err and str(db) in err
    assert err.count("\n") == 1  # one line
    assert not db.exists() and list(tmp_path.iterdir()) == []


def test_report_json_numbers_agree_with_pandas(
    shop_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "report", "--db", str(shop_db), "--json", "--quiet")
    assert code == 0, err
    report = json.loads(out)
    for key in ("customers", "orders", "currency", "revenue", "segments", "rfm_segments",
                "lifecycle_stages"):  # fmt: skip
        assert key in report
    expected = _pandas_shopify(DATA / "shopify_orders.csv")
    assert report["customers"] == expected["customers"]
    assert report["orders"] == expected["orders"]
    assert report["cancelled_orders"] == expected["cancelled_orders"]
    assert report["revenue"] == pytest.approx(expected["revenue"], abs=1e-6)
    assert report["refunds"] == pytest.approx(expected["refunds"], abs=1e-6)
    assert report["currency"] == "USD"
    assert sum(report["lifecycle_stages"].values()) == report["customers"]
    assert sum(report["rfm_segments"].values()) <= report["customers"]


def test_analyze_json_prints_the_same_object_as_report(
    shop_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "report", "--db", str(shop_db), "--json", "--quiet")
    assert code == 0, err
    stored = json.loads(out)
    code, out, err = run(capsys, "analyze", str(DATA / "shopify_orders.csv"), "--json", "--quiet")
    assert code == 0, err
    direct = json.loads(out)  # the import summaries go to stderr, stdout is JSON only
    assert direct.pop("imports")[0]["imported"] == 6
    assert direct == stored
    assert "shopify_orders.csv (shopify_orders)" in err


def test_report_text_is_as_of_the_data_not_the_clock(
    shop_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "report", "--db", str(shop_db), "--quiet", "--no-flows")
    assert code == 0
    created = pd.to_datetime(
        pd.read_csv(DATA / "shopify_orders.csv")["Created at"], utc=True, format="mixed"
    )
    assert out.startswith(f"ecomcrm report as of {created.max():%Y-%m-%d %H:%M} UTC")
    assert "revenue 174.28 USD net of 59.00 refunded" in out


def test_report_html_writes_the_page(
    shop_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "r.html"
    code, out, err = run(
        capsys, "report", "--db", str(shop_db), "--html", str(page), "--quiet", "--no-flows"
    )
    assert code == 0, err
    assert "Segments (built-in)" in out
    assert page.read_text().startswith("<!doctype html>")


@pytest.mark.parametrize("command", ["report", "analyze"])
def test_html_without_matplotlib_says_what_to_install_and_writes_the_tables(
    command: str,
    shop_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    source = ["--db", str(shop_db)] if command == "report" else [str(DATA / "shopify_orders.csv")]
    page = tmp_path / "r.html"
    code, _out, err = run(capsys, command, *source, "--html", str(page), "--quiet")
    assert code == 0, err
    assert "pip install 'ecomcrm[report]'" in err and "Traceback" not in err
    text = page.read_text()
    assert "<svg" not in text and "pip install &#x27;ecomcrm[report]&#x27;" in text
    assert '<section id="headline">' in text and '<section id="trend">' in text


def test_flows_backtest_json_is_structured(
    shop_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "flows", "backtest", "--db", str(shop_db), "--json")
    assert code == 0
    report = json.loads(out)
    assert isinstance(report, dict) and {"events", "actions", "flows"} <= set(report)


def test_a_closed_pipe_ends_quietly(shop_db: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ecomcrm", "report", "--db", str(shop_db), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader went away before the first write (as `| head -0`)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert err == ""


# --- formats -----------------------------------------------------------------------------


def test_kind_and_mapping_without_format_mean_the_generic_importer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sales = tmp_path / "sales.csv"
    sales.write_text(
        "invoice,client,date,amount\nA1,c-7,2024-01-02,19.90\nA2,c-7,2024-02-03,5.00\n"
    )
    mapping = (
        '{"order_id": "invoice", "customer_id": "client", "placed_at": "date", "total": "amount"}'
    )
    code, out, err = run(
        capsys, "import", str(sales), "--kind", "orders", "--mapping", mapping,
        "--currency", "eur", "--db", str(tmp_path / "crm.db"), "--quiet",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("sales.csv (generic_orders): read 2, imported 2")


def test_generic_options_with_another_format_are_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "import", str(DATA / "shopify_orders.csv"), "--format", "shopify-orders",
        "--mapping", "{}", "--delimiter", ";", "--db", str(tmp_path / "c.db"),
    )  # fmt: skip
    assert code == 2 and out == ""
    assert "--mapping, --delimiter apply to the generic importer only" in err
    assert not (tmp_path / "c.db").exists()


def _docs_example_files(folder: Path) -> dict[str, Path]:
    """The small files the tutorials of docs/io.md write, taken from the page itself."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "io.md").read_text()
    files = {}
    for name, var in (
        ("orders_export.csv", "orders_csv"),
        ("customers_export.csv", "customers_csv"),
        ("woo_orders.csv", "woo"),
    ):
        start = text.index(f"{var}.write_text(")
        end = text.index("\n)\n", start)
        namespace: dict[str, object] = {}
        exec("value = (" + text[start + len(f"{var}.write_text(") : end] + ")", namespace)
        path = folder / name
        path.write_text(str(namespace["value"]))
        files[name] = path
    return files


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("orders_export.csv", "shopify_orders"),
        ("customers_export.csv", "shopify_customers"),
        ("woo_orders.csv", "woocommerce_orders"),
    ],
)
def test_the_small_files_of_the_io_docs_are_recognised(
    name: str, kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _docs_example_files(tmp_path)[name]
    code, out, err = run(capsys, "import", str(path), "--db", str(tmp_path / "c.db"), "--quiet")
    assert code in (0, 3), err
    assert out.startswith(f"{name} ({kind})")


# --- 13.2: currencies --------------------------------------------------------------------


def _sales(folder: Path, name: str, rows: list[tuple[str, str, str, str]]) -> Path:
    path = folder / name
    body = "".join(f"{a},{b},{c},{d}\n" for a, b, c, d in rows)
    path.write_text("invoice,client,date,amount\n" + body)
    return path


_MAPPING = (
    '{"order_id": "invoice", "customer_id": "client", "placed_at": "date", "total": "amount"}'
)


@pytest.fixture
def two_currencies(tmp_path: Path) -> Path:
    """A store with yen and euro orders (files without a currency column)."""
    db = tmp_path / "fx.db"
    yen = _sales(tmp_path, "yen.csv", [("J1", "k-1", "2024-01-02", "10000"),
                                       ("J2", "k-2", "2024-01-05", "5000")])  # fmt: skip
    eur = _sales(tmp_path, "eur.csv", [("E1", "e-1", "2024-01-03", "40.00")])
    for path, code in ((yen, "JPY"), (eur, "EUR")):
        assert main(["import", str(path), "--kind", "orders", "--mapping", _MAPPING,
                     "--currency", code, "--db", str(db), "--quiet"]) == 0  # fmt: skip
    return db


@pytest.mark.parametrize(
    "command", [["report"], ["report", "--json"], ["segments"], ["flows", "backtest"]]
)
def test_mixed_currencies_without_rates_are_a_clear_error(
    command: list[str], two_currencies: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *command, "--db", str(two_currencies), "--quiet")
    assert code == 2 and out == ""
    assert err.startswith("ecomcrm: error: --currency: the data hold several currencies (EUR, JPY)")
    assert "--rates" in err and err.count("\n") == 1
    code, out, err = run(
        capsys, *command, "--db", str(two_currencies), "--quiet", "--currency", "EUR"
    )
    assert code == 2 and out == ""
    assert "no exchange rate to EUR for JPY" in err and "add JPY to --rates" in err


def test_rates_convert_into_the_report_currency(
    two_currencies: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rates = tmp_path / "rates.json"
    rates.write_text('{"JPY": 0.0061}')
    for given in (str(rates), '{"JPY": 0.0061}'):
        code, out, err = run(
            capsys, "report", "--db", str(two_currencies), "--json", "--quiet",
            "--currency", "EUR", "--rates", given,
        )  # fmt: skip
        assert code == 0, err
        report = json.loads(out)
        assert report["currency"] == "EUR"
        assert report["revenue"] == pytest.approx(40.0 + 15000 * 0.0061)
    code, out, err = run(
        capsys, "segments", "total_spent > 50", "--db", str(two_currencies),
        "--currency", "EUR", "--rates", '{"JPY": 0.0061}',
    )  # fmt: skip
    assert code == 0, err
    assert out.splitlines() == ["1 of 3 customers match", "  k-1"]


@pytest.mark.parametrize(
    ("rates", "message"),
    [
        ('{"JPY": -1}', "finite positive"),
        ('{"JPY": "x"}', "finite positive"),
        ("[1, 2]", "is neither"),
        ('{"JPY": 0.0061', "is not JSON"),
        ("no-such-file.json", "is neither a JSON object nor an existing file"),
    ],
)
def test_bad_rates_are_one_line_errors(
    rates: str, message: str, two_currencies: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "report", "--db", str(two_currencies), "--currency", "EUR", "--rates", rates
    )
    assert code == 2 and message in err and err.count("\n") == 1


def test_analyze_with_currency_for_files_without_a_currency_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sales = _sales(
        tmp_path, "s.csv", [("A", "c", "2024-01-02", "10"), ("B", "c", "2024-02-02", "5")]
    )
    code, out, err = run(
        capsys, "analyze", str(sales), "--kind", "orders", "--mapping", _MAPPING,
        "--currency", "GBP", "--json", "--quiet",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert (report["currency"], report["revenue"], report["orders"]) == ("GBP", 15.0, 2)
    code, _, err = run(
        capsys, "analyze", str(sales), "--kind", "orders", "--mapping", _MAPPING, "--quiet"
    )
    assert code == 3  # every row rejected, each with its line
    assert "  rejected s.csv: line 2: currency: is empty and no currency= was given" in err


# --- 14.3: exit codes and messages -------------------------------------------------------


def test_rejections_say_how_many_more_and_where_all_of_them_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [("A", "c", "2024-01-02", "10")] + [
        (f"B{i}", "c", "2024-01-03", "ten") for i in range(30)
    ]
    sales = _sales(tmp_path, "bad.csv", rows)
    args = ["import", str(sales), "--kind", "orders", "--mapping", _MAPPING,
            "--currency", "EUR", "--db", str(tmp_path / "c.db"), "--quiet"]  # fmt: skip
    code, _, err = run(capsys, *args)
    assert code == 3
    lines = err.splitlines()
    assert lines[0] == "  rejected bad.csv: line 3: amount: is not a number (got 'ten')"
    assert sum(line.startswith("  rejected ") for line in lines) == 20
    assert "... and 10 more rejected rows (--rejections FILE writes all of them as CSV)" in err
    listed = tmp_path / "rejected.csv"
    code, _out, err = run(capsys, *args, "--rejections", str(listed))
    assert code == 3
    assert f"all 30 are in {listed}" in err
    with listed.open(newline="") as handle:
        table = list(csv.DictReader(handle))
    assert list(table[0]) == ["file", "line", "column", "value", "reason"]
    assert [int(r["line"]) for r in table] == list(range(3, 33))
    assert table[0]["value"] == "ten" and table[0]["column"] == "amount"


def test_a_missing_column_is_file_line_column_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sales = tmp_path / "s.csv"
    sales.write_text("invoice,client,date\nA,c,2024-01-02\n")
    code, _out, err = run(
        capsys, "import", str(sales), "--kind", "orders", "--mapping", _MAPPING,
        "--currency", "EUR", "--db", str(tmp_path / "c.db"), "--quiet",
    )  # fmt: skip
    assert code == 2
    assert err.startswith(f"ecomcrm: error: {sales}: line 1: mapping: names columns the file")
    assert err.count("\n") == 1


@pytest.mark.parametrize("name", ["a%41.db", "b?mode=ro.db", "c#x.db", "d%2Fe.db"])
def test_db_is_a_plain_file_path(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / name
    code, _, err = run(
        capsys, "import", str(DATA / "shopify_orders.csv"), "--db", str(db), "--quiet"
    )
    assert code == 0, err
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".db"] == [name]
    code, out, _ = run(capsys, "segments", "orders_count >= 1", "--db", str(db))
    assert code == 0 and out.startswith("3 of 3 customers match")


def test_a_parallel_import_opens_the_same_odd_path_in_its_workers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "x%41 ?.db"
    code, out, err = run(
        capsys, "import", str(DATA / "shopify_orders.csv"), "--db", str(db), "--workers", "2",
        "--quiet",
    )  # fmt: skip
    assert code == 0, err
    assert "imported 6" in out
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".db") == [db.name]


@pytest.mark.parametrize("db", ["a\x00b.db", ""])
def test_invalid_db_paths_are_clean_errors(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["segments"], ["import", str(DATA / "shopify_orders.csv")]):
        code, _, err = run(capsys, *command, "--db", db)
        assert code == 2
        assert "--db: is not a valid file path" in err and err.count("\n") == 1


def test_a_system_error_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "no" / "such" / "dir" / "c.db"
    code, _, err = run(capsys, "import", str(DATA / "shopify_orders.csv"), "--db", str(db))
    assert code == 2
    assert err.startswith("ecomcrm: error: ") and err.count("\n") == 1
    assert "Traceback" not in err


def test_an_unexpected_exception_is_an_internal_error_line(
    shop_db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import ecomcrm.cli._analysis as analysis

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("something broke\nsecond line")

    monkeypatch.setattr(analysis, "analyze_store", boom)
    monkeypatch.delenv("ECOMCRM_DEBUG", raising=False)
    code, _out, err = run(capsys, "report", "--db", str(shop_db), "--quiet")
    assert code == 1
    assert err.startswith("ecomcrm: internal error: RuntimeError: something broke (")
    assert "report it" in err and err.count("\n") == 1


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "report", "--no-such-option")
    assert code == 2 and "unrecognized arguments" in err


@pytest.mark.parametrize(
    ("expression", "first", "column"),
    [
        ("total_spent > )", "line 1, column 15: unexpected ')'", 15),
        (
            "total_spnt > 3",
            "line 1, column 1: unknown field 'total_spnt'; did you mean 'total_spent'?",
            1,
        ),
        ("orders_count > 1e400", "line 1, column 16: ", 16),
        ("total_spent > 1 and\n  (orders_count >", "line 2, column 18: ", 18),
    ],
)
def test_a_bad_expression_shows_its_position_and_a_caret(
    expression: str,
    first: str,
    column: int,
    shop_db: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "segments", expression, "--db", str(shop_db))
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert lines[0].startswith(f"ecomcrm: error: expression: {first}"), lines[0]
    line = int(first.split(",")[0].split()[1])
    assert lines[1] == "  " + expression.splitlines()[line - 1]
    assert lines[2] == "  " + " " * (column - 1) + "^"
    assert len(lines) == 3 and "Traceback" not in err


def test_a_gzipped_or_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = tmp_path / "orders.csv.gz"
    fake.write_bytes(b"not gzip at all")
    code, _, err = run(
        capsys, "import", str(fake), "--kind", "orders", "--mapping", _MAPPING,
        "--currency", "EUR", "--db", str(tmp_path / "c.db"), "--quiet",
    )  # fmt: skip
    assert code == 2 and str(fake) in err and err.count("\n") == 1
    latin = tmp_path / "latin.csv"
    latin.write_bytes("invoice,client,date,amount\nA,Jos\xe9,2024-01-02,1\n".encode("latin-1"))
    code, _, err = run(
        capsys, "import", str(latin), "--kind", "orders", "--mapping", _MAPPING,
        "--currency", "EUR", "--db", str(tmp_path / "c.db"),
    )  # fmt: skip
    assert code in (2, 3) and "Traceback" not in err


def test_exit_codes_are_documented() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 130 |", "| 141 |"):
        assert code in text


def test_cdnow_sample_without_a_header(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mapping = '{"customer_id": "customer", "placed_at": "date", "total": "amount"}'
    code, out, err = run(
        capsys, "analyze", str(DATA / "cdnow_sample.txt"), "--kind", "orders",
        "--delimiter", "whitespace", "--columns", "customer,cohort,date,cds,amount",
        "--mapping", mapping, "--currency", "USD", "--json", "--quiet", "--no-flows",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    frame = pd.read_csv(
        DATA / "cdnow_sample.txt", sep=r"\s+", header=None,
        names=["customer", "cohort", "date", "cds", "amount"], dtype={"customer": str},
    )  # fmt: skip
    assert report["orders"] == len(frame)
    assert report["customers"] == frame["customer"].nunique()
    assert report["revenue"] == pytest.approx(frame["amount"].sum())
    assert report["as_of"].startswith(str(frame["date"].max())[:4])


@pytest.mark.parametrize(
    ("raised", "code", "start"),
    [
        (
            StorageError("disk I/O error", entity="crm.db"),
            2,
            "ecomcrm: error: crm.db: disk I/O error",
        ),
        (KeyboardInterrupt(), 130, "ecomcrm: error: interrupted"),
        (
            OSError(28, "No space left on device"),
            2,
            f"ecomcrm: error: {DATA / 'shopify_orders.csv'}: No space left on device",
        ),
    ],
)
def test_an_import_stopped_half_way_says_where_in_one_line(
    raised: BaseException,
    code: int,
    start: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import ecomcrm.io

    def stop(*args: object, **kwargs: object) -> None:
        raised.add_note("stopped at line 4,001:\n4,000 records are stored")
        raise raised

    monkeypatch.setattr(ecomcrm.io, "import_shopify_orders", stop)
    got, out, err = run(
        capsys, "import", str(DATA / "shopify_orders.csv"), "--db", str(tmp_path / "c.db"),
        "--quiet",
    )  # fmt: skip
    assert got == code and out == ""
    assert err.startswith(start)
    assert err.rstrip("\n").endswith("(stopped at line 4,001: 4,000 records are stored)")
    assert err.count("\n") == 1


def test_a_directory_is_not_a_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "report", "--db", str(tmp_path))
    assert code == 2 and "is a directory, not a file" in err and err.count("\n") == 1


def test_import_warnings_are_listed_without_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import ecomcrm.io
    from ecomcrm.io import ImportReport

    def warned(*args: object, **kwargs: object) -> ImportReport:
        report = ImportReport(source="orders.csv", kind="shopify_orders", imported=30)
        for line in range(2, 32):
            report.warn(line=line, column="Name", reason="came again", value="#1")
        return report

    monkeypatch.setattr(ecomcrm.io, "import_shopify_orders", warned)
    code, out, err = run(
        capsys, "import", str(DATA / "shopify_orders.csv"), "--db", str(tmp_path / "c.db"),
        "--quiet",
    )  # fmt: skip
    assert code == 0 and "imported 30" in out
    lines = err.splitlines()
    assert lines[0] == "  warning orders.csv: line 2: Name: came again (got '#1')"
    assert len(lines) == 21 and lines[-1].startswith("  ... and 10 more warnings")


def test_a_missing_or_odd_input_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["import", "--db", str(tmp_path / "c.db")], ["analyze"]):
        code, _, err = run(capsys, *command, str(tmp_path / "nope.csv"))
        assert code == 2 and err == f"ecomcrm: error: {tmp_path / 'nope.csv'}: no such file\n"
        code, _, err = run(capsys, *command, str(tmp_path))
        assert code == 2 and err == f"ecomcrm: error: {tmp_path}: is a directory, not a file\n"
    assert not (tmp_path / "c.db").exists()


@pytest.mark.parametrize(
    "content", [b"hello, not a database", b"SQLite format 3\x00" + b"\x00" * 84]
)
def test_a_file_that_is_not_an_ecomcrm_database(
    content: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "other.db"
    db.write_bytes(content)
    for command in (["report"], ["segments"], ["export", "c1"]):
        code, out, err = run(capsys, *command, "--db", str(db), "--quiet")
        assert code == 2 and out == "" and err.count("\n") == 1, err
        assert err.startswith("ecomcrm: error: ") and str(db) in err
    assert db.read_bytes() == content  # nothing written to it


def test_a_file_refused_as_a_whole_leaves_no_new_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes("invoice,client,date,amount\nA,Jos\xe9,2024-01-02,1\n".encode("latin-1"))
    db = tmp_path / "new.db"
    code, _, err = run(
        capsys, "import", str(latin), "--kind", "orders", "--mapping", _MAPPING,
        "--currency", "EUR", "--db", str(db), "--quiet",
    )  # fmt: skip
    assert code == 2 and err.startswith(f"ecomcrm: error: {latin}: line 2: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latin.csv"]
    # an existing database is never removed
    assert main(["import", str(DATA / "shopify_orders.csv"), "--db", str(db), "--quiet"]) == 0
    capsys.readouterr()
    code, _, _ = run(
        capsys, "import", str(latin), "--kind", "orders", "--mapping", _MAPPING,
        "--currency", "EUR", "--db", str(db), "--quiet",
    )  # fmt: skip
    assert code == 2 and db.exists()


def test_bad_options_fail_before_any_file_is_read(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import ecomcrm.io

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was read")

    monkeypatch.setattr(ecomcrm.io, "import_shopify_orders", never)
    for bad in (
        ["--now", "yesterday"],
        ["--currency", "EURO"],
        ["--currency", "EUR", "--rates", "{"],
    ):
        code, out, err = run(capsys, "analyze", str(DATA / "shopify_orders.csv"), *bad, "--quiet")
        assert code == 2 and out == "" and err.count("\n") == 1, err
