"""Small certificate helpers: identity fields, fingerprints, PEM loading."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from schemas.report import CertInfo

#: organizationIdentifier (X.520, OID 2.5.4.97): carries the bare agency code.
ORGANIZATION_IDENTIFIER = NameOID.ORGANIZATION_IDENTIFIER


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
