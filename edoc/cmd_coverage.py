"""``edoc coverage``: how far each agency is from the plan's targets, as a table, JSON or CSV.

Reads the database the coverage service fills (``EDOC_DATABASE_URL``); the
numbers are those of ``GET /api/v1/coverage`` (same code, ``hub.coverage.query``).
"""

from __future__ import annotations

import asyncio
import csv
import sys
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from edoc.cmd_audit import OptionError
from hub.coverage.errors import PeriodError
from hub.coverage.models import INDICATORS, CoverageReport, CoverageRow, Indicator, csv_columns
from hub.coverage.periods import Period
from hub.coverage.query import CoverageRequest, coverage_report
from hub.settings import get_settings
from hub.store.db import make_engine, migrate
from schemas.directory import Level

_err = Console(stderr=True)

#: Column titles of the table, in indicator order.
SHORT_TITLES = {
    "e_documents": "e-docs",
    "signature_use": "signed",
    "scanned": "scanned",
    "officials": "officials",
    "level4": "level 4",
}


class Format(StrEnum):
    """Output formats of ``edoc coverage``."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def _load(request: CoverageRequest) -> CoverageReport:
    async def main() -> CoverageReport:
        settings = get_settings()
        engine = make_engine(settings.database_url)
        try:
            await migrate(engine, app_role=settings.database_app_role)
            return await coverage_report(engine, settings, request)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _cell(ind: Indicator) -> Text:
    if ind.value is None:
        return Text("?", style="dim")
    met = ind.gap is not None and ind.gap <= 0
    text = Text(f"{ind.value:.2f}", style="green" if met else "red")
    if ind.trend is not None:
        arrow = "▲" if ind.trend > 0 else "▼" if ind.trend < 0 else "="
        text.append(f"\n{arrow}{abs(ind.trend):.2f}", style="dim")
    return text


def _documents(row: CoverageRow) -> str:
    c = row.counts
    out = f"{c.valid}/{c.documents}+{c.paper}p"
    if c.secret:
        out += f"\n{c.secret} secret"
    return out


def print_table(report: CoverageReport, console: Console) -> None:
    """The report as rich tables: rows, then laggards and unknown agencies."""
    table = Table(
        title=f"Coverage {report.period} ({report.first_day} – {report.last_day}), "
        f"% with trend vs {report.previous_period}",
        caption="targets: "
        + ", ".join(f"{SHORT_TITLES[k]} {report.targets[k]:g}%" for k in INDICATORS)
        + " · ? = unknown · docs = valid/electronic+paper"
        + " · SHA-1 = valid documents with a weak SHA-1 signature (counted as signed)",
    )
    table.add_column("code", no_wrap=True)
    table.add_column("agency", overflow="ellipsis", no_wrap=True, max_width=34)
    for key in INDICATORS:
        table.add_column(SHORT_TITLES[key], justify="right", no_wrap=True)
    table.add_column("docs", no_wrap=True)
    table.add_column("bad sig.", justify="right")
    table.add_column("SHA-1", justify="right")
    base = min((r.depth for r in report.rows), default=0)
    for row in report.rows:
        table.add_row(
            row.code,
            "  " * (row.depth - base) + row.name,
            *(_cell(row.indicators[k]) for k in INDICATORS),
            _documents(row),
            str(sum(row.invalid_signatures.values()) or ""),
            Text(str(row.counts.signed_weak), style="yellow") if row.counts.signed_weak else "",
        )
    console.print(table)
    if report.laggards:
        lag = Table("code", "agency", "indicator", "value", "target", "gap")
        lag.title = "Furthest below target"
        for item in report.laggards:
            lag.add_row(
                item.code,
                item.name,
                SHORT_TITLES[item.indicator],
                f"{item.value:.2f}%",
                f"{item.target:g}%",
                f"{item.gap:.2f}",
            )
        console.print(lag)
    if report.unknown:
        console.print(
            f"unknown (no traffic, no report): {len(report.unknown)} — "
            + ", ".join(report.unknown),
            style="dim",
        )


def coverage(
    period: Annotated[
        str | None,
        typer.Option(help="YYYY-MM, YYYY-Qn or YYYY  [default: this month, province time]"),
    ] = None,
    level: Annotated[
        Level | None, typer.Option(help="only rows of this level (each with what is under it)")
    ] = None,
    agency: Annotated[
        str | None, typer.Option(help="only this agency and what is under it")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table | json | csv")] = Format.TABLE,
    laggards: Annotated[int, typer.Option(help="most laggards to list")] = 10,
) -> None:
    """Indicators of the plan (Decision 166/QĐ-UBND §II.6.d) per agency, with gap and trend."""
    if period is not None:
        try:
            Period.parse(period)  # a typo fails before the database is opened
        except PeriodError as exc:
            raise OptionError(f"--period: {exc.message}", hint=exc.hint) from None
    request = CoverageRequest(period=period, level=level, agency=agency, laggards=laggards)
    with _err.status("Computing coverage…"):
        report = _load(request)
    if fmt is Format.JSON:
        typer.echo(report.model_dump_json(indent=1))
    elif fmt is Format.CSV:
        writer = csv.DictWriter(sys.stdout, fieldnames=csv_columns())
        writer.writeheader()
        writer.writerows(report.flat_rows())
    else:
        print_table(report, Console())


def register(app: typer.Typer) -> None:
    """Add ``coverage`` to the root command."""
    app.command("coverage")(coverage)
