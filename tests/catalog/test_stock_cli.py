"""`python -m catalog forecast` and `python -m catalog stock ...`: staff commands on the tiny store."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog.__main__ import main


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_store: Path) -> Path:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'state' / 'catalog.db'}")
    monkeypatch.setenv("SHOP_DATA_DIR", str(tiny_store))
    assert main(["build", "--quiet"]) == 0
    return tmp_path


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_simulate_forecast_status_adjust(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    code, out, _ = run(["stock", "simulate"], capsys)
    assert code == 0 and "stock loaded (simulated, as of 2010-12-05): 5 products" in out
    assert "skipped" in run(["stock", "simulate"], capsys)[1]
    code, out, _ = run(["forecast"], capsys)
    assert code == 0 and "forecasts made" in out and "model tsb_weekday" in out
    assert "skipped" in run(["forecast"], capsys)[1]
    code, out, _ = run(["stock", "status", "85123A"], capsys)
    assert code == 0 and "WHITE HANGING HEART T-LIGHT HOLDER (today 2010-12-05)" in out and "state " in out
    code, out, _ = run(["stock", "adjust", "85123A", "+5", "--actor", "ann", "--note", "found a box"], capsys)
    assert code == 0 and "85123A: +5" in out and "by ann: found a box" in out
    code, _, err = run(["stock", "adjust", "85123A", "-100000", "--actor", "ann", "--note", "typo"], capsys)
    assert code == 1 and "cannot take 100000" in err
    code, out, _ = run(["stock", "at-risk", "--limit", "3"], capsys)
    assert code == 0 and "P(out)" in out
    png = built / "plot.png"
    code, out, _ = run(["stock", "plot", "85123A", "--out", str(png)], capsys)
    assert code == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_sku_exits_1_with_the_message(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stock", "simulate"]) == 0
    capsys.readouterr()
    code, _, err = run(["stock", "status", "NOPE"], capsys)
    assert code == 1 and "no product with SKU 'NOPE'" in err


def test_stock_before_a_load_names_the_fix(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    code, _, err = run(["stock", "status", "85123A"], capsys)
    assert code == 1 and "stock simulate" in err


def test_load_store_files(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = built / "store"
    folder.mkdir()
    (folder / "stock.csv").write_text("sku,on_hand,reorder_point,lead_time_days\n85123A,30,10,14\n20725,0,5,7\n")
    (folder / "replenishments.csv").write_text("sku,quantity,expected_date\n20725,24,2030-01-15\n")
    capsys.readouterr()
    code, out, _ = run(["stock", "load", str(folder), "--as-of", "2029-12-01", "--actor", "ann"], capsys)
    assert code == 0 and "stock loaded (files, as of 2029-12-01): 2 products, 30 units, 1 out of stock" in out
    (folder / "stock.csv").write_text("sku,on_hand,reorder_point,lead_time_days\nNOPE,1,1,1\n")
    (folder / "replenishments.csv").unlink()
    code, _, err = run(["stock", "load", str(folder), "--actor", "ann"], capsys)
    assert code == 1 and "NOPE" in err
    code, _, err = run(["stock", "simulate"], capsys)
    assert code == 1 and "--force" in err
