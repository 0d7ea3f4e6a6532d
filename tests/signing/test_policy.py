"""Certificate policy: leaf checks, clock skew, and the chain cache's time window."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schemas.reasons import Reason
from signing.certs import ParsedCert, as_parsed
from signing.errors import SignatureCheckError
from signing.keys import load_cert_chain
from signing.pki import DemoPKI
from signing.policy import ChainValidator, check_validity, leaf_problems
from tests.signing.conftest import BAD_KU, P384, RSA_AGENCY, SENDER, WEAK_RSA


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
    ],
)
def test_leaf_problems(spki: DemoPKI, code: str, reasons: list[Reason]) -> None:
    leaf, _ = _leaf_and_chain(spki, code)
    found = leaf_problems(leaf)
    assert [p.reason for p in found] == reasons
    assert leaf_problems(leaf) is found
