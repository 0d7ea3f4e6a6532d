"""The coverage report as the API serves it and the CLI prints it (JSON, table, CSV).

Percentages are 0–100 with two decimals. ``gap`` is ``target − value`` in
percentage points (zero or negative: the target is met), ``trend`` is
``value − previous`` in points. ``None`` (JSON ``null``) means unknown: no
traffic and no report to measure — never 0 % or 100 %.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from schemas.directory import Level

#: Indicator keys, in the order of the plan's table (DESIGN.md).
INDICATORS: tuple[str, ...] = ("e_documents", "signature_use", "scanned", "officials", "level4")

#: One line per indicator, for tables and the API description.
INDICATOR_TITLES: dict[str, str] = {
    "e_documents": "non-secret documents sent electronically with a valid signature",
    "signature_use": "agencies whose outgoing traffic was all validly signed",
    "scanned": "documents scanned and entered in the operations system (reported)",
    "officials": "officials working through the operations system (reported)",
    "level4": "administrative dossiers processed online at level 4 (reported)",
}

Status = Literal["met", "below", "unknown"]
ReportState = Literal["complete", "partial", "missing"]


class Indicator(BaseModel):
    """One indicator of one row."""

    target: float
    value: float | None = Field(description="percent; null = unknown")
    gap: float | None = Field(description="target − value, points; ≤ 0 when met")
    previous: float | None = Field(description="value in the previous period")
    trend: float | None = Field(description="value − previous, points")


class Counts(BaseModel):
    """The numbers behind a row's indicators (summed over the agency and everything under it)."""

    documents: int = Field(description="non-secret documents sent electronically")
    valid: int = Field(description="of those, accepted by the hub with a valid signature")
    signed_weak: int = Field(
        description="of the valid ones, accepted with a weak (SHA-1) signature because "
        "EDOC_XMLDSIG_ALLOW_SHA1 is set; still counted as valid and signed"
    )
    paper: int = Field(description="non-secret documents sent on paper (reported)")
    secret: int = Field(description="secret documents, outside the target (refused + reported)")
    agencies: int
    agencies_with_traffic: int
    agencies_signing_ok: int
    agencies_signing_weak: int = Field(
        description="agencies with at least one document accepted with a weak (SHA-1) signature"
    )
    agencies_reporting: int
    agencies_unknown: int = Field(description="no traffic and no report")


class CoverageRow(BaseModel):
    """An agency with everything under it in the directory tree."""

    code: str
    name: str
    level: Level
    parent: str | None
    depth: int = Field(description="0 for a root of the directory tree")
    status: Status
    report: ReportState = Field(description="the agency's own register report for the period")
    indicators: dict[str, Indicator]
    counts: Counts
    invalid_signatures: dict[str, int] = Field(description="refused packages by signature reason")
    other_refusals: dict[str, int] = Field(description="refused packages by any other reason")


class Laggard(BaseModel):
    """A row furthest below target: its worst indicator."""

    code: str
    name: str
    level: Level
    indicator: str
    value: float
    target: float
    gap: float


class CoverageReport(BaseModel):
    """Coverage of one period: rows in directory order, laggards, unknown agencies."""

    period: str
    previous_period: str
    first_day: date
    last_day: date
    level: Level | None = None
    agency: str | None = None
    targets: dict[str, float]
    rows: list[CoverageRow]
    laggards: list[Laggard]
    unknown: list[str] = Field(description="selected agencies with no traffic and no report")
    outside_directory: list[str] = Field(
        default_factory=list, description="senders with data in the period but not in the directory"
    )

    def flat_rows(self) -> list[dict[str, str | int | float | None]]:
        """One flat dict per row (CSV): indicators as ``<key>_<field>`` columns."""
        out: list[dict[str, str | int | float | None]] = []
        for row in self.rows:
            flat: dict[str, str | int | float | None] = {
                "period": self.period,
                "code": row.code,
                "name": row.name,
                "level": row.level.value,
                "parent": row.parent,
                "status": row.status,
                "report": row.report,
            }
            for key in INDICATORS:
                ind = row.indicators[key]
                flat |= {
                    f"{key}_value": ind.value,
                    f"{key}_target": ind.target,
                    f"{key}_gap": ind.gap,
                    f"{key}_previous": ind.previous,
                    f"{key}_trend": ind.trend,
                }
            flat |= row.counts.model_dump()
            flat["invalid_signatures"] = _pairs(row.invalid_signatures)
            flat["other_refusals"] = _pairs(row.other_refusals)
            out.append(flat)
        return out


def csv_columns() -> list[str]:
    """The keys of ``CoverageReport.flat_rows()``, in order (the CSV header)."""
    head = ["period", "code", "name", "level", "parent", "status", "report"]
    fields = ("value", "target", "gap", "previous", "trend")
    indicators = [f"{k}_{f}" for k in INDICATORS for f in fields]
    return [*head, *indicators, *Counts.model_fields, "invalid_signatures", "other_refusals"]


def _pairs(counts: dict[str, int]) -> str:
    return ";".join(f"{k}={v}" for k, v in sorted(counts.items()))
