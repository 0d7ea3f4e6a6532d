"""The ``cms`` profile on its own, against our signer and the openssl command line."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms as acms

from schemas.reasons import Reason
from signing.errors import SignatureCheckError
from signing.keys import load_cert_chain, load_private_key
from signing.pki import DemoPKI
from signing.profiles import cms, cmsparse
from tests._ci import in_ci
from tests.signing.conftest import COSIGNER, P384, RSA_AGENCY, SENDER, header_for

PROFILE = cms.CmsProfile()
# CI installs openssl (scripts/bootstrap.sh): there a missing one fails instead of skipping.
needs_openssl = pytest.mark.skipif(
    shutil.which("openssl") is None and not in_ci(), reason="openssl not on PATH"
)


def _sign(pki: DemoPKI, code: str, data: bytes, **kw: bool) -> str:
    issued = pki.agency(code)
    return cms.sign(data, load_private_key(issued.key), load_cert_chain(issued.chain), **kw)


def _openssl_sign(pki: DemoPKI, code: str, data: bytes, tmp: Path, *args: str) -> str:
    issued = pki.agency(code)
    (tmp / "h.json").write_bytes(data)
    subprocess.run(
        ["openssl", "cms", "-sign", "-binary", "-md", "sha256", "-outform", "DER",
         "-in", str(tmp / "h.json"), "-signer", str(issued.cert), "-inkey", str(issued.key),
         "-out", str(tmp / "s.der"), *args],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return base64.b64encode((tmp / "s.der").read_bytes()).decode()


def _reasons(value: str, data: bytes) -> list[Reason]:
    try:
        result = PROFILE.verify(value, data)
    except SignatureCheckError as exc:
        return [exc.reason]
    return [p.reason for p in result.problems]


@pytest.mark.parametrize(
    ("code", "kw", "label", "has_time"),
    [
        (SENDER, {}, "ecdsa-sha256", True),
        (SENDER, {"attributes": False}, "ecdsa-sha256", False),
        (RSA_AGENCY, {}, "rsa-pkcs1v15-sha256", True),
        (RSA_AGENCY, {"pss": True}, "rsa-pss-sha256", True),
        (RSA_AGENCY, {"attributes": False}, "rsa-pkcs1v15-sha256", False),
        (P384, {}, "ecdsa-sha256", True),
    ],
)
def test_our_signatures_verify(
    spki: DemoPKI, code: str, kw: dict[str, bool], label: str, has_time: bool
) -> None:
    data = header_for(code).to_json_bytes()
    result = PROFILE.verify(_sign(spki, code, data, **kw), data)
    assert result.problems == []
    assert result.algorithm == label
    assert (result.signing_time is not None) is has_time
    assert result.signer_cert.organization_identifier == code
    assert len(result.extra) == 1  # the issuing CA rides along


@needs_openssl
@pytest.mark.parametrize("attributes", [True, False])
def test_openssl_verifies_our_signature(spki: DemoPKI, tmp_path: Path, attributes: bool) -> None:
    """The independent direction: openssl accepts what our signer makes."""
    data = header_for(RSA_AGENCY).to_json_bytes()
    (tmp_path / "h.json").write_bytes(data)
    der = base64.b64decode(_sign(spki, RSA_AGENCY, data, attributes=attributes))
    (tmp_path / "s.der").write_bytes(der)
    res = subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "s.der"),
         "-content", str(tmp_path / "h.json"), "-CAfile", str(spki.root_cert),
         "-purpose", "any", "-out", "/dev/null"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr


@needs_openssl
@pytest.mark.parametrize(
    ("args", "label"),
    [
        ((), "ecdsa-sha256"),
        (("-noattr",), "ecdsa-sha256"),
        (("-keyid",), "ecdsa-sha256"),
        (("-nosmimecap",), "ecdsa-sha256"),
    ],
)
def test_openssl_signatures_verify(
    spki: DemoPKI, tmp_path: Path, args: tuple[str, ...], label: str
) -> None:
    data = header_for().to_json_bytes()
    value = _openssl_sign(spki, SENDER, data, tmp_path, *args)
    result = PROFILE.verify(value, data)
    assert result.problems == []
    assert result.algorithm == label


def _indefinite(der: bytes) -> bytes:
    """The same ContentInfo with BER indefinite length on the outer SEQUENCE."""
    assert der[0] == 0x30 and der[1] & 0x80
    skip = 2 + (der[1] & 0x7F)
    return b"\x30\x80" + der[skip:] + b"\x00\x00"


def test_ber_input_takes_the_reference_reader(spki: DemoPKI) -> None:
    """Streaming signers write BER; the walker declines, asn1crypto reads it."""
    data = header_for().to_json_bytes()
    der = base64.b64decode(_sign(spki, SENDER, data))
    ber = _indefinite(der)
    with pytest.raises(cmsparse._NotDer):
        cmsparse._walk(ber)
    assert cmsparse.read_signed_data(ber) == cmsparse.read_signed_data(der)
    assert _reasons(base64.b64encode(ber).decode(), data) == []


def test_tampered_header(spki: DemoPKI) -> None:
    data = header_for().to_json_bytes()
    changed = data.replace(b"Giam", b"Giam") + b" "
    with_attrs = _sign(spki, SENDER, data)
    without = _sign(spki, SENDER, data, attributes=False)
    assert _reasons(with_attrs, changed) == [Reason.BAD_SIGNATURE]
    assert _reasons(without, changed) == [Reason.BAD_SIGNATURE]
    result = PROFILE.verify(with_attrs, changed)
    assert "messageDigest" in result.problems[0].message


@needs_openssl
def test_encapsulated_content_is_refused(spki: DemoPKI, tmp_path: Path) -> None:
    data = header_for().to_json_bytes()
    value = _openssl_sign(spki, SENDER, data, tmp_path, "-nodetach")
    with pytest.raises(SignatureCheckError, match="detached"):
        PROFILE.verify(value, data)


@needs_openssl
def test_two_signer_infos_are_refused(spki: DemoPKI, tmp_path: Path) -> None:
    data = header_for().to_json_bytes()
    other = spki.agency(COSIGNER)
    value = _openssl_sign(
        spki, SENDER, data, tmp_path, "-signer", str(other.cert), "-inkey", str(other.key)
    )
    with pytest.raises(SignatureCheckError, match="2 SignerInfos"):
        PROFILE.verify(value, data)


@needs_openssl
def test_signer_certificate_must_be_included(spki: DemoPKI, tmp_path: Path) -> None:
    data = header_for().to_json_bytes()
    value = _openssl_sign(spki, SENDER, data, tmp_path, "-nocerts")
    with pytest.raises(SignatureCheckError, match="no certificates"):
        PROFILE.verify(value, data)
    inter = str(spki.root / "issuing-ca.pem")
    value = _openssl_sign(spki, SENDER, data, tmp_path, "-nocerts", "-certfile", inter)
    with pytest.raises(SignatureCheckError, match="not among"):
        PROFILE.verify(value, data)


@needs_openssl
@pytest.mark.parametrize("md", ["sha1", "sha384", "sha512"])
def test_digest_policy(spki: DemoPKI, tmp_path: Path, md: str) -> None:
    data = header_for().to_json_bytes()
    value = _openssl_sign(spki, RSA_AGENCY, data, tmp_path, "-md", md)
    result = PROFILE.verify(value, data)
    assert result.algorithm == f"rsa-pkcs1v15-{md}"
    want = [Reason.WEAK_ALGORITHM] if md == "sha1" else []
    assert [p.reason for p in result.problems] == want


@pytest.mark.parametrize(
    "value",
    ["", "not base64!", base64.b64encode(b"\x30\x03\x02\x01\x01").decode(), "MA==",
     base64.b64encode(b"\x30\x80" + b"\x00" * 10).decode()],
)  # fmt: skip
def test_undecodable_values_raise(value: str) -> None:
    with pytest.raises(SignatureCheckError) as info:
        PROFILE.verify(value, b"{}")
    assert info.value.reason is Reason.BAD_SIGNATURE


def test_non_canonical_base64_is_refused(spki: DemoPKI) -> None:
    data = header_for().to_json_bytes()
    # ECDSA signatures vary in length; keep one whose base64 ends in padding.
    value = next(v for v in (_sign(spki, SENDER, data) for _ in range(30)) if v.endswith("="))
    assert _reasons(value, data) == []
    with pytest.raises(SignatureCheckError, match="unreadable"):
        PROFILE.verify(value + "\n", data)
    # Unused low bits in the last data character: same bytes, different spelling.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    body = value.rstrip("=")
    twin = body[:-1] + alphabet[alphabet.index(body[-1]) | 1] + value[len(body) :]
    assert base64.b64decode(twin) == base64.b64decode(value)
    with pytest.raises(SignatureCheckError, match="non-canonical"):
        PROFILE.verify(twin, data)


def test_not_signed_data_is_refused() -> None:
    enveloped = acms.ContentInfo({"content_type": "data", "content": b"hello"}).dump()
    with pytest.raises(SignatureCheckError, match=r"signedData|signed_data"):
        PROFILE.verify(base64.b64encode(enveloped).decode(), b"hello")


def test_every_truncation_is_refused(spki: DemoPKI) -> None:
    data = header_for().to_json_bytes()
    der = base64.b64decode(_sign(spki, SENDER, data))
    for cut in range(0, len(der), 7):
        value = base64.b64encode(der[:cut]).decode()
        assert _reasons(value, data) == [Reason.BAD_SIGNATURE], cut


def test_readers_agree_on_our_signatures(spki: DemoPKI) -> None:
    data = header_for().to_json_bytes()
    for kw in ({}, {"attributes": False}):
        der = base64.b64decode(_sign(spki, SENDER, data, **kw))
        assert cmsparse.read_signed_data(der) == cmsparse.read_signed_data(der, fast=False)
