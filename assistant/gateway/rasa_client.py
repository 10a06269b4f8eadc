"""A client for Rasa's REST channel, Rasa's HTTP API (trackers, events, actions) and the two backends' health
endpoints, over one shared HTTP session."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import aiohttp

from assistant.gateway.config import GatewayConfig
from assistant.gateway.errors import AssistantReplyInvalid, AssistantTimeout, AssistantUnavailable, Backend

RasaMessage = dict[str, Any]
"""One bot message as Rasa's REST channel sends it: `recipient_id` plus `text`, `buttons`, `image`, `custom`, ..."""

REST_WEBHOOK_PATH = "/webhooks/rest/webhook"
AGENT_MESSAGE_SLOT = "agent_message"
AGENT_MESSAGE_ACTION = "utter_agent_message"
AGENT_POLICY_PREFIX = "staff:"
ACTION_LISTEN = "action_listen"
"""`execute` records its `policy` on the action's event: "staff:<display name>" says which person sent a reply."""


class RasaClient:
    """Sends shopper messages to Rasa, reads and changes conversations through Rasa's HTTP API (started with
    `--enable-api --auth-token`; the token comes from `GatewayConfig.rasa_token`), and probes Rasa and the action
    server.

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
        status, body = await self._request("POST", url, {}, {"sender": sender_id, "message": text})
        if status != 200:
            raise AssistantReplyInvalid(
                f"{url} answered HTTP {status}; is the `rest:` channel enabled in credentials.yml?"
            )
        messages = _json(url, body)
        if not isinstance(messages, list):
            raise AssistantReplyInvalid(f"{url} answered {type(messages).__name__}; expected a JSON list of messages")
        return [message for message in messages if isinstance(message, dict)]

    async def tracker(self, sender_id: str) -> dict[str, Any]:
        """The conversation's tracker with every event (`GET /conversations/{id}/tracker?include_events=ALL`); an
        unknown sender gets Rasa's empty tracker. Raises like `send`."""
        body = await self._api("GET", sender_id, "tracker", {"include_events": "ALL"})
        if not isinstance(body, dict) or not isinstance(body.get("events", []), list):
            raise AssistantReplyInvalid(f"Rasa answered the tracker of a conversation with {type(body).__name__}")
        return body

    async def append_events(self, sender_id: str, events: list[dict[str, Any]]) -> None:
        """Append events (`{"event": "slot", ...}`, `{"event": "pause"}`, ...) to the conversation, without running
        their side effects. Raises like `send`."""
        if not events:
            return
        await self._api("POST", sender_id, "tracker/events", {"include_events": "NONE"}, events)

    async def pause(self, sender_id: str) -> None:
        """Make the bot silent in this conversation: Rasa keeps logging the shopper's messages (with their NLU
        parse) and predicts nothing until `resume`."""
        await self.append_events(sender_id, [{"event": "pause"}])

    async def resume(self, sender_id: str) -> None:
        """Let the bot answer this conversation again."""
        await self.append_events(sender_id, [{"event": "resume"}])

    async def say_as_agent(self, sender_id: str, text: str, agent: str | None = None) -> list[RasaMessage]:
        """Send a staff member's `text` to the shopper through Rasa: set slot `agent_message`, then execute
        `utter_agent_message` on the shopper's latest channel. Telegram's connector delivers it itself (the answer
        is then empty); for the web REST channel Rasa returns the messages, which the caller pushes to the page.
        `agent` (a display name) is recorded on the action's event as policy "staff:<name>", so the transcript and
        the shopper's history say who wrote it. Raises like `send`."""
        await self.append_events(sender_id, [{"event": "slot", "name": AGENT_MESSAGE_SLOT, "value": text}])
        command: dict[str, Any] = {"name": AGENT_MESSAGE_ACTION}
        if agent:
            command["policy"] = AGENT_POLICY_PREFIX + agent[:64]
        body = await self._api(
            "POST", sender_id, "execute", {"output_channel": "latest", "include_events": "NONE"}, command
        )
        # `execute` runs the action and stops; Rasa's own turns end with action_listen, and rules only match a
        # shopper message that follows one (without it "hello" after a hand-back met the fallback).
        await self.append_events(sender_id, [{"event": "action", "name": ACTION_LISTEN}])
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list):
            return []
        return [message for message in messages if isinstance(message, dict)]

    async def _api(self, method: str, sender_id: str, path: str, params: dict[str, str], payload: Any = None) -> Any:
        """One call to Rasa's HTTP API for one conversation; its JSON answer. Raises `AssistantTimeout`,
        `AssistantUnavailable` (unreachable or 5xx) or `AssistantReplyInvalid` (refused token, not JSON, other 4xx)."""
        url = f"{self._rasa_url}/conversations/{quote(sender_id, safe='')}/{path}"
        query = dict(params)
        if self._config.rasa_token:
            query["token"] = self._config.rasa_token
        status, body = await self._request(method, url, query, payload)
        if status in (401, 403):
            raise AssistantReplyInvalid(
                f"{url} answered HTTP {status}: Rasa refused the API token. Start Rasa with `--enable-api "
                "--auth-token` from the same SECRET_FILE as the gateway (assistant/stack.py does)."
            )
        if status == 404 or status == 405:
            raise AssistantReplyInvalid(f"{url} answered HTTP {status}; is Rasa started with `--enable-api`?")
        if status >= 400:
            raise AssistantReplyInvalid(f"{url} answered HTTP {status}: {body[:200]!r}")
        return _json(url, body)

    async def _request(self, method: str, url: str, params: dict[str, str], payload: Any) -> tuple[int, bytes]:
        """One request to Rasa within the send timeout: its status and body. Raises `AssistantTimeout`, or
        `AssistantUnavailable` when Rasa is unreachable or answers 5xx."""
        try:
            async with self.session.request(
                method, url, params=params, json=payload, timeout=self._send_timeout
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
            raise AssistantUnavailable(Backend.RASA, f"{url} answered HTTP {status}: {body[:200]!r}")
        return status, body

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


def _json(url: str, body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise AssistantReplyInvalid(f"{url} answered with a body that is not JSON: {body[:100]!r}") from exc
