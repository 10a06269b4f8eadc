"""The gateway's error tree: handlers catch these, never aiohttp's client errors."""

from __future__ import annotations

from enum import StrEnum


class Backend(StrEnum):
    """A process behind the gateway."""

    RASA = "rasa"
    ACTIONS = "actions"


class GatewayError(Exception):
    """Base class of every error the gateway's client raises."""


class AssistantUnavailable(GatewayError):
    """A backend could not be reached or answered with a server error; retrying later may help."""

    def __init__(self, which: Backend, detail: str) -> None:
        super().__init__(f"{which.value} unavailable: {detail}")
        self.which = which
        self.detail = detail


class AssistantTimeout(AssistantUnavailable):
    """A backend did not answer within its timeout."""


class AssistantReplyInvalid(GatewayError):
    """Rasa answered, but not with the REST channel's JSON list (wrong URL, channel not enabled, a proxy page)."""
