"""The chat page: served with its own assets only (no CDN), safe headers, the configured limit, and a script that
renders message data as text."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from assistant.gateway.app import STATIC_DIR
from tests.assistant.gateway.conftest import GatewayClient, MakeGateway

HARNESS = Path(__file__).with_name("chat_page_harness.js")


class Tags(HTMLParser):
    """Every start tag of a page, as (tag, attributes), plus the text inside <script> and <style> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline_code: list[str] = []
        self._in_code = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_code = tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._in_code = False

    def handle_data(self, data: str) -> None:
        if self._in_code and data.strip():
            self.inline_code.append(data)

    def find(self, tag: str, **attrs: str) -> dict[str, str | None]:
        for name, found in self.tags:
            if name == tag and all(found.get(key) == value for key, value in attrs.items()):
                return found
        raise AssertionError(f"no <{tag}> with {attrs}")


async def page(gateway: GatewayClient) -> tuple[Any, Tags]:
    response = await gateway.get("/")
    assert response.status == 200
    tags = Tags()
    tags.feed(await response.text())
    return response, tags


async def test_the_page_is_html_with_security_headers(gateway: GatewayClient) -> None:
    response, _ = await page(gateway)
    assert response.content_type == "text/html"
    assert response.charset == "utf-8"
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self';")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


async def test_the_page_loads_only_local_assets(gateway: GatewayClient) -> None:
    _, tags = await page(gateway)
    urls = [attrs[key] for _, attrs in tags.tags for key in ("src", "href") if attrs.get(key)]
    assert len(urls) >= 3  # stylesheet, script, icon
    for url in urls:
        assert url is not None
        assert not re.match(r"^(https?:)?//", url, re.IGNORECASE), url
    assert tags.inline_code == []  # CSP 'self' would block inline code anyway
    assert not any("style" in attrs or any(key.startswith("on") for key in attrs) for _, attrs in tags.tags)


async def test_assets_are_served_with_their_content_types(gateway: GatewayClient) -> None:
    _, tags = await page(gateway)
    expected = {
        "script": ("src", "/static/chat.js", {"text/javascript", "application/javascript"}),
        "link": ("href", "/static/chat.css", {"text/css"}),
    }
    for tag, (key, path, content_types) in expected.items():
        url = tags.find(tag, **({"rel": "stylesheet"} if tag == "link" else {}))[key]
        assert url is not None and url.startswith(path + "?v=")
        response = await gateway.get(url)
        assert response.status == 200
        assert response.content_type in content_types
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert await response.read() == (STATIC_DIR / Path(path).name).read_bytes()
    icon = await gateway.get("/static/favicon.svg")
    assert (icon.status, icon.content_type) == (200, "image/svg+xml")


async def test_the_static_route_serves_nothing_outside_its_folder(gateway: GatewayClient) -> None:
    for path in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py", "/static/nope.js"):
        response = await gateway.get(path)
        assert response.status in (403, 404), path
        assert "create_app" not in await response.text()
    template = await gateway.get("/static/index.html", allow_redirects=False)
    assert (template.status, template.headers["Location"]) == (302, "/")


async def test_the_page_carries_the_configured_message_limit(make_gateway: MakeGateway) -> None:
    _, tags = await page(await make_gateway(max_message_chars=250, rasa_timeout_s=10.0))
    main = tags.find("main", id="chat")
    assert main["data-max-message-chars"] == "250"
    assert main["data-request-timeout-ms"] == str((10 + 1 + 5) * 1000)  # rasa + health timeouts + slack
    assert tags.find("textarea", id="message")["maxlength"] == "250"


async def test_the_page_is_accessible_by_construction(gateway: GatewayClient) -> None:
    _, tags = await page(gateway)
    assert tags.find("html")["lang"] == "en"
    log = tags.find("ol", id="log")
    assert (log["role"], log["aria-live"]) == ("log", "polite")
    assert tags.find("label", **{"for": "message"})
    assert tags.find("button", id="send")["type"] == "submit"
    assert tags.find("p", id="typing")["role"] == "status"


def test_the_script_and_styles_never_use_html_parsing_or_remote_urls() -> None:
    script = (STATIC_DIR / "chat.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "srcdoc"):
        assert sink not in script, sink
    for asset in ("chat.js", "chat.css", "index.html"):
        text = (STATIC_DIR / asset).read_text(encoding="utf-8")
        assert not re.search(r"https?://|@import|url\(\s*['\"]?//", text), asset
    assert ":focus-visible" in (STATIC_DIR / "chat.css").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def rendered() -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the chat page's script is not exercised")
    done = subprocess.run(
        [node, str(HARNESS), str(STATIC_DIR / "chat.js")], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


EVIL = '<img src=x onerror="alert(1)">'


def test_titles_are_title_cased_and_prices_formatted(rendered: dict[str, Any]) -> None:
    assert rendered["titleCase"] == [
        "Lunch Bag Red Retrospot",
        "Set of 3 Cake Tins Pantry Design",
        "White Hanging Heart T-Light Holder",
        "Set/6 Red Spotty Paper Plates",
        "Children's Circus Parade Mug",
        "Jumbo Bag 50's Christmas",
        "3D Traditional Christmas Stickers",
        "I Love London Mini Backpack",
        "Already Mixed case",
    ]
    assert rendered["formatPrice"] == ["£1.65", "£12.50", "£1,250.00", "€2.00", "£3.10", "n/a", "4.00 NOT-A-CURRENCY"]


def test_the_page_keeps_no_id_of_its_own_and_checks_urls(rendered: dict[str, Any]) -> None:
    for turn in (rendered["search"], rendered["buttons"], rendered["reload"]["live"]):
        assert turn["storageAccesses"] == 0  # the cookie is the identity, not localStorage
    for request in rendered["search"]["requests"] + rendered["buttons"]["requests"]:
        assert "sender_id" not in request["body"]
    assert rendered["safeUrl"] == [None, None, "http://127.0.0.1:8080/static/bag.png", "https://example.org/bag.jpg"]


def test_stock_badges_have_words_not_only_colour(rendered: dict[str, Any]) -> None:
    assert rendered["stockBadge"] == [
        {"level": "low", "label": "Only 3 left"},
        {"level": "out", "label": "Out of stock"},
        None,
        None,
    ]


def test_a_search_turn_renders_cards_as_text(rendered: dict[str, Any]) -> None:
    turn = rendered["search"]
    assert (turn["shiftEnterPrevented"], turn["requestsAfterShiftEnter"], turn["enterPrevented"]) == (False, 0, True)
    [request] = turn["requests"]
    assert request["url"] == "/api/chat"
    assert request["body"] == {"text": "red lunch bag"}
    assert request["headers"]["Content-Type"] == "application/json"
    assert (request["typingShown"], request["sendDisabled"]) == (True, True)
    assert (turn["typingHidden"], turn["sendDisabled"], turn["input"], turn["maxLength"]) == (True, False, "", 250)
    assert turn["entries"][0] == {"className": "msg msg-user", "text": "You said: red lunch bag"}
    assert turn["entries"][1]["text"] == f"Assistant: Here is what I found for “{EVIL}”:"
    assert turn["cards"] == [
        {
            "title": "Lunch Bag Red Retrospot",
            "price": "£1.65",
            "sku": "SKU 20725",
            "stock": "!Only 3 left",
            "stockClass": "stock stock-low",
        },
        {"title": EVIL, "price": "£12.50", "sku": f"SKU {EVIL}", "stock": f"✕{EVIL}", "stockClass": "stock stock-out"},
    ]
    assert turn["images"] == ["http://127.0.0.1:8080/static/bag.png"]  # the javascript: URL was dropped
    assert turn["notices"] == []


def test_an_error_answer_is_a_notice_and_the_text_is_kept(rendered: dict[str, Any]) -> None:
    turn = rendered["unavailable"]
    assert turn["notices"] == ["Notice: The assistant is starting up."]
    assert turn["input"] == "red lunch bag"
    assert "msg-failed" in turn["entries"][0]["className"]
    assert (turn["typingHidden"], turn["sendDisabled"]) == (True, False)

    down = rendered["networkDown"]
    assert [n.split(": ", 1)[1] for n in down["notices"]] == [
        "The shop assistant could not be reached. Check your connection and try again.",
        "The assistant could not answer (HTTP 502). Please try again.",
    ]
    assert down["input"] == "second try"


def test_buttons_are_quick_replies_that_send_their_payload(rendered: dict[str, Any]) -> None:
    turn = rendered["buttons"]
    assert turn["quickReplies"] == [{"text": "Yes please", "type": "button"}, {"text": EVIL, "type": "button"}]
    assert [r["body"]["text"] for r in turn["requests"]] == ["buy it", "/affirm"]
    assert turn["entries"][2]["text"] == "You said: Yes please"
    assert turn["entries"][3]["text"] == "Assistant: Done."


def test_blank_input_is_not_sent(rendered: dict[str, Any]) -> None:
    assert rendered["blank"]["requests"] == []
    assert rendered["blank"]["entries"] == []


def test_a_reload_shows_the_history_then_live_staff_replies(rendered: dict[str, Any]) -> None:
    before = rendered["reload"]["afterHistory"]
    assert before["gets"] == ["/api/history"]
    assert [e["className"] for e in before["entries"]] == [
        "msg msg-user",
        "msg msg-user",
        "msg msg-user",
        "msg msg-bot",
        "status status-taken",
        "msg msg-agent",
    ]
    assert before["entries"][0]["text"] == "You said: red lunch bag"
    assert before["userImages"] == ["/api/uploads/0123456789abcdef0123456789abcdef"]  # the javascript: one is not
    assert before["entries"][2]["text"] == "You said: Photo"
    assert before["cards"][0]["stock"] == "✓In stock"
    assert before["entries"][5]["text"] == f"Staff reply from Alex (shop staff):{EVIL}"
    assert before["statusLine"] == {"text": "A member of staff has joined the chat.", "hidden": False}

    live = rendered["reload"]["live"]
    assert rendered["reload"]["streamUrl"] == "/api/events"
    assert live["entries"][6] == {
        "className": "msg msg-agent",
        "text": f"Staff reply from {EVIL} (shop staff):Hello from Alex",
    }
    assert live["entries"][7] == {"className": "status status-bot", "text": "You're back with the assistant."}
    assert live["entries"][8]["text"] == "Assistant: Good news: back in stock."
    assert live["statusLine"] == {"text": "", "hidden": True}
    assert live["requests"] == []


def test_without_history_or_event_source_the_chat_still_works(rendered: dict[str, Any]) -> None:
    turn = rendered["noHistory"]
    assert turn["notices"] == ["Notice: Your earlier messages could not be loaded just now."]
    assert turn["entries"][-1]["text"] == "Assistant: Hi!"
    assert turn["intervals"] == [30000]  # notices polled every 30 s
    assert turn["stream"] is None
