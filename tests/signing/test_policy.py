"""Certificate policy: leaf checks, clock skew, and the chain cache's time window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID as EKU

from schemas.reasons import Reason
from signing.certs import ParsedCert, as_parsed
from signing.errors import SignatureCheckError
from signing.keys import generate_key, load_cert_chain
from signing.pki import DOC_SIGNING_USAGE, DemoPKI, agency_name, make_certificate
from signing.policy import ChainValidator, check_key_usage, check_validity, leaf_problems
from tests.signing.conftest import (
    BAD_KU,
    CA_SIGNER,
    EMAIL_CLIENT,
    P384,
    RSA_AGENCY,
    SENDER,
    SERVER_AUTH,
    WEAK_RSA,
)


def _leaf_and_chain(pki: DemoPKI, code: str) -> tuple[ParsedCert, list[ParsedCert]]:
    chain = load_cert_chain(pki.agency(code).chain)
    return as_parsed(chain[0]), [as_parsed(c) for c in chain[1:]]


def test_chain_cache_window(spki: DemoPKI) -> None:
    validator = ChainValidator(load_cert_chain(spki.root_cert))
    leaf, inter = _leaf_and_chain(spki, SENDER)
    start, end = leaf.not_before, leaf.not_after
    chain = validator.validate(leaf, inter, start + timedelta(days=1))
    assert [c.sha256 for c in chain][:2] == [leaf.sha256, inter[0].sha256]
    assert (validator.hits, validator.misses) == (0, 1)
    validator.validate(leaf, inter, end - timedelta(days=1))
    assert (validator.hits, validator.misses) == (1, 1)
    # Outside the window the cached path proves nothing: it is built again (and fails).
    for outside in (end + timedelta(seconds=1), start - timedelta(seconds=1)):
        with pytest.raises(SignatureCheckError) as info:
            validator.validate(leaf, inter, outside)
        assert info.value.reason is Reason.UNTRUSTED_CHAIN
    assert (validator.hits, validator.misses) == (1, 3)
    # The key is the certificate set, whatever its order or duplicates.
    validator.validate(leaf, inter + inter, start + timedelta(days=2))
    assert validator.hits == 2
    validator.clear()
    validator.validate(leaf, inter, start + timedelta(days=2))
    assert validator.misses == 4


def test_failed_paths_are_not_cached(spki: DemoPKI) -> None:
    validator = ChainValidator(load_cert_chain(spki.root_cert))
    leaf, _ = _leaf_and_chain(spki, SENDER)
    for _ in range(2):
        with pytest.raises(SignatureCheckError):
            validator.validate(leaf, [], leaf.not_before + timedelta(days=1))
    assert validator.misses == 2


def test_clock_skew(spki: DemoPKI) -> None:
    leaf, _ = _leaf_and_chain(spki, SENDER)
    skew = timedelta(minutes=5)
    nb, na = leaf.not_before, leaf.not_after
    assert check_validity(leaf, nb - timedelta(minutes=4), skew) == []
    early = check_validity(leaf, nb - timedelta(minutes=6), skew)
    assert [e.reason for e in early] == [Reason.CERT_NOT_YET_VALID]
    assert check_validity(leaf, na + timedelta(minutes=4), skew) == []
    late = check_validity(leaf, na + timedelta(minutes=6), skew)
    assert [e.reason for e in late] == [Reason.CERT_EXPIRED]


@pytest.mark.parametrize(
    ("code", "reasons"),
    [
        (SENDER, []),
        (RSA_AGENCY, []),
        (P384, []),
        (WEAK_RSA, [Reason.WEAK_KEY]),
        (BAD_KU, [Reason.KEY_USAGE]),
        (CA_SIGNER, [Reason.KEY_USAGE]),
        (SERVER_AUTH, [Reason.KEY_USAGE]),
        (EMAIL_CLIENT, []),
    ],
)
def test_leaf_problems(spki: DemoPKI, code: str, reasons: list[Reason]) -> None:
    leaf, _ = _leaf_and_chain(spki, code)
    found = leaf_problems(leaf)
    assert [p.reason for p in found] == reasons
    assert leaf_problems(leaf) is found


def _leaf_with(
    *, ca: bool = False, eku: list[x509.ObjectIdentifier] | None = None
) -> x509.Certificate:
    """A document-signing leaf (digitalSignature + nonRepudiation) made with cryptography."""
    issuer_key = generate_key("ec")
    now = datetime.now(UTC)
    issuer = make_certificate(
        subject=agency_name("000.00.90.H49", "CA"),
        key=issuer_key,
        issuer=None,
        issuer_key=issuer_key,
        ca=True,
        not_before=now,
        not_after=now + timedelta(days=1),
    )
    usage = DOC_SIGNING_USAGE | ({"key_cert_sign"} if ca else set())
    return make_certificate(
        subject=agency_name(SENDER, "Sở Nội vụ"),
        key=generate_key("ec"),
        issuer=issuer,
        issuer_key=issuer_key,
        ca=ca,
        not_before=now,
        not_after=now + timedelta(days=1),
        key_usage=frozenset(usage),
        extended_key_usage=eku,
    )


DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
MS_DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.12")
ADOBE_AUTHENTIC_DOCUMENTS = x509.ObjectIdentifier("1.2.840.113583.1.1.5")


@pytest.mark.parametrize(
    ("eku", "refused"),
    [
        (None, False),  # no EKU: the usual document-signing certificate
        ([DOCUMENT_SIGNING], False),
        ([MS_DOCUMENT_SIGNING], False),
        ([ADOBE_AUTHENTIC_DOCUMENTS], False),
        ([EKU.EMAIL_PROTECTION], False),
        ([EKU.CLIENT_AUTH], False),
        ([EKU.CLIENT_AUTH, EKU.EMAIL_PROTECTION], False),
        ([EKU.ANY_EXTENDED_KEY_USAGE], False),
        ([EKU.SERVER_AUTH, EKU.EMAIL_PROTECTION], False),  # one allowed purpose is enough
        ([EKU.SERVER_AUTH], True),
        ([EKU.CODE_SIGNING], True),
        ([EKU.TIME_STAMPING], True),
        ([EKU.OCSP_SIGNING], True),
        ([x509.ObjectIdentifier("1.2.3.4")], True),
    ],
)
def test_extended_key_usage(eku: list[x509.ObjectIdentifier] | None, refused: bool) -> None:
    problems = check_key_usage(_leaf_with(eku=eku))
    assert [p.reason for p in problems] == ([Reason.KEY_USAGE] if refused else [])
    if refused:
        assert "does not allow document signing" in problems[0].message


def test_a_ca_certificate_never_signs_documents() -> None:
    problems = check_key_usage(_leaf_with(ca=True))
    assert [p.reason for p in problems] == [Reason.KEY_USAGE]
    assert "CA certificate" in problems[0].message
    assert check_key_usage(_leaf_with(ca=False)) == []
