"""MiniLMFeaturizer as Rasa runs it: after the WhitespaceTokenizer, on odd input too (core runtime only)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rasa")

from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from assistant.nlu.minilm import DIM, shared_encoder
from assistant.nlu.minilm_featurizer import MiniLMFeaturizer


def featurizer(**config: object) -> MiniLMFeaturizer:
    context = ExecutionContext(GraphSchema({}), node_name="minilm_test")
    return MiniLMFeaturizer.create({**MiniLMFeaturizer.get_default_config(), **config}, None, None, context)  # type: ignore[arg-type]


def featurize(texts: list[str]) -> list[Message]:
    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    messages = tokenizer.process([Message(data={TEXT: t}) for t in texts])
    return featurizer().process(messages)


@pytest.mark.parametrize(
    "text", ["do you have red retrospot lunch bags?", "", "😀", "hi 👋 there", "lunch bag " * 1000, "ok"]
)
def test_one_feature_row_per_token_and_one_sentence_vector(text: str) -> None:
    (message,) = featurize([text])
    sequence, sentence = message.get_dense_features(TEXT, ["minilm"])
    assert sequence is not None and sentence is not None
    assert sequence.features.shape == (len(message.get(TOKENS_NAMES[TEXT])), DIM)
    assert sentence.features.shape == (1, DIM)
    assert np.isfinite(sequence.features).all()
    assert np.linalg.norm(sentence.features) == pytest.approx(1.0, abs=1e-5)


def test_token_features_are_the_mean_of_their_word_pieces() -> None:
    text = "retrospot lunchbags"  # both words split into several word pieces
    (message,) = featurize([text])
    sequence, sentence = message.get_dense_features(TEXT, ["minilm"])
    (encoding,) = shared_encoder().encode([text])
    first = [i for i, (s, _) in enumerate(encoding.offsets) if s < len("retrospot")]
    assert len(first) > 1
    np.testing.assert_allclose(sequence.features[0], encoding.states[first].mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(sentence.features[0], encoding.sentence, atol=1e-6)


def test_tokens_past_the_model_limit_get_zero_features() -> None:
    (message,) = featurize(["bag " * 600])
    sequence, _ = message.get_dense_features(TEXT, ["minilm"])
    assert sequence.features[0].any() and not sequence.features[-1].any()


def test_training_data_is_featurized_in_place() -> None:
    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    data = TrainingData(
        [Message(data={TEXT: "hello", "intent": "greet"}), Message(data={TEXT: "bye", "intent": "goodbye"})]
    )
    tokenizer.process_training_data(data)
    featurizer().process_training_data(data)
    assert all(m.features_present(TEXT, ["minilm"]) for m in data.training_examples)


@pytest.mark.parametrize(("key", "value"), [("threads", 0), ("max_tokens", 1000), ("batch_size", "many")])
def test_bad_config_is_refused_with_the_key(key: str, value: object) -> None:
    with pytest.raises(InvalidConfigException, match=key):
        featurizer(**{key: value})


def test_a_missing_model_file_says_how_to_fix_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidConfigException, match="make env-core"):
        featurizer(model_path=str(tmp_path / "nope.onnx"))
