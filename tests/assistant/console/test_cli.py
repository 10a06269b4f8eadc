"""`python -m assistant.console`: accounts, export, erasure and purge on real databases named by the environment."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import insert

from assistant.console.__main__ import main
from assistant.console.accounts import AccountStore
from assistant.console.audit import AuditLog
from assistant.settings import PROJECT_ROOT
from catalog.db import make_engine
from catalog.models import IntentCorrectionRow
from tests.assistant.console.conftest import add_turn, has_events, make_tracker_db

PASSWORD = "correct horse battery"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state folder of its own: catalog DB, tracker store and uploads under tmp_path."""
    state = tmp_path / "state"
    monkeypatch.setenv("STATE_DIR", str(state))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("TRACKER_DB_URL", raising=False)
    monkeypatch.delenv("TRACKER_DB", raising=False)
    monkeypatch.delenv("UPLOADS_DIR", raising=False)
    monkeypatch.delenv("RETENTION_DAYS", raising=False)
    monkeypatch.delenv("SHOP_STORE", raising=False)
    state.mkdir()
    make_tracker_db(state / "tracker.db")
    return state


def stdin(monkeypatch: pytest.MonkeyPatch, text: str, tty: bool = False) -> None:
    stream = io.StringIO(text)
    stream.isatty = lambda: tty  # type: ignore[method-assign]
    monkeypatch.setattr(sys, "stdin", stream)


def test_help_lists_every_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "assistant.console", "--help"], cwd=PROJECT_ROOT, capture_output=True, text=True,
        timeout=60, check=True,
    ).stdout  # fmt: skip
    for command in ("create-user", "list-users", "export-corrections", "sync", "erase-conversation",
                    "erase-customer", "purge", "set-password", "disable-user"):  # fmt: skip
        assert command in out


def test_create_user_from_stdin_then_list_and_log_in(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stdin(monkeypatch, PASSWORD + "\n")
    assert main(["create-user", "sam", "--role", "admin", "--display-name", "Sam"]) == 1  # no TTY, no flag
    assert "--password-stdin" in capsys.readouterr().err
    stdin(monkeypatch, PASSWORD + "\n")
    assert main(["create-user", "sam", "--role", "admin", "--display-name", "Sam", "--password-stdin"]) == 0
    assert "created admin 'sam'" in capsys.readouterr().out
    stdin(monkeypatch, PASSWORD + "\n")
    assert main(["create-user", "sam", "--role", "agent", "--password-stdin"]) == 1
    assert "taken" in capsys.readouterr().err
    stdin(monkeypatch, "short\n")
    assert main(["create-user", "kim", "--role", "agent", "--password-stdin"]) == 1
    assert "12" in capsys.readouterr().err
    assert main(["list-users"]) == 0
    listed = capsys.readouterr().out
    assert "sam" in listed and "admin" in listed and "active" in listed and "kim" not in listed
    engine = make_engine(f"sqlite:///{env / 'catalog.db'}")
    try:
        account = AccountStore(engine).authenticate("sam", PASSWORD)
        assert account is not None and account.display_name == "Sam"
        entries, _ = AuditLog(engine).entries()
        assert [e.action for e in entries] == ["create_account"]
        assert PASSWORD not in str(entries)
    finally:
        engine.dispose()
    assert main(["disable-user", "sam"]) == 0
    assert main(["list-users"]) == 0
    assert "disabled" in capsys.readouterr().out


def test_password_prompt_asks_twice_and_must_match(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stdin(monkeypatch, "", tty=True)
    answers = iter([PASSWORD, PASSWORD + "x"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["create-user", "kim", "--role", "agent"]) == 1
    assert "differ" in capsys.readouterr().err
    answers = iter([PASSWORD, PASSWORD])
    assert main(["create-user", "kim", "--role", "agent"]) == 0
    answers = iter(["new password 12345", "new password 12345"])
    assert main(["set-password", "kim"]) == 0
    engine = make_engine(f"sqlite:///{env / 'catalog.db'}")
    try:
        assert AccountStore(engine).authenticate("kim", "new password 12345") is not None
        assert AccountStore(engine).authenticate("kim", PASSWORD) is None
    finally:
        engine.dispose()


def test_export_corrections_to_a_file(env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list-users"]) == 0  # migrates the catalog
    engine = make_engine(f"sqlite:///{env / 'catalog.db'}")
    try:
        with engine.begin() as conn:
            conn.execute(insert(IntentCorrectionRow).values(
                sender_id="web-x", event_id=3, text="can i pay with a voucher please", predicted_intent="greet",
                correct_intent="checkout", account_id=1, created_at=datetime.now(UTC).replace(tzinfo=None),
            ))  # fmt: skip
    finally:
        engine.dispose()
    out = tmp_path / "nlu" / "corrections.yml"
    assert main(["export-corrections", "--out", str(out)]) == 0
    data = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert data["nlu"] == [{"intent": "checkout", "examples": "- can i pay with a voucher please\n"}]
    capsys.readouterr()
    assert main(["export-corrections"]) == 0
    assert "can i pay with a voucher please" in capsys.readouterr().out


def test_erase_and_purge(env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{env / 'tracker.db'}"
    old = (datetime.now(UTC) - timedelta(days=50)).timestamp()
    add_turn(url, "web-erase-me", "hello there", "greet")
    add_turn(url, "web-old", "hi from long ago", "greet", at=old)
    add_turn(url, "web-new", "hi from today", "greet")
    add_turn(url, "tg-1", "i'm customer 12346", "identify_customer", slots={"customer_id": "12346"})
    assert main(["sync"]) == 0
    assert "4 conversations updated" in capsys.readouterr().out
    assert main(["erase-conversation", "web-erase-me"]) == 0
    assert "erased the conversation as erased:" in capsys.readouterr().out
    assert not has_events(url, "web-erase-me")
    assert main(["erase-customer", "12346"]) == 0
    assert not has_events(url, "tg-1")
    assert main(["purge"]) == 1
    assert "RETENTION_DAYS=0" in capsys.readouterr().err
    monkeypatch.setenv("RETENTION_DAYS", "30")
    assert main(["purge"]) == 0
    assert "erased 1 conversations older than 30 days" in capsys.readouterr().out
    assert not has_events(url, "web-old") and has_events(url, "web-new")
    assert main(["purge", "--older-than", "0"]) == 1
    assert main(["erase-conversation", "erased:abc"]) == 1
    engine = make_engine(f"sqlite:///{env / 'catalog.db'}")
    try:
        entries, _ = AuditLog(engine).entries()
        assert {e.action for e in entries} == {"erase_conversation", "erase_customer", "retention_purge"}
        assert all((e.actor or "").startswith("cli:") for e in entries)
    finally:
        engine.dispose()
