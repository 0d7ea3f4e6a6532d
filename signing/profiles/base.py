"""What every signature profile returns, and the protocol it implements.

A profile owns one way of carrying a detached signature over the header bytes
(``jws``, ``cms``). It decodes the value, identifies the signer certificate and
checks the signature maths; everything about the certificate itself (policy,
path, revocation, sender binding) is the verifier's job, identical for all
profiles. Error contract:

* the value cannot be decoded or names no signer → raise
  ``SignatureCheckError`` (normally ``bad_signature``);
* the signer is known but a check fails → append to ``ProfileResult.problems``,
  so the report can still say who (claimed to have) signed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from cryptography import x509

from signing.certs import ParsedCert
from signing.errors import SignatureCheckError


@dataclass(slots=True)
class ProfileResult:
    """A decoded signature: who signed (leaf first), with what, and whether the maths holds.

    ``problems`` holds checks that failed after the signer was identified
    (e.g. the signature does not verify), so the report can still name the signer.
    """

    algorithm: str
    signer_cert: ParsedCert
    extra: list[ParsedCert] = field(default_factory=list)
    signing_time: datetime | None = None
    problems: list[SignatureCheckError] = field(default_factory=list)

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
