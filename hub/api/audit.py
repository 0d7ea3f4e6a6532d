"""Auditor API: query the signature log, fetch an entry with its inclusion proof, checkpoints."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel

from hub.api.auth import require_role
from hub.errors import StoreError
from hub.store import log as logstore
from hub.store.log import MAX_SEQ, SignatureLog, parse_entry_key
from schemas.agency import AGENCY_CODE_RE
from schemas.bounds import BoundedDatetime
from schemas.log import LogEntry
from signing.merkle import leaf_hash

#: A reason code (``schemas.reasons``): lower-case letters, digits and ``_``.
REASON_PATTERN = r"^[a-z][a-z0-9_]*$"
#: A document code: printable text, no control characters (PostgreSQL refuses NUL).
PRINTABLE_PATTERN = r"^[^\x00-\x1f\x7f]+$"
#: A certificate serial number in hex.
SERIAL_PATTERN = r"^[0-9A-Fa-f]+$"

router = APIRouter(
    prefix="/api/v1/audit", tags=["audit"], dependencies=[Depends(require_role("auditor"))]
)


class EntrySummary(BaseModel):
    """One row of a query result."""

    seq: int
    message_id: str | None
    kind: str | None
    sender: str | None
    recipients: list[str]
    doc_code: str | None
    subject: str | None
    verdict: str
    reasons: list[str]
    signer_serial: str | None
    signer_org_id: str | None
    verified_at: str


class EntryPage(BaseModel):
    """A page of results; pass ``next_cursor`` as ``cursor`` for the next page."""

    entries: list[EntrySummary]
    next_cursor: str | None


class InclusionProof(BaseModel):
    """RFC 9162 audit path of one leaf, hashes in standard base64."""

    leaf_index: int
    tree_size: int
    hashes: list[str]


class EntryWithProof(BaseModel):
    """An entry, its leaf hash, and its inclusion in the latest checkpoint (if covered yet)."""

    entry: LogEntry
    leaf_hash: str
    proof: InclusionProof | None
    checkpoint: str | None


class CheckpointOut(BaseModel):
    """A signed checkpoint (``note`` is the text to verify with the hub certificate)."""

    tree_size: int
    root_hash: str
    created_at: datetime
    note: str


class ConsistencyProof(BaseModel):
    """RFC 9162 consistency proof between two tree sizes."""

    first: int
    second: int
    hashes: list[str]


def _log(request: Request) -> SignatureLog:
    signature_log: SignatureLog = request.app.state.log
    return signature_log


def _summary(e: LogEntry) -> EntrySummary:
    code = f"{e.doc_number}/{e.doc_notation}" if e.doc_number and e.doc_notation else None
    return EntrySummary(
        seq=e.seq,
        message_id=e.message_id,
        kind=e.kind,
        sender=e.sender,
        recipients=e.recipients,
        doc_code=code,
        subject=e.subject,
        verdict=e.verdict,
        reasons=e.reasons,
        signer_serial=e.signer_serial,
        signer_org_id=e.signer_org_id,
        verified_at=e.verified_at,
    )


def _decode_cursor(cursor: str | None) -> int:
    """The ``seq`` a ``next_cursor`` names; 400 for anything this API did not hand out."""
    if not cursor:
        return -1
    try:
        text = base64.urlsafe_b64decode(cursor.encode() + b"==").decode("ascii")
    except (ValueError, binascii.Error):
        text = ""
    # Only what ``next_cursor`` encodes: ASCII digits of a seq (int() would also take
    # "-5", " 7", "1_0", other scripts' digits, and raise on thousands of digits).
    seq = parse_entry_key(text)
    if not isinstance(seq, int) or seq > MAX_SEQ:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "invalid cursor")
    return seq


@router.get("/entries", response_model=EntryPage, summary="Query the signature log")
async def query_entries(
    request: Request,
    agency: Annotated[
        str | None, Query(pattern=AGENCY_CODE_RE.pattern, description="agency code")
    ] = None,
    role: Annotated[Literal["sender", "recipient", "any"], Query()] = "any",
    since: Annotated[
        BoundedDatetime | None,
        Query(description="verified at or after (ISO 8601 with offset, years 2000-2199)"),
    ] = None,
    until: Annotated[
        BoundedDatetime | None,
        Query(description="verified before (ISO 8601 with offset, years 2000-2199)"),
    ] = None,
    verdict: Annotated[Literal["ok", "rejected"] | None, Query()] = None,
    reason: Annotated[
        str | None,
        Query(
            pattern=REASON_PATTERN,
            max_length=64,
            description="one reason code, matched exactly, e.g. bad_signature",
        ),
    ] = None,
    doc_code: Annotated[
        str | None,
        Query(
            pattern=PRINTABLE_PATTERN,
            max_length=128,
            description="number/notation, e.g. 166/QĐ-UBND",
        ),
    ] = None,
    signer_serial: Annotated[
        str | None,
        Query(pattern=SERIAL_PATTERN, max_length=128, description="certificate serial, hex"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[
        str | None, Query(max_length=64, description="next_cursor of the previous page")
    ] = None,
) -> EntryPage:
    """Entries matching every filter given, oldest first, a page at a time."""
    q = logstore.Query(
        agency=agency,
        role=role,
        since=since,
        until=until,
        verdict=verdict,
        reason=reason,
        doc_code=doc_code,
        signer_serial=signer_serial,
        after_seq=_decode_cursor(cursor),
        limit=limit + 1,
    )
    try:
        found = await _log(request).query(q)
    except StoreError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, exc.diagnostics()) from None
    page, more = found[:limit], len(found) > limit
    next_cursor = (
        base64.urlsafe_b64encode(str(page[-1].seq).encode()).decode().rstrip("=") if more else None
    )
    return EntryPage(entries=[_summary(e) for e in page], next_cursor=next_cursor)


@router.get("/entries/{key}", response_model=EntryWithProof, summary="One entry with its proof")
async def get_entry(request: Request, key: str) -> EntryWithProof:
    """By sequence number or message id; the proof is against the latest checkpoint."""
    log = _log(request)
    entry = await log.entry(parse_entry_key(key))
    if entry is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no log entry {key}")
    cp = await log.latest_checkpoint()
    proof = None
    if cp is not None and entry.seq < cp.tree_size:
        hashes = await log.inclusion_proof(entry.seq, cp.tree_size)
        proof = InclusionProof(
            leaf_index=entry.seq, tree_size=cp.tree_size, hashes=[logstore.b64(h) for h in hashes]
        )
    return EntryWithProof(
        entry=entry,
        leaf_hash=logstore.b64(leaf_hash(entry.canonical_bytes())),
        proof=proof,
        checkpoint=cp.note if proof and cp else None,
    )


@router.get("/checkpoints/latest", response_model=CheckpointOut, summary="Latest checkpoint")
async def latest_checkpoint(request: Request) -> CheckpointOut:
    """The newest signed checkpoint."""
    cp = await _log(request).latest_checkpoint()
    if cp is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no checkpoint yet")
    return CheckpointOut(
        tree_size=cp.tree_size,
        root_hash=logstore.b64(cp.root_hash),
        created_at=cp.created_at,
        note=cp.note,
    )


@router.get("/consistency", response_model=ConsistencyProof, summary="Consistency proof")
async def consistency(
    request: Request,
    first: Annotated[int, Query(ge=1, le=MAX_SEQ, description="older tree size")],
    second: Annotated[int, Query(ge=1, le=MAX_SEQ, description="newer tree size")],
) -> ConsistencyProof:
    """Proof that the log at ``first`` entries is a prefix of the log at ``second``."""
    try:
        hashes = await _log(request).consistency_proof(first, second)
    except StoreError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, exc.message) from None
    return ConsistencyProof(first=first, second=second, hashes=[logstore.b64(h) for h in hashes])
