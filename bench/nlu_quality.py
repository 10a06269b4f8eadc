"""NLU quality on real utterances the assistant never trained on, for two pipelines, in one run.

Trains two NLU models from `data/nlu/` with `rasa train nlu` (core runtime) into a temporary folder:
  sparse          config.yml's pipeline without the MiniLM featurizer and the sentiment classifier
  sparse+minilm   config.yml's pipeline as it is (sparse + MiniLM dense features + sentiment)
then serves each with `rasa run --enable-api` on a free 127.0.0.1 port (token-protected) and asks `POST /model/parse`
(every call with a timeout). Tables:
  1. intents: accuracy and macro-F1 on Bitext customer-service utterances mapped to our intents
     (bench/bitext_mapping.yml; unmapped Bitext intents are listed, not scored), per-intent F1 of the weakest;
  2. out-of-scope: CLINC150 `oos_test` recognised (out_of_scope, or nlu_fallback below the fallback threshold) and
     in-scope CLINC requests rejected: the ones this shop handles (SHOP_RELEVANT_CLINC) and all 150 intents;
  3. sentiment (sparse+minilm model): accuracy, macro-F1 and AUC on the held-out reviews and UCI sentences
     (assistant/nlu/sentiment_data.py: training never sees them) against VADER, plus the share of shop requests
     called neutral;
  4. parse latency p50/p95 through the HTTP API, the same utterances for both pipelines.

    make bench-nlu
    python bench/nlu_quality.py --quick     # smaller samples (app runtime, PYTHONPATH=.)
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import hashlib
import json
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from tqdm import tqdm

from assistant.nlu.sentiment_data import LabelledText, Sentiment, held_out_items
from assistant.settings import PROJECT_ROOT, load_settings

MAPPING_FILE = Path(__file__).with_name("bitext_mapping.yml")
BITEXT_FILE = "bitext_cs_8k.csv"
CLINC_FILE = "clinc150_data_full.json"
REJECTED = {"out_of_scope", "nlu_fallback"}
SHOP_RELEVANT_CLINC = {
    # what a shop assistant must take on: orders and order status, shopping lists, and the conversation itself
    "order": "ordering something",
    "order_status": "where is my order",
    "shopping_list": "what's on my shopping list",
    "shopping_list_update": "add/remove items on a list",
    "greeting": "greet",
    "goodbye": "goodbye",
    "thank_you": "thanks",
    "yes": "affirm",
    "no": "deny",
    "are_you_a_bot": "bot_challenge",
    "what_can_i_ask_you": "help",
}
PLACEHOLDERS = {
    # Bitext's {{…}} slots, filled with values like this shop's (6-digit invoice numbers, UK addresses, £)
    "order number": "536365",
    "invoice number": "581587",
    "person name": "Jane Smith",
    "account type": "customer",
    "account category": "standard",
    "delivery city": "Manchester",
    "delivery country": "the UK",
    "shipping address": "12 High Street, Leeds LS1 4AP",
    "refund amount": "£24.50",
    "money amount": "£24.50",
    "currency symbol": "£",
    "customer support phone number": "0161 496 0000",
    "customer support email": "help@example.com",
    "website url": "the website",
    "store location": "Manchester",
    "date": "12 March",
}
VADER_NEUTRAL_BAND = 0.05  # VADER's own thresholds: compound ≥ 0.05 positive, ≤ -0.05 negative, else neutral


# ---------------------------------------------------------------- data (pure functions, tested)


def load_mapping(path: Path = MAPPING_FILE) -> dict[str, str | None]:
    """Bitext intent → our intent (None: no counterpart)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in raw.items()
    ):
        raise ValueError(f"{path}: expected a mapping `bitext_intent: our_intent` (or null)")
    return raw


def fill_placeholders(text: str) -> str:
    """Replace Bitext's `{{Order Number}}`-style slots with realistic values; unknown slots become a generic word."""

    def value(match: re.Match[str]) -> str:
        return PLACEHOLDERS.get(match.group(1).strip().lower(), "it")

    return re.sub(r"\{\{\s*([^}]+?)\s*\}\}", value, text)


def read_bitext(path: Path, mapping: dict[str, str | None]) -> tuple[list[tuple[str, str, str]], Counter[str]]:
    """(text, our intent, bitext intent) for mapped utterances, and the count of unmapped ones per Bitext intent."""
    mapped: list[tuple[str, str, str]] = []
    unmapped: Counter[str] = Counter()
    with path.open(encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            source = row["intent"]
            if source not in mapping:
                raise ValueError(f"Bitext intent {source!r} is missing from {MAPPING_FILE.name}; map it or set null")
            target = mapping[source]
            if target is None:
                unmapped[source] += 1
            else:
                mapped.append((fill_placeholders(row["utterance"]), target, source))
    return mapped, unmapped


def cap_per_group(items: Sequence[tuple[str, str, str]], per_group: int, group: int = 2) -> list[tuple[str, str, str]]:
    """The first `per_group` items of each group (file order: deterministic)."""
    seen: Counter[str] = Counter()
    out = []
    for item in items:
        if seen[item[group]] < per_group:
            seen[item[group]] += 1
            out.append(item)
    return out


def read_clinc(path: Path, per_intent: int) -> tuple[list[tuple[str, str]], list[str]]:
    """In-scope test utterances (`per_intent` of each of the 150 intents) and every `oos_test` utterance."""
    data = json.loads(path.read_text(encoding="utf-8"))
    seen: Counter[str] = Counter()
    in_scope = []
    for text, intent in data["test"]:
        if seen[intent] < per_intent:
            seen[intent] += 1
            in_scope.append((text, intent))
    return in_scope, [text for text, _ in data["oos_test"]]


def is_rejected(parse: dict[str, Any]) -> bool:
    return (parse.get("intent") or {}).get("name") in REJECTED


def percentile(values: Sequence[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def vader_label(compound: float) -> str:
    if compound >= VADER_NEUTRAL_BAND:
        return Sentiment.POSITIVE.value
    if compound <= -VADER_NEUTRAL_BAND:
        return Sentiment.NEGATIVE.value
    return Sentiment.NEUTRAL.value


@dataclass(frozen=True)
class SentimentScores:
    accuracy: float
    macro_f1: float
    auc: float
    n: int


def sentiment_scores(gold: Sequence[str], predicted: Sequence[str], polarity: Sequence[float]) -> SentimentScores:
    """Accuracy and macro-F1 over the gold labels present; AUC of `polarity` (positive minus negative) on the
    positive and negative items (neutral ones have no polarity to rank)."""
    labels = sorted(set(gold))
    polar = [(g == Sentiment.POSITIVE.value, p) for g, p in zip(gold, polarity, strict=True) if g != "neutral"]
    auc = (
        float(roc_auc_score([y for y, _ in polar], [p for _, p in polar]))
        if len({y for y, _ in polar}) == 2
        else float("nan")
    )
    return SentimentScores(
        accuracy=float(accuracy_score(gold, predicted)),
        macro_f1=float(f1_score(gold, predicted, labels=labels, average="macro", zero_division=0)),
        auc=auc,
        n=len(gold),
    )


def binary_label(scores: dict[str, float]) -> str:
    """For two-class data (UCI): the likelier of positive and negative."""
    return "positive" if scores.get("positive", 0.0) >= scores.get("negative", 0.0) else "negative"


# ---------------------------------------------------------------- Rasa: train and serve


def pipeline_variants(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The compared configs, derived from config.yml so they never drift from it."""
    pipeline = config["pipeline"]

    def without(*fragments: str) -> dict[str, Any]:
        kept = [c for c in pipeline if not any(f in str(c.get("name", "")) for f in fragments)]
        return {**config, "pipeline": kept}

    if not any("MiniLMFeaturizer" in str(c.get("name", "")) for c in pipeline):
        raise ValueError("config.yml's pipeline has no MiniLMFeaturizer: nothing to compare the sparse pipeline with")
    return {"sparse": without("MiniLMFeaturizer", "SentimentClassifier"), "sparse+minilm": dict(config)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def core_env(cache_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "RASA_TELEMETRY_ENABLED": "false",
        "RASA_CACHE_DIRECTORY": str(cache_dir),
        "OMP_WAIT_POLICY": "PASSIVE",
    }


def rasa_executable() -> Path:
    path = PROJECT_ROOT / ".venv-core" / "bin" / "rasa"
    if not path.exists():
        raise SystemExit(f"error: {path} not found; create the core runtime with `make env-core`")
    return path


def train(name: str, config: dict[str, Any], workdir: Path) -> tuple[Path, float]:
    config_path = workdir / f"config-{name.replace('+', '-')}.yml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    log = workdir / f"train-{name.replace('+', '-')}.log"
    command = [str(rasa_executable()), "train", "nlu", "--config", str(config_path), "--nlu", "data/nlu",
               "--out", str(workdir), "--fixed-model-name", name.replace("+", "-")]  # fmt: skip
    print(f"==> training {name} (`rasa train nlu`, fresh cache; log {log})", flush=True)
    started = time.monotonic()
    with log.open("w") as out:
        result = subprocess.run(command, cwd=PROJECT_ROOT, env=core_env(workdir / f"cache-{name}"), stdout=out,
                                stderr=subprocess.STDOUT, timeout=1800, check=False)  # fmt: skip
    model = workdir / f"{name.replace('+', '-')}.tar.gz"
    if result.returncode != 0 or not model.exists():
        raise SystemExit(f"error: training {name} failed (exit {result.returncode}); see {log}")
    return model, time.monotonic() - started


class RasaServer:
    """`rasa run --enable-api` on a free loopback port with a random token; `parse` posts to /model/parse."""

    def __init__(self, model: Path, workdir: Path, start_timeout_s: float = 300, timeout_s: float = 30) -> None:
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.timeout_s = timeout_s
        self._log = (workdir / f"run-{model.stem}.log").open("w")
        command = [str(rasa_executable()), "run", "--enable-api", "--model", str(model), "--port", str(self.port),
                   "--interface", "127.0.0.1", "--auth-token", self.token]  # fmt: skip
        self._process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=core_env(workdir / "cache-run"), stdout=self._log, stderr=subprocess.STDOUT
        )
        self._wait_ready(start_timeout_s)

    def _url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}?token={self.token}"

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise SystemExit(f"error: rasa run exited with {self._process.returncode}; see {self._log.name}")
            with (
                contextlib.suppress(OSError, ValueError),
                urllib.request.urlopen(self._url("/status"), timeout=5) as response,
            ):
                if json.loads(response.read()).get("model_file"):
                    return
            time.sleep(1)
        self.close()
        raise SystemExit(f"error: rasa run did not load its model within {timeout_s:.0f}s; see {self._log.name}")

    def parse(self, text: str) -> tuple[dict[str, Any], float]:
        """The parse result and the round-trip time in seconds."""
        body = json.dumps({"text": text}).encode()
        request = urllib.request.Request(
            self._url("/model/parse"), data=body, headers={"Content-Type": "application/json"}
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            result: dict[str, Any] = json.loads(response.read())
        return result, time.perf_counter() - started

    def close(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=30)
        self._log.close()

    def __enter__(self) -> RasaServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_all(server: RasaServer, texts: Sequence[str], desc: str) -> tuple[list[dict[str, Any]], list[float]]:
    results, times = [], []
    for text in tqdm(texts, desc=desc, unit="msg", leave=False):
        result, seconds = server.parse(text)
        results.append(result)
        times.append(seconds)
    return results, times


# ---------------------------------------------------------------- the run


@dataclass
class PipelineRun:
    name: str
    train_s: float
    bitext: list[dict[str, Any]]
    clinc_in: list[dict[str, Any]]
    clinc_oos: list[dict[str, Any]]
    latencies: list[float]
    sentiment: list[dict[str, Any]]


def intent_of(parse: dict[str, Any]) -> str:
    return str((parse.get("intent") or {}).get("name"))


def intent_without_fallback(parse: dict[str, Any]) -> str:
    """DIET's best intent even where the FallbackClassifier said nlu_fallback (what a lower threshold would give)."""
    ranked = [r.get("name") for r in parse.get("intent_ranking") or [] if r.get("name") != "nlu_fallback"]
    return str(ranked[0]) if ranked else intent_of(parse)


def row(cells: Sequence[object], widths: Sequence[int]) -> str:
    return "".join(
        f"{c!s:<{w}}" if i == 0 else f"{c!s:>{w}}" for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bitext-per-intent", type=int, default=80, help="mapped utterances per Bitext intent")
    parser.add_argument("--clinc-per-intent", type=int, default=5, help="in-scope CLINC test utterances per intent")
    parser.add_argument("--reviews", type=int, default=800, help="held-out reviews to score (≤ ~4,500)")
    parser.add_argument("--quick", action="store_true", help="small samples (a smoke run)")
    parser.add_argument("--raw", type=Path, help="save every parse here (JSON); with --report-only, read it instead")
    parser.add_argument("--report-only", action="store_true", help="print the tables from --raw without running Rasa")
    args = parser.parse_args(argv)
    if args.quick:
        args.bitext_per_intent, args.clinc_per_intent, args.reviews = 20, 2, 200

    settings = load_settings()
    mapping = load_mapping()
    domain_intents = set(yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())["intents"])
    missing = sorted({t for t in mapping.values() if t} - domain_intents)
    if missing:
        print(f"warning: mapped intents not in domain.yml (they will score 0): {missing}")
    bitext_all, unmapped = read_bitext(settings.intents_dir / BITEXT_FILE, mapping)
    bitext = cap_per_group(bitext_all, args.bitext_per_intent)
    clinc_in, clinc_oos = read_clinc(settings.intents_dir / CLINC_FILE, args.clinc_per_intent)
    held_out = list(held_out_items(settings.reviews_dir))
    reviews = _natural_sample([i for i in held_out if i.source == "reviews"], args.reviews)
    uci = [i for i in held_out if i.source != "reviews"]
    config = yaml.safe_load((PROJECT_ROOT / "config.yml").read_text())
    variants = pipeline_variants(config)

    if args.report_only:
        if not args.raw:
            parser.error("--report-only needs --raw FILE")
        report([PipelineRun(**r) for r in json.loads(args.raw.read_text())], bitext, unmapped, clinc_in, reviews, uci)
        return 0
    runs: list[PipelineRun] = []
    with tempfile.TemporaryDirectory(prefix="nlu-bench-") as tmp:
        workdir = Path(tmp)
        for name, variant in variants.items():
            model, train_s = train(name, variant, workdir)
            print(f"    trained {name} in {train_s:.0f}s; serving it", flush=True)
            with RasaServer(model, workdir) as server:
                server.parse("hello")  # warm-up: first-call allocations
                texts = [t for t, _, _ in bitext] + [t for t, _ in clinc_in] + clinc_oos
                parses, times = parse_all(server, texts, f"{name}: intents")
                n1, n2 = len(bitext), len(bitext) + len(clinc_in)
                sentiment: list[dict[str, Any]] = []
                if any("SentimentClassifier" in str(c.get("name")) for c in variant["pipeline"]):
                    sentiment, _ = parse_all(server, [i.text for i in reviews + uci], f"{name}: sentiment")
                runs.append(PipelineRun(name, train_s, parses[:n1], parses[n1:n2], parses[n2:], times, sentiment))

    if args.raw:
        args.raw.write_text(json.dumps([dataclasses.asdict(r) for r in runs]))
    report(runs, bitext, unmapped, clinc_in, reviews, uci)
    return 0


def _natural_sample(items: list[LabelledText], n: int) -> list[LabelledText]:
    """`n` items in hash order (a fixed pseudo-random sample that keeps the natural label mix)."""
    return sorted(items, key=lambda i: hashlib.sha1(i.key.encode()).hexdigest())[:n]


def report(
    runs: list[PipelineRun],
    bitext: list[tuple[str, str, str]],
    unmapped: Counter[str],
    clinc_in: list[tuple[str, str]],
    reviews: list[LabelledText],
    uci: list[LabelledText],
) -> None:
    gold = [g for _, g, _ in bitext]
    sources = len({s for *_, s in bitext})
    print(f"\n1. Intents on Bitext ({len(bitext)} mapped utterances of {sources} Bitext intents; never trained on)\n")
    widths = [18, 10, 10, 10, 22, 10]
    print(row(["pipeline", "accuracy", "macro-F1", "fallback", "acc. without fallback", "train s"], widths))
    scores = {}
    for run in runs:
        predicted = [intent_of(p) for p in run.bitext]
        accuracy = accuracy_score(gold, predicted)
        macro = f1_score(gold, predicted, labels=sorted(set(gold)), average="macro", zero_division=0)
        fallback = np.mean([p == "nlu_fallback" for p in predicted])
        unfiltered = accuracy_score(gold, [intent_without_fallback(p) for p in run.bitext])
        scores[run.name] = accuracy
        cells = [
            run.name,
            f"{accuracy:.1%}",
            f"{macro:.3f}",
            f"{fallback:.1%}",
            f"{unfiltered:.1%}",
            f"{run.train_s:.0f}",
        ]
        print(row(cells, widths))
    if len(runs) == 2:
        a, b = (scores[r.name] for r in runs)
        print(f"{runs[1].name} vs {runs[0].name}: {b - a:+.1%} accuracy (target ≥ 90%)")
    print("unmapped Bitext intents (not scored):", ", ".join(f"{k} ({v})" for k, v in sorted(unmapped.items())))
    best = runs[-1]
    predicted = [intent_of(p) for p in best.bitext]
    labels = sorted(set(gold))
    per = f1_score(gold, predicted, labels=labels, average=None, zero_division=0)
    print(f"\nper-intent F1 ({best.name}), weakest first; top confusion:")
    for label, f1 in sorted(zip(labels, per, strict=True), key=lambda x: x[1]):
        wrong = Counter(p for g, p in zip(gold, predicted, strict=True) if g == label and p != label).most_common(2)
        n = gold.count(label)
        print(f"  {label:<18}{f1:6.2f}  n={n:<5} " + ", ".join(f"→{p} ×{c}" for p, c in wrong))

    print(f"\n2. Out-of-scope: CLINC150 oos_test ({len(runs[0].clinc_oos)}) vs in-scope test ({len(clinc_in)})\n")
    widths = [18, 14, 20, 18]
    print(row(["pipeline", "oos caught", "shop in-scope rej.", "all in-scope rej."], widths))
    shop = [i for i, (_, intent) in enumerate(clinc_in) if intent in SHOP_RELEVANT_CLINC]
    for run in runs:
        caught = np.mean([is_rejected(p) for p in run.clinc_oos])
        shop_rejected = np.mean([is_rejected(run.clinc_in[i]) for i in shop])
        all_rejected = np.mean([is_rejected(p) for p in run.clinc_in])
        print(row([run.name, f"{caught:.1%}", f"{shop_rejected:.1%} (n={len(shop)})", f"{all_rejected:.1%}"], widths))
    print("shop-relevant CLINC intents:", ", ".join(sorted(SHOP_RELEVANT_CLINC)))
    print(
        "(most of CLINC's 150 in-scope intents — banking, travel, cooking — are out of scope for a shop, so rejecting"
    )
    print(" them is right; 'all in-scope rej.' is the overall rejection rate, not an error rate)")

    with_sentiment = [r for r in runs if r.sentiment]
    if with_sentiment:
        report_sentiment(with_sentiment[-1], reviews, uci, bitext, clinc_in)

    print("\n4. Parse latency through Rasa's HTTP API (POST /model/parse, same utterances for each pipeline)\n")
    widths = [18, 10, 10, 10]
    print(row(["pipeline", "n", "p50 ms", "p95 ms"], widths))
    p95 = {}
    for run in runs:
        p95[run.name] = percentile(run.latencies, 95) * 1000
        print(row([run.name, len(run.latencies), f"{percentile(run.latencies, 50) * 1000:.1f}", f"{p95[run.name]:.1f}"],
                  widths))  # fmt: skip
    if len(runs) == 2:
        print(f"{runs[1].name} / {runs[0].name} p95: {p95[runs[1].name] / p95[runs[0].name]:.2f}× (target p95 ≤ 50 ms)")


def report_sentiment(
    run: PipelineRun,
    reviews: list[LabelledText],
    uci: list[LabelledText],
    bitext: list[tuple[str, str, str]],
    clinc_in: list[tuple[str, str]],
) -> None:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    vader = SentimentIntensityAnalyzer()
    ours = [p.get("sentiment") or {} for p in run.sentiment]
    if not all(o.get("scores") for o in ours):
        raise SystemExit("error: some parses carry no `sentiment` (is SentimentClassifier in config.yml?)")
    print(f"\n3. Sentiment on held-out data ({run.name}; training never saw these) vs VADER\n")
    widths = [50, 6, 10, 10, 8]
    print(row(["data / system", "n", "accuracy", "macro-F1", "AUC"], widths))
    parts = {
        "reviews (3 classes)": (0, len(reviews), reviews),
        "UCI amazon+yelp (2 classes)": (len(reviews), None, uci),
    }
    gaps = []
    for title, (start, end, items) in parts.items():
        gold = [i.label.value for i in items]
        mine = ours[start:end]
        compound = [vader.polarity_scores(i.text)["compound"] for i in items]
        polarity = [o["scores"]["positive"] - o["scores"]["negative"] for o in mine]
        if title.startswith("UCI"):
            predicted = [binary_label(o["scores"]) for o in mine]
            vader_predicted = ["positive" if c >= 0 else "negative" for c in compound]
        else:
            predicted = [o["label"] for o in mine]
            vader_predicted = [vader_label(c) for c in compound]
        s_ours = sentiment_scores(gold, predicted, polarity)
        s_vader = sentiment_scores(gold, vader_predicted, compound)
        for system, s in (("SentimentClassifier", s_ours), ("VADER", s_vader)):
            print(row([f"{title}: {system}", s.n, f"{s.accuracy:.1%}", f"{s.macro_f1:.3f}", f"{s.auc:.3f}"], widths))
        gaps.append((title, (s_ours.macro_f1 - s_vader.macro_f1) * 100))
    for title, gap in gaps:
        print(f"macro-F1 gain over VADER, {title}: {gap:+.1f} points (target ≥ +10)")
    shop = [t for t, g, _ in bitext if g != "complaint"] + [t for t, i in clinc_in if i in SHOP_RELEVANT_CLINC]
    mine = [(p.get("sentiment") or {}).get("label") for p, (_, g, _) in zip(run.bitext, bitext, strict=True)
            if g != "complaint"]  # fmt: skip
    mine += [(p.get("sentiment") or {}).get("label") for p, (_, i) in zip(run.clinc_in, clinc_in, strict=True)
             if i in SHOP_RELEVANT_CLINC]  # fmt: skip
    vader_neutral = np.mean([vader_label(vader.polarity_scores(t)["compound"]) == "neutral" for t in shop])
    print(f"shop requests called neutral (Bitext mapped minus complaints + shop-relevant CLINC, n={len(shop)}; no gold"
          f" labels, most are plain requests): ours {np.mean([m == 'neutral' for m in mine]):.1%},"
          f" VADER {vader_neutral:.1%}")  # fmt: skip
    print("(label counts: reviews", dict(Counter(i.label.value for i in reviews)), "; UCI",
          dict(Counter(i.label.value for i in uci)), ")")  # fmt: skip
    print("(reviews: rating 1-2 negative, 3 neutral, 4-5 positive; AUC ranks positive vs negative items by")
    print(" p(positive) − p(negative) for ours and VADER's compound score; UCI: the likelier of the two classes, VADER")
    print(" compound ≥ 0 → positive)")


if __name__ == "__main__":
    sys.exit(main())
