"""Status lifecycle routes: overdue documents (operators) and one document's statuses."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel

from hub.api.auth import current_token, require_role
from hub.lifecycle.service import TrackedStatus, document_statuses, overdue
from hub.store.tokens import TokenInfo
from schemas.agency import AGENCY_CODE_RE

router = APIRouter(prefix="/api/v1", tags=["lifecycle"])

#: Longest overdue threshold: ten years. ``now - hours`` must stay a date; a document
#: waiting longer than this is long past any deadline anyway.
MAX_OVERDUE_HOURS = 10 * 366 * 24.0


def check_overdue_hours(hours: float) -> float:
    """``hours`` if it is a usable overdue threshold (0 lists every unhandled delivery).

    ``ValueError`` otherwise, naming the range: ``now - timedelta(hours=...)`` overflows
    for huge values and fails on ``nan``.
    """
    if not (math.isfinite(hours) and 0 <= hours <= MAX_OVERDUE_HOURS):
        raise ValueError(f"hours must be from 0 to {MAX_OVERDUE_HOURS:g}, not {hours}")
    return hours


class StatusRow(BaseModel):
    """Where a document stands with one recipient."""

    message_id: str
    recipient: str
    sender: str
    doc_code: str | None
    subject: str | None
    priority: int
    delivered_at: str
    status: str | None
    status_at: str | None


def _out(rows: list[TrackedStatus]) -> list[StatusRow]:
    return [StatusRow(**r.__dict__) for r in rows]


@router.get(
    "/overdue",
    response_model=list[StatusRow],
    summary="Documents not yet handled in time",
    dependencies=[Depends(require_role("operator", "auditor"))],
)
async def list_overdue(
    request: Request,
    agency: Annotated[
        str | None, Query(pattern=AGENCY_CODE_RE.pattern, description="as sender or recipient")
    ] = None,
    hours: Annotated[
        float | None,
        Query(
            gt=0,
            le=MAX_OVERDUE_HOURS,
            allow_inf_nan=False,
            description="default EDOC_OVERDUE_HOURS",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[StatusRow]:
    """Deliveries older than ``hours`` without status 03 or later, oldest first."""
    settings = request.app.state.settings
    rows = await overdue(
        request.app.state.engine,
        datetime.now(UTC),
        hours or settings.overdue_hours,
        agency=agency,
        limit=limit,
    )
    return _out(rows)


@router.get(
    "/documents/{message_id}/status",
    response_model=list[StatusRow],
    summary="A document's latest status with each recipient",
)
async def get_document_status(
    request: Request, message_id: uuid.UUID, token: Annotated[TokenInfo, Depends(current_token)]
) -> list[StatusRow]:
    """Operators and auditors see any document; an agency only those it sent or received."""
    rows = await document_statuses(request.app.state.engine, str(message_id))
    if token.role.startswith("agency:"):
        code = token.role.removeprefix("agency:")
        rows = [r for r in rows if code in (r.sender, r.recipient)]
    elif token.role not in ("operator", "auditor"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {token.role} may not use this route")
    if not rows:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no delivered document {message_id} for you"
        )
    return _out(rows)
