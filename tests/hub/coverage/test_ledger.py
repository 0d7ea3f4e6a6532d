"""The merge rules (the reference semantics): once per document, later report wins, idempotent."""

from __future__ import annotations

import itertools
import uuid

from hub.coverage.facts import facts_from_event
from hub.coverage.ledger import DocumentCounts, Ledger
from hub.coverage.periods import Period
from schemas.events import VerdictEvent
from schemas.reasons import Reason
from tests.hub.coverage.traffic import (
    C1,
    DISTRICT,
    S1,
    S2,
    TZ,
    document,
    local,
    register,
    status,
    verdict,
)

NOV = Period.parse("2026-11")


def ledger_of(events: list[VerdictEvent]) -> Ledger:
    ledger = Ledger()
    for event in events:
        facts = facts_from_event(event, TZ)
        if facts is not None:
            ledger.apply(facts)
    return ledger


def test_rejected_then_correctly_resent_counts_once_as_valid_in_any_order() -> None:
    header = document(S1, [S2], local(2026, 11, 5))
    refused = verdict(header, Reason.SENDER_MISMATCH)
    accepted = verdict(header)
    for order in itertools.permutations([refused, accepted, refused]):  # and a redelivery
        data = ledger_of(list(order)).period_data(NOV)
        assert data.documents == {S1: DocumentCounts(documents=1, valid=1, secret=0)}
        assert [r.reasons for r in data.refusals] == [("sender_mismatch",)]


def test_weak_comes_from_an_accepting_decision_only_in_any_order() -> None:
    header = document(S1, [S2], local(2026, 11, 5))
    refused_weak = verdict(header, Reason.SENDER_MISMATCH, weak=True)  # SHA-1 and someone else's
    accepted = verdict(header)  # corrected: SHA-256
    for order in itertools.permutations([refused_weak, accepted, refused_weak]):
        data = ledger_of(list(order)).period_data(NOV)
        assert data.documents == {S1: DocumentCounts(documents=1, valid=1, secret=0, weak=0)}
    # Accepted twice (e.g. reprocessed), once with SHA-1: weak, whatever came first.
    accepted_weak = verdict(header, weak=True)
    for order in itertools.permutations([accepted, accepted_weak, refused_weak]):
        data = ledger_of(list(order)).period_data(NOV)
        assert data.documents == {S1: DocumentCounts(documents=1, valid=1, secret=0, weak=1)}
        assert ledger_of(list(order)).documents[str(header.message_id)].weak


def test_the_latest_refusal_gives_the_reasons_and_the_first_day_the_date() -> None:
    mid = uuid.uuid4()
    first = verdict(document(S1, [S2], local(2026, 10, 31, 23), message_id=mid), Reason.STALE)
    second = verdict(
        document(S1, [S2], local(2026, 11, 1, 9), message_id=mid), Reason.BAD_SIGNATURE
    )
    for order in ([first, second], [second, first]):
        row = ledger_of(order).documents[str(mid)]
        assert row.last_reasons == ("bad_signature",)
        assert row.day.isoformat() == "2026-10-31" and not row.valid


def test_statuses_are_traffic_but_never_documents() -> None:
    doc = document(S1, [S2], local(2026, 11, 2))
    answer = status(S2, S1, local(2026, 11, 3), doc.message_id)
    bad_answer = status(S2, S1, local(2026, 11, 4), doc.message_id)
    data = ledger_of(
        [verdict(doc), verdict(answer), verdict(bad_answer, Reason.BAD_SIGNATURE)]
    ).period_data(NOV)
    assert data.documents == {S1: DocumentCounts(documents=1, valid=1, secret=0)}
    assert data.active == {S1, S2}
    assert [(r.sender, r.kind) for r in data.refusals] == [(S2, "status")]


def test_secret_documents_are_outside_the_target_unless_once_accepted() -> None:
    secret = document(S2, [S1], local(2026, 11, 6), secret=True)
    data = ledger_of([verdict(secret, Reason.CLASSIFIED)]).period_data(NOV)
    assert data.documents == {S2: DocumentCounts(documents=0, valid=0, secret=1)}
    # Re-sent with the same id after declassification, and accepted: a document like any other.
    again = document(S2, [S1], local(2026, 11, 7), message_id=secret.message_id)
    data = ledger_of([verdict(secret, Reason.CLASSIFIED), verdict(again)]).period_data(NOV)
    assert data.documents == {S2: DocumentCounts(documents=1, valid=1, secret=0)}


def test_a_later_report_replaces_an_earlier_one_whatever_the_arrival_order() -> None:
    early = verdict(register(S1, local(2026, 12, 2), "2026-11", 9, scanned=50))
    late = verdict(register(S1, local(2026, 12, 20), "2026-11", 3, scanned=70))
    for order in ([early, late], [late, early], [late, early, late]):
        (report,) = ledger_of(order).period_data(NOV).reports
        assert (report.paper_sent, report.scanned_pct) == (3, 70)
    refused_later = verdict(register(S1, local(2026, 12, 25), "2026-11", 0), Reason.CERT_EXPIRED)
    (report,) = ledger_of([early, late, refused_later]).period_data(NOV).reports
    assert report.paper_sent == 3, "a refused report replaces nothing"


def test_equal_sent_at_is_decided_by_the_larger_message_id() -> None:
    a = register(S1, local(2026, 12, 2), "2026-11", 1)
    b = register(S1, local(2026, 12, 2), "2026-11", 2)
    winner = max((a, b), key=lambda h: str(h.message_id))
    for order in ([a, b], [b, a]):
        (report,) = ledger_of([verdict(h) for h in order]).period_data(NOV).reports
        assert report.message_id == str(winner.message_id)


def test_period_data_selects_days_and_report_periods() -> None:
    events = [
        verdict(document(S1, [S2], local(2026, 10, 31, 23, 59))),
        verdict(document(S1, [S2], local(2026, 11, 1, 0, 1))),
        verdict(document(C1, [DISTRICT], local(2026, 12, 1, 0, 0))),
        verdict(register(S1, local(2026, 12, 1), "2026-11", 1)),
        verdict(register(S1, local(2026, 12, 1), "2026-Q4", 5)),
        verdict(register(S1, local(2026, 12, 1), "2026-10", 2)),
    ]
    ledger = ledger_of(events)
    nov = ledger.period_data(NOV)
    assert nov.documents == {S1: DocumentCounts(1, 1, 0)}
    assert nov.active == {S1}
    assert [r.period for r in nov.reports] == ["2026-11"]
    q4 = ledger.period_data(Period.parse("2026-Q4"))
    assert q4.documents == {S1: DocumentCounts(2, 2, 0), C1: DocumentCounts(1, 1, 0)}
    assert [r.period for r in q4.reports] == ["2026-10", "2026-11", "2026-Q4"]
