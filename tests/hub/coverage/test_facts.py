"""What one verdict event contributes: documents, refusals, reports, activity — and what not."""

from __future__ import annotations

from datetime import UTC, date, datetime

from hub.coverage.facts import facts_from_event
from schemas.reasons import Reason
from tests.hub.coverage.traffic import (
    HUB,
    S1,
    S2,
    TZ,
    document,
    local,
    malformed,
    register,
    status,
    verdict,
)


def test_accepted_document_is_a_valid_document_on_its_local_day() -> None:
    header = document(S1, [S2], local(2026, 11, 30, 23, 30))
    # decided after midnight: the day still comes from sent_at (the test can place traffic)
    f = facts_from_event(verdict(header, decided_at=datetime(2026, 11, 30, 17, 1, tzinfo=UTC)), TZ)
    assert f is not None and f.sender == S1 and f.day == date(2026, 11, 30)
    assert f.document is not None and f.document.ok and not f.document.classified
    assert f.document.message_id == str(header.message_id)
    assert f.refusal is None and f.report is None


def test_refused_document_is_a_document_and_a_refusal() -> None:
    event = verdict(document(S1, [S2], local(2026, 11, 2)), Reason.SENDER_MISMATCH)
    f = facts_from_event(event, TZ)
    assert f is not None and f.document is not None and f.refusal is not None
    assert not f.document.ok and f.document.reasons == ("sender_mismatch",)
    assert f.refusal.event_id == event.event_id and f.refusal.signature


def test_secret_document_is_marked_classified_and_its_refusal_is_no_signature_fault() -> None:
    f = facts_from_event(
        verdict(document(S2, [S1], local(2026, 11, 2), secret=True), Reason.CLASSIFIED), TZ
    )
    assert f is not None and f.document is not None and f.refusal is not None
    assert f.document.classified and not f.refusal.signature


def test_statuses_are_never_documents() -> None:
    ok = facts_from_event(
        verdict(
            status(S2, S1, local(2026, 11, 3), document(S1, [S2], local(2026, 11, 3)).message_id)
        ),
        TZ,
    )
    assert ok is not None and ok.document is None and ok.refusal is None and ok.sender == S2
    bad = facts_from_event(
        verdict(
            status(S2, S1, local(2026, 11, 3), document(S1, [S2], local(2026, 11, 3)).message_id),
            Reason.BAD_SIGNATURE,
        ),
        TZ,
    )
    assert bad is not None and bad.document is None
    assert bad.refusal is not None and bad.refusal.kind == "status" and bad.refusal.signature


def test_register_reports_count_only_when_accepted() -> None:
    header = register(S1, local(2026, 12, 2), "2026-11", 3, secret=2, scanned=75.5)
    f = facts_from_event(verdict(header), TZ)
    assert f is not None and f.document is None and f.report is not None
    assert (f.report.agency, f.report.period, f.report.paper_sent, f.report.secret_sent) == (
        S1,
        "2026-11",
        3,
        2,
    )
    assert f.report.scanned_pct == 75.5 and f.report.level4_pct is None
    refused = facts_from_event(verdict(header, Reason.CERT_REVOKED), TZ)
    assert refused is not None and refused.report is None and refused.refusal is not None


def test_a_package_without_a_sender_contributes_nothing() -> None:
    assert facts_from_event(malformed(), TZ) is None


def test_revocation_unknown_and_other_refusals_are_not_signature_faults() -> None:
    for reason in (Reason.REVOCATION_UNKNOWN, Reason.UNKNOWN_RECIPIENT, Reason.STALE):
        f = facts_from_event(verdict(document(S1, [HUB], local(2026, 11, 4)), reason), TZ)
        assert f is not None and f.refusal is not None and not f.refusal.signature


def test_only_an_accepted_document_with_a_weak_algorithm_warning_is_weak() -> None:
    header = document(S1, [S2], local(2026, 11, 2))
    weak = facts_from_event(verdict(header, weak=True), TZ)
    assert weak is not None and weak.document is not None
    assert weak.document.ok and weak.document.weak and weak.refusal is None
    clean = facts_from_event(verdict(header), TZ)
    assert clean is not None and clean.document is not None and not clean.document.weak
    # SHA-1 allowed, but refused for another reason: the warning makes nothing weak
    refused = facts_from_event(verdict(header, Reason.UNKNOWN_RECIPIENT, weak=True), TZ)
    assert refused is not None and refused.document is not None and refused.refusal is not None
    assert not refused.document.weak and not refused.refusal.signature


def test_weak_statuses_and_reports_are_no_documents() -> None:
    answer = status(S2, S1, local(2026, 11, 3), document(S1, [S2], local(2026, 11, 3)).message_id)
    report = register(S1, local(2026, 12, 2), "2026-11", 3)
    for header in (answer, report):
        f = facts_from_event(verdict(header, weak=True), TZ)
        assert f is not None and f.document is None
