"""A signature-log entry and its canonical bytes (the Merkle leaf content).

An auditor re-implements ``canonical_bytes`` to check an entry offline:
UTF-8 JSON of the entry's fields with keys sorted, no whitespace
(``separators=(",", ":")``), non-ASCII characters unescaped. The leaf hash is
``SHA-256(0x00 || canonical_bytes)`` (RFC 9162).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.package import SignatureEntry


class LogEntry(BaseModel):
    """One verdict as recorded in the signature log."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = 1
    seq: int = Field(ge=0, description="position in the log (Merkle leaf index)")
    identity: str = Field(description="event id: one per decision (see VerdictEvent.event_id)")
    message_id: str | None
    kind: str | None
    sender: str | None
    recipients: list[str]
    doc_number: str | None
    doc_notation: str | None
    doc_type: str | None
    subject: str | None
    verdict: Literal["ok", "rejected"]
    reasons: list[str]
    signer_subject: str | None
    signer_serial: str | None
    signer_issuer: str | None
    signer_org_id: str | None
    profile: str | None
    algorithm: str | None
    signing_time: str | None = Field(description="the header's sent_at (RFC 3339)")
    verified_at: str = Field(description="when the hub decided (RFC 3339, UTC, microseconds)")
    header_sha256: str | None
    package_sha256: str
    header: str | None = Field(description="the signed header bytes, base64url")
    signatures: list[SignatureEntry]
    report: str = Field(description="the verification report, JSON text as recorded")
    source_topic: str
    source_partition: int
    source_offset: int

    def canonical_bytes(self) -> bytes:
        """The Merkle leaf content of this entry (see the module docstring)."""
        return canonical_json(self.model_dump(mode="json"))


def canonical_json(data: dict[str, Any]) -> bytes:
    """Canonical bytes of an entry already dumped with ``model_dump(mode="json")``."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
