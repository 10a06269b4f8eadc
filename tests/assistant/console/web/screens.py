"""Screenshots of every console page with realistic data, for a person to look at (not a test).

    .venv-app/bin/python -m tests.assistant.console.web.screens [OUT_DIR]   # default results/screenshots

Builds a throwaway catalog + tracker store, serves the console on 127.0.0.1 (stand-in Rasa API as in the tests),
logs in with Playwright driving Debian's /usr/bin/chromium (headless, nothing downloaded) and saves one PNG per page.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.async_api import async_playwright

from assistant.console.accounts import Role
from assistant.console.index import ConversationIndex
from assistant.console.transcripts import TrackerReader
from catalog.db import make_engine
from catalog.migrate import upgrade
from tests.assistant.console.conftest import add_agent_message, add_event, add_turn, make_tracker_db
from tests.assistant.console.web.conftest import PASSWORD, _env

CHROMIUM = "/usr/bin/chromium"


def seed(tracker_url: str) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    card = {"sku": "20725", "title": "LUNCH BAG RED RETROSPOT", "price": "1.65", "currency": "GBP"}
    for day in range(12):
        for i in range(day % 4 + 1):
            sid = f"web-demo-{day:02d}-{i}"
            at = now - timedelta(days=day, hours=i)
            add_turn(tracker_url, sid, "do you have red lunch bags?", "search_products", at=at,
                     entities=[{"entity": "product", "value": "red lunch bags"}],
                     replies=["Here is what I found:"],
                     cards=[{**card, "stock": {"level": "in", "label": "In stock"}},
                            {**card, "sku": "20726", "title": "LUNCH BAG WOODLAND", "price": "1.95",
                             "stock": {"level": "low", "label": "Only 3 left"}}],
                     buttons=[{"title": "Show more", "payload": "/show_more"}],
                     slots={"last_query": "red lunch bags", "search_result_count": 2.0})  # fmt: skip
            if (day + i) % 3 == 0:
                add_turn(tracker_url, sid, "this is useless, nothing works", "complain", at=at + timedelta(minutes=1),
                         sentiment="negative", confidence=0.44)  # fmt: skip
            if (day + i) % 5 == 0:
                add_turn(tracker_url, sid, "unicorn saddle", "search_products", at=at + timedelta(minutes=2),
                         slots={"last_query": "unicorn saddle", "search_result_count": 0.0})  # fmt: skip
    add_turn(tracker_url, "web-demo-00-0", "can I talk to a person please", "human_handoff",
             at=now - timedelta(minutes=5))  # fmt: skip
    add_event(tracker_url, "web-demo-00-0", {"event": "pause"})
    add_agent_message(tracker_url, "web-demo-00-0", "Hello, Alex here from the shop. How can I help?")


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        engine = make_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
        upgrade(engine)
        tracker_url = make_tracker_db(tmp_path / "tracker.db")
        seed(tracker_url)
        ConversationIndex(engine, TrackerReader(tracker_url)).sync()
        async for env in _env(tmp_path, engine, tracker_url):
            env.accounts.create("sam", PASSWORD, Role.AGENT, display_name="Sam")
            base = env.origin
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True)
                page = await browser.new_page(viewport={"width": 1280, "height": 900})
                await page.goto(base + "/staff/login")
                await page.screenshot(path=str(out / "console-login.png"), full_page=True)
                await page.fill("#login-username", "root")
                await page.fill("#login-password", PASSWORD)
                await page.click("#login-form button[type=submit]")
                await page.wait_for_url(base + "/staff/")
                shots = {
                    "console-conversations.png": "/staff/",
                    "console-filtered.png": "/staff/?sentiment=negative&channel=rest",
                    "console-transcript.png": "/staff/conversations/web-demo-01-1",
                    "console-handoffs.png": "/staff/handoffs",
                    "console-insight.png": "/staff/insight",
                    "console-audit.png": "/staff/audit",
                    "console-error.png": "/staff/?from=yesterday",
                }
                for name, path in shots.items():
                    await page.goto(base + path)
                    await page.screenshot(path=str(out / name), full_page=True)
                await page.goto(base + "/staff/conversations/web-demo-00-0")
                await page.click("#takeover")
                await page.fill("#reply-text", "Hello from Alex")
                await page.screenshot(path=str(out / "console-takeover.png"), full_page=True)
                await page.keyboard.press("Tab")
                await page.screenshot(path=str(out / "console-focus.png"))
                await browser.close()
        engine.dispose()
    for png in sorted(out.glob("console-*.png")):
        print(png)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("results/screenshots")))
