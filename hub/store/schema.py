"""Table definitions (SQLAlchemy Core). Migrations in ``hub/store/migrations`` create them.

The log tables are append-only: triggers refuse UPDATE and DELETE on both
backends, and on PostgreSQL the service role is granted only SELECT and INSERT.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
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

# -- Coverage (hub/coverage, docs/coverage.md) ------------------------------------------------
# Derived from edoc.events and rebuildable by replaying it, so these tables are
# updatable (merges are upserts), unlike the signature log.

#: One row per document message_id: its local day, whether any decision accepted it.
coverage_documents = Table(
    "coverage_documents",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("sender", String(16), nullable=False),
    Column("day", String(10), nullable=False),  # local day, YYYY-MM-DD
    Column("valid", Boolean, nullable=False),
    Column("classified", Boolean, nullable=False),
    Column("last_reasons", Text, nullable=False),  # JSON array of the latest refusal
    Column("last_refused_at", String(40)),  # fixed-width UTC text
    # accepted with a weak (SHA-1) signature; added by migration 0004
    Column("weak", Boolean, nullable=False, server_default=false()),
)
Index("ix_coverage_documents_day", coverage_documents.c.day, coverage_documents.c.sender)

#: One row per refused package (any kind), by verdict event id.
coverage_refusals = Table(
    "coverage_refusals",
    metadata,
    Column("event_id", String(80), primary_key=True),
    Column("message_id", String(36)),
    Column("sender", String(16), nullable=False),
    Column("kind", String(16)),
    Column("day", String(10), nullable=False),
    Column("reasons", Text, nullable=False),  # JSON array
)
Index("ix_coverage_refusals_day", coverage_refusals.c.day, coverage_refusals.c.sender)

#: Agencies that sent anything (any kind, any verdict) on a local day.
coverage_activity = Table(
    "coverage_activity",
    metadata,
    Column("day", String(10), primary_key=True),
    Column("agency", String(16), primary_key=True),
)

#: The standing register report of an agency for a period (the later sent_at wins).
coverage_reports = Table(
    "coverage_reports",
    metadata,
    Column("agency", String(16), primary_key=True),
    Column("period", String(7), primary_key=True),  # YYYY-MM | YYYY-Qn | YYYY
    Column("sent_at", String(40), nullable=False),  # fixed-width UTC text
    Column("message_id", String(36), nullable=False),
    Column("paper_sent", Integer, nullable=False),
    Column("secret_sent", Integer, nullable=False),
    Column("scanned_pct", Float),
    Column("officials_pct", Float),
    Column("level4_pct", Float),
)
Index("ix_coverage_reports_period", coverage_reports.c.period)

#: Directory entries received on edoc.directory (they win over the directory file).
coverage_directory = Table(
    "coverage_directory",
    metadata,
    Column("code", String(16), primary_key=True),
    Column("entry", Text, nullable=False),  # schemas.directory.Agency JSON
    Column("updated_at", String(40), nullable=False),
)

# -- Status lifecycle (hub/lifecycle/service.py, docs/lifecycle.md) ----------------------------

#: The latest status of every (document, recipient) the router delivered.
document_status = Table(
    "document_status",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("recipient", String(16), primary_key=True),
    Column("sender", String(16), nullable=False),
    Column("doc_code", String(100)),
    Column("subject", Text),
    Column("priority", Integer, nullable=False),
    Column("delivered_at", String(40), nullable=False),  # fixed-width UTC text
    Column("status", String(2)),  # latest edXML status code, None = none yet
    Column("status_at", String(40)),  # its sent_at, fixed-width UTC text
    Column("status_message_id", String(36)),
)
Index("ix_document_status_open", document_status.c.status, document_status.c.delivered_at)
