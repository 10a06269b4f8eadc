"""The sentiment data: label mapping, a held-out split that training never sees, clear errors on bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.nlu import sentiment_data
from assistant.nlu.sentiment_data import Sentiment, SentimentDataError
from assistant.settings import PROJECT_ROOT, load_settings

CHAT = PROJECT_ROOT / "data" / "sentiment" / "chat.csv"


@pytest.mark.parametrize(
    ("rating", "label"),
    [
        (1, Sentiment.NEGATIVE),
        (2, Sentiment.NEGATIVE),
        (3, Sentiment.NEUTRAL),
        (4, Sentiment.POSITIVE),
        (5, Sentiment.POSITIVE),
    ],
)
def test_ratings_map_to_three_labels(rating: int, label: Sentiment) -> None:
    assert sentiment_data.rating_to_sentiment(rating) is label


def test_an_impossible_rating_is_refused() -> None:
    with pytest.raises(ValueError, match="rating"):
        sentiment_data.rating_to_sentiment(0)


def test_the_split_is_a_fixed_function_of_the_key() -> None:
    keys = [f"reviews:{i}" for i in range(5000)]
    held = [k for k in keys if sentiment_data.is_held_out(k)]
    assert held == [k for k in keys if sentiment_data.is_held_out(k)]
    assert 0.15 < len(held) / len(keys) < 0.25


def test_the_projects_chat_examples_cover_every_label_and_are_mostly_neutral() -> None:
    items = sentiment_data.read_chat(CHAT)
    counts = {label: sum(i.label is label for i in items) for label in Sentiment}
    assert min(counts.values()) >= 30
    assert counts[Sentiment.NEUTRAL] == max(counts.values())


@pytest.mark.parametrize("body", ["text,label\nhello,happy\n", "text,label\n,neutral\n", "words\nhello\n"])
def test_a_malformed_chat_file_names_the_line(tmp_path: Path, body: str) -> None:
    path = tmp_path / "chat.csv"
    path.write_text(body)
    with pytest.raises(SentimentDataError, match=r"chat.csv:2"):
        sentiment_data.read_chat(path)


def test_missing_review_files_say_which_setting_to_fix(tmp_path: Path) -> None:
    with pytest.raises(SentimentDataError, match="REVIEWS_DIR"):
        sentiment_data.read_reviews(tmp_path)


def test_balanced_sample_caps_each_label_deterministically() -> None:
    items = [sentiment_data.LabelledText(f"t{i}", Sentiment.POSITIVE, "x", f"x:{i}") for i in range(50)]
    items += [sentiment_data.LabelledText(f"n{i}", Sentiment.NEGATIVE, "x", f"y:{i}") for i in range(5)]
    sample = sentiment_data.balanced_sample(items, 10)
    assert sum(i.label is Sentiment.POSITIVE for i in sample) == 10
    assert sum(i.label is Sentiment.NEGATIVE for i in sample) == 5
    assert sample == sentiment_data.balanced_sample(list(reversed(items)), 10)


@pytest.mark.slow
def test_training_never_sees_a_held_out_item_on_the_real_data() -> None:
    reviews_dir = load_settings().reviews_dir
    if not (reviews_dir / sentiment_data.REVIEWS_FILE).exists():
        pytest.skip(f"no review data at {reviews_dir}")
    training = sentiment_data.training_items(reviews_dir, CHAT, reviews_per_label=10_000, uci_per_label=10_000)
    held_out = list(sentiment_data.held_out_items(reviews_dir))
    assert {i.key for i in training}.isdisjoint(i.key for i in held_out)
    assert {i.text for i in held_out if i.source == "reviews"} - {i.text for i in training}
    assert len(held_out) > 4000
