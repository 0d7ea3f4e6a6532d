"""The signature log in the database: append, query, proofs, checkpoints, integrity check.

Entries are appended in batches inside one write transaction that first takes
the writer lock (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on
PostgreSQL), reads the tree size, skips identities already present
(idempotent on ``message_id``) and inserts the rest with consecutive ``seq``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.errors import StoreError
from hub.store.db import is_sqlite
from hub.store.schema import checkpoints, log_entries, log_recipients
from schemas.bounds import check_instant
from schemas.events import VerdictEvent
from schemas.log import LogEntry, canonical_json
from schemas.package import SignatureEntry, b64url_decode, b64url_encode
from signing.checkpoint import SignedCheckpoint
from signing.merkle import consistency_proof, inclusion_proof, leaf_hash, root_hash

#: Advisory lock key serialising appends on PostgreSQL ("edoc" in ASCII).
_PG_LOCK = 0x65646F63
#: Largest sequence number or tree size a query may name (``seq`` is a signed 64-bit column);
#: a larger one would make the database driver raise instead of finding nothing.
MAX_SEQ = 2**63 - 1
_SEQ_DIGITS = len(str(MAX_SEQ))


def utc_text(dt: datetime) -> str:
    """Fixed-width UTC timestamp so text order is time order."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_from_event(event: VerdictEvent, seq: int) -> LogEntry:
    """The log entry for a verdict event at position ``seq``."""
    report = event.report
    sig = next(
        (
            s
            for s in report.signatures
            if s.signer and s.signer.organization_identifier == event.from_
        ),
        report.signatures[0] if report.signatures else None,
    )
    signer = sig.signer if sig else None
    doc: dict[str, Any] = {}
    if event.header:
        try:
            doc = json.loads(b64url_decode(event.header)).get("document") or {}
        except ValueError:
            doc = {}
    code = doc.get("code") or {}
    # Built from an already validated event: skip re-validation (appends are hot).
    return LogEntry.model_construct(
        seq=seq,
        identity=event.event_id,
        message_id=str(event.message_id) if event.message_id else None,
        kind=event.kind.value if event.kind else None,
        sender=event.from_,
        recipients=list(event.to),
        doc_number=code.get("number"),
        doc_notation=code.get("notation"),
        doc_type=doc.get("document_type"),
        subject=doc.get("subject"),
        verdict=event.verdict,
        reasons=[r.value for r in event.reasons],
        signer_subject=signer.subject if signer else None,
        signer_serial=signer.serial if signer else None,
        signer_issuer=signer.issuer if signer else None,
        signer_org_id=signer.organization_identifier if signer else None,
        profile=sig.profile if sig else None,
        algorithm=sig.algorithm if sig else None,
        signing_time=report.sent_at.isoformat() if report.sent_at else None,
        verified_at=utc_text(event.decided_at),
        header_sha256=report.header_sha256,
        package_sha256=event.package_sha256,
        header=event.header,
        signatures=list(event.signatures),
        report=report.model_dump_json(by_alias=True),
        source_topic=event.source.topic,
        source_partition=event.source.partition,
        source_offset=event.source.offset,
    )


def _to_row(entry: LogEntry) -> dict[str, Any]:
    # One dump serves both the leaf content and the columns (appends are hot).
    dumped = entry.model_dump(mode="json")
    data = {k: v for k, v in dumped.items() if k not in _NOT_COLUMNS}
    data["header_bytes"] = b64url_decode(entry.header) if entry.header is not None else None
    data["signatures"] = json.dumps(dumped["signatures"])
    data["recipients"] = json.dumps(dumped["recipients"])
    data["reasons"] = json.dumps(dumped["reasons"])
    data["leaf_hash"] = leaf_hash(canonical_json(dumped))
    return data


_NOT_COLUMNS = frozenset({"v", "header", "signatures", "recipients", "reasons"})


def row_to_entry(row: Any) -> LogEntry:
    """Rebuild an entry from its columns (the integrity check re-hashes this)."""
    m = dict(row._mapping)
    header = m.pop("header_bytes")
    m.pop("leaf_hash", None)
    return LogEntry(
        **{k: v for k, v in m.items() if k not in ("signatures", "recipients", "reasons")},
        header=b64url_encode(header) if header is not None else None,
        signatures=[SignatureEntry(**s) for s in json.loads(m["signatures"])],
        recipients=json.loads(m["recipients"]),
        reasons=json.loads(m["reasons"]),
    )


def parse_entry_key(key: str) -> int | str:
    """An entry key as typed by a user: ASCII digits are a ``seq``, anything else an id.

    ``str.isdigit`` alone also admits ``"²"`` or Arabic-Indic digits, which ``int`` then
    refuses or reads as another number; only ``0``–``9`` make a sequence number here, and
    at most 19 of them (``int`` refuses thousands of digits; no ``seq`` has 20).
    """
    if key.isascii() and key.isdigit() and len(key) <= _SEQ_DIGITS:
        return int(key)
    return key


def _matchable(value: str) -> bool:
    """False for text no stored column can hold: NUL (PostgreSQL refuses it) or unencodable."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates, e.g. from undecodable command-line bytes
        return False
    return True


def _answerable(q: Query) -> bool:
    """False when nothing can match ``q``; ``StoreError`` when ``q`` itself is wrong."""
    if q.limit < 1:
        raise StoreError(f"limit {q.limit} is below 1", hint="ask for at least one entry")
    for name, moment in (("since", q.since), ("until", q.until)):
        if moment is not None:
            try:
                check_instant(moment)
            except ValueError as exc:
                raise StoreError(
                    f"{name}: {exc}", hint="give an ISO 8601 time such as 2026-11-01T00:00Z"
                ) from None
    texts = (q.agency, q.verdict, q.reason, q.doc_code, q.signer_serial)
    return q.after_seq < MAX_SEQ and all(_matchable(t) for t in texts if t)


def split_doc_code(code: str | None) -> tuple[str | None, str | None]:
    """``"166/QĐ-UBND"`` → ``("166", "QĐ-UBND")``; a code without ``/`` is a bare number."""
    if not code:
        return None, None
    number, _, notation = code.partition("/")
    return number, notation or None


@dataclass(frozen=True)
class AppendResult:
    """What one append did."""

    added: int
    skipped: int
    tree_size: int


@dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint row."""

    tree_size: int
    root_hash: bytes
    created_at: datetime
    note: str


@dataclass
class Query:
    """Filters of an auditor query; all optional, combined with AND."""

    agency: str | None = None
    role: str = "any"  # sender | recipient | any
    since: datetime | None = None
    until: datetime | None = None
    verdict: str | None = None
    reason: str | None = None
    doc_code: str | None = None  # "number/notation", e.g. "166/QĐ-UBND"
    signer_serial: str | None = None
    after_seq: int = -1
    limit: int = 100


@dataclass
class IntegrityReport:
    """Outcome of ``verify_integrity``: ``ok`` or the first divergence found."""

    entries: int = 0
    checkpoints_checked: int = 0
    uncovered: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing diverged."""
        return not self.problems


class SignatureLog:
    """Database operations on the signature log."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def _lock(self, conn: AsyncConnection) -> None:
        if not is_sqlite(self.engine):  # SQLite: BEGIN IMMEDIATE already holds the write lock
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})

    async def append(self, events: Sequence[VerdictEvent]) -> AppendResult:
        """Append events not yet recorded (by identity), in order, in one transaction."""
        async with self.engine.begin() as conn:
            await self._lock(conn)
            size = (await conn.execute(select(func.count()).select_from(log_entries))).scalar_one()
            idents = [e.event_id for e in events]
            existing: set[str] = set()
            for i in range(0, len(idents), 500):
                chunk = idents[i : i + 500]
                rows = await conn.execute(
                    select(log_entries.c.identity).where(log_entries.c.identity.in_(chunk))
                )
                existing.update(r[0] for r in rows)
            rows_out: list[dict[str, Any]] = []
            recipients: list[dict[str, Any]] = []
            for ident, event in zip(idents, events, strict=True):
                if ident in existing:
                    continue
                existing.add(ident)
                entry = entry_from_event(event, size + len(rows_out))
                rows_out.append(_to_row(entry))
                recipients += [
                    {"seq": entry.seq, "agency": a} for a in dict.fromkeys(entry.recipients)
                ]
            if rows_out:
                await conn.execute(insert(log_entries), rows_out)
            if recipients:
                await conn.execute(insert(log_recipients), recipients)
        return AppendResult(len(rows_out), len(events) - len(rows_out), size + len(rows_out))

    async def size(self) -> int:
        """Number of entries."""
        async with self.engine.connect() as conn:
            return int(
                (await conn.execute(select(func.count()).select_from(log_entries))).scalar_one()
            )

    async def leaf_hashes(self, size: int | None = None) -> list[bytes]:
        """Stored leaf hashes in order (the first ``size`` when given)."""
        stmt = select(log_entries.c.leaf_hash).order_by(log_entries.c.seq)
        if size is not None:
            stmt = stmt.where(log_entries.c.seq < min(size, MAX_SEQ))
        async with self.engine.connect() as conn:
            return [bytes(r[0]) for r in await conn.execute(stmt)]

    async def entry(self, key: int | str) -> LogEntry | None:
        """An entry by ``seq`` (int), identity, or message id (its latest verdict) (str).

        None for a key no entry can have (a ``seq`` beyond 64 bits, text with NUL).
        """
        if isinstance(key, int) and not 0 <= key <= MAX_SEQ:
            return None
        if isinstance(key, str) and not _matchable(key):
            return None
        cond = (
            log_entries.c.seq == key
            if isinstance(key, int)
            else or_(log_entries.c.message_id == key, log_entries.c.identity == key)
        )
        stmt = select(log_entries).where(cond).order_by(log_entries.c.seq.desc()).limit(1)
        async with self.engine.connect() as conn:
            row = (await conn.execute(stmt)).first()
        return row_to_entry(row) if row else None

    async def query(self, q: Query) -> list[LogEntry]:
        """Entries matching ``q`` with ``seq > q.after_seq``, ascending, at most ``q.limit``.

        ``StoreError`` for a time outside the hub's range (``schemas.bounds``) or a limit
        below 1; text no column can hold (NUL) matches nothing. ``reason`` is one code,
        matched exactly (``%`` and ``_`` are not wildcards).
        """
        if not _answerable(q):
            return []
        c = log_entries.c
        conds = [c.seq > max(q.after_seq, -1)]
        if q.agency:
            as_recipient = c.seq.in_(
                select(log_recipients.c.seq).where(log_recipients.c.agency == q.agency)
            )
            conds.append(
                {"sender": c.sender == q.agency, "recipient": as_recipient}.get(
                    q.role, or_(c.sender == q.agency, as_recipient)
                )
            )
        if q.since:
            conds.append(c.verified_at >= utc_text(q.since))
        if q.until:
            conds.append(c.verified_at < utc_text(q.until))
        if q.verdict:
            conds.append(c.verdict == q.verdict)
        if q.reason:
            # ``reasons`` holds a JSON array: look for the code as one JSON string, with LIKE's
            # metacharacters escaped. Codes are lower case; SQLite's LIKE ignores ASCII case
            # and PostgreSQL's does not, so the needle is lowered for one answer on both.
            conds.append(c.reasons.contains(json.dumps(q.reason.lower()), autoescape=True))
        number, notation = split_doc_code(q.doc_code)
        if number:
            conds.append(c.doc_number == number)
        if notation:
            conds.append(c.doc_notation == notation)
        if q.signer_serial:
            conds.append(c.signer_serial == q.signer_serial.lower())
        limit = min(q.limit, MAX_SEQ)
        stmt = select(log_entries).where(and_(*conds)).order_by(c.seq).limit(limit)
        async with self.engine.connect() as conn:
            return [row_to_entry(r) for r in await conn.execute(stmt)]

    async def query_all(self) -> list[LogEntry]:
        """Every entry in order (for small logs, tests and exports)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(log_entries).order_by(log_entries.c.seq))
            return [row_to_entry(r) for r in rows]

    # -- checkpoints and proofs -------------------------------------------
    async def add_checkpoint(self, signed: SignedCheckpoint) -> None:
        """Store a signed checkpoint (its size must not be stored already)."""
        cp = signed.checkpoint
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(checkpoints).values(
                    tree_size=cp.size, root_hash=cp.root, created_at=cp.time, note=signed.to_text()
                )
            )

    async def checkpoints(self) -> list[StoredCheckpoint]:
        """All checkpoints, oldest first."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(checkpoints).order_by(checkpoints.c.tree_size))
            return [
                StoredCheckpoint(r.tree_size, bytes(r.root_hash), r.created_at, r.note)
                for r in rows
            ]

    async def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The newest checkpoint, if any."""
        all_cps = await self.checkpoints()
        return all_cps[-1] if all_cps else None

    async def inclusion_proof(self, seq: int, tree_size: int) -> list[bytes]:
        """Audit path of leaf ``seq`` in the tree of the first ``tree_size`` leaves."""
        if not 0 <= seq < tree_size <= MAX_SEQ:
            raise StoreError(f"entry {seq} is not in a tree of size {tree_size}")
        return inclusion_proof(seq, await self.leaf_hashes(tree_size))

    async def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """Proof that the tree of ``old_size`` is a prefix of the tree of ``new_size``."""
        if not 0 < old_size <= new_size <= MAX_SEQ:
            raise StoreError(f"no consistency proof from size {old_size} to {new_size}")
        leaves = await self.leaf_hashes(new_size)
        if len(leaves) < new_size:
            raise StoreError(f"the log holds {len(leaves)} entries, fewer than {new_size}")
        return consistency_proof(old_size, leaves)

    async def root(self, size: int) -> bytes:
        """Root hash of the first ``size`` leaves."""
        return root_hash(await self.leaf_hashes(size))


def b64(data: bytes) -> str:
    """Standard base64 text (proof hashes in JSON)."""
    return base64.b64encode(data).decode()
