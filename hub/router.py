"""Routing decisions: what the router writes for one submitted package.

Pure logic — no Kafka client here. ``hub.router_service`` reads ``edoc.submit``,
calls ``decide`` and writes the records it returns in one Kafka transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hub import topics
from schemas.events import SourceRecord, VerdictEvent
from schemas.report import VerificationReport
from signing.verifier import Verifier

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OutRecord:
    """One record to produce."""

    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict for one package and every record that follows from it."""

    report: VerificationReport
    event: VerdictEvent
    records: list[OutRecord]

    @property
    def accepted(self) -> bool:
        """True when the package is delivered."""
        return self.report.ok


def _headers(report: VerificationReport, profile: str | None) -> list[tuple[str, bytes]]:
    out = [
        (topics.H_VERDICT, report.verdict.encode()),
        (topics.H_PACKAGE_SHA256, report.package_sha256.encode()),
    ]
    if report.message_id is not None:
        out.append((topics.H_MESSAGE_ID, str(report.message_id).encode()))
    if report.kind is not None:
        out.append((topics.H_KIND, report.kind.value.encode()))
    if report.from_ is not None:
        out.append((topics.H_FROM, report.from_.encode()))
    if profile:
        out.append((topics.H_PROFILE, profile.encode()))
    if report.reasons:
        out.append((topics.H_REASONS, ",".join(r.value for r in report.reasons).encode()))
    return out


def decide(
    raw: bytes,
    *,
    verifier: Verifier,
    source: SourceRecord,
    received_at: datetime,
    now: datetime | None = None,
) -> Decision:
    """Verify ``raw`` and return the verdict event plus inbox or rejection records."""
    report = verifier.verify_bytes(raw, received_at=received_at, now=now)
    profile = report.signatures[0].profile if report.signatures else None
    headers = _headers(report, profile)
    key = (report.from_ or "unknown").encode()
    records: list[OutRecord] = []
    delivered: list[str] = []
    if report.ok:
        for code in report.to:
            topic = topics.inbox(code)
            records.append(OutRecord(topic, key, raw, headers))
            delivered.append(topic)
    else:
        # The original bytes travel unchanged so nothing is lost and reprocessing is exact.
        records.append(OutRecord(topics.REJECTED, key, raw, headers))
    event = VerdictEvent(
        message_id=report.message_id,
        package_sha256=report.package_sha256,
        kind=report.kind,
        **{"from": report.from_},
        to=report.to,
        verdict=report.verdict,
        reasons=report.reasons,
        delivered_to=delivered,
        received_at=received_at,
        decided_at=now or datetime.now(UTC),
        source=source,
        report=report,
    )
    records.append(OutRecord(topics.EVENTS, key, event.to_bytes(), headers))
    log.info(
        "decision",
        extra={
            "message_id": str(report.message_id) if report.message_id else None,
            "agency": report.from_,
            "verdict": report.verdict,
            "reasons": [r.value for r in report.reasons],
            "delivered_to": delivered,
        },
    )
    return Decision(report, event, records)
