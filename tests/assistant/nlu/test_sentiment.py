"""SentimentClassifier: trains on a small real sample, labels obvious messages, persists, fingerprints its data."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("rasa")

from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from assistant.nlu import sentiment_data
from assistant.nlu.sentiment import SentimentClassifier
from assistant.settings import PROJECT_ROOT, load_settings

REVIEWS = load_settings().reviews_dir
pytestmark = pytest.mark.skipif(
    not (REVIEWS / sentiment_data.REVIEWS_FILE).exists(), reason=f"no review data at {REVIEWS} (REVIEWS_DIR)"
)
CONTEXT = ExecutionContext(GraphSchema({}), node_name="sentiment_test")


def storage_in(folder: Path) -> LocalModelStorage:
    folder.mkdir(parents=True, exist_ok=True)
    return LocalModelStorage(folder)


def small_config(tmp_path: Path) -> dict[str, Any]:
    chat = tmp_path / "chat.csv"
    shutil.copy(PROJECT_ROOT / "data" / "sentiment" / "chat.csv", chat)
    return {
        "reviews_dir": str(REVIEWS),
        "chat_data": str(chat),
        "reviews_per_label": 60,
        "uci_per_label": 60,
        "vector_cache_dir": str(tmp_path / "vectors"),
    }


def nlu_data() -> TrainingData:
    requests = ["do you have lunch bags", "show me cake stands", "add two to my basket", "where is my order"]
    return TrainingData([Message(data={TEXT: t, "intent": "search_products"}) for t in requests])


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[SentimentClassifier, LocalModelStorage, Resource, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("sentiment")
    storage, resource, config = storage_in(tmp / "storage"), Resource("sentiment"), small_config(tmp)
    component = SentimentClassifier.create(config, storage, resource, CONTEXT)
    component.train(nlu_data())
    return component, storage, resource, config


def labels(component: SentimentClassifier, texts: list[str]) -> list[str]:
    messages = component.process([Message(data={TEXT: t}) for t in texts])
    return [m.get("sentiment")["label"] for m in messages]


def test_obvious_messages_get_the_obvious_label(trained: tuple[Any, ...]) -> None:
    component = trained[0]
    assert labels(component, ["this is terrible, it arrived broken and you are useless"]) == ["negative"]
    assert labels(component, ["thank you so much, i love it, brilliant service"]) == ["positive"]
    assert labels(component, ["do you have red lunch bags"]) == ["neutral"]


def test_every_message_gets_a_score_and_a_sentiment_entity(trained: tuple[Any, ...]) -> None:
    component = trained[0]
    (message,) = component.process([Message(data={TEXT: "", ENTITIES: [{"entity": "product", "value": "mug"}]})])
    result = message.get("sentiment")
    assert set(result["scores"]) == {"negative", "neutral", "positive"}
    assert sum(result["scores"].values()) == pytest.approx(1.0, abs=1e-5)
    assert result["score"] == max(result["scores"].values())
    entities = message.get(ENTITIES)
    assert [e["entity"] for e in entities] == ["product", "sentiment"]
    assert entities[1]["value"] == result["label"] and entities[1]["confidence"] == result["score"]
    assert entities[1]["extractor"] == "SentimentClassifier"


def test_a_loaded_model_predicts_what_the_trained_one_did(trained: tuple[Any, ...]) -> None:
    component, storage, resource, config = trained
    loaded = SentimentClassifier.load(config, storage, resource, CONTEXT)
    texts = ["the mug was smashed", "lovely, thanks", "how much is delivery"]
    before = [m.get("sentiment") for m in component.process([Message(data={TEXT: t}) for t in texts])]
    after = [m.get("sentiment") for m in loaded.process([Message(data={TEXT: t}) for t in texts])]
    assert [b["label"] for b in before] == [a["label"] for a in after]
    assert [b["score"] for b in before] == pytest.approx([a["score"] for a in after], abs=1e-5)


def test_the_fingerprint_changes_when_the_data_files_change(tmp_path: Path) -> None:
    config = small_config(tmp_path)
    before = SentimentClassifier.fingerprint_addon(config)
    assert SentimentClassifier.fingerprint_addon(config) == before
    with Path(config["chat_data"]).open("a") as f:
        f.write("the bag is great,positive\n")
    assert SentimentClassifier.fingerprint_addon(config) != before


def test_review_and_chat_vectors_are_cached_for_the_next_training(trained: tuple[Any, ...]) -> None:
    component, storage, _, config = trained
    (cached,) = Path(config["vector_cache_dir"]).glob("sentiment-vectors-*.npy")
    written = cached.stat().st_mtime_ns
    again = SentimentClassifier.create(config, storage, Resource("again"), CONTEXT)
    again.train(nlu_data())
    assert list(Path(config["vector_cache_dir"]).glob("sentiment-vectors-*.npy")) == [cached]
    assert cached.stat().st_mtime_ns == written  # read, not re-encoded and rewritten
    texts = ["the mug was smashed", "how much is delivery"]
    first = [m.get("sentiment")["score"] for m in component.process([Message(data={TEXT: t}) for t in texts])]
    second = [m.get("sentiment")["score"] for m in again.process([Message(data={TEXT: t}) for t in texts])]
    assert first == pytest.approx(second, abs=1e-5)


def test_missing_review_data_is_a_clear_training_error(tmp_path: Path) -> None:
    config = {**small_config(tmp_path), "reviews_dir": str(tmp_path / "nowhere")}
    component = SentimentClassifier.create(config, storage_in(tmp_path / "s"), Resource("x"), CONTEXT)
    with pytest.raises(Exception, match="REVIEWS_DIR"):
        component.train(nlu_data())


def test_an_untrained_classifier_refuses_to_guess(tmp_path: Path) -> None:
    component = SentimentClassifier.create(small_config(tmp_path), storage_in(tmp_path / "s"), Resource("x"), CONTEXT)
    with pytest.raises(Exception, match="make train"):
        component.process([Message(data={TEXT: "hi"})])
