"""The ``cms`` profile: detached CMS SignedData (RFC 5652) over the header bytes.

The value is standard base64 of the DER ``ContentInfo`` that
``openssl cms -sign -binary -md sha256 -outform DER`` writes: one SignerInfo,
the signer certificate in ``certificates`` (intermediates optional), no
encapsulated content. Signed attributes are optional (``-noattr``); when
present, ``messageDigest`` must equal the digest of the header bytes and the
signature covers the DER of the attributes re-tagged as ``SET OF``.

cryptography can make CMS signatures but has no public CMS verify, so the
structure is read by ``cmsparse`` (a strict DER walker with asn1crypto as the
reference reader), the algorithm identifiers and signer identifier are decoded
with asn1crypto (cached per distinct value), and the signature is checked with
cryptography. Numbered steps match the comments in ``CmsProfile.verify``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, ClassVar

from asn1crypto import algos
from asn1crypto import cms as acms
from asn1crypto import x509 as x509n
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from schemas.reasons import Reason
from signing.certs import ParsedCert, parse_der
from signing.errors import SignatureCheckError, SignerError
from signing.profiles import cmsparse as cp
from signing.profiles.base import ProfileResult, strict_b64decode
from signing.profiles.cmsparse import SignedFields

#: Digest algorithms accepted for the signer (asn1crypto names).
ALLOWED_DIGESTS: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_ID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
#: Largest value accepted (base64 characters): a signature plus a few certificates.
MAX_VALUE_CHARS = 256 * 1024

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def sign(
    header_bytes: bytes,
    key: PrivateKey,
    chain: list[x509.Certificate],
    *,
    attributes: bool = True,
    pss: bool = False,
) -> str:
    """Detached CMS SignedData over ``header_bytes`` with SHA-256, base64 of the DER.

    ``chain`` is leaf first; the rest is included as intermediates. Without
    ``attributes`` the output matches ``openssl cms -sign -noattr``.
    """
    rsa_padding: padding.PSS | padding.PKCS1v15 | None = None
    if pss:
        if not isinstance(key, rsa.RSAPrivateKey):
            raise SignerError("RSA-PSS needs an RSA key")
        rsa_padding = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    builder = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(header_bytes)
        .add_signer(chain[0], key, hashes.SHA256(), rsa_padding=rsa_padding)
    )
    for cert in chain[1:]:
        builder = builder.add_certificate(cert)
    options = [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]
    if not attributes:
        options.append(pkcs7.PKCS7Options.NoAttributes)
    try:
        der = builder.sign(Encoding.DER, options)
    except (TypeError, ValueError) as exc:
        raise SignerError(f"cannot make the CMS signature: {exc}") from None
    return base64.b64encode(der).decode("ascii")


def _fail(message: str, reason: Reason = Reason.BAD_SIGNATURE) -> SignatureCheckError:
    return SignatureCheckError(reason, message)


@dataclass(frozen=True, slots=True)
class _Algorithm:
    """A checked (digestAlgorithm, signatureAlgorithm) pair."""

    scheme: str  # "rsassa_pkcs1v15" | "rsassa_pss" | "ecdsa"
    hash_name: str
    pss_salt: int | None = None

    @property
    def label(self) -> str:
        """The report's algorithm string, e.g. ``rsa-pkcs1v15-sha256``."""
        prefix = {"rsassa_pkcs1v15": "rsa-pkcs1v15", "rsassa_pss": "rsa-pss"}
        return f"{prefix.get(self.scheme, self.scheme)}-{self.hash_name}"


@lru_cache(maxsize=256)
def _algorithm(digest_der: bytes, sig_der: bytes) -> _Algorithm:
    """Step 3: the algorithm pair, or ``weak_algorithm``/``bad_signature`` (cached on success)."""
    digest = algos.DigestAlgorithm.load(digest_der)["algorithm"].native
    if digest not in ALLOWED_DIGESTS:
        raise _fail(f"CMS digest algorithm {digest} not allowed", Reason.WEAK_ALGORITHM)
    sig_alg = algos.SignedDigestAlgorithm.load(sig_der)
    name = sig_alg["algorithm"].native
    try:
        # Some producers name the key (id-ecPublicKey) instead of ecdsa-with-SHA*.
        scheme = "ecdsa" if name == _ID_EC_PUBLIC_KEY else sig_alg.signature_algo
    except ValueError:
        raise _fail(f"CMS signature algorithm {name} not allowed", Reason.WEAK_ALGORITHM) from None
    if scheme not in ("rsassa_pkcs1v15", "rsassa_pss", "ecdsa"):
        raise _fail(f"CMS signature algorithm {name} not allowed", Reason.WEAK_ALGORITHM)
    salt = None
    if scheme == "rsassa_pss":
        params = sig_alg["parameters"]
        mgf = params["mask_gen_algorithm"]
        if (
            mgf["algorithm"].native != "mgf1"
            or mgf["parameters"]["algorithm"].native != params["hash_algorithm"]["algorithm"].native
            or params["trailer_field"].native != "trailer_field_bc"
        ):
            raise _fail("RSA-PSS must use MGF1 with its own hash", Reason.WEAK_ALGORITHM)
        salt = params["salt_length"].native
    # rsaEncryption / id-ecPublicKey carry no hash: the digest algorithm is used.
    sig_hash = digest if name in ("rsassa_pkcs1v15", _ID_EC_PUBLIC_KEY) else sig_alg.hash_algo
    if sig_hash not in ALLOWED_DIGESTS:
        raise _fail(f"CMS signature algorithm {name} not allowed", Reason.WEAK_ALGORITHM)
    if sig_hash != digest:
        raise _fail(f"signature algorithm {name} does not match digest algorithm {digest}")
    return _Algorithm(scheme, digest, salt)


@lru_cache(maxsize=256)
def _algorithm_name(digest_der: bytes, sig_der: bytes) -> str:
    """A label for the report even when the pair is refused, e.g. ``rsa-pkcs1v15-sha1``."""
    try:
        digest = algos.DigestAlgorithm.load(digest_der)["algorithm"].native
        sig = algos.SignedDigestAlgorithm.load(sig_der)
        name = sig["algorithm"].native
        if name == _ID_EC_PUBLIC_KEY:
            return _Algorithm("ecdsa", digest).label
        hash_name = digest if name == "rsassa_pkcs1v15" else sig.hash_algo
        return _Algorithm(sig.signature_algo, hash_name).label
    except (ValueError, TypeError, KeyError):
        return "unreadable"


@lru_cache(maxsize=1024)
def _signer_id(sid_der: bytes) -> tuple[int, bytes, Any] | bytes:
    """(serial, issuer DER, issuer Name) for issuerAndSerialNumber, or the SKI bytes."""
    sid = acms.SignerIdentifier.load(sid_der)
    if sid.name == "issuer_and_serial_number":
        issuer = sid.chosen["issuer"]
        return sid.chosen["serial_number"].native, issuer.dump(), issuer
    key_id: bytes = sid.chosen.native
    return key_id


def _find_signer(fields: SignedFields) -> tuple[ParsedCert, list[ParsedCert]]:
    """Step 2: the certificate the SignerIdentifier names, and the others."""
    if not fields.certificates:
        raise _fail("CMS value carries no certificates; the signer certificate must be included")
    try:
        certs = [parse_der(der) for der in fields.certificates]
    except ValueError as exc:
        raise _fail(f"CMS certificate unreadable: {exc}") from None
    sid = _signer_id(fields.sid)
    signer: ParsedCert | None = None
    if isinstance(sid, bytes):
        signer = next((c for c in certs if c.key_id and c.key_id == sid), None)
    else:
        serial, issuer_der, issuer = sid
        for c in certs:
            # Byte equality is the normal case (signers copy the name); asn1crypto's
            # comparison applies RFC 5280 name matching to anything else.
            if c.cert.serial_number == serial and (
                c.issuer_der == issuer_der or x509n.Name.load(c.issuer_der) == issuer
            ):
                signer = c
                break
    if signer is None:
        raise _fail("the signer certificate is not among the CMS certificates")
    others = {c.sha256: c for c in certs if c.sha256 != signer.sha256}
    return signer, list(others.values())


def _one(fields: SignedFields, oid: bytes, name: str) -> bytes | None:
    values = fields.attrs.get(oid)
    if values is None:
        return None
    if len(values) != 1:
        raise _fail(f"CMS signed attribute {name} must have exactly one value")
    return values[0]


def _check_attributes(
    fields: SignedFields, algo: _Algorithm, header_bytes: bytes
) -> datetime | None:
    """Step 4: contentType and messageDigest required; signingTime returned if present."""
    content_type = _one(fields, cp.OID_CONTENT_TYPE, "contentType")
    if content_type is None or cp.primitive(content_type, 0x06) != cp.OID_DATA:
        raise _fail("CMS signed attributes lack contentType id-data")
    digest = _one(fields, cp.OID_MESSAGE_DIGEST, "messageDigest")
    if digest is None:
        raise _fail("CMS signed attributes lack messageDigest")
    if cp.primitive(digest, 0x04) != hashlib.new(algo.hash_name, header_bytes).digest():
        raise _fail(
            f"CMS messageDigest differs from the {algo.hash_name} of the header bytes "
            "(the header was changed after signing)"
        )
    when = _one(fields, cp.OID_SIGNING_TIME, "signingTime")
    if when is None:
        return None
    return cp.parse_time(when)


def _verify_maths(
    fields: SignedFields, algo: _Algorithm, signer: x509.Certificate, data: bytes
) -> None:
    """Step 5: the signature over ``data``; raises ``SignatureCheckError``."""
    digest = ALLOWED_DIGESTS[algo.hash_name]()
    try:
        key = signer.public_key()
        if algo.scheme == "ecdsa":
            if not isinstance(key, ec.EllipticCurvePublicKey):
                raise _fail("ECDSA signature but the signer key is not EC")
            key.verify(fields.signature, data, ec.ECDSA(digest))
            return
        if not isinstance(key, rsa.RSAPublicKey):
            raise _fail("RSA signature but the signer key is not RSA")
        pad: padding.AsymmetricPadding = padding.PKCS1v15()
        if algo.pss_salt is not None:
            pad = padding.PSS(mgf=padding.MGF1(digest), salt_length=algo.pss_salt)
        key.verify(fields.signature, data, pad, digest)
    except InvalidSignature:
        raise _fail("CMS signature does not verify over the header bytes") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise _fail(f"CMS signature cannot be checked: {exc}") from None


class CmsProfile:
    """Verifier for the ``cms`` profile."""

    name: ClassVar[str] = "cms"

    def verify(self, value: str, header_bytes: bytes) -> ProfileResult:
        """Decode, find the signer, then check algorithms, attributes and the signature."""
        # Step 1: base64 → SignedData with one SignerInfo, detached.
        if len(value) > MAX_VALUE_CHARS:
            raise _fail(f"CMS value longer than {MAX_VALUE_CHARS} characters")
        try:
            fields = cp.read_signed_data(strict_b64decode(value, urlsafe=False))
        except ValueError as exc:  # CmsFormatError is a ValueError
            raise _fail(f"CMS value unreadable: {exc}") from None
        # Step 2: the signer certificate, by issuerAndSerialNumber or SKI (raises:
        # without a signer there is nothing to report on).
        try:
            signer, extra = _find_signer(fields)
        except SignatureCheckError:
            raise
        # asn1crypto decodes the SignerIdentifier lazily; any failure means undecodable.
        except Exception as exc:
            raise _fail(f"CMS signer identifier unreadable: {type(exc).__name__}: {exc}") from None
        result = ProfileResult(
            algorithm=_algorithm_name(fields.digest_algorithm, fields.signature_algorithm),
            signer_cert=signer,
            extra=extra,
        )
        try:
            # Step 3: algorithm policy.
            algo = _algorithm(fields.digest_algorithm, fields.signature_algorithm)
            result.algorithm = algo.label
            # Step 4: signed attributes bind the header through messageDigest.
            data = header_bytes
            if fields.signed_attrs is not None:
                result.signing_time = _check_attributes(fields, algo, header_bytes)
                data = fields.signed_attrs
            # Step 5: the signature maths.
            _verify_maths(fields, algo, signer.cert, data)
        except SignatureCheckError as exc:
            result.problems.append(exc)
        # asn1crypto reads algorithm parameters lazily; a failure there is undecodable.
        except Exception as exc:
            result.problems.append(
                _fail(f"CMS signature parameters unreadable: {type(exc).__name__}: {exc}")
            )
        return result
