"""Loading and writing private keys and certificate chains (PEM, PKCS#12)."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from signing.errors import SignerError

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def generate_key(kind: str = "ec", *, rsa_bits: int = 2048, curve: str = "P-256") -> SigningKey:
    """A fresh signing key: ``ec`` (P-256 or P-384) or ``rsa`` (``rsa_bits``)."""
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    if kind == "ec":
        return ec.generate_private_key(ec.SECP384R1() if curve == "P-384" else ec.SECP256R1())
    raise SignerError(f"unknown key type {kind!r}", hint="use 'ec' or 'rsa'")


def key_to_pem(key: SigningKey) -> bytes:
    """Unencrypted PKCS#8 PEM (demo/test PKI only; production keys live in tokens/HSMs)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def certs_to_pem(certs: list[x509.Certificate]) -> bytes:
    """Concatenated PEM certificates."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def load_private_key(path: Path, password: bytes | None = None) -> SigningKey:
    """Load an RSA or EC private key from PEM or DER."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SignerError(f"cannot read key {path}: {exc.strerror}") from None
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(data, password)
        else:
            key = serialization.load_der_private_key(data, password)
    except (ValueError, TypeError) as exc:
        raise SignerError(
            f"cannot load key {path}: {exc}", hint="give a PEM or DER private key"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise SignerError(f"key {path} is {type(key).__name__}; only RSA and EC keys sign packages")
    return key


def load_cert_chain(*paths: Path) -> list[x509.Certificate]:
    """All certificates from the given PEM files, in order (leaf first)."""
    out: list[x509.Certificate] = []
    for path in paths:
        try:
            out.extend(x509.load_pem_x509_certificates(path.read_bytes()))
        except OSError as exc:
            raise SignerError(f"cannot read certificate {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise SignerError(f"cannot load certificate {path}: {exc}", hint="give PEM") from None
    if not out:
        raise SignerError("no certificate given")
    return out


def load_pkcs12(path: Path, password: bytes | None) -> tuple[SigningKey, list[x509.Certificate]]:
    """Key and chain (leaf first) from a PKCS#12 bundle."""
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(path.read_bytes(), password)
    except (OSError, ValueError) as exc:
        raise SignerError(f"cannot load PKCS#12 {path}: {exc}") from None
    if cert is None or not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise SignerError(f"PKCS#12 {path} lacks an RSA/EC key and its certificate")
    return key, [cert, *extra]
