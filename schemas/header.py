"""The signed header of a package: routing fields, edXML-style metadata, attachment manifest.

Field names follow the edXML MessageHeader of QCVN 102:2016 so an edXML adapter
maps one to one. The exact JSON is specified in docs/wire-format.md.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, model_validator

from schemas.agency import AgencyCode
from schemas.bounds import BoundedDatetime
from schemas.scalars import (
    MAX_WIRE_INT,
    PERIOD_RE,
    BoundedDate,
    Period,
    Version1,
    WireBool,
    WireInt,
    WireUUID,
    exact_int,
)


class _Strict(BaseModel):
    # Unknown fields are refused: a typo in a signed header should fail loudly,
    # not be ignored by the hub and then trusted by a recipient. NaN and
    # Infinity (which Python's and pydantic's JSON readers accept) are not JSON.
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, frozen=True, allow_inf_nan=False
    )


class Kind(StrEnum):
    """What a package carries."""

    DOCUMENT = "document"
    STATUS = "status"
    REGISTER = "register"


class Classification(StrEnum):
    """Security classification; ``secret`` is refused by the hub (reason ``classified``)."""

    PUBLIC = "public"
    INTERNAL = "internal"
    SECRET = "secret"  # noqa: S105 -- a classification level, not a password


class BusinessDocType(IntEnum):
    """edXML ``BusinessDocType``."""

    NEW = 0
    REVOKE = 1
    UPDATE = 2
    REPLACE = 3


class StatusCode(StrEnum):
    """edXML status codes (see DESIGN.md)."""

    ARRIVED = "01"
    REJECTED = "02"
    ACCEPTED = "03"
    ASSIGNED = "04"
    PROCESSING = "05"
    COMPLETED = "06"
    RECALL_REQUESTED = "13"
    RECALL_ACCEPTED = "15"
    RECALL_REFUSED = "16"


Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class AttachmentRef(_Strict):
    """One manifest entry: the hub checks the attachment's bytes against ``size`` and ``sha256``."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    name: str = Field(min_length=1, max_length=255)
    media_type: str = Field(min_length=3, max_length=127)
    size: WireInt = Field(ge=0, le=MAX_WIRE_INT)
    sha256: Sha256Hex


class DocumentCode(_Strict):
    """Số và ký hiệu văn bản, e.g. number ``166``, notation ``QĐ-UBND``."""

    number: str = Field(min_length=1, max_length=32)
    notation: str = Field(min_length=1, max_length=64)


class Promulgation(_Strict):
    """Place and date of promulgation."""

    place: str = Field(min_length=1, max_length=128)
    date: BoundedDate


class DocSigner(_Strict):
    """The official who signed the document (not the certificate holder)."""

    full_name: str = Field(min_length=1, max_length=128)
    position: str = Field(default="", max_length=128)
    competence: str = Field(default="", max_length=64)


class Business(_Strict):
    """edXML ``Business``: new / revoke / update / replace, and whether a paper copy follows."""

    # An IntEnum takes ``true`` and ``1.0`` even in strict mode (True == 1 == 1.0).
    doc_type: Annotated[BusinessDocType, BeforeValidator(exact_int)] = BusinessDocType.NEW
    reason: str = Field(default="", max_length=1000)
    paper: WireBool = False


class DocumentRef(_Strict):
    """A reference to an earlier document (edXML ``ResponseFor``)."""

    message_id: WireUUID | None = None
    code: DocumentCode | None = None
    promulgation_date: BoundedDate | None = None
    from_: AgencyCode | None = Field(default=None, alias="from")


class DocumentMeta(_Strict):
    """Metadata of an official document (kind ``document``)."""

    code: DocumentCode
    promulgation: Promulgation
    document_type: str = Field(min_length=1, max_length=64)
    subject: str = Field(min_length=1, max_length=1000)
    content: str = Field(default="", max_length=20000)
    signer: DocSigner
    priority: WireInt = Field(default=0, ge=0, le=3)
    due_date: BoundedDate | None = None
    steering_type: WireInt = Field(default=0, ge=0, le=MAX_WIRE_INT)
    to_places: list[str] = Field(default_factory=list, max_length=500)
    business: Business = Field(default_factory=Business)
    response_for: list[DocumentRef] = Field(default_factory=list, max_length=100)
    classification: Classification = Classification.PUBLIC


class StatusInfo(_Strict):
    """A status report (kind ``status``) about an earlier document."""

    code: StatusCode
    ref_message_id: WireUUID
    description: str = Field(default="", max_length=2000)
    reasons: list[str] = Field(default_factory=list, max_length=50)
    staff: str = Field(default="", max_length=128)
    #: For hub receipts (01): the recipient whose inbox received the document.
    recipient: AgencyCode | None = None


#: ``YYYY-MM``, ``YYYY-Qn`` or ``YYYY`` (ASCII digits), as a pattern for query parameters.
PERIOD_PATTERN = f"^{PERIOD_RE.pattern}$"
#: A percentage: a JSON number (an integer is fine), not a string or a boolean.
Percent = Annotated[float, Strict()]


class RegisterInfo(_Strict):
    """An agency's register totals for a period (kind ``register``), addressed to the hub.

    Electronic documents are counted by the hub from its own traffic; the agency
    reports what the hub cannot see. A later report for the same period replaces
    an earlier one.
    """

    period: Period
    paper_sent: WireInt = Field(
        ge=0, le=MAX_WIRE_INT, description="non-secret documents sent on paper"
    )
    secret_sent: WireInt = Field(
        default=0, ge=0, le=MAX_WIRE_INT, description="secret documents (outside the target)"
    )
    scanned_pct: Percent | None = Field(
        default=None, ge=0, le=100, description="incoming documents scanned and entered, %"
    )
    officials_pct: Percent | None = Field(
        default=None, ge=0, le=100, description="officials working in the operations system, %"
    )
    level4_pct: Percent | None = Field(
        default=None, ge=0, le=100, description="dossiers processed online at level 4, %"
    )


class Header(_Strict):
    """The signed header. Its exact bytes (not a re-serialisation) are what signatures cover."""

    v: Version1 = 1
    message_id: WireUUID
    kind: Kind
    from_: AgencyCode = Field(alias="from")
    to: list[AgencyCode] = Field(min_length=1, max_length=500)
    # Bounded: arithmetic near year 1 or 9999 (``at ± skew``) would overflow.
    sent_at: BoundedDatetime
    document: DocumentMeta | None = None
    status: StatusInfo | None = None
    # ``register`` would shadow ABCMeta.register on the model class; the wire name stays.
    register_: RegisterInfo | None = Field(default=None, alias="register")
    attachments: list[AttachmentRef] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _kind_matches_body(self) -> Header:
        if self.kind is Kind.DOCUMENT and self.document is None:
            raise ValueError("kind 'document' requires the 'document' object")
        if self.kind is Kind.STATUS and self.status is None:
            raise ValueError("kind 'status' requires the 'status' object")
        if self.kind is Kind.REGISTER and self.register_ is None:
            raise ValueError("kind 'register' requires the 'register' object")
        if len(set(self.to)) != len(self.to):
            raise ValueError("'to' lists a recipient twice")
        ids = [a.id for a in self.attachments]
        if len(set(ids)) != len(ids):
            raise ValueError("two attachments share an id")
        return self

    @property
    def sender(self) -> str:
        """The sending agency's code (``from`` is a Python keyword)."""
        return self.from_

    def to_json_bytes(self) -> bytes:
        """Serialise for signing: compact UTF-8 JSON with the wire field names."""
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()


def utc_now() -> datetime:
    """The current time, timezone-aware, truncated to whole seconds."""
    return datetime.now(UTC).replace(microsecond=0)
