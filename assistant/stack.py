"""Start, watch and stop the three processes of the assistant: action server, Rasa and the web gateway.

Used by `make run` (`python -m assistant.run`), the end-to-end tests and the latency benchmark, so all three start
the stack the same way. Each process runs in its own session (process group), so stopping the stack stops
everything it spawned, and its output goes to `<state>/logs/<name>.log`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from assistant.secrets import rasa_api_token
from assistant.settings import PROJECT_ROOT, Settings

CORE_BIN = PROJECT_ROOT / ".venv-core" / "bin"
APP_BIN = PROJECT_ROOT / ".venv-app" / "bin"


class StackError(RuntimeError):
    """A process of the stack could not start or died; the message says which and shows its last log lines."""


@dataclass(frozen=True)
class Service:
    name: str
    command: list[str]
    health_url: str
    port: int
    env: dict[str, str] = field(default_factory=dict)


def _log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def answers(url: str, timeout: float = 2.0) -> bool:
    """True when `url` answers HTTP 200 within `timeout` seconds."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def tracker_store_yaml(tracker_db_url: str) -> str:
    """The `tracker_store:` section of Rasa's endpoints for a SQLAlchemy URL: a SQLite file, or PostgreSQL with the
    keys Rasa's SQL tracker store reads (dialect, url = host, port, db, username, password)."""
    url = urllib.parse.urlsplit(tracker_db_url)
    dialect = url.scheme.split("+", 1)[0]
    lines = ["tracker_store:", "  type: SQL"]
    if dialect == "sqlite":
        path = tracker_db_url.split(":///", 1)[1] if ":///" in tracker_db_url else ""
        if not path:
            raise StackError(f"TRACKER_DB_URL {tracker_db_url!r} has no file; expected sqlite:////absolute/path.db")
        return "\n".join([*lines, '  dialect: "sqlite"', f"  db: {_quoted(path)}"]) + "\n"
    if dialect not in ("postgresql", "postgres"):
        raise StackError(
            f"TRACKER_DB_URL {tracker_db_url!r} uses {dialect!r}; Rasa's tracker store here is sqlite or postgresql"
        )
    db = url.path.lstrip("/")
    if not url.hostname or not db:
        raise StackError(
            f"TRACKER_DB_URL {tracker_db_url!r} needs a host and a database, "
            "e.g. postgresql://postgres@127.0.0.1:5432/rasa"
        )
    lines += ['  dialect: "postgresql"', f"  url: {_quoted(url.hostname)}", f"  port: {url.port or 5432}"]
    lines.append(f"  db: {_quoted(urllib.parse.unquote(db))}")
    if url.username:
        lines.append(f"  username: {_quoted(urllib.parse.unquote(url.username))}")
    if url.password:
        lines.append(f"  password: {_quoted(urllib.parse.unquote(url.password))}")
    return "\n".join(lines) + "\n"


def _quoted(value: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(value)


def lock_store_yaml(redis_url: str | None) -> str:
    """The `lock_store:` section: Redis when `REDIS_URL` is set (Rasa processes then share conversation locks), else
    nothing (Rasa's in-memory lock store: one Rasa process)."""
    if not redis_url:
        return ""
    url = urllib.parse.urlsplit(redis_url)
    if url.scheme not in ("redis", "rediss") or not url.hostname:
        raise StackError(f"REDIS_URL {redis_url!r} is not a Redis URL; expected e.g. redis://127.0.0.1:6379/0")
    db = url.path.lstrip("/") or "0"
    if not db.isdigit():
        raise StackError(f"REDIS_URL {redis_url!r} names database {db!r}; expected a number, e.g. /0")
    lines = ["lock_store:", "  type: redis", f"  url: {_quoted(url.hostname)}", f"  port: {url.port or 6379}"]
    lines += [f"  db: {db}", '  key_prefix: "shopassist"']
    if url.password:
        lines.append(f"  password: {_quoted(urllib.parse.unquote(url.password))}")
    if url.scheme == "rediss":
        lines.append("  use_ssl: true")
    return "\n".join(lines) + "\n"


def write_endpoints(settings: Settings, path: Path) -> Path:
    """Rasa's endpoints file for these settings: action server URL and SQL tracker store location (the file may
    hold the tracker database's password: it is readable by its owner only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if settings.tracker_db_url_override is None:
        settings.tracker_db.parent.mkdir(parents=True, exist_ok=True)
    text = (
        "# Written by assistant/stack.py from the settings; edit endpoints.yml or the environment instead.\n"
        "action_endpoint:\n"
        f'  url: "{settings.action_server_url}/webhook"\n'
        + tracker_store_yaml(settings.tracker_db_url)
        + lock_store_yaml(settings.redis_url)
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path


class Stack:
    """The running assistant. Use as a context manager, or call `start`, `wait_ready` and `stop`."""

    def __init__(
        self, settings: Settings, model: Path, log_dir: Path | None = None, credentials: Path | None = None
    ) -> None:
        """`credentials`: Rasa's channels file (default: the project's credentials.yml)."""
        if not model.exists():
            raise StackError(f"Rasa model not found at {model}; run `make train`")
        if credentials is not None and not credentials.is_file():
            raise StackError(f"credentials file not found at {credentials}")
        self.settings = settings
        self.model = model
        self.credentials = credentials or PROJECT_ROOT / "credentials.yml"
        self.log_dir = log_dir or settings.state_dir / "logs"
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    def services(self) -> list[Service]:
        s = self.settings
        endpoints = write_endpoints(s, s.state_dir / "run" / f"endpoints-{s.rasa_port}.yml")
        return [
            Service(
                "actions",
                [str(APP_BIN / "python"), "-m", "rasa_sdk", "--actions", "actions", "--port", str(s.action_port)],
                f"{s.action_server_url}/health",
                s.action_port,
                # passive OpenMP waiting: query encoding shares the cores with Rasa (p95 19-83 ms vs 300-800 ms)
                {"SANIC_HOST": "127.0.0.1", "OMP_WAIT_POLICY": "PASSIVE"},
            ),
            Service(
                "rasa",
                [
                    str(CORE_BIN / "rasa"),
                    "run",
                    "--model",
                    str(self.model),
                    "--endpoints",
                    str(endpoints),
                    "--credentials",
                    str(self.credentials),
                    "--interface",
                    "127.0.0.1",
                    "--port",
                    str(s.rasa_port),
                    # the HTTP API (trackers, pause/resume, staff replies) for the gateway and the console only
                    "--enable-api",
                    "--auth-token",
                    rasa_api_token(s.secret_file),
                ],
                f"{s.rasa_url}/",
                s.rasa_port,
            ),
            Service(
                "gateway",
                [str(APP_BIN / "python"), "-m", "assistant.gateway"],
                f"http://127.0.0.1:{s.gateway_port}/healthz",
                s.gateway_port,
            ),
        ]

    def _env(self, service: Service) -> dict[str, str]:
        s = self.settings
        return {
            **os.environ,
            "PYTHONPATH": str(PROJECT_ROOT),
            "PYTHONUNBUFFERED": "1",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "RASA_TELEMETRY_ENABLED": "false",
            "STATE_DIR": str(s.state_dir),
            "DATABASE_URL": s.database_url,
            "INDEX_DIR": str(s.index_dir),
            "TRACKER_DB": str(s.tracker_db),
            "TRACKER_DB_URL": s.tracker_db_url_override or "",
            "SECRET_FILE": str(s.secret_file),
            "UPLOADS_DIR": str(s.uploads_dir),
            "REDIS_URL": s.redis_url or "",
            "COOKIE_SECURE": "1" if s.cookie_secure else "0",
            "RETENTION_DAYS": str(s.retention_days),
            "CONSOLE_SESSION_MINUTES": str(s.console_session_minutes),
            "GATEWAY_HOST": s.gateway_host,
            "GATEWAY_PORT": str(s.gateway_port),
            "RASA_PORT": str(s.rasa_port),
            "ACTION_PORT": str(s.action_port),
            **service.env,
        }

    def start(self) -> None:
        services = self.services()
        busy = [f"{svc.name} port {svc.port}" for svc in services if port_in_use(svc.port)]
        if busy:
            raise StackError(
                f"already in use: {', '.join(busy)}. Is the assistant already running (`make run`)? "
                "Stop it, or choose other ports with GATEWAY_PORT, RASA_PORT and ACTION_PORT."
            )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for svc in services:
            log = (self.log_dir / f"{svc.name}.log").open("wb")
            self._procs[svc.name] = subprocess.Popen(
                svc.command,
                cwd=PROJECT_ROOT,
                env=self._env(svc),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            log.close()

    def dead(self) -> list[str]:
        """Names of started processes that have exited."""
        return [name for name, proc in self._procs.items() if proc.poll() is not None]

    def _raise_if_dead(self) -> None:
        for name in self.dead():
            code = self._procs[name].returncode
            log = self.log_dir / f"{name}.log"
            raise StackError(f"{name} exited with code {code}; last lines of {log}:\n{_log_tail(log)}")

    def wait_ready(
        self,
        timeout: float = 300.0,
        on_ready: Callable[[str, float], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> float:
        """Block until every service answers its health URL; returns the seconds it took. Raises StackError."""
        started = time.monotonic()
        pending = {svc.name: svc.health_url for svc in self.services()}
        while pending:
            self._raise_if_dead()
            for name, url in list(pending.items()):
                if answers(url):
                    del pending[name]
                    if on_ready:
                        on_ready(name, time.monotonic() - started)
            if time.monotonic() - started > timeout:
                raise StackError(f"not ready after {timeout:.0f}s: {', '.join(pending)} (logs in {self.log_dir})")
            if cancel is not None and cancel.is_set():
                raise StackError("cancelled while starting")
            if pending:
                time.sleep(0.5)
        return time.monotonic() - started

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM every process group, then SIGKILL what is still alive after `grace` seconds."""
        for proc in self._procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self._procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self._procs.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # also reaps grandchildren left in the group
            proc.wait()
        self._procs.clear()

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
