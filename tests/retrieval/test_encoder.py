"""MiniLMEncoder: the real bundled model (slow tests) and its load-once and error behaviour."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retrieval.encoder import MiniLMEncoder
from retrieval.errors import RetrievalUnavailable

TITLES = ["lunch bag red retrospot", "white hanging heart t-light holder", "regency cakestand 3 tier", "party bunting"]


@pytest.fixture
def model_loads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Records every `AutoModel.from_pretrained` call (each is a full load of the weights)."""
    from transformers import AutoModel

    real = AutoModel.from_pretrained.__func__  # type: ignore[attr-defined]
    loads: list[str] = []

    def counting(cls: Any, path: str, *args: Any, **kwargs: Any) -> Any:
        loads.append(path)
        return real(cls, path, *args, **kwargs)

    monkeypatch.setattr(AutoModel, "from_pretrained", classmethod(counting))
    yield loads


def test_dim_and_empty_input_do_not_load_the_model(model_loads: list[str]) -> None:
    encoder = MiniLMEncoder()
    assert encoder.dim == 384
    assert encoder.encode([]).shape == (0, 384)
    assert model_loads == []


def test_a_single_string_is_refused() -> None:
    with pytest.raises(TypeError, match="sequence of texts"):
        MiniLMEncoder().encode("red lunch bag")


def test_a_broken_model_folder_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"hidden_size": 384}')
    with pytest.raises(RetrievalUnavailable, match=f"cannot load the all-MiniLM-L6-v2 model from {tmp_path}"):
        MiniLMEncoder(tmp_path).encode(["red lunch bag"])


@pytest.mark.slow
def test_vectors_are_unit_rows_of_384_floats(minilm: MiniLMEncoder) -> None:
    vectors = minilm.encode(TITLES)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.abs(vectors[0] - vectors[1]).max() > 0.01


@pytest.mark.slow
def test_encoding_is_deterministic_and_independent_of_batching(minilm: MiniLMEncoder) -> None:
    once = minilm.encode(TITLES, batch_size=4)
    np.testing.assert_array_equal(minilm.encode(TITLES, batch_size=4), once)
    one_by_one = np.vstack([minilm.encode([t]) for t in TITLES])
    np.testing.assert_allclose(minilm.encode(TITLES, batch_size=3), once, atol=1e-5)  # other padding
    np.testing.assert_allclose(one_by_one, once, atol=1e-5)


@pytest.mark.slow
def test_similar_texts_are_closer(minilm: MiniLMEncoder) -> None:
    query, lunch_bag, heart_holder = minilm.encode(
        ["red lunch bag", "LUNCH BAG RED RETROSPOT".lower(), "WHITE HANGING HEART T-LIGHT HOLDER".lower()]
    )
    assert float(query @ lunch_bag) > float(query @ heart_holder) + 0.3


@pytest.mark.slow
def test_same_vectors_as_sentence_transformers(minilm: MiniLMEncoder) -> None:
    """The reference: the model's own pipeline (modules.json: Transformer → mean Pooling → Normalize)."""
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(minilm.model_path), device="cpu")
    texts = [*TITLES, "do you have red retrospot lunch bags?", "a " + "very long query " * 100]
    expected = reference.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(minilm.encode(texts), expected, atol=1e-5)


@pytest.mark.slow
def test_progress_bar_on_stderr_only_when_asked(minilm: MiniLMEncoder, capsys: pytest.CaptureFixture[str]) -> None:
    minilm.encode(TITLES, batch_size=2)
    assert capsys.readouterr().err == ""
    minilm.encode(TITLES, batch_size=2, progress=True)
    bar = capsys.readouterr().err
    assert "encoding: 100%" in bar and "2/2" in bar


@pytest.mark.slow
def test_the_model_loads_once_across_many_calls(model_loads: list[str]) -> None:
    encoder = MiniLMEncoder()
    for title in TITLES * 5:
        encoder.encode([title])
    encoder.encode(TITLES, batch_size=2, progress=True)
    assert model_loads == [str(encoder.model_path)]


@pytest.mark.slow
def test_concurrent_callers_share_one_load_and_get_correct_vectors(model_loads: list[str]) -> None:
    encoder = MiniLMEncoder()
    texts = [f"{t} number {n}" for n in range(3) for t in TITLES]
    start = threading.Barrier(len(texts))
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def work(n: int) -> None:
        start.wait()
        try:
            results[n] = encoder.encode([texts[n]])[0]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == [] and len(model_loads) == 1
    np.testing.assert_allclose(np.vstack([results[n] for n in range(len(texts))]), encoder.encode(texts), atol=1e-5)
