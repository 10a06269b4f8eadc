"""A shopper in a real browser: asks for a product, sees cards with price and stock badge, reloads and still sees
the conversation (read back from Rasa's tracker store)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from assistant.stack import Stack

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]

TIMEOUT_MS = 60_000


def open_chat(browser: Any, stack: Stack) -> tuple[Any, Any]:
    context = browser.new_context(viewport={"width": 900, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"http://127.0.0.1:{stack.settings.gateway_port}/")
    page.wait_for_selector("main#chat[data-ready='true']")
    return context, page


def send(page: Any, text: str) -> None:
    """Type and press Enter, as a shopper does; wait until the assistant's answer (or silence) is in."""
    page.fill("#message", text)
    page.press("#message", "Enter")
    page.wait_for_selector("#typing", state="hidden")
    page.wait_for_function("document.querySelector('#send').disabled === false")


def test_cards_with_price_and_stock_then_history_after_a_reload(browser: Any, stack: Stack, screenshots: Path) -> None:
    from playwright.sync_api import expect

    context, page = open_chat(browser, stack)
    try:
        cookies = {c["name"]: c for c in context.cookies()}
        sid = cookies["shopassist_sid"]
        assert sid["httpOnly"] and sid["sameSite"] == "Lax"  # the page's script cannot read its identity
        assert page.evaluate("document.cookie") == ""
        assert page.evaluate("Object.keys(window.localStorage)") == []

        send(page, "red lunch bag")
        cards = page.locator(".card")
        expect(cards.first).to_be_visible()
        count = cards.count()
        assert count >= 1
        for i in range(count):
            card = cards.nth(i)
            assert re.fullmatch(r"£\d+\.\d\d", card.locator(".card-price").inner_text()), card.inner_text()
            badge = card.locator(".stock")
            assert re.fullmatch(r"stock stock-(in|low|out)", badge.get_attribute("class") or "")
            assert badge.inner_text().strip()  # words, not colour alone
        titles = cards.locator(".card-title").all_inner_texts()
        assert any("Lunch Bag" in t for t in titles), titles
        page.screenshot(path=str(screenshots / "shopper-cards.png"), full_page=True)

        page.keyboard.press("Tab")  # focus moves on from the message box (keyboard use)
        page.reload()
        page.wait_for_selector("main#chat[data-ready='true']")
        expect(page.locator(".msg-user").first).to_contain_text("red lunch bag")
        expect(page.locator(".card")).to_have_count(count)
        assert page.locator(".card-title").all_inner_texts() == titles
        page.screenshot(path=str(screenshots / "shopper-after-reload.png"), full_page=True)
        print(f"\nscreenshots: {screenshots / 'shopper-cards.png'} {screenshots / 'shopper-after-reload.png'}")

        other = browser.new_context()
        try:  # another browser has its own, empty, conversation
            stranger = other.new_page()
            stranger.goto(f"http://127.0.0.1:{stack.settings.gateway_port}/")
            stranger.wait_for_selector("main#chat[data-ready='true']")
            assert stranger.locator(".msg").count() == 0
        finally:
            other.close()
    finally:
        context.close()
