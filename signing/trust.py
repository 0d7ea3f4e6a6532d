"""Trust anchors: the root CAs a document-signing chain must end in, plus the CRLs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from signing.certs import expand_paths, fingerprint, load_pem_certificates
from signing.crl import CrlStore
from signing.crlfetch import CrlFetcher
from signing.errors import TrustStoreError


def _load_anchors(paths: list[Path]) -> list[x509.Certificate]:
    certs: list[x509.Certificate] = []
    for path in expand_paths(paths, (".pem", ".crt")):
        try:
            certs.extend(load_pem_certificates(path))
        except (OSError, ValueError) as exc:
            raise TrustStoreError(
                f"cannot load trust anchor {path}: {exc}",
                hint="give a PEM file of one or more CA certificates",
            ) from None
    return certs


@dataclass
class TrustStore:
    """Trusted roots plus the CRLs used for revocation.

    Replace anchors with ``replace_anchors`` (not by mutating the list): it
    bumps ``anchors_version``, which tells verifiers to drop cached chains.
    """

    anchors: list[x509.Certificate]
    crls: CrlStore
    anchors_version: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        self._check(self.anchors)

    @staticmethod
    def _check(anchors: list[x509.Certificate]) -> None:
        if not anchors:
            # Refuse an empty store: it would make every chain "untrusted" silently.
            raise TrustStoreError(
                "no trust anchors configured",
                hint="set EDOC_TRUST_ANCHORS or pass --trust-anchor PEM",
            )

    @classmethod
    def from_paths(
        cls,
        anchors: list[Path],
        crls: list[Path] | None = None,
        *,
        fetcher: CrlFetcher | None = None,
    ) -> TrustStore:
        """Load anchors from PEM files or directories of ``.pem``/``.crt`` files.

        ``fetcher`` enables fetching CRLs from distribution points over HTTP.
        """
        return cls(_load_anchors(anchors), CrlStore.from_paths(crls or [], fetcher=fetcher))

    def replace_anchors(self, anchors: list[x509.Certificate]) -> None:
        """Swap in a new anchor set (e.g. on reload); cached chains are invalidated."""
        self._check(anchors)
        self.anchors = list(anchors)
        self.anchors_version += 1

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
