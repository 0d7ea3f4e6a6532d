"""Data the console pages and the ops API assemble from the monitor, the store and other APIs.

Coverage and overdue figures are fetched through the hub's own HTTP API
(``/api/v1/coverage``, ``/api/v1/overdue``) in-process, with the caller's
session, so the console shows exactly what the API serves and works whether or
not those features are installed (a 404 means "not available here").
"""

from __future__ import annotations

import contextlib
import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI, Request
from sqlalchemy import or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.directory import load_directory_file
from hub.ops.monitor import Monitor
from hub.ops.rejected import RejectedItem
from hub.settings import Settings
from hub.store.schema import log_entries, log_recipients
from schemas.directory import Agency
from schemas.errors import EdocError

#: Seconds the directory is cached between page views.
_DIRECTORY_TTL = 30.0


async def agencies(app: FastAPI) -> list[Agency]:
    """The directory file plus live updates kept by the coverage service (when installed)."""
    cached = getattr(app.state, "console_directory", None)
    if cached is not None and time.monotonic() - cached[0] < _DIRECTORY_TTL:
        result: list[Agency] = cached[1]
        return result
    settings: Settings = app.state.settings
    found: list[Agency]
    try:
        from hub.coverage.query import load_agencies  # noqa: PLC0415 -- optional feature
        from hub.coverage.store import CoverageStore  # noqa: PLC0415

        found = await load_agencies(settings, CoverageStore(app.state.engine))
    except (ImportError, SQLAlchemyError, EdocError):
        found = load_directory_file(settings.directory_file)
    app.state.console_directory = (time.monotonic(), found)
    return found


async def names(app: FastAPI) -> dict[str, str]:
    """Agency code → name."""
    return {a.code: a.name for a in await agencies(app)}


def rejected_json(item: RejectedItem) -> dict[str, Any]:
    """A rejected-queue item as JSON (no original bytes)."""
    return {
        "ref": item.ref,
        "partition": item.partition,
        "offset": item.offset,
        "at": item.at.isoformat(timespec="milliseconds"),
        "reasons": item.reasons,
        "message_id": item.message_id,
        "kind": item.kind,
        "from": item.sender,
        "to": item.recipients,
        "subject": item.subject,
        "doc_code": item.doc_code,
        "package_sha256": item.package_sha256,
        "size": item.size,
        "reprocessed": item.reprocessed,
    }


async def recent_entries(engine: AsyncEngine, code: str, limit: int = 15) -> list[dict[str, Any]]:
    """The newest signature-log entries sent or received by ``code`` (a summary, newest first)."""
    received = select(log_recipients.c.seq).where(log_recipients.c.agency == code)
    query = (
        select(
            log_entries.c.seq,
            log_entries.c.verified_at,
            log_entries.c.kind,
            log_entries.c.sender,
            log_entries.c.recipients,
            log_entries.c.subject,
            log_entries.c.verdict,
            log_entries.c.reasons,
            log_entries.c.message_id,
        )
        .where(or_(log_entries.c.sender == code, log_entries.c.seq.in_(received)))
        .order_by(log_entries.c.seq.desc())
        .limit(limit)
    )
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(query)).all()
    except SQLAlchemyError:
        return []
    return [
        {
            "seq": r.seq,
            "verified_at": r.verified_at,
            "kind": r.kind,
            "sender": r.sender,
            "recipients": json.loads(r.recipients),
            "subject": r.subject,
            "verdict": r.verdict,
            "reasons": json.loads(r.reasons),
            "message_id": r.message_id,
        }
        for r in rows
    ]


def _unread(monitor: Monitor, code: str) -> int | None:
    """Records in ``code``'s inbox its gateway client has not acknowledged (None: no client)."""
    rows = [r for r in monitor.health.lag if r.service == "gateway" and r.group.endswith(code)]
    return sum(r.lag for r in rows) if rows else None


async def _coverage_row(app: FastAPI, code: str) -> dict[str, Any] | None:
    try:
        from hub.coverage.query import CoverageRequest, coverage_report  # noqa: PLC0415
    except ImportError:
        return None
    with contextlib.suppress(EdocError, SQLAlchemyError, ValueError):
        report = await coverage_report(
            app.state.engine, app.state.settings, CoverageRequest(agency=code, laggards=0)
        )
        for row in report.rows:
            if row.code == code:
                out: dict[str, Any] = row.model_dump(mode="json")
                out["period"] = report.period
                return out
    return None


async def agency_report(app: FastAPI, code: str) -> dict[str, Any]:
    """One agency: directory entry, live traffic, refusals, unread inbox, indicators."""
    directory = {a.code: a for a in await agencies(app)}
    entry = directory.get(code)
    monitor: Monitor = app.state.monitor
    return {
        "agency": entry.model_dump(mode="json") if entry else None,
        "children": [a.code for a in directory.values() if a.parent == code],
        "flow": monitor.stats.agency(code, datetime.now(UTC)),
        "inbox_unread": _unread(monitor, code),
        "coverage": await _coverage_row(app, code),
    }


async def internal_get(request: Request, path: str, params: dict[str, Any]) -> tuple[int, Any]:
    """GET one of the hub's own API routes in-process, as the signed-in user (cookie)."""
    transport = httpx.ASGITransport(app=request.app)
    cookies = {k: v for k, v in request.cookies.items() if k.startswith("edoc_")}
    clean = {k: v for k, v in params.items() if v not in (None, "")}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://hub.internal", cookies=cookies, timeout=30
    ) as client:
        response = await client.get(path, params=clean)
    try:
        body = response.json()
    except ValueError:
        body = None
    return response.status_code, body
