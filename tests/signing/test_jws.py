"""The ``jws`` profile on its own: decoding, algorithms, tampering."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from joserfc import jws as joserfc_jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from schemas.package import SignatureEntry, b64url_decode, b64url_encode
from schemas.reasons import Reason
from signing.errors import SignatureCheckError, SignerError
from signing.keys import load_cert_chain, load_private_key
from signing.pki import DemoPKI
from signing.profiles import jws
from signing.signer import build_package
from signing.verifier import Verifier
from tests.signing.conftest import (
    ATTACHMENT,
    P384,
    RSA_AGENCY,
    SENDER,
    header_for,
    signer_for,
)

PROFILE = jws.JwsProfile()
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _sign(pki: DemoPKI, code: str, data: bytes, alg: str | None = None) -> str:
    issued = pki.agency(code)
    return jws.sign(data, load_private_key(issued.key), load_cert_chain(issued.chain), alg=alg)


def _reasons(value: str, data: bytes) -> list[Reason]:
    try:
        result = PROFILE.verify(value, data)
    except SignatureCheckError as exc:
        return [exc.reason]
    return [p.reason for p in result.problems]


def _with_protected(value: str, edit: dict[str, object]) -> str:
    head, _, sig = value.split(".")
    protected = json.loads(b64url_decode(head))
    protected.update(edit)
    protected = {k: v for k, v in protected.items() if v is not None}
    return f"{b64url_encode(json.dumps(protected).encode())}..{sig}"


@pytest.mark.parametrize(
    ("code", "alg", "label"),
    [(SENDER, None, "ES256"), (RSA_AGENCY, None, "RS256"), (RSA_AGENCY, "PS256", "PS256"),
     (P384, None, "ES384")],
)  # fmt: skip
def test_valid_signatures(spki: DemoPKI, code: str, alg: str | None, label: str) -> None:
    data = header_for(code).to_json_bytes()
    value = _sign(spki, code, data, alg)
    assert value.split(".")[1] == "", "payload must be detached"
    result = PROFILE.verify(value, data)
    assert result.problems == []
    assert result.algorithm == label
    assert result.signer_cert.organization_identifier == code
    assert [c.info.subject for c in result.extra] == [
        "CN=edoc-hub Demo Issuing CA,O=edoc-hub demo PKI,C=VN"
    ]


def test_tampered_header_fails(spki: DemoPKI) -> None:
    data = header_for().to_json_bytes()
    value = _sign(spki, SENDER, data)
    assert _reasons(value, data.replace("thử nghiệm".encode(), b"thu nghiem")) == [
        Reason.BAD_SIGNATURE
    ]
    assert _reasons(value, data + b" ") == [Reason.BAD_SIGNATURE]


def test_signature_segment_tampering(spki: DemoPKI) -> None:
    data = header_for().to_json_bytes()
    head, _, sig = _sign(spki, SENDER, data).split(".")
    raw = bytearray(b64url_decode(sig))
    raw[5] ^= 1
    assert _reasons(f"{head}..{b64url_encode(bytes(raw))}", data) == [Reason.BAD_SIGNATURE]
    # ES256 is fixed-width r||s: a DER-encoded or shortened signature is refused.
    assert _reasons(f"{head}..{b64url_encode(bytes(raw[:-1]))}", data) == [Reason.BAD_SIGNATURE]
    # One signature, one spelling: a 64-byte signature leaves 4 unused bits in the
    # last character; setting one decodes to the same bytes but is refused.
    assert len(sig) % 4 == 2
    twin = sig[:-1] + B64URL[B64URL.index(sig[-1]) | 1]
    assert b64url_decode(twin) == b64url_decode(sig)
    assert _reasons(f"{head}..{twin}", data) == [Reason.BAD_SIGNATURE]
    assert _reasons(f"{head}..{sig}==", data) == [Reason.BAD_SIGNATURE]


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        ({"alg": "none"}, Reason.WEAK_ALGORITHM),
        ({"alg": "HS256"}, Reason.WEAK_ALGORITHM),
        ({"alg": "RS256"}, Reason.BAD_SIGNATURE),  # an EC key cannot make RS256
        ({"alg": "ES384"}, Reason.BAD_SIGNATURE),  # P-256 key, P-384 algorithm
        ({"crit": ["exp"]}, Reason.BAD_SIGNATURE),
        ({"b64": False}, Reason.BAD_SIGNATURE),
        ({"x5c": None}, Reason.BAD_SIGNATURE),
        ({"x5c": []}, Reason.BAD_SIGNATURE),
        ({"x5c": ["bm90IGEgY2VydA=="]}, Reason.BAD_SIGNATURE),
        ({"x5c": "MIIB"}, Reason.BAD_SIGNATURE),
        ({"alg": None}, Reason.BAD_SIGNATURE),
    ],
)
def test_protected_header_edits(spki: DemoPKI, edit: dict[str, object], reason: Reason) -> None:
    data = header_for().to_json_bytes()
    assert _reasons(_with_protected(_sign(spki, SENDER, data), edit), data) == [reason]


def test_swapped_x5c_names_the_claimed_signer(spki: DemoPKI) -> None:
    """Another agency's certificate in x5c: identified as that agency, maths fails."""
    data = header_for().to_json_bytes()
    other = load_cert_chain(spki.agency(RSA_AGENCY).cert)[0]
    x5c = [base64.b64encode(other.public_bytes(Encoding.DER)).decode()]
    value = _with_protected(_sign(spki, SENDER, data), {"x5c": x5c, "alg": "RS256"})
    result = PROFILE.verify(value, data)
    assert result.signer_cert.organization_identifier == RSA_AGENCY
    assert [p.reason for p in result.problems] == [Reason.BAD_SIGNATURE]


@pytest.mark.parametrize(
    "value",
    ["", "a.b", "a.b.c.d", "eyJ9..sig", "!!!..sig", "W10..c2ln", "bnVsbA..c2ln"],
)
def test_undecodable_values_raise(value: str) -> None:
    with pytest.raises(SignatureCheckError) as info:
        PROFILE.verify(value, b"{}")
    assert info.value.reason is Reason.BAD_SIGNATURE


def test_attached_payload_is_refused(spki: DemoPKI) -> None:
    data = header_for().to_json_bytes()
    head, _, sig = _sign(spki, SENDER, data).split(".")
    with pytest.raises(SignatureCheckError, match="detached"):
        PROFILE.verify(f"{head}.{b64url_encode(data)}.{sig}", data)


def test_oversized_protected_header_is_refused() -> None:
    head = b64url_encode(b'{"alg":"ES256","pad":"' + b"x" * 40_000 + b'"}')
    with pytest.raises(SignatureCheckError, match="longer than"):
        PROFILE.verify(f"{head}..c2ln", b"{}")


def test_protected_header_is_decoded_once(spki: DemoPKI) -> None:
    data = header_for().to_json_bytes()
    value = _sign(spki, SENDER, data)
    first = PROFILE.verify(value, data)
    second = PROFILE.verify(value, data)
    assert first.signer_cert is second.signer_cert


def test_signer_refuses_disallowed_algorithm(spki: DemoPKI) -> None:
    with pytest.raises(SignerError, match="not allowed"):
        _sign(spki, SENDER, b"{}", alg="HS256")


def test_signer_refuses_a_key_that_does_not_fit_the_algorithm(spki: DemoPKI) -> None:
    with pytest.raises(SignerError, match="not an RSA key"):
        _sign(spki, SENDER, b"{}", alg="RS256")
    with pytest.raises(SignerError, match="secp384r1"):
        _sign(spki, SENDER, b"{}", alg="ES384")


# Cross-checks against joserfc, an independent JOSE implementation: both directions, every
# algorithm, so a mistake this module makes on both its signing and its verifying side
# (R||S layout, PSS salt, base64url, the signing input) still fails here.
_ALGS = [(SENDER, "ES256"), (RSA_AGENCY, "RS256"), (RSA_AGENCY, "PS256"), (P384, "ES384")]


class _Registry(joserfc_jws.JWSRegistry):
    max_header_length = 32 * 1024  # joserfc's default (512) is smaller than an x5c chain


def _jwk(pki: DemoPKI, code: str) -> ECKey | RSAKey:
    key = load_private_key(pki.agency(code).key)
    return RSAKey.import_key(key) if isinstance(key, rsa.RSAPrivateKey) else ECKey.import_key(key)


@pytest.mark.parametrize(("code", "alg"), _ALGS)
def test_joserfc_verifies_what_this_module_signs(spki: DemoPKI, code: str, alg: str) -> None:
    data = header_for(code).to_json_bytes()
    head, _, sig = _sign(spki, code, data, alg).split(".")
    attached = f"{head}.{b64url_encode(data)}.{sig}"
    registry = _Registry(algorithms=[alg])
    obj = joserfc_jws.deserialize_compact(attached, _jwk(spki, code), registry=registry)
    assert obj.payload == data
    assert obj.protected["alg"] == alg
    tampered = f"{head}.{b64url_encode(data + b' ')}.{sig}"
    with pytest.raises(JoseError):
        joserfc_jws.deserialize_compact(tampered, _jwk(spki, code), registry=registry)


@pytest.mark.parametrize(("code", "alg"), _ALGS)
def test_this_module_verifies_what_joserfc_signs(spki: DemoPKI, code: str, alg: str) -> None:
    data = header_for(code).to_json_bytes()
    chain = load_cert_chain(spki.agency(code).chain)
    protected = {
        "alg": alg,
        "x5c": [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in chain],
    }
    value = joserfc_jws.serialize_compact(
        protected, data, _jwk(spki, code), registry=_Registry(algorithms=[alg])
    )
    head, _, sig = value.split(".")
    result = PROFILE.verify(f"{head}..{sig}", data)
    assert result.problems == []
    assert result.algorithm == alg
    assert _reasons(f"{head}..{sig}", data + b" ") == [Reason.BAD_SIGNATURE]


def test_x5c_certificate_of_unknown_version_is_undecodable(spki: DemoPKI) -> None:
    """cryptography raises InvalidVersion (not a ValueError): it was a profile bug, not a reason."""
    data = header_for(SENDER).to_json_bytes()
    value = _sign(spki, SENDER, data)
    der = base64.b64decode(json.loads(b64url_decode(value.split(".")[0]))["x5c"][0])
    v3 = bytes.fromhex("a003020102")  # [0] EXPLICIT INTEGER 2: the version field of v3
    assert v3 in der
    bad = base64.b64encode(der.replace(v3, bytes.fromhex("a003020105"), 1)).decode()
    with pytest.raises(SignatureCheckError, match="x5c certificate unreadable") as info:
        PROFILE.verify(_with_protected(value, {"x5c": [bad]}), data)
    assert info.value.reason is Reason.BAD_SIGNATURE


P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def test_ecdsa_high_s_twin_verifies(spki: DemoPKI, sverifier: Verifier) -> None:
    """ECDSA is malleable: (r, n - s) verifies like (r, s). Refusing high S would refuse about
    half of what openssl and most signers make, so the twin is accepted; it is a different
    package (package_sha256) carrying the same signed header (header_sha256, message_id),
    which the router refuses as a duplicate by message_id (docs/signing.md, "Malleability").
    """
    raw = build_package(header_for(SENDER), {"a1": ATTACHMENT}, [signer_for(spki, SENDER)])
    head, _, sig = raw.signatures[0].value.split(".")
    rs = b64url_decode(sig)
    r, s = rs[:32], int.from_bytes(rs[32:], "big")
    twin_value = f"{head}..{b64url_encode(r + (P256_ORDER - s).to_bytes(32, 'big'))}"
    assert twin_value != raw.signatures[0].value
    twin = raw.model_copy(update={"signatures": [SignatureEntry(profile="jws", value=twin_value)]})
    original, copy = sverifier.verify_bytes(raw.to_bytes()), sverifier.verify_bytes(twin.to_bytes())
    assert original.ok and copy.ok, copy.to_json()
    assert copy.package_sha256 != original.package_sha256
    assert (copy.header_sha256, copy.message_id) == (original.header_sha256, original.message_id)
