"""Coverage tables in the database (SQLite or PostgreSQL, one code path).

``apply`` merges a batch of facts in one transaction with the rules of
``hub.coverage.ledger``: rows of the batch are first merged in memory with the
ledger's own functions (PostgreSQL refuses to upsert one key twice in a
statement), then upserted with ``ON CONFLICT`` clauses that apply the same
rules against the stored row — so concurrent coverage instances and redelivered
events converge on the same state. ``period_data`` reads one period back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Table, and_, case, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.coverage.facts import EventFacts, RefusalFact, ReportFact, utc_text
from hub.coverage.ledger import (
    DocumentCounts,
    DocumentRow,
    PeriodData,
    merge_document,
    merge_report,
)
from hub.coverage.periods import Period
from hub.store.schema import (
    coverage_activity,
    coverage_directory,
    coverage_documents,
    coverage_refusals,
    coverage_reports,
)
from schemas.directory import Agency

_REPORT_VALUES = (
    "sent_at",
    "message_id",
    "paper_sent",
    "secret_sent",
    "scanned_pct",
    "officials_pct",
    "level4_pct",
)


def _merge_batch(
    facts: Iterable[EventFacts],
) -> tuple[
    dict[str, DocumentRow],
    dict[str, RefusalFact],
    set[tuple[str, date]],
    dict[tuple[str, str], ReportFact],
]:
    """The batch merged in memory, one entry per key."""
    docs: dict[str, DocumentRow] = {}
    refusals: dict[str, RefusalFact] = {}
    activity: set[tuple[str, date]] = set()
    reports: dict[tuple[str, str], ReportFact] = {}
    for f in facts:
        activity.add((f.sender, f.day))
        if (d := f.document) is not None:
            row = docs.get(d.message_id)
            docs[d.message_id] = DocumentRow.from_fact(d) if row is None else merge_document(row, d)
        if f.refusal is not None:
            refusals.setdefault(f.refusal.event_id, f.refusal)
        if (r := f.report) is not None:
            reports[(r.agency, r.period)] = merge_report(reports.get((r.agency, r.period)), r)
    return docs, refusals, activity, reports


class CoverageStore:
    """Reads and writes the coverage tables."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def _insert(self, table: Table) -> Any:
        # ON CONFLICT is spelled the same on both backends, but SQLAlchemy keeps it per dialect.
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    async def apply(self, facts: Sequence[EventFacts]) -> None:
        """Merge ``facts`` in one transaction (idempotent: applying them again changes nothing)."""
        docs, refusals, activity, reports = _merge_batch(facts)
        # Rows in key order, so two instances writing overlapping keys cannot deadlock.
        async with self.engine.begin() as conn:
            if docs:
                await self._upsert_documents(conn, [docs[k] for k in sorted(docs)])
            if refusals:
                stmt = self._insert(coverage_refusals).on_conflict_do_nothing()
                await conn.execute(
                    stmt,
                    [
                        {
                            "event_id": r.event_id,
                            "message_id": r.message_id,
                            "sender": r.sender,
                            "kind": r.kind,
                            "day": r.day.isoformat(),
                            "reasons": json.dumps(list(r.reasons)),
                        }
                        for _, r in sorted(refusals.items())
                    ],
                )
            if activity:
                stmt = self._insert(coverage_activity).on_conflict_do_nothing()
                await conn.execute(
                    stmt,
                    [
                        {"day": d.isoformat(), "agency": a}
                        for d, a in sorted((d, a) for a, d in activity)
                    ],
                )
            if reports:
                await self._upsert_reports(conn, [reports[k] for k in sorted(reports)])

    async def _upsert_documents(self, conn: AsyncConnection, rows: list[DocumentRow]) -> None:
        t = coverage_documents
        stmt = self._insert(t)
        new = stmt.excluded
        newer_refusal = and_(
            new.last_refused_at.is_not(None),
            or_(t.c.last_refused_at.is_(None), new.last_refused_at >= t.c.last_refused_at),
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.c.message_id],
            set_={
                "day": case((new.day < t.c.day, new.day), else_=t.c.day),
                "valid": or_(t.c.valid, new.valid),
                "classified": or_(t.c.classified, new.classified),
                "weak": or_(t.c.weak, new.weak),
                "last_reasons": case((newer_refusal, new.last_reasons), else_=t.c.last_reasons),
                "last_refused_at": case(
                    (newer_refusal, new.last_refused_at), else_=t.c.last_refused_at
                ),
            },
        )
        await conn.execute(
            stmt,
            [
                {
                    "message_id": r.message_id,
                    "sender": r.sender,
                    "day": r.day.isoformat(),
                    "valid": r.valid,
                    "classified": r.classified,
                    "last_reasons": json.dumps(list(r.last_reasons)),
                    "last_refused_at": r.last_refused_at,
                    "weak": r.weak,
                }
                for r in rows
            ],
        )

    async def _upsert_reports(self, conn: AsyncConnection, rows: list[ReportFact]) -> None:
        t = coverage_reports
        stmt = self._insert(t)
        new = stmt.excluded
        later = or_(
            new.sent_at > t.c.sent_at,
            and_(new.sent_at == t.c.sent_at, new.message_id > t.c.message_id),
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.c.agency, t.c.period],
            set_={c: case((later, new[c]), else_=t.c[c]) for c in _REPORT_VALUES},
        )
        await conn.execute(
            stmt,
            [{"agency": r.agency, "period": r.period} | _report_values(r) for r in rows],
        )

    async def period_data(self, period: Period) -> PeriodData:
        """Everything stored about ``period`` (the input of ``compute.build_report``)."""
        first, end = period.day_range
        d, r, a, rep = coverage_documents, coverage_refusals, coverage_activity, coverage_reports
        secret = and_(d.c.classified, ~d.c.valid)
        doc_q = (
            select(
                d.c.sender,
                func.sum(case((secret, 0), else_=1)),
                func.sum(case((and_(d.c.valid, ~secret), 1), else_=0)),
                func.sum(case((secret, 1), else_=0)),
                func.sum(case((and_(d.c.weak, d.c.valid), 1), else_=0)),
            )
            .where(d.c.day >= first, d.c.day < end)
            .group_by(d.c.sender)
            .order_by(d.c.sender)
        )
        async with self.engine.connect() as conn:
            documents = {
                s: DocumentCounts(int(n), int(v), int(x), int(w))
                for s, n, v, x, w in await conn.execute(doc_q)
            }
            refusals = [
                RefusalFact(
                    event_id=row.event_id,
                    message_id=row.message_id,
                    sender=row.sender,
                    kind=row.kind,
                    day=date.fromisoformat(row.day),
                    reasons=tuple(json.loads(row.reasons)),
                )
                for row in await conn.execute(
                    select(r)
                    .where(r.c.day >= first, r.c.day < end)
                    .order_by(r.c.sender, r.c.event_id)
                )
            ]
            active = frozenset(
                (
                    await conn.execute(
                        select(a.c.agency).distinct().where(a.c.day >= first, a.c.day < end)
                    )
                ).scalars()
            )
            reports = [
                ReportFact(
                    agency=row.agency,
                    period=row.period,
                    **{c: getattr(row, c) for c in _REPORT_VALUES},
                )
                for row in await conn.execute(
                    select(rep)
                    .where(rep.c.period.in_(period.labels_within()))
                    .order_by(rep.c.agency, rep.c.period)
                )
            ]
        return PeriodData(period, documents, refusals, active, reports)

    async def save_agencies(self, agencies: Iterable[Agency]) -> None:
        """Keep directory entries received at run time (they win over the directory file)."""
        now = utc_text(datetime.now(UTC))
        rows = [{"code": a.code, "entry": a.model_dump_json(), "updated_at": now} for a in agencies]
        if not rows:
            return
        stmt = self._insert(coverage_directory)
        stmt = stmt.on_conflict_do_update(
            index_elements=[coverage_directory.c.code],
            set_={"entry": stmt.excluded.entry, "updated_at": stmt.excluded.updated_at},
        )
        async with self.engine.begin() as conn:
            await conn.execute(stmt, rows)

    async def saved_agencies(self) -> list[Agency]:
        """Directory entries received at run time, by code."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(coverage_directory.c.entry).order_by(coverage_directory.c.code)
            )
            return [Agency.model_validate_json(e) for e in rows.scalars()]


def _report_values(r: ReportFact) -> dict[str, Any]:
    return {c: getattr(r, c) for c in _REPORT_VALUES}
