"""Indicators, roll-up along the directory tree, laggards — pure functions over rows.

Per agency (numbers from ``PeriodData``, the agency's register report):

1. ``e_documents`` = valid ÷ (documents + paper). Documents are the agency's
   non-secret electronic documents of the period, each counted once whatever
   its number of attempts; valid ones were accepted at least once; paper is
   what the agency reported. Target 100 %.
2. ``signature_use`` = 100 % when the agency sent something and none of it was
   refused for a signature reason (``facts.SIGNATURE_REASONS``), else 0 %.
   Target 100 %.
3–5. ``scanned``, ``officials``, ``level4`` = as reported. Targets 100, 100, 30 %.

Documents accepted with a weak (SHA-1) signature — the hub accepted them, so
they are valid and signed in (1) and (2) — are also counted apart
(``signed_weak``, ``agencies_signing_weak``), so the province can see who still
has to move off SHA-1.

A row is an agency **with everything under it** (commune → district →
province, unit → department → province). Counts are summed; the ratio (1) is
recomputed from the sums; (2) is the share of agencies with traffic that
signed everything; (3–5) are the mean of the agencies that reported a value.
An agency with no traffic and no report adds to no denominator, so it never
reads as 0 % or 100 %: its own row is unknown (null).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from hub.coverage.errors import UnknownAgencyError
from hub.coverage.facts import SIGNATURE_REASONS, RefusalFact, ReportFact
from hub.coverage.ledger import PeriodData
from hub.coverage.models import (
    INDICATORS,
    Counts,
    CoverageReport,
    CoverageRow,
    Indicator,
    Laggard,
    ReportState,
    Status,
)
from hub.coverage.periods import Period
from schemas.directory import Agency, Level

#: Targets of Decision 166/QĐ-UBND §II.6.d, percent.
TARGETS: dict[str, float] = {
    "e_documents": 100.0,
    "signature_use": 100.0,
    "scanned": 100.0,
    "officials": 100.0,
    "level4": 30.0,
}
#: Indicators the agencies report (the rest the hub measures).
REPORTED: tuple[str, ...] = ("scanned", "officials", "level4")


def pct(numerator: float, denominator: float) -> float | None:
    """``100 · n / d`` to two decimals; None when there is nothing to divide by."""
    return round(100.0 * numerator / denominator, 2) if denominator else None


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


@dataclass(frozen=True)
class ResolvedReport:
    """What an agency reported for a period, possibly combined from smaller periods."""

    paper_sent: int
    secret_sent: int
    values: dict[str, float | None]  # scanned / officials / level4
    complete: bool  # every part of the period is covered


def resolve_report(period: Period, reports: Mapping[str, ReportFact]) -> ResolvedReport | None:
    """An agency's report for ``period`` from its reports by period label.

    A report for exactly ``period`` wins. Otherwise the period's parts (a year's
    quarters, a quarter's months) are resolved in turn and combined: counts
    summed, percentages averaged over the parts that give one; ``complete`` is
    false when a part is missing. A month cannot be split out of a quarter.
    """
    exact = reports.get(period.label)
    if exact is not None:
        return ResolvedReport(
            exact.paper_sent,
            exact.secret_sent,
            {k: getattr(exact, f"{k}_pct") for k in REPORTED},
            complete=True,
        )
    parts = [resolve_report(p, reports) for p in period.parts()]
    present = [p for p in parts if p is not None]
    if not present:
        return None
    return ResolvedReport(
        paper_sent=sum(p.paper_sent for p in present),
        secret_sent=sum(p.secret_sent for p in present),
        values={k: _mean([v for p in present if (v := p.values[k]) is not None]) for k in REPORTED},
        complete=len(present) == len(parts) and all(p.complete for p in present),
    )


@dataclass
class Tally:
    """Additive numbers of an agency or a subtree."""

    documents: int = 0
    valid: int = 0
    signed_weak: int = 0
    paper: int = 0
    secret: int = 0
    agencies: int = 0
    with_traffic: int = 0
    signing_ok: int = 0
    signing_weak: int = 0
    reporting: int = 0
    unknown: int = 0
    invalid_signatures: Counter[str] = field(default_factory=Counter)
    other_refusals: Counter[str] = field(default_factory=Counter)
    reported: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in REPORTED})

    def add(self, other: Tally) -> None:
        """Add ``other`` into this tally."""
        for name in (
            "documents",
            "valid",
            "signed_weak",
            "paper",
            "secret",
            "agencies",
            "with_traffic",
            "signing_ok",
            "signing_weak",
            "reporting",
            "unknown",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.invalid_signatures.update(other.invalid_signatures)
        self.other_refusals.update(other.other_refusals)
        for k in REPORTED:
            self.reported[k] += other.reported[k]

    def values(self) -> dict[str, float | None]:
        """The five indicator values."""
        out = {
            "e_documents": pct(self.valid, self.documents + self.paper),
            "signature_use": pct(self.signing_ok, self.with_traffic),
        }
        return out | {k: _mean(self.reported[k]) for k in REPORTED}

    def counts(self) -> Counts:
        """The numbers as served."""
        return Counts(
            documents=self.documents,
            valid=self.valid,
            signed_weak=self.signed_weak,
            paper=self.paper,
            secret=self.secret,
            agencies=self.agencies,
            agencies_with_traffic=self.with_traffic,
            agencies_signing_ok=self.signing_ok,
            agencies_signing_weak=self.signing_weak,
            agencies_reporting=self.reporting,
            agencies_unknown=self.unknown,
        )


def agency_tallies(data: PeriodData) -> tuple[dict[str, Tally], dict[str, ResolvedReport]]:
    """Each agency's own tally (only agencies with data) and its resolved report."""
    by_agency: dict[str, dict[str, ReportFact]] = {}
    for fact in data.reports:
        by_agency.setdefault(fact.agency, {})[fact.period] = fact
    refusals: dict[str, list[RefusalFact]] = {}
    for ref in data.refusals:
        refusals.setdefault(ref.sender, []).append(ref)
    resolved = {a: resolve_report(data.period, reps) for a, reps in by_agency.items()}
    reports = {a: r for a, r in resolved.items() if r is not None}
    codes = set(data.documents) | data.active | set(reports) | set(refusals)
    tallies: dict[str, Tally] = {}
    for code in codes:
        t = Tally(agencies=1)
        if (docs := data.documents.get(code)) is not None:
            t.documents, t.valid, t.secret = docs.documents, docs.valid, docs.secret
            t.signed_weak = docs.weak
            t.signing_weak = int(docs.weak > 0)
        signature_failed = False
        for ref in refusals.get(code, []):
            signature_failed |= ref.signature
            for reason in ref.reasons:
                if reason in SIGNATURE_REASONS:
                    t.invalid_signatures[reason] += 1
                else:
                    t.other_refusals[reason] += 1
        active = code in data.active or docs is not None or code in refusals
        t.with_traffic = int(active)
        t.signing_ok = int(active and not signature_failed)
        if (rep := reports.get(code)) is not None:
            t.paper = rep.paper_sent
            t.secret += rep.secret_sent
            t.reporting = 1
            for k in REPORTED:
                if (v := rep.values[k]) is not None:
                    t.reported[k].append(v)
        t.unknown = int(not active and rep is None)
        tallies[code] = t
    return tallies, reports


class _Tree:
    """The directory as a forest: children by parent, roots whose parent is absent."""

    def __init__(self, agencies: Iterable[Agency]) -> None:
        self.by_code = {a.code: a for a in agencies}
        self.children: dict[str, list[str]] = {c: [] for c in self.by_code}
        self.roots: list[str] = []
        for code in sorted(self.by_code):
            parent = self.by_code[code].parent
            if parent is not None and parent in self.by_code:
                self.children[parent].append(code)
            else:
                self.roots.append(code)

    def walk(self, start: list[str] | None = None, depth: int = 0) -> Iterable[tuple[str, int]]:
        """Codes depth-first in code order, with their depth."""
        for code in start if start is not None else self.roots:
            yield code, depth
            yield from self.walk(self.children[code], depth + 1)

    def subtree(self, code: str) -> set[str]:
        """``code`` and every agency under it."""
        return {c for c, _ in self.walk([code])}


def rollup(tree: _Tree, own: Mapping[str, Tally]) -> dict[str, Tally]:
    """Each agency's tally plus those of everything under it."""
    total: dict[str, Tally] = {}

    def visit(code: str) -> Tally:
        t = Tally()
        t.add(own.get(code) or Tally(agencies=1, unknown=1))
        for child in tree.children[code]:
            t.add(visit(child))
        total[code] = t
        return t

    for root in tree.roots:
        visit(root)
    return total


def _indicators(now: Tally, before: Tally | None) -> dict[str, Indicator]:
    values, previous = now.values(), (before.values() if before else {})
    out: dict[str, Indicator] = {}
    for key in INDICATORS:
        value, prev, target = values[key], previous.get(key), TARGETS[key]
        out[key] = Indicator(
            target=target,
            value=value,
            gap=None if value is None else round(target - value, 2),
            previous=prev,
            trend=None if value is None or prev is None else round(value - prev, 2),
        )
    return out


def _status(indicators: Mapping[str, Indicator]) -> Status:
    gaps = [i.gap for i in indicators.values() if i.gap is not None]
    if not gaps:
        return "unknown"
    return "met" if all(g <= 0 for g in gaps) else "below"


def _report_state(rep: ResolvedReport | None) -> ReportState:
    if rep is None:
        return "missing"
    return "complete" if rep.complete else "partial"


def laggards(rows: Iterable[CoverageRow], limit: int) -> list[Laggard]:
    """Rows below target, furthest first: each row's largest gap (ties: indicator order, code).

    Unknown indicators are not gaps; a row with none below target is no laggard.
    """
    found: list[Laggard] = []
    for row in rows:
        below: list[tuple[float, str, float, float]] = []  # gap, indicator, value, target
        for key in INDICATORS:
            ind = row.indicators[key]
            if ind.gap is not None and ind.value is not None and ind.gap > 0:
                below.append((ind.gap, key, ind.value, ind.target))
        if not below:
            continue
        # max() keeps the first of equal gaps: the earlier indicator of the plan's table
        gap, key, value, target = max(below, key=lambda b: b[0])
        found.append(
            Laggard(
                code=row.code,
                name=row.name,
                level=row.level,
                indicator=key,
                value=value,
                target=target,
                gap=gap,
            )
        )
    found.sort(key=lambda lag: (-lag.gap, lag.code))
    return found[:limit]


def build_report(
    current: PeriodData,
    previous: PeriodData,
    agencies: Iterable[Agency],
    *,
    exclude: Iterable[str] = (),
    level: Level | None = None,
    agency: str | None = None,
    laggard_limit: int = 10,
) -> CoverageReport:
    """The coverage report of ``current.period`` with trends against ``previous``.

    ``exclude`` drops agencies (the hub itself). Rows are the whole directory in
    tree order, or the subtree of ``agency``, keeping only ``level`` when given.
    Laggards rank the selected rows, except the province total unless ``level``
    is ``province``. An inactive agency appears only when it has data.
    """
    own, reports = agency_tallies(current)
    own_before, _ = agency_tallies(previous)
    skip = set(exclude)
    tree = _Tree(a for a in agencies if a.code not in skip and (a.active or a.code in own))
    if agency is not None and agency not in tree.by_code:
        raise UnknownAgencyError(agency)
    total, total_before = rollup(tree, own), rollup(tree, own_before)
    start = [agency] if agency is not None else None
    rows: list[CoverageRow] = []
    for code, depth in tree.walk(start):
        a = tree.by_code[code]
        if level is not None and a.level is not level:
            continue
        indicators = _indicators(total[code], total_before.get(code))
        t = total[code]
        rows.append(
            CoverageRow(
                code=code,
                name=a.name,
                level=a.level,
                parent=a.parent,
                depth=depth,
                status=_status(indicators),
                report=_report_state(reports.get(code)),
                indicators=indicators,
                counts=t.counts(),
                invalid_signatures=dict(sorted(t.invalid_signatures.items())),
                other_refusals=dict(sorted(t.other_refusals.items())),
            )
        )
    ranked = [r for r in rows if level is Level.PROVINCE or r.level is not Level.PROVINCE]
    period = current.period
    return CoverageReport(
        period=period.label,
        previous_period=previous.period.label,
        first_day=period.start,
        last_day=period.end - timedelta(days=1),
        level=level,
        agency=agency,
        targets=dict(TARGETS),
        rows=rows,
        laggards=laggards(ranked, laggard_limit),
        unknown=[r.code for r in rows if r.status == "unknown"],
        outside_directory=sorted(set(own) - set(tree.by_code) - skip),
    )
