"""Back-in-stock notices: due once the product is back, handed out once, only to the shopper who asked."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine

from assistant.gateway import GatewayConfig, create_app
from assistant.gateway.identity import COOKIE_NAME, ShopperCookies
from assistant.gateway.notices import RestockNotices
from catalog.db import make_engine
from catalog.ingest import import_online_retail
from catalog.inventory import StockLevel, StockSource, adjust_stock, load_stock, subscribe
from catalog.migrate import upgrade
from tests.catalog.conftest import write_tiny_store


def tiny_shop(tmp_path: Path) -> Engine:
    write_tiny_store(tmp_path / "store")
    engine = make_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    upgrade(engine)
    import_online_retail(engine, tmp_path / "store", progress=False)
    load_stock(engine, [StockLevel("85123A", 0, 4, 7)], [], source=StockSource.FILES, as_of=date(2010, 12, 9),
               actor="tester", reference="test")  # fmt: skip
    return engine


def _cookies(config: GatewayConfig) -> ShopperCookies:
    return ShopperCookies(config.key("shopper-cookie"))


def test_a_notice_arrives_once_when_the_product_is_back(tmp_path: Path) -> None:
    engine = tiny_shop(tmp_path)
    subscribe(engine, "me", "rest", "85123A")
    subscribe(engine, "someone-else", "rest", "85123A")
    subscribe(engine, "me-on-telegram", "telegram", "85123A")
    notices = RestockNotices(engine)
    assert notices.take("me") == []  # still out of stock
    adjust_stock(engine, "85123A", 5, "staff", "delivery arrived")
    [item] = notices.take("me")
    assert item["type"] == "text" and "White Hanging Heart T-Light Holder (item 85123A) is back" in item["text"]
    assert notices.take("me") == []  # exactly once
    assert len(notices.take("someone-else")) == 1
    assert notices.take("me-on-telegram") == []  # other channels are not the web chat's to deliver


def test_an_unreachable_database_means_no_notices_not_an_error(tmp_path: Path) -> None:
    broken = RestockNotices.for_url(f"sqlite:///{tmp_path / 'missing' / 'nope.db'}")
    assert broken.take("me") == []


async def test_the_gateway_hands_out_notices_before_the_answer_and_on_request(
    tmp_path: Path, config: GatewayConfig
) -> None:
    engine = tiny_shop(tmp_path)
    gateway = TestClient(TestServer(create_app(config, notices=RestockNotices(engine))))
    await gateway.start_server()
    try:
        assert (await gateway.get("/api/notices", params={"sender_id": "../etc"})).status == 400
        await gateway.get("/")  # the page gives this browser its identity
        shopper_1 = _cookies(config).sender_id(
            gateway.session.cookie_jar.filter_cookies(gateway.make_url("/"))[COOKIE_NAME].value
        )
        assert shopper_1 is not None
        subscribe(engine, shopper_1, "rest", "85123A")
        adjust_stock(engine, "85123A", 5, "staff", "delivery arrived")
        response = await gateway.get("/api/notices")
        [item] = (await response.json())["messages"]
        assert response.status == 200 and "is back in stock" in item["text"]
        again = await gateway.get("/api/notices")
        assert (await again.json())["messages"] == []
        # the other shopper gets theirs first thing in the next answer, then the assistant's reply
        gateway.session.cookie_jar.clear()
        await gateway.get("/")
        shopper_2 = _cookies(config).sender_id(
            gateway.session.cookie_jar.filter_cookies(gateway.make_url("/"))[COOKIE_NAME].value
        )
        assert shopper_2 is not None and shopper_2 != shopper_1
        subscribe(engine, shopper_2, "rest", "85123A")
        chat = await gateway.post("/api/chat", json={"text": "hello"})
        texts = [m["text"] for m in (await chat.json())["messages"]]
        assert "is back in stock" in texts[0] and texts[1] == "Hi there!"
    finally:
        await gateway.close()
