"""From a request (period, level, agency) to a coverage report: directory + store + compute.

Used alike by ``edoc coverage`` and ``GET /api/v1/coverage``, so both always
show the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.coverage.compute import build_report
from hub.coverage.errors import CoverageError
from hub.coverage.models import CoverageReport
from hub.coverage.periods import Period, current_month, load_timezone
from hub.coverage.store import CoverageStore
from hub.directory import Directory, load_directory_file
from hub.errors import DirectoryError
from hub.settings import Settings
from schemas.agency import AGENCY_CODE_RE
from schemas.directory import Agency, Level

#: Most laggards a request may ask for.
MAX_LAGGARDS = 500


@dataclass(frozen=True)
class CoverageRequest:
    """What to report: ``period`` text (default: this month), optional level and subtree."""

    period: str | None = None
    level: Level | None = None
    agency: str | None = None
    laggards: int = 10

    def resolve_period(self, settings: Settings) -> Period:
        """The period asked for, or the current month in the province's time zone."""
        if self.period is None:
            return current_month(load_timezone(settings.coverage_timezone))
        return Period.parse(self.period)


async def load_agencies(settings: Settings, store: CoverageStore) -> list[Agency]:
    """The directory file with the entries received on ``edoc.directory`` applied on top.

    Entries whose parent is unknown are skipped, as the router skips them.
    """
    directory = Directory(load_directory_file(settings.directory_file))
    for entry in await store.saved_agencies():
        try:
            directory.upsert([entry])
        except DirectoryError:
            continue
    return directory.agencies()


async def coverage_report(
    engine: AsyncEngine, settings: Settings, request: CoverageRequest
) -> CoverageReport:
    """The coverage report for ``request`` from the database behind ``engine``."""
    if request.agency is not None and not AGENCY_CODE_RE.fullmatch(request.agency):
        raise CoverageError(
            f"{request.agency!r} is not an agency code",
            hint="agency codes look like 000.00.26.H49 (ddd.dd.dd.Xnn)",
        )
    if not 0 <= request.laggards <= MAX_LAGGARDS:
        raise CoverageError(
            f"cannot list {request.laggards} laggards", hint=f"ask for 0 to {MAX_LAGGARDS}"
        )
    period = request.resolve_period(settings)
    store = CoverageStore(engine)
    agencies = await load_agencies(settings, store)
    current = await store.period_data(period)
    previous = await store.period_data(period.previous())
    return build_report(
        current,
        previous,
        agencies,
        exclude=[settings.hub_code],
        level=request.level,
        agency=request.agency,
        laggard_limit=request.laggards,
    )
