"""A local stand-in for Telegram's Bot API (there is no internet here), and builders of the updates Telegram posts.

The real aiogram client in the connector talks to it through `api_base_url`: `/bot<token>/<method>` answers getMe,
setWebhook, sendMessage, sendPhoto, getFile and answerCallbackQuery as the Bot API does (`{"ok": true, "result":
...}`, 401 for a wrong token, 400 for an unknown file), and `/file/bot<token>/<path>` serves the files added with
`add_file`. Every call is recorded. It uses only aiohttp APIs that exist in both runtimes, so the core-runtime tests
of the connector (aiohttp 3.9) and the e2e test (app runtime) share it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "123456:TEST-TOKEN"
BOT_USERNAME = "shopassist_test_bot"


@dataclass
class StoredFile:
    data: bytes
    path: str
    declared_size: int | None


@dataclass
class FakeBotApi:
    token: str = TOKEN
    username: str = BOT_USERNAME
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    """sendMessage / sendPhoto calls: chat_id, text (or photo), reply_markup (decoded JSON) and the method."""
    webhook: dict[str, Any] = field(default_factory=dict)
    files: dict[str, StoredFile] = field(default_factory=dict)
    downloads: list[str] = field(default_factory=list)
    fail_downloads: bool = False
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Condition | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        return app

    def add_file(self, file_id: str, data: bytes, declared_size: int | None = None) -> None:
        """Serve `data` for `file_id`; getFile reports `declared_size` (default: the real size)."""
        size = len(data) if declared_size is None else declared_size
        self.files[file_id] = StoredFile(data, f"photos/file_{len(self.files)}.jpg", size)

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name.lower() == method.lower()]

    async def wait_for_sent(self, chat_id: str | int, count: int = 1, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """The first `count` messages sent to `chat_id`, waiting up to `timeout_s` for them."""

        def to_chat() -> list[dict[str, Any]]:
            return [m for m in self.sent if str(m["chat_id"]) == str(chat_id)]

        condition = self._condition()
        async with condition:
            try:
                await asyncio.wait_for(condition.wait_for(lambda: len(to_chat()) >= count), timeout_s)
            except asyncio.TimeoutError:
                raise AssertionError(
                    f"{len(to_chat())} message(s) reached chat {chat_id} within {timeout_s}s, expected {count}; "
                    f"all calls: {[name for name, _ in self.calls]}"
                ) from None
        return to_chat()[:count]

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def _notify(self) -> None:
        condition = self._condition()
        async with condition:
            condition.notify_all()

    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST":
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        self.calls.append((method, params))
        answer = await self._answer(method.lower(), params)
        await self._notify()
        return answer

    async def _answer(self, method: str, params: dict[str, Any]) -> web.Response:
        if method == "getme":
            return _ok(
                {"id": int(self.token.split(":")[0]), "is_bot": True, "first_name": "Shop", "username": self.username}
            )
        if method == "setwebhook":
            if not str(params.get("url", "")).startswith(("http://", "https://")):
                return _error(400, "Bad Request: bad webhook: An HTTP URL must be provided for webhook")
            self.webhook = params
            return _ok(True, description="Webhook was set")
        if method == "deletewebhook":
            self.webhook = {}
            return _ok(True)
        if method == "answercallbackquery":
            return _ok(True)
        if method in ("sendmessage", "sendphoto"):
            if "chat_id" not in params:
                return _error(400, "Bad Request: chat_id is empty")
            markup = params.get("reply_markup")
            sent = {
                "method": method,
                "chat_id": params["chat_id"],
                "text": params.get("text"),
                "photo": params.get("photo"),
                "reply_markup": json.loads(markup) if isinstance(markup, str) and markup else markup,
            }
            self.sent.append(sent)
            message: dict[str, Any] = {
                "message_id": next(self._ids),
                "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
            }
            if sent["text"] is not None:
                message["text"] = sent["text"]
            return _ok(message)
        if method == "getfile":
            stored = self.files.get(str(params.get("file_id")))
            if stored is None:
                return _error(400, "Bad Request: invalid file_id")
            result: dict[str, Any] = {"file_id": params["file_id"], "file_unique_id": "u" + str(params["file_id"])}
            result["file_path"] = stored.path
            if stored.declared_size is not None:
                result["file_size"] = stored.declared_size
            return _ok(result)
        return _error(404, "Not Found: method not found")

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        path = request.match_info["path"]
        self.downloads.append(path)
        if self.fail_downloads:
            return _error(500, "Internal Server Error")
        for stored in self.files.values():
            if stored.path == path:
                return web.Response(body=stored.data, content_type="image/jpeg")
        return _error(404, "Not Found")


def _ok(result: Any, **extra: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result, **extra})


def _error(status: int, description: str) -> web.Response:
    return web.json_response({"ok": False, "error_code": status, "description": description}, status=status)


# --- updates, as Telegram posts them to the webhook --------------------------------------------------------------

_update_ids = itertools.count(1000)


def _message(chat_id: int, **content: Any) -> dict[str, Any]:
    return {
        "update_id": next(_update_ids),
        "message": {
            "message_id": next(_update_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Test"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Test"},
            **content,
        },
    }


def text_update(chat_id: int, text: str) -> dict[str, Any]:
    return _message(chat_id, text=text)


def photo_update(
    chat_id: int, file_id: str, declared_size: int | None = 50_000, caption: str | None = None
) -> dict[str, Any]:
    """A photo as Telegram sends it: several sizes, the largest last (its `file_id` is the one given)."""
    sizes = [
        {"file_id": f"{file_id}-thumb", "file_unique_id": "t", "width": 90, "height": 60, "file_size": 1_000},
        {"file_id": file_id, "file_unique_id": "l", "width": 1280, "height": 853},
        {"file_id": f"{file_id}-mid", "file_unique_id": "m", "width": 320, "height": 213, "file_size": 9_000},
    ]
    if declared_size is not None:
        sizes[1]["file_size"] = declared_size
    extra = {"caption": caption} if caption else {}
    return _message(chat_id, photo=sizes, **extra)


def document_update(chat_id: int, file_id: str, mime_type: str, file_size: int = 50_000) -> dict[str, Any]:
    document = {"file_id": file_id, "file_unique_id": "d", "file_name": "x", "mime_type": mime_type}
    document["file_size"] = file_size
    return _message(chat_id, document=document)


def sticker_update(chat_id: int) -> dict[str, Any]:
    sticker = {"file_id": "st", "file_unique_id": "s", "width": 512, "height": 512, "is_animated": False}
    return _message(chat_id, sticker=sticker)


def voice_update(chat_id: int) -> dict[str, Any]:
    return _message(chat_id, voice={"file_id": "v", "file_unique_id": "v", "duration": 3})


def button_update(chat_id: int, data: str) -> dict[str, Any]:
    return {
        "update_id": next(_update_ids),
        "callback_query": {
            "id": str(next(_update_ids)),
            "from": {"id": chat_id, "is_bot": False, "first_name": "Test"},
            "chat_instance": "ci",
            "data": data,
            "message": {
                "message_id": next(_update_ids),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "text": "Pick one",
            },
        },
    }
