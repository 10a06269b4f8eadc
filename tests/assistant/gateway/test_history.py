"""`GET /api/history`: the shopper's conversation rebuilt from Rasa's tracker events, for that shopper only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.gateway.history import history
from tests.assistant.gateway.conftest import GatewayClient, MakeGateway
from tests.assistant.gateway.stubs import RASA_TOKEN, RasaStub, Reply
from tests.retrieval.vision import images

IMAGE_ID = "0123456789abcdef0123456789abcdef"
CARDS = {"type": "product_cards", "products": [{"sku": "20725", "title": "LUNCH BAG", "price": "1.65"}]}

# Events as Rasa 3.6 stores them (abridged): session start, a search, a button click, a photo, a handoff.
EVENTS: list[dict[str, Any]] = [
    {"event": "action", "name": "action_session_start"},
    {"event": "session_started"},
    {"event": "action", "name": "action_listen"},
    {"event": "user", "text": "red lunch bag", "parse_data": {"intent": {"name": "search_product"}}},
    {"event": "action", "name": "action_search_products", "policy": "RulePolicy"},
    {"event": "bot", "text": "Here is what I found:", "data": {"custom": CARDS}, "metadata": {}},
    {
        "event": "bot",
        "text": "Shall I add it?",
        "data": {"buttons": [{"title": "Yes please", "payload": "/affirm"}]},
        "metadata": {"utter_action": "utter_ask_add"},
    },
    {"event": "user", "text": "/affirm", "parse_data": {"intent": {"name": "affirm"}}},
    {"event": "user", "text": f'/share_photo{{"image_id": "{IMAGE_ID}"}}'},
    {"event": "user", "text": '/share_photo{"image_id": "../../etc/passwd"}'},
    {"event": "slot", "name": "search_result_count", "value": 3.0},
    {"event": "pause"},
    {"event": "slot", "name": "agent_message", "value": "Hello from Alex"},
    {"event": "action", "name": "utter_agent_message", "policy": "staff:Alex"},
    {"event": "bot", "text": "Hello from Alex", "data": {}, "metadata": {"utter_action": "utter_agent_message"}},
    {"event": "user", "text": "<b>thanks</b>"},
    {"event": "resume"},
    {"event": "bot", "text": "Anything else?", "data": {}, "metadata": {}},
]


def test_history_items_from_tracker_events() -> None:
    past = history({"events": EVENTS})
    assert past.handoff == "bot"
    assert past.items == [
        {"type": "text", "text": "red lunch bag", "from": "user"},
        {"type": "text", "text": "Here is what I found:", "from": "bot"},
        {**CARDS, "from": "bot"},
        {
            "type": "buttons",
            "text": "Shall I add it?",
            "buttons": [{"title": "Yes please", "payload": "/affirm"}],
            "from": "bot",
        },
        {"type": "text", "text": "Yes please", "from": "user"},  # the button's title, not "/affirm"
        {"type": "photo", "url": f"/api/uploads/{IMAGE_ID}", "from": "user"},
        {"type": "text", "text": "share photo", "from": "user"},  # a malformed id is never turned into a URL
        {"type": "status", "handoff": "taken", "agent": None, "from": "system"},
        {"type": "text", "text": "Hello from Alex", "from": "agent", "agent": "Alex"},
        {"type": "text", "text": "<b>thanks</b>", "from": "user"},
        {"type": "status", "handoff": "bot", "agent": None, "from": "system"},
        {"type": "text", "text": "Anything else?", "from": "bot"},
    ]


def test_a_restart_clears_and_a_pause_holds() -> None:
    events = [*EVENTS, {"event": "restart"}, {"event": "user", "text": "hi"}, {"event": "pause"}]
    past = history({"events": events})
    assert past.items == [
        {"type": "text", "text": "hi", "from": "user"},
        {"type": "status", "handoff": "taken", "agent": None, "from": "system"},
    ]
    assert past.handoff == "taken"


def test_odd_trackers_give_empty_histories_and_long_ones_are_cut() -> None:
    for tracker in ({}, {"events": None}, {"events": ["junk", 3, {"event": "user"}]}):
        assert history(tracker).items == []
    long = [{"event": "user", "text": f"m{i}"} for i in range(500)]
    items = history({"events": long}, max_items=300).items
    assert len(items) == 300 and items[-1]["text"] == "m499"


async def test_the_endpoint_reads_this_shoppers_tracker_with_the_token(gateway: GatewayClient, rasa: RasaStub) -> None:
    first = await gateway.get("/api/history")
    assert await first.json() == {"messages": [], "handoff": "bot"}
    assert rasa.api_calls == []  # a new shopper has no history: Rasa is not asked
    rasa.script(Reply(json=[{"recipient_id": "x", "text": "Hi <there>!"}]))
    await gateway.post("/api/chat", json={"text": "hello"})
    body = await (await gateway.get("/api/history")).json()
    assert body == {
        "messages": [
            {"type": "text", "text": "hello", "from": "user"},
            {"type": "text", "text": "Hi <there>!", "from": "bot"},
        ],
        "handoff": "bot",
    }
    [(method, path, query, _)] = rasa.api_calls
    sender = rasa.received[0]["sender"]
    assert (method, path) == ("GET", f"/conversations/{sender}/tracker")
    assert query == {"include_events": "ALL", "token": RASA_TOKEN}


async def test_another_browser_sees_none_of_it(make_gateway: MakeGateway, rasa: RasaStub) -> None:
    mine, theirs = await make_gateway(), await make_gateway()
    await mine.post("/api/chat", json={"text": "my address is 1 Main St"})
    await theirs.get("/")
    body = await (await theirs.get("/api/history")).json()
    assert body["messages"] == []
    assert "Main St" not in str(body)


async def test_history_after_a_restart_of_rasa_or_gateway_errors(gateway: GatewayClient, rasa: RasaStub) -> None:
    await gateway.post("/api/chat", json={"text": "hello"})
    rasa.api_reply = Reply(json={"error": "boom"}, status=500)
    response = await gateway.get("/api/history")
    assert response.status == 503 and (await response.json())["error"]["code"] == "assistant_unavailable"
    rasa.api_reply = Reply(json={"reason": "NotAuthenticated"}, status=401)
    response = await gateway.get("/api/history")
    assert response.status == 502 and (await response.json())["error"]["code"] == "assistant_bad_reply"


async def test_photos_are_served_to_their_owner_only(make_gateway: MakeGateway, rasa: RasaStub, tmp_path: Path) -> None:
    import aiohttp

    owner = await make_gateway(uploads_dir=tmp_path / "uploads")
    data = aiohttp.FormData(default_to_multipart=True)
    data.add_field("photo", images.coffee_jpeg(), filename="mug.jpg", content_type="image/jpeg")
    image_id = (await (await owner.post("/api/upload", data=data)).json())["image_id"]
    body = await (await owner.get("/api/history")).json()
    assert {"type": "photo", "url": f"/api/uploads/{image_id}", "from": "user"} in body["messages"]

    photo = await owner.get(f"/api/uploads/{image_id}")
    assert photo.status == 200
    assert photo.headers["Content-Type"] == "image/jpeg" and photo.headers["X-Content-Type-Options"] == "nosniff"
    assert (await photo.read()).startswith(b"\xff\xd8\xff")

    owner.session.cookie_jar.clear()  # now someone else
    assert (await owner.get(f"/api/uploads/{image_id}")).status == 404
    for bad in ("0" * 32, "../../etc/passwd", "%2e%2e%2fsecret.key", "x" * 300):
        assert (await owner.get(f"/api/uploads/{bad}")).status == 404, bad
