"""Schema migrations in code: `upgrade(engine_or_url)` brings any catalog database to the latest revision.

The Alembic configuration is built here rather than read from an ini file, so this works from any working directory
and inside tests; `catalog/alembic.ini` exists only for developers running the `alembic` command by hand.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from catalog.db import make_engine
from catalog.errors import CatalogUnavailable

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    """An Alembic configuration pointing at this package's migrations, independent of the working directory."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(engine_or_url: Engine | str, revision: str = "head") -> None:
    """Migrate the database to `revision` (default: the latest) in one transaction."""
    engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    config = alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except SQLAlchemyError as exc:
        raise CatalogUnavailable(f"migrating the catalog database {engine.url!r} failed: {exc}") from exc
    finally:
        if isinstance(engine_or_url, str):
            engine.dispose()
