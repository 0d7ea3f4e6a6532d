"""Coverage: documents accepted with a weak (SHA-1) signature are marked.

``coverage_documents.weak`` is true once any decision accepted the document
with a ``weak_algorithm`` warning (an RSA-SHA1 edXML signature accepted under
``EDOC_XMLDSIG_ALLOW_SHA1``). Rows written before this revision read false;
replaying ``edoc.events`` into the same tables sets it (the merge is an OR).
The service role's table grants of 0002 cover the new column.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``coverage_documents.weak`` (NOT NULL, false for the rows already there)."""
    # A server default lets both backends add a NOT NULL column to a filled table.
    op.add_column(
        "coverage_documents",
        sa.Column("weak", sa.Boolean, nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    """Drop the column (batch mode: SQLite rebuilds the table where it cannot drop it)."""
    with op.batch_alter_table("coverage_documents") as batch:
        batch.drop_column("weak")
