"""Starts the real stack (action server, Rasa with its HTTP API, gateway with the staff console) once per test
session, on ports of its own.

Needs the artifacts `make test` builds first (catalog DB, product index, Rasa model); conversations go to a
throwaway tracker store, baskets, orders, stock changes and staff accounts to a throwaway copy of the catalog DB,
photos to a throwaway uploads folder, and the installation secret (cookie key, Rasa API token) is made fresh.
Rasa's channels: `rest:` (the web gateway) and the project's Telegram connector pointed at a local stand-in of the
Bot API on 127.0.0.1:18443 (tests/e2e/fake_telegram.py, started by the Telegram test).
"""

from __future__ import annotations

import dataclasses
import http.cookiejar
import json
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from assistant import rasa_model
from assistant.settings import Settings, load_settings
from assistant.stack import Stack
from catalog.db import make_engine
from catalog.migrate import upgrade

GATEWAY_PORT = 18080
TELEGRAM_STAND_IN = "http://127.0.0.1:18443"
STAFF_USERNAME = "alex"
STAFF_DISPLAY_NAME = "Alex"
STAFF_PASSWORD = "correct horse battery staple"

CREDENTIALS = f"""\
# Written by tests/e2e/conftest.py: the web gateway's REST channel and the Telegram connector on a local stand-in.
rest:
assistant.channels.telegram.PhotoTelegramInput:
  access_token: "123456:TEST-TOKEN"
  verify: "shopassist_test_bot"
  webhook_url: "http://127.0.0.1:{GATEWAY_PORT}/webhooks/telegram/webhook"
  api_base_url: "{TELEGRAM_STAND_IN}"
  photo_upload_url: "http://127.0.0.1:{GATEWAY_PORT}/internal/photos"
"""


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
        tracker_db_url_override=None,
        uploads_dir=tmp / "uploads",
        secret_file=tmp / "secret.key",
        redis_url=None,
        gateway_port=GATEWAY_PORT,
        rasa_port=15005,
        action_port=15055,
        gateway_host="127.0.0.1",
    )


def write_credentials(tmp: Path) -> Path:
    path = tmp / "credentials.yml"
    path.write_text(CREDENTIALS)
    return path


_SHARED: dict[str, Any] = {"stack": None, "users": 0}
"""One running stack per test session, however many test folders use it (tests/e2e and tests/browser import this
fixture; pytest makes one session fixture per folder, and both must not start the stack on the same ports)."""


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if _SHARED["stack"] is None:
        tmp = tmp_path_factory.mktemp("e2e")
        settings = e2e_settings(tmp)
        upgrade(make_engine(settings.database_url))  # the console's tables (staff accounts, audit log) in the copy
        model = rasa_model.model_path(settings.models_dir)
        if not model.exists():
            pytest.fail(f"no Rasa model at {model}: run the e2e tests through `make test` (it trains the model first)")
        running = Stack(settings, model, log_dir=tmp / "logs", credentials=write_credentials(tmp))
        running.start()
        try:
            running.wait_ready(timeout=300)
        except BaseException:
            running.stop()
            raise
        _SHARED["stack"] = running
    _SHARED["users"] += 1
    try:
        yield _SHARED["stack"]
    finally:
        _SHARED["users"] -= 1
        if _SHARED["users"] == 0:
            _SHARED["stack"].stop()
            _SHARED["stack"] = None


@dataclass(frozen=True)
class StaffAccount:
    username: str
    password: str
    display_name: str


@pytest.fixture(scope="session")
def staff_account(stack: Stack) -> StaffAccount:
    """An agent account in the e2e catalog copy, made through the console's own account store."""
    from assistant.console.accounts import AccountStore, Role

    store = AccountStore(make_engine(stack.settings.database_url))
    if not any(account.username == STAFF_USERNAME for account in store.list()):
        store.create(STAFF_USERNAME, STAFF_PASSWORD, Role.AGENT, display_name=STAFF_DISPLAY_NAME)
    return StaffAccount(STAFF_USERNAME, STAFF_PASSWORD, STAFF_DISPLAY_NAME)


@dataclass
class Shopper:
    """One browser talking to the gateway: its own cookie jar, so its own identity (`shopassist_sid`)."""

    base_url: str
    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    def __post_init__(self) -> None:
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def request(
        self, path: str, data: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers or {})
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def chat(self, text: str) -> tuple[int, dict[str, Any]]:
        return self.request("/api/chat", json.dumps({"text": text}).encode(), {"Content-Type": "application/json"})

    @property
    def sender_id(self) -> str:
        """The sender id the gateway gave this browser (after its first request)."""
        for cookie in self.jar:
            if cookie.name == "shopassist_sid" and cookie.value:
                return cookie.value.rsplit(".", 1)[0]
        raise AssertionError("this shopper has no identity yet: make a request first")


@pytest.fixture
def new_shopper(stack: Stack) -> Any:
    """`shopper = new_shopper()`: a fresh browser with its own identity (the page visited once)."""

    def make() -> Shopper:
        shopper = Shopper(f"http://127.0.0.1:{stack.settings.gateway_port}")
        with shopper.opener.open(shopper.base_url + "/", timeout=30) as response:
            assert response.status == 200
        return shopper

    return make
