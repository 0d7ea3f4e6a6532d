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

import binascii
import string
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


_STD = string.ascii_uppercase + string.ascii_lowercase + string.digits
_VALUE = {c: i for i, c in enumerate(_STD + "+/")}
_URL_VALUE = {c: i for i, c in enumerate(_STD + "-_")}
# base64url → standard alphabet; "+" and "/" become "!" so the strict decoder refuses them.
_URL_TO_STD = bytes.maketrans(b"-_+/", b"+/!!")


def strict_b64decode(text: str, *, urlsafe: bool) -> bytes:
    """Decode canonical base64 (padded) or base64url (unpadded); raise ``ValueError`` otherwise.

    Canonical means one spelling per value: no whitespace, the right padding,
    and zero bits in the unused low end of the last character (RFC 4648 §3.5).
    A signature value then cannot be re-spelled into a different package that
    still verifies, and the check costs a dictionary lookup, not a re-encode.
    """
    if not text.isascii():
        raise ValueError("not base64: non-ASCII characters")
    body = text
    if urlsafe:
        if "=" in text:
            raise ValueError("base64url must be unpadded")
    else:
        body = text.rstrip("=")
        if len(text) % 4 or len(text) - len(body) > 2:
            raise ValueError("base64 length or padding is wrong")
    rem = len(body) % 4
    if rem == 1:
        raise ValueError("base64 length is wrong")
    if rem:
        value = (_URL_VALUE if urlsafe else _VALUE).get(body[-1])
        if value is None or value & (0x0F if rem == 2 else 0x03):
            raise ValueError("non-canonical base64 (stray bits in the last character)")
    data = text.encode("ascii")
    if urlsafe:
        data = data.translate(_URL_TO_STD) + b"=" * ((4 - rem) % 4)
    try:
        return binascii.a2b_base64(data, strict_mode=True)
    except binascii.Error as exc:
        raise ValueError(f"not base64: {exc}") from None
