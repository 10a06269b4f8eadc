"""The NLU benchmark's pure parts: the committed Bitext mapping, placeholder filling, metrics, pipeline variants."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from assistant.settings import load_settings
from bench import nlu_quality as nq

OUR_INTENTS = {
    "greet", "goodbye", "thanks", "affirm", "deny", "help", "bot_challenge", "chitchat", "out_of_scope",
    "search_products", "refine_search", "product_details", "compare_products", "ask_recommendation", "check_stock",
    "share_photo", "add_to_cart", "remove_from_cart", "view_cart", "checkout", "order_status", "cancel_order",
    "request_return", "request_refund", "delivery_options", "change_address", "identify_customer", "complaint",
    "human_handoff", "delete_my_data",
}  # fmt: skip
BITEXT = load_settings().intents_dir / nq.BITEXT_FILE


def test_the_mapping_targets_only_our_intents() -> None:
    targets = {t for t in nq.load_mapping().values() if t}
    assert targets <= OUR_INTENTS, targets - OUR_INTENTS
    assert len(targets) >= 8


@pytest.mark.skipif(not BITEXT.exists(), reason=f"no Bitext data at {BITEXT} (INTENTS_DIR)")
def test_every_bitext_intent_is_mapped_or_explicitly_unmapped() -> None:
    with BITEXT.open(encoding="utf-8-sig", newline="") as f:
        intents = {row["intent"] for row in csv.DictReader(f)}
    assert intents == set(nq.load_mapping()), intents ^ set(nq.load_mapping())
    mapped, unmapped = nq.read_bitext(BITEXT, nq.load_mapping())
    assert len(mapped) + sum(unmapped.values()) == 8175
    assert unmapped["review"] > 0 and not any(t.startswith("\ufeff") for t, _, _ in mapped)


def test_a_malformed_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.yml"
    path.write_text("- cancel_order\n")
    with pytest.raises(ValueError, match="expected a mapping"):
        nq.load_mapping(path)


def test_an_unlisted_bitext_intent_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text("\ufeffflags,utterance,category,intent\nB,hello,X,brand_new_intent\n", encoding="utf-8")
    with pytest.raises(ValueError, match="brand_new_intent"):
        nq.read_bitext(path, {"cancel_order": "cancel_order"})


def test_placeholders_become_realistic_values() -> None:
    text = "where is order {{Order Number}} going to {{ Delivery City }}? ask {{Something Else}}"
    assert nq.fill_placeholders(text) == "where is order 536365 going to Manchester? ask it"
    assert nq.fill_placeholders("no slots here") == "no slots here"


def test_cap_per_group_keeps_file_order() -> None:
    items = [("a", "x", "g1"), ("b", "x", "g1"), ("c", "y", "g2"), ("d", "x", "g1")]
    assert nq.cap_per_group(items, 2) == items[:3]


def test_rejection_is_out_of_scope_or_the_fallback() -> None:
    assert nq.is_rejected({"intent": {"name": "nlu_fallback"}})
    assert nq.is_rejected({"intent": {"name": "out_of_scope"}})
    assert not nq.is_rejected({"intent": {"name": "greet"}})
    assert not nq.is_rejected({"intent": None})


def test_sentiment_scores_against_a_hand_computed_example() -> None:
    gold = ["positive", "negative", "neutral", "positive"]
    predicted = ["positive", "positive", "neutral", "positive"]
    polarity = [0.9, 0.2, 0.0, 0.1]  # negatives ranked: 0.2 vs positives 0.9 and 0.1 → AUC 1/2
    s = nq.sentiment_scores(gold, predicted, polarity)
    assert s.accuracy == 0.75 and s.n == 4
    # F1: positive 2·(2/3·1)/(2/3+1) = 0.8, negative 0, neutral 1 → macro 0.6
    assert s.macro_f1 == pytest.approx(0.6)
    assert s.auc == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("compound", "label"), [(0.5, "positive"), (0.05, "positive"), (0.0, "neutral"), (-0.3, "negative")]
)
def test_vader_uses_its_own_thresholds(compound: float, label: str) -> None:
    assert nq.vader_label(compound) == label


def test_binary_label_picks_the_likelier_polarity() -> None:
    assert nq.binary_label({"negative": 0.2, "neutral": 0.5, "positive": 0.3}) == "positive"
    assert nq.binary_label({"negative": 0.4, "neutral": 0.5, "positive": 0.1}) == "negative"


def test_pipeline_variants_drop_minilm_and_sentiment_for_the_sparse_one() -> None:
    names = ["WhitespaceTokenizer", "assistant.nlu.minilm_featurizer.MiniLMFeaturizer", "DIETClassifier",
             "assistant.nlu.sentiment.SentimentClassifier"]  # fmt: skip
    config = {"pipeline": [{"name": n} for n in names]}
    variants = nq.pipeline_variants(config)
    assert [c["name"] for c in variants["sparse"]["pipeline"]] == ["WhitespaceTokenizer", "DIETClassifier"]
    assert variants["sparse+minilm"] == config
    with pytest.raises(ValueError, match="MiniLMFeaturizer"):
        nq.pipeline_variants(variants["sparse"])


def test_intent_without_fallback_takes_diets_best_guess() -> None:
    parse = {"intent": {"name": "nlu_fallback"}, "intent_ranking": [{"name": "nlu_fallback"}, {"name": "checkout"}]}
    assert nq.intent_of(parse) == "nlu_fallback"
    assert nq.intent_without_fallback(parse) == "checkout"
    assert nq.intent_without_fallback({"intent": {"name": "greet"}}) == "greet"


def test_percentile_is_inclusive() -> None:
    assert nq.percentile([float(i) for i in range(1, 101)], 50) == pytest.approx(50.5)
    assert 1.9 < nq.percentile([1.0, 2.0], 95) <= 2.0
