"""Coverage: documents, refusals, activity, register reports, directory updates.

The tables are derived from ``edoc.events`` (and ``edoc.directory``): the
coverage service merges into them with upserts, so the service role gets
UPDATE where a merge changes a row and nothing else beyond SELECT/INSERT.
Downgrading drops them; replaying ``edoc.events`` with a new consumer group
rebuilds them (within the topic's retention).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: Table → privileges of the service role on PostgreSQL.
GRANTS = {
    "coverage_documents": "SELECT, INSERT, UPDATE",
    "coverage_refusals": "SELECT, INSERT",
    "coverage_activity": "SELECT, INSERT",
    "coverage_reports": "SELECT, INSERT, UPDATE",
    "coverage_directory": "SELECT, INSERT, UPDATE",
}


def upgrade() -> None:
    """Create the coverage tables and indexes; grant the service role (PostgreSQL)."""
    op.create_table(
        "coverage_documents",
        sa.Column("message_id", sa.String(36), primary_key=True),
        sa.Column("sender", sa.String(16), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("valid", sa.Boolean, nullable=False),
        sa.Column("classified", sa.Boolean, nullable=False),
        sa.Column("last_reasons", sa.Text, nullable=False),
        sa.Column("last_refused_at", sa.String(40)),
    )
    op.create_index("ix_coverage_documents_day", "coverage_documents", ["day", "sender"])
    op.create_table(
        "coverage_refusals",
        sa.Column("event_id", sa.String(80), primary_key=True),
        sa.Column("message_id", sa.String(36)),
        sa.Column("sender", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16)),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
    )
    op.create_index("ix_coverage_refusals_day", "coverage_refusals", ["day", "sender"])
    op.create_table(
        "coverage_activity",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("agency", sa.String(16), primary_key=True),
    )
    op.create_table(
        "coverage_reports",
        sa.Column("agency", sa.String(16), primary_key=True),
        sa.Column("period", sa.String(7), primary_key=True),
        sa.Column("sent_at", sa.String(40), nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("paper_sent", sa.Integer, nullable=False),
        sa.Column("secret_sent", sa.Integer, nullable=False),
        sa.Column("scanned_pct", sa.Float),
        sa.Column("officials_pct", sa.Float),
        sa.Column("level4_pct", sa.Float),
    )
    op.create_index("ix_coverage_reports_period", "coverage_reports", ["period"])
    op.create_table(
        "coverage_directory",
        sa.Column("code", sa.String(16), primary_key=True),
        sa.Column("entry", sa.Text, nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )
    app_role = context.config.attributes.get("app_role")
    if op.get_bind().dialect.name == "postgresql" and app_role:
        role = op.get_bind().dialect.identifier_preparer.quote(app_role)
        # One statement per execute: asyncpg refuses multi-statement strings.
        for table, privileges in GRANTS.items():
            op.execute(f"GRANT {privileges} ON {table} TO {role}")


def downgrade() -> None:
    """Drop the coverage tables (they are rebuilt by replaying ``edoc.events``)."""
    for table in reversed(GRANTS):
        op.drop_table(table)
