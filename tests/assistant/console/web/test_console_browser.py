"""The console's own JavaScript in a real browser (Playwright + Debian's /usr/bin/chromium, headless): the open
transcript and the handoff queue update live from the hub, shopper text stays text, and the page is keyboard-usable.
Rasa is the stand-in of conftest.py; the full agent flow against the real stack is tests/browser/test_agent.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from assistant.gateway.live import STAFF_QUEUE_TOPIC, staff_topic
from tests.assistant.console.conftest import add_turn
from tests.assistant.console.web.conftest import PASSWORD, Env

pytestmark = pytest.mark.browser
CHROMIUM = Path("/usr/bin/chromium")
XSS = "<img src=x onerror=\"document.title='pwned'\">"


@pytest.fixture
async def page(env: Env) -> AsyncIterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: these tests drive Debian's Chromium; run `apt-get install chromium`")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            tab = await browser.new_page()
            await tab.goto(env.origin + "/staff/login")
            await tab.fill("#login-username", "alex")
            await tab.fill("#login-password", PASSWORD)
            await tab.click("#login-form button[type=submit]")
            await tab.wait_for_url(env.origin + "/staff/")
            yield tab
        finally:
            await browser.close()


async def wait_for_subscriber(env: Env, topic: str) -> None:
    for _ in range(200):
        if env.hub.subscribers(topic):
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"the page never subscribed to {topic}")


async def test_transcript_appends_live_messages_as_text(env: Env, page: Any) -> None:
    add_turn(env.tracker_url, "web-live", "hello", "greet")
    await page.goto(env.origin + "/staff/conversations/web-live")
    await wait_for_subscriber(env, staff_topic("web-live"))
    await env.hub.publish(
        staff_topic("web-live"), {"type": "shopper_message", "text": XSS, "at": "2024-05-01T10:00:00"}
    )
    await env.hub.publish(
        staff_topic("web-live"),
        {"type": "bot_messages", "at": "2024-05-01T10:00:01", "items": [
            {"type": "text", "text": "Sorry to hear that", "from": "agent", "agent": "Sam"},
            {"type": "product_cards", "products": [{"title": "LUNCH BAG", "price": "1.65", "currency": "GBP",
                                                    "stock": {"level": "out", "label": "Out of stock"}}]},
        ]},
    )  # fmt: skip
    await env.hub.publish(staff_topic("web-live"), {"type": "status", "handoff": "taken", "agent": "Sam"})
    live_user = page.locator("#transcript li.turn.user.live")
    await live_user.wait_for()
    assert await live_user.locator("p.text").inner_text() == XSS  # shown as typed, never parsed
    assert await page.locator("#transcript img").count() == 0 and await page.title() != "pwned"
    await page.locator("#transcript li.turn.agent.live").wait_for()
    assert "Staff · Sam" in await page.locator("#transcript li.turn.agent.live").inner_text()
    assert await page.locator("#transcript .badge.stock-out").inner_text() == "Out of stock"
    assert await page.locator("#handoff-status").inner_text() == "held by Sam"


async def test_queue_page_refreshes_when_the_queue_changes(env: Env, page: Any) -> None:
    await page.goto(env.origin + "/staff/handoffs")
    assert await page.locator("a.conversation-link").count() == 0
    await wait_for_subscriber(env, STAFF_QUEUE_TOPIC)
    with env.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO handoffs (sender_id, channel, reason, status, requested_at) "
                 "VALUES ('web-new', 'rest', 'asked', 'waiting', '2024-05-01 10:00:00')")
        )  # fmt: skip
    await env.hub.publish(STAFF_QUEUE_TOPIC, {"type": "queue_changed"})
    await page.locator('a.conversation-link[data-sender-id="web-new"]').wait_for(timeout=5000)
    assert "1 open handoff" in await page.locator("#queue-count").inner_text()


async def test_keyboard_reaches_the_skip_link_and_the_main_content(env: Env, page: Any) -> None:
    await page.goto(env.origin + "/staff/")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.className") == "skip-link"
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "main"
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    await page.goto(env.origin + "/staff/insight")
    await page.goto(env.origin + "/staff/conversations/web-none")  # a 404 page
    assert not [e for e in errors if "Content Security Policy" in e]
