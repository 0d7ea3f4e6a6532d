"""Certificate revocation lists: loading, signature check, lookup at a validation time.

cryptography's path builder checks no revocation at all, so this module is the
hub's only source of revocation truth. A CRL is trusted only after its signature
verifies against the issuing CA's key; the newest valid CRL per issuer wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes

from signing.certs import expand_paths
from signing.errors import TrustStoreError


class RevocationStatus(StrEnum):
    """Outcome of a revocation lookup."""

    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class RevocationResult:
    """Status plus a sentence for the report."""

    status: RevocationStatus
    detail: str = ""


def load_crl(data: bytes) -> x509.CertificateRevocationList:
    """Load a CRL from PEM or DER bytes (raises ValueError)."""
    if b"-----BEGIN X509 CRL-----" in data:
        return x509.load_pem_x509_crl(data)
    return x509.load_der_x509_crl(data)


@dataclass(slots=True)
class _IssuerCrl:
    crl: x509.CertificateRevocationList
    revoked: dict[int, datetime] = field(default_factory=dict)


class CrlStore:
    """CRLs indexed by issuer name; the newest (by thisUpdate) per issuer is used.

    ``version`` increases on every change so caches keyed on it can invalidate.
    """

    def __init__(self) -> None:
        self._unverified: list[x509.CertificateRevocationList] = []
        self._by_issuer: dict[bytes, _IssuerCrl] = {}
        self.version = 0

    @classmethod
    def from_paths(cls, paths: list[Path]) -> CrlStore:
        """Load every CRL file (PEM or DER) named, directories expanded."""
        store = cls()
        for path in expand_paths(paths, (".pem", ".crl", ".der")):
            try:
                store.add(load_crl(path.read_bytes()))
            except (OSError, ValueError) as exc:
                raise TrustStoreError(
                    f"cannot load CRL {path}: {exc}", hint="give a PEM or DER X.509 CRL file"
                ) from None
        return store

    def add(self, crl: x509.CertificateRevocationList) -> None:
        """Add a CRL; its signature is checked lazily against the issuer at lookup."""
        self._unverified.append(crl)
        self.version += 1

    def _current_for(self, issuer: x509.Certificate) -> _IssuerCrl | None:
        key = issuer.subject.public_bytes()
        pending = [c for c in self._unverified if c.issuer.public_bytes() == key]
        if pending:
            self._unverified = [c for c in self._unverified if c.issuer.public_bytes() != key]
            pub: CertificateIssuerPublicKeyTypes = issuer.public_key()  # type: ignore[assignment]
            for crl in pending:
                # A CRL that its claimed issuer did not sign is ignored, not trusted.
                if not crl.is_signature_valid(pub):
                    continue
                known = self._by_issuer.get(key)
                if known is None or crl.last_update_utc > known.crl.last_update_utc:
                    revoked = {r.serial_number: r.revocation_date_utc for r in crl}
                    self._by_issuer[key] = _IssuerCrl(crl, revoked)
        return self._by_issuer.get(key)

    def has_crl_for(self, issuer: x509.Certificate) -> bool:
        """True when a signature-checked CRL of ``issuer`` is loaded."""
        return self._current_for(issuer) is not None

    def check(
        self, cert: x509.Certificate, issuer: x509.Certificate, at: datetime, now: datetime
    ) -> RevocationResult:
        """Was ``cert`` revoked at or before ``at``? ``now`` decides whether the CRL is stale."""
        entry = self._current_for(issuer)
        if entry is None:
            return RevocationResult(
                RevocationStatus.UNKNOWN,
                f"no CRL signed by {issuer.subject.rfc4514_string()} is loaded",
            )
        revoked_at = entry.revoked.get(cert.serial_number)
        if revoked_at is not None and revoked_at <= at:
            return RevocationResult(
                RevocationStatus.REVOKED,
                f"serial {cert.serial_number:x} revoked at {revoked_at.isoformat()}",
            )
        next_update = entry.crl.next_update_utc
        if next_update is not None and next_update < now:
            return RevocationResult(
                RevocationStatus.UNKNOWN,
                f"CRL of {issuer.subject.rfc4514_string()} expired at {next_update.isoformat()}",
            )
        return RevocationResult(RevocationStatus.GOOD)
