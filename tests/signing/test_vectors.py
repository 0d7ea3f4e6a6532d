"""The openssl-made vectors in tests/vectors/: exact verdict and reasons for every case.

tests/vectors/make_vectors.sh builds every key, certificate, CRL and CMS
signature with the openssl command line, so these cases check the verifier
against an implementation that shares no code with it. Each case fixes its
validation time and "now" in the manifest; nothing here depends on today.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from schemas.errors import MalformedPackageError
from schemas.package import parse_package
from signing.profiles import cmsparse
from signing.trust import TrustStore
from signing.verifier import PROFILE_BUG, Verifier

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
MANIFEST = json.loads((VECTORS / "manifest.json").read_text())
CASES: list[dict[str, Any]] = MANIFEST["cases"]


def _verifier(case: dict[str, Any]) -> Verifier:
    trust = TrustStore.from_paths(
        [VECTORS / p for p in case["anchors"]], [VECTORS / p for p in case["crls"]]
    )
    return Verifier(trust)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_vector(case: dict[str, Any]) -> None:
    raw = (VECTORS / case["package"]).read_bytes()
    report = _verifier(case).verify_bytes(
        raw,
        at=datetime.fromisoformat(case["at"]),
        now=datetime.fromisoformat(case["now"]),
    )
    got = {"verdict": report.verdict, "reasons": [str(r) for r in report.reasons]}
    want = {"verdict": case["verdict"], "reasons": case["reasons"]}
    assert got == want, report.to_json()
    for sig in report.signatures:
        assert not any(d.startswith(PROFILE_BUG) for d in sig.details), sig.details
    expected_sigs = case["signatures"]
    if expected_sigs is None:
        return
    assert len(report.signatures) == len(expected_sigs)
    for sig, want_sig in zip(report.signatures, expected_sigs, strict=True):
        assert sig.valid is want_sig["valid"], sig.details
        if "algorithm" in want_sig:
            assert sig.algorithm == want_sig["algorithm"]
        if "signing_time" in want_sig:
            assert (sig.signing_time is not None) is want_sig["signing_time"]


def test_manifest_covers_every_signature_reason() -> None:
    """The issue's list: each signature-related reason code has an openssl vector."""
    covered = {r for c in CASES for r in c["reasons"]}
    required = {
        "bad_signature", "digest_mismatch", "untrusted_chain", "cert_expired",
        "cert_not_yet_valid", "cert_revoked", "revocation_unknown", "key_usage", "weak_key",
        "weak_algorithm", "sender_mismatch", "classified", "malformed", "unsupported_profile",
        "unsigned",
    }  # fmt: skip
    assert required <= covered, required - covered


def _cms_values() -> list[tuple[str, bytes]]:
    out = []
    for case in CASES:
        try:
            parsed = parse_package((VECTORS / case["package"]).read_bytes())
        except MalformedPackageError:
            continue
        for i, sig in enumerate(parsed.package.signatures):
            try:
                out.append((f"{case['name']}[{i}]", base64.b64decode(sig.value, validate=True)))
            except ValueError:
                continue
    return out


CMS_VALUES = _cms_values()


@pytest.mark.parametrize(("name", "der"), CMS_VALUES, ids=[n for n, _ in CMS_VALUES])
def test_fast_reader_agrees_with_asn1crypto(name: str, der: bytes) -> None:
    """The DER walker and the asn1crypto reader read every vector the same way."""

    def read(fast: bool) -> object:
        try:
            return cmsparse.read_signed_data(der, fast=fast)
        except cmsparse.CmsFormatError:
            return "unreadable"

    assert read(True) == read(False)
