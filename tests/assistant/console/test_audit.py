"""The audit log: entries in order, pages, and no content (passwords, message text) in details."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from assistant.console.audit import AuditLog


def test_entries_come_back_newest_first_with_their_details(catalog_engine: Engine) -> None:
    ticks = iter(datetime(2026, 11, 30, 9, 0) + timedelta(minutes=i) for i in range(100))
    log = AuditLog(catalog_engine, clock=lambda: next(ticks))
    log.record("sam", "view_transcript", "web-abc")
    log.record(None, "purge", None, {"conversations": 3})
    log.record("ana", "erase_conversation", "web-abc", {"erasure_id": "e1", "rows": {"events": 12}})
    entries, total = log.entries()
    assert total == 3
    assert [(e.actor, e.action, e.target) for e in entries] == [
        ("ana", "erase_conversation", "web-abc"),
        (None, "purge", None),
        ("sam", "view_transcript", "web-abc"),
    ]
    assert entries[0].details == {"erasure_id": "e1", "rows": {"events": 12}}
    assert entries[0].at == datetime(2026, 11, 30, 9, 2)
    only_sam, sams = log.entries(actor="sam")
    assert sams == 1 and only_sam[0].action == "view_transcript"
    assert log.entries(target="web-abc")[1] == 2


def test_pages(catalog_engine: Engine) -> None:
    log = AuditLog(catalog_engine)
    for i in range(7):
        log.record("sam", "view_transcript", f"web-{i}")
    first, total = log.entries(page=1, per_page=3)
    last, _ = log.entries(page=3, per_page=3)
    assert total == 7 and len(first) == 3 and len(last) == 1
    assert [e.target for e in first] == ["web-6", "web-5", "web-4"]
    assert last[0].target == "web-0"
    assert log.entries(page=9, per_page=3)[0] == []
    assert AuditLog.pages(7, 3) == 3 and AuditLog.pages(0, 3) == 1
    for bad in ({"page": 0}, {"per_page": 0}, {"per_page": 10_000}, {"page": True}):
        with pytest.raises(ValueError, match="expected a whole number"):
            log.entries(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "details",
    [{"password": "hunter2"}, {"text": "my address is..."}, {"nested": [{"Body": "note"}]}, {"csrf_token": "x"}],
)
def test_content_is_refused_in_details(catalog_engine: Engine, details: dict[str, object]) -> None:
    log = AuditLog(catalog_engine)
    with pytest.raises(ValueError, match="ids and counts"):
        log.record("sam", "add_note", "web-abc", details)
    assert log.entries()[1] == 0


def test_malformed_entries_are_refused(catalog_engine: Engine) -> None:
    log = AuditLog(catalog_engine)
    with pytest.raises(ValueError, match="action"):
        log.record("sam", "")
    with pytest.raises(ValueError, match="action"):
        log.record("sam", "x" * 41)
    with pytest.raises(ValueError, match="actor"):
        log.record("x" * 65, "view")
    with pytest.raises(ValueError, match="target"):
        log.record("sam", "view", "x" * 256)
    with pytest.raises(ValueError, match="at most"):
        log.record("sam", "view", "t", {"ids": list(range(2000))})
    with pytest.raises(ValueError, match="JSON object"):
        log.record("sam", "view", "t", {"n": float("nan"), "bad": {1, 2}})  # sets are not JSON
    with catalog_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one() == 0
