"""Migrations: the hand-written revision matches the models, from code and from the alembic command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from catalog.db import make_engine
from catalog.migrate import alembic_config, upgrade
from tests.catalog.conftest import schema_differences

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CATALOG_TABLES = {"products", "customers", "orders", "order_lines", "daily_sales", "import_runs"}
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_migrated_sqlite_matches_the_models(sqlite_engine: Engine) -> None:
    assert schema_differences(sqlite_engine) == []


def test_an_empty_database_differs_from_the_models(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert len(schema_differences(engine)) >= len(CATALOG_TABLES)  # the comparison can fail
    engine.dispose()


def test_upgrade_from_a_url_in_another_folder_is_idempotent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'by_url.db'}"
    upgrade(url)
    upgrade(url)
    engine = make_engine(url)
    assert set(inspect(engine).get_table_names()) >= CATALOG_TABLES
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == HEAD
    engine.dispose()


def test_downgrade_removes_every_table(sqlite_engine: Engine) -> None:
    config = alembic_config()
    with sqlite_engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert set(inspect(sqlite_engine).get_table_names()) == {"alembic_version"}


@pytest.mark.parametrize("by", ["x_argument", "environment"])
def test_alembic_command_line_with_the_ini_file(tmp_path: Path, by: str) -> None:
    url = f"sqlite:///{tmp_path / 'by_hand.db'}"
    args = [sys.executable, "-m", "alembic", "-c", str(PROJECT_ROOT / "catalog" / "alembic.ini")]
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if by == "x_argument":
        args += ["-x", f"url={url}"]
    else:
        env["DATABASE_URL"] = url
    done = subprocess.run(
        [*args, "upgrade", "head"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    engine = make_engine(url)
    assert schema_differences(engine) == []
    engine.dispose()


@pytest.mark.postgres
@pytest.mark.slow
def test_migrated_postgres_matches_the_models(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    upgrade(engine)
    assert schema_differences(engine) == []
    engine.dispose()
