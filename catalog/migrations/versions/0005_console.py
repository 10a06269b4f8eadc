"""The staff console: accounts, sessions, the index of Rasa's tracker store with full-text search, annotations,
audit log, erasure requests.

Text search over `conversations.search_text` is dialect-specific and lives outside the models (see
`catalog.models.CONSOLE_SEARCH_OBJECTS`):
- SQLite: an FTS5 table with external content (`content='conversations'`, so the text is stored once) kept in step by
  three triggers; deleting a conversation row (erasure, retention) removes its search entry in the same statement.
- PostgreSQL: a GIN index on `to_tsvector('simple', search_text)`, which the query in `assistant.console.queries`
  repeats word for word so the planner uses it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_SEARCH = [
    "CREATE VIRTUAL TABLE conversations_fts USING fts5("
    "search_text, content='conversations', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER conversations_fts_ai AFTER INSERT ON conversations BEGIN "
    "INSERT INTO conversations_fts(rowid, search_text) VALUES (new.rowid, new.search_text); END",
    "CREATE TRIGGER conversations_fts_ad AFTER DELETE ON conversations BEGIN "
    "INSERT INTO conversations_fts(conversations_fts, rowid, search_text) "
    "VALUES ('delete', old.rowid, old.search_text);"
    " END",
    "CREATE TRIGGER conversations_fts_au AFTER UPDATE OF search_text ON conversations BEGIN "
    "INSERT INTO conversations_fts(conversations_fts, rowid, search_text) "
    "VALUES ('delete', old.rowid, old.search_text);"
    " INSERT INTO conversations_fts(rowid, search_text) VALUES (new.rowid, new.search_text); END",
]
SQLITE_SEARCH_DROP = [
    "DROP TRIGGER IF EXISTS conversations_fts_au",
    "DROP TRIGGER IF EXISTS conversations_fts_ad",
    "DROP TRIGGER IF EXISTS conversations_fts_ai",
    "DROP TABLE IF EXISTS conversations_fts",
]
POSTGRES_SEARCH = (
    "CREATE INDEX ix_conversations_search ON conversations USING gin (to_tsvector('simple'::regconfig, search_text))"
)


def upgrade() -> None:
    op.create_table(
        "staff_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("role IN ('agent', 'admin')", name=op.f("ck_staff_accounts_role_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_accounts")),
        sa.UniqueConstraint("username", name=op.f("uq_staff_accounts_username")),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["staff_accounts.id"], name=op.f("fk_staff_sessions_account_id_staff_accounts")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_staff_sessions")),
    )
    op.create_index(op.f("ix_staff_sessions_account_id"), "staff_sessions", ["account_id"])
    op.create_table(
        "conversations",
        sa.Column("sender_id", sa.String(length=255), nullable=False),
        sa.Column("channel", sa.String(length=50), nullable=False),
        sa.Column("customer_id", sa.String(length=20), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("last_at", sa.DateTime(), nullable=False),
        sa.Column("user_turns", sa.Integer(), nullable=False),
        sa.Column("negative_turns", sa.Integer(), nullable=False),
        sa.Column("sentiment_sum", sa.Float(), nullable=False),
        sa.Column("fallbacks", sa.Integer(), nullable=False),
        sa.Column("handoff", sa.Boolean(), nullable=False),
        sa.Column("zero_result_searches", sa.Integer(), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("sender_id", name=op.f("pk_conversations")),
    )
    op.create_index(op.f("ix_conversations_last_at"), "conversations", ["last_at"])
    op.create_index(op.f("ix_conversations_channel"), "conversations", ["channel"])
    op.create_index(op.f("ix_conversations_customer_id"), "conversations", ["customer_id"])
    op.create_index(
        "ix_conversations_filters",
        "conversations",
        ["user_turns", "handoff", "fallbacks", "negative_turns", "sentiment_sum"],
    )
    op.create_table(
        "conversation_tags",
        sa.Column("sender_id", sa.String(length=255), nullable=False),
        sa.Column("tag", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sender_id", "tag", name=op.f("pk_conversation_tags")),
    )
    op.create_table(
        "conversation_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.String(length=255), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_notes")),
    )
    op.create_index(op.f("ix_conversation_notes_sender_id"), "conversation_notes", ["sender_id"])
    op.create_table(
        "intent_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.String(length=255), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("predicted_intent", sa.String(length=100), nullable=True),
        sa.Column("correct_intent", sa.String(length=100), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intent_corrections")),
    )
    op.create_index(op.f("ix_intent_corrections_sender_id"), "intent_corrections", ["sender_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_index(op.f("ix_audit_log_target"), "audit_log", ["target"])
    op.create_table(
        "erasure_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_requests")),
    )
    op.create_index(op.f("ix_erasure_requests_sender_id"), "erasure_requests", ["sender_id"])
    op.create_table(
        "console_sync_state",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_console_sync_state")),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_SEARCH:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute(POSTGRES_SEARCH)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_SEARCH_DROP:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_conversations_search")
    op.drop_table("console_sync_state")
    op.drop_index(op.f("ix_erasure_requests_sender_id"), table_name="erasure_requests")
    op.drop_table("erasure_requests")
    op.drop_index(op.f("ix_audit_log_target"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index(op.f("ix_intent_corrections_sender_id"), table_name="intent_corrections")
    op.drop_table("intent_corrections")
    op.drop_index(op.f("ix_conversation_notes_sender_id"), table_name="conversation_notes")
    op.drop_table("conversation_notes")
    op.drop_table("conversation_tags")
    op.drop_index("ix_conversations_filters", table_name="conversations")
    op.drop_index(op.f("ix_conversations_customer_id"), table_name="conversations")
    op.drop_index(op.f("ix_conversations_channel"), table_name="conversations")
    op.drop_index(op.f("ix_conversations_last_at"), table_name="conversations")
    op.drop_table("conversations")
    op.drop_index(op.f("ix_staff_sessions_account_id"), table_name="staff_sessions")
    op.drop_table("staff_sessions")
    op.drop_table("staff_accounts")
