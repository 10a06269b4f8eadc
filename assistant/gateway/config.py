"""The gateway's own configuration: plain values, built from the project's `Settings` by the entry point."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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

    def __post_init__(self) -> None:
        for key in ("rasa_url", "action_server_url"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value.startswith(("http://", "https://")):
                raise ValueError(f"{key} has value {value!r}; expected an http(s) URL such as http://127.0.0.1:5005")
        for key in ("rasa_timeout_s", "health_timeout_s", "connect_timeout_s"):
            if not getattr(self, key) > 0:
                raise ValueError(f"{key} has value {getattr(self, key)!r}; expected a positive number of seconds")
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
        )
