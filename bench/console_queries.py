"""Staff console queries at 1k and 100k conversations: are the list, search, filters, transcript, sync and insight fast?

A synthetic tracker store shaped exactly like Rasa 3.6's `SQLTrackerStore` (the `events` table, event JSON as
`Event.as_dict` writes it: user messages with parse data, intent ranking and sentiment, actions, slots, bot messages
with buttons and product cards, pauses and staff replies) is generated with a fixed seed: 1-3 shopper turns per
conversation, ~11 events each, so 100k conversations are ~1.1M events spread over the last 90 days. Then, for each
size, in one run:

1. sync: the console's index (`ConversationIndex.sync`) built from scratch, then after 50 new turns, then idle;
2. the conversation list (`search_conversations`, count + one page of 25): no filter, a deep page, text search
   (common word, rare word, two words, a 3-letter prefix), each filter, a combination;
3. one transcript (`TrackerReader.transcript`) of a random conversation;
4. the insight page's queries (`assistant.console.insight.Insight`, 30 days), when that module is importable.

Each figure is the median of 5 runs after a warm-up, in milliseconds; the last column is 100k / 1k (a flat ratio
means the query does not grow with the data). `--backends postgresql` runs the same on a throwaway PostgreSQL
database (catalog and tracker store) at 127.0.0.1:5432. Generated tracker stores are cached per day under
$SHOPASSIST_CACHE/console-bench/ (generating 100k takes about a minute on 2 shared cores).

    PYTHONPATH=. .venv-app/bin/python bench/console_queries.py [--sizes 1000,100000] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import heapq
import io
import itertools
import json
import os
import random
import secrets
import shutil
import sqlite3
import statistics
import string
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text

from assistant.console.index import ConversationIndex
from assistant.console.queries import ConversationQuery, search_conversations
from assistant.console.transcripts import TrackerReader
from catalog.db import make_engine
from catalog.migrate import upgrade

GENERATOR_VERSION = 2
SEED = 20261130
DAYS = 90
RUNS = 5
POSTGRES_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
TRACKER_DDL = (
    "CREATE TABLE events (id INTEGER NOT NULL, sender_id VARCHAR(255) NOT NULL, type_name VARCHAR(255) NOT NULL, "
    "timestamp FLOAT, intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT, PRIMARY KEY (id))",
    "CREATE INDEX ix_events_sender_id ON events (sender_id)",
)
"""Rasa 3.6's `SQLTrackerStore` schema (SQLite; the PostgreSQL one is the same with a sequence for `id`)."""

PRODUCTS = [
    "lunch bag", "retrospot", "t-light holder", "cake stand", "jam jar", "doormat", "candle", "bunting",
    "hot water bottle", "paper chain kit", "alarm clock", "tea set", "coat hanger", "storage tin", "gift wrap",
    "heart wreath", "lantern", "photo frame", "cushion cover", "shopping bag", "piggy bank", "teacup", "key ring",
    "wall clock", "fairy lights", "jewellery box", "recipe box", "chalkboard", "bird ornament", "snow globe",
]  # fmt: skip
COLOURS = ["red", "pink", "blue", "green", "white", "black", "vintage", "polkadot", "spotty", "union jack"]
RARE_WORDS = ["zanzibar", "quokka", "marmalade", "kaleidoscope", "xylophone"]
"""Each appears in about one conversation in a thousand: the rare-word search."""
INTENTS = [
    "search_products", "check_stock", "product_details", "add_to_cart", "order_status", "greet", "thanks",
    "delivery_options", "ask_recommendation", "complaint",
]  # fmt: skip
CHANNELS = [("rest", 0.86), ("telegram", 0.1), ("slack", 0.03), ("facebook", 0.01)]


@dataclass(frozen=True)
class Sizes:
    conversations: int
    events: int


# --- synthetic tracker store ---------------------------------------------------------------------------------------


def _ranking(rng: random.Random, intent: str, confidence: float) -> list[dict[str, Any]]:
    others = rng.sample([i for i in INTENTS if i != intent], 9)
    rest = 1.0 - confidence
    return [{"name": intent, "confidence": confidence}] + [
        {"name": name, "confidence": rest / 2 ** (k + 1)} for k, name in enumerate(others)
    ]


def _user(rng: random.Random, at: float, text_: str, intent: str, channel: str, label: str | None) -> dict[str, Any]:
    confidence = rng.uniform(0.25, 0.6) if intent == "nlu_fallback" else rng.uniform(0.7, 0.99)
    parse_data: dict[str, Any] = {
        "intent": {"name": intent, "confidence": confidence},
        "entities": [],
        "text": text_,
        "message_id": uuid.UUID(int=rng.getrandbits(128)).hex,
        "metadata": {},
        "intent_ranking": _ranking(rng, intent, confidence),
    }
    if label is not None:
        p = rng.uniform(0.55, 0.95)
        scores = {k: (p if k == label else (1 - p) / 2) for k in ("negative", "neutral", "positive")}
        parse_data["sentiment"] = {"label": label, "score": p, "scores": scores}
        parse_data["entities"].append({"entity": "sentiment", "value": label, "start": 0, "end": len(text_),
                                       "confidence": p, "extractor": "SentimentClassifier"})  # fmt: skip
    return {"event": "user", "timestamp": at, "metadata": {}, "text": text_, "parse_data": parse_data,
            "input_channel": channel, "message_id": parse_data["message_id"]}  # fmt: skip


def _action(at: float, name: str) -> dict[str, Any]:
    return {"event": "action", "timestamp": at, "name": name, "policy": "policy_1_TEDPolicy", "confidence": 0.98,
            "action_text": None, "hide_rule_turn": False}  # fmt: skip


def _bot(at: float, text_: str | None, utter: str, custom: Any = None, buttons: Any = None) -> dict[str, Any]:
    return {"event": "bot", "timestamp": at, "metadata": {"utter_action": utter}, "text": text_,
            "data": {"elements": None, "quick_replies": None, "buttons": buttons, "attachment": None, "image": None,
                     "custom": custom}}  # fmt: skip


def _cards(rng: random.Random, product: str) -> dict[str, Any]:
    return {"type": "product_cards", "products": [
        {"sku": str(rng.randint(20000, 90000)), "title": f"{rng.choice(COLOURS)} {product}".upper(),
         "price": f"{rng.uniform(0.5, 20):.2f}", "currency": "GBP", "stock": {"level": "in", "label": "In stock"}}
        for _ in range(rng.randint(1, 5))]}  # fmt: skip


def conversation(rng: random.Random, sender_id: str, start: float) -> Iterator[dict[str, Any]]:
    """One synthetic conversation's events, as Rasa stores them."""
    channel = rng.choices([c for c, _ in CHANNELS], [w for _, w in CHANNELS])[0]
    at = start
    yield _action(at, "action_session_start")
    yield {"event": "session_started", "timestamp": at}
    yield _action(at, "action_listen")
    unhappy = rng.random() < 0.12
    for turn in range(rng.choices([1, 2, 3], [0.35, 0.4, 0.25])[0]):
        at += rng.uniform(5, 90)
        product = rng.choice(PRODUCTS)
        roll = rng.random()
        label: str | None = "negative" if unhappy and turn > 0 else rng.choice(["neutral", "neutral", "positive"])
        if roll < 0.05:
            intent, words = "nlu_fallback", f"{rng.choice(string.ascii_lowercase)}qz {rng.randint(1, 99)} blorp"
        elif roll < 0.07:
            intent, words, label = "human_handoff", "/human_handoff", None
        else:
            intent = rng.choice(INTENTS)
            words = (
                f"do you have {rng.choice(COLOURS)} {product}s"
                if intent == "search_products"
                else (f"{intent.replace('_', ' ')} for the {product} please")
            )
            if rng.random() < 0.005:
                words += f" {rng.choice(RARE_WORDS)}"
        yield _user(rng, at, words, intent, channel, label)
        if intent == "nlu_fallback":
            yield _action(at + 0.3, "action_fallback")
            yield _bot(at + 0.3, "Sorry, I didn't get that. Could you rephrase?", "utter_ask_rephrase")
        elif intent == "human_handoff":
            yield _action(at + 0.3, "action_handoff")
            yield _bot(at + 0.3, "I've asked a colleague to join.", "utter_handoff")
            yield {"event": "slot", "timestamp": at + 0.3, "name": "handoff_requested", "value": True}
            if rng.random() < 0.5:
                yield {"event": "pause", "timestamp": at + 60}
                yield {"event": "slot", "timestamp": at + 61, "name": "agent_message", "value": "Hi, Sam here."}
                yield _action(at + 61, "utter_agent_message")
                yield _bot(at + 61, "Hi, Sam here.", "utter_agent_message")
                yield {"event": "resume", "timestamp": at + 300}
                at += 300
        elif intent == "search_products":
            found = 0 if rng.random() < 0.08 else rng.randint(1, 40)
            yield _action(at + 0.5, "action_search_products")
            yield {"event": "slot", "timestamp": at + 0.5, "name": "last_query", "value": words[12:]}
            yield {"event": "slot", "timestamp": at + 0.5, "name": "search_result_count", "value": float(found)}
            if found:
                yield _bot(at + 0.5, None, "utter_search_results", custom=_cards(rng, product))
            else:
                yield _bot(at + 0.5, "I couldn't find that.", "utter_no_results",
                           buttons=[{"title": "Talk to a person", "payload": "/human_handoff"}])  # fmt: skip
        else:
            yield _action(at + 0.3, f"utter_{intent}")
            yield _bot(at + 0.3, f"Here is what I know about {product}s.", f"utter_{intent}")
        if turn == 0 and rng.random() < 0.1:
            yield {
                "event": "slot",
                "timestamp": at + 0.55,
                "name": "customer_id",
                "value": str(rng.randint(12346, 18287)),
            }
        yield _action(at + 0.6, "action_listen")


def sender_id(rng: random.Random, channel_hint: float) -> str:
    if channel_hint < 0.1:
        return f"{rng.randint(10**8, 10**10)}"
    return "web-" + "".join(rng.choices(string.ascii_letters + string.digits + "-_", k=24))


def generate_rows(conversations: int, seed: int = SEED, now: float | None = None) -> Iterator[tuple[Any, ...]]:
    """(sender_id, type_name, timestamp, intent_name, action_name, data) rows in time order, as Rasa would store them:
    conversations that overlap in time interleave their events (a heap over the ones in progress)."""
    rng = random.Random(seed)
    end = now if now is not None else time.time()
    starts = sorted(end - rng.uniform(0, DAYS * 86400) for _ in range(conversations))
    heap: list[tuple[float, int, str, dict[str, Any], Iterator[dict[str, Any]]]] = []
    order = itertools.count()

    def push(sid: str, events: Iterator[dict[str, Any]]) -> None:
        event = next(events, None)
        if event is not None:
            heapq.heappush(heap, (event["timestamp"], next(order), sid, event, events))

    begun = 0
    while begun < len(starts) or heap:
        if begun < len(starts) and (not heap or starts[begun] <= heap[0][0]):
            sid = sender_id(rng, rng.random())
            push(sid, conversation(random.Random(rng.getrandbits(64)), sid, starts[begun]))
            begun += 1
            continue
        at, _, sid, event, events = heapq.heappop(heap)
        parse_data = event.get("parse_data") or {}
        yield (sid, event["event"], at, (parse_data.get("intent") or {}).get("name"), event.get("name"),
               json.dumps(event))  # fmt: skip
        push(sid, events)


def generate_sqlite(path: Path, conversations: int, seed: int = SEED) -> Sizes:
    """A fresh SQLite tracker store at `path` with `conversations` synthetic conversations."""
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    for statement in TRACKER_DDL:
        db.execute(statement)
    db.executemany(
        "INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, data) VALUES (?,?,?,?,?,?)",
        generate_rows(conversations, seed),
    )
    db.commit()
    events = int(db.execute("SELECT count(*) FROM events").fetchone()[0])
    db.close()
    return Sizes(conversations, events)


def generate_postgres(url: str, conversations: int, seed: int = SEED) -> Sizes:
    """The same into a PostgreSQL database at `url` (Rasa's table with a sequence), loaded with COPY."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SEQUENCE events_seq")
        conn.exec_driver_sql(
            "CREATE TABLE events (id INTEGER DEFAULT nextval('events_seq') NOT NULL, sender_id VARCHAR(255) NOT NULL,"
            " type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), action_name VARCHAR(255),"
            " data TEXT, PRIMARY KEY (id))"
        )
        conn.exec_driver_sql("CREATE INDEX ix_events_sender_id ON events (sender_id)")
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        buffer = io.StringIO()
        for row in generate_rows(conversations, seed):
            buffer.write("\t".join(_copy_field(v) for v in row) + "\n")
        buffer.seek(0)
        cursor.copy_expert(
            "COPY events (sender_id, type_name, timestamp, intent_name, action_name, data) FROM STDIN", buffer
        )
        raw.commit()
        cursor.execute("SELECT count(*) FROM events")
        (events,) = cursor.fetchone() or (0,)
        cursor.execute("ANALYZE events")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()
    return Sizes(conversations, int(events))


def _copy_field(value: Any) -> str:
    if value is None:
        return "\\N"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def cached_sqlite(conversations: int) -> tuple[Path, Sizes]:
    """A generated SQLite tracker store, cached for the day (timestamps are relative to when it was made)."""
    cache = Path(os.environ.get("SHOPASSIST_CACHE", Path.home() / ".cache" / "shopassist")) / "console-bench"
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"tracker-{conversations}-v{GENERATOR_VERSION}-{date.today():%Y%m%d}.db"
    if not path.exists():
        for old in cache.glob(f"tracker-{conversations}-v*.db"):
            old.unlink()
        started = time.perf_counter()
        partial = path.with_suffix(".partial")
        sizes = generate_sqlite(partial, conversations)
        partial.rename(path)
        print(f"  generated {sizes.events:,} events in {time.perf_counter() - started:.0f} s → {path}", flush=True)
    db = sqlite3.connect(path)
    events = int(db.execute("SELECT count(*) FROM events").fetchone()[0])
    db.close()
    return path, Sizes(conversations, events)


# --- measuring -----------------------------------------------------------------------------------------------------


def median_ms(fn: Callable[[], object], runs: int = RUNS) -> float:
    fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def list_queries(today: date) -> list[tuple[str, ConversationQuery]]:
    base = ConversationQuery()
    return [
        ("list: page 1, no filter", base),
        ("list: page 200 (offset 5,000)", replace(base, page=200)),
        ("search: common word 'bag'", replace(base, text="bag")),
        ("search: rare word 'zanzibar'", replace(base, text="zanzibar")),
        ("search: two words 'red lunch'", replace(base, text="red lunch")),
        ("search: prefix 'lun'", replace(base, text="lun")),
        ("filter: date (last 7 days)", replace(base, date_from=today - timedelta(days=7), date_to=today)),
        ("filter: channel telegram", replace(base, channel="telegram")),
        ("filter: customer 12346", replace(base, customer_id="12346")),
        ("filter: handoff", replace(base, handoff=True)),
        ("filter: fallback", replace(base, fallback=True)),
        ("filter: sentiment negative", replace(base, sentiment="negative")),
        ("filter: sentiment positive", replace(base, sentiment="positive")),
        ("filter: sentiment neutral", replace(base, sentiment="neutral")),
        (
            "combined: 'bag' + rest + negative + 30 days",
            replace(base, text="bag", channel="rest", sentiment="negative", date_from=today - timedelta(days=30)),
        ),
    ]


def add_new_turns(tracker_url: str, count: int, rng: random.Random) -> None:
    engine = create_engine(tracker_url)
    now = time.time()
    with engine.begin() as conn:
        senders = [r[0] for r in conn.execute(text("SELECT sender_id FROM events ORDER BY id DESC LIMIT 200"))]
        for i in range(count):
            sid = rng.choice(senders) if i % 2 else f"web-new-{secrets.token_hex(8)}"
            for event in list(conversation(rng, sid, now + i))[3:]:
                parse_data = event.get("parse_data") or {}
                conn.execute(
                    text(
                        "INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, data) "
                        "VALUES (:s, :t, :ts, :i, :a, :d)"
                    ),
                    {"s": sid, "t": event["event"], "ts": event["timestamp"],
                     "i": (parse_data.get("intent") or {}).get("name"), "a": event.get("name"),
                     "d": json.dumps(event)},
                )  # fmt: skip
    engine.dispose()


def measure(catalog: Engine, tracker_url: str, sizes: Sizes) -> dict[str, float]:
    """Every figure for one database pair (fresh catalog, generated tracker store)."""
    results: dict[str, float] = {}
    reader = TrackerReader(tracker_url)
    index = ConversationIndex(catalog, reader)
    start = time.perf_counter()
    index.sync()
    results["sync: from scratch (one run)"] = (time.perf_counter() - start) * 1000
    add_new_turns(tracker_url, 50, random.Random(1))
    start = time.perf_counter()
    updated = index.sync()
    results["sync: after 50 new turns (one run)"] = (time.perf_counter() - start) * 1000
    print(f"  50 new turns: {updated} conversations re-indexed", flush=True)
    results["sync: idle (nothing new)"] = median_ms(index.sync)

    today = datetime.now(timezone.utc).date()
    for name, query in list_queries(today):
        results[name] = median_ms(lambda q=query: search_conversations(catalog, q))  # type: ignore[misc]
    with reader.engine.connect() as conn:
        senders = [r[0] for r in conn.execute(text("SELECT sender_id FROM events WHERE id % 997 = 0 LIMIT 20"))]
    rng = random.Random(2)
    results["transcript: one conversation"] = median_ms(lambda: reader.transcript(rng.choice(senders)))
    results.update(measure_insight(catalog, tracker_url))
    reader.dispose()
    return results


def measure_insight(catalog: Engine, tracker_url: str) -> dict[str, float]:
    try:
        from assistant.console.insight import Insight
    except ImportError as exc:  # written at the same time by another helper
        print(f"  (insight not measured: {exc})", file=sys.stderr)
        return {}
    try:
        insight = Insight(catalog, tracker_url, cache_s=0)  # measure the queries, not the insight page's cache
    except TypeError:
        insight = Insight(catalog, tracker_url)
    results: dict[str, float] = {}
    ensure_index = getattr(insight, "ensure_tracker_index", None)
    if callable(ensure_index):
        start = time.perf_counter()
        ensure_index()
        results["insight: tracker index (first call, one run)"] = (time.perf_counter() - start) * 1000
    for name in ("conversations_per_day", "intent_mix", "fallback_rate_per_day", "sentiment_per_day",
                 "zero_result_searches"):  # fmt: skip
        method = getattr(insight, name)
        try:
            results[f"insight: {name}"] = median_ms(method, runs=3)
        except Exception as exc:  # report it and keep measuring the rest
            print(f"  (insight {name} failed: {exc})", file=sys.stderr)
    close = getattr(insight, "close", None)
    if callable(close):
        close()
    return results


@contextmanager
def sqlite_pair(conversations: int) -> Iterator[tuple[Engine, str, Sizes]]:
    source, sizes = cached_sqlite(conversations)
    with tempfile.TemporaryDirectory(prefix="console-bench-") as folder:
        tracker = Path(folder) / "tracker.db"
        shutil.copyfile(source, tracker)
        catalog = make_engine(f"sqlite:///{Path(folder) / 'catalog.db'}")
        upgrade(catalog)
        try:
            yield catalog, f"sqlite:///{tracker}", sizes
        finally:
            catalog.dispose()


@contextmanager
def postgres_pair(conversations: int) -> Iterator[tuple[Engine, str, Sizes]]:
    name = f"console_bench_{secrets.token_hex(4)}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 10})
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    try:
        started = time.perf_counter()
        sizes = generate_postgres(url, conversations)
        print(f"  loaded {sizes.events:,} events into PostgreSQL in {time.perf_counter() - started:.0f} s", flush=True)
        catalog = make_engine(url)
        upgrade(catalog)
        try:
            yield catalog, url, sizes
        finally:
            catalog.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def table(columns: Sequence[tuple[str, dict[str, float]]]) -> str:
    """Rows: every figure in the order measured; one column per size, and 'ratio' (last / first) for two sizes."""
    names: list[str] = []
    for _, results in columns:
        names += [n for n in results if n not in names]
    width = max(len(n) for n in names) + 2
    header = f"{'(ms)':<{width}}" + "".join(f"{label:>16}" for label, _ in columns)
    if len(columns) == 2:
        header += f"{'ratio':>8}"
    lines = [header, "-" * len(header)]
    for name in names:
        values = [r.get(name) for _, r in columns]
        row = f"{name:<{width}}" + "".join(f"{v:>16,.1f}" if v is not None else f"{'-':>16}" for v in values)
        if len(values) == 2 and values[0] and values[1] is not None:
            row += f"{values[1] / values[0]:>8.1f}"
        lines.append(row)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--sizes", default="1000,100000", help="conversation counts, comma-separated")
    parser.add_argument(
        "--backends",
        default="sqlite",
        help="sqlite, postgresql or both (comma-separated); postgresql = catalog and tracker store in a throwaway "
        "database at 127.0.0.1:5432",
    )
    args = parser.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes has value {args.sizes!r}; expected whole numbers such as 1000,100000")
    if not sizes or min(sizes) < 10:
        parser.error("--sizes: give at least one count of 10 conversations or more")
    known: dict[str, tuple[str, Callable[[int], Any]]] = {
        "sqlite": ("SQLite", sqlite_pair),
        "postgresql": ("PostgreSQL", postgres_pair),
    }
    wanted = [b.strip().lower() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in wanted if b not in known]
    if unknown or not wanted:
        parser.error(f"--backends has value {args.backends!r}; expected sqlite, postgresql or sqlite,postgresql")
    backends = [known[b] for b in wanted]
    for backend, pair in backends:
        columns: list[tuple[str, dict[str, float]]] = []
        for n in sizes:
            print(f"{backend}, {n:,} conversations:", flush=True)
            with pair(n) as (catalog, tracker_url, counts):
                columns.append(
                    (f"{n // 1000:,}k conv." if n >= 1000 else f"{n} conv.", measure(catalog, tracker_url, counts))
                )
                print(f"  {counts.events:,} tracker events", flush=True)
        print(f"\n{backend}: median ms of {RUNS} runs after a warm-up\n")
        print(table(columns))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
