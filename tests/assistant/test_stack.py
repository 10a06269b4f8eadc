"""The process supervisor: refuses busy ports, reports dead processes with their log, leaves no orphans."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.settings import load_settings
from assistant.stack import Service, Stack, StackError, write_endpoints


@pytest.fixture
def stack(tmp_path: Path) -> Stack:
    model = tmp_path / "model.tar.gz"
    model.write_bytes(b"")
    settings = dataclasses.replace(load_settings({"STATE_DIR": str(tmp_path)}), gateway_port=0)
    return Stack(settings, model, log_dir=tmp_path / "logs")


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_missing_model_says_how_to_train(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="run `make train`"):
        Stack(load_settings({}), tmp_path / "nope.tar.gz")


def test_refuses_to_start_on_a_busy_port(stack: Stack, listening_port: int) -> None:
    stack.settings = dataclasses.replace(stack.settings, rasa_port=listening_port)
    with pytest.raises(StackError, match=f"rasa port {listening_port}.*RASA_PORT"):
        stack.start()


def test_endpoints_point_rasa_at_the_configured_action_server_and_tracker(stack: Stack, tmp_path: Path) -> None:
    text = write_endpoints(stack.settings, tmp_path / "endpoints.yml").read_text()
    assert f'url: "http://127.0.0.1:{stack.settings.action_port}/webhook"' in text
    assert f'db: "{tmp_path / "tracker.db"}"' in text


def test_a_dead_process_is_reported_with_its_log(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    crash = Service("actions", [sys.executable, "-c", "print('boom: no index'); raise SystemExit(3)"], "http://x", 1)
    monkeypatch.setattr(stack, "services", lambda: [crash])
    stack.start()
    with pytest.raises(StackError, match=r"actions exited with code 3(.|\n)*boom: no index"):
        stack.wait_ready(timeout=20)
    stack.stop()


def test_stop_kills_the_whole_process_group(stack: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    script = (
        "import subprocess, sys, time; "
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
        f"open({str(pidfile)!r}, 'w').write(str(p.pid)); time.sleep(600)"
    )
    monkeypatch.setattr(stack, "services", lambda: [Service("actions", [sys.executable, "-c", script], "http://x", 1)])
    stack.start()
    deadline = time.monotonic() + 20
    while not pidfile.exists() or not pidfile.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    grandchild = int(pidfile.read_text())
    stack.stop(grace=5)
    time.sleep(0.2)
    assert not alive(grandchild)
    assert subprocess.run(["pgrep", "-f", "time.sleep\\(600\\)"], capture_output=True).stdout == b""
