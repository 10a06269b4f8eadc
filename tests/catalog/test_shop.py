"""Baskets, checkout, orders, returns and handoffs over the tiny store (real SQLite, real migrations)."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from catalog.ingest import import_online_retail
from catalog.inventory import Replenishment, StockLevel, StockSource, load_stock
from catalog.models import CartItemRow, ReturnRequestRow, StockLevelRow, StockMovementRow
from catalog.shop import (
    FIRST_SHOP_ORDER,
    EmptyCart,
    HandoffReason,
    InvalidRequest,
    ItemsUnavailable,
    NotInCatalog,
    OrderNotChangeable,
    OrderStatus,
    ShopService,
    UnknownOrder,
)

HEART, BAG, LANTERN = "85123A", "20725", "71053"
ME, OTHER = "shopper-a", "shopper-b"


@pytest.fixture
def engine(sqlite_engine: Engine, tiny_store: Path) -> Engine:
    """The tiny store with 10 hearts, no bags, 3 lanterns."""
    import_online_retail(sqlite_engine, tiny_store, progress=False)
    load_stock(
        sqlite_engine,
        [StockLevel(HEART, 10, 4, 14), StockLevel(BAG, 0, 6, 7), StockLevel(LANTERN, 3, 1, 7)],
        [Replenishment(BAG, 48, date(2010, 12, 20))],
        source=StockSource.FILES,
        as_of=date(2010, 12, 5),
        actor="tester",
        reference="test",
    )
    return sqlite_engine


@pytest.fixture
def shop(engine: Engine) -> ShopService:
    ticks = iter(range(10_000))
    clock = lambda: datetime(2010, 12, 6, 12, 0) + timedelta(seconds=next(ticks))  # noqa: E731
    return ShopService(engine, clock=clock, today=lambda: date(2010, 12, 20))


def on_hand(engine: Engine, sku: str) -> int | None:
    with engine.connect() as conn:
        return conn.scalar(select(StockLevelRow.on_hand).where(StockLevelRow.sku == sku))


def test_a_basket_adds_up_and_belongs_to_its_conversation(shop: ShopService) -> None:
    shop.add_to_cart(ME, HEART, 2)
    cart = shop.add_to_cart(ME, HEART, 1)
    cart = shop.add_to_cart(ME, LANTERN, 1)
    assert [(line.sku, line.quantity) for line in cart.lines] == [(HEART, 3), (LANTERN, 1)]
    assert cart.units == 4 and cart.total == Decimal("2.55") * 3 + Decimal("3.39")
    assert shop.cart(OTHER).lines == ()


def test_removing_part_or_all_of_a_line(shop: ShopService) -> None:
    shop.add_to_cart(ME, HEART, 5)
    assert shop.remove_from_cart(ME, HEART, 2).lines[0].quantity == 3
    assert shop.remove_from_cart(ME, HEART).lines == ()
    with pytest.raises(InvalidRequest, match="not in your basket"):
        shop.remove_from_cart(ME, HEART)


@pytest.mark.parametrize("bad", [0, -1, 1000, 2.5, True, "3"])
def test_absurd_quantities_are_refused(shop: ShopService, bad: object) -> None:
    with pytest.raises(InvalidRequest, match="1 to 999"):
        shop.add_to_cart(ME, HEART, bad)  # type: ignore[arg-type]
    assert shop.cart(ME).lines == ()


def test_unknown_and_sql_looking_items_are_refused(shop: ShopService, engine: Engine) -> None:
    for sku in ["99999", "'; DROP TABLE cart_items; --"]:
        with pytest.raises(NotInCatalog):
            shop.add_to_cart(ME, sku, 1)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(CartItemRow)) == 0


def test_checkout_places_an_order_takes_stock_and_empties_the_basket(shop: ShopService, engine: Engine) -> None:
    shop.add_to_cart(ME, HEART, 4)
    shop.add_to_cart(ME, LANTERN, 1)
    order = shop.checkout(ME)
    assert order.order_no == str(FIRST_SHOP_ORDER) and order.status is OrderStatus.PLACED and order.items == 5
    assert on_hand(engine, HEART) == 6 and on_hand(engine, LANTERN) == 2
    assert shop.cart(ME).lines == ()
    shop.add_to_cart(ME, HEART, 1)
    assert shop.checkout(ME).order_no == str(FIRST_SHOP_ORDER + 1)
    with engine.connect() as conn:
        refs = conn.scalars(select(StockMovementRow.reference).where(StockMovementRow.reason == "order")).all()
    assert sorted(str(r) for r in refs) == [str(FIRST_SHOP_ORDER), str(FIRST_SHOP_ORDER), str(FIRST_SHOP_ORDER + 1)]


def test_checkout_short_of_stock_changes_nothing(shop: ShopService, engine: Engine) -> None:
    shop.add_to_cart(ME, HEART, 2)
    shop.add_to_cart(ME, BAG, 1)
    with pytest.raises(ItemsUnavailable) as caught:
        shop.checkout(ME)
    assert [(sku, wanted, available) for sku, _, wanted, available in caught.value.short] == [(BAG, 1, 0)]
    assert on_hand(engine, HEART) == 10 and len(shop.cart(ME).lines) == 2


def test_an_empty_basket_cannot_check_out(shop: ShopService) -> None:
    with pytest.raises(EmptyCart):
        shop.checkout(ME)


def test_concurrent_checkouts_never_oversell(engine: Engine) -> None:
    shops = [ShopService(engine) for _ in range(4)]
    for n, shop in enumerate(shops):
        shop.add_to_cart(f"s{n}", LANTERN, 1)
    results: list[str] = []

    def buy(n: int) -> None:
        try:
            results.append(shops[n].checkout(f"s{n}").order_no)
        except ItemsUnavailable:
            results.append("short")
        except Exception as exc:
            results.append(f"error: {exc}")

    threads = [threading.Thread(target=buy, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("short") == 1 and len({r for r in results if r != "short"}) == 3, results
    assert on_hand(engine, LANTERN) == 0


def test_orders_are_private_to_their_conversation_or_verified_customer(shop: ShopService) -> None:
    shop.add_to_cart(ME, HEART, 1)
    placed = shop.checkout(ME, customer_id="17850")
    assert shop.order(placed.order_no, ME).placed_here
    with pytest.raises(UnknownOrder):
        shop.order(placed.order_no, OTHER)
    assert shop.order(placed.order_no, OTHER, customer_id="17850").order_no == placed.order_no
    # the store's invoice history: only for the customer it belongs to
    invoice = shop.order("536366", OTHER, customer_id="17850")
    assert invoice.status is OrderStatus.DELIVERED and invoice.delivered_on == date(2010, 12, 4)
    assert invoice.total == Decimal("11.10") and not invoice.placed_here
    with pytest.raises(UnknownOrder, match="customer number"):
        shop.order("536366", OTHER)
    with pytest.raises(UnknownOrder):
        shop.order("536366", OTHER, customer_id="12346")
    with pytest.raises(UnknownOrder, match="6 digits"):
        shop.order("1 OR 1=1", ME)


def test_verifying_a_customer_needs_one_of_their_orders(shop: ShopService) -> None:
    assert shop.verify_customer("17850", "536366")
    assert not shop.verify_customer("17850", "536368")  # someone else's order
    assert not shop.verify_customer("99999", "536366")
    assert not shop.verify_customer("17850' OR '1'='1", "536366")


def test_latest_order_prefers_orders_placed_here(shop: ShopService) -> None:
    assert shop.latest_order(ME) is None
    latest = shop.latest_order(ME, customer_id="12346")
    assert latest is not None and latest.order_no == "536370"
    shop.add_to_cart(ME, HEART, 1)
    placed = shop.checkout(ME)
    latest = shop.latest_order(ME)
    assert latest is not None and latest.order_no == placed.order_no


def test_cancelling_puts_the_stock_back_once(shop: ShopService, engine: Engine) -> None:
    shop.add_to_cart(ME, HEART, 3)
    placed = shop.checkout(ME)
    assert on_hand(engine, HEART) == 7
    assert shop.cancel_order(placed.order_no, ME).status is OrderStatus.CANCELLED
    assert on_hand(engine, HEART) == 10
    with pytest.raises(OrderNotChangeable, match="already cancelled"):
        shop.cancel_order(placed.order_no, ME)
    with pytest.raises(OrderNotChangeable, match="delivered"):
        shop.cancel_order("536366", ME, customer_id="17850")


def test_address_changes_only_before_dispatch(shop: ShopService) -> None:
    shop.add_to_cart(ME, HEART, 1)
    placed = shop.checkout(ME)
    changed = shop.change_address(placed.order_no, ME, None, "  12 High Street,\n Leeds LS1 4AB ")
    assert changed.delivery_address == "12 High Street, Leeds LS1 4AB"
    with pytest.raises(InvalidRequest):
        shop.change_address(placed.order_no, ME, None, "x")
    with pytest.raises(UnknownOrder):
        shop.change_address(placed.order_no, OTHER, None, "12 High Street, Leeds")


def test_returns_follow_the_policy(shop: ShopService, engine: Engine) -> None:
    request = shop.request_return("536370", ME, "12346", "arrived broken", today=date(2010, 12, 20))
    assert request.order_no == "536370" and request.reason == "arrived broken"
    with pytest.raises(OrderNotChangeable, match="returns window"):
        shop.request_return("536368", ME, "12346", "too late", today=date(2011, 3, 1))
    shop.add_to_cart(ME, HEART, 1)
    placed = shop.checkout(ME)
    with pytest.raises(OrderNotChangeable, match="cancel it instead"):
        shop.request_return(placed.order_no, ME, None, "changed my mind", today=date(2010, 12, 7))
    with pytest.raises(UnknownOrder):
        shop.request_return("536370", OTHER, None, "not mine", today=date(2010, 12, 20))
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(ReturnRequestRow)) == 1


def test_a_handoff_is_requested_once_per_conversation(shop: ShopService) -> None:
    first = shop.request_handoff(ME, "rest", HandoffReason.ASKED)
    again = shop.request_handoff(ME, "rest", HandoffReason.COMPLAINT)
    assert not first.already_requested and again.already_requested and again.id == first.id
    assert shop.handoff_status(ME) == "waiting" and shop.handoff_status(OTHER) is None


def test_an_invoice_not_yet_delivered_on_the_stores_day_is_on_its_way(engine: Engine) -> None:
    shop = ShopService(engine, today=lambda: date(2010, 12, 5))
    order = shop.order("536370", ME, customer_id="12346")  # invoiced 4 Dec: arrives 7 Dec
    assert order.status is OrderStatus.DISPATCHED and order.delivered_on is None
    with pytest.raises(OrderNotChangeable, match="on its way"):
        shop.request_return("536370", ME, "12346", "changed my mind", today=date(2010, 12, 5))
