"""Events the hub publishes: one verdict per package on ``edoc.events``."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.bounds import BoundedDatetime
from schemas.header import Kind
from schemas.package import SignatureEntry
from schemas.reasons import Reason
from schemas.report import VerificationReport
from schemas.scalars import Version1

#: Namespace of event ids (uuid5 over the source record and the package hash).
EVENT_NAMESPACE = uuid.UUID("0c7a3e52-3f0e-4d8e-9d0a-2b1f6c9e4a17")


class SourceRecord(BaseModel):
    """Where the package was read from (for auditors tracing back to Kafka)."""

    model_config = ConfigDict(frozen=True)

    topic: str
    partition: int
    offset: int


class VerdictEvent(BaseModel):
    """The router's decision about one package.

    ``message_id`` is absent only for packages too malformed to have one; then
    ``package_sha256`` identifies the package.
    """

    model_config = ConfigDict(populate_by_name=True)

    v: Version1 = 1
    message_id: uuid.UUID | None
    package_sha256: str
    kind: Kind | None
    from_: str | None = Field(alias="from")
    to: list[str]
    verdict: Literal["ok", "rejected"]
    reasons: list[Reason]
    delivered_to: list[str] = Field(default_factory=list, description="inbox topics written")
    # Bounded like every time the hub reads: consumers do arithmetic on them
    # (local reporting day, overdue windows).
    received_at: BoundedDatetime
    decided_at: BoundedDatetime
    source: SourceRecord
    report: VerificationReport
    #: The signed header exactly as received (base64url) and the signatures, so
    #: the signature log can re-verify years later without Kafka. Absent when
    #: the package was unreadable.
    header: str | None = None
    signatures: list[SignatureEntry] = Field(default_factory=list)
    #: The consumer group of the router that decided (routers resume from their own).
    router_group: str | None = None

    @property
    def event_id(self) -> str:
        """Identity of this decision: the submitted record it answers, and its bytes.

        A redelivered event has the same id; a re-sent package (even with the same
        message_id, e.g. corrected after a rejection) is another record and so
        another decision with its own id.
        """
        s = self.source
        return str(
            uuid.uuid5(EVENT_NAMESPACE, f"{s.topic}/{s.partition}/{s.offset}/{self.package_sha256}")
        )

    def to_bytes(self) -> bytes:
        """Compact JSON with wire field names."""
        return self.model_dump_json(by_alias=True).encode()
