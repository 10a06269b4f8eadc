"""Alembic environment of the catalog database.

`catalog.migrate.upgrade` hands over an open connection in `config.attributes["connection"]`. By hand, from anywhere:

    alembic -c catalog/alembic.ini -x url=postgresql+psycopg2://postgres@127.0.0.1:5432/shop upgrade head

Without `-x url=...` the URL is DATABASE_URL's (default: the project's SQLite file), read through `assistant.settings`.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from catalog.db import make_engine
from catalog.models import Base, include_name

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if url:
        return url
    from assistant.settings import load_settings  # the alembic command line is a composition root

    return load_settings().database_url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_name,  # full-text search objects of 0005 are made by hand, not from the models
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
elif config.attributes.get("connection") is not None:
    _run(config.attributes["connection"])
else:
    if config.config_file_name:
        fileConfig(config.config_file_name)
    engine = make_engine(_url())
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()
