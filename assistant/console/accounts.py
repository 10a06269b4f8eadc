"""Staff accounts: usernames, display names, roles and Argon2id password hashes in `staff_accounts`.

Passwords are hashed with argon2-cffi's `PasswordHasher` (Argon2id, RFC 9106 parameters, a fresh salt per hash); the
hash string carries its own parameters, so stronger defaults later still verify old hashes and rehash them at the
next login. Accounts are created from the command line (`python -m assistant.console create-user`), never from the
web, and are disabled rather than deleted so the audit log keeps naming real people.
"""

from __future__ import annotations

import builtins
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, Row, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from catalog.errors import CatalogUnavailable
from catalog.models import StaffAccountRow

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1024
"""Long enough for any passphrase; longer input is refused before hashing (no free CPU for a flood)."""
USERNAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
MAX_DISPLAY_NAME_CHARS = 64


class Role(StrEnum):
    AGENT = "agent"
    """Reads transcripts, takes conversations over, annotates."""
    ADMIN = "admin"
    """An agent who may also erase data and read the audit log."""


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    display_name: str
    role: Role
    disabled: bool


class AccountError(ValueError):
    """A request the account store refuses; the message says how to fix it."""


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def normalise_username(username: str) -> str:
    """Usernames are case-insensitive: stored and compared in lower case, surrounding spaces dropped."""
    return str(username or "").strip().lower()


def check_username(username: str) -> str:
    name = normalise_username(username)
    if not USERNAME_PATTERN.fullmatch(name):
        raise AccountError(
            f"username {username!r} is not allowed: use 2 to 64 characters, lower-case letters, digits, '.', '_' or "
            "'-', starting with a letter or digit (e.g. 'sam.jones')"
        )
    return name


def check_display_name(display_name: str) -> str:
    name = " ".join(str(display_name or "").split())
    if not 1 <= len(name) <= MAX_DISPLAY_NAME_CHARS or any(unicodedata.category(c).startswith("C") for c in name):
        raise AccountError(
            f"display name {display_name!r} is not allowed: use 1 to {MAX_DISPLAY_NAME_CHARS} printable characters "
            "(shoppers see it when this person replies)"
        )
    return name


def check_password(password: str, username: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(
            f"the password is too short: use at least {MIN_PASSWORD_CHARS} characters (a few unrelated words work well)"
        )
    if len(password) > MAX_PASSWORD_CHARS:
        raise AccountError(f"the password is too long: use at most {MAX_PASSWORD_CHARS} characters")
    if not password.strip():
        raise AccountError("the password is only spaces: choose one with letters or digits")
    if password.strip().lower() == username:
        raise AccountError("the password must not be the username")
    return password


def _account(row: Row[Any]) -> Account:
    return Account(row.id, row.username, row.display_name, Role(row.role), bool(row.disabled))


class AccountStore:
    """Staff accounts over the catalog database. Errors: `AccountError` (bad input, duplicate or unknown username;
    show the message) and `CatalogUnavailable` (the database failed)."""

    def __init__(self, engine: Engine, hasher: PasswordHasher | None = None) -> None:
        """`hasher`: argon2-cffi's defaults (Argon2id, 64 MiB, 3 passes) unless given; tests pass cheaper ones."""
        self._engine = engine
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash = self._hasher.hash("not a password: verified when the username is unknown")

    def create(self, username: str, password: str, role: Role, display_name: str | None = None) -> Account:
        name = check_username(username)
        check_password(password, name)
        try:
            role = Role(role)
        except ValueError:
            raise AccountError(f"role {role!r} is unknown: use one of {', '.join(r.value for r in Role)}") from None
        shown = check_display_name(display_name if display_name is not None else name)
        password_hash = self._hasher.hash(password)
        try:
            with self._engine.begin() as conn:
                new_id = conn.scalar(
                    insert(StaffAccountRow)
                    .values(
                        username=name,
                        display_name=shown,
                        password_hash=password_hash,
                        role=role.value,
                        disabled=False,
                        created_at=_now(),
                    )
                    .returning(StaffAccountRow.id)
                )
        except IntegrityError as exc:
            raise AccountError(f"username {name!r} is taken: choose another one") from exc
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"creating the staff account failed: {exc}") from exc
        return Account(int(new_id or 0), name, shown, role, False)

    def authenticate(self, username: str, password: str) -> Account | None:
        """The account, if the username exists, is enabled and the password matches; else None. An unknown username
        costs one hash verification too, so response times do not reveal which usernames exist."""
        name = normalise_username(username)
        row = self._row(name) if USERNAME_PATTERN.fullmatch(name) else None
        if not isinstance(password, str) or len(password) > MAX_PASSWORD_CHARS:
            password = ""
        if row is None:
            self._verify(self._dummy_hash, password)
            return None
        if not self._verify(row.password_hash, password) or row.disabled:
            return None
        if self._hasher.check_needs_rehash(row.password_hash):
            self._store_hash(name, self._hasher.hash(password))
        return _account(row)

    def get(self, account_id: int) -> Account | None:
        try:
            with self._engine.connect() as conn:
                row = conn.execute(select(StaffAccountRow).where(StaffAccountRow.id == account_id)).first()
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"reading the staff account failed: {exc}") from exc
        return _account(row) if row is not None else None

    def list(self) -> builtins.list[Account]:
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(select(StaffAccountRow).order_by(StaffAccountRow.username)).all()
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"listing the staff accounts failed: {exc}") from exc
        return [_account(row) for row in rows]

    def set_password(self, username: str, password: str) -> None:
        name = normalise_username(username)
        check_password(password, name)
        if not self._store_hash(name, self._hasher.hash(password)):
            raise AccountError(
                f"there is no staff account {name!r}: list them with `python -m assistant.console list-users`"
            )

    def disable(self, username: str) -> None:
        """Refuse further logins (existing sessions end at their next request: the web layer checks `disabled`)."""
        name = normalise_username(username)
        try:
            with self._engine.begin() as conn:
                changed = conn.execute(
                    update(StaffAccountRow).where(StaffAccountRow.username == name).values(disabled=True)
                ).rowcount
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"disabling the staff account failed: {exc}") from exc
        if not changed:
            raise AccountError(
                f"there is no staff account {name!r}: list them with `python -m assistant.console list-users`"
            )

    def _row(self, username: str) -> Row[Any] | None:
        try:
            with self._engine.connect() as conn:
                row = conn.execute(select(StaffAccountRow).where(StaffAccountRow.username == username)).first()
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"reading the staff account failed: {exc}") from exc
        return row

    def _store_hash(self, username: str, password_hash: str) -> bool:
        try:
            with self._engine.begin() as conn:
                changed = conn.execute(
                    update(StaffAccountRow)
                    .where(StaffAccountRow.username == username)
                    .values(password_hash=password_hash)
                ).rowcount
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"changing the password failed: {exc}") from exc
        return bool(changed)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return bool(self._hasher.verify(password_hash, password))
        except (VerificationError, InvalidHashError):
            return False
