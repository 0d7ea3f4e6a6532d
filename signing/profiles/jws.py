"""The ``jws`` profile: RFC 7515 compact serialisation, detached payload, ``x5c`` chain.

Signing input is ``BASE64URL(protected) || "." || BASE64URL(header bytes)``;
the transmitted value is ``PROTECTED..SIGNATURE`` (RFC 7515 Appendix F).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, ClassVar

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from schemas.package import b64url_decode
from schemas.reasons import Reason
from signing.errors import SignatureCheckError, SignerError
from signing.profiles.base import ProfileResult

#: Algorithms accepted on input, with the key each requires.
ALLOWED_ALGS = ("ES256", "ES384", "PS256", "RS256")
_CURVE_FOR = {"ES256": "secp256r1", "ES384": "secp384r1"}


class _Registry(jws.JWSRegistry):
    # joserfc caps the protected header at 512 bytes; an x5c chain is several KiB.
    max_header_length = 64 * 1024
    max_payload_length = 16 * 1024 * 1024
    max_signature_length = 2048


_REGISTRY = _Registry(algorithms=list(ALLOWED_ALGS))

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
    protected = {
        "alg": alg,
        "x5c": [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in chain],
    }
    jwk = RSAKey.import_key(key) if isinstance(key, rsa.RSAPrivateKey) else ECKey.import_key(key)
    try:
        value = jws.serialize_compact(protected, header_bytes, jwk, registry=_REGISTRY)
    except (JoseError, ValueError) as exc:
        raise SignerError(f"cannot sign with {alg}: {exc}") from None
    head, _, sig = value.split(".")
    return f"{head}..{sig}"


def _fail(message: str, reason: Reason = Reason.BAD_SIGNATURE) -> SignatureCheckError:
    return SignatureCheckError(reason, message)


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
        try:
            protected: Any = json.loads(b64url_decode(head_b64))
        except (ValueError, UnicodeDecodeError) as exc:
            raise _fail(f"JWS protected header unreadable: {exc}") from None
        if not isinstance(protected, dict):
            raise _fail("JWS protected header is not a JSON object")
        alg = protected.get("alg")
        if not isinstance(alg, str):
            raise _fail("JWS protected header has no 'alg'")
        # Step 2: the signer certificate and any intermediates from x5c.
        x5c = protected.get("x5c")
        if not isinstance(x5c, list) or not x5c or not all(isinstance(c, str) for c in x5c):
            raise _fail("JWS protected header has no 'x5c' certificate chain")
        try:
            certs = [x509.load_der_x509_certificate(base64.b64decode(c, validate=True)) for c in x5c]
        except (ValueError, binascii.Error) as exc:
            raise _fail(f"x5c certificate unreadable: {exc}") from None
        result = ProfileResult(algorithm=alg, signer=certs[0], extra_certs=certs[1:])
        # Step 3: algorithm policy, then the signature itself.
        if alg not in ALLOWED_ALGS:
            result.problems.append(_fail(f"JWS alg {alg!r} not allowed", Reason.WEAK_ALGORITHM))
            return result
        key = certs[0].public_key()
        try:
            if alg.startswith("ES"):
                if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != _CURVE_FOR[alg]:
                    result.problems.append(_fail(f"{alg} needs a {_CURVE_FOR[alg]} key"))
                    return result
                jwk: ECKey | RSAKey = ECKey.import_key(key)
            else:
                if not isinstance(key, rsa.RSAPublicKey):
                    result.problems.append(_fail(f"{alg} needs an RSA key"))
                    return result
                jwk = RSAKey.import_key(key)
            jws.deserialize_compact(
                value, jwk, algorithms=[alg], registry=_REGISTRY, payload=header_bytes
            )
        except JoseError as exc:
            result.problems.append(_fail(f"JWS signature does not verify: {exc.description or exc}"))
        except (ValueError, TypeError) as exc:
            result.problems.append(_fail(f"JWS signature unreadable: {exc}"))
        return result
