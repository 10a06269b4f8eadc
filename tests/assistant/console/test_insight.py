"""Insight figures from a real tracker store and catalog, checked against counts made by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, text
from sqlalchemy.pool import NullPool

from assistant.console.insight import INSIGHT_INDEX, Insight
from catalog.db import make_engine
from catalog.ingest import import_online_retail
from catalog.inventory import StockLevel, StockSource, load_stock
from catalog.migrate import upgrade
from catalog.models import ConversationRow, DemandForecastRow
from catalog.stock import StockService
from tests.assistant.console.conftest import add_event, add_turn, create_tracker_schema, tracker_engine
from tests.catalog.conftest import write_tiny_store

TODAY = date(2026, 11, 30)


def at(day: date, hour: int = 12) -> float:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp()


def conversation(engine: Engine, sid: str, started: date, last: date, turns: int, sentiment_sum: float) -> None:
    with engine.begin() as conn:
        conn.execute(insert(ConversationRow).values(
            sender_id=sid, channel="rest", customer_id=None,
            started_at=datetime.combine(started, datetime.min.time()) + timedelta(hours=9),
            last_at=datetime.combine(last, datetime.min.time()) + timedelta(hours=10),
            user_turns=turns, negative_turns=0, sentiment_sum=sentiment_sum, fallbacks=0, handoff=False,
            zero_result_searches=0, last_event_id=0, search_text="",
        ))  # fmt: skip


@pytest.fixture
def insight(catalog_engine: Engine, tracker_url: str) -> Iterator[Insight]:
    figures = Insight(catalog_engine, tracker_url, today=lambda: TODAY, cache_s=0, stock_cache_s=0)
    yield figures
    figures.close()


def test_empty_stores_give_empty_or_zero_series(insight: Insight) -> None:
    assert insight.conversations_per_day(7) == [(TODAY - timedelta(days=i), 0) for i in range(6, -1, -1)]
    assert insight.intent_mix() == []
    assert insight.zero_result_searches() == []
    assert all(v is None for _, v in insight.fallback_rate_per_day(7))
    assert all(v is None for _, v in insight.sentiment_per_day(7))
    with pytest.raises(ValueError, match="days"):
        insight.conversations_per_day(0)


def test_tracker_store_without_events_table(catalog_engine: Engine, tmp_path: Path) -> None:
    figures = Insight(catalog_engine, f"sqlite:///{tmp_path / 'fresh.db'}", today=lambda: TODAY)
    try:
        assert figures.intent_mix() == [] and figures.zero_result_searches() == []
    finally:
        figures.close()


def test_conversations_and_sentiment_per_day_from_the_index(insight: Insight, catalog_engine: Engine) -> None:
    day = TODAY - timedelta(days=2)
    conversation(catalog_engine, "a", day, day, 2, 1.2)
    conversation(catalog_engine, "b", day, TODAY, 3, -1.5)
    conversation(catalog_engine, "c", TODAY, TODAY, 1, 0.3)
    conversation(catalog_engine, "old", TODAY - timedelta(days=40), TODAY - timedelta(days=40), 5, 5.0)
    per_day = dict(insight.conversations_per_day(3))
    assert per_day == {day: 2, day + timedelta(days=1): 0, TODAY: 1}
    sentiment = dict(insight.sentiment_per_day(3))
    assert sentiment[day] == pytest.approx(0.6)
    assert sentiment[day + timedelta(days=1)] is None
    assert sentiment[TODAY] == pytest.approx((-1.5 + 0.3) / 4)


def test_intent_mix_and_fallback_rate_from_the_tracker(insight: Insight, tracker_url: str) -> None:
    yesterday = TODAY - timedelta(days=1)
    for i in range(3):
        add_turn(tracker_url, f"s{i}", "red lunch bag", "search_products", at=at(TODAY, 10 + i))
    add_turn(tracker_url, "s0", "hi", "greet", at=at(TODAY, 15))
    add_turn(tracker_url, "s1", "blorp", "nlu_fallback", action="action_fallback", at=at(TODAY, 16))
    add_turn(tracker_url, "s2", "hmm", "chitchat", action="action_default_fallback", at=at(yesterday, 9))
    add_turn(tracker_url, "s2", "hello", "greet", at=at(yesterday, 10))
    add_turn(tracker_url, "s9", "way back", "greet", at=at(TODAY - timedelta(days=60)))
    mix = insight.intent_mix(days=30)
    assert mix == [("search_products", 3), ("greet", 2), ("chitchat", 1), ("nlu_fallback", 1)]
    assert insight.intent_mix(days=30, top=2) == [("search_products", 3), ("other", 4)]
    rates = dict(insight.fallback_rate_per_day(days=3))
    assert rates[TODAY] == pytest.approx(1 / 5)
    assert rates[yesterday] == pytest.approx(1 / 2)
    assert rates[TODAY - timedelta(days=2)] is None
    with tracker_engine(tracker_url).connect() as conn:  # the insight index was added to Rasa's table
        names = [r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'"))]
    assert INSIGHT_INDEX in names


def test_zero_result_searches_use_the_query_of_the_same_turn(insight: Insight, tracker_url: str) -> None:
    def search(sid: str, words: str, count: float, hour: int) -> None:
        add_turn(tracker_url, sid, f"do you have {words}", "search_products", action="action_search_products",
                 slots={"last_query": words, "search_filters": {}, "search_result_count": count},
                 at=at(TODAY, hour))  # fmt: skip

    search("a", "Unicorn   Lamp", 0.0, 9)
    search("a", "lunch bag", 5.0, 10)
    search("b", "unicorn lamp", 0.0, 11)
    search("b", "purple kettle", 0.0, 12)
    search("c", "lunch bag", 5.0, 13)
    search("c", "<script>x</script>", 0.0, 14)
    add_event(tracker_url, "d", {"event": "slot", "name": "search_result_count", "value": 0.0, "timestamp": at(TODAY)})
    assert insight.zero_result_searches() == [
        ("unicorn lamp", 2),
        ("(query not recorded)", 1),
        ("<script>x</script>", 1),
        ("purple kettle", 1),
    ]
    assert insight.zero_result_searches(top=1) == [("unicorn lamp", 2)]


def test_products_at_risk_match_the_stock_service(catalog_engine: Engine, tracker_url: str, tmp_path: Path) -> None:
    figures = Insight(catalog_engine, tracker_url, today=lambda: TODAY, stock_cache_s=0)
    try:
        assert figures.products_at_risk() == []  # no products, no stock: nothing at risk, no error
        write_tiny_store(tmp_path / "store")
        import_online_retail(catalog_engine, tmp_path / "store", progress=False)
        load_stock(catalog_engine, [StockLevel("85123A", 3, 1, 14), StockLevel("20725", 500, 6, 7)], [],
                   source=StockSource.SIMULATED, as_of=date(2010, 12, 5), actor="tester", reference="test")  # fmt: skip
        made = datetime(2010, 12, 5)
        with catalog_engine.begin() as conn:
            for i in range(28):
                for sku, mean in (("85123A", 4.0), ("20725", 1.0)):
                    conn.execute(insert(DemandForecastRow).values(
                        sku=sku, day=date(2010, 12, 5) + timedelta(days=i), mean=mean, lo80=0.0, hi80=mean * 2,
                        dispersion=None, model="test", made_at=made,
                    ))  # fmt: skip
        risky = figures.products_at_risk()
        expected = StockService(catalog_engine).at_risk(10)
        assert [r.sku for r in risky] == [s.sku for s in expected] == ["85123A"]
        assert risky[0].title == expected[0].title and risky[0].on_hand == 3
        assert risky[0].sellout_probability == pytest.approx(expected[0].sellout_probability or 0.0)
        assert risky[0].sellout_probability > 0.5
    finally:
        figures.close()


def test_figures_are_reused_for_a_while(catalog_engine: Engine, tracker_url: str) -> None:
    figures = Insight(catalog_engine, tracker_url, today=lambda: TODAY, cache_s=60)
    try:
        add_turn(tracker_url, "a", "hi", "greet", at=at(TODAY))
        assert figures.intent_mix() == [("greet", 1)]
        add_turn(tracker_url, "a", "hi again", "greet", at=at(TODAY, 13))
        assert figures.intent_mix() == [("greet", 1)]  # within a minute: the same answer, no query
        assert figures.intent_mix(days=7) == [("greet", 2)]  # other arguments: computed afresh
    finally:
        figures.close()


@pytest.mark.postgres
def test_the_same_figures_on_postgresql(postgres_url: str) -> None:
    """Day buckets and date() differ between dialects: the scaled topology must give the same numbers."""
    catalog = make_engine(postgres_url, poolclass=NullPool)
    upgrade(catalog)
    create_tracker_schema(postgres_url)
    figures = Insight(catalog, postgres_url, today=lambda: TODAY, cache_s=0)
    try:
        yesterday = TODAY - timedelta(days=1)
        conversation(catalog, "a", yesterday, TODAY, 2, 1.0)
        conversation(catalog, "b", TODAY, TODAY, 2, -0.5)
        add_turn(postgres_url, "a", "red bag", "search_products", at=at(yesterday, 23),
                 slots={"last_query": "red bag", "search_result_count": 0.0})  # fmt: skip
        add_turn(postgres_url, "a", "blorp", "nlu_fallback", action="action_fallback", at=at(TODAY, 0))
        add_turn(postgres_url, "b", "hi", "greet", at=at(TODAY, 1))
        assert dict(figures.conversations_per_day(2)) == {yesterday: 1, TODAY: 1}
        assert dict(figures.sentiment_per_day(2)) == {yesterday: None, TODAY: pytest.approx(0.5 / 4)}
        assert figures.intent_mix() == [("greet", 1), ("nlu_fallback", 1), ("search_products", 1)]
        assert dict(figures.fallback_rate_per_day(2)) == {yesterday: 0.0, TODAY: pytest.approx(0.5)}
        assert figures.zero_result_searches() == [("red bag", 1)]
        with catalog.connect() as conn:  # built CONCURRENTLY, so Rasa's writes were never blocked
            found = conn.execute(text("SELECT indexname FROM pg_indexes WHERE indexname = :n"), {"n": INSIGHT_INDEX})
            assert found.scalar() == INSIGHT_INDEX
    finally:
        figures.close()
        tracker_engine(postgres_url).dispose()
        catalog.dispose()
