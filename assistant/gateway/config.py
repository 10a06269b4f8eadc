"""The gateway's own configuration: plain values, built from the project's `Settings` by the entry point."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from assistant.secrets import derive, load_secret, rasa_api_token
from assistant.settings import Settings


@dataclass(frozen=True)
class GatewayConfig:
    rasa_url: str
    """Base URL of Rasa's HTTP server, e.g. `http://127.0.0.1:5005` (the REST channel lives under it)."""
    action_server_url: str
    """Base URL of the action server, e.g. `http://127.0.0.1:5055` (only its `/health` is used)."""
    max_message_chars: int
    """Longest shopper message accepted, in characters (after control characters are removed)."""
    rasa_timeout_s: float
    """How long to wait for Rasa's answer to one message, in total."""
    health_timeout_s: float = 2.0
    """How long a health probe of Rasa or the action server may take."""
    connect_timeout_s: float = 2.0
    """How long opening a TCP connection to a backend may take (both are on 127.0.0.1)."""
    uploads_dir: Path | None = None
    """Where cleaned photo uploads are stored (never served); None turns `POST /api/upload` off (503)."""
    max_upload_bytes: int = 8 * 1024 * 1024
    """Largest photo file accepted, in bytes; larger uploads are refused while streaming (413)."""
    max_upload_pixels: int = 40_000_000
    """Largest width × height accepted, checked from the image header before decoding."""
    max_concurrent_decodes: int = 2
    """Photos decoded at the same time (each may take ~100 MB): bounds the gateway's memory."""
    rasa_token: str | None = field(default=None, repr=False)
    """Token of Rasa's HTTP API (`--auth-token`), sent as `?token=`; None: the API calls go without one."""
    cookie_secure: bool = False
    """Mark the shopper cookie `Secure` (HTTPS only); set behind TLS."""
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    """The installation's secret (`assistant.secrets`): keys for the shopper cookie, log hashes and the internal
    upload token are derived from it. The default, a fresh random one, suits tests: cookies die with the process."""
    max_streams_per_sender: int = 4
    """Live streams (`GET /api/events`) one shopper may hold open at once, e.g. a few tabs; more get 429."""
    heartbeat_s: float = 15.0
    """How often an idle live stream sends a comment line, so proxies and browsers keep it open."""
    notice_poll_s: float = 30.0
    """How often an open live stream checks the shopper's due back-in-stock notices."""

    def __post_init__(self) -> None:
        for key in ("rasa_url", "action_server_url"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value.startswith(("http://", "https://")):
                raise ValueError(f"{key} has value {value!r}; expected an http(s) URL such as http://127.0.0.1:5005")
        for key in ("rasa_timeout_s", "health_timeout_s", "connect_timeout_s"):
            if not getattr(self, key) > 0:
                raise ValueError(f"{key} has value {getattr(self, key)!r}; expected a positive number of seconds")
        if len(self.secret) < 16:
            raise ValueError("secret is shorter than 16 bytes; pass load_secret(settings.secret_file)")
        if self.max_message_chars < 1:
            raise ValueError(f"max_message_chars has value {self.max_message_chars!r}; expected a positive integer")

    @property
    def max_body_bytes(self) -> int:
        """Largest request body accepted: 16 KiB, or more when a message of `max_message_chars` could need it
        (JSON may escape one character as two `\\uXXXX` escapes, 12 bytes)."""
        return max(16 * 1024, 12 * self.max_message_chars + 1024)

    @classmethod
    def from_settings(cls, settings: Settings) -> GatewayConfig:
        return cls(
            rasa_url=settings.rasa_url,
            action_server_url=settings.action_server_url,
            max_message_chars=settings.max_message_chars,
            rasa_timeout_s=settings.rasa_timeout_s,
            uploads_dir=settings.uploads_dir,
            max_upload_bytes=settings.max_upload_bytes,
            max_upload_pixels=settings.max_upload_pixels,
            rasa_token=rasa_api_token(settings.secret_file),
            cookie_secure=settings.cookie_secure,
            secret=load_secret(settings.secret_file),
        )

    def key(self, purpose: str) -> str:
        """A hex key for `purpose` derived from the secret ("shopper-cookie", "log", "internal-upload")."""
        return derive(self.secret, purpose)
