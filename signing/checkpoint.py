"""Signed checkpoints of the signature log: a few text lines inside a signed note.

Exact format (UTF-8, every line ends with one ``\\n``, no ``\\r``)::

    <origin>\\n
    <tree size>\\n
    <root hash>\\n
    <time>\\n
    \\n
    — <signer name> <signature blob>\\n

Body (the first four lines, final ``\\n`` included) — the bytes that are signed:

1. origin: the log's name, e.g. ``edoc-hub.example/signature-log``; not empty,
   no control characters (U+0000–U+001F, U+007F), no leading/trailing space.
2. tree size: ASCII decimal, no sign, no leading zeros, below 2**64.
3. root hash: the 32-byte RFC 9162 root (``signing.merkle``) in standard padded
   base64 (RFC 4648 §4); a size of 0 requires SHA-256("").
4. time: UTC in RFC 3339, ``YYYY-MM-DDTHH:MM:SSZ``, or
   ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (exactly six digits) when microseconds are
   not zero.

Then an empty line and exactly one signature line: U+2014 EM DASH, a space,
the signer name (not empty; no whitespace, no ``+``), a space, and standard
padded base64 of ``key ID (4 bytes) || signature``, where

- key ID = first 4 bytes of SHA-256(UTF-8 signer name || 0x0A || DER
  SubjectPublicKeyInfo of the hub key) — it binds the name to the key;
- signature over the body: ECDSA P-256 with SHA-256, P-384 with SHA-384,
  P-521 with SHA-512 (DER Ecdsa-Sig-Value), or RSASSA-PKCS1-v1_5 with SHA-256.

Every base64 field must be canonical (re-encoding gives the same text), so
no byte of a valid checkpoint can change without the parse or the signature
failing. Verification needs only the hub certificate (``SignedCheckpoint.verify``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from signing.errors import SigningError
from signing.keys import SigningKey
from signing.merkle import EMPTY_ROOT, HASH_SIZE

SIGNATURE_DASH = "\N{EM DASH}"
KEY_ID_SIZE = 4
MAX_TEXT = 16 * 1024  # a checkpoint is a few hundred bytes; refuse anything absurd

_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HINT = "the checkpoint was altered or damaged; fetch it again from the hub"


class CheckpointError(SigningError):
    """A checkpoint is malformed, or its signature does not verify with the certificate."""


@dataclass(frozen=True)
class Checkpoint:
    """The log's state: ``size`` leaves with Merkle root ``root``, as of ``time`` (aware)."""

    origin: str
    size: int
    root: bytes
    time: datetime

    def __post_init__(self) -> None:
        _check_origin(self.origin)
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise CheckpointError(f"tree size must be an int, got {type(self.size).__name__}")
        if not 0 <= self.size < 2**64:
            raise CheckpointError(f"tree size {self.size} is outside 0..2**64-1")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_SIZE:
            raise CheckpointError(f"root hash must be {HASH_SIZE} bytes")
        if self.size == 0 and self.root != EMPTY_ROOT:
            raise CheckpointError("an empty tree's root hash is SHA-256 of the empty string")
        if not isinstance(self.time, datetime):
            raise CheckpointError(f"time must be a datetime, got {type(self.time).__name__}")
        if self.time.tzinfo is None or self.time.utcoffset() is None:
            raise CheckpointError("checkpoint time must be timezone-aware")
        # Normalised once so equal instants give equal checkpoints and bodies.
        object.__setattr__(self, "time", self.time.astimezone(UTC))

    def body(self) -> bytes:
        """The signed bytes: origin, size, base64 root and time, one per line."""
        root = base64.b64encode(self.root).decode("ascii")
        return f"{self.origin}\n{self.size}\n{root}\n{_format_time(self.time)}\n".encode()

    def sign(self, key: SigningKey, signer_name: str) -> SignedCheckpoint:
        """Sign the body with the hub's private key under ``signer_name``."""
        _check_signer_name(signer_name)
        body = self.body()
        if isinstance(key, rsa.RSAPrivateKey):
            signature = key.sign(body, padding.PKCS1v15(), hashes.SHA256())
        else:
            signature = key.sign(body, ec.ECDSA(_ec_hash(key.curve)))
        return SignedCheckpoint(self, signer_name, key_id(signer_name, key.public_key()), signature)


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint with one signature line: signer name, key ID and signature bytes."""

    checkpoint: Checkpoint
    signer_name: str
    key_id: bytes
    signature: bytes

    def __post_init__(self) -> None:
        _check_signer_name(self.signer_name)
        if not isinstance(self.key_id, bytes) or len(self.key_id) != KEY_ID_SIZE:
            raise CheckpointError(f"key ID must be {KEY_ID_SIZE} bytes")
        if not isinstance(self.signature, bytes) or not self.signature:
            raise CheckpointError("signature must be non-empty bytes")

    def to_text(self) -> str:
        """The signed note text (see the module docstring)."""
        blob = base64.b64encode(self.key_id + self.signature).decode("ascii")
        body = self.checkpoint.body().decode()
        return f"{body}\n{SIGNATURE_DASH} {self.signer_name} {blob}\n"

    @classmethod
    def from_text(cls, text: str | bytes) -> SignedCheckpoint:
        """Parse a signed checkpoint strictly; any deviation raises ``CheckpointError``."""
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _bad(f"not UTF-8 at byte {exc.start}") from None
        if len(text) > MAX_TEXT:
            raise _bad(f"{len(text)} characters, more than {MAX_TEXT}")
        if not text.endswith("\n"):
            raise _bad("the last line does not end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) != 6:
            raise _bad(f"{len(lines)} lines, expected 4 body lines, an empty line and a signature")
        origin, size_text, root_text, time_text, empty, sig_line = lines
        if empty:
            raise _bad("line 5 must be empty (it separates the body from the signature)")
        _check_origin(origin)
        if not _SIZE.fullmatch(size_text):
            raise _bad(f"line 2: tree size {size_text!r} is not a canonical decimal number")
        root = _b64(root_text, "line 3: root hash")
        if len(root) != HASH_SIZE:
            raise _bad(f"line 3: root hash has {len(root)} bytes, expected {HASH_SIZE}")
        checkpoint = Checkpoint(origin, int(size_text), root, _parse_time(time_text))
        dash, sep, rest = sig_line.partition(" ")
        name, sep2, blob_text = rest.partition(" ")
        if dash != SIGNATURE_DASH or not sep or not sep2:
            raise _bad("line 6 is not '— <signer name> <base64 signature>'")
        _check_signer_name(name)
        blob = _b64(blob_text, "line 6: signature")
        if len(blob) <= KEY_ID_SIZE:
            raise _bad(f"line 6: signature has {len(blob)} bytes, too short for key ID + signature")
        return cls(checkpoint, name, blob[:KEY_ID_SIZE], blob[KEY_ID_SIZE:])

    def verify(self, cert: x509.Certificate) -> None:
        """Check the signature with the hub certificate's public key; raise ``CheckpointError``."""
        public_key = cert.public_key()
        # 1. Only the key types the hub signs with.
        if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise CheckpointError(
                f"certificate key type {type(public_key).__name__} cannot sign checkpoints",
                hint="give the hub certificate (RSA or EC key)",
            )
        # 2. The key ID binds the signer name to this certificate's key.
        expected = key_id(self.signer_name, public_key)
        if self.key_id != expected:
            raise CheckpointError(
                f"checkpoint signed by {self.signer_name!r} with key ID {self.key_id.hex()}, "
                f"but this certificate gives key ID {expected.hex()}",
                hint="use the hub certificate that signed it; the signer name must be unchanged",
            )
        # 3. The signature over the body.
        body = self.checkpoint.body()
        try:
            if isinstance(public_key, rsa.RSAPublicKey):
                public_key.verify(self.signature, body, padding.PKCS1v15(), hashes.SHA256())
            else:
                public_key.verify(self.signature, body, ec.ECDSA(_ec_hash(public_key.curve)))
        except (InvalidSignature, ValueError):
            raise CheckpointError(
                f"checkpoint signature by {self.signer_name!r} does not verify "
                f"(size {self.checkpoint.size}, origin {self.checkpoint.origin!r})",
                hint=_HINT,
            ) from None


def key_id(signer_name: str, public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> bytes:
    """First 4 bytes of SHA-256(name || 0x0A || SubjectPublicKeyInfo DER)."""
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(signer_name.encode() + b"\n" + spki).digest()[:KEY_ID_SIZE]


def _ec_hash(curve: ec.EllipticCurve) -> hashes.HashAlgorithm:
    """The hash that matches the curve's strength (P-256 → SHA-256, and so on)."""
    if curve.key_size <= 256:
        return hashes.SHA256()
    return hashes.SHA384() if curve.key_size <= 384 else hashes.SHA512()


def _format_time(time: datetime) -> str:
    """RFC 3339 UTC; six fractional digits only when there are microseconds."""
    spec = "microseconds" if time.microsecond else "seconds"
    return time.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _parse_time(text: str) -> datetime:
    """The inverse of ``_format_time``, refusing any other spelling."""
    if not _TIME.fullmatch(text):
        raise _bad(f"line 4: time {text!r} is not RFC 3339 UTC (YYYY-MM-DDTHH:MM:SS[.ffffff]Z)")
    try:
        time = datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    except ValueError as exc:
        raise _bad(f"line 4: time {text!r}: {exc}") from None
    if _format_time(time) != text:
        raise _bad(f"line 4: time {text!r} is not in canonical form")
    return time


def _b64(text: str, what: str) -> bytes:
    """Decode canonical standard base64; the unused low bits must be zero."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise _bad(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise _bad(f"{what} is not canonical base64")
    return raw


def _check_origin(origin: object) -> None:
    if not isinstance(origin, str) or not origin:
        raise _bad("line 1: the origin is empty")
    if _CONTROL.search(origin) or origin != origin.strip(" "):
        raise _bad(f"line 1: origin {origin!r} has control characters or edge spaces")


def _check_signer_name(name: object) -> None:
    if not isinstance(name, str) or not name or "+" in name or any(c.isspace() for c in name):
        raise _bad(f"signer name {name!r} must be non-empty, without whitespace or '+'")


def _bad(detail: str) -> CheckpointError:
    return CheckpointError(f"malformed checkpoint: {detail}", hint=_HINT)
