"""Status lifecycle: the latest status of every delivered (document, recipient).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``document_status``; the service role may insert and update it."""
    op.create_table(
        "document_status",
        sa.Column("message_id", sa.String(36), primary_key=True),
        sa.Column("recipient", sa.String(16), primary_key=True),
        sa.Column("sender", sa.String(16), nullable=False),
        sa.Column("doc_code", sa.String(100)),
        sa.Column("subject", sa.Text),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("delivered_at", sa.String(40), nullable=False),
        sa.Column("status", sa.String(2)),
        sa.Column("status_at", sa.String(40)),
        sa.Column("status_message_id", sa.String(36)),
    )
    op.create_index("ix_document_status_open", "document_status", ["status", "delivered_at"])
    app_role = context.config.attributes.get("app_role")
    if app_role and op.get_bind().dialect.name == "postgresql":
        role = op.get_bind().dialect.identifier_preparer.quote(app_role)
        op.execute(f"GRANT SELECT, INSERT, UPDATE ON document_status TO {role}")


def downgrade() -> None:
    """Drop the table (it is rebuilt by replaying edoc.events)."""
    op.drop_table("document_status")
