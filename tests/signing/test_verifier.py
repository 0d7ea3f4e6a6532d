"""The verifier end to end (both profiles): every reason code, the combination rule, reports."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas.header import utc_now
from schemas.reasons import Reason
from signing.certs import parse_der
from signing.pki import DemoPKI
from signing.profiles.base import ProfileResult
from signing.signer import build_package
from signing.verifier import PROFILE_BUG, Verifier
from tests.signing.conftest import (
    ATTACHMENT,
    BAD_KU,
    CA_SIGNER,
    COSIGNER,
    EMAIL_CLIENT,
    EXPIRED,
    FUTURE,
    P384,
    REVOKED,
    RSA_AGENCY,
    SENDER,
    SERVER_AUTH,
    WEAK_RSA,
    MakePackage,
    Pkis,
    header_for,
    scratch_pki,
    signer_for,
    trust_for,
)

PROFILES = ["jws", "cms"]


def _edit(raw: bytes, fn: object) -> bytes:
    pkg = json.loads(raw)
    fn(pkg)  # type: ignore[operator]
    return json.dumps(pkg).encode()


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("code", [SENDER, RSA_AGENCY, P384, EMAIL_CLIENT])
def test_valid_package_report(
    make_package: MakePackage, sverifier: Verifier, spki: DemoPKI, profile: str, code: str
) -> None:
    report = sverifier.verify_bytes(make_package(sender=code, profile=profile))
    assert report.verdict == "ok", report.to_json()
    assert report.reasons == []
    (sig,) = report.signatures
    assert sig.valid and sig.profile == profile
    assert sig.signer is not None
    assert sig.signer.organization_identifier == code
    assert sig.signer.issuer == "CN=edoc-hub Demo Issuing CA,O=edoc-hub demo PKI,C=VN"
    assert sig.signer.serial and sig.algorithm
    root = parse_der(base64.b64decode("".join(spki.root_cert.read_text().splitlines()[1:-1])))
    assert len(sig.chain) == 3 and sig.chain[0] == sig.signer.sha256
    assert sig.chain[-1] == root.sha256
    assert (sig.signing_time is not None) is (profile == "cms")
    assert report.attachments[0].valid
    assert report.validation_time == report.sent_at


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (EXPIRED, Reason.CERT_EXPIRED),
        (FUTURE, Reason.CERT_NOT_YET_VALID),
        (WEAK_RSA, Reason.WEAK_KEY),
        (BAD_KU, Reason.KEY_USAGE),
        (REVOKED, Reason.CERT_REVOKED),
        (CA_SIGNER, Reason.KEY_USAGE),
        (SERVER_AUTH, Reason.KEY_USAGE),
    ],
)
def test_certificate_defects(
    make_package: MakePackage, sverifier: Verifier, profile: str, code: str, reason: Reason
) -> None:
    report = sverifier.verify_bytes(make_package(sender=code, profile=profile))
    assert report.reasons == [reason], report.to_json()
    assert report.signatures[0].signer is not None  # the report still names the signer


@pytest.mark.parametrize("profile", PROFILES)
def test_untrusted_root(make_package: MakePackage, pkis: Pkis, profile: str) -> None:
    raw = make_package(profile=profile, pki=pkis.other)
    report = Verifier(trust_for(pkis.main)).verify_bytes(raw)
    assert report.reasons == [Reason.UNTRUSTED_CHAIN]
    assert Verifier(trust_for(pkis.other)).verify_bytes(raw).ok


@pytest.mark.parametrize("profile", PROFILES)
def test_sender_mismatch(make_package: MakePackage, sverifier: Verifier, profile: str) -> None:
    report = sverifier.verify_bytes(make_package(COSIGNER, sender=SENDER, profile=profile))
    assert report.reasons == [Reason.SENDER_MISMATCH]
    assert report.signatures[0].valid  # the signature itself is fine: it is just not the sender's
    assert COSIGNER in report.details[0]


@pytest.mark.parametrize("profile", PROFILES)
def test_tampered_header_and_attachment(
    make_package: MakePackage, sverifier: Verifier, profile: str
) -> None:
    raw = make_package(profile=profile)
    other = json.loads(make_package(profile=profile))["header"]
    swapped = _edit(raw, lambda p: p.__setitem__("header", other))
    assert sverifier.verify_bytes(swapped).reasons == [Reason.BAD_SIGNATURE]
    flipped = bytearray(ATTACHMENT)
    flipped[10] ^= 1
    content = base64.b64encode(bytes(flipped)).decode()
    bad_att = _edit(raw, lambda p: p["attachments"][0].__setitem__("content", content))
    report = sverifier.verify_bytes(bad_att)
    assert report.reasons == [Reason.DIGEST_MISMATCH]
    assert report.attachments[0].detail == "SHA-256 differs"


@pytest.mark.parametrize(
    ("edit", "detail"),
    [
        (lambda p: p.__setitem__("attachments", []), "content missing"),
        (lambda p: p["attachments"][0].__setitem__("content", "QUJD"), "size 3"),
        (lambda p: p["attachments"].append({"id": "x9", "content": "QUJD"}), "not in the signed"),
    ],
)
def test_attachment_manifest(
    make_package: MakePackage, sverifier: Verifier, edit: object, detail: str
) -> None:
    report = sverifier.verify_bytes(_edit(make_package(), edit))
    assert report.reasons == [Reason.DIGEST_MISMATCH]
    assert any(detail in a.detail for a in report.attachments if not a.valid)


def test_classified_stale_and_too_large(make_package: MakePackage, spki: DemoPKI) -> None:
    v = Verifier(trust_for(spki), freshness=timedelta(minutes=15), max_package_bytes=20_000)
    secret = make_package(classification="secret")
    assert v.verify_bytes(secret).reasons == [Reason.CLASSIFIED]
    raw = make_package()
    sent = datetime.fromisoformat(json.loads(base64.urlsafe_b64decode(
        json.loads(raw)["header"] + "==="))["sent_at"])  # fmt: skip
    assert v.verify_bytes(raw, received_at=sent + timedelta(minutes=14)).ok
    assert v.verify_bytes(raw, received_at=sent - timedelta(minutes=14)).ok
    late = v.verify_bytes(raw, received_at=sent + timedelta(minutes=16))
    assert late.reasons == [Reason.STALE]
    early = v.verify_bytes(raw, received_at=sent - timedelta(minutes=16))
    assert early.reasons == [Reason.STALE]
    big = v.verify_bytes(raw + b" " * 20_000)
    assert big.reasons == [Reason.TOO_LARGE]


def test_backdated_package_is_stale_not_valid(
    make_package: MakePackage, sverifier: Verifier
) -> None:
    """A sent_at in the past makes the validation time the past: the hub refuses it."""
    raw = make_package(sent_at=utc_now() - timedelta(days=3))
    assert sverifier.verify_bytes(raw).ok  # offline: judged at sent_at, which is fine
    assert sverifier.verify_bytes(raw, received_at=datetime.now(UTC)).reasons == [Reason.STALE]


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda p: p.__setitem__("signatures", []), Reason.UNSIGNED),
        (lambda p: p["signatures"][0].__setitem__("profile", "xades"), Reason.UNSUPPORTED_PROFILE),
        (lambda p: p["signatures"][0].__setitem__("value", "garbage"), Reason.BAD_SIGNATURE),
        (lambda p: p.__setitem__("header", "!!"), Reason.MALFORMED),
        (lambda p: p.__setitem__("v", 2), Reason.MALFORMED),
    ],
)
def test_package_level_reasons(
    make_package: MakePackage, sverifier: Verifier, edit: object, reason: Reason
) -> None:
    assert sverifier.verify_bytes(_edit(make_package(), edit)).reasons == [reason]


def test_not_json_is_malformed(sverifier: Verifier) -> None:
    report = sverifier.verify_bytes(b"\xff\xfe not json")
    assert report.reasons == [Reason.MALFORMED] and report.package_sha256


# -- several signatures --------------------------------------------------------------
@pytest.mark.parametrize(
    "case",
    [
        ((SENDER, COSIGNER), [], [True, True]),
        ((COSIGNER, SENDER), [], [True, True]),  # order does not matter
        ((SENDER, EXPIRED), [Reason.CERT_EXPIRED], [True, False]),  # a bad co-signature taints
        ((COSIGNER, RSA_AGENCY), [Reason.SENDER_MISMATCH], [True, True]),
        ((EXPIRED, COSIGNER), [Reason.CERT_EXPIRED], [False, True]),
    ],
)
@pytest.mark.parametrize("profiles", [("jws", "jws"), ("jws", "cms"), ("cms", "cms")])
def test_cosignature_combination(
    spki: DemoPKI,
    sverifier: Verifier,
    case: tuple[tuple[str, str], list[Reason], list[bool]],
    profiles: tuple[str, str],
) -> None:
    """Every signature must be valid, and at least one must be the sender's."""
    codes, reasons, valid = case
    sender = SENDER if SENDER in codes else EXPIRED if EXPIRED in codes else SENDER
    signers = [signer_for(spki, c, p) for c, p in zip(codes, profiles, strict=True)]
    raw = build_package(header_for(sender), {"a1": ATTACHMENT}, signers).to_bytes()
    report = sverifier.verify_bytes(raw)
    assert report.reasons == reasons, report.to_json()
    assert [s.valid for s in report.signatures] == valid


def test_invalid_sender_signature_is_not_a_mismatch(spki: DemoPKI, sverifier: Verifier) -> None:
    """The sender did sign, badly: the reason is the bad signature, not the binding."""
    raw = build_package(
        header_for(SENDER), {"a1": ATTACHMENT},
        [signer_for(spki, SENDER), signer_for(spki, COSIGNER)],
    ).to_bytes()  # fmt: skip

    def break_first(p: dict) -> None:  # type: ignore[type-arg]
        value = p["signatures"][0]["value"]
        p["signatures"][0]["value"] = value[:-4] + ("AAAA" if value[-4:] != "AAAA" else "BBBB")

    assert sverifier.verify_bytes(_edit(raw, break_first)).reasons == [Reason.BAD_SIGNATURE]


# -- revocation policy ------------------------------------------------------------
@pytest.mark.parametrize("profile", PROFILES)
def test_revocation_fail_closed_and_open(
    make_package: MakePackage, spki: DemoPKI, profile: str
) -> None:
    raw = make_package(profile=profile)
    closed = Verifier(trust_for(spki, crls=False))
    report = closed.verify_bytes(raw)
    assert report.reasons == [Reason.REVOCATION_UNKNOWN]
    assert "no CRL signed by" in report.signatures[0].details[0]
    opened = Verifier(trust_for(spki, crls=False), revocation_fail_open=True)
    assert opened.verify_bytes(raw).ok
    # Fail-open never turns a known revocation into a pass.
    revoked = make_package(sender=REVOKED, profile=profile)
    fail_open = Verifier(trust_for(spki), revocation_fail_open=True)
    assert fail_open.verify_bytes(revoked).reasons == [Reason.CERT_REVOKED]


def test_expired_crl_is_unknown(make_package: MakePackage, spki: DemoPKI) -> None:
    raw = make_package()
    v = Verifier(trust_for(spki))
    later = datetime.now(UTC) + timedelta(days=8)  # past the demo CRLs' 7-day nextUpdate
    report = v.verify_bytes(raw, now=later)
    assert report.reasons == [Reason.REVOCATION_UNKNOWN]
    assert "expired at" in report.signatures[0].details[0]
    assert v.trust.crls.status(later)[0].stale


def test_revocation_date_is_compared_with_validation_time(
    make_package: MakePackage, sverifier: Verifier
) -> None:
    """REVOKED was revoked a day ago: a package validated before that is not revoked."""
    raw = make_package(sender=REVOKED)
    before = datetime.now(UTC) - timedelta(days=2)
    assert sverifier.verify_bytes(raw, at=before).ok
    assert sverifier.verify_bytes(raw).reasons == [Reason.CERT_REVOKED]


# -- caches and robustness ----------------------------------------------------------
def test_chain_cache_hits_and_anchor_change(
    make_package: MakePackage, spki: DemoPKI, pkis: Pkis
) -> None:
    v = Verifier(trust_for(spki))
    raw = make_package()
    assert v.verify_bytes(raw).ok
    assert (v.chains.hits, v.chains.misses) == (0, 1)
    assert v.verify_bytes(make_package()).ok
    assert (v.chains.hits, v.chains.misses) == (1, 1)
    # New anchors: the old validator and its cache are dropped.
    other_root = trust_for(pkis.other).anchors
    v.trust.replace_anchors(other_root)
    assert v.verify_bytes(raw).reasons == [Reason.UNTRUSTED_CHAIN]
    assert (v.chains.hits, v.chains.misses) == (0, 1)


def test_revocation_after_caching_takes_effect(tmp_path: Path, make_package: MakePackage) -> None:
    pki = scratch_pki(tmp_path / "pki")
    raw = make_package(pki=pki)
    v = Verifier(trust_for(pki))
    assert v.verify_bytes(raw).ok
    pki.revoke(SENDER, at=datetime.now(UTC) - timedelta(minutes=5))
    v.trust.crls.add_file(pki.crl_dir / "issuing-ca.crl.pem")
    report = v.verify_bytes(raw)
    assert report.reasons == [Reason.CERT_REVOKED]
    assert v.chains.hits == 1  # the path came from the cache; revocation did not


def test_profile_bug_rejects_instead_of_crashing(make_package: MakePackage, spki: DemoPKI) -> None:
    class Broken:
        name = "jws"

        def verify(self, value: str, header_bytes: bytes) -> ProfileResult:
            raise RuntimeError("boom")

    v = Verifier(trust_for(spki), profiles={"jws": Broken()})
    report = v.verify_bytes(make_package())
    assert report.reasons == [Reason.BAD_SIGNATURE]
    assert report.signatures[0].details[0].startswith(PROFILE_BUG)


def test_naive_times_are_a_caller_error(make_package: MakePackage, sverifier: Verifier) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sverifier.verify_bytes(make_package(), received_at=datetime(2026, 1, 1))


@pytest.mark.parametrize("content", ["QUJD=", "QUJD==", "QU JD", "QUJ*", "QU=JD", "QUJDRA"])
def test_attachment_content_that_is_not_strict_base64_is_malformed(
    make_package: MakePackage, sverifier: Verifier, content: str
) -> None:
    """Excess padding, whitespace, foreign characters, inner padding, a bad length."""
    raw = _edit(make_package(), lambda p: p["attachments"][0].__setitem__("content", content))
    report = sverifier.verify_bytes(raw)
    assert report.reasons == [Reason.MALFORMED]
    assert "content is not base64" in report.details[0]
