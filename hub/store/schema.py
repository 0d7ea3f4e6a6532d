"""Table definitions (SQLAlchemy Core). Migrations in ``hub/store/migrations`` create them.

The log tables are append-only: triggers refuse UPDATE and DELETE on both
backends, and on PostgreSQL the service role is granted only SELECT and INSERT.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

#: One row per verdict event, in tree order (``seq`` is the leaf index).
log_entries = Table(
    "log_entries",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    # the verdict event's id: one per decision (a redelivered event has the same)
    Column("identity", String(80), nullable=False, unique=True),
    Column("message_id", String(36)),
    Column("kind", String(16)),
    Column("sender", String(16)),
    Column("recipients", Text, nullable=False),  # JSON array
    Column("doc_number", String(32)),
    Column("doc_notation", String(64)),
    Column("doc_type", String(64)),
    Column("subject", Text),
    Column("verdict", String(8), nullable=False),
    Column("reasons", Text, nullable=False),  # JSON array
    Column("signer_subject", Text),
    Column("signer_serial", String(64)),
    Column("signer_issuer", Text),
    Column("signer_org_id", String(64)),
    Column("profile", String(16)),
    Column("algorithm", String(32)),
    Column("signing_time", String(40)),  # RFC 3339, as in the header
    Column("verified_at", String(40), nullable=False),
    Column("header_sha256", String(64)),
    Column("package_sha256", String(64), nullable=False),
    Column("header_bytes", LargeBinary),
    Column("signatures", Text, nullable=False),  # JSON array of {profile, value}
    Column("report", Text, nullable=False),  # the verification report JSON
    Column("source_topic", String(255), nullable=False),
    Column("source_partition", Integer, nullable=False),
    Column("source_offset", BigInteger, nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
)
Index("ix_log_sender_time", log_entries.c.sender, log_entries.c.verified_at)
Index("ix_log_verdict", log_entries.c.verdict)
Index("ix_log_message_id", log_entries.c.message_id)
Index("ix_log_signer_serial", log_entries.c.signer_serial)
Index("ix_log_doc", log_entries.c.doc_number, log_entries.c.doc_notation)

#: Agency recipients of each entry, for "as recipient" queries.
log_recipients = Table(
    "log_recipients",
    metadata,
    Column("seq", BigInteger, primary_key=True),
    Column("agency", String(16), primary_key=True),
)
Index("ix_log_recipients_agency", log_recipients.c.agency, log_recipients.c.seq)

#: Signed checkpoints of the log.
checkpoints = Table(
    "checkpoints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tree_size", BigInteger, nullable=False, unique=True),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("note", Text, nullable=False),  # signing.checkpoint text form
)

#: API tokens, stored as SHA-256 hashes only.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("role", String(32), nullable=False),
    Column("name", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

#: Tables whose rows may never change or disappear.
APPEND_ONLY = ("log_entries", "log_recipients", "checkpoints")
