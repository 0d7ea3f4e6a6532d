"""What every signature profile returns, and the protocol it implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from cryptography import x509

from signing.errors import SignatureCheckError


@dataclass(slots=True)
class ProfileResult:
    """A decoded signature: who signed (leaf first), with what, and whether the maths holds.

    ``problems`` holds checks that failed after the signer was identified
    (e.g. the signature does not verify), so the report can still name the signer.
    """

    algorithm: str
    signer: x509.Certificate
    extra_certs: list[x509.Certificate] = field(default_factory=list)
    signing_time: datetime | None = None
    problems: list[SignatureCheckError] = field(default_factory=list)


class SignatureProfile(Protocol):
    """A way of carrying a detached signature over the header bytes."""

    name: str

    def verify(self, value: str, header_bytes: bytes) -> ProfileResult:
        """Decode ``value`` and check it over ``header_bytes``.

        Raises ``SignatureCheckError`` when the signer cannot even be identified.
        """
        ...
