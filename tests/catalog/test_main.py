"""`python -m catalog build|report`: settings from the environment, a short report, exit 1 with the fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from catalog.__main__ import main
from catalog.ingest import ImportCounts, ImportReport

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_store: Path) -> Path:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'state' / 'catalog.db'}")
    monkeypatch.setenv("SHOP_DATA_DIR", str(tiny_store))
    return tiny_store


def test_build_then_report(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "--quiet"]) == 0
    built = capsys.readouterr().out
    assert "imported" in built and "skipped" not in built
    assert "overlap" in built and "non_product" in built
    assert main(["build", "--quiet"]) == 0
    assert "catalog up to date" in capsys.readouterr().out
    assert main(["report"]) == 0
    report = capsys.readouterr().out
    assert "rows kept (order lines)" in report and "13" in report


def test_build_force_imports_again(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "--quiet"]) == 0
    assert main(["build", "--quiet", "--force"]) == 0
    assert "skipped" not in capsys.readouterr().out.split("Online Retail import")[-1]


def test_missing_data_exits_1_with_the_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'catalog.db'}")
    monkeypatch.setenv("SHOP_DATA_DIR", str(tmp_path / "nothing_here"))
    assert main(["build"]) == 1
    err = capsys.readouterr().err
    assert "SHOP_DATA_DIR" in err and "archive.ics.uci.edu" in err


def test_report_before_any_build_exits_1(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'catalog.db'}")
    assert main(["report"]) == 1
    assert "build" in capsys.readouterr().err


def test_format_report_lists_reasons_counts_and_seconds() -> None:
    from catalog.__main__ import format_report

    report = ImportReport(
        fingerprint="ab" * 32,
        skipped=False,
        rows_read={"ii.parquet": 1_000, "i.parquet": 500},
        counts=ImportCounts(
            products=10, customers=5, orders=20, cancellations=2, guest_orders=3, order_lines=1_400, daily_sales=50
        ),
        dropped={"overlap": 60, "non_product": 40},
        dropped_codes={"POST": 30, "DOT": 10},
        seconds=12.345,
    )
    text = format_report(report)
    assert "ii.parquet" in text and "1,000" in text
    assert "rows dropped" in text and "100" in text
    assert "POST 30" in text and "12.3" in text


def test_module_entry_point(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "SHOP_DATA_DIR": str(tmp_path / "no")}
    done = subprocess.run(
        [sys.executable, "-m", "catalog", "build"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "SHOP_DATA_DIR" in done.stderr
