"""The installation's secret: made once, kept in a file, used to sign and derive (standard library only).

`load_secret` reads `Settings.secret_file`, creating it with 32 random bytes (mode 0600) on first use; `derive` turns
it into independent keys per purpose (HMAC-SHA256), so the cookie-signing key and Rasa's API token never coincide.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

SECRET_BYTES = 32


class SecretError(RuntimeError):
    """The secret file exists but cannot be used; the message says how to fix it."""


def load_secret(path: Path) -> bytes:
    """The secret in `path`, created (32 random bytes, mode 0600) if the file does not exist."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = secrets.token_bytes(SECRET_BYTES)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return load_secret(path)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return data
    if len(data) < SECRET_BYTES:
        raise SecretError(f"{path} holds {len(data)} bytes, expected {SECRET_BYTES}; delete it to make a new one")
    return data


def derive(secret: bytes, purpose: str) -> str:
    """A hex key for `purpose` (e.g. "rasa-api-token", "shopper-cookie"), independent of every other purpose."""
    return hmac.new(secret, purpose.encode("utf-8"), hashlib.sha256).hexdigest()


def rasa_api_token(secret_file: Path) -> str:
    """The token Rasa's HTTP API (`rasa run --enable-api --auth-token`) is started with and called with."""
    return derive(load_secret(secret_file), "rasa-api-token")[:40]
