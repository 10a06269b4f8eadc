"""An agent in a real browser: logs in to the console, finds the shopper's conversation, takes it over and replies;
the shopper's open page shows the reply live (no reload); the bot stays silent while the agent holds the
conversation and answers again after the hand back."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from assistant.stack import Stack
from tests.browser.test_shopper import TIMEOUT_MS, open_chat, send
from tests.e2e.conftest import StaffAccount

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]

INDEX_WAIT_S = 60.0
"""The console indexes new conversations from the tracker store every few seconds."""


def test_agent_takes_over_replies_live_and_hands_back(
    browser: Any, stack: Stack, staff_account: StaffAccount, screenshots: Path
) -> None:
    from playwright.sync_api import expect

    base = f"http://127.0.0.1:{stack.settings.gateway_port}"
    shopper_context, shopper = open_chat(browser, stack)
    agent_context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    agent = agent_context.new_page()
    agent.set_default_timeout(TIMEOUT_MS)
    try:
        send(shopper, "my parcel never arrived, can I talk to someone?")
        sender_id = next(c for c in shopper_context.cookies() if c["name"] == "shopassist_sid")["value"].rsplit(".", 1)[
            0
        ]

        agent.goto(f"{base}/staff/")
        agent.wait_for_selector("#login-form")
        agent.screenshot(path=str(screenshots / "staff-login.png"))
        agent.fill("#login-username", staff_account.username)
        agent.fill("#login-password", staff_account.password)
        agent.click("#login-form button[type=submit]")
        agent.wait_for_url(f"{base}/staff/**")

        link = agent.locator(f'a.conversation-link[data-sender-id="{sender_id}"]')
        deadline = time.monotonic() + INDEX_WAIT_S
        while link.count() == 0:
            assert time.monotonic() < deadline, "the conversation did not appear in the console's list"
            time.sleep(2)
            agent.goto(f"{base}/staff/")
        agent.screenshot(path=str(screenshots / "staff-conversations.png"), full_page=True)
        link.click()
        agent.wait_for_selector("#takeover")
        agent.click("#takeover")
        agent.wait_for_selector("#reply-text")

        expect(shopper.locator(".msg-agent").first).to_contain_text("from the shop has joined the chat")
        expect(shopper.locator("#handoff-status")).to_be_visible()

        agent.fill("#reply-text", "Hello from Alex")
        agent.click("#reply-send")
        reply = shopper.locator(".msg-agent", has_text="Hello from Alex")
        expect(reply).to_be_visible()  # pushed live: the shopper's page was never reloaded
        expect(reply).to_contain_text(staff_account.display_name)
        shopper.screenshot(path=str(screenshots / "shopper-live-staff-reply.png"), full_page=True)
        agent.screenshot(path=str(screenshots / "staff-transcript-taken.png"), full_page=True)

        bot_before = shopper.locator(".msg-bot").count()
        send(shopper, "thanks, it was order 12345")
        shopper.wait_for_timeout(1500)
        assert shopper.locator(".msg-bot").count() == bot_before  # the bot stays silent while a person holds it

        agent.click("#handback")
        expect(shopper.locator(".status-bot")).to_be_visible()
        send(shopper, "hello")
        expect(shopper.locator(".msg-bot")).not_to_have_count(bot_before)  # the assistant answers again
        shopper.screenshot(path=str(screenshots / "shopper-back-with-bot.png"), full_page=True)
        agent.goto(f"{base}/staff/handoffs")
        agent.screenshot(path=str(screenshots / "staff-handoffs.png"), full_page=True)
        print(
            f"\nscreenshots in {screenshots}: staff-login, staff-conversations, staff-transcript-taken, "
            "shopper-live-staff-reply, shopper-back-with-bot, staff-handoffs"
        )
    finally:
        agent_context.close()
        shopper_context.close()
