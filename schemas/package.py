"""The package: the Kafka record value (and ``.json`` file) that carries one signed header.

``parse_package`` is the single edge where untrusted bytes become typed objects;
anything unreadable becomes one ``MalformedPackageError`` with a precise message.
It reads strictly, so that no other reader (a recipient's, an auditor's) can
understand the package differently from the hub: strict types, each JSON member
once, canonical base64 (``schemas.codec``), times and dates within range.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.codec import (
    DuplicateKeyError,
    b64url_encode,
    check_unique_keys,
    check_unique_keys_envelope,
    strict_b64decode,
)
from schemas.errors import MalformedPackageError, describe_validation_error
from schemas.header import Header
from schemas.scalars import Version1

__all__ = [
    "AttachmentContent",
    "Package",
    "ParsedPackage",
    "SignatureEntry",
    "b64url_decode",
    "b64url_encode",
    "package_sha256",
    "parse_package",
]


class SignatureEntry(BaseModel):
    """One signature over the header bytes; ``profile`` says how to read ``value``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: str = Field(min_length=1, max_length=32)
    value: str = Field(min_length=0)


class AttachmentContent(BaseModel):
    """An attachment's bytes, standard base64, matched to the manifest by ``id``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64)
    content: str


class Package(BaseModel):
    """The wire object. ``header`` is base64url of the header bytes exactly as signed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Version1 = 1
    header: str = Field(min_length=1)
    signatures: list[SignatureEntry] = Field(default_factory=list, max_length=16)
    attachments: list[AttachmentContent] = Field(default_factory=list, max_length=100)

    def to_bytes(self) -> bytes:
        """Compact JSON bytes, as sent on Kafka or written to a ``.json`` file."""
        return self.model_dump_json().encode()


def b64url_decode(text: str) -> bytes:
    """Decode a header the hub stored (base64url, padding optional); ``ValueError`` if unreadable.

    For reading back events and log entries: it tolerates the stray bits and
    excess padding that packages accepted before the canonical rule may carry.
    Untrusted input goes through ``parse_package``.
    """
    return strict_b64decode(text, urlsafe=True, padding="optional", canonical=False)


@dataclass(frozen=True, slots=True)
class ParsedPackage:
    """A package whose envelope and header are readable (signatures not yet checked)."""

    raw: bytes
    package: Package
    header_bytes: bytes
    header: Header
    attachments: dict[str, bytes]

    @property
    def header_sha256(self) -> str:
        """Hex SHA-256 of the signed header bytes (the identity auditors cite)."""
        return hashlib.sha256(self.header_bytes).hexdigest()


def package_sha256(raw: bytes) -> str:
    """Hex SHA-256 of a package's raw bytes (identifies even unreadable packages)."""
    return hashlib.sha256(raw).hexdigest()


def parse_package(raw: bytes) -> ParsedPackage:
    """Parse package bytes down to a validated header; raise ``MalformedPackageError``."""
    hint = "see docs/wire-format.md for the package layout"
    try:
        # pydantic-core parses and validates in one pass (no intermediate dicts).
        # Not strict=True here: the envelope holds only strings (which pydantic
        # never coerces from JSON) and ``v`` (Version1, exact); strict mode would
        # change nothing and costs ~20% more on a megabyte attachment.
        pkg = Package.model_validate_json(raw)
    except ValidationError as exc:
        if exc.errors()[0]["type"] == "json_invalid":
            raise MalformedPackageError(
                f"package is not JSON: {exc.errors()[0]['ctx'].get('error', '')}", hint=hint
            ) from None
        if exc.errors()[0]["type"] == "model_type":
            raise MalformedPackageError("package is not a JSON object", hint=hint) from None
        raise MalformedPackageError(
            f"package: {describe_validation_error(exc)}", hint=hint
        ) from None
    try:
        # pydantic kept the last copy of a duplicated member; another reader may keep the first.
        check_unique_keys_envelope(raw)
    except DuplicateKeyError as exc:
        raise MalformedPackageError(f"package: {exc}", hint=hint) from None
    try:
        header_bytes = strict_b64decode(pkg.header, urlsafe=True, padding="optional")
    except ValueError as exc:
        raise MalformedPackageError(f"header: not base64url: {exc}", hint=hint) from None
    try:
        # strict: 1 is not true, "1" is not 1, a Unix time is not a date-time.
        header = Header.model_validate_json(header_bytes, strict=True)
    except ValidationError as exc:
        raise MalformedPackageError(f"header.{describe_validation_error(exc)}", hint=hint) from None
    try:
        check_unique_keys(header_bytes)
    except DuplicateKeyError as exc:
        raise MalformedPackageError(f"header: {exc}", hint=hint) from None
    attachments: dict[str, bytes] = {}
    for att in pkg.attachments:
        if att.id in attachments:
            raise MalformedPackageError(f"attachment id {att.id!r} appears twice", hint=hint)
        try:
            attachments[att.id] = strict_b64decode(att.content, urlsafe=False)
        except ValueError as exc:
            raise MalformedPackageError(
                f"attachment {att.id!r}: content is not base64: {exc}", hint=hint
            ) from None
    return ParsedPackage(raw, pkg, header_bytes, header, attachments)
