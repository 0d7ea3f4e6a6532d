"""Initial schema: signature log, recipients, checkpoints, API tokens; append-only guards.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = ("log_entries", "log_recipients", "checkpoints")


def upgrade() -> None:
    """Create the tables, indexes, triggers and (PostgreSQL) grants."""
    op.create_table(
        "log_entries",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("identity", sa.String(80), nullable=False, unique=True),
        sa.Column("message_id", sa.String(36)),
        sa.Column("kind", sa.String(16)),
        sa.Column("sender", sa.String(16)),
        sa.Column("recipients", sa.Text, nullable=False),
        sa.Column("doc_number", sa.String(32)),
        sa.Column("doc_notation", sa.String(64)),
        sa.Column("doc_type", sa.String(64)),
        sa.Column("subject", sa.Text),
        sa.Column("verdict", sa.String(8), nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("signer_subject", sa.Text),
        sa.Column("signer_serial", sa.String(64)),
        sa.Column("signer_issuer", sa.Text),
        sa.Column("signer_org_id", sa.String(64)),
        sa.Column("profile", sa.String(16)),
        sa.Column("algorithm", sa.String(32)),
        sa.Column("signing_time", sa.String(40)),
        sa.Column("verified_at", sa.String(40), nullable=False),
        sa.Column("header_sha256", sa.String(64)),
        sa.Column("package_sha256", sa.String(64), nullable=False),
        sa.Column("header_bytes", sa.LargeBinary),
        sa.Column("signatures", sa.Text, nullable=False),
        sa.Column("report", sa.Text, nullable=False),
        sa.Column("source_topic", sa.String(255), nullable=False),
        sa.Column("source_partition", sa.Integer, nullable=False),
        sa.Column("source_offset", sa.BigInteger, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_index("ix_log_sender_time", "log_entries", ["sender", "verified_at"])
    op.create_index("ix_log_verdict", "log_entries", ["verdict"])
    op.create_index("ix_log_message_id", "log_entries", ["message_id"])
    op.create_index("ix_log_signer_serial", "log_entries", ["signer_serial"])
    op.create_index("ix_log_doc", "log_entries", ["doc_number", "doc_notation"])
    op.create_table(
        "log_recipients",
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("agency", sa.String(16), primary_key=True),
    )
    op.create_index("ix_log_recipients_agency", "log_recipients", ["agency", "seq"])
    op.create_table(
        "checkpoints",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tree_size", sa.BigInteger, nullable=False, unique=True),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    dialect = op.get_bind().dialect.name
    # One statement per execute: asyncpg refuses multi-statement strings.
    if dialect == "sqlite":
        for table in APPEND_ONLY:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION edoc_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'table % is append-only', TG_TABLE_NAME "
            "USING ERRCODE = 'insufficient_privilege'; END $$"
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION edoc_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION edoc_append_only()"
            )
        app_role = context.config.attributes.get("app_role")
        if app_role:
            role = op.get_bind().dialect.identifier_preparer.quote(app_role)
            for table in APPEND_ONLY:
                op.execute(f"GRANT SELECT, INSERT ON {table} TO {role}")
            op.execute(f"GRANT SELECT, INSERT, UPDATE ON api_tokens TO {role}")
            op.execute(f"GRANT USAGE ON SEQUENCE checkpoints_id_seq, api_tokens_id_seq TO {role}")
            op.execute(f"GRANT SELECT ON alembic_version TO {role}")


def downgrade() -> None:
    """The signature log is never downgraded."""
    raise NotImplementedError("the signature log schema is forward-only")
