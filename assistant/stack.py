"""Start, watch and stop the three processes of the assistant: action server, Rasa and the web gateway.

Used by `make run` (`python -m assistant.run`), the end-to-end tests and the latency benchmark, so all three start
the stack the same way. Each process runs in its own session (process group), so stopping the stack stops
everything it spawned, and its output goes to `<state>/logs/<name>.log`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

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


def write_endpoints(settings: Settings, path: Path) -> Path:
    """Rasa's endpoints file for these settings: action server URL and SQL tracker store location."""
    path.parent.mkdir(parents=True, exist_ok=True)
    settings.tracker_db.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Written by assistant/stack.py from the settings; edit endpoints.yml or the environment instead.\n"
        "action_endpoint:\n"
        f'  url: "{settings.action_server_url}/webhook"\n'
        "tracker_store:\n"
        "  type: SQL\n"
        '  dialect: "sqlite"\n'
        f'  db: "{settings.tracker_db}"\n'
    )
    return path


class Stack:
    """The running assistant. Use as a context manager, or call `start`, `wait_ready` and `stop`."""

    def __init__(self, settings: Settings, model: Path, log_dir: Path | None = None) -> None:
        if not model.exists():
            raise StackError(f"Rasa model not found at {model}; run `make train`")
        self.settings = settings
        self.model = model
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
                    str(PROJECT_ROOT / "credentials.yml"),
                    "--interface",
                    "127.0.0.1",
                    "--port",
                    str(s.rasa_port),
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
