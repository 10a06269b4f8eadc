"""The recsys error tree: callers (actions, CLIs) catch these, never numpy's, scipy's, implicit's or pickle's own."""

from __future__ import annotations

from pathlib import Path


class RecsysError(Exception):
    """Base class of every error recsys raises."""


class ModelNotBuilt(RecsysError):
    """No recommender artifact where the configuration says; the message names the command that builds it."""

    def __init__(self, where: Path, detail: str = "") -> None:
        extra = f" ({detail})" if detail else ""
        super().__init__(f"recommender artifact not found in {where}{extra}; run `make build`")
        self.where = where


class RecsysUnavailable(RecsysError):
    """The artifact exists but cannot be read, or the catalog could not be read for training."""
