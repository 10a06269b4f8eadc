"""A client for Rasa's REST channel and the two backends' health endpoints, over one shared HTTP session."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from assistant.gateway.config import GatewayConfig
from assistant.gateway.errors import AssistantReplyInvalid, AssistantTimeout, AssistantUnavailable, Backend

RasaMessage = dict[str, Any]
"""One bot message as Rasa's REST channel sends it: `recipient_id` plus `text`, `buttons`, `image`, `custom`, ..."""

REST_WEBHOOK_PATH = "/webhooks/rest/webhook"


class RasaClient:
    """Sends shopper messages to Rasa and probes Rasa and the action server.

    One `aiohttp.ClientSession` (one connection pool) serves every request: `start()` opens it, `close()` closes
    it; `create_app` ties both to the web application's start-up and clean-up. Every call has a timeout.
    """

    def __init__(self, config: GatewayConfig) -> None:
        self._config = config
        self._rasa_url = config.rasa_url.rstrip("/")
        self._actions_url = config.action_server_url.rstrip("/")
        self._send_timeout = aiohttp.ClientTimeout(
            total=config.rasa_timeout_s, sock_connect=min(config.connect_timeout_s, config.rasa_timeout_s)
        )
        self._health_timeout = aiohttp.ClientTimeout(
            total=config.health_timeout_s, sock_connect=min(config.connect_timeout_s, config.health_timeout_s)
        )
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The shared session; raises `RuntimeError` before `start()`."""
        if self._session is None:
            raise RuntimeError("RasaClient is not started; call `await client.start()` (create_app does it on startup)")
        return self._session

    async def start(self) -> None:
        """Open the shared session (idempotent)."""
        if self._session is None or self._session.closed:
            # trust_env=False: backends are on 127.0.0.1 and must never be reached through an HTTP(S)_PROXY.
            self._session = aiohttp.ClientSession(timeout=self._send_timeout, trust_env=False)

    async def close(self) -> None:
        """Close the shared session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def __aenter__(self) -> RasaClient:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def send(self, sender_id: str, text: str) -> list[RasaMessage]:
        """Send one shopper message; return Rasa's bot messages (possibly none).

        Raises `AssistantTimeout`, `AssistantUnavailable` (unreachable, or a 5xx answer) or `AssistantReplyInvalid`.
        """
        url = self._rasa_url + REST_WEBHOOK_PATH
        try:
            async with self.session.post(
                url, json={"sender": sender_id, "message": text}, timeout=self._send_timeout
            ) as response:
                body = await response.read()
                status = response.status
        except TimeoutError as exc:
            raise AssistantTimeout(
                Backend.RASA, f"no answer from {url} within {self._config.rasa_timeout_s:g} s"
            ) from exc
        except aiohttp.ClientError as exc:
            raise AssistantUnavailable(Backend.RASA, f"{type(exc).__name__} from {url}: {exc}") from exc
        if status >= 500:
            raise AssistantUnavailable(Backend.RASA, f"{url} answered HTTP {status}")
        if status != 200:
            raise AssistantReplyInvalid(
                f"{url} answered HTTP {status}; is the `rest:` channel enabled in credentials.yml?"
            )
        try:
            messages = json.loads(body)
        except (UnicodeDecodeError, ValueError) as exc:
            raise AssistantReplyInvalid(f"{url} answered with a body that is not JSON: {body[:100]!r}") from exc
        if not isinstance(messages, list):
            raise AssistantReplyInvalid(f"{url} answered {type(messages).__name__}; expected a JSON list of messages")
        return [message for message in messages if isinstance(message, dict)]

    async def rasa_healthy(self) -> bool:
        """Whether Rasa's server answers its root URL with its greeting."""
        text = await self._probe(self._rasa_url + "/")
        return text is not None and text.startswith("Hello from Rasa")

    async def actions_healthy(self) -> bool:
        """Whether the action server answers `/health` with `{"status": "ok"}`."""
        text = await self._probe(self._actions_url + "/health")
        if text is None:
            return False
        try:
            payload = json.loads(text)
        except ValueError:
            return False
        return isinstance(payload, dict) and payload.get("status") == "ok"

    async def _probe(self, url: str) -> str | None:
        """GET `url` with the health timeout; its body on HTTP 200, else None (never raises a network error)."""
        try:
            async with self.session.get(url, timeout=self._health_timeout) as response:
                if response.status != 200:
                    return None
                return await response.text(errors="replace")
        except (TimeoutError, aiohttp.ClientError):
            return None
