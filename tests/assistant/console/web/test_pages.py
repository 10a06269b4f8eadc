"""The console's pages with real data: conversation list, transcript, photos, annotations, insight, erasure."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from PIL import Image
from sqlalchemy import text

from assistant.console.index import ConversationIndex
from assistant.console.transcripts import TrackerReader
from retrieval.vision.uploads import UploadStore
from tests.assistant.console.conftest import add_agent_message, add_event, add_turn, has_events
from tests.assistant.console.web.conftest import Env

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
CARD = {"sku": "20725", "title": "LUNCH BAG RED RETROSPOT", "price": "1.65", "currency": "GBP",
        "stock": {"level": "low", "label": "Only 3 left"}}  # fmt: skip


def sync(env: Env) -> int:
    return ConversationIndex(env.engine, TrackerReader(env.tracker_url)).sync()


def audit_rows(env: Env, action: str) -> list[Any]:
    with env.engine.connect() as conn:
        return list(
            conn.execute(
                text("SELECT actor, target, details FROM audit_log WHERE action = :a ORDER BY id"), {"a": action}
            )
        )


def seed(env: Env) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    add_turn(
        env.tracker_url, "web-shopper1", "do you have red lunch bags?", "search_products", at=now - timedelta(hours=2),
        entities=[{"entity": "product", "value": "red lunch bags", "start": 12, "end": 26}],
        replies=["Here is what I found:"], cards=[CARD],
        buttons=[{"title": "Show more", "payload": "/show_more"}],
    )  # fmt: skip
    add_turn(env.tracker_url, "web-shopper1", "this is useless", "complain", at=now - timedelta(hours=1),
             sentiment="negative", confidence=0.41)  # fmt: skip
    add_turn(env.tracker_url, "tg-777", "hello there", "greet", at=now - timedelta(days=3), channel="telegram")


async def test_conversation_list_filters_and_links(env: Env) -> None:
    seed(env)
    sync(env)
    await env.login("alex")
    status, body = await env.page("/staff/")
    assert status == 200
    assert 'class="conversation-link" data-sender-id="web-shopper1"' in body
    assert 'data-sender-id="tg-777"' in body
    assert "2 conversations" in body
    for field in ("f-q", "f-from", "f-to", "f-channel", "f-sentiment", "f-handoff", "f-fallback", "f-customer"):
        assert f'<label for="{field}">' in body and f'id="{field}"' in body
    status, body = await env.page("/staff/?channel=telegram")
    assert 'data-sender-id="tg-777"' in body and 'data-sender-id="web-shopper1"' not in body
    status, body = await env.page("/staff/?q=lunch")
    assert 'data-sender-id="web-shopper1"' in body and 'data-sender-id="tg-777"' not in body
    status, body = await env.page("/staff/?sentiment=negative")
    assert 'data-sender-id="web-shopper1"' in body and "tg-777" not in body
    today = datetime.now(UTC).date()
    status, body = await env.page(f"/staff/?from={(today - timedelta(days=1)).isoformat()}")
    assert "tg-777" not in body
    status, body = await env.page("/staff/?sentiment=furious")
    assert status == 400 and "expected one of negative, neutral, positive" in body


async def test_conversation_list_paginates(env: Env) -> None:
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)
    for i in range(30):
        add_turn(env.tracker_url, f"web-many-{i:02d}", f"question {i}", "greet", at=start + timedelta(seconds=i))
    sync(env)
    await env.login("alex")
    _, first = await env.page("/staff/?channel=rest")
    assert first.count('class="conversation-link"') == 25
    assert "page 1 of 2" in first
    next_url = html.unescape(re.search(r'<a rel="next" href="([^"]+)"', first).group(1))  # type: ignore[union-attr]
    assert "channel=rest" in next_url and "page=2" in next_url
    _, second = await env.page(next_url)
    assert second.count('class="conversation-link"') == 5 and 'rel="prev"' in second


async def test_transcript_shows_every_turn_and_is_audited(env: Env) -> None:
    seed(env)
    add_agent_message(env.tracker_url, "web-shopper1", "Hi, Sam here")
    add_event(env.tracker_url, "web-shopper1", {"event": "pause"})
    sync(env)
    await env.login("alex")
    status, body = await env.page("/staff/conversations/web-shopper1")
    assert status == 200
    assert "do you have red lunch bags?" in body
    assert "search_products" in body and "(0.93)" in body  # intent and confidence
    assert "red lunch bags" in body and ">product</span>" in body  # entities
    assert "negative" in body and "complain" in body and "(0.41)" in body
    assert "LUNCH BAG RED RETROSPOT" in body and "GBP 1.65" in body
    assert 'class="badge stock-low">Only 3 left' in body
    assert "Show more" in body
    assert "Hi, Sam here" in body
    assert 'role="log"' in body and 'aria-live="polite"' in body
    assert 'data-live-url="/staff/conversations/web-shopper1/live"' in body
    assert 'id="takeover"' in body
    assert 'name="intent"' in body and '<option value="greet"' in body  # correction selects list domain intents
    assert [(r.actor, r.target) for r in audit_rows(env, "view_transcript")] == [("alex", "web-shopper1")]
    status, _ = await env.page("/staff/conversations/web-nobody")
    assert status == 404


async def test_messages_tags_notes_and_names_are_escaped_everywhere(env: Env) -> None:
    add_turn(env.tracker_url, "web-xss", XSS, "greet", replies=[XSS], cards=[{**CARD, "title": XSS}])
    sync(env)
    evil = env.accounts.create("mallory", "correct horse battery staple", "agent", display_name='<b onmouseover="x">M')  # type: ignore[arg-type]
    token = await env.login("mallory")
    assert (await env.post("/staff/conversations/web-xss/notes", {"body": XSS}, token)).status == 303
    tag = await env.post("/staff/conversations/web-xss/tags", {"tag": "<script>x</script>"}, token)
    assert tag.status == 400  # tags are words; the error page shows the refused value escaped
    assert "<script>" not in await tag.text()
    pages = [await env.page(p) for p in ("/staff/conversations/web-xss", "/staff/?q=alert", "/staff/")]
    for status, body in pages:
        assert status == 200
        assert "<script>alert" not in body and "<img src=x" not in body and "<b onmouseover" not in body
    transcript = pages[0][1]
    assert html.escape(XSS, quote=False) in transcript or "&lt;script&gt;" in transcript
    assert "&lt;b onmouseover=" in transcript  # the display name, escaped
    assert evil.display_name.startswith("<b")


async def test_photos_are_served_to_staff_only_from_the_upload_store(env: Env) -> None:
    store = UploadStore(env.settings.uploads_dir)
    stored = store.save(Image.new("RGB", (40, 30), "red"), "web-photo")
    other = store.save(Image.new("RGB", (40, 30), "blue"), "web-someone-else")
    add_turn(env.tracker_url, "web-photo", f'/share_photo{{"image_id": "{stored.image_id}"}}', "share_photo")
    sync(env)
    anonymous = await env.client.get(f"/staff/conversations/web-photo/photos/{stored.image_id}")
    assert anonymous.status == 401
    await env.login("alex")
    _, body = await env.page("/staff/conversations/web-photo")
    assert f'src="/staff/conversations/web-photo/photos/{stored.image_id}"' in body
    assert "/share_photo" not in body  # shown as the photo, never as the raw command
    response = await env.client.get(f"/staff/conversations/web-photo/photos/{stored.image_id}")
    assert response.status == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert (await response.read())[:3] == b"\xff\xd8\xff"
    assert (await env.client.get(f"/staff/conversations/web-photo/photos/{other.image_id}")).status == 404
    assert (await env.client.get("/staff/conversations/web-photo/photos/..%2f..%2fsecret")).status == 404
    assert [r.target for r in audit_rows(env, "view_photo")] == ["web-photo"]


async def test_tags_notes_and_corrections_round_trip_and_export(env: Env) -> None:
    seed(env)
    sync(env)
    token = await env.login("alex")
    sid = "web-shopper1"
    assert (await env.post(f"/staff/conversations/{sid}/tags", {"tag": "refund"}, token)).status == 303
    assert (await env.post(f"/staff/conversations/{sid}/notes", {"body": "Called back at 3pm"}, token)).status == 303
    _, body = await env.page(f"/staff/conversations/{sid}")
    assert '<span class="tag">refund</span>' in body and "Called back at 3pm" in body and "Alex" in body
    event_id = int(re.findall(r'name="event_id" value="(\d+)"', body)[1])  # the "this is useless" turn
    bad = await env.post(
        f"/staff/conversations/{sid}/corrections", {"event_id": str(event_id), "intent": "no_such"}, token
    )
    assert bad.status == 400
    forged = await env.post(f"/staff/conversations/{sid}/corrections", {"event_id": "1", "intent": "greet"}, token)
    assert forged.status == 400  # event 1 is not a shopper message of this conversation
    ok = await env.post(
        f"/staff/conversations/{sid}/corrections", {"event_id": str(event_id), "intent": "greet"}, token
    )
    assert ok.status == 303 and ok.headers["Location"].endswith("?done=corrected")
    _, body = await env.page(f"/staff/conversations/{sid}?done=corrected")
    assert "Corrected to <strong>greet</strong>" in body and 'role="status"' in body
    export = await env.client.get("/staff/corrections.yml")
    assert export.status == 200
    assert export.headers["Content-Disposition"] == 'attachment; filename="corrections.yml"'
    yaml_text = await export.text()
    assert "intent: greet" in yaml_text and "this is useless" in yaml_text
    assert (await env.post(f"/staff/conversations/{sid}/tags", {"tag": "refund", "op": "remove"}, token)).status == 303
    _, body = await env.page(f"/staff/conversations/{sid}")
    assert '<span class="tag">refund</span>' not in body
    actions = [a for (a,) in env.engine.connect().execute(text("SELECT action FROM audit_log ORDER BY id"))]
    for action in ("add_tag", "add_note", "add_correction", "export_corrections", "remove_tag"):
        assert action in actions
    with env.engine.connect() as conn:
        details = " ".join(d for (d,) in conn.execute(text("SELECT details FROM audit_log")))
    assert "Called back" not in details and "useless" not in details  # ids and counts, never content


async def test_insight_page_inlines_escaped_svg_charts(env: Env) -> None:
    add_turn(env.tracker_url, "web-zero", "<b>zzz</b> widgets", "search_products",
             slots={"last_query": "<b>zzz</b> widgets", "search_result_count": 0.0})  # fmt: skip
    sync(env)
    await env.login("alex")
    status, body = await env.page("/staff/insight")
    assert status == 200
    assert body.count("<svg") >= 5
    assert "<b>zzz</b>" not in body and "&lt;b&gt;zzz&lt;/b&gt;" in body
    assert "corrections.yml" in body


async def test_handoff_queue_page_lists_waiting_and_taken(env: Env) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    insert = (
        "INSERT INTO handoffs (sender_id, channel, reason, status, requested_at) "
        "VALUES (:s, 'rest', 'asked', 'waiting', :t)"
    )
    with env.engine.begin() as conn:
        conn.execute(text(insert), {"s": "web-waiting", "t": now})
    await env.login("alex")
    status, body = await env.page("/staff/handoffs")
    assert status == 200
    assert 'data-sender-id="web-waiting"' in body and "waiting" in body and "asked" in body
    assert 'data-live-url="/staff/handoffs/live"' in body


async def test_admin_erases_a_conversation(env: Env) -> None:
    seed(env)
    sync(env)
    token = await env.login("root")
    _, body = await env.page("/staff/conversations/web-shopper1")
    assert 'id="erase-conversation"' in body
    unconfirmed = await env.post("/staff/conversations/web-shopper1/erase", {}, token)
    assert unconfirmed.status == 400 and has_events(env.tracker_url, "web-shopper1")
    response = await env.post("/staff/conversations/web-shopper1/erase", {"confirm": "yes"}, token)
    assert response.status == 303 and response.headers["Location"] == "/staff/?done=erased"
    assert not has_events(env.tracker_url, "web-shopper1")
    assert (await env.page("/staff/conversations/web-shopper1"))[0] == 404
    rows = audit_rows(env, "erase_conversation")
    assert len(rows) == 1 and rows[0].actor == "root" and "web-shopper1" not in (rows[0].target or "")


async def test_admin_erases_a_customer(env: Env) -> None:
    add_turn(env.tracker_url, "web-cust-1", "my number is 12345", "inform", slots={"customer_id": "12345"})
    add_turn(env.tracker_url, "web-cust-2", "hello again", "greet", slots={"customer_id": "12345"})
    add_turn(env.tracker_url, "web-other", "hello", "greet")
    sync(env)
    token = await env.login("root")
    _, listing = await env.page("/staff/?customer=12345")
    assert 'id="erase-customer"' in listing and 'data-sender-id="web-other"' not in listing
    response = await env.post("/staff/customers/12345/erase", {"confirm": "yes"}, token)
    assert response.status == 303 and response.headers["Location"] == "/staff/?done=customer_erased"
    assert not has_events(env.tracker_url, "web-cust-1") and not has_events(env.tracker_url, "web-cust-2")
    assert has_events(env.tracker_url, "web-other")
    rows = audit_rows(env, "erase_customer")
    assert len(rows) == 1 and "12345" not in (rows[0].target or "") + rows[0].details
    bad = await env.post("/staff/customers/12%3Cb%3E/erase", {"confirm": "yes"}, token)
    assert bad.status == 400
