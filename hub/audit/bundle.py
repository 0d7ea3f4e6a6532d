"""Evidence bundles: everything an auditor needs to prove one entry offline.

A bundle is a zip with:

``entry.json``       the log entry, exactly its canonical bytes (the Merkle leaf content)
``header.json``      the signed header bytes
``signatures.json``  the signatures over them, as in the package
``report.json``      the hub's verification report
``proof.json``       ``{"leaf_index", "tree_size", "hashes": [base64 …]}`` (RFC 9162)
``checkpoint.txt``   the signed checkpoint the proof leads to
``hub-cert.pem``     the hub certificate chain, for convenience (verify with your own copy)
``README.txt``       how to verify by hand

The zip's archive comment carries the hub's signature over every byte of the
file before the comment (``edoc-sig:<base64>`` padded to 512 bytes), so any
changed byte — content or zip metadata — makes the bundle fail.

Attachments are not kept by the log; the header's manifest holds their SHA-256,
so a copy kept by an agency can be matched against it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from pydantic import ValidationError

from hub.errors import HubError
from hub.store.log import SignatureLog, b64
from schemas.codec import strict_b64decode
from schemas.log import LogEntry
from schemas.package import Package, SignatureEntry, b64url_decode, b64url_encode
from schemas.reasons import Reason
from signing.blob import sign_blob, verify_blob
from signing.checkpoint import SignedCheckpoint
from signing.errors import SignatureCheckError, SigningError
from signing.keys import SigningKey
from signing.merkle import leaf_hash, verify_inclusion
from signing.trust import TrustStore
from signing.verifier import Verifier, default_profiles

_README = """Evidence bundle of the edoc-hub signature log.

Verify offline:  edoc audit verify-bundle THIS.zip --hub-cert HUB.pem [--trust-anchor ROOT.pem]

The zip comment seals the file: the hub's signature over all bytes before it.

By hand: leaf = SHA-256(0x00 || entry.json); check the RFC 9162 inclusion proof in
proof.json against the root in checkpoint.txt; check checkpoint.txt's signature
with the hub certificate; check that header.json is the entry's header
(base64url) and that each signature in signatures.json verifies over header.json.
"""


class BundleError(HubError):
    """A bundle cannot be built or read."""


#: What zipfile raises for damaged input: bad CRC or magic, a flipped "encrypted"
#: flag, an unknown compression method, a broken deflate stream.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    ValueError,
    RuntimeError,
    NotImplementedError,
    OSError,
    UnicodeDecodeError,
)
_SIG_PREFIX = b"edoc-sig:"
_COMMENT_LEN = 512


def _seal(data: bytes, key: SigningKey) -> bytes:
    """Replace the placeholder comment with the signature over everything before it."""
    body = data[:-_COMMENT_LEN]
    comment = _SIG_PREFIX + base64.b64encode(sign_blob(key, body))
    return body + comment.ljust(_COMMENT_LEN, b" ")


def _check_seal(data: bytes, cert: x509.Certificate) -> str | None:
    """None when the seal verifies, else why not."""
    comment = data[-_COMMENT_LEN:]
    if len(data) <= _COMMENT_LEN or not comment.startswith(_SIG_PREFIX):
        return "no hub seal in the zip comment"
    try:
        # Canonical base64 only: a flipped unused bit in the last character must fail too.
        text = comment[len(_SIG_PREFIX) :].rstrip(b" ").decode("ascii")
        signature = strict_b64decode(text, urlsafe=False)
        verify_blob(cert, signature, data[:-_COMMENT_LEN])
    except (ValueError, binascii.Error):
        return "hub seal is not base64"
    except SigningError as exc:
        return f"hub seal: {exc.message}"
    return None


async def build_bundle(
    log: SignatureLog, key: int | str, hub_cert_pem: bytes, hub_key: SigningKey
) -> bytes:
    """The zip bytes for entry ``key`` (seq or message id), proved in the latest checkpoint."""
    entry = await log.entry(key)
    if entry is None:
        raise BundleError(f"no log entry {key}")
    cp = await log.latest_checkpoint()
    if cp is None or entry.seq >= cp.tree_size:
        raise BundleError(
            f"entry {entry.seq} is not covered by a checkpoint yet",
            hint="wait for the next checkpoint (EDOC_CHECKPOINT_EVERY_SECONDS) and retry",
        )
    proof = await log.inclusion_proof(entry.seq, cp.tree_size)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("entry.json", entry.canonical_bytes())
        z.writestr("header.json", b64url_decode(entry.header) if entry.header else b"")
        z.writestr(
            "signatures.json", json.dumps([s.model_dump() for s in entry.signatures], indent=1)
        )
        z.writestr("report.json", entry.report)
        z.writestr(
            "proof.json",
            json.dumps(
                {
                    "leaf_index": entry.seq,
                    "tree_size": cp.tree_size,
                    "hashes": [b64(h) for h in proof],
                },
                indent=1,
            ),
        )
        z.writestr("checkpoint.txt", cp.note)
        z.writestr("hub-cert.pem", hub_cert_pem)
        z.writestr("README.txt", _README)
        z.comment = b" " * _COMMENT_LEN  # placeholder of the seal's exact size
    return _seal(buf.getvalue(), hub_key)


@dataclass
class BundleCheck:
    """The outcome of verifying a bundle; each check is named with its result."""

    checks: dict[str, str] = field(default_factory=dict)
    ok: bool = True

    def fail(self, name: str, why: str) -> None:
        """Record a failed check."""
        self.checks[name] = f"FAILED: {why}"
        self.ok = False

    def passed(self, name: str, detail: str = "ok") -> None:
        """Record a passed check."""
        self.checks[name] = detail


def _read(z: zipfile.ZipFile, name: str) -> bytes:
    try:
        return z.read(name)
    except KeyError:
        raise BundleError(f"bundle lacks {name}") from None
    except _ZIP_ERRORS as exc:
        # A damaged zip (bad CRC, bad header, bad deflate stream) is a failed bundle.
        raise BundleError(f"bundle member {name} is damaged: {exc}") from None


@dataclass(frozen=True)
class _Contents:
    entry: LogEntry
    entry_bytes: bytes
    proof: dict[str, object]
    signatures: list[SignatureEntry]
    header_bytes: bytes
    note: bytes


def _open(data: bytes) -> _Contents:
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except _ZIP_ERRORS as exc:
        raise BundleError(f"not a bundle: {exc}") from None
    with z:
        entry_bytes = _read(z, "entry.json")
        try:
            entry = LogEntry.model_validate_json(entry_bytes)
            proof = json.loads(_read(z, "proof.json"))
            signatures = [SignatureEntry(**s) for s in json.loads(_read(z, "signatures.json"))]
        except (ValidationError, ValueError, TypeError) as exc:
            raise BundleError(f"bundle content unreadable: {exc}".splitlines()[0]) from None
        return _Contents(
            entry,
            entry_bytes,
            proof,
            signatures,
            _read(z, "header.json"),
            _read(z, "checkpoint.txt"),
        )


def _check_inclusion(c: _Contents, signed: SignedCheckpoint, out: BundleCheck) -> None:
    try:
        index, size = int(c.proof["leaf_index"]), int(c.proof["tree_size"])  # type: ignore[call-overload]
        hashes = [base64.b64decode(h) for h in c.proof["hashes"]]  # type: ignore[attr-defined]
        if size != signed.checkpoint.size:
            raise SigningError("the proof is for another tree size than the checkpoint")
        verify_inclusion(leaf_hash(c.entry_bytes), index, size, hashes, signed.checkpoint.root)
        out.passed("inclusion", f"leaf {index} of {size}")
    except (SigningError, KeyError, ValueError, TypeError) as exc:
        out.fail("inclusion", str(exc))


def _check_signatures(c: _Contents, out: BundleCheck) -> None:
    # The log may hold SHA-1 edXML signatures accepted under EDOC_XMLDSIG_ALLOW_SHA1:
    # they are re-verified too, and the weakness is said, not hidden.
    profiles = default_profiles(allow_xmldsig_sha1=True)
    for i, sig in enumerate(c.signatures):
        profile = profiles.get(sig.profile)
        if profile is None:
            out.fail(f"signature[{i}]", f"profile {sig.profile} unknown")
            continue
        try:
            result = profile.verify(sig.value, c.header_bytes)
        except SignatureCheckError as exc:
            out.fail(f"signature[{i}]", exc.message)
            continue
        if result.problems:
            out.fail(f"signature[{i}]", "; ".join(p.message for p in result.problems))
        else:
            subject = result.signer.subject.rfc4514_string()
            weak = (
                " (weak algorithm: accepted only under a SHA-1 setting)" if result.warnings else ""
            )
            out.passed(f"signature[{i}]", f"{result.algorithm} by {subject}{weak}")


def _check_chain(c: _Contents, anchors: list[Path], out: BundleCheck) -> None:
    verifier = Verifier(TrustStore.from_paths(anchors, []), revocation_fail_open=True)
    pkg = Package(header=b64url_encode(c.header_bytes), signatures=c.signatures)
    report = verifier.verify_bytes(pkg.to_bytes())
    # The log keeps no attachments, so their digests cannot be rechecked here.
    chain_reasons = [r.value for r in report.reasons if r is not Reason.DIGEST_MISMATCH]
    if chain_reasons:
        out.fail("chain", ", ".join(chain_reasons))
    else:
        out.passed("chain", "valid at the signing time (revocation not rechecked)")


def verify_bundle(
    data: bytes, hub_cert: x509.Certificate, trust_anchors: list[Path] | None = None
) -> BundleCheck:
    """Check a bundle with no database and no Kafka (see the module docstring)."""
    out = BundleCheck()
    # 0. The hub's seal covers every byte of the file.
    problem = _check_seal(data, hub_cert)
    if problem:
        out.fail("seal", problem)
    else:
        out.passed("seal", "every byte of the bundle is as the hub wrote it")
    c = _open(data)
    # 1. The entry file is canonical, so its hash is the leaf the log committed to.
    if c.entry.canonical_bytes() != c.entry_bytes:
        out.fail("entry", "entry.json is not in canonical form")
    else:
        out.passed("entry", f"seq {c.entry.seq}, {c.entry.identity}, verdict {c.entry.verdict}")
    # 2. The checkpoint is signed by the hub.
    try:
        signed = SignedCheckpoint.from_text(c.note.decode())
        signed.verify(hub_cert)
        out.passed("checkpoint", f"size {signed.checkpoint.size} signed by {signed.signer_name}")
    except (SigningError, UnicodeDecodeError) as exc:
        out.fail("checkpoint", str(exc))
        return out
    # 3. The entry is included in that checkpoint's tree.
    _check_inclusion(c, signed, out)
    # 4. The header and signatures are those of the entry.
    if c.entry.header is None or b64url_decode(c.entry.header) != c.header_bytes:
        out.fail("header", "header.json differs from the entry's header")
    elif hashlib.sha256(c.header_bytes).hexdigest() != c.entry.header_sha256:
        out.fail("header", "header SHA-256 differs from the entry")
    else:
        out.passed("header", f"sha256 {c.entry.header_sha256}")
    if c.signatures != c.entry.signatures:
        out.fail("signatures", "signatures.json differs from the entry")
        return out
    # 5. Each signature still verifies over the header bytes (years later, no Kafka needed).
    _check_signatures(c, out)
    # 6. Optionally the whole verification again, chain included, at the signing time.
    if trust_anchors:
        _check_chain(c, trust_anchors, out)
    return out
