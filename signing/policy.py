"""Document-signing certificate policy: leaf checks and cached path validation.

cryptography's ``x509.verification`` builds and checks the path; it does not
check the leaf key size, revocation, or what the leaf is for (keyUsage,
extendedKeyUsage, not a CA), so those live here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import verification as xv
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from schemas.reasons import Reason
from signing.certs import ParsedCert, as_parsed
from signing.errors import SignatureCheckError

#: EC curves accepted for signer keys.
ALLOWED_CURVES = (ec.SECP256R1, ec.SECP384R1)
MIN_RSA_BITS = 2048
#: Deepest path accepted (leaf + intermediates + anchor).
MAX_CHAIN_DEPTH = 6
#: extendedKeyUsage purposes that allow signing documents; a leaf whose EKU
#: lists none of them is refused (``key_usage``), a leaf without EKU is fine.
#: Why each is here: docs/signing.md, "Extended key usage".
DOCUMENT_SIGNING_EKUS = frozenset(
    {
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
        ObjectIdentifier("1.3.6.1.5.5.7.3.36"),  # id-kp-documentSigning (RFC 9336)
        ObjectIdentifier("1.3.6.1.4.1.311.10.3.12"),  # Microsoft document signing
        ObjectIdentifier("1.2.840.113583.1.1.5"),  # Adobe authentic documents (PDF signing)
        ExtendedKeyUsageOID.EMAIL_PROTECTION,  # S/MIME signing certificates sign documents too
        ExtendedKeyUsageOID.CLIENT_AUTH,  # token certificates: signing and portal login
    }
)


def check_leaf_key(cert: x509.Certificate) -> list[SignatureCheckError]:
    """RSA ≥ 2048 bits or EC P-256/P-384; anything else is ``weak_key``."""
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            return [SignatureCheckError(Reason.WEAK_KEY, f"RSA key of {key.key_size} bits")]
        return []
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ALLOWED_CURVES):
            return [SignatureCheckError(Reason.WEAK_KEY, f"EC curve {key.curve.name} not allowed")]
        return []
    return [SignatureCheckError(Reason.WEAK_KEY, f"key type {type(key).__name__} not allowed")]


_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
}


def check_key_usage(cert: x509.Certificate) -> list[SignatureCheckError]:
    """Is ``cert`` a document-signing certificate? Every finding is ``key_usage``.

    Not a CA (a CA key signs certificates and CRLs; a document it signs would
    carry the authority of everything it issued), keyUsage present with
    digitalSignature and nonRepudiation (contentCommitment), and an
    extendedKeyUsage, when present, that allows document signing.
    """
    return [*_check_not_ca(cert), *_check_key_usage_bits(cert), *_check_extended_usage(cert)]


def _check_not_ca(cert: x509.Certificate) -> list[SignatureCheckError]:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return []
    if bc.ca:
        return [
            SignatureCheckError(
                Reason.KEY_USAGE, "the signer certificate is a CA certificate (cA TRUE)"
            )
        ]
    return []


def _check_extended_usage(cert: x509.Certificate) -> list[SignatureCheckError]:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return []
    if DOCUMENT_SIGNING_EKUS.isdisjoint(eku):
        names = ", ".join(_EKU_NAMES.get(o, o.dotted_string) for o in eku)
        return [
            SignatureCheckError(
                Reason.KEY_USAGE,
                f"extendedKeyUsage ({names or 'empty'}) does not allow document signing",
            )
        ]
    return []


def _check_key_usage_bits(cert: x509.Certificate) -> list[SignatureCheckError]:
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return [SignatureCheckError(Reason.KEY_USAGE, "certificate has no keyUsage extension")]
    missing = [
        name
        for name, ok in (
            ("digitalSignature", ku.digital_signature),
            ("nonRepudiation", ku.content_commitment),
        )
        if not ok
    ]
    if missing:
        return [SignatureCheckError(Reason.KEY_USAGE, f"keyUsage lacks {', '.join(missing)}")]
    return []


_LEAF_CACHE: dict[str, tuple[SignatureCheckError, ...]] = {}
_LEAF_CACHE_MAX = 4096


def leaf_problems(leaf: ParsedCert) -> tuple[SignatureCheckError, ...]:
    """Key strength and key usage of a signer certificate (time-independent, so cached)."""
    cached = _LEAF_CACHE.get(leaf.sha256)
    if cached is None:
        try:
            key = check_leaf_key(leaf.cert)
        except (ValueError, UnsupportedAlgorithm) as exc:  # e.g. an unknown curve
            key = [SignatureCheckError(Reason.WEAK_KEY, f"public key not usable: {exc}")]
        try:
            usage = check_key_usage(leaf.cert)
        except ValueError as exc:  # an extension cryptography cannot parse
            usage = [SignatureCheckError(Reason.KEY_USAGE, f"extensions unreadable: {exc}")]
        cached = (*key, *usage)
        if len(_LEAF_CACHE) >= _LEAF_CACHE_MAX:
            _LEAF_CACHE.clear()
        _LEAF_CACHE[leaf.sha256] = cached
    return cached


def check_validity(
    cert: x509.Certificate | ParsedCert, at: datetime, skew: timedelta
) -> list[SignatureCheckError]:
    """Validity at ``at`` with ``skew`` tolerance on both edges."""
    pc = as_parsed(cert)
    if at + skew < pc.not_before:
        return [
            SignatureCheckError(
                Reason.CERT_NOT_YET_VALID,
                f"{pc.info.subject} valid from {pc.not_before.isoformat()}, "
                f"validation time {at.isoformat()}",
            )
        ]
    if at - skew > pc.not_after:
        return [
            SignatureCheckError(
                Reason.CERT_EXPIRED,
                f"{pc.info.subject} expired at {pc.not_after.isoformat()}, "
                f"validation time {at.isoformat()}",
            )
        ]
    return []


@dataclass(frozen=True, slots=True)
class _CachedChain:
    chain: tuple[ParsedCert, ...]
    # The path is valid for any time inside every certificate's validity.
    valid_from: datetime
    valid_to: datetime


class ChainValidator:
    """Builds the path leaf → anchor with cryptography; caches results per fingerprint set.

    Path building is the expensive step (a few thousand per second), and its
    result depends only on the certificates, the anchors and the time; the
    cache keeps the built chain with the time window in which it holds, and a
    time outside that window builds again. A validator is made per set of
    anchors (the verifier makes a new one when the trust store's anchors
    change), so anchors never leak between caches. Revocation is checked on
    every call by the verifier, never cached here, which is why a new CRL needs
    no invalidation. Failed paths are not cached: they are rare and a later
    CRL or anchor change must not be masked.
    """

    def __init__(self, anchors: list[x509.Certificate], *, max_entries: int = 10_000) -> None:
        self._store = xv.Store(anchors)
        # Document-signing leaves carry no SAN and often no EKU: the web-PKI
        # end-entity policy would refuse them, so the leaf policy permits all and
        # our own checks (check_key_usage, check_leaf_key) run separately.
        self._ca_policy = xv.ExtensionPolicy.webpki_defaults_ca()
        self._ee_policy = xv.ExtensionPolicy.permit_all()
        self._cache: dict[tuple[str, ...], _CachedChain] = {}
        self._max = max_entries
        self.hits = 0
        self.misses = 0

    def validate(
        self,
        leaf: x509.Certificate | ParsedCert,
        intermediates: list[x509.Certificate] | list[ParsedCert],
        at: datetime,
    ) -> list[ParsedCert]:
        """The chain leaf-first ending in an anchor, or ``SignatureCheckError(untrusted_chain)``."""
        pleaf = as_parsed(leaf)
        pinter = [as_parsed(c) for c in intermediates]
        key = (pleaf.sha256, *sorted({c.sha256 for c in pinter}))
        cached = self._cache.get(key)
        if cached is not None and cached.valid_from <= at <= cached.valid_to:
            self.hits += 1
            return list(cached.chain)
        self.misses += 1
        verifier = (
            xv.PolicyBuilder()
            .store(self._store)
            .time(at)
            .max_chain_depth(MAX_CHAIN_DEPTH)
            .extension_policies(ca_policy=self._ca_policy, ee_policy=self._ee_policy)
            .build_client_verifier()
        )
        try:
            verified = verifier.verify(pleaf.cert, [c.cert for c in pinter])
        except (xv.VerificationError, ValueError, UnsupportedAlgorithm) as exc:
            raise SignatureCheckError(Reason.UNTRUSTED_CHAIN, f"path validation: {exc}") from None
        chain = tuple(as_parsed(c) for c in verified.chain)
        if len(self._cache) >= self._max:
            # Crude but bounded: a full cache is rebuilt from live traffic in seconds.
            self._cache.clear()
        self._cache[key] = _CachedChain(
            chain,
            max(c.not_before for c in chain),
            min(c.not_after for c in chain),
        )
        return list(chain)

    def clear(self) -> None:
        """Forget every cached path."""
        self._cache.clear()
