"""Turn latency through the whole stack: a product-search turn versus a plain greeting turn.

Both go browser-side HTTP → gateway → Rasa (NLU + policies) → back; the search turn also runs the custom action
(MiniLM query encoding + FAISS + catalog lookup). The greeting turn is the baseline in the same run, so the ratio
says what search costs on top of the dialogue core, whatever the machine's speed. Also measures cold start: from
launching the three processes to the first answered search.

    make bench                                  # starts its own stack on spare ports
    python bench/turn_latency.py --turns 200    # same, from the app runtime with PYTHONPATH=.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.cookiejar
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from assistant import rasa_model
from assistant.settings import load_settings
from assistant.stack import Stack

SEARCHES = [
    "do you have red retrospot lunch bags?",
    "i'm looking for a cake stand",
    "show me white hanging heart t-light holders",
    "any party bunting?",
    "jumbo bag pink polkadot",
]
GREETINGS = ["hello", "hi", "good morning", "hey there", "hiya"]


def shopper() -> urllib.request.OpenerDirector:
    """One browser: the gateway knows a shopper by the cookie it issues on the first request."""
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def turn(base_url: str, text: str, sender: urllib.request.OpenerDirector) -> tuple[float, dict[str, Any]]:
    body = json.dumps({"text": text}).encode()
    request = urllib.request.Request(f"{base_url}/api/chat", data=body, headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    with sender.open(request, timeout=60) as response:
        payload = json.loads(response.read())
    return time.perf_counter() - started, payload


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=200, help="turns of each kind (default 200)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        settings = dataclasses.replace(
            load_settings(),
            tracker_db=Path(tmp) / "tracker.db",
            tracker_db_url_override=None,
            secret_file=Path(tmp) / "secret.key",
            gateway_port=28080,
            rasa_port=25005,
            action_port=25055,
        )
        base_url = f"http://127.0.0.1:{settings.gateway_port}"
        launched = time.perf_counter()
        with Stack(settings, rasa_model.model_path(settings.models_dir), log_dir=Path(tmp) / "logs") as stack:
            ready = stack.wait_ready()
            _, first = turn(base_url, SEARCHES[0], shopper())
            cold = time.perf_counter() - launched
            if not any(m.get("type") == "product_cards" for m in first["messages"]):
                print(f"error: the first search returned no product cards: {first}", file=sys.stderr)
                return 1

            timings: dict[str, list[float]] = {"search": [], "greeting": []}
            sender = shopper()
            for i in range(args.turns):  # interleaved, so drift on a noisy machine hits both kinds alike
                timings["search"].append(turn(base_url, SEARCHES[i % len(SEARCHES)], sender)[0])
                timings["greeting"].append(turn(base_url, GREETINGS[i % len(GREETINGS)], sender)[0])

    rows = {kind: (percentile(v, 50) * 1000, percentile(v, 95) * 1000) for kind, v in timings.items()}
    print(f"\nturn latency through gateway → Rasa → actions, {args.turns} turns each (ms)\n")
    print(f"{'turn':<22}{'p50':>10}{'p95':>10}")
    for kind, (p50, p95) in rows.items():
        print(f"{kind:<22}{p50:>10.1f}{p95:>10.1f}")
    s50, s95 = rows["search"]
    g50, g95 = rows["greeting"]
    print(f"{'search / greeting':<22}{s50 / g50:>9.2f}x{s95 / g95:>9.2f}x")
    print(f"\ncold start: all three processes answering after {ready:.1f}s; first search answered after {cold:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
