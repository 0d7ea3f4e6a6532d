"""Raw signatures over bytes with the hub key: ECDSA (SHA-256/384 by curve) or RSA PKCS#1 v1.5.

Used where a whole file must be protected, e.g. evidence bundles; verification
needs only the signer's certificate.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from signing.errors import SigningError
from signing.keys import SigningKey


def _hash_for(curve: ec.EllipticCurve) -> hashes.HashAlgorithm:
    return hashes.SHA384() if curve.key_size > 256 else hashes.SHA256()


def sign_blob(key: SigningKey, data: bytes) -> bytes:
    """A signature over ``data`` (DER ECDSA or PKCS#1 v1.5)."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data, ec.ECDSA(_hash_for(key.curve)))


def verify_blob(cert: x509.Certificate, signature: bytes, data: bytes) -> None:
    """Raise ``SigningError`` unless ``signature`` over ``data`` verifies with ``cert``'s key."""
    public_key = cert.public_key()
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(_hash_for(public_key.curve)))
        else:
            raise SigningError(f"unsupported key type {type(public_key).__name__}")
    except InvalidSignature:
        raise SigningError("signature does not verify with the given certificate") from None
