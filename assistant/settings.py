"""The project's configuration: environment variables → one frozen `Settings` object.

This is the only module that reads `os.environ`. Libraries (`catalog/`, `retrieval/`, ...) take plain constructor
arguments; the composition roots (action server services, gateway, build and run commands) call `load_settings()`.
Standard library only, so both runtimes can import it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the key and what was expected."""


class Store(str, Enum):  # not StrEnum: the core runtime is Python 3.10
    """The store the assistant runs against (`SHOP_STORE`): each has its own catalog database and state folder."""

    ONLINE_RETAIL = "online_retail"
    """The reference store (UCI Online Retail): giftware, no product images; state in `STATE_DIR` itself."""
    GROCERY_STORE = "grocery_store"
    """The Grocery Store Dataset: 81 products with iconic images; state in `STATE_DIR/stores/grocery_store`."""


@dataclass(frozen=True)
class Settings:
    state_dir: Path
    """Git-ignored folder for everything built or written at run time (catalog DB, index, tracker store, logs)."""
    database_url: str
    """SQLAlchemy URL of the catalog DB."""
    shop_data_dir: Path
    """Folder holding the reference store's Online Retail parquet files."""
    index_dir: Path
    models_dir: Path
    """Trained Rasa models (`models/` at the project root, where Rasa users look for them)."""
    tracker_db: Path
    """SQLite file of Rasa's SQL tracker store (the default topology)."""
    gateway_host: str
    gateway_port: int
    rasa_port: int
    action_port: int
    max_message_chars: int
    """Longest shopper message the gateway accepts, in characters."""
    rasa_timeout_s: float
    """How long the gateway waits for Rasa's answer to one message."""
    search_top_k: int
    store: Store
    """The active store; its catalog DB and index default to `store_dir`."""
    store_dir: Path
    """The active store's state folder (catalog DB, indexes, vision artifacts)."""
    grocery_data_dir: Path
    """Folder of the Grocery Store Dataset (classes.csv, iconic images, train/val photos)."""
    cache_dir: Path
    """`SHOPASSIST_CACHE`: cached environments, Rasa's training cache, cached image embeddings."""
    uploads_dir: Path
    """Shoppers' uploaded photos (re-encoded, under random ids); never served as static files."""
    max_upload_bytes: int
    max_upload_pixels: int
    """Largest width × height of an uploaded photo: larger ones are refused before decoding (decompression bombs)."""
    reviews_dir: Path
    """Sentiment training/evaluation data (`REVIEWS_DIR`): the clothing reviews and the UCI labelled sentences."""
    intents_dir: Path
    """Intent evaluation data (`INTENTS_DIR`): Bitext customer-service utterances and CLINC150 (bench only)."""
    tracker_db_url_override: str | None
    """`TRACKER_DB_URL`, e.g. `postgresql://postgres@127.0.0.1:5432/rasa`; unset: the SQLite file `tracker_db`."""
    secret_file: Path
    """`SECRET_FILE`: 32 random bytes made on first use (mode 0600) that sign shopper cookies and derive the token of
    Rasa's HTTP API (`assistant.secrets`). Keep it out of version control; deleting it logs everyone out."""
    retention_days: int
    """`RETENTION_DAYS`: conversations whose last message is older than this are deleted (0 keeps them forever)."""
    cookie_secure: bool
    """`COOKIE_SECURE` (1/0): mark the shopper and staff cookies Secure (HTTPS only). Default 0 for plain-HTTP local
    use; set 1 behind TLS."""
    console_session_minutes: int
    """`CONSOLE_SESSION_MINUTES`: a staff login expires after this long without a request."""
    redis_url: str | None
    """`REDIS_URL`, e.g. `redis://127.0.0.1:6379/0`: live messages to shoppers' pages go through Redis pub/sub, so
    several gateway processes can serve one shop. Unset: in-process (one gateway)."""

    @property
    def tracker_db_url(self) -> str:
        """SQLAlchemy URL of Rasa's SQL tracker store: the staff console and the gateway's history read it."""
        return self.tracker_db_url_override or f"sqlite:///{self.tracker_db}"

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def action_server_url(self) -> str:
        return f"http://127.0.0.1:{self.action_port}"

    @property
    def chat_url(self) -> str:
        host = "127.0.0.1" if self.gateway_host in ("0.0.0.0", "::") else self.gateway_host
        return f"http://{host}:{self.gateway_port}/"

    @property
    def index_path(self) -> Path:
        return self.index_dir / "products.faiss"

    @property
    def vision_dir(self) -> Path:
        """The active store's vision artifacts (exported image model, iconic-image index, trained head)."""
        return self.store_dir / "vision"


def _int(env: Mapping[str, str], key: str, default: int, low: int = 1, high: int = 2**31) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{key} has value {raw!r}; expected an integer") from None
    if not low <= value <= high:
        raise SettingsError(f"{key} has value {value}; expected an integer from {low} to {high}")
    return value


def _float(env: Mapping[str, str], key: str, default: float) -> float:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{key} has value {raw!r}; expected a number of seconds") from None
    if value <= 0:
        raise SettingsError(f"{key} has value {value}; expected a positive number of seconds")
    return value


def _bool(env: Mapping[str, str], key: str, default: bool) -> bool:
    raw = (env.get(key) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{key} has value {raw!r}; expected 1 or 0")


def _path(env: Mapping[str, str], key: str, default: Path) -> Path:
    raw = env.get(key)
    return Path(raw).expanduser().resolve() if raw else default


def _store(env: Mapping[str, str]) -> Store:
    raw = env.get("SHOP_STORE") or Store.ONLINE_RETAIL.value
    try:
        return Store(raw)
    except ValueError:
        expected = " or ".join(repr(s.value) for s in Store)
        raise SettingsError(f"SHOP_STORE has value {raw!r}; expected {expected}") from None


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the configuration from `env` (default: the process environment). Raises `SettingsError`."""
    env = os.environ if env is None else env
    state_dir = _path(env, "STATE_DIR", PROJECT_ROOT / ".state")
    store = _store(env)
    store_dir = state_dir if store is Store.ONLINE_RETAIL else state_dir / "stores" / store.value
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    port = {"low": 1, "high": 65535}
    return Settings(
        state_dir=state_dir,
        database_url=env.get("DATABASE_URL") or f"sqlite:///{store_dir / 'catalog.db'}",
        shop_data_dir=_path(env, "SHOP_DATA_DIR", PROJECT_ROOT.parent / "shared" / "datasets" / "online_retail"),
        index_dir=_path(env, "INDEX_DIR", store_dir / "index"),
        models_dir=_path(env, "MODELS_DIR", PROJECT_ROOT / "models"),
        tracker_db=_path(env, "TRACKER_DB", state_dir / "tracker.db"),
        gateway_host=env.get("GATEWAY_HOST") or "127.0.0.1",
        gateway_port=_int(env, "GATEWAY_PORT", 8080, **port),
        rasa_port=_int(env, "RASA_PORT", 5005, **port),
        action_port=_int(env, "ACTION_PORT", 5055, **port),
        max_message_chars=_int(env, "MAX_MESSAGE_CHARS", 1000, high=100_000),
        rasa_timeout_s=_float(env, "RASA_TIMEOUT_S", 30.0),
        search_top_k=_int(env, "SEARCH_TOP_K", 5, high=50),
        store=store,
        store_dir=store_dir,
        grocery_data_dir=_path(env, "GROCERY_DATA_DIR", PROJECT_ROOT.parent / "shared" / "datasets" / "grocery_store"),
        cache_dir=_path(env, "SHOPASSIST_CACHE", home / ".cache" / "shopassist"),
        uploads_dir=_path(env, "UPLOADS_DIR", state_dir / "uploads"),
        max_upload_bytes=_int(env, "MAX_UPLOAD_BYTES", 8 * 1024 * 1024, low=1024, high=100 * 1024 * 1024),
        max_upload_pixels=_int(env, "MAX_UPLOAD_PIXELS", 40_000_000, low=10_000, high=200_000_000),
        reviews_dir=_path(env, "REVIEWS_DIR", PROJECT_ROOT.parent / "shared" / "datasets" / "reviews"),
        intents_dir=_path(env, "INTENTS_DIR", PROJECT_ROOT.parent / "shared" / "datasets" / "intents"),
        tracker_db_url_override=env.get("TRACKER_DB_URL") or None,
        secret_file=_path(env, "SECRET_FILE", state_dir / "secret.key"),
        retention_days=_int(env, "RETENTION_DAYS", 0, low=0, high=100_000),
        cookie_secure=_bool(env, "COOKIE_SECURE", False),
        console_session_minutes=_int(env, "CONSOLE_SESSION_MINUTES", 480, high=7 * 24 * 60),
        redis_url=env.get("REDIS_URL") or None,
    )
