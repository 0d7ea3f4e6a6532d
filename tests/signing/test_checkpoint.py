"""signing.checkpoint: exact text, strict parsing, signatures checked with only the hub cert."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from signing.checkpoint import Checkpoint, CheckpointError, SignedCheckpoint, key_id
from signing.errors import SigningError
from signing.keys import SigningKey, generate_key
from signing.merkle import EMPTY_ROOT, leaf_hash, root_hash
from signing.pki import make_certificate

ORIGIN = "edoc-hub.example/signature-log"
WHEN = datetime(2025, 3, 1, 8, 30, 5, tzinfo=UTC)
ROOT = root_hash([leaf_hash(b"entry-%d" % i) for i in range(10)])
KINDS = ["ec-p256", "ec-p384", "rsa"]


def _key(kind: str) -> SigningKey:
    if kind == "rsa":
        return generate_key("rsa")
    return generate_key("ec", curve="P-384" if kind == "ec-p384" else "P-256")


def _cert(key: SigningKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edoc-hub test")])
    return make_certificate(
        subject=name,
        key=key,
        issuer=None,
        issuer_key=key,
        ca=False,
        not_before=WHEN - timedelta(days=1),
        not_after=WHEN + timedelta(days=365),
    )


HUB = {kind: _key(kind) for kind in KINDS}
CERT = {kind: _cert(key) for kind, key in HUB.items()}
OTHER_CERT = {kind: _cert(_key(kind)) for kind in KINDS}


def _signed(kind: str, size: int = 10, root: bytes = ROOT) -> SignedCheckpoint:
    return Checkpoint(ORIGIN, size, root, WHEN).sign(HUB[kind], "edoc-hub")


SIGNED_TEXT = {kind: _signed(kind).to_text().encode() for kind in KINDS}


def _rejects(text: bytes, cert: x509.Certificate) -> bool:
    try:
        SignedCheckpoint.from_text(text).verify(cert)
    except CheckpointError:
        return True
    return False


def test_exact_text() -> None:
    signed = _signed("ec-p256")
    b64root = base64.b64encode(ROOT).decode()
    body = f"{ORIGIN}\n10\n{b64root}\n2025-03-01T08:30:05Z\n"
    assert signed.checkpoint.body() == body.encode()
    blob = base64.b64encode(signed.key_id + signed.signature).decode()
    assert signed.to_text() == f"{body}\n\N{EM DASH} edoc-hub {blob}\n"
    assert signed.key_id == key_id("edoc-hub", CERT["ec-p256"].public_key())  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_and_verify(kind: str) -> None:
    signed = _signed(kind)
    text = signed.to_text()
    parsed = SignedCheckpoint.from_text(text)
    assert parsed == signed
    assert SignedCheckpoint.from_text(text.encode()) == signed
    parsed.verify(CERT[kind])


@pytest.mark.parametrize("kind", KINDS)
def test_every_single_byte_change_is_refused(kind: str) -> None:
    raw = _signed(kind).to_text().encode()
    for i in range(len(raw)):
        for new in {raw[i] ^ 0x01, raw[i] ^ 0x20, raw[i] ^ 0x80, 0x0A} - {raw[i]}:
            changed = raw[:i] + bytes([new]) + raw[i + 1 :]
            assert _rejects(changed, CERT[kind]), f"byte {i} -> {new:#x} accepted"
        assert _rejects(raw[:i] + raw[i + 1 :], CERT[kind]), f"byte {i} deleted, accepted"


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(KINDS), st.data())
def test_any_byte_value_anywhere_is_refused(kind: str, data: st.DataObject) -> None:
    raw = SIGNED_TEXT[kind]
    i = data.draw(st.integers(0, len(raw) - 1), label="position")
    new = data.draw(st.integers(0, 255).filter(lambda b: b != raw[i]), label="byte")
    assert _rejects(raw[:i] + bytes([new]) + raw[i + 1 :], CERT[kind])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("other", KINDS)
def test_another_certificate_is_refused(kind: str, other: str) -> None:
    signed = _signed(kind)
    with pytest.raises(CheckpointError, match="key ID"):
        signed.verify(OTHER_CERT[other])
    if other != kind:
        with pytest.raises(CheckpointError, match="key ID"):
            signed.verify(CERT[other])


def test_forged_signature_with_right_key_id_is_refused() -> None:
    signed = _signed("ec-p256")
    forged = SignedCheckpoint(
        Checkpoint(ORIGIN, 11, ROOT, WHEN), signed.signer_name, signed.key_id, signed.signature
    )
    with pytest.raises(CheckpointError, match="does not verify") as err:
        forged.verify(CERT["ec-p256"])
    assert isinstance(err.value, SigningError)
    assert err.value.hint


def test_time_forms() -> None:
    local = datetime(2025, 3, 1, 15, 30, 5, 120, tzinfo=timezone(timedelta(hours=7)))
    cp = Checkpoint(ORIGIN, 0, EMPTY_ROOT, local)
    assert cp.time == datetime(2025, 3, 1, 8, 30, 5, 120, tzinfo=UTC)
    assert cp.body().endswith(b"\n2025-03-01T08:30:05.000120Z\n")
    signed = cp.sign(HUB["rsa"], "edoc-hub")
    assert SignedCheckpoint.from_text(signed.to_text()) == signed
    with pytest.raises(CheckpointError, match="timezone-aware"):
        Checkpoint(ORIGIN, 0, EMPTY_ROOT, datetime(2025, 3, 1))


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("", 1, ROOT), "origin is empty"),
        (("log\nx", 1, ROOT), "control characters"),
        ((" log", 1, ROOT), "edge spaces"),
        ((ORIGIN, -1, ROOT), "outside"),
        ((ORIGIN, 2**64, ROOT), "outside"),
        ((ORIGIN, True, ROOT), "must be an int"),
        ((ORIGIN, 1, ROOT[:31]), "32 bytes"),
        ((ORIGIN, 0, ROOT), "empty tree"),
    ],
)
def test_checkpoint_values_are_checked(args: tuple[str, int, bytes], match: str) -> None:
    with pytest.raises(CheckpointError, match=match):
        Checkpoint(*args, WHEN)


@pytest.mark.parametrize("name", ["", "edoc hub", "edoc+hub", "hub\n"])
def test_bad_signer_names(name: str) -> None:
    with pytest.raises(CheckpointError, match="signer name"):
        Checkpoint(ORIGIN, 10, ROOT, WHEN).sign(HUB["ec-p256"], name)


def _lines() -> list[str]:
    return SIGNED_TEXT["ec-p256"].decode().split("\n")


def _with(index: int, value: str) -> str:
    lines = _lines()
    lines[index] = value
    return "\n".join(lines)


def _root_noncanonical() -> str:
    # 32 bytes leave 2 unused bits in the last base64 character; set one.
    b64 = base64.b64encode(ROOT).decode()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    return b64[:-2] + alphabet[alphabet.index(b64[-2]) ^ 1] + "="


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (SIGNED_TEXT["ec-p256"].decode()[:-1], "does not end with a newline"),
        (SIGNED_TEXT["ec-p256"].decode().replace("\n", "\r\n"), "5 must be empty|control"),
        (SIGNED_TEXT["ec-p256"].decode() + "\N{EM DASH} other AAAAAAAA\n", "7 lines"),
        (b"\xff" + SIGNED_TEXT["ec-p256"], "not UTF-8 at byte 0"),
        ("x" * 20_000, "more than"),
        (_with(1, "010"), "canonical decimal"),
        (_with(1, "+10"), "canonical decimal"),
        (_with(1, "\N{ARABIC-INDIC DIGIT ONE}"), "canonical decimal"),
        (_with(2, base64.b64encode(ROOT[:31]).decode()), "31 bytes"),
        (_with(2, base64.b64encode(ROOT).decode().rstrip("=")), "not valid base64"),
        (_with(2, _root_noncanonical()), "not canonical base64"),
        (_with(3, "2025-03-01T08:30:05+00:00"), "RFC 3339"),
        (_with(3, "2025-03-01T08:30:05.000000Z"), "canonical form"),
        (_with(3, "2025-02-30T08:30:05Z"), "day is out of range"),
        (_with(4, " "), "line 5 must be empty"),
        (_with(5, "-" + _lines()[5][1:]), "is not '— <signer name>"),
        (_with(5, _lines()[5].replace(" ", "  ", 1)), "signer name ''"),
        (_with(5, "\N{EM DASH} edoc-hub AAAA"), "too short"),
    ],
)
def test_malformed_text_is_refused_precisely(text: str | bytes, match: str) -> None:
    with pytest.raises(CheckpointError, match=match) as err:
        SignedCheckpoint.from_text(text)
    assert err.value.message.startswith("malformed checkpoint")


def test_signed_checkpoint_values_are_checked() -> None:
    signed = _signed("ec-p256")
    with pytest.raises(CheckpointError, match="key ID must be 4 bytes"):
        SignedCheckpoint(signed.checkpoint, "edoc-hub", b"abc", signed.signature)
    with pytest.raises(CheckpointError, match="non-empty"):
        SignedCheckpoint(signed.checkpoint, "edoc-hub", signed.key_id, b"")
    with pytest.raises(CheckpointError, match="signer name"):
        SignedCheckpoint(signed.checkpoint, "edoc hub", signed.key_id, signed.signature)
