"""Property tests: a mutated package never verifies, and the verifier never raises.

"Never verifies" is stated exactly: if a mutated package is accepted, it must
carry the same header bytes and attachments as the original, signed by no one
who had not signed the original. Mutations that keep that exist and are
harmless — JSON whitespace, a non-canonical spelling of the header's base64url
that decodes to the same bytes, a dropped co-signature (signatures are
independent; the sender's remains) or a change in a CMS field no signature
covers (e.g. SignedData.digestAlgorithms); anything else must be rejected.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.package import b64url_decode, b64url_encode, parse_package
from schemas.report import VerificationReport
from signing.pki import DemoPKI
from signing.verifier import PROFILE_BUG, Verifier
from tests.signing.conftest import COSIGNER, SENDER, MakePackage, trust_for

SETTINGS = settings(
    max_examples=250,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
Meaning = tuple[bytes, tuple[tuple[str, bytes], ...], frozenset[tuple[str, str]]]


@dataclass(frozen=True)
class World:
    """A verifier and, per profile, a single-signature and a co-signed valid package."""

    verifier: Verifier
    originals: dict[str, tuple[bytes, bytes]]


@functools.cache
def _world(spki: DemoPKI, make_package: MakePackage) -> World:
    # Built once per session: hypothesis must not see function-scoped fixtures.
    originals = {
        p: (make_package(profile=p), make_package(SENDER, COSIGNER, profile=p))
        for p in ("jws", "cms")
    }
    return World(Verifier(trust_for(spki)), originals)


def _now(original: bytes) -> datetime:
    header = json.loads(b64url_decode(json.loads(original)["header"]))
    return datetime.fromisoformat(header["sent_at"])


def _meaning(raw: bytes, report: VerificationReport) -> Meaning:
    parsed = parse_package(raw)
    signers = frozenset((s.profile, s.signer.sha256 if s.signer else "") for s in report.signatures)
    return parsed.header_bytes, tuple(sorted(parsed.attachments.items())), signers


def _check(verifier: Verifier, original: bytes, mutated: bytes, now: datetime) -> None:
    report = verifier.verify_bytes(mutated, now=now)  # must not raise
    for sig in report.signatures:
        assert not any(d.startswith(PROFILE_BUG) for d in sig.details), sig.details
    if report.ok:
        header, attachments, signers = _meaning(mutated, report)
        base_header, base_attachments, base_signers = _meaning(
            original, verifier.verify_bytes(original, now=now)
        )
        assert (header, attachments) == (base_header, base_attachments), report.to_json()
        # Dropping a co-signature keeps the sender's valid (signatures are independent;
        # docs/signing.md); what can never happen is a signer that was not there.
        assert signers <= base_signers, report.to_json()


def _mutate_bytes(data: st.DataObject, raw: bytes) -> bytes:
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        if not buf:
            break
        i = data.draw(st.integers(0, len(buf) - 1), label="at")
        op = data.draw(st.sampled_from(["flip", "set", "delete", "insert", "truncate"]))
        if op == "flip":
            buf[i] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "set":
            buf[i] = data.draw(st.integers(0, 255))
        elif op == "delete":
            del buf[i : i + data.draw(st.integers(1, 16))]
        elif op == "insert":
            buf[i:i] = data.draw(st.binary(min_size=1, max_size=8))
        else:
            del buf[i:]
    return bytes(buf)


def _mutate_text(data: st.DataObject, text: str) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=. "
    chars = list(text)
    i = data.draw(st.integers(0, max(len(chars) - 1, 0)))
    op = data.draw(st.sampled_from(["replace", "delete", "insert", "truncate"]))
    if op == "replace" and chars:
        chars[i] = data.draw(st.sampled_from(alphabet).filter(lambda c: c != chars[i]))
    elif op == "delete" and chars:
        del chars[i]
    elif op == "insert":
        chars.insert(i, data.draw(st.sampled_from(alphabet)))
    else:
        del chars[i:]
    return "".join(chars)


def _mutate_field(data: st.DataObject, pkg: dict[str, Any]) -> None:
    """One structural edit: decoded header, a signature, an attachment, or the envelope.

    An edit whose target an earlier edit already made undecodable is skipped.
    """
    with contextlib.suppress(ValueError, IndexError):  # binascii.Error is a ValueError
        _edit_field(data, pkg)


def _edit_field(data: st.DataObject, pkg: dict[str, Any]) -> None:
    target = data.draw(
        st.sampled_from(
            ["header", "sig_text", "sig_bytes", "attachment", "profile", "drop_sig", "envelope"]
        )
    )
    sigs = pkg["signatures"]
    k = data.draw(st.integers(0, len(sigs) - 1))
    if target == "header":
        pkg["header"] = b64url_encode(_mutate_bytes(data, b64url_decode(pkg["header"])))
    elif target == "sig_text":
        sigs[k]["value"] = _mutate_text(data, sigs[k]["value"])
    elif target == "sig_bytes":
        value = sigs[k]["value"]
        if sigs[k]["profile"] == "cms":
            der = _mutate_bytes(data, base64.b64decode(value, validate=True))
            sigs[k]["value"] = base64.b64encode(der).decode()
        else:
            parts = value.split(".")
            if len(parts) != 3:
                return
            j = data.draw(st.sampled_from([0, 2]))
            parts[j] = b64url_encode(_mutate_bytes(data, b64url_decode(parts[j])))
            sigs[k]["value"] = ".".join(parts)
    elif target == "attachment":
        content = base64.b64decode(pkg["attachments"][0]["content"], validate=True)
        pkg["attachments"][0]["content"] = base64.b64encode(_mutate_bytes(data, content)).decode()
    elif target == "profile":
        sigs[k]["profile"] = data.draw(st.sampled_from(["jws", "cms", "xades", "JWS", ""]))
    elif target == "drop_sig":
        del sigs[k]
    else:
        pkg[data.draw(st.sampled_from(["extra", "v"]))] = data.draw(
            st.one_of(st.integers(), st.text(max_size=5))
        )


@pytest.mark.parametrize("profile", ["jws", "cms"])
@SETTINGS
@given(data=st.data())
def test_raw_byte_mutations(
    spki: DemoPKI, make_package: MakePackage, profile: str, data: st.DataObject
) -> None:
    world = _world(spki, make_package)
    original = data.draw(st.sampled_from(world.originals[profile]))
    _check(world.verifier, original, _mutate_bytes(data, original), _now(original))


@pytest.mark.parametrize("profile", ["jws", "cms"])
@SETTINGS
@given(data=st.data())
def test_field_mutations(
    spki: DemoPKI, make_package: MakePackage, profile: str, data: st.DataObject
) -> None:
    world = _world(spki, make_package)
    original = data.draw(st.sampled_from(world.originals[profile]))
    pkg = json.loads(original)
    for _ in range(data.draw(st.integers(1, 2))):
        if not pkg["signatures"]:
            break
        _mutate_field(data, pkg)
    _check(world.verifier, original, json.dumps(pkg).encode(), _now(original))


@SETTINGS
@given(
    profile=st.sampled_from(["jws", "cms"]),
    value=st.one_of(
        st.text(max_size=200),
        st.binary(max_size=400).map(lambda b: base64.b64encode(b).decode()),
        st.lists(st.binary(max_size=60).map(b64url_encode), min_size=3, max_size=3).map(".".join),
    ),
)
def test_arbitrary_signature_values_never_crash(
    spki: DemoPKI, make_package: MakePackage, profile: str, value: str
) -> None:
    world = _world(spki, make_package)
    pkg = json.loads(world.originals["jws"][0])
    pkg["signatures"] = [{"profile": profile, "value": value}]
    report = world.verifier.verify_bytes(json.dumps(pkg).encode())
    assert not report.ok
    assert not any(d.startswith(PROFILE_BUG) for s in report.signatures for d in s.details)


@SETTINGS
@given(raw=st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash(spki: DemoPKI, make_package: MakePackage, raw: bytes) -> None:
    assert not _world(spki, make_package).verifier.verify_bytes(raw).ok


def test_originals_verify(spki: DemoPKI, make_package: MakePackage) -> None:
    world = _world(spki, make_package)
    for pair in world.originals.values():
        for raw in pair:
            assert world.verifier.verify_bytes(raw, now=_now(raw)).ok
