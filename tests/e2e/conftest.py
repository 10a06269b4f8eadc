"""Starts the real stack (action server, Rasa, gateway) once per test session, on ports of its own.

Needs the artifacts `make test` builds first (catalog DB, product index, Rasa model); conversations go to a
throwaway tracker store, and baskets, orders and stock changes to a throwaway copy of the catalog DB.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant import rasa_model
from assistant.settings import Settings, load_settings
from assistant.stack import Stack


def copy_catalog(url: str, tmp: Path) -> str:
    """A copy of the SQLite catalog DB (the tests place and cancel orders); other databases are used as they are."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return url
    source = sqlite3.connect(url.removeprefix(prefix))
    target = sqlite3.connect(tmp / "catalog.db")
    with target:
        source.backup(target)
    source.close()
    target.close()
    return f"{prefix}{tmp / 'catalog.db'}"


def e2e_settings(tmp: Path) -> Settings:
    base = load_settings()
    return dataclasses.replace(
        base,
        database_url=copy_catalog(base.database_url, tmp),
        tracker_db=tmp / "tracker.db",
        gateway_port=18080,
        rasa_port=15005,
        action_port=15055,
        gateway_host="127.0.0.1",
    )


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("e2e")
    settings = e2e_settings(tmp)
    model = rasa_model.model_path(settings.models_dir)
    if not model.exists():
        pytest.fail(f"no Rasa model at {model}: run the e2e tests through `make test` (it trains the model first)")
    running = Stack(settings, model, log_dir=tmp / "logs")
    running.start()
    try:
        running.wait_ready(timeout=300)
        yield running
    finally:
        running.stop()
