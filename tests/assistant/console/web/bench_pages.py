"""Console pages end to end (HTTP → handler → SQL → template) at 100k conversations: what a person waits for.

    .venv-app/bin/python -m tests.assistant.console.web.bench_pages [CONVERSATIONS ...]   # default 1000 100000

Uses the synthetic tracker store of `bench/console_queries.py` (cached under $SHOPASSIST_CACHE/console-bench), syncs
the conversation index, serves the console on 127.0.0.1 and prints the median time of each page over a few loads.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from assistant.console.index import ConversationIndex
from assistant.console.transcripts import TrackerReader
from bench.console_queries import sqlite_pair
from tests.assistant.console.web.conftest import Env, _env

RUNS = 5


async def page_times(env: Env) -> dict[str, float]:
    await env.login("root")
    with env.engine.connect() as conn:
        sender = conn.execute(
            text("SELECT sender_id FROM conversations ORDER BY last_at DESC LIMIT 1 OFFSET 37")
        ).scalar()
        customer = conn.execute(
            text("SELECT customer_id FROM conversations WHERE customer_id IS NOT NULL LIMIT 1")
        ).scalar()
    week_ago = (datetime.now(UTC) - timedelta(days=7)).date().isoformat()
    pages = {
        "conversations: page 1": "/staff/",
        "conversations: page 200": "/staff/?page=200",
        "search 'bag'": "/staff/?q=bag",
        "search 'red lunch' + negative": "/staff/?q=red+lunch&sentiment=negative",
        "filter: last 7 days + telegram": f"/staff/?from={week_ago}&channel=telegram",
        "filter: handoff + fallback": "/staff/?handoff=yes&fallback=yes",
        "filter: one customer": f"/staff/?customer={customer}",
        "transcript": f"/staff/conversations/{sender}",
        "handoff queue": "/staff/handoffs",
        "insight (6 queries)": "/staff/insight",
        "audit log": "/staff/audit",
    }
    results = {}
    for name, path in pages.items():
        samples = []
        for _ in range(RUNS + 1):
            start = time.perf_counter()
            status, _ = await env.page(path)
            samples.append((time.perf_counter() - start) * 1000)
            assert status == 200, (path, status)
        results[f"{name} (first)"] = samples[0]  # cold: SQLite page cache, Insight's result cache
        results[name] = statistics.median(samples[1:])
    return results


async def measure(conversations: int) -> dict[str, float]:
    with sqlite_pair(conversations) as (catalog, tracker_url, sizes):
        start = time.perf_counter()
        ConversationIndex(catalog, TrackerReader(tracker_url)).sync()
        print(f"  {conversations:,} conversations, {sizes.events:,} events: index synced in "
              f"{time.perf_counter() - start:.0f} s", flush=True)  # fmt: skip
        folder = Path(str(catalog.url.database)).parent
        async for env in _env(folder, catalog, tracker_url):
            return await page_times(env)
    raise AssertionError("unreachable")


async def main(sizes: list[int]) -> None:
    columns = [(n, await measure(n)) for n in sizes]
    names = list(columns[0][1])
    header = f"{'page (first load; median of ' + str(RUNS) + ' more, ms)':48}" + "".join(
        f"{n:>12,}" for n, _ in columns
    )
    if len(columns) > 1:
        header += f"{'ratio':>8}"
    print(header)
    for name in names:
        row = f"{name:48}" + "".join(f"{values[name]:12.1f}" for _, values in columns)
        if len(columns) > 1:
            row += f"{columns[-1][1][name] / columns[0][1][name]:8.1f}"
        print(row)


if __name__ == "__main__":
    asyncio.run(main([int(a) for a in sys.argv[1:]] or [1000, 100_000]))
