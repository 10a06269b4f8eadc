"""`SentimentClassifier`: negative / neutral / positive on every message, trained by `rasa train`.

    pipeline:
      - ...
      - name: assistant.nlu.minilm_featurizer.MiniLMFeaturizer
      - name: DIETClassifier
      - name: assistant.nlu.sentiment.SentimentClassifier

What it learns from (`sentiment_data` documents the sources and the held-out split training never sees): real
reviews (capped per label, so the 77% positive reviews do not swamp the rest), the UCI amazon/yelp sentences, the
project's chat-style examples in `data/sentiment/chat.csv` (weighted up: they are what shoppers type) and, as
neutral, the NLU examples of request intents (`neutral_intents`: "do you have lunch bags" is a request, not praise).
Model: scikit-learn's logistic regression with balanced class weights on MiniLM sentence vectors (the
`MiniLMFeaturizer`'s, alias `minilm`, when it is in the pipeline; else it encodes the text itself with the same model).

Output, on every message: `message["sentiment"] = {"label", "score", "scores": {label: p}}` and an entity
`{"entity": "sentiment", "value": label, "confidence": score}` over the whole text, so a `sentiment` slot with a
`from_entity` mapping fills from it. Review and chat files are no graph inputs, so `fingerprint_addon` hashes them:
changed data retrains.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.exceptions import InvalidConfigException, RasaException
from rasa.shared.nlu.constants import ENTITIES, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.linear_model import LogisticRegression

from assistant.nlu import sentiment_data
from assistant.nlu.minilm import DIM, FloatArray, MiniLMUnavailable, OnnxMiniLM, shared_encoder
from assistant.nlu.sentiment_data import LABELS, LabelledText, Sentiment, SentimentDataError
from assistant.settings import PROJECT_ROOT, load_settings

logger = logging.getLogger(__name__)

SENTIMENT = "sentiment"
"""The message attribute and the entity name."""
MODEL_FILE = "sentiment.npz"

DEFAULT_NEUTRAL_INTENTS = [
    "search_products", "refine_search", "product_details", "compare_products", "ask_recommendation", "check_stock",
    "share_photo", "add_to_cart", "remove_from_cart", "view_cart", "checkout", "order_status", "delivery_options",
    "change_address", "identify_customer",
]  # fmt: skip


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class SentimentClassifier(GraphComponent, EntityExtractorMixin):
    """Logistic regression on MiniLM sentence vectors: a sentiment label and score for every message."""

    @staticmethod
    def required_packages() -> list[str]:
        return ["sklearn", "onnxruntime", "tokenizers"]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "featurizer_alias": "minilm",  # whose sentence features to use; the text is encoded here if absent
            "reviews_dir": None,  # default: REVIEWS_DIR from assistant.settings (../shared/datasets/reviews)
            "chat_data": "data/sentiment/chat.csv",  # relative to the project root
            "reviews_per_label": 1200,
            "uci_per_label": 500,
            "neutral_intents": DEFAULT_NEUTRAL_INTENTS,
            "neutral_intent_examples": 500,  # at most this many NLU examples of those intents
            "chat_weight": 3.0,  # sample weight of the chat examples (reviews and UCI sentences: 1)
            "C": 1.0,
            "threads": 1,
            "vector_cache_dir": None,  # default: $SHOPASSIST_CACHE/nlu
            "train_max_tokens": 64,  # reviews are long; their first 64 word pieces (title first) carry the verdict
        }

    def __init__(self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource) -> None:
        self._config = {**self.get_default_config(), **config}
        self._validate(self._config)
        self._storage = model_storage
        self._resource = resource
        self._model: LogisticRegression | None = None

    @staticmethod
    def _validate(config: dict[str, Any]) -> None:
        for key in ("reviews_per_label", "uci_per_label", "neutral_intent_examples"):
            if not isinstance(config[key], int) or config[key] < 0:
                raise InvalidConfigException(f"SentimentClassifier: {key} has value {config[key]!r}; expected ≥ 0")
        for key in ("chat_weight", "C"):
            if not isinstance(config[key], int | float) or config[key] <= 0:
                raise InvalidConfigException(f"SentimentClassifier: {key} has value {config[key]!r}; expected > 0")

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SentimentClassifier:
        return cls(config, model_storage, resource)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> SentimentClassifier:
        component = cls(config, model_storage, resource)
        try:
            with model_storage.read_from(resource) as folder, np.load(folder / MODEL_FILE) as saved:
                if list(saved["classes"]) != LABELS:
                    raise ValueError(f"classes {list(saved['classes'])}, expected {LABELS}")
                component._model = _logistic_regression(saved["coef"], saved["intercept"])
        except (ValueError, OSError, KeyError) as exc:
            raise RasaException(
                f"the sentiment model in this Rasa model is unusable ({exc}); retrain: make train"
            ) from exc
        return component

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """Hash of the review and chat files: Rasa's training cache does not see files outside the graph."""
        digest = hashlib.sha256()
        for path in sentiment_data.data_files(*cls._data_paths({**cls.get_default_config(), **config})):
            digest.update(path.name.encode())  # the name, not the folder: a clone elsewhere shares the cache
            digest.update(path.read_bytes() if path.is_file() else b"<missing>")
        return digest.hexdigest()

    @staticmethod
    def _data_paths(config: dict[str, Any]) -> tuple[Path, Path]:
        reviews = Path(config["reviews_dir"]) if config["reviews_dir"] else load_settings().reviews_dir
        chat = Path(config["chat_data"])
        return reviews, chat if chat.is_absolute() else PROJECT_ROOT / chat

    def _encoder(self, max_tokens: int | None = None) -> OnnxMiniLM:
        try:
            if max_tokens is None:
                return shared_encoder(threads=self._config["threads"])
            return shared_encoder(threads=self._config["threads"], max_tokens=max_tokens)
        except MiniLMUnavailable as exc:
            raise InvalidConfigException(f"SentimentClassifier cannot start: {exc}") from exc

    def train(self, training_data: TrainingData) -> Resource:
        items = self._training_items(training_data)
        counts = {label: sum(i.label is label for i in items) for label in Sentiment}
        logger.info("sentiment: training on %d texts %s", len(items), {k.value: v for k, v in counts.items()})
        if min(counts.values()) == 0:
            raise RasaException(f"sentiment training data lacks a label: {counts}; check REVIEWS_DIR and chat data")
        external = [i for i in items if i.source != "nlu"]
        requests = [i for i in items if i.source == "nlu"]
        encoder = self._encoder(self._config["train_max_tokens"])
        vectors = np.vstack(
            [self._cached_vectors(encoder, external), encoder.sentence_vectors([i.text for i in requests])]
        )
        items = external + requests
        labels = np.array([LABELS.index(i.label.value) for i in items])
        weights = np.array([self._config["chat_weight"] if i.source == "chat" else 1.0 for i in items])
        model = LogisticRegression(
            C=self._config["C"], class_weight="balanced", multi_class="multinomial", max_iter=2000, random_state=42
        )
        model.fit(vectors, labels, sample_weight=weights)
        self._model = model
        with self._storage.write_to(self._resource) as folder:  # plain arrays: no pickle in the model archive
            np.savez(folder / MODEL_FILE, coef=model.coef_, intercept=model.intercept_, classes=np.array(LABELS))
            (folder / "training.json").write_text(json.dumps({k.value: v for k, v in counts.items()}))
        return self._resource

    def _cached_vectors(self, encoder: OnnxMiniLM, items: list[LabelledText]) -> FloatArray:
        """Vectors of the review, UCI and chat texts, cached on disk by the hash of those files and the settings that
        choose them: editing `data/nlu/` retrains this component (its examples feed `neutral_intents`) in seconds."""
        digest = hashlib.sha256()
        digest.update(f"{encoder.name}:{self._config['train_max_tokens']}:{len(items)}".encode())
        digest.update(str(self.fingerprint_addon(self._config)).encode())
        digest.update(str([self._config[k] for k in ("reviews_per_label", "uci_per_label")]).encode())
        folder = Path(self._config["vector_cache_dir"] or load_settings().cache_dir / "nlu")
        path = folder / f"sentiment-vectors-{digest.hexdigest()[:20]}.npy"
        if path.is_file():
            cached = np.load(path)
            if cached.shape == (len(items), encoder.dim):
                return np.asarray(cached, dtype=np.float32)
        logger.info("sentiment: encoding %d review/chat texts with MiniLM (cached in %s)", len(items), path)
        vectors = encoder.sentence_vectors([i.text for i in items])
        with contextlib.suppress(OSError):  # a read-only cache only costs speed
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.tmp.npy")
            np.save(partial, vectors)
            partial.replace(path)
        return vectors

    def _training_items(self, training_data: TrainingData) -> list[LabelledText]:
        reviews_dir, chat_path = self._data_paths(self._config)
        try:
            items = sentiment_data.training_items(
                reviews_dir, chat_path, self._config["reviews_per_label"], self._config["uci_per_label"]
            )
        except SentimentDataError as exc:
            raise RasaException(f"SentimentClassifier: {exc}") from exc
        wanted = set(self._config["neutral_intents"])
        requests = [
            LabelledText(m.get(TEXT), Sentiment.NEUTRAL, "nlu", f"nlu:{m.get(INTENT)}:{m.get(TEXT)}")
            for m in training_data.intent_examples
            if m.get(INTENT) in wanted and m.get(TEXT)
        ]
        return items + sentiment_data.balanced_sample(requests, self._config["neutral_intent_examples"])

    def process(self, messages: list[Message]) -> list[Message]:
        """Set the sentiment attribute and entity on every message with a text."""
        if self._model is None:
            raise RasaException("SentimentClassifier is not trained; run `make train`")
        todo = [m for m in messages if isinstance(m.get(TEXT), str)]
        if not todo:
            return messages
        vectors = np.vstack([self._sentence_vector(m) for m in todo])
        probabilities = self._model.predict_proba(vectors)
        for message, p in zip(todo, probabilities, strict=True):
            best = int(np.argmax(p))
            label, score = LABELS[best], float(p[best])
            message.set(
                SENTIMENT,
                {"label": label, "score": score, "scores": {k: float(v) for k, v in zip(LABELS, p, strict=True)}},
                add_to_output=True,
            )
            text = message.get(TEXT)
            entity = {"entity": SENTIMENT, "value": label, "start": 0, "end": len(text), "confidence": score}
            entities = [e for e in message.get(ENTITIES, []) if e.get("entity") != SENTIMENT]
            message.set(ENTITIES, entities + self.add_extractor_name([entity]), add_to_output=True)
        return messages

    def _sentence_vector(self, message: Message) -> FloatArray:
        _, sentence = message.get_dense_features(TEXT, [self._config["featurizer_alias"]])
        if sentence is not None and sentence.features.shape[-1] == DIM:
            return np.asarray(sentence.features, dtype=np.float32).reshape(1, -1)
        return self._encoder().sentence_vectors([message.get(TEXT)])


def _logistic_regression(coef: FloatArray, intercept: FloatArray) -> LogisticRegression:
    """A fitted multinomial `LogisticRegression` from saved weights (classes 0..2 = `LABELS`)."""
    if coef.shape != (len(LABELS), DIM) or intercept.shape != (len(LABELS),):
        raise ValueError(f"weights of shape {coef.shape} / {intercept.shape}, expected ({len(LABELS)}, {DIM})")
    model = LogisticRegression(multi_class="multinomial")
    model.classes_ = np.arange(len(LABELS))
    model.coef_, model.intercept_ = coef, intercept
    model.n_features_in_ = DIM
    return model
