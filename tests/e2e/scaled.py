"""Helpers for the scaled-out end-to-end test (tests/e2e/test_scaled.py): throwaway PostgreSQL databases, the
catalog copied into PostgreSQL, free Redis databases, Rasa with a Redis lock store, and a second gateway process.

Rasa's production topology (several Rasa replicas and gateways behind a load balancer) shares three things: the
tracker store (PostgreSQL), the lock store (Redis: one conversation is handled by one replica at a time) and the live
channel between gateways (Redis pub/sub). These helpers build that on the services of this machine, for one test
module, and take it down again.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import secrets
import sqlite3
import subprocess
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import inspect

from assistant.settings import PROJECT_ROOT
from assistant.stack import APP_BIN, Service, Stack, answers
from catalog.db import make_engine
from catalog.migrate import upgrade
from catalog.models import Base

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


class ScaledSetupError(RuntimeError):
    """A service the scaled topology needs is missing; the message says which and how to get it."""


def _csv_field(value: Any) -> str:
    """One CSV field for PostgreSQL's COPY: unquoted empty = NULL, every string quoted (so '' stays '')."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, bytes):
        raise ScaledSetupError("a catalog column holds bytes; copy_catalog_to_postgres only copies text and numbers")
    return '"' + str(value).replace('"', '""') + '"'


HISTORY_TABLES = frozenset({"order_lines", "daily_sales"})
"""The reference store's invoice lines and daily sales (1.4M rows): inputs of the recommender and forecast builds;
the running assistant reads them only for the status of an old invoice."""


def copy_catalog_to_postgres(
    sqlite_path: Path, postgres_url: str, skip: Collection[str] = (), only: Collection[str] | None = None
) -> dict[str, int]:
    """The catalog's schema made in PostgreSQL by its own migrations (so PostgreSQL-only parts, e.g. the console's
    tsvector index, are real; a no-op when it is there already), then the rows of the built SQLite catalog copied in
    with COPY (every table, or `only` these, less `skip`), and the serial sequences moved past the copied ids.
    Returns rows per table."""
    engine = make_engine(postgres_url.replace("postgresql://", "postgresql+psycopg2://", 1))
    upgrade(engine)
    copied: dict[str, int] = {}
    source = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    try:
        target_tables = set(inspect(engine).get_table_names())
        source_tables = {row[0] for row in source.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            # the rows are the catalog's own, already consistent: no per-row foreign key triggers while copying
            cursor.execute("SET session_replication_role = replica")
            for table in Base.metadata.sorted_tables:  # parents before children (foreign keys)
                if table.name not in target_tables or table.name not in source_tables or table.name in skip:
                    continue
                if only is not None and table.name not in only:
                    continue
                have = [row[1] for row in source.execute(f'PRAGMA table_info("{table.name}")')]
                columns = [c.name for c in table.columns if c.name in have]
                quoted = ", ".join(f'"{c}"' for c in columns)
                buffer = io.StringIO()
                count = 0
                for row in source.execute(f'SELECT {quoted} FROM "{table.name}"'):
                    buffer.write(",".join(_csv_field(v) for v in row) + "\n")
                    count += 1
                if not count:
                    continue
                buffer.seek(0)
                cursor.copy_expert(f'COPY "{table.name}" ({quoted}) FROM STDIN WITH (FORMAT csv)', buffer)
                copied[table.name] = count
                for col in table.primary_key.columns:
                    cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", (f'"{table.name}"', col.name))
                    found = cursor.fetchone()
                    if found is not None and found[0]:
                        sequence = found[0]
                        cursor.execute(
                            f'SELECT setval(%s, (SELECT max("{col.name}") FROM "{table.name}"))', (sequence,)
                        )
            raw.commit()
        finally:
            raw.close()
    finally:
        source.close()
        engine.dispose()
    return copied


def free_redis_dbs(count: int) -> list[int]:
    """`count` Redis database numbers holding no keys now (chosen at random among 3-15, so two runs rarely meet)."""
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=5, socket_connect_timeout=5)
    try:
        used = {int(name.removeprefix("db")) for name in client.info("keyspace")}
    except redis.RedisError as exc:
        raise ScaledSetupError(f"the scaled e2e test needs Redis at {REDIS_HOST}:{REDIS_PORT}: {exc}") from exc
    finally:
        client.close()
    free = [n for n in range(3, 16) if n not in used]
    if len(free) < count:
        raise ScaledSetupError(f"Redis has keys in databases {sorted(used)}: not {count} free ones among 3-15")
    picked: list[int] = []
    while len(picked) < count:
        choice = secrets.choice(free)
        free.remove(choice)
        picked.append(choice)
    return picked


def redis_clients_on(db: int) -> int:
    """How many client connections Redis has open on database `db` now."""
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=5, socket_connect_timeout=5)
    try:
        return sum(1 for c in client.client_list() if int(c.get("db", -1)) == db)
    finally:
        client.close()


def lock_store_yaml(db: int, key_prefix: str) -> str:
    """Rasa's `lock_store:` section for a Redis lock store (what several Rasa replicas must share)."""
    if not re.fullmatch(r"[A-Za-z0-9]+", key_prefix):
        raise ValueError(f"Rasa's lock store key prefix must be letters and digits, got {key_prefix!r}")
    return (
        "lock_store:\n"
        "  type: redis\n"
        f'  url: "{REDIS_HOST}"\n'
        f"  port: {REDIS_PORT}\n"
        f"  db: {db}\n"
        f'  key_prefix: "{key_prefix}"\n'
    )


class RedisLockStack(Stack):
    """The stack with Rasa's lock store in Redis: `assistant/stack.py` writes no `lock_store:` (one Rasa process
    needs none), so this appends it to the endpoints file the stack writes (see the report of helper E)."""

    def __init__(self, *args: Any, lock_db: int, lock_prefix: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock_section = lock_store_yaml(lock_db, lock_prefix)

    def endpoints_path(self) -> Path:
        s = self.settings
        return s.state_dir / "run" / f"endpoints-{s.rasa_port}.yml"

    def services(self) -> list[Service]:
        services = super().services()  # (re)writes the endpoints file
        path = self.endpoints_path()
        if not re.search(r"^lock_store:", path.read_text(), re.MULTILINE):  # once stack.py writes one, use that
            with path.open("a") as handle:
                handle.write(self.lock_section)
        return services

    def lock_db(self) -> int | None:
        """The Redis database of the lock store Rasa is started with (None: Rasa's in-memory lock store)."""
        found = re.search(
            r"^lock_store:\n(?:[ \t]+.*\n)*?[ \t]+db:\s*(\d+)", self.endpoints_path().read_text(), re.MULTILINE
        )
        return int(found.group(1)) if found else None


class ExtraGateway:
    """A second gateway process (same settings and secret, another port): two gateways behind one load balancer."""

    def __init__(self, stack: Stack, port: int, log_dir: Path) -> None:
        gateway = next(svc for svc in stack.services() if svc.name == "gateway")
        self.port = port
        self.env = {**stack._env(gateway), "GATEWAY_PORT": str(port)}
        self.log = log_dir / f"gateway-{port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [str(APP_BIN / "python"), "-m", "assistant.gateway"],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not answers(f"http://127.0.0.1:{self.port}/healthz"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-2000:]
                self.stop()
                raise ScaledSetupError(f"the second gateway on port {self.port} did not start:\n{tail}")
            time.sleep(0.5)

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, 15)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, 9)
            self.proc.wait()
        self.proc = None
