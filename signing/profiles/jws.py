"""The ``jws`` profile: RFC 7515 compact serialisation, detached payload, ``x5c`` chain.

Signing input is ``BASE64URL(protected) || "." || BASE64URL(header bytes)``;
the transmitted value is ``PROTECTED..SIGNATURE`` (RFC 7515 Appendix F).

Signing and verification both call cryptography directly (the hub signs a
receipt for every inbox copy, and a JOSE library's per-call key import cost
more than the signature itself). The tests cross-check both directions
against joserfc, an independent implementation, so an encoding mistake made
on both sides here cannot pass unnoticed. Every signer sends the same
protected header (``alg`` + ``x5c``) with every package: it is built once per
signer, and its decoding is cached by the exact segment text.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding

from schemas.package import b64url_decode, b64url_encode
from schemas.reasons import Reason
from signing.certs import ParsedCert, parse_der
from signing.errors import SignatureCheckError, SignerError
from signing.profiles.base import ProfileResult, strict_b64decode

#: Algorithms accepted on input. ES384 goes with the P-384 keys the policy allows.
ALLOWED_ALGS = ("ES256", "ES384", "PS256", "RS256")
_CURVE_FOR = {"ES256": "secp256r1", "ES384": "secp384r1"}
_HASH_FOR: dict[str, type[hashes.HashAlgorithm]] = {
    "ES256": hashes.SHA256,
    "ES384": hashes.SHA384,
    "PS256": hashes.SHA256,
    "RS256": hashes.SHA256,
}
#: Header parameters we refuse: ``crit`` names extensions we do not implement
#: (RFC 7515 §4.1.11 says reject), and ``b64: false`` (RFC 7797) would change
#: the signing input away from the wire format.
_REFUSED_PARAMS = ("crit", "b64")
_MAX_PROTECTED = 32 * 1024


PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def default_alg(key: PrivateKey) -> str:
    """RS256 for RSA; ES256 / ES384 for P-256 / P-384."""
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key.curve, ec.SECP384R1):
        return "ES384"
    return "ES256"


def sign(
    header_bytes: bytes, key: PrivateKey, chain: list[x509.Certificate], alg: str | None = None
) -> str:
    """Detached compact JWS over ``header_bytes``; ``chain`` (leaf first) goes into ``x5c``."""
    alg = alg or default_alg(key)
    if alg not in ALLOWED_ALGS:
        raise SignerError(f"JWS algorithm {alg} is not allowed", hint=f"use {ALLOWED_ALGS}")
    head = _protected_segment(alg, tuple(chain))
    signing_input = f"{head}.{b64url_encode(header_bytes)}".encode("ascii")
    try:
        signature = _raw_signature(key, alg, signing_input)
    except ValueError as exc:  # e.g. PSS with a key too small for its salt
        raise SignerError(f"cannot sign with {alg}: {exc}") from None
    return f"{head}..{b64url_encode(signature)}"


@lru_cache(maxsize=64)
def _protected_segment(alg: str, chain: tuple[x509.Certificate, ...]) -> str:
    """``BASE64URL(protected)``: the same for every signature of one signer, so built once."""
    protected = {
        "alg": alg,
        "x5c": [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in chain],
    }
    return b64url_encode(json.dumps(protected, separators=(",", ":")).encode())


def _raw_signature(key: PrivateKey, alg: str, data: bytes) -> bytes:
    """The JWS signature bytes (RFC 7518 §3): ECDSA as fixed-size ``R || S``, RSA as is."""
    digest = _HASH_FOR[alg]()
    if alg.startswith("ES"):
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != _CURVE_FOR[alg]:
            raise SignerError(f"cannot sign with {alg}: the key is not on {_CURVE_FOR[alg]}")
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(digest)))
        size = (key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SignerError(f"cannot sign with {alg}: the key is not an RSA key")
    pad: padding.AsymmetricPadding = (
        padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        if alg == "PS256"
        else padding.PKCS1v15()
    )
    return key.sign(data, pad, digest)


def _fail(message: str, reason: Reason = Reason.BAD_SIGNATURE) -> SignatureCheckError:
    return SignatureCheckError(reason, message)


@dataclass(frozen=True, slots=True)
class _Protected:
    """A decoded protected header: algorithm and the x5c certificates (leaf first)."""

    alg: str
    certs: tuple[ParsedCert, ...]
    prefix: bytes  # ``BASE64URL(protected) || "."``, the start of every signing input


@lru_cache(maxsize=512)
def _decode_protected(head_b64: str) -> _Protected:
    """Decode the protected segment; raises ``SignatureCheckError`` (cached only on success)."""
    if len(head_b64) > _MAX_PROTECTED:
        raise _fail(f"JWS protected header longer than {_MAX_PROTECTED} characters")
    try:
        protected: Any = json.loads(b64url_decode(head_b64))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise _fail(f"JWS protected header unreadable: {exc}") from None
    if not isinstance(protected, dict):
        raise _fail("JWS protected header is not a JSON object")
    alg = protected.get("alg")
    if not isinstance(alg, str):
        raise _fail("JWS protected header has no 'alg'")
    refused = [p for p in _REFUSED_PARAMS if p in protected]
    if refused:
        raise _fail(f"JWS header parameter(s) {', '.join(refused)} not supported")
    x5c = protected.get("x5c")
    if not isinstance(x5c, list) or not x5c or not all(isinstance(c, str) for c in x5c):
        raise _fail("JWS protected header has no 'x5c' certificate chain")
    try:
        certs = tuple(parse_der(strict_b64decode(c, urlsafe=False)) for c in x5c)
    except ValueError as exc:
        raise _fail(f"x5c certificate unreadable: {exc}") from None
    return _Protected(alg, certs, head_b64.encode("ascii") + b".")


def _check(alg: str, key: object, signing_input: bytes, sig: bytes) -> str | None:
    """Verify ``sig``; return None when it holds, else why not."""
    digest = _HASH_FOR[alg]()
    if alg.startswith("ES"):
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != _CURVE_FOR[alg]:
            return f"{alg} needs a {_CURVE_FOR[alg]} key"
        half = (key.curve.key_size + 7) // 8
        # JWS carries ECDSA as fixed-width r || s (RFC 7518 §3.4), not DER.
        if len(sig) != 2 * half:
            return f"{alg} signature must be {2 * half} bytes, found {len(sig)}"
        der = encode_dss_signature(
            int.from_bytes(sig[:half], "big"), int.from_bytes(sig[half:], "big")
        )
        key.verify(der, signing_input, ec.ECDSA(digest))
        return None
    if not isinstance(key, rsa.RSAPublicKey):
        return f"{alg} needs an RSA key"
    pad: padding.AsymmetricPadding = (
        # RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash output.
        padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        if alg.startswith("PS")
        else padding.PKCS1v15()
    )
    key.verify(sig, signing_input, pad, digest)
    return None


class JwsProfile:
    """Verifier for the ``jws`` profile."""

    name: ClassVar[str] = "jws"

    def verify(self, value: str, header_bytes: bytes) -> ProfileResult:
        """Step 1 decode, step 2 identify the signer from x5c, step 3 check the signature."""
        # Step 1: three segments, the middle one empty (detached payload).
        parts = value.split(".")
        if len(parts) != 3:
            raise _fail(f"compact JWS must have 3 segments, found {len(parts)}")
        head_b64, payload_b64, sig_b64 = parts
        if payload_b64:
            raise _fail("JWS payload must be detached (empty middle segment)")
        # Step 2: algorithm and certificates (cached per distinct protected header).
        protected = _decode_protected(head_b64)
        result = ProfileResult(
            algorithm=protected.alg,
            signer_cert=protected.certs[0],
            extra=list(protected.certs[1:]),
        )
        # Step 3: algorithm policy, then the signature itself.
        if protected.alg not in ALLOWED_ALGS:
            result.problems.append(
                _fail(f"JWS alg {protected.alg!r} not allowed", Reason.WEAK_ALGORITHM)
            )
            return result
        try:
            sig = strict_b64decode(sig_b64, urlsafe=True)
        except (ValueError, binascii.Error) as exc:
            result.problems.append(_fail(f"JWS signature segment unreadable: {exc}"))
            return result
        signing_input = protected.prefix + base64.urlsafe_b64encode(header_bytes).rstrip(b"=")
        try:
            why = _check(protected.alg, result.signer.public_key(), signing_input, sig)
        except InvalidSignature:
            why = "JWS signature does not verify over the header bytes"
        except (ValueError, UnsupportedAlgorithm) as exc:  # a key the backend cannot use
            why = f"JWS signature cannot be checked: {exc}"
        if why is not None:
            result.problems.append(_fail(why))
        return result
