"""Erasure for real: a conversation spread over the tracker store, every shop and console table and the uploads
folder, erased, then every table of both databases and every file under the state folder searched for the sender id,
the customer id and a phrase only that shopper typed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import Engine, event, insert, inspect, select, text, update
from sqlalchemy.pool import NullPool

from assistant.console.audit import AuditLog
from assistant.console.index import ConversationIndex
from assistant.console.privacy import Eraser, ErasureReport
from assistant.console.transcripts import TrackerReader
from catalog.db import make_engine
from catalog.migrate import upgrade
from catalog.models import (
    CartItemRow,
    ConversationNoteRow,
    ConversationRow,
    ConversationTagRow,
    CustomerRow,
    ErasureRequestRow,
    HandoffRow,
    IntentCorrectionRow,
    OrderRow,
    ReturnRequestRow,
    ShopOrderLineRow,
    ShopOrderRow,
    StockSubscriptionRow,
)
from retrieval.vision.uploads import UploadStore
from tests.assistant.console.conftest import (
    add_agent_message,
    add_event,
    add_turn,
    create_tracker_schema,
    make_tracker_db,
    tracker_engine,
)

PHRASE = "quokka marmalade zanzibar"
OTHER_PHRASE = "wombat chutney"
CUSTOMER = "C9Q7Z3"
ERASED_SID = "web-Hq3vT9kXmZ2pW8rL5nB4c6dY"
KEPT_SID = "web-Kq1aU7sNvR0oE3jF2gH9iTxW"


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class State:
    folder: Path
    catalog: Engine
    tracker_url: str
    uploads: UploadStore
    audit: AuditLog
    eraser: Eraser
    secure_delete_off: bool

    def before_erasure(self) -> None:
        """In the second run, every connection opened from now on (the eraser's) starts with secure_delete off."""
        if self.secure_delete_off:
            event.listen(self.catalog, "connect", _secure_delete_off)
            event.listen(self.eraser._tracker, "connect", _secure_delete_off)


@pytest.fixture(params=["sqlite-default", "secure-delete-off"])
def state(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[State]:
    """The state folder; run twice: with this SQLite build's defaults, and as a build whose `secure_delete` is off
    (then deleted rows stay readable in free pages unless the eraser turns it on)."""
    folder = tmp_path / "state"
    folder.mkdir()
    catalog = make_engine(f"sqlite:///{folder / 'catalog.db'}", poolclass=NullPool)
    tracker_url = make_tracker_db(folder / "tracker.db")
    upgrade(catalog)
    audit = AuditLog(catalog)
    eraser = Eraser(catalog, tracker_url, folder / "uploads", audit, log_dir=folder / "logs")
    yield State(folder, catalog, tracker_url, UploadStore(folder / "uploads"), audit, eraser,
                request.param == "secure-delete-off")  # fmt: skip
    eraser.close()
    tracker_engine(tracker_url).dispose()
    catalog.dispose()


def _secure_delete_off(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA secure_delete=OFF")


def photo() -> Image.Image:
    return Image.new("RGB", (32, 24), (200, 30, 30))


def populate(state: State, sid: str, phrase: str, customer: str | None, order_no: str, at: datetime) -> str:
    """One shopper's conversation in every place the assistant and the console keep things; returns the image id."""
    upload = state.uploads.save(photo(), sid)
    turn_at = at.replace(tzinfo=UTC).timestamp()
    add_turn(state.tracker_url, sid, f"hello, I need a {phrase} gift", "search_products", at=turn_at,
             slots={"last_query": f"{phrase} gift", "search_result_count": 0.0})  # fmt: skip
    if customer:
        add_turn(state.tracker_url, sid, f"i'm customer {customer}", "identify_customer", at=turn_at + 1,
                 entities=[{"entity": "customer_id", "value": customer, "start": 13, "end": 19}],
                 slots={"customer_id": customer})  # fmt: skip
    add_turn(state.tracker_url, sid, f'/share_photo{{"image_id": "{upload.image_id}"}}', "share_photo",
             at=turn_at + 2, slots={"image_id": upload.image_id})  # fmt: skip
    add_event(state.tracker_url, sid, {"event": "pause", "timestamp": turn_at + 3})
    add_agent_message(state.tracker_url, sid, f"Sam here, about the {phrase}", at=turn_at + 4)
    with state.catalog.begin() as conn:
        conn.execute(insert(ConversationRow).values(
            sender_id=sid, channel="rest", customer_id=customer, started_at=at, last_at=at, user_turns=3,
            negative_turns=0, sentiment_sum=0.0, fallbacks=0, handoff=True, zero_result_searches=1, last_event_id=1,
            search_text=f"hello, I need a {phrase} gift",
        ))  # fmt: skip
        conn.execute(insert(ConversationTagRow).values(sender_id=sid, tag="vip", account_id=1, created_at=at))
        conn.execute(insert(ConversationNoteRow).values(sender_id=sid, account_id=1, body=f"wants {phrase}",
                                                        created_at=at))  # fmt: skip
        conn.execute(insert(IntentCorrectionRow).values(
            sender_id=sid, event_id=4, text=f"hello, I need a {phrase} gift", predicted_intent="greet",
            correct_intent="search_products", account_id=1, created_at=at,
        ))  # fmt: skip
        conn.execute(insert(CartItemRow).values(sender_id=sid, sku="20725", quantity=2, added_at=at))
        conn.execute(insert(StockSubscriptionRow).values(sender_id=sid, channel="rest", sku="20725", created_at=at))
        conn.execute(insert(HandoffRow).values(sender_id=sid, channel="rest", reason="asked", status="taken",
                                               requested_at=at, taken_by="sam", taken_at=at))  # fmt: skip
        conn.execute(insert(ErasureRequestRow).values(sender_id=sid, source="shopper", requested_at=at))
        conn.execute(insert(ShopOrderRow).values(
            order_no=order_no, sender_id=sid, customer_id=customer, status="placed", total=Decimal("3.30"),
            delivery_address=f"1 {phrase} Lane, Leeds", placed_at=at, updated_at=at,
        ))  # fmt: skip
        conn.execute(insert(ShopOrderLineRow).values(order_no=order_no, sku="20725", title="LUNCH BAG", quantity=2,
                                                     unit_price=Decimal("1.65")))  # fmt: skip
        conn.execute(insert(ReturnRequestRow).values(order_no=order_no, sender_id=sid, customer_id=customer,
                                                     reason=f"the {phrase} was broken", status="requested",
                                                     created_at=at))  # fmt: skip
        if customer:
            conn.execute(insert(CustomerRow).values(id=customer, country="United Kingdom"))
            conn.execute(insert(OrderRow).values(invoice_no=f"9{order_no}", customer_id=customer, invoiced_at=at,
                                                 country="United Kingdom", is_cancellation=False))  # fmt: skip
    log = state.folder / "logs" / "gateway.log"
    log.parent.mkdir(exist_ok=True)
    with log.open("a", encoding="utf-8") as handle:  # what a chatty gateway or Rasa at DEBUG level would write
        handle.write(f'127.0.0.1 "GET /staff/conversations/{sid} HTTP/1.1" 200 1234 0.01s\n')
        handle.write(f'DEBUG received {{"sender": "{sid}", "message": "hello, I need a {phrase} gift"}}\n')
        if customer:
            handle.write(f"DEBUG slot customer_id={customer} for {sid}\n")
    state.audit.record("sam", "view_transcript", sid, {"sender_id": sid})
    state.audit.record("sam", "view_photo", f"{sid}/{upload.image_id}")
    if customer:
        state.audit.record("admin", "view_customer", customer, {"customer_id": customer})
    return upload.image_id


def table_hits(engine: Engine, needles: list[str]) -> list[str]:
    """`table.column` of every value in any table that contains one of the needles (text and blobs)."""
    hits = []
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":  # every table, FTS5 shadow tables included
            names = [r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))]
        else:
            names = list(inspect(engine).get_table_names())
        for name in names:
            result = conn.execute(text(f'SELECT * FROM "{name}"'))
            columns = list(result.keys())
            for row in result:
                for column, value in zip(columns, row, strict=True):
                    shown = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                    hits += [f"{name}.{column}: {needle}" for needle in needles if needle.lower() in shown.lower()]
    return hits


def file_hits(folder: Path, needles: list[str]) -> list[str]:
    hits = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes().lower()
            hits += [f"{path.relative_to(folder)}: {n}" for n in needles if n.lower().encode() in data]
            hits += [f"{path.name} (name): {n}" for n in needles if n.lower() in path.name.lower()]
    return hits


def test_erase_customer_leaves_no_trace_in_any_table_or_file(state: State) -> None:
    at = now() - timedelta(hours=2)
    image_id = populate(state, ERASED_SID, PHRASE, CUSTOMER, "600001", at)
    kept_image = populate(state, KEPT_SID, OTHER_PHRASE, None, "600002", at)
    needles = [ERASED_SID, CUSTOMER, image_id, *PHRASE.split()]
    assert table_hits(tracker_engine(state.tracker_url), needles)  # the scan finds them before the erasure
    assert table_hits(state.catalog, needles)

    state.before_erasure()
    log = state.folder / "logs" / "gateway.log"
    log_size = log.stat().st_size
    report = state.eraser.erase_customer(CUSTOMER, actor="admin")

    assert table_hits(tracker_engine(state.tracker_url), needles) == []
    assert table_hits(state.catalog, needles) == []
    assert file_hits(state.folder, needles) == []  # logs/ included
    assert log.stat().st_size == log_size  # blotted out in place: writers keep their offsets
    assert f"/staff/conversations/{KEPT_SID} HTTP/1.1" in log.read_text()
    assert report.rows["log_redactions"] >= 4
    assert report.rows["events"] >= 10
    for name in ("conversations", "conversation_tags", "conversation_notes", "intent_corrections", "cart_items",
                 "stock_subscriptions", "handoffs", "erasure_requests", "shop_orders", "return_requests",
                 "audit_log", "orders", "customers"):  # fmt: skip
        assert report.rows.get(name, 0) >= 1, name
    assert report.files == 1
    # the sales records stay, pointing at the erasure, not the person
    with state.catalog.connect() as conn:
        order = conn.execute(select(ShopOrderRow).where(ShopOrderRow.order_no == "600001")).one()
        assert (order.sender_id, order.customer_id, order.delivery_address) == (report.marker, None, None)
        assert conn.scalar(select(ShopOrderLineRow.quantity).where(ShopOrderLineRow.order_no == "600001")) == 2
        assert conn.scalar(select(OrderRow.customer_id).where(OrderRow.invoice_no == "9600001")) is None
        request = conn.execute(select(ErasureRequestRow).where(ErasureRequestRow.sender_id == report.marker)).one()
        assert request.done_at is not None
    # the erasure's own audit entry: who, the erasure id, counts; nothing personal (the scans above prove that)
    entries, _total = state.audit.entries()
    mine = [e for e in entries if e.action == "erase_customer"]
    assert len(mine) == 1 and mine[0].actor == "admin" and mine[0].target == report.marker
    assert report.erasure_id in json.dumps(mine[0].details if hasattr(mine[0], "details") else "")
    # the other shopper is untouched
    assert table_hits(tracker_engine(state.tracker_url), [KEPT_SID, *OTHER_PHRASE.split()])
    assert state.uploads.find(kept_image, KEPT_SID).path.is_file()
    with state.catalog.connect() as conn:
        assert conn.scalar(select(ConversationRow.sender_id).where(ConversationRow.sender_id == KEPT_SID))
        assert conn.scalar(select(CartItemRow.quantity).where(CartItemRow.sender_id == KEPT_SID)) == 2
        fts = conn.execute(text("SELECT count(*) FROM conversations_fts WHERE conversations_fts MATCH 'wombat'"))
        assert fts.scalar() == 1


def test_erase_one_conversation(state: State) -> None:
    at = now() - timedelta(minutes=5)
    image_id = populate(state, ERASED_SID, PHRASE, None, "600001", at)
    populate(state, KEPT_SID, OTHER_PHRASE, None, "600002", at)
    state.before_erasure()
    index = ConversationIndex(state.catalog, TrackerReader(state.tracker_url))
    index.sync()  # the console's real index of both conversations
    report = state.eraser.erase_conversation(ERASED_SID, actor="sam")
    index.sync()  # and it does not bring the erased one back
    needles = [ERASED_SID, image_id, *PHRASE.split()]
    assert table_hits(tracker_engine(state.tracker_url), needles) == []
    assert table_hits(state.catalog, needles) == []
    assert file_hits(state.folder, needles) == []
    with state.catalog.connect() as conn:
        assert conn.scalar(select(ConversationRow.user_turns).where(ConversationRow.sender_id == KEPT_SID)) == 2
    assert isinstance(report, ErasureReport) and report.files == 1
    again = state.eraser.erase_conversation(ERASED_SID, actor="sam")  # idempotent: nothing left
    assert again.rows == {} and again.files == 0
    with pytest.raises(ValueError, match="1 to 255"):
        state.eraser.erase_conversation("", actor="sam")


def test_shopper_requests_are_processed_after_a_short_delay(state: State) -> None:
    at = now() - timedelta(minutes=1)
    populate(state, ERASED_SID, PHRASE, None, "600001", at)
    populate(state, KEPT_SID, OTHER_PHRASE, None, "600002", at)
    with state.catalog.begin() as conn:  # the kept shopper's request is brand new: it waits for its turn to be stored
        conn.execute(
            update(ErasureRequestRow).where(ErasureRequestRow.sender_id == KEPT_SID).values(requested_at=now())
        )
    state.before_erasure()
    assert state.eraser.process_requests(min_age_s=30.0) == 1
    assert table_hits(tracker_engine(state.tracker_url), [ERASED_SID]) == []
    assert table_hits(tracker_engine(state.tracker_url), [KEPT_SID])
    assert state.eraser.process_requests(min_age_s=30.0) == 0  # done requests are not taken again
    assert state.eraser.process_requests(min_age_s=0.0) == 1
    assert table_hits(tracker_engine(state.tracker_url), [KEPT_SID]) == []
    entries, _ = state.audit.entries()
    assert sum(e.action == "erase_conversation" for e in entries) == 2


def test_retention_purges_old_conversations_and_keeps_new(state: State) -> None:
    old_image = populate(state, ERASED_SID, PHRASE, None, "600001", now() - timedelta(days=40))
    new_image = populate(state, KEPT_SID, OTHER_PHRASE, None, "600002", now() - timedelta(days=2))
    orphan = state.uploads.save(photo(), "web-never-wrote")
    meta = state.folder / "uploads" / f"{orphan.image_id}.json"
    data = json.loads(meta.read_text())
    data["created_at"] = (datetime.now(UTC) - timedelta(days=45)).isoformat(timespec="seconds")
    meta.write_text(json.dumps(data))
    # the old shopper's upload was saved just now: it goes because its sender's conversation goes
    with pytest.raises(ValueError, match="≥ 1"):
        state.eraser.purge_older_than(0)

    state.before_erasure()
    assert state.eraser.purge_older_than(30) == 1

    needles = [ERASED_SID, old_image, orphan.image_id, *PHRASE.split()]
    assert table_hits(tracker_engine(state.tracker_url), needles) == []
    assert table_hits(state.catalog, needles) == []
    assert file_hits(state.folder, needles) == []
    assert state.uploads.find(new_image, KEPT_SID).path.is_file()
    assert table_hits(tracker_engine(state.tracker_url), [KEPT_SID, *OTHER_PHRASE.split()])
    entries, _ = state.audit.entries()
    purge = [e for e in entries if e.action == "retention_purge"]
    assert len(purge) == 1 and purge[0].actor == "retention"
    assert state.eraser.purge_older_than(30) == 0


@pytest.mark.postgres
def test_erase_customer_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    """The same erasure with the catalog and Rasa's tracker store on PostgreSQL (the scaled topology)."""
    catalog = make_engine(postgres_url, poolclass=NullPool)
    upgrade(catalog)
    create_tracker_schema(postgres_url)
    audit = AuditLog(catalog)
    eraser = Eraser(catalog, postgres_url, tmp_path / "uploads", audit, log_dir=tmp_path / "logs")
    state = State(tmp_path, catalog, postgres_url, UploadStore(tmp_path / "uploads"), audit, eraser, False)
    try:
        at = now() - timedelta(hours=1)
        image_id = populate(state, ERASED_SID, PHRASE, CUSTOMER, "600001", at)
        populate(state, KEPT_SID, OTHER_PHRASE, None, "600002", at)
        needles = [ERASED_SID, CUSTOMER, image_id, *PHRASE.split()]
        assert table_hits(catalog, needles)
        report = eraser.erase_customer(CUSTOMER, actor="admin")
        assert table_hits(catalog, needles) == []  # both databases are this one
        assert file_hits(tmp_path, needles) == []
        assert report.rows["events"] >= 10 and report.rows["customers"] == 1
        assert table_hits(catalog, [KEPT_SID, *OTHER_PHRASE.split()])
        with catalog.connect() as conn:  # the kept conversation is still found by text search
            found = conn.execute(
                text("SELECT count(*) FROM conversations WHERE to_tsvector('simple', search_text) @@ "
                     "plainto_tsquery('simple', 'wombat')")
            ).scalar()  # fmt: skip
        assert found == 1
    finally:
        eraser.close()
        tracker_engine(postgres_url).dispose()
        catalog.dispose()


def test_retention_of_many_conversations_repoints_the_whole_audit_log(state: State) -> None:
    old = (now() - timedelta(days=90)).replace(tzinfo=UTC).timestamp()
    senders = [f"web-old{i:03d}x" for i in range(30)]  # more than FEW_IDS: the one-pass path
    for sid in senders:
        add_turn(state.tracker_url, sid, "hello", "greet", at=old)
        state.audit.record("sam", "view_transcript", sid, {"sender_id": sid, "also": f"{sid}/photo"})
    add_turn(state.tracker_url, KEPT_SID, "hello", "greet")
    state.audit.record("sam", "view_transcript", KEPT_SID)
    state.before_erasure()
    assert state.eraser.purge_older_than(30) == 30
    assert table_hits(state.catalog, ["web-old"]) == []
    assert table_hits(tracker_engine(state.tracker_url), ["web-old"]) == []
    entries, _ = state.audit.entries(per_page=100)
    assert sum(e.target == KEPT_SID for e in entries) == 1
    assert sum((e.target or "").startswith("erased:") for e in entries) == 31  # 30 views + the purge itself


@pytest.mark.postgres
def test_a_bare_postgresql_url_gets_the_installed_driver(postgres_url: str) -> None:
    """TRACKER_DB_URL as documented (`postgresql://...`): SQLAlchemy 2.1 would pick psycopg 3, not installed here."""
    from assistant.console.privacy import tracker_engine as eraser_tracker_engine

    bare = "postgresql://" + postgres_url.split("://", 1)[1]
    engine = eraser_tracker_engine(bare)
    try:
        assert engine.url.drivername == "postgresql+psycopg2"
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()
