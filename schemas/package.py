"""The package: the Kafka record value (and ``.json`` file) that carries one signed header.

``parse_package`` is the single edge where untrusted bytes become typed objects;
anything unreadable becomes one ``MalformedPackageError`` with a precise message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Literal

import pybase64
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.errors import MalformedPackageError, describe_validation_error
from schemas.header import Header


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

    v: Literal[1] = 1
    header: str = Field(min_length=1)
    signatures: list[SignatureEntry] = Field(default_factory=list, max_length=16)
    attachments: list[AttachmentContent] = Field(default_factory=list, max_length=100)

    def to_bytes(self) -> bytes:
        """Compact JSON bytes, as sent on Kafka or written to a ``.json`` file."""
        return self.model_dump_json().encode()


def b64url_encode(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_URL_TO_STD = str.maketrans("-_", "+/")


def b64url_decode(text: str) -> bytes:
    """Decode base64url; padding is optional. Raises ``ValueError`` on bad input."""
    if any(c in text for c in "+/ \n\r\t"):
        raise ValueError("not base64url (found '+', '/' or whitespace)")
    stripped = text.rstrip("=")
    try:
        # Strict: any character outside the alphabet is an error, not skipped.
        std = (stripped + "=" * (-len(stripped) % 4)).translate(_URL_TO_STD)
        return binascii.a2b_base64(std, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not base64url: {exc}") from None


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
        header_bytes = b64url_decode(pkg.header)
    except ValueError as exc:
        raise MalformedPackageError(f"header: {exc}", hint=hint) from None
    try:
        header = Header.model_validate_json(header_bytes)
    except ValidationError as exc:
        raise MalformedPackageError(f"header.{describe_validation_error(exc)}", hint=hint) from None
    attachments: dict[str, bytes] = {}
    for att in pkg.attachments:
        if att.id in attachments:
            raise MalformedPackageError(f"attachment id {att.id!r} appears twice", hint=hint)
        try:
            # SIMD decoding: this runs on every routed package (about 70x binascii).
            attachments[att.id] = pybase64.b64decode(att.content, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedPackageError(
                f"attachment {att.id!r}: content is not base64: {exc}", hint=hint
            ) from None
    return ParsedPackage(raw, pkg, header_bytes, header, attachments)
