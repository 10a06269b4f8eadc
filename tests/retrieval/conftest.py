"""Fixtures of the retrieval tests. The real model is loaded once per session and shared, as production does."""

from __future__ import annotations

import pytest

from retrieval.encoder import MiniLMEncoder


@pytest.fixture(scope="session")
def minilm() -> MiniLMEncoder:
    return MiniLMEncoder()
