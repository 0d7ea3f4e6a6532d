"""What every signature profile returns, and the protocol it implements.

A profile owns one way of carrying a signature that covers the header bytes
(``jws``, ``cms`` directly; ``xmldsig`` through the edXML the header is mapped
from). It decodes the value, identifies the signer certificate and checks the
signature maths; everything about the certificate itself (policy,
path, revocation, sender binding) is the verifier's job, identical for all
profiles. Error contract:

* the value cannot be decoded or names no signer → raise
  ``SignatureCheckError`` (normally ``bad_signature``);
* the signer is known but a check fails → append to ``ProfileResult.problems``,
  so the report can still say who (claimed to have) signed;
* a check passes only because a setting allows it (e.g. SHA-1 in ``xmldsig``)
  → append to ``ProfileResult.warnings``: reported, never silently ok, but the
  verdict is not rejected for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from cryptography import x509

from schemas.codec import strict_b64decode
from signing.certs import ParsedCert
from signing.errors import SignatureCheckError

# Profiles decode signature values with the same canonical base64 reader as the
# package's header and attachments (it lives in schemas, below both).
__all__ = ["ProfileResult", "SignatureProfile", "strict_b64decode"]


@dataclass(slots=True)
class ProfileResult:
    """A decoded signature: who signed (leaf first), with what, and whether the maths holds.

    ``problems`` holds checks that failed after the signer was identified
    (e.g. the signature does not verify), so the report can still name the signer.
    ``warnings`` holds findings that are reported but do not reject (their codes
    go to the report's ``warnings``); ``notes`` are plain facts for the report's
    ``details`` (e.g. which namespace an XML signature was found in).
    """

    algorithm: str
    signer_cert: ParsedCert
    extra: list[ParsedCert] = field(default_factory=list)
    signing_time: datetime | None = None
    problems: list[SignatureCheckError] = field(default_factory=list)
    warnings: list[SignatureCheckError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def signer(self) -> x509.Certificate:
        """The signer's certificate."""
        return self.signer_cert.cert

    @property
    def extra_certs(self) -> list[x509.Certificate]:
        """Other certificates the signature carries (candidate intermediates)."""
        return [p.cert for p in self.extra]


class SignatureProfile(Protocol):
    """A way of carrying a detached signature over the header bytes."""

    @property
    def name(self) -> str:
        """The wire name (``SignatureEntry.profile``)."""
        ...

    def verify(self, value: str, header_bytes: bytes) -> ProfileResult:
        """Decode ``value`` and check it over ``header_bytes``.

        Raises ``SignatureCheckError`` when the signer cannot even be identified.
        """
        ...
