"""End to end: a shopper's "delete my data" and a staff erasure, through the real stack, checked in the files.

The shopper chats (a phrase nobody else types), fills a basket, asks for a back-in-stock alert and sends a photo;
then says "delete my data". The action deletes the basket, alerts and photos at once and queues the transcript; the
console's background task (`Eraser.process_requests`, every few seconds) erases the rest. The check does not trust
any API: it reads every byte of every file in the e2e state folder (tracker DB, catalog copy with its WAL, uploads,
logs, ...) and every text column of every table of both databases, looking for the sender id and the phrase.
"""

from __future__ import annotations

import html
import re
import secrets
import sqlite3
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, String, cast, column, func, inspect, select, table

from assistant.console.accounts import AccountStore, Role
from assistant.stack import Stack
from catalog.db import make_engine
from tests.e2e.conftest import Shopper
from tests.e2e.test_chat import NewShopper
from tests.e2e.test_flows import say
from tests.e2e.test_photos import upload
from tests.retrieval.vision.images import coffee, encode

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ADMIN_USERNAME = "privacy-admin"
ADMIN_PASSWORD = "erase me thoroughly please"
ERASURE_WAIT_S = 25.0
"""The console erases requested conversations every ~5 s, once the request is 3 s old; generous for a busy CI box."""


# --- looking for personal data everywhere -----------------------------------------------------------------------------


def file_hits(folder: Path, needles: dict[str, str]) -> list[str]:
    """`<file>: <needle name>` for every file under `folder` whose bytes contain a needle (raw bytes: SQLite free
    pages, WALs, journals and logs included)."""
    found: list[str] = []
    encoded = {name: value.encode("utf-8") for name, value in needles.items()}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found += [f"{path.relative_to(folder)}: {name}" for name, value in encoded.items() if value in data]
    return found


def table_hits(engine: Engine, needles: dict[str, str]) -> list[str]:
    """`<table>.<column>: <needle name>` for every column of every table of the database holding a needle."""
    found: list[str] = []
    inspector = inspect(engine)
    with engine.connect() as conn:
        for name in inspector.get_table_names():
            columns = [c["name"] for c in inspector.get_columns(name)]
            if not columns:
                continue
            rows = table(name, *(column(c) for c in columns))
            for needle_name, value in needles.items():
                pattern = f"%{value}%"
                for col in columns:
                    hit = conn.scalar(
                        select(func.count()).select_from(rows).where(cast(rows.c[col], String).like(pattern))
                    )
                    if hit:
                        found.append(f"{name}.{col}: {needle_name}")
    return found


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll `condition` until true; returns the seconds it took, fails the test with `what` after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what} did not happen within {timeout:.0f}s")
        time.sleep(0.5)
    return time.monotonic() - started


def count_rows(engine: Engine, name: str, sender_id: str) -> int:
    rows = table(name, column("sender_id"))
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(rows).where(rows.c.sender_id == sender_id)) or 0)


def tracker_events(stack: Stack, sender_id: str) -> int:
    with sqlite3.connect(f"file:{stack.settings.tracker_db}?mode=ro", uri=True, timeout=30) as conn:
        return int(conn.execute("SELECT count(*) FROM events WHERE sender_id = ?", (sender_id,)).fetchone()[0])


def state_folder(stack: Stack) -> Path:
    """The e2e run's own folder: tracker DB, catalog copy, uploads, logs, secret (tests/e2e/conftest.py)."""
    return stack.settings.tracker_db.parent


@pytest.fixture(scope="module")
def catalog(stack: Stack) -> Iterator[Engine]:
    engine = make_engine(stack.settings.database_url)
    yield engine
    engine.dispose()


def unique_phrase() -> tuple[str, str]:
    """A search nobody else types: (the word, the whole sentence)."""
    word = "zyx" + secrets.token_hex(5)
    return word, f"do you have {word} lanterns in blue?"


def shop_a_little(me: Shopper, sentence: str) -> None:
    """A conversation with something in every store: words, a basket, a back-in-stock alert and a photo."""
    say(me, sentence)
    shown = re.findall(r"\[(\w+)\]", say(me, "have you got jumbo bags?"))
    assert len(shown) >= 2, shown
    answer = say(me, "add 2 of the second one to my basket")
    assert "Total: £" in answer, answer
    answer = say(me, "let me know when it's back in stock")
    assert "Will do" in answer, answer
    status, body = upload(me, encode(coffee(), "JPEG"))
    assert status == 200, body


# --- the shopper asks ---------------------------------------------------------------------------------------------


def test_delete_my_data_erases_the_shopper_everywhere(stack: Stack, new_shopper: NewShopper, catalog: Engine) -> None:
    me = new_shopper()
    word, sentence = unique_phrase()
    shop_a_little(me, sentence)
    sender = me.sender_id
    needles = {"sender id": sender, "phrase": word}
    uploads = stack.settings.uploads_dir

    # everything is really there first (else the scan below proves nothing)
    assert tracker_events(stack, sender) > 10
    assert count_rows(catalog, "cart_items", sender) == 1
    assert count_rows(catalog, "stock_subscriptions", sender) == 1
    assert any(sender in p.read_text() for p in uploads.glob("*.json"))
    assert {"sender id", "phrase"} <= {hit.split(": ")[1] for hit in file_hits(state_folder(stack), needles)}
    history = me.request("/api/history")[1]["messages"]
    assert any(m.get("text") == sentence for m in history), history

    answer = say(me, "please delete all my data")
    assert "I've deleted your basket" in answer, answer
    # the basket, alerts and photos go at once, in the action
    assert count_rows(catalog, "cart_items", sender) == 0
    assert count_rows(catalog, "stock_subscriptions", sender) == 0
    assert not any(sender in p.read_text() for p in uploads.glob("*.json"))

    def history_empty() -> bool:
        status, body = me.request("/api/history")
        assert status == 200, body
        return not body["messages"]

    took = wait_for(history_empty, ERASURE_WAIT_S, "the console's erasure of the conversation")
    print(f"\nconversation erased {took:.1f}s after 'delete my data'")
    wait_for(lambda: count_rows(catalog, "erasure_requests", sender) == 0, 10, "the erasure request being closed")
    assert tracker_events(stack, sender) == 0
    assert table_hits(catalog, needles) == []
    tracker = make_engine(f"sqlite:///{stack.settings.tracker_db}")
    try:
        assert table_hits(tracker, needles) == []
    finally:
        tracker.dispose()
    with catalog.connect() as conn:  # the erasure is audited, without anything personal
        audit: list[Any] = list(
            conn.execute(
                select(column("actor"), column("target"), column("details"))
                .select_from(table("audit_log"))
                .where(column("action") == "erase_conversation", column("actor") == "shopper")
            ).all()
        )
    assert audit and all(str(target).startswith("erased:") for _actor, target, _details in audit)
    assert file_hits(state_folder(stack), needles) == []


# --- staff erase a conversation -------------------------------------------------------------------------------------


class Staff:
    """A logged-in admin in the console: urllib with its own cookie jar, Origin header and CSRF token on posts."""

    def __init__(self, stack: Stack, username: str, password: str) -> None:
        self.shopper = Shopper(f"http://127.0.0.1:{stack.settings.gateway_port}")
        self.base = self.shopper.base_url
        page = self.get("/staff/login")
        status, _ = self.post("/staff/login", {"username": username, "password": password}, csrf_from=page)
        assert status == 200, "login failed"  # 303 → the conversation list, followed

    def get(self, path: str) -> str:
        request = urllib.request.Request(self.base + path, headers={"Accept": "text/html"})
        with self.shopper.opener.open(request, timeout=60) as response:
            return str(response.read().decode("utf-8"))

    def post(self, path: str, fields: dict[str, str], csrf_from: str | None) -> tuple[int, str]:
        """POST a form with the CSRF token of the page `csrf_from` (None: without a token)."""
        if csrf_from is not None:
            token = re.search(r'name="csrf_token" value="([^"]+)"', csrf_from)
            assert token, "no CSRF token on the page"
            fields = {**fields, "csrf_token": html.unescape(token.group(1))}
        body = urllib.parse.urlencode(fields).encode()
        request = urllib.request.Request(
            self.base + path,
            data=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": self.base,
                "Accept": "text/html",
            },
        )
        try:
            with self.shopper.opener.open(request, timeout=60) as response:
                return response.status, response.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")

    def status_of(self, path: str) -> int:
        try:
            self.get(path)
            return 200
        except urllib.error.HTTPError as exc:
            return exc.code


@pytest.fixture(scope="module")
def admin(stack: Stack, catalog: Engine) -> Staff:
    store = AccountStore(catalog)
    if not any(a.username == ADMIN_USERNAME for a in store.list()):
        store.create(ADMIN_USERNAME, ADMIN_PASSWORD, Role.ADMIN, display_name="Priya")
    return Staff(stack, ADMIN_USERNAME, ADMIN_PASSWORD)


def listed(admin: Staff, word: str, sender: str) -> bool:
    return f'data-sender-id="{sender}"' in admin.get("/staff/?" + urllib.parse.urlencode({"q": word}))


def test_an_admin_erases_a_conversation_from_the_console(
    stack: Stack, new_shopper: NewShopper, catalog: Engine, admin: Staff
) -> None:
    me = new_shopper()
    word, sentence = unique_phrase()
    shop_a_little(me, sentence)
    sender = me.sender_id
    path = f"/staff/conversations/{urllib.parse.quote(sender)}"
    wait_for(lambda: listed(admin, word, sender), 20, "the console's index listing the conversation")
    page = admin.get(path)
    assert html.escape(sentence) in page or sentence in page

    status, _ = admin.post(path + "/erase", {"confirm": "yes"}, csrf_from=None)  # no CSRF token: refused
    assert status == 403 and tracker_events(stack, sender) > 0
    status, body = admin.post(path + "/erase", {"confirm": "yes"}, csrf_from=page)
    assert status == 200 and "The conversation was erased." in body, body[:500]

    assert tracker_events(stack, sender) == 0
    assert not listed(admin, word, sender)
    assert admin.status_of(path) == 404
    assert me.request("/api/history")[1]["messages"] == []
    needles = {"sender id": sender, "phrase": word}
    assert table_hits(catalog, needles) == []
    assert not any(sender in p.read_text() for p in stack.settings.uploads_dir.glob("*.json"))
    with catalog.connect() as conn:
        audit: list[Any] = list(
            conn.execute(
                select(column("target"), column("details"))
                .select_from(table("audit_log"))
                .where(column("action") == "erase_conversation", column("actor") == ADMIN_USERNAME)
            ).all()
        )
    assert audit, "the staff erasure is not in the audit log"
    # logs included: the gateway's access log names no conversation (assistant/gateway/access_log.py)
    assert file_hits(state_folder(stack), needles) == []


def test_an_agent_cannot_erase(stack: Stack, catalog: Engine, new_shopper: NewShopper) -> None:
    store = AccountStore(catalog)
    if not any(a.username == "privacy-agent" for a in store.list()):
        store.create("privacy-agent", ADMIN_PASSWORD, Role.AGENT)
    agent = Staff(stack, "privacy-agent", ADMIN_PASSWORD)
    me = new_shopper()
    assert me.chat("hello")[0] == 200
    page = agent.get("/staff/")
    status, _ = agent.post(f"/staff/conversations/{me.sender_id}/erase", {"confirm": "yes"}, csrf_from=page)
    assert status == 403
    assert tracker_events(stack, me.sender_id) > 0
