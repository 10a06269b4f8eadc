"""Command line of the staff console: `python -m assistant.console COMMAND`.

  create-user USERNAME --role agent|admin [--display-name N] [--password-stdin]
                                  a staff account (the password is asked twice, or read from stdin for scripts)
  set-password USERNAME [--password-stdin]     change a password
  disable-user USERNAME           block a login (accounts are never deleted: the audit log names them)
  list-users                      the accounts, roles and whether they can log in
  export-corrections [--out PATH] intent corrections as Rasa NLU YAML (save as data/nlu/corrections.yml)
  sync                            bring the console's conversation index up to date with Rasa's tracker store
  erase-conversation SENDER_ID    erase one conversation everywhere (tracker, shop records, photos, annotations)
  erase-customer CUSTOMER_ID      erase every conversation and record of one customer
  purge [--older-than DAYS]       erase conversations older than DAYS (default: RETENTION_DAYS)

It works on the databases named by the environment (DATABASE_URL, TRACKER_DB / TRACKER_DB_URL, UPLOADS_DIR; see
README "Configuration") and migrates the catalog DB first, so the first account can be made right after `make build`.
Erasures made here are audited with the actor `cli:<login name>`.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import Engine

from assistant.console.accounts import AccountError, AccountStore, Role
from assistant.console.annotations import AnnotationError, Annotations, domain_intents
from assistant.console.audit import AuditLog
from assistant.console.privacy import Eraser, ErasureError, ErasureReport
from assistant.settings import PROJECT_ROOT, Settings, SettingsError, load_settings
from catalog.db import make_engine
from catalog.errors import CatalogError
from catalog.migrate import upgrade


class CommandError(RuntimeError):
    """A command that cannot run as asked; the message says what to do instead."""


def build_parser() -> argparse.ArgumentParser:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(
        prog="python -m assistant.console",
        description=doc.splitlines()[0],
        epilog="\n".join(doc.splitlines()[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    create = commands.add_parser("create-user", help="create a staff account")
    create.add_argument("username")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--display-name", default=None, help="what shoppers see when this person replies")
    create.add_argument("--password-stdin", action="store_true", help="read the password from stdin (one line)")
    password = commands.add_parser("set-password", help="change the password of an account")
    password.add_argument("username")
    password.add_argument("--password-stdin", action="store_true", help="read the password from stdin (one line)")
    disable = commands.add_parser("disable-user", help="block an account from logging in")
    disable.add_argument("username")
    commands.add_parser("list-users", help="list the staff accounts")
    export = commands.add_parser("export-corrections", help="intent corrections as Rasa NLU YAML")
    export.add_argument("--out", type=Path, default=None, help="file to write (default: standard output)")
    commands.add_parser("sync", help="update the conversation index from Rasa's tracker store")
    erase = commands.add_parser("erase-conversation", help="erase one conversation everywhere")
    erase.add_argument("sender_id")
    customer = commands.add_parser("erase-customer", help="erase every conversation and record of a customer")
    customer.add_argument("customer_id")
    purge = commands.add_parser("purge", help="erase conversations older than a number of days")
    purge.add_argument("--older-than", type=int, default=None, metavar="DAYS", help="default: RETENTION_DAYS")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        engine = make_engine(settings.database_url)
        try:
            upgrade(engine)
            return COMMANDS[args.command](args, settings, engine)
        finally:
            engine.dispose()
    except (CommandError, SettingsError, CatalogError, AccountError, AnnotationError, ErasureError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _actor() -> str:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "unknown"
    return f"cli:{name}"[:64]


def read_password(from_stdin: bool) -> str:
    """The new password: one line of stdin, or typed twice at a terminal (not echoed)."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise CommandError("--password-stdin: standard input is empty; pipe the password in")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CommandError("no terminal to ask for the password; pass --password-stdin and pipe it in")
    first = getpass.getpass("Password (12 characters or more): ")
    second = getpass.getpass("Same password again: ")
    if first != second:
        raise CommandError("the two passwords differ; nothing was changed, run the command again")
    return first


def _create_user(args: argparse.Namespace, _settings: Settings, engine: Engine) -> int:
    password = read_password(args.password_stdin)
    account = AccountStore(engine).create(args.username, password, Role(args.role), args.display_name)
    AuditLog(engine).record(_actor(), "create_account", account.username, {"role": account.role.value})
    print(f"created {account.role.value} {account.username!r} ({account.display_name}); log in at /staff/login")
    return 0


def _set_password(args: argparse.Namespace, _settings: Settings, engine: Engine) -> int:
    password = read_password(args.password_stdin)
    AccountStore(engine).set_password(args.username, password)
    AuditLog(engine).record(_actor(), "set_password", args.username)
    print(f"password of {args.username!r} changed")
    return 0


def _disable_user(args: argparse.Namespace, _settings: Settings, engine: Engine) -> int:
    AccountStore(engine).disable(args.username)
    AuditLog(engine).record(_actor(), "disable_account", args.username)
    print(f"{args.username!r} can no longer log in")
    return 0


def _list_users(_args: argparse.Namespace, _settings: Settings, engine: Engine) -> int:
    accounts = AccountStore(engine).list()
    if not accounts:
        print("no staff accounts yet; create one with: python -m assistant.console create-user NAME --role admin")
        return 0
    print(f"{'username':<24} {'role':<6} {'status':<9} display name")
    for a in accounts:
        print(f"{a.username:<24} {a.role.value:<6} {'disabled' if a.disabled else 'active':<9} {a.display_name}")
    return 0


def _export_corrections(args: argparse.Namespace, _settings: Settings, engine: Engine) -> int:
    annotations = Annotations(engine, domain_intents(PROJECT_ROOT / "domain.yml"))
    exported = annotations.export_nlu_yaml()
    AuditLog(engine).record(_actor(), "export_corrections", None, {"corrections": len(annotations.corrections())})
    if args.out is None:
        sys.stdout.write(exported)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(exported, encoding="utf-8")
        print(f"wrote {args.out}; then run `make train-nlu`", file=sys.stderr)
    return 0


def _sync(_args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    from assistant.console.index import ConversationIndex  # A1's index: imported only for this command
    from assistant.console.transcripts import TrackerReader

    updated = ConversationIndex(engine, TrackerReader(settings.tracker_db_url)).sync()
    print(f"{updated} conversations updated")
    return 0


def _eraser(settings: Settings, engine: Engine) -> Eraser:
    return Eraser(
        engine, settings.tracker_db_url, settings.uploads_dir, AuditLog(engine), log_dir=settings.state_dir / "logs"
    )


def _print_report(report: ErasureReport, what: str) -> None:
    counts = ", ".join(f"{table} {n}" for table, n in report.rows.items()) or "nothing stored"
    print(f"erased {what} as {report.marker}: {counts}; photos {report.files}")


def _erase_conversation(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    eraser = _eraser(settings, engine)
    try:
        _print_report(eraser.erase_conversation(args.sender_id, _actor()), "the conversation")
    finally:
        eraser.close()
    return 0


def _erase_customer(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    eraser = _eraser(settings, engine)
    try:
        _print_report(eraser.erase_customer(args.customer_id, _actor()), "the customer")
    finally:
        eraser.close()
    return 0


def _purge(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    days = args.older_than if args.older_than is not None else settings.retention_days
    if days == 0 and args.older_than is None:
        raise CommandError("retention is off (RETENTION_DAYS=0 keeps conversations); pass --older-than DAYS")
    eraser = _eraser(settings, engine)
    try:
        erased = eraser.purge_older_than(days, actor=_actor())
    finally:
        eraser.close()
    print(f"erased {erased} conversations older than {days} days")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings, Engine], int]] = {
    "create-user": _create_user,
    "set-password": _set_password,
    "disable-user": _disable_user,
    "list-users": _list_users,
    "export-corrections": _export_corrections,
    "sync": _sync,
    "erase-conversation": _erase_conversation,
    "erase-customer": _erase_customer,
    "purge": _purge,
}

if __name__ == "__main__":
    sys.exit(main())
