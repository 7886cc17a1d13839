"""The ``ecomcrm`` command, run for real in a subprocess as a user would."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent.parent / "data"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecomcrm", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={"MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin", "HOME": str(cwd)},
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    cwd = tmp_path_factory.mktemp("demo")
    # below ~1,000 customers the synthetic data may not identify the BG/NBD dropout process
    result = run("demo", "--customers", "1000", "--seed", "3", "--quiet", cwd=cwd)
    return cwd, result


def test_demo_prints_the_report_and_writes_html(
    demo: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    cwd, result = demo
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for heading in (
        "Segments (built-in)",
        "Lifecycle stages",
        "RFM segments",
        "Most valuable customers at risk",
        "Flows: what the built-in flows would have sent",
        "Sent today, and why",
    ):
        assert heading in out
    assert "1,000 customers" in out
    assert "BetaGeo (weekly)" in out
    assert (cwd / "ecomcrm-demo.db").exists()
    page = (cwd / "ecomcrm-report.html").read_text()
    assert page.startswith("<!doctype html>") and "data:image" not in page
    for section in ("headline", "trend", "cohorts", "rfm", "segments", "at-risk", "flows"):
        assert f'<section id="{section}">' in page
    assert page.count("<svg") >= 6


def test_segments_export_and_erase_on_the_demo_store(
    demo: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    cwd, _ = demo
    db = str(cwd / "ecomcrm-demo.db")
    seg = run(
        "segments", "--db", db, "orders_count >= 2 and total_spent > 100", "--limit", "1", cwd=cwd
    )
    assert seg.returncode == 0, seg.stderr
    assert "customers match" in seg.stdout
    customer = seg.stdout.splitlines()[1].strip()
    exported = run("export", customer, "--db", db, cwd=cwd)
    assert exported.returncode == 0, exported.stderr
    document = json.loads(exported.stdout)
    assert customer in json.dumps(document)
    erased = run("erase", customer, "--db", db, cwd=cwd)
    assert erased.returncode == 0, erased.stderr
    assert erased.stdout.startswith(f"erased {customer}")
    again = run("export", customer, "--db", db, cwd=cwd)
    assert again.returncode == 2 and "Traceback" not in again.stderr


def test_flows_backtest_prints_json(demo: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    cwd, _ = demo
    result = run(
        "flows", "backtest", "--db", str(cwd / "ecomcrm-demo.db"), "--days", "3", "--json", cwd=cwd
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # an object, not a JSON string of the text summary
    assert isinstance(report, dict)
    assert report["events"] > 0
    assert all("enrollments" in flow for flow in report["flows"].values())
    # started warm: the events of the 90 days before the window were replayed unreported
    assert report["start"] < report["end"] and report["warmup_events"] > 0
    assert report["warmup_start"] < report["start"]


def test_flows_backtest_prints_a_table_without_json(
    demo: tuple[Path, subprocess.CompletedProcess[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    from ecomcrm.cli import main

    cwd, _ = demo
    assert main(["flows", "backtest", "--db", str(cwd / "ecomcrm-demo.db"), "--days", "3"]) == 0
    out = capsys.readouterr().out
    assert out.split(" events, ")[0].isdigit()  # "N events, M actions, ..."
    assert not out.startswith(("{", '"'))


def test_import_twice_changes_nothing_the_second_time(tmp_path: Path) -> None:
    first = run(
        "import", str(DATA / "shopify_orders.csv"), "--db", "crm.db", "--quiet", cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    second = run(
        "import", str(DATA / "shopify_orders.csv"), "--db", "crm.db", "--quiet", cwd=tmp_path
    )
    assert second.returncode == 0, second.stderr
    assert "imported 0" in second.stdout.lower() or "0 imported" in second.stdout.lower()


def test_import_with_workers_reports_as_one_process(tmp_path: Path) -> None:
    seq = run("import", str(DATA / "shopify_orders.csv"), "--db", "a.db", "--quiet", cwd=tmp_path)
    par = run(
        "import", str(DATA / "shopify_orders.csv"), "--db", "b.db", "--workers", "2", "--quiet",
        cwd=tmp_path,
    )  # fmt: skip
    assert seq.returncode == par.returncode == 0, par.stderr
    assert par.stdout.splitlines()[0] == seq.stdout.splitlines()[0]  # the counts line


def test_bad_file_gives_row_report_and_nonzero_exit(tmp_path: Path) -> None:
    result = run(
        "import", str(DATA / "shopify_orders_bad.csv"), "--db", "crm.db", "--quiet", cwd=tmp_path
    )
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert "line" in result.stderr.lower()


def test_missing_file_and_unknown_format_are_clear_errors(tmp_path: Path) -> None:
    missing = run("import", "nope.csv", cwd=tmp_path)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    odd = tmp_path / "odd.csv"
    odd.write_text("a,b\n1,2\n")
    unknown = run("import", str(odd), cwd=tmp_path)
    assert unknown.returncode == 2 and "--format" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_analyze_an_export_file(tmp_path: Path) -> None:
    result = run("analyze", str(DATA / "shopify_orders.csv"), "--quiet", "--no-flows", cwd=tmp_path)
    assert result.returncode in (0, 3), result.stderr
    assert "RFM segments" in result.stdout


def test_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ecomcrm", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stdout.startswith("ecomcrm ")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("shopify_orders.csv", "shopify_orders"),
        ("shopify_customers.csv", "shopify_customers"),
        ("woocommerce_orders.csv", "woocommerce_orders"),
        ("magento_orders_grid.csv", "magento_orders"),
        ("bigcommerce_orders.csv", "bigcommerce_orders"),
        ("segment_events.jsonl", "segment_events"),
        ("ga4_events.jsonl", "ga4_events"),
    ],
)
def test_import_guesses_the_format(name: str, kind: str, tmp_path: Path) -> None:
    result = run("import", str(DATA / name), "--db", "crm.db", "--quiet", cwd=tmp_path)
    assert result.returncode in (0, 3), result.stderr
    assert result.stdout.startswith(f"{name} ({kind})")


@pytest.mark.parametrize("enabled", [True, False])
def test_the_demo_pauses_the_cyclic_collector_and_restores_it(enabled: bool) -> None:
    import gc

    from ecomcrm.cli._options import _no_cyclic_gc

    before = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        with pytest.raises(RuntimeError), _no_cyclic_gc():
            assert not gc.isenabled()
            raise RuntimeError("boom")
        assert gc.isenabled() is enabled
        with _no_cyclic_gc():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if before else gc.disable)()
