"""Labelled texts for the sentiment classifier, and the fixed held-out split that training never sees.

Sources (read from `../shared/datasets/reviews/`, `REVIEWS_DIR`; never copied into the repository):
- Women's E-Commerce Clothing Reviews (CC0): Title + Review Text; rating 1-2 → negative, 3 → neutral, 4-5 → positive.
  Three stars is the usual "mixed" middle; the rating is the reviewer's own label for the whole review.
- UCI Sentiment Labelled Sentences (Kotzias et al. 2015, CC BY 4.0), amazon and yelp: 0 → negative, 1 → positive.
- `data/sentiment/chat.csv`: chat-style shopper messages written for this project (complaints, praise and, mostly,
  neutral requests: a shop assistant's messages are mostly neutral).

The split is a hash of each item's stable id (`source:row`), so it never changes with sampling or file order:
`HELD_OUT_PERCENT` of the reviews and of the UCI sentences are for evaluation only (`bench/nlu_quality.py`).
Standard library only: the benchmark (app runtime) and the Rasa component (core runtime) share this module.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

REVIEWS_FILE = "womens_ecommerce_clothing_reviews.csv.gz"
UCI_FILES = {"amazon": "amazon_cells_labelled.txt", "yelp": "yelp_labelled.txt"}
CHAT_FILE = "chat.csv"
HELD_OUT_PERCENT = 20


class Sentiment(str, Enum):
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


LABELS = [s.value for s in Sentiment]
"""Class order of every score vector: negative, neutral, positive."""


class SentimentDataError(ValueError):
    """A sentiment data file is missing or malformed; the message names the file and the fix."""


@dataclass(frozen=True)
class LabelledText:
    text: str
    label: Sentiment
    source: str
    """`reviews`, `amazon`, `yelp` or `chat`."""
    key: str
    """Stable id (`source:row`), the input of the split."""

    @property
    def held_out(self) -> bool:
        return is_held_out(self.key)


def is_held_out(key: str) -> bool:
    return zlib.crc32(key.encode()) % 100 < HELD_OUT_PERCENT


def rating_to_sentiment(rating: int) -> Sentiment:
    if not 1 <= rating <= 5:
        raise ValueError(f"rating has value {rating}; expected 1 to 5")
    return Sentiment.NEGATIVE if rating <= 2 else Sentiment.NEUTRAL if rating == 3 else Sentiment.POSITIVE


def _require(path: Path) -> Path:
    if not path.is_file():
        raise SentimentDataError(
            f"sentiment data not found at {path}; point REVIEWS_DIR at the folder holding {REVIEWS_FILE} and the UCI "
            "sentences (default ../shared/datasets/reviews)"
        )
    return path


def read_reviews(reviews_dir: Path) -> list[LabelledText]:
    """Every review with a text (845 of the 23,486 have none)."""
    path = _require(reviews_dir / REVIEWS_FILE)
    items = []
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            body = (row.get("Review Text") or "").strip()
            if not body:
                continue
            title = (row.get("Title") or "").strip()
            try:
                label = rating_to_sentiment(int(row["Rating"]))
            except (KeyError, ValueError) as exc:
                raise SentimentDataError(f"{path}: row {row.get('')!r} has no valid Rating: {exc}") from exc
            text = f"{title}. {body}" if title else body
            items.append(LabelledText(text, label, "reviews", f"reviews:{row['']}"))
    return items


def read_uci(reviews_dir: Path) -> list[LabelledText]:
    """The amazon and yelp sentences (`sentence<TAB>0|1`, no quoting)."""
    items = []
    for source, name in UCI_FILES.items():
        path = _require(reviews_dir / name)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            if not line.strip():
                continue
            text, sep, flag = line.rpartition("\t")
            if not sep or flag.strip() not in ("0", "1"):
                raise SentimentDataError(f"{path}:{number + 1}: expected `sentence<TAB>0|1`, got {line!r}")
            label = Sentiment.POSITIVE if flag.strip() == "1" else Sentiment.NEGATIVE
            items.append(LabelledText(text.strip(), label, source, f"{source}:{number}"))
    return items


def read_chat(path: Path) -> list[LabelledText]:
    """The project's chat-style examples: a CSV with `text,label` columns (label: negative, neutral, positive)."""
    _require_chat(path)
    items = []
    with path.open(encoding="utf-8", newline="") as f:
        for number, row in enumerate(csv.DictReader(f), start=2):
            text, label = (row.get("text") or "").strip(), (row.get("label") or "").strip()
            if not text or label not in LABELS:
                raise SentimentDataError(f"{path}:{number}: expected a text and a label in {LABELS}, got {row!r}")
            items.append(LabelledText(text, Sentiment(label), "chat", f"chat:{number}"))
    return items


def _require_chat(path: Path) -> None:
    if not path.is_file():
        raise SentimentDataError(f"chat sentiment examples not found at {path}; expected a `text,label` CSV")


def balanced_sample(items: Iterable[LabelledText], per_label: int) -> list[LabelledText]:
    """At most `per_label` items of each label, chosen by a hash of the key (deterministic, order-independent)."""
    by_label: dict[Sentiment, list[LabelledText]] = {}
    for item in items:
        by_label.setdefault(item.label, []).append(item)
    out = []
    for label in Sentiment:
        ranked = sorted(by_label.get(label, []), key=lambda i: hashlib.sha1(i.key.encode()).hexdigest())
        out.extend(ranked[:per_label])
    return out


def training_items(
    reviews_dir: Path, chat_path: Path, reviews_per_label: int, uci_per_label: int
) -> list[LabelledText]:
    """The training set: never a held-out item; reviews and UCI sentences capped per label (class balance, speed)."""
    reviews = [i for i in read_reviews(reviews_dir) if not i.held_out]
    uci = [i for i in read_uci(reviews_dir) if not i.held_out]
    return balanced_sample(reviews, reviews_per_label) + balanced_sample(uci, uci_per_label) + read_chat(chat_path)


def held_out_items(reviews_dir: Path) -> Iterator[LabelledText]:
    """The evaluation items (reviews and UCI) that training never sees."""
    yield from (i for i in read_reviews(reviews_dir) if i.held_out)
    yield from (i for i in read_uci(reviews_dir) if i.held_out)


def data_files(reviews_dir: Path, chat_path: Path) -> list[Path]:
    """The files training reads: what the component's cache fingerprint and `assistant.rasa_model` hash."""
    return [reviews_dir / REVIEWS_FILE, *(reviews_dir / n for n in UCI_FILES.values()), chat_path]
