"""The merge rules of coverage facts, in memory: the reference the database store must match.

Input is at-least-once (a redelivered verdict event arrives again) and a
document may be decided several times (refused, then corrected and re-sent with
the same ``message_id``). Every rule below is idempotent and order-independent,
so replaying any prefix of ``edoc.events`` again changes nothing:

* **document** (one per ``message_id``): ``day`` is the earliest local day it was
  submitted; ``valid`` is true once ANY decision accepted it; ``classified`` once
  any decision found it secret; ``weak`` once any decision accepted it with a
  weak (SHA-1) signature; ``last_reasons`` are those of the latest refusal
  (by decision time). A document counts towards the target unless it is
  classified and was never accepted.
* **refusal** (one per event id) and **activity** (one per agency and day):
  inserted once, never changed.
* **report** (one per agency and period): the one with the later ``sent_at``
  wins (equal times: the larger ``message_id``), whatever order they arrive in.

``hub.coverage.store`` implements the same rules in SQL (upserts), and
``tests/hub/coverage/test_store.py`` checks that both agree on both backends.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

from hub.coverage.facts import DocumentFact, EventFacts, RefusalFact, ReportFact
from hub.coverage.periods import Period


@dataclass(frozen=True, slots=True)
class DocumentRow:
    """The merged state of one document."""

    message_id: str
    sender: str
    day: date
    valid: bool
    classified: bool
    last_reasons: tuple[str, ...]
    last_refused_at: str | None  # utc_text of the latest refusal
    weak: bool = False  # an accepting decision had a weak (SHA-1) signature

    @property
    def secret(self) -> bool:
        """Outside the target: refused as secret and never accepted."""
        return self.classified and not self.valid

    @classmethod
    def from_fact(cls, fact: DocumentFact) -> DocumentRow:
        """The row a first decision creates."""
        return cls(
            message_id=fact.message_id,
            sender=fact.sender,
            day=fact.day,
            valid=fact.ok,
            classified=fact.classified,
            last_reasons=fact.reasons,
            last_refused_at=None if fact.ok else fact.decided_at,
            weak=fact.weak,
        )


def merge_document(row: DocumentRow, fact: DocumentFact) -> DocumentRow:
    """``row`` after one more decision ``fact`` about the same document."""
    newer_refusal = not fact.ok and (
        row.last_refused_at is None or fact.decided_at >= row.last_refused_at
    )
    return replace(
        row,
        day=min(row.day, fact.day),
        valid=row.valid or fact.ok,
        classified=row.classified or fact.classified,
        # "any accepting decision was weak": monotonic, so replays and order change nothing
        weak=row.weak or fact.weak,
        last_reasons=fact.reasons if newer_refusal else row.last_reasons,
        last_refused_at=fact.decided_at if newer_refusal else row.last_refused_at,
    )


def merge_report(current: ReportFact | None, new: ReportFact) -> ReportFact:
    """The report that stands for an agency and period after ``new`` arrives."""
    if current is None or new.supersedes(current):
        return new
    return current


@dataclass(frozen=True, slots=True)
class DocumentCounts:
    """An agency's documents in a period."""

    documents: int  # counted towards the target (not secret)
    valid: int  # of those, accepted at least once
    secret: int  # refused as secret and never accepted: outside the target
    weak: int = 0  # of the valid ones, accepted with a weak (SHA-1) signature


@dataclass(frozen=True)
class PeriodData:
    """What the store knows about one period: the input of ``hub.coverage.compute``.

    ``reports`` holds the reports of the period itself and of every period
    inside it (a year's quarters and months, a quarter's months).
    """

    period: Period
    documents: dict[str, DocumentCounts] = field(default_factory=dict)
    refusals: list[RefusalFact] = field(default_factory=list)  # sorted by (sender, event_id)
    active: frozenset[str] = frozenset()  # agencies that sent anything in the period
    reports: list[ReportFact] = field(default_factory=list)  # sorted by (agency, period)


def count_documents(rows: list[DocumentRow]) -> dict[str, DocumentCounts]:
    """Per sender: documents towards the target, valid ones, secret ones, weakly signed ones."""
    tallies: dict[str, list[int]] = {}
    for row in rows:
        t = tallies.setdefault(row.sender, [0, 0, 0, 0])
        if row.secret:
            t[2] += 1
        else:
            t[0] += 1
            t[1] += row.valid
            t[3] += row.valid and row.weak
    return {s: DocumentCounts(*t) for s, t in sorted(tallies.items())}


class Ledger:
    """All coverage state in memory (tests and the reference semantics)."""

    def __init__(self) -> None:
        self.documents: dict[str, DocumentRow] = {}
        self.refusals: dict[str, RefusalFact] = {}
        self.activity: set[tuple[str, date]] = set()
        self.reports: dict[tuple[str, str], ReportFact] = {}

    def apply(self, facts: EventFacts) -> None:
        """Merge one event's facts."""
        self.activity.add((facts.sender, facts.day))
        if (doc := facts.document) is not None:
            row = self.documents.get(doc.message_id)
            self.documents[doc.message_id] = (
                DocumentRow.from_fact(doc) if row is None else merge_document(row, doc)
            )
        if (ref := facts.refusal) is not None:
            self.refusals.setdefault(ref.event_id, ref)
        if (rep := facts.report) is not None:
            key = (rep.agency, rep.period)
            self.reports[key] = merge_report(self.reports.get(key), rep)

    def period_data(self, period: Period) -> PeriodData:
        """The rows of ``period``."""
        labels = set(period.labels_within())
        return PeriodData(
            period=period,
            documents=count_documents(
                [d for d in self.documents.values() if period.contains(d.day)]
            ),
            refusals=sorted(
                (r for r in self.refusals.values() if period.contains(r.day)),
                key=lambda r: (r.sender, r.event_id),
            ),
            active=frozenset(a for a, d in self.activity if period.contains(d)),
            reports=sorted(
                (r for (_, p), r in self.reports.items() if p in labels),
                key=lambda r: (r.agency, r.period),
            ),
        )
