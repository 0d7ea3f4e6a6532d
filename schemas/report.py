"""The verification report: printed by ``edoc verify`` and carried in every verdict event."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.bounds import BoundedDatetime
from schemas.header import Kind
from schemas.reasons import Reason


class CertInfo(BaseModel):
    """Identity of one certificate as auditors cite it.

    Validity is not bounded like the package's times: it is whatever the CA
    wrote (RFC 5280 uses 9999-12-31 for "no expiry"), and it is only ever
    compared with bounded times, never shifted.
    """

    model_config = ConfigDict(frozen=True)

    subject: str
    issuer: str
    serial: str = Field(description="serial number, lower-case hex")
    organization_identifier: str | None = None
    not_before: datetime
    not_after: datetime
    sha256: str = Field(description="SHA-256 fingerprint of the DER, hex")


class SignatureReport(BaseModel):
    """The outcome of one signature of the package."""

    index: int
    profile: str
    algorithm: str | None = None
    valid: bool
    reasons: list[Reason] = Field(default_factory=list)
    signer: CertInfo | None = None
    chain: list[str] = Field(default_factory=list, description="SHA-256 fingerprints, leaf first")
    signing_time: BoundedDatetime | None = Field(
        default=None, description="signingTime attribute (CMS) when present and in range"
    )
    details: list[str] = Field(default_factory=list)
    #: added: codes reported but not rejecting, e.g. ``weak_algorithm`` for an
    #: XML signature with SHA-1 accepted by configuration.
    warnings: list[Reason] = Field(default_factory=list)


class AttachmentReport(BaseModel):
    """The outcome of one attachment's digest check."""

    id: str
    valid: bool
    detail: str = ""


class VerificationReport(BaseModel):
    """Everything the verifier found; ``reasons`` lists every code that applies."""

    verdict: Literal["ok", "rejected"]
    reasons: list[Reason] = Field(default_factory=list)
    message_id: uuid.UUID | None = None
    kind: Kind | None = None
    from_: str | None = Field(default=None, alias="from")
    to: list[str] = Field(default_factory=list)
    sent_at: BoundedDatetime | None = None
    validation_time: BoundedDatetime | None = None
    received_at: BoundedDatetime | None = None
    header_sha256: str | None = None
    package_sha256: str
    signatures: list[SignatureReport] = Field(default_factory=list)
    attachments: list[AttachmentReport] = Field(default_factory=list)
    details: list[str] = Field(default_factory=list)
    #: added: every warning code of every signature (the verdict ignores them;
    #: coverage and the console show them, e.g. SHA-1 edXML signatures).
    warnings: list[Reason] = Field(default_factory=list)

    model_config = ConfigDict(populate_by_name=True)

    @property
    def ok(self) -> bool:
        """True when the verdict is ``ok``."""
        return self.verdict == "ok"

    def to_json(self) -> str:
        """Pretty JSON with wire field names."""
        return self.model_dump_json(by_alias=True, indent=2)
