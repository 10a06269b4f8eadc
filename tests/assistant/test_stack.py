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
import yaml

from assistant.settings import load_settings
from assistant.stack import Service, Stack, StackError, lock_store_yaml, tracker_store_yaml, write_endpoints


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


def test_rasa_runs_with_its_api_behind_the_token_and_the_given_credentials(tmp_path: Path) -> None:
    from assistant.secrets import rasa_api_token

    model = tmp_path / "model.tar.gz"
    model.write_bytes(b"")
    credentials = tmp_path / "credentials.yml"
    credentials.write_text("rest:\n")
    settings = dataclasses.replace(load_settings({"STATE_DIR": str(tmp_path)}), redis_url="redis://127.0.0.1:6379/2")
    stack = Stack(settings, model, log_dir=tmp_path / "logs", credentials=credentials)
    rasa = next(svc for svc in stack.services() if svc.name == "rasa")
    command = rasa.command
    assert command[command.index("--credentials") + 1] == str(credentials)
    assert "--enable-api" in command
    assert command[command.index("--auth-token") + 1] == rasa_api_token(tmp_path / "secret.key")
    assert command[command.index("--interface") + 1] == "127.0.0.1"
    env = stack._env(rasa)
    assert env["SECRET_FILE"] == str(tmp_path / "secret.key")  # Rasa's channels derive their upload token from it
    assert env["REDIS_URL"] == "redis://127.0.0.1:6379/2" and env["UPLOADS_DIR"] == str(tmp_path / "uploads")
    with pytest.raises(StackError, match="credentials file not found"):
        Stack(settings, model, credentials=tmp_path / "missing.yml")


def test_the_tracker_store_follows_the_tracker_url(tmp_path: Path) -> None:
    sqlite = tracker_store_yaml(f"sqlite:///{tmp_path}/tracker.db")
    assert 'dialect: "sqlite"' in sqlite and f'db: "{tmp_path}/tracker.db"' in sqlite
    postgres = tracker_store_yaml("postgresql+psycopg2://shop:p%40ss%22word@127.0.0.1:5433/rasa")
    assert postgres.splitlines() == [
        "tracker_store:",
        "  type: SQL",
        '  dialect: "postgresql"',
        '  url: "127.0.0.1"',
        "  port: 5433",
        '  db: "rasa"',
        '  username: "shop"',
        '  password: "p@ss\\"word"',
    ]
    assert "port: 5432" in tracker_store_yaml("postgresql://postgres@localhost/rasa")
    for bad, message in [
        ("mysql://root@127.0.0.1/rasa", "sqlite or postgresql"),
        ("postgresql://127.0.0.1", "needs a host and a database"),
        ("sqlite://", "has no file"),
    ]:
        with pytest.raises(StackError, match=message):
            tracker_store_yaml(bad)
    settings = dataclasses.replace(
        load_settings({"STATE_DIR": str(tmp_path)}), tracker_db_url_override="postgresql://u:secret@127.0.0.1/rasa"
    )
    written = write_endpoints(settings, tmp_path / "run" / "endpoints.yml")
    assert 'password: "secret"' in written.read_text()
    assert written.stat().st_mode & 0o077 == 0  # the password is readable by its owner only


def test_a_redis_url_gives_rasa_a_shared_lock_store() -> None:
    assert lock_store_yaml(None) == ""  # one Rasa process: its in-memory lock store
    section = yaml.safe_load(lock_store_yaml("redis://:s%40cret@127.0.0.1:6380/4"))["lock_store"]
    assert section == {
        "type": "redis", "url": "127.0.0.1", "port": 6380, "db": 4, "key_prefix": "shopassist", "password": "s@cret"
    }  # fmt: skip
    assert yaml.safe_load(lock_store_yaml("redis://127.0.0.1"))["lock_store"]["db"] == 0
    with pytest.raises(StackError, match="is not a Redis URL"):
        lock_store_yaml("http://127.0.0.1:6379/0")
    with pytest.raises(StackError, match="expected a number"):
        lock_store_yaml("redis://127.0.0.1:6379/locks")
