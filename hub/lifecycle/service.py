"""Status lifecycle: where each delivered document stands with each recipient.

A service follows ``edoc.events`` and keeps, per (document, recipient), the latest
edXML status (03 accepted … 06 completed, 13/15/16 recall). Documents with no
status 03 or later after ``EDOC_OVERDUE_HOURS`` are *overdue*: Decision 28/2018
expects incoming documents to be registered the same working day.

Idempotent on replays: a status only replaces an older one (by its ``sent_at``),
and a delivery row is inserted once.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import ValidationError
from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.kafka.guard import Record, json_decoder
from hub.kafka.stream import BatchConsumer
from hub.settings import Settings
from hub.store.log import utc_text
from hub.store.schema import document_status
from schemas import wire
from schemas.events import VerdictEvent
from schemas.header import Header, Kind
from schemas.package import b64url_decode

log = logging.getLogger(__name__)

#: Status codes that mean the recipient has taken the document in hand.
HANDLED = ("03", "04", "05", "06", "15", "16")


@dataclass(frozen=True)
class TrackedStatus:
    """One (document, recipient) row."""

    message_id: str
    recipient: str
    sender: str
    doc_code: str | None
    subject: str | None
    priority: int
    delivered_at: str
    status: str | None
    status_at: str | None


def _header(event: VerdictEvent) -> Header | None:
    if event.header is None:
        return None
    try:
        return Header.model_validate_json(b64url_decode(event.header))
    except (ValidationError, ValueError):
        return None


async def _apply(conn: AsyncConnection, event: VerdictEvent) -> None:
    header = _header(event)
    if header is None or event.verdict != "ok":
        return
    if header.kind is Kind.DOCUMENT and header.document is not None:
        doc = header.document
        for recipient in header.to:
            exists = await conn.execute(
                select(document_status.c.message_id).where(
                    document_status.c.message_id == str(header.message_id),
                    document_status.c.recipient == recipient,
                )
            )
            if exists.first() is None:
                await conn.execute(
                    insert(document_status).values(
                        message_id=str(header.message_id),
                        recipient=recipient,
                        sender=header.sender,
                        doc_code=f"{doc.code.number}/{doc.code.notation}",
                        subject=doc.subject,
                        priority=doc.priority,
                        delivered_at=utc_text(event.decided_at),
                    )
                )
    elif header.kind is Kind.STATUS and header.status is not None:
        st = header.status
        # A recipient reports to the sender (03–06, 15, 16); the sender asks for a recall (13).
        who = [header.sender] if st.code.value != "13" else list(header.to)
        at = utc_text(header.sent_at)
        c = document_status.c
        await conn.execute(
            update(document_status)
            .where(
                c.message_id == str(st.ref_message_id),
                c.recipient.in_(who),
                or_(c.status_at.is_(None), c.status_at < at),
            )
            .values(status=st.code.value, status_at=at, status_message_id=str(header.message_id))
        )


class LifecycleService(BatchConsumer):
    """Keeps ``document_status`` in step with ``edoc.events`` (a FastStream batch consumer)."""

    def __init__(self, settings: Settings, engine: AsyncEngine) -> None:
        super().__init__(
            settings, "lifecycle", wire.EVENTS, settings.lifecycle_group, max_records=500
        )
        self.engine = engine
        self._decode = json_decoder(VerdictEvent)

    async def handle(self, records: list[Record]) -> bool:
        """Apply a batch in one transaction; an event that cannot be applied is parked."""
        items = await self.guard.decode(records, self._decode)
        return items is not None and await self.guard.apply(
            items, lambda events: apply_events(self.engine, events)
        )


async def apply_events(engine: AsyncEngine, events: list[VerdictEvent]) -> None:
    """Apply verdict events in order, in one transaction (safe to replay)."""
    for attempt in range(3):
        try:
            async with engine.begin() as conn:
                for event in events:
                    await _apply(conn, event)
            return
        except IntegrityError:
            # Another writer inserted the same delivery row between our check and insert.
            if attempt == 2:
                raise


def _row(r: object) -> TrackedStatus:
    m = r._mapping  # type: ignore[attr-defined]
    return TrackedStatus(**{k: m[k] for k in TrackedStatus.__dataclass_fields__})


async def overdue(
    engine: AsyncEngine, now: datetime, hours: float, *, agency: str | None = None, limit: int = 500
) -> list[TrackedStatus]:
    """Deliveries older than ``hours`` whose recipient has not handled them (oldest first)."""
    c = document_status.c
    conds = [
        c.delivered_at < utc_text(now - timedelta(hours=hours)),
        or_(c.status.is_(None), c.status.not_in(HANDLED)),
    ]
    if agency:
        conds.append(or_(c.recipient == agency, c.sender == agency))
    stmt = select(document_status).where(and_(*conds)).order_by(c.delivered_at).limit(limit)
    async with engine.connect() as conn:
        return [_row(r) for r in await conn.execute(stmt)]


async def document_statuses(engine: AsyncEngine, message_id: str) -> list[TrackedStatus]:
    """Every recipient's latest status of one document."""
    stmt = (
        select(document_status)
        .where(document_status.c.message_id == message_id)
        .order_by(document_status.c.recipient)
    )
    async with engine.connect() as conn:
        return [_row(r) for r in await conn.execute(stmt)]


def to_json(rows: list[TrackedStatus]) -> str:
    """Rows as a JSON array."""
    return json.dumps([r.__dict__ for r in rows], ensure_ascii=False, indent=1)
