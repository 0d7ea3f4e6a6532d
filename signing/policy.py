"""Document-signing certificate policy: leaf checks and cached path validation.

cryptography's ``x509.verification`` builds and checks the path; it does not
check the leaf key size, revocation, or our keyUsage rule, so those live here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import verification as xv

from schemas.reasons import Reason
from signing.certs import fingerprint
from signing.errors import SignatureCheckError

#: EC curves accepted for signer keys.
ALLOWED_CURVES = (ec.SECP256R1, ec.SECP384R1)
MIN_RSA_BITS = 2048


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


def check_key_usage(cert: x509.Certificate) -> list[SignatureCheckError]:
    """keyUsage must be present with digitalSignature and nonRepudiation (contentCommitment)."""
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


def check_validity(
    cert: x509.Certificate, at: datetime, skew: timedelta
) -> list[SignatureCheckError]:
    """Validity at ``at`` with ``skew`` tolerance on both edges."""
    name = cert.subject.rfc4514_string()
    if at + skew < cert.not_valid_before_utc:
        return [
            SignatureCheckError(
                Reason.CERT_NOT_YET_VALID,
                f"{name} valid from {cert.not_valid_before_utc.isoformat()}, "
                f"validation time {at.isoformat()}",
            )
        ]
    if at - skew > cert.not_valid_after_utc:
        return [
            SignatureCheckError(
                Reason.CERT_EXPIRED,
                f"{name} expired at {cert.not_valid_after_utc.isoformat()}, "
                f"validation time {at.isoformat()}",
            )
        ]
    return []


@dataclass(frozen=True, slots=True)
class _CachedChain:
    chain: tuple[x509.Certificate, ...]
    # The path is valid for any time inside every certificate's validity.
    valid_from: datetime
    valid_to: datetime


class ChainValidator:
    """Builds the path leaf → anchor with cryptography; caches results per fingerprint set.

    Path building is the expensive step (a few thousand per second), and its
    result depends only on the certificates, the anchors and the time; the
    cache keeps the built chain with the time window in which it holds. A new
    validator is made whenever the anchors change, which empties the cache.
    Revocation is checked on every call by the verifier, never cached here.
    """

    def __init__(self, anchors: list[x509.Certificate], *, max_entries: int = 10_000) -> None:
        self._store = xv.Store(anchors)
        # Document-signing leaves carry no SAN and no clientAuth EKU: the web-PKI
        # end-entity policy would refuse them, so the leaf policy permits all and
        # our own checks (key usage, key size) run separately.
        self._ca_policy = xv.ExtensionPolicy.webpki_defaults_ca()
        self._ee_policy = xv.ExtensionPolicy.permit_all()
        self._cache: dict[tuple[str, ...], _CachedChain] = {}
        self._max = max_entries
        self.hits = 0
        self.misses = 0

    def validate(
        self, leaf: x509.Certificate, intermediates: list[x509.Certificate], at: datetime
    ) -> list[x509.Certificate]:
        """The chain leaf-first ending in an anchor, or ``SignatureCheckError(untrusted_chain)``."""
        key = (fingerprint(leaf), *sorted(fingerprint(c) for c in intermediates))
        cached = self._cache.get(key)
        if cached is not None and cached.valid_from <= at <= cached.valid_to:
            self.hits += 1
            return list(cached.chain)
        self.misses += 1
        verifier = (
            xv.PolicyBuilder()
            .store(self._store)
            .time(at)
            .max_chain_depth(6)
            .extension_policies(ca_policy=self._ca_policy, ee_policy=self._ee_policy)
            .build_client_verifier()
        )
        try:
            verified = verifier.verify(leaf, intermediates)
        except xv.VerificationError as exc:
            raise SignatureCheckError(Reason.UNTRUSTED_CHAIN, f"path validation: {exc}") from None
        chain = tuple(verified.chain)
        if len(self._cache) >= self._max:
            self._cache.clear()
        self._cache[key] = _CachedChain(
            chain,
            max(c.not_valid_before_utc for c in chain),
            min(c.not_valid_after_utc for c in chain),
        )
        return list(chain)
