"""Throwaway PostgreSQL databases on this machine's server (127.0.0.1:5432, user postgres, trust auth), for the tests
that run against the real PostgreSQL (catalog import, stock, console queries, the scaled-out end-to-end test)."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

POSTGRES_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


class PostgresMissing(RuntimeError):
    """The PostgreSQL server cannot be reached; the message says where it was looked for."""


@contextlib.contextmanager
def throwaway_database(prefix: str, driver: str = "postgresql+psycopg2") -> Iterator[str]:
    """A new, empty database named `prefix` + random hex, dropped (FORCE) afterwards; yields its URL with `driver`
    (plain `postgresql` is what Rasa's endpoints and the settings take)."""
    name = f"{prefix}_{secrets.token_hex(5)}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 10})
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        raise PostgresMissing(
            f"these tests need PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth): {exc}; "
            "is postgresql running (`apt-get install postgresql`)?"
        ) from exc
    try:
        yield f"{driver}://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
