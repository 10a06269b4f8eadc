"""`python -m retrieval build`: the composition root, against a throw-away SQLite catalog."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from catalog.db import make_engine
from catalog.models import Base, ProductRow
from retrieval.__main__ import main
from retrieval.index import VectorIndex
from tests.retrieval.fakes import SAMPLE_PRODUCTS


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("INDEX_DIR", raising=False)
    monkeypatch.setenv("STATE_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'catalog.db'}")
    return tmp_path


def fill_catalog(state: Path, count: int) -> None:
    """Stands in for `python -m catalog build`: the schema from the models, a few real products."""
    engine = make_engine(f"sqlite:///{state / 'catalog.db'}")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all(
            ProductRow(
                id=p.id,
                stock_code=p.sku,
                title=p.title,
                unit_price=p.price,
                first_sold=date(2010, 12, 1),
                last_sold=date(2011, 10, 31),
            )
            for p in SAMPLE_PRODUCTS[:count]
        )
        session.commit()
    engine.dispose()


def test_an_unbuilt_catalog_exits_1_with_the_fix(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build"]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert "has no products table; run `make build`" in out.err
    assert not (state / "index").exists()


def test_a_bad_setting_exits_1_naming_it(
    state: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEARCH_TOP_K", "ten")
    assert main(["build"]) == 1
    assert "SEARCH_TOP_K has value 'ten'; expected an integer" in capsys.readouterr().err


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2


@pytest.mark.slow
def test_build_then_skip_then_force(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fill_catalog(state, count=12)
    index_path = state / "index" / "products.faiss"

    assert main(["build"]) == 0
    out = capsys.readouterr()
    assert "indexed 12 products in " in out.out and str(index_path) in out.out
    assert "product attributes derived" in out.out, "the build first completes the attributes (neighbour vote)"
    assert "encoding: 100%" in out.err
    index = VectorIndex.load(index_path, expected_dim=384, expected_model="all-MiniLM-L6-v2")
    assert len(index) == 12
    first_file = index_path.stat().st_ino

    assert main(["build"]) == 0
    again = capsys.readouterr().out
    assert "up to date (12 products)" in again and "product attributes" not in again, "the vote is not redone"
    assert index_path.stat().st_ino == first_file, "an up-to-date index is not rewritten"

    assert main(["build", "--force"]) == 0
    assert "indexed 12 products" in capsys.readouterr().out
    assert index_path.stat().st_ino != first_file, "--force replaces the file"
