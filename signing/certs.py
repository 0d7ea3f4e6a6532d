"""Small certificate helpers: identity fields, fingerprints, PEM loading, a parse cache.

Every package from the same signer carries the same certificates, and the
verifier needs the same facts about them each time (fingerprint, identity for
the report). ``parse_der`` computes those facts once per distinct DER and keeps
them in a bounded cache, which is most of what makes verification fast.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from schemas.report import CertInfo

#: organizationIdentifier (X.520, OID 2.5.4.97): carries the bare agency code.
ORGANIZATION_IDENTIFIER = NameOID.ORGANIZATION_IDENTIFIER

#: Distinct certificates whose parsed facts are kept (a province has a few hundred signers).
PARSE_CACHE_SIZE = 4096


def organization_identifier(cert: x509.Certificate) -> str | None:
    """The subject's organizationIdentifier, or None when absent."""
    attrs = cert.subject.get_attributes_for_oid(ORGANIZATION_IDENTIFIER)
    if not attrs:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode()


def fingerprint(cert: x509.Certificate) -> str:
    """Hex SHA-256 of the certificate's DER."""
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def cert_info(cert: x509.Certificate) -> CertInfo:
    """The identity fields a report carries for a certificate."""
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        organization_identifier=organization_identifier(cert),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        sha256=fingerprint(cert),
    )


@dataclass(frozen=True, slots=True, eq=False)
class ParsedCert:
    """A certificate plus the facts the verifier asks for on every package.

    Instances come from ``parse_der`` (or ``as_parsed``) and are shared between
    packages, so they are immutable; ``info`` is a frozen pydantic model.
    """

    cert: x509.Certificate
    der: bytes
    sha256: str
    info: CertInfo
    #: DER of the issuer Name and the key identifier, for CMS SignerIdentifier matching.
    issuer_der: bytes
    key_id: bytes

    @property
    def organization_identifier(self) -> str | None:
        """The agency code in the subject, if any."""
        return self.info.organization_identifier

    @property
    def not_before(self) -> datetime:
        """Start of validity (UTC)."""
        return self.info.not_before

    @property
    def not_after(self) -> datetime:
        """End of validity (UTC)."""
        return self.info.not_after


@lru_cache(maxsize=PARSE_CACHE_SIZE)
def parse_der(der: bytes) -> ParsedCert:
    """Parse a DER certificate once; raises ``ValueError`` for bad DER.

    Identity fields are read eagerly so a certificate whose names cannot be
    rendered fails here, at decode time, rather than halfway through a report.
    """
    try:
        cert = x509.load_der_x509_certificate(der)
    except x509.InvalidVersion as exc:  # not a ValueError, unlike every other DER problem
        raise ValueError(f"unsupported certificate version: {exc}") from None
    info = CertInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        organization_identifier=organization_identifier(cert),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        sha256=hashlib.sha256(der).hexdigest(),
    )
    try:
        key_id = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        key_id = b""
    if not key_id:
        # RFC 5280 §4.2.1.2 method 1, what signers use when the extension is absent.
        try:
            key_id = x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest
        except (ValueError, TypeError, UnsupportedAlgorithm):
            key_id = b""
    return ParsedCert(cert, der, info.sha256, info, cert.issuer.public_bytes(), key_id)


def as_parsed(cert: x509.Certificate | ParsedCert) -> ParsedCert:
    """``cert`` as a ``ParsedCert`` (re-encoding costs a few µs; cached thereafter)."""
    if isinstance(cert, ParsedCert):
        return cert
    return parse_der(cert.public_bytes(Encoding.DER))


def load_pem_certificates(path: Path) -> list[x509.Certificate]:
    """All certificates in one PEM file (raises ValueError/OSError on bad input)."""
    return x509.load_pem_x509_certificates(path.read_bytes())


def expand_paths(paths: list[Path], suffixes: tuple[str, ...]) -> list[Path]:
    """Files among ``paths``; a directory contributes its files with one of ``suffixes``."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.is_file() and f.suffix in suffixes))
        else:
            out.append(p)
    return out
