"""The retrieval error tree: callers (actions, CLIs) catch these, never torch's, transformers' or faiss' own errors."""

from __future__ import annotations

from pathlib import Path


class RetrievalError(Exception):
    """Base class of every error retrieval raises."""


class IndexNotBuilt(RetrievalError):
    """The product index file is missing; the message names the command that builds it."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"product index not found at {path}; run `make build`")
        self.path = path


class RetrievalUnavailable(RetrievalError):
    """The embedding model or the index failed to load or to answer a query."""


class InvalidQuery(RetrievalError):
    """The query cannot be searched (empty or only whitespace)."""
