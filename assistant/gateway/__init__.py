"""The web gateway: the chat page and a small JSON API in front of Rasa's REST channel (app runtime, aiohttp).

It is the only public surface: browsers talk to it, it talks to Rasa and the action server on 127.0.0.1.
Run it with `python -m assistant.gateway`.
"""

from assistant.gateway.app import create_app
from assistant.gateway.config import GatewayConfig
from assistant.gateway.errors import (
    AssistantReplyInvalid,
    AssistantTimeout,
    AssistantUnavailable,
    Backend,
    GatewayError,
)
from assistant.gateway.rasa_client import RasaClient

__all__ = [
    "AssistantReplyInvalid",
    "AssistantTimeout",
    "AssistantUnavailable",
    "Backend",
    "GatewayConfig",
    "GatewayError",
    "RasaClient",
    "create_app",
]
