"""Coverage API: indicators per agency and period, rolled up the directory tree; laggards.

Roles ``operator`` and ``auditor``; agency tokens get 403 (an agency's view of
its own figures is a later feature), no or unknown token 401.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel

from hub.api.auth import require_role
from hub.coverage.errors import CoverageError, UnknownAgencyError
from hub.coverage.models import CoverageReport, Laggard
from hub.coverage.query import MAX_LAGGARDS, CoverageRequest, coverage_report
from hub.settings import Settings
from schemas.directory import Level
from schemas.header import PERIOD_PATTERN

PeriodParam = Annotated[
    str | None,
    Query(
        pattern=PERIOD_PATTERN,
        description="YYYY-MM, YYYY-Qn or YYYY; default: the current month (province time)",
        examples=["2026-11"],
    ),
]
LevelParam = Annotated[
    Level | None, Query(description="only rows of this level (each with everything under it)")
]
AgencyParam = Annotated[
    str | None,
    Query(description="only this agency and what is under it", examples=["000.00.26.H49"]),
]
LimitParam = Annotated[int, Query(ge=0, le=MAX_LAGGARDS, description="most laggards to list")]


class LaggardList(BaseModel):
    """The rows furthest below target."""

    period: str
    level: Level | None
    agency: str | None
    laggards: list[Laggard]
    unknown: list[str]


def make_router(settings: Settings) -> APIRouter:
    """The ``/api/v1/coverage`` routes, reading the directory and time zone from ``settings``."""
    router = APIRouter(
        prefix="/api/v1/coverage",
        tags=["coverage"],
        dependencies=[Depends(require_role("operator", "auditor"))],
    )

    async def _report(request: Request, req: CoverageRequest) -> CoverageReport:
        try:
            return await coverage_report(request.app.state.engine, settings, req)
        except UnknownAgencyError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, exc.diagnostics()) from None
        except CoverageError as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, exc.diagnostics()) from None

    @router.get("", response_model=CoverageReport, summary="Coverage of a period")
    async def coverage(
        request: Request,
        period: PeriodParam = None,
        level: LevelParam = None,
        agency: AgencyParam = None,
        laggards: LimitParam = 10,
    ) -> CoverageReport:
        """Every indicator against its target, with gap and trend, for each selected agency.

        A row is an agency with everything under it in the directory. Values are
        percentages; null means unknown (no traffic and no report), never 0 or 100.
        ``counts.signed_weak`` are the valid documents whose signature was accepted
        only because SHA-1 is allowed (``EDOC_XMLDSIG_ALLOW_SHA1``): counted as
        signed, and shown apart so agencies can be moved off SHA-1.
        """
        return await _report(request, CoverageRequest(period, level, agency, laggards))

    @router.get("/laggards", response_model=LaggardList, summary="Agencies furthest below target")
    async def laggard_list(
        request: Request,
        period: PeriodParam = None,
        level: LevelParam = None,
        agency: AgencyParam = None,
        limit: LimitParam = 10,
    ) -> LaggardList:
        """The selected rows with an indicator below target, largest gap first."""
        report = await _report(request, CoverageRequest(period, level, agency, limit))
        return LaggardList(
            period=report.period,
            level=report.level,
            agency=report.agency,
            laggards=report.laggards,
            unknown=report.unknown,
        )

    return router
