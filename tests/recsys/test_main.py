"""`python -m recsys build|show`: builds into STATE_DIR/recsys, skips when up to date, fails with the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from recsys.__main__ import main


@pytest.fixture
def environment(catalog_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("STATE_DIR", str(state))
    monkeypatch.setenv("DATABASE_URL", str(catalog_engine.url))
    return state


def test_build_then_up_to_date_then_show(environment: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build"]) == 0
    assert "trained recommenders on 30 customers" in capsys.readouterr().out
    assert len(list((environment / "recsys").glob("model-*.pkl"))) == 1
    assert main(["build"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert main(["build", "--force"]) == 0
    assert "trained" in capsys.readouterr().out
    assert main(["show", "12000", "-k", "3"]) == 0
    shown = capsys.readouterr().out
    assert "buy again:" in shown and "you bought this" in shown
    assert main(["show", "nobody"]) == 0
    assert "unknown: cold-start answer" in capsys.readouterr().out


def test_show_before_build_names_the_fix(environment: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "12000"]) == 1
    assert "run `make build`" in capsys.readouterr().err


def test_build_without_a_catalog_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STATE_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    assert main(["build"]) == 1
    assert "make build" in capsys.readouterr().err
