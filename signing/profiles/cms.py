"""The ``cms`` profile: detached CMS SignedData (RFC 5652) over the header bytes.

The value is standard base64 of the DER ``ContentInfo`` that
``openssl cms -sign -binary -md sha256 -outform DER`` writes: one SignerInfo,
the signer certificate in ``certificates`` (intermediates optional), no
encapsulated content. Signed attributes are optional (``-noattr``); when
present, ``messageDigest`` must equal the digest of the header bytes and the
signature covers the DER of the attributes re-tagged as ``SET OF``.

cryptography can make CMS signatures but has no public CMS verify, so the
structure is read with asn1crypto and the signature checked with cryptography.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from asn1crypto import cms as acms
from asn1crypto import core
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from schemas.reasons import Reason
from signing.certs import ParsedCert, parse_der
from signing.errors import SignatureCheckError, SignerError
from signing.profiles.base import ProfileResult

#: Digest algorithms accepted for the signer (asn1crypto names).
ALLOWED_DIGESTS: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_ID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
#: Signed attributes the profile reads; any others are carried but not interpreted.
_CHECKED_ATTRS = ("content_type", "message_digest", "signing_time")
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


@dataclass(slots=True)
class _SignerInfo:
    """Everything the checks need, copied out of asn1crypto's lazy objects."""

    signer: ParsedCert
    extra: list[ParsedCert]
    digest: str
    sig_alg: Any  # asn1crypto SignedDigestAlgorithm; its parameters are read in steps 3 and 5
    signature: bytes
    signed_attrs: bytes | None = None
    attrs: dict[str, list[Any]] = field(default_factory=dict)


def _decode(value: str) -> _SignerInfo:
    """Steps 1 and 2: base64 → SignedData with one SignerInfo, detached; its signer."""
    if len(value) > MAX_VALUE_CHARS:
        raise _fail(f"CMS value longer than {MAX_VALUE_CHARS} characters")
    try:
        der = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _fail(f"CMS value is not base64: {exc}") from None
    try:
        return _read(der)
    except SignatureCheckError:
        raise
    # asn1crypto parses lazily and reports malformed DER with whichever built-in
    # exception the failing accessor raises; all of them mean "undecodable".
    except Exception as exc:
        raise _fail(f"CMS structure unreadable: {type(exc).__name__}: {exc}") from None


def _read(der: bytes) -> _SignerInfo:
    info = acms.ContentInfo.load(der, strict=True)
    if info["content_type"].native != "signed_data":
        raise _fail(f"CMS content type is {info['content_type'].native}, expected signed_data")
    sd = info["content"]
    encap = sd["encap_content_info"]
    if encap["content_type"].native != "data":
        raise _fail(f"CMS eContentType is {encap['content_type'].native}, expected data")
    if not isinstance(encap["content"], core.Void):
        raise _fail("CMS signature must be detached (it encapsulates content)")
    signer_infos = sd["signer_infos"]
    if len(signer_infos) != 1:
        raise _fail(
            f"CMS value has {len(signer_infos)} SignerInfos; put each signer in its own "
            "signature entry"
        )
    si = signer_infos[0]
    signer, extra = _find_signer(si["sid"], sd["certificates"])
    out = _SignerInfo(
        signer=signer,
        extra=extra,
        digest=si["digest_algorithm"]["algorithm"].native,
        sig_alg=si["signature_algorithm"],
        signature=si["signature"].native,
    )
    attrs = si["signed_attrs"]
    if not isinstance(attrs, core.Void):
        raw = attrs.dump()
        # The signature covers the attributes with their universal SET OF tag,
        # not the [0] IMPLICIT tag they travel under (RFC 5652 §5.4).
        if raw[:1] != b"\xa0":
            raise _fail("CMS signed attributes are not tagged [0]")
        out.signed_attrs = b"\x31" + raw[1:]
        for attr in attrs:
            name = attr["type"].native
            if name in out.attrs:
                raise _fail(f"CMS signed attribute {name} appears twice")
            # Only the attributes we check are decoded; others stay opaque.
            out.attrs[name] = list(attr["values"].native) if name in _CHECKED_ATTRS else []
    return out


def _find_signer(sid: Any, cert_set: Any) -> tuple[ParsedCert, list[ParsedCert]]:
    """Step 2: the certificate the SignerIdentifier names, and the others."""
    if isinstance(cert_set, core.Void):
        raise _fail("CMS value carries no certificates; the signer certificate must be included")
    objs = [c.chosen for c in cert_set if c.name == "certificate"]
    try:
        certs = [parse_der(c.dump()) for c in objs]
    except ValueError as exc:
        raise _fail(f"CMS certificate unreadable: {exc}") from None
    for obj, parsed in zip(objs, certs, strict=True):
        if sid.name == "issuer_and_serial_number":
            hit = (
                obj.serial_number == sid.chosen["serial_number"].native
                and obj.issuer == sid.chosen["issuer"]
            )
        else:
            # SKI extension when present, else RFC 5280 method 1 (SHA-1 of the key).
            hit = (obj.key_identifier or obj.public_key.sha1) == sid.chosen.native
        if hit:
            others = {c.sha256: c for c in certs if c.sha256 != parsed.sha256}
            return parsed, list(others.values())
    raise _fail("the signer certificate is not among the CMS certificates")


def _scheme(si: _SignerInfo) -> tuple[str, str]:
    """Step 3: (signature scheme, hash name) or ``weak_algorithm``/``bad_signature``."""
    if si.digest not in ALLOWED_DIGESTS:
        raise _fail(f"CMS digest algorithm {si.digest} not allowed", Reason.WEAK_ALGORITHM)
    name = si.sig_alg["algorithm"].native
    try:
        # Some producers name the key (id-ecPublicKey) instead of ecdsa-with-SHA*.
        scheme = "ecdsa" if name == _ID_EC_PUBLIC_KEY else si.sig_alg.signature_algo
    except ValueError:
        raise _fail(f"CMS signature algorithm {name} not allowed", Reason.WEAK_ALGORITHM) from None
    if scheme not in ("rsassa_pkcs1v15", "rsassa_pss", "ecdsa"):
        raise _fail(f"CMS signature algorithm {name} not allowed", Reason.WEAK_ALGORITHM)
    if scheme == "rsassa_pss":
        params = si.sig_alg["parameters"]
        mgf = params["mask_gen_algorithm"]
        mgf_hash = mgf["parameters"]["algorithm"].native
        if mgf["algorithm"].native != "mgf1" or mgf_hash != params["hash_algorithm"][
            "algorithm"
        ].native:
            raise _fail("RSA-PSS must use MGF1 with its own hash", Reason.WEAK_ALGORITHM)
    # rsaEncryption / id-ecPublicKey carry no hash: the digest algorithm is used.
    sig_hash = si.digest if name in ("rsassa_pkcs1v15", _ID_EC_PUBLIC_KEY) else si.sig_alg.hash_algo
    if sig_hash not in ALLOWED_DIGESTS:
        raise _fail(f"CMS signature algorithm {name} not allowed", Reason.WEAK_ALGORITHM)
    if sig_hash != si.digest:
        raise _fail(f"signature algorithm {name} does not match digest algorithm {si.digest}")
    return scheme, sig_hash


def _label(scheme: str, hash_name: str) -> str:
    prefix = {"rsassa_pkcs1v15": "rsa-pkcs1v15", "rsassa_pss": "rsa-pss", "ecdsa": "ecdsa"}
    return f"{prefix.get(scheme, scheme)}-{hash_name}"


def _verify_maths(si: _SignerInfo, signer: x509.Certificate, scheme: str, data: bytes) -> None:
    """Step 5: the signature over ``data``; raises ``SignatureCheckError``."""
    digest = ALLOWED_DIGESTS[si.digest]()
    key = signer.public_key()
    try:
        if scheme == "ecdsa":
            if not isinstance(key, ec.EllipticCurvePublicKey):
                raise _fail("ECDSA signature but the signer key is not EC")
            key.verify(si.signature, data, ec.ECDSA(digest))
            return
        if not isinstance(key, rsa.RSAPublicKey):
            raise _fail("RSA signature but the signer key is not RSA")
        pad: padding.AsymmetricPadding = padding.PKCS1v15()
        if scheme == "rsassa_pss":
            salt = si.sig_alg["parameters"]["salt_length"].native
            pad = padding.PSS(mgf=padding.MGF1(digest), salt_length=salt)
        key.verify(si.signature, data, pad, digest)
    except InvalidSignature:
        raise _fail("CMS signature does not verify over the header bytes") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise _fail(f"CMS signature cannot be checked: {exc}") from None


def _check_attributes(si: _SignerInfo, header_bytes: bytes) -> datetime | None:
    """Step 4: contentType and messageDigest required; signingTime returned if present."""
    for name in ("content_type", "message_digest", "signing_time"):
        if len(si.attrs.get(name, [None])) != 1:
            raise _fail(f"CMS signed attribute {name} must have exactly one value")
    if si.attrs.get("content_type") != ["data"]:
        raise _fail("CMS signed attributes lack contentType id-data")
    if "message_digest" not in si.attrs:
        raise _fail("CMS signed attributes lack messageDigest")
    expected = hashlib.new(si.digest, header_bytes).digest()
    if si.attrs["message_digest"][0] != expected:
        raise _fail(
            f"CMS messageDigest differs from the {si.digest} of the header bytes "
            "(the header was changed after signing)"
        )
    when = si.attrs.get("signing_time", [None])[0]
    return when if isinstance(when, datetime) else None


class CmsProfile:
    """Verifier for the ``cms`` profile."""

    name: ClassVar[str] = "cms"

    def verify(self, value: str, header_bytes: bytes) -> ProfileResult:
        """Decode, find the signer, then check algorithms, attributes and the signature."""
        # Steps 1-2: decode and find the signer certificate by issuerAndSerialNumber
        # or SKI (raises: without a signer there is nothing to report on).
        si = _decode(value)
        result = ProfileResult(algorithm=si.digest, signer_cert=si.signer, extra=si.extra)
        try:
            # Step 3: algorithm policy.
            scheme, hash_name = _scheme(si)
            result.algorithm = _label(scheme, hash_name)
            # Step 4: signed attributes bind the header through messageDigest.
            if si.signed_attrs is not None:
                result.signing_time = _check_attributes(si, header_bytes)
                data = si.signed_attrs
            else:
                data = header_bytes
            # Step 5: the signature maths.
            _verify_maths(si, si.signer.cert, scheme, data)
        except SignatureCheckError as exc:
            result.problems.append(exc)
        # asn1crypto can still fail lazily on parameters read in steps 3 and 5.
        except Exception as exc:
            result.problems.append(
                _fail(f"CMS signature parameters unreadable: {type(exc).__name__}: {exc}")
            )
        return result
