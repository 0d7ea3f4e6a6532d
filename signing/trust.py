"""Trust anchors: the root CAs a document-signing chain must end in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from signing.certs import expand_paths, fingerprint, load_pem_certificates
from signing.crl import CrlStore
from signing.errors import TrustStoreError


@dataclass
class TrustStore:
    """Trusted roots plus the CRLs used for revocation."""

    anchors: list[x509.Certificate]
    crls: CrlStore

    def __post_init__(self) -> None:
        if not self.anchors:
            # Refuse an empty store: it would make every chain "untrusted" silently.
            raise TrustStoreError(
                "no trust anchors configured",
                hint="set EDOC_TRUST_ANCHORS or pass --trust-anchor PEM",
            )

    @classmethod
    def from_paths(cls, anchors: list[Path], crls: list[Path] | None = None) -> TrustStore:
        """Load anchors from PEM files or directories of ``.pem``/``.crt`` files."""
        certs: list[x509.Certificate] = []
        for path in expand_paths(anchors, (".pem", ".crt")):
            try:
                certs.extend(load_pem_certificates(path))
            except (OSError, ValueError) as exc:
                raise TrustStoreError(
                    f"cannot load trust anchor {path}: {exc}",
                    hint="give a PEM file of one or more CA certificates",
                ) from None
        return cls(certs, CrlStore.from_paths(crls or []))

    @property
    def fingerprints(self) -> frozenset[str]:
        """SHA-256 fingerprints of the anchors (cache key material)."""
        return frozenset(fingerprint(c) for c in self.anchors)

    def find_issuer(self, cert: x509.Certificate) -> x509.Certificate | None:
        """The anchor whose subject is ``cert``'s issuer, if any."""
        for anchor in self.anchors:
            if anchor.subject == cert.issuer:
                return anchor
        return None
