"""Engines and sessions for the catalog database (any SQLAlchemy URL; SQLite file by default)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from catalog.errors import CatalogNotBuilt, CatalogUnavailable


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for `url`. SQLite files get their folder created, WAL mode and foreign keys on."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise CatalogUnavailable(
            f"DATABASE_URL has value {url!r}; expected an SQLAlchemy URL such as "
            "'sqlite:///path/catalog.db' or 'postgresql+psycopg2://user@127.0.0.1:5432/shop'"
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if parsed.get_backend_name() == "postgresql":
        kwargs.setdefault("connect_args", {"connect_timeout": 10})
    return create_engine(url, **kwargs)


def require_built(engine: Engine) -> None:
    """Fail fast, with the fix, when the catalog has not been migrated and imported yet."""
    try:
        tables = set(inspect(engine).get_table_names())
    except OperationalError as exc:
        raise CatalogUnavailable(f"cannot open the catalog database {engine.url!r}: {exc}") from exc
    if "products" not in tables:
        raise CatalogNotBuilt(f"the catalog database {engine.url!r} has no products table; run `make build`")
