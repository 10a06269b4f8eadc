"""Telegram for Rasa, with photos: `PhotoTelegramInput` (credentials.yml key
`assistant.channels.telegram.PhotoTelegramInput:`), a drop-in for Rasa's stock `telegram:` connector.

Why not the stock connector: it ignores photo updates (a shopper's photo gets no answer at all), it asks the Bot API
`getMe` on every message, its output channel calls `asyncio.run` (which fails inside Rasa's running server when the
staff console sends a reply through `execute?output_channel=latest`) and shares one aiohttp session across event
loops, and anyone who can reach `/webhooks/telegram/webhook` can post updates in any chat's name. Here:

- a photo (largest size offered), or a document whose MIME type is an image, is fetched from the Bot API (`getFile` +
  download, with timeouts and the `MAX_UPLOAD_BYTES` cap) and posted to the gateway's `POST /internal/photos`, which
  cleans and stores it exactly like a web upload; Rasa then gets `/share_photo{"image_id": "<id>"}`, the message the
  web chat sends. A photo that is too large, not an image, or cannot be fetched gets a clear answer in the chat;
- stickers, voice notes, videos, locations and other media get a polite "text and photos only" answer;
- typed text starting with '/' cannot act as a Rasa intent with entities (Telegram's `/start` becomes a greeting,
  `/restart` restarts the conversation); buttons (inline keyboard callbacks) still send their payloads;
- the webhook is registered with a `secret_token` (derived from the installation's secret unless given), and updates
  without Telegram's `X-Telegram-Bot-Api-Secret-Token` header are refused with 403;
- one output channel per connector, its HTTP session opened in the running event loop and closed on shutdown; every
  Bot API call has a timeout and a failed send is logged with what to check, not raised into the dialogue;
- `api_base_url` points the real aiogram client at another Bot API server (a local stand-in in tests; api.telegram.org
  by default).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiogram import Bot
from aiogram.bot.api import TelegramAPIServer
from aiogram.types import CallbackQuery, Message, Update
from aiogram.utils.exceptions import TelegramAPIError
from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.telegram import TelegramInput, TelegramOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from assistant.secrets import derive, load_secret
from assistant.settings import load_settings

logger = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://api.telegram.org"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DEFAULT_TIMEOUT_S = 10.0
"""Longest wait for one Bot API call or photo transfer."""
CHUNK = 64 * 1024
SHARE_PHOTO = "/share_photo"
GREETING = "hi"
"""What Telegram's `/start` (sent when a shopper opens the bot) becomes: a greeting for NLU."""
RESTART = "/restart"

# What the shopper reads when the connector itself has to answer (Rasa never sees these turns).
TOO_LARGE = "That photo is too large for me ({limit:g} MB at most). Please send a smaller one."
FETCH_FAILED = "Sorry, I couldn't fetch your photo from Telegram just now. Please send it again in a moment."
STORE_FAILED = "Sorry, I can't look at photos right now. Please try again later, or describe what you're looking for."
TEXT_AND_PHOTOS_ONLY = "Sorry, I can only read text and photos. Tell me in words what you're looking for."

UNSUPPORTED_CONTENT = (
    "sticker",
    "voice",
    "audio",
    "video",
    "video_note",
    "animation",
    "location",
    "venue",
    "contact",
    "poll",
    "dice",
    "game",
    "document",
)
"""Message fields of media the assistant cannot read (a `document` only when it is not an image)."""

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class PhotoRefused(Exception):
    """The shopper's photo cannot be used; the message is safe to show them."""


class PhotoTelegramOutput(TelegramOutput):  # type: ignore[misc]
    """Rasa's Telegram output channel (text, buttons as inline or reply keyboards, images, custom JSON) talking to
    `server`, with a timeout on every call and an HTTP session that belongs to the running event loop."""

    _session: aiohttp.ClientSession | None

    def __init__(self, access_token: str, server: TelegramAPIServer, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        Bot.__init__(self, access_token, server=server, timeout=aiohttp.ClientTimeout(total=timeout_s))
        self.timeout_s = timeout_s
        self._session_loop: asyncio.AbstractEventLoop | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """aiogram's session, made anew when the running event loop is not the one it was made in."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            self._session = self.get_new_session()
            self._session_loop = loop
        session: aiohttp.ClientSession = self._session
        return session

    async def close_session(self) -> None:
        if self._session is not None and not self._session.closed and self._session_loop is asyncio.get_running_loop():
            await self._session.close()
        self._session = None

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        """Send one bot message; a Bot API failure is logged (the dialogue goes on) instead of raised."""
        try:
            await super().send_response(recipient_id, message)
        except (TelegramAPIError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
            logger.error(
                "telegram: a reply could not be delivered (%s: %s); check access_token, api_base_url and that the "
                "Bot API is reachable",
                type(exc).__name__,
                exc,
            )

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        """Product cards (a custom payload the web page renders) as plain text lines; anything else as Rasa does."""
        if isinstance(json_message, dict) and json_message.get("type") == "product_cards":
            lines = [_card_line(card) for card in json_message.get("products") or [] if isinstance(card, dict)]
            if lines:
                await self.send_message(recipient_id, "\n".join(lines))
            return
        await super().send_custom_json(recipient_id, json_message, **kwargs)

    async def say(self, chat_id: str, text: str) -> None:
        """A message from the connector itself (not from Rasa), never raising."""
        await self.send_response(chat_id, {"text": text})


def _card_line(card: dict[str, Any]) -> str:
    price = card.get("price")
    price_text = f"£{price}" if isinstance(price, str) and price[:1].isdigit() else str(price or "")
    stock = card.get("stock")
    label = stock.get("label") if isinstance(stock, dict) else None
    parts = [str(card.get("title") or card.get("sku") or "?"), price_text, f"({label})" if label else ""]
    return "• " + " ".join(p for p in parts if p)


class PhotoTelegramInput(TelegramInput):  # type: ignore[misc]
    """Rasa's Telegram input channel, reading photos too (see the module docstring)."""

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        if not credentials:
            cls.raise_missing_credentials_exception()
        assert credentials is not None
        missing = [key for key in ("access_token", "verify") if not credentials.get(key)]
        if missing:
            raise ValueError(
                f"credentials.yml: {cls.__module__}.{cls.__name__} needs {', '.join(missing)}: the bot token from "
                "@BotFather and the bot's username (see the README, 'Messaging channels')"
            )
        settings = load_settings()
        secret = load_secret(settings.secret_file)
        return cls(
            access_token=str(credentials["access_token"]),
            verify=str(credentials["verify"]),
            webhook_url=credentials.get("webhook_url") or None,
            api_base_url=str(credentials.get("api_base_url") or DEFAULT_API_BASE_URL),
            photo_upload_url=str(
                credentials.get("photo_upload_url") or f"http://127.0.0.1:{settings.gateway_port}/internal/photos"
            ),
            upload_token=derive(secret, "internal-upload"),
            secret_token=str(credentials.get("secret_token") or derive(secret, "telegram-webhook")[:64]),
            max_photo_bytes=settings.max_upload_bytes,
            timeout_s=float(credentials.get("timeout_s") or DEFAULT_TIMEOUT_S),
        )

    def __init__(
        self,
        access_token: str,
        verify: str,
        webhook_url: str | None,
        api_base_url: str = DEFAULT_API_BASE_URL,
        photo_upload_url: str = "http://127.0.0.1:8080/internal/photos",
        upload_token: str = "",
        secret_token: str | None = None,
        max_photo_bytes: int = 8 * 1024 * 1024,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        debug_mode: bool = False,
    ) -> None:
        super().__init__(access_token, verify, webhook_url, debug_mode=debug_mode)
        if not api_base_url.startswith(("http://", "https://")):
            raise ValueError(f"api_base_url has value {api_base_url!r}; expected an http(s) URL")
        if not photo_upload_url.startswith(("http://", "https://")):
            raise ValueError(f"photo_upload_url has value {photo_upload_url!r}; expected an http(s) URL")
        self.api_base_url = api_base_url
        self.photo_upload_url = photo_upload_url
        self.upload_token = upload_token
        self.secret_token = secret_token
        self.max_photo_bytes = max_photo_bytes
        self.timeout_s = timeout_s
        self._output: PhotoTelegramOutput | None = None
        self._verified = False

    def get_output_channel(self) -> PhotoTelegramOutput:
        """The connector's one output channel (Rasa's `execute?output_channel=latest` asks for it per request).
        Unlike the stock connector, this does not set the webhook: that happens once when the server starts."""
        if self._output is None:
            self._output = PhotoTelegramOutput(
                self.access_token, TelegramAPIServer.from_base(self.api_base_url), self.timeout_s
            )
        return self._output

    async def set_webhook(self) -> bool:
        """Register `webhook_url` (with `secret_token`) at the Bot API; False, logged, when that fails."""
        if not self.webhook_url:
            return False
        payload = {"url": self.webhook_url}
        if self.secret_token:
            payload["secret_token"] = self.secret_token
        try:
            result = await self.get_output_channel().request("setWebhook", payload)
        except (TelegramAPIError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
            logger.error(
                "telegram: setWebhook failed (%s: %s); check access_token, that webhook_url is a public https URL "
                "that reaches Rasa, and that %s is reachable. Retry with POST /webhooks/telegram/set_webhook.",
                type(exc).__name__,
                exc,
                self.api_base_url,
            )
            return False
        return bool(result)

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        telegram_webhook = Blueprint("telegram_webhook", __name__)

        async def register_webhook(_app: Any, _loop: Any) -> None:
            if await self.set_webhook():
                logger.info("telegram: webhook registered")

        async def close(_app: Any, _loop: Any) -> None:
            await self.get_output_channel().close_session()

        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        async def set_webhook(_: Request) -> HTTPResponse:
            if await self.set_webhook():
                return response.text("Webhook setup successful")
            return response.text("Webhook setup failed; see Rasa's log", status=502)

        async def webhook(request: Request) -> HTTPResponse:
            return await self.handle_update(request, on_new_message)

        telegram_webhook.listener("after_server_start")(register_webhook)
        telegram_webhook.listener("after_server_stop")(close)
        telegram_webhook.add_route(health, "/", methods=["GET"])
        telegram_webhook.add_route(set_webhook, "/set_webhook", methods=["POST"])
        telegram_webhook.add_route(webhook, "/webhook", methods=["POST"])
        return telegram_webhook

    async def handle_update(self, request: Request, on_new_message: OnNewMessage) -> HTTPResponse:
        """One update from Telegram: refuse forgeries, then hand text, buttons and photos to Rasa."""
        if self.secret_token and not hmac.compare_digest(
            request.headers.get(SECRET_HEADER, "").encode("utf-8"), self.secret_token.encode("utf-8")
        ):
            return response.text("missing or wrong secret token", status=403)
        try:
            body = json.loads(request.body or b"null")
            if isinstance(body, str):
                body = json.loads(body)
            if not isinstance(body, dict):
                raise ValueError("not a JSON object")
            update = Update(**body)
            for part, kind in (
                (update.message, Message),
                (update.edited_message, Message),
                (update.callback_query, CallbackQuery),
            ):
                if part is not None and not isinstance(part, kind):
                    raise TypeError(f"{kind.__name__} expected")
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            return response.text(f"not a Telegram update: {exc}", status=400)
        out = self.get_output_channel()
        if not await self._bot_is_verified(out):
            return response.text("failed")
        metadata = self.get_metadata(request)

        async def deliver(text: str, sender_id: str) -> None:
            await on_new_message(UserMessage(text, out, sender_id, input_channel=self.name(), metadata=metadata))

        try:
            if update.callback_query is not None:
                await self._answer_button(out, update, deliver)
            else:
                message = update.message or update.edited_message
                if message is not None and message.chat is not None:
                    await self._answer_message(out, message, deliver)
        except Exception:
            logger.exception("telegram: handling an update failed")
            if self.debug_mode:
                raise
        return response.text("success")

    async def _bot_is_verified(self, out: PhotoTelegramOutput) -> bool:
        """The stock check (`getMe().username == verify`), asked once rather than on every message."""
        if self._verified:
            return True
        try:
            me = await out.get_me()
        except (TelegramAPIError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
            logger.error(
                "telegram: getMe failed (%s: %s); check access_token and api_base_url", type(exc).__name__, exc
            )
            return False
        self._verified = me.username == self.verify
        if not self._verified:
            logger.error("telegram: the bot's username is %r, not %r (credentials 'verify')", me.username, self.verify)
        return self._verified

    async def _answer_button(
        self, out: PhotoTelegramOutput, update: Update, deliver: Callable[[str, str], Awaitable[None]]
    ) -> None:
        query = update.callback_query
        try:  # stops the button's spinner in the shopper's app; cosmetic, so failures are only logged
            await out.answer_callback_query(query.id)
        except (TelegramAPIError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
            logger.warning("telegram: answerCallbackQuery failed: %s", exc)
        chat_id = query.message.chat.id if query.message is not None else query.from_user.id
        if query.data:
            await deliver(str(query.data), str(chat_id))

    async def _answer_message(
        self, out: PhotoTelegramOutput, message: Message, deliver: Callable[[str, str], Awaitable[None]]
    ) -> None:
        chat_id = str(message.chat.id)
        if message.text is not None:
            await deliver(typed_text(message.text), chat_id)
            return
        file_id, declared_size = image_file(message)
        if file_id is not None:
            try:
                data = await self.fetch_photo(out, file_id, declared_size)
                image_id = await self.store_photo(out, chat_id, data)
            except PhotoRefused as refusal:
                await out.say(chat_id, str(refusal))
                return
            await deliver(f"{SHARE_PHOTO}{json.dumps({'image_id': image_id})}", chat_id)
            return
        if any(getattr(message, field, None) for field in UNSUPPORTED_CONTENT):
            await out.say(chat_id, TEXT_AND_PHOTOS_ONLY)

    async def fetch_photo(self, out: PhotoTelegramOutput, file_id: str, declared_size: int | None) -> bytes:
        """The photo's bytes from the Bot API (`getFile`, then the file URL), at most `max_photo_bytes`."""
        too_large = PhotoRefused(TOO_LARGE.format(limit=self.max_photo_bytes / (1024 * 1024)))
        if declared_size is not None and declared_size > self.max_photo_bytes:
            raise too_large
        try:
            file = await out.get_file(file_id)
            if file.file_size is not None and file.file_size > self.max_photo_bytes:
                raise too_large
            if not file.file_path:
                raise PhotoRefused(FETCH_FAILED)
            timeout = aiohttp.ClientTimeout(total=self.timeout_s)
            async with out.session.get(out.get_file_url(file.file_path), timeout=timeout) as answer:
                if answer.status != 200:
                    logger.error("telegram: photo download answered HTTP %d", answer.status)
                    raise PhotoRefused(FETCH_FAILED)
                chunks: list[bytes] = []
                size = 0
                async for chunk in answer.content.iter_chunked(CHUNK):
                    size += len(chunk)
                    if size > self.max_photo_bytes:
                        raise too_large
                    chunks.append(chunk)
        except (TelegramAPIError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
            logger.error("telegram: photo download failed (%s: %s)", type(exc).__name__, exc)
            raise PhotoRefused(FETCH_FAILED) from exc
        return b"".join(chunks)

    async def store_photo(self, out: PhotoTelegramOutput, chat_id: str, data: bytes) -> str:
        """Hand the bytes to the gateway's `POST /internal/photos`; its image id. The gateway's own refusals (not a
        photo, too many pixels) are shown to the shopper as it words them."""
        form = aiohttp.FormData()
        form.add_field("sender_id", chat_id)
        form.add_field("photo", data, filename="telegram.jpg", content_type="application/octet-stream")
        headers = {"Authorization": f"Bearer {self.upload_token}"}
        try:
            async with out.session.post(
                self.photo_upload_url, data=form, headers=headers, timeout=aiohttp.ClientTimeout(total=self.timeout_s)
            ) as answer:
                body = await answer.json(content_type=None)
                status = answer.status
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            logger.error(
                "telegram: the gateway's photo endpoint %s failed (%s: %s); is the gateway running?",
                self.photo_upload_url,
                type(exc).__name__,
                exc,
            )
            raise PhotoRefused(STORE_FAILED) from exc
        if status == 200 and isinstance(body, dict) and isinstance(body.get("image_id"), str):
            image_id: str = body["image_id"]
            return image_id
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        if status in (400, 413, 415) and isinstance(message, str) and message:
            raise PhotoRefused(message)
        logger.error(
            "telegram: the gateway's photo endpoint answered HTTP %d%s",
            status,
            " (wrong token: do Rasa and the gateway use the same SECRET_FILE?)" if status == 401 else "",
        )
        raise PhotoRefused(STORE_FAILED)


def image_file(message: Message) -> tuple[str | None, int | None]:
    """(file id, declared size) of the message's photo (its largest size) or image document, else (None, None)."""
    if message.photo:
        largest = max(message.photo, key=lambda p: ((p.width or 0) * (p.height or 0), p.file_size or 0))
        return str(largest.file_id), largest.file_size
    document = message.document
    if document is not None and str(document.mime_type or "").lower().startswith("image/"):
        return str(document.file_id), document.file_size
    return None, None


def typed_text(text: str) -> str:
    """What a typed message means to Rasa: `/start` greets, `/restart` restarts, and any other leading '/' is dropped
    so typed text never acts as an intent with entities (`/share_photo{...}` with someone else's image id)."""
    stripped = text.strip()
    command = stripped.split(maxsplit=1)[0].split("@", 1)[0] if stripped else ""
    if command == "/start":
        return GREETING
    if command == RESTART and stripped.split("@", 1)[0] == RESTART:
        return RESTART
    if stripped.startswith("/"):
        return stripped.lstrip("/").strip() or GREETING
    return text
