"""Routing decisions: what the router writes for one submitted package.

Pure logic — no Kafka client here. ``hub.router.service`` reads ``edoc.submit``,
calls ``Router.decide`` and writes the records it returns in one Kafka
transaction, then calls ``commit`` or ``rollback`` on the message index.

Checks on top of the verifier's (numbered after its steps 0–6):

7. the sender and every recipient are active in the directory
   (``unknown_sender`` / ``unknown_recipient``); the hub's own code never submits;
8. the message id was not accepted before within the dedup window (``duplicate``);
9. a status answers a document the hub delivered between the same two parties
   (``unknown_reference``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hub.directory import Directory
from hub.kafka.guard import describe
from hub.metrics import UNPROCESSABLE
from hub.router.index import Accepted, MessageIndex
from hub.router.receipts import make_receipt
from schemas import wire
from schemas.bounds import check_instant
from schemas.errors import MalformedPackageError
from schemas.events import SourceRecord, VerdictEvent
from schemas.header import Header, Kind, StatusCode
from schemas.package import ParsedPackage, package_sha256, parse_package
from schemas.reasons import Reason
from schemas.report import VerificationReport
from signing.signer import Signer
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
        (wire.H_VERDICT, report.verdict.encode()),
        (wire.H_PACKAGE_SHA256, report.package_sha256.encode()),
    ]
    if report.message_id is not None:
        out.append((wire.H_MESSAGE_ID, str(report.message_id).encode()))
    if report.kind is not None:
        out.append((wire.H_KIND, report.kind.value.encode()))
    if report.from_ is not None:
        out.append((wire.H_FROM, report.from_.encode()))
    if profile:
        out.append((wire.H_PROFILE, profile.encode()))
    if report.reasons:
        out.append((wire.H_REASONS, ",".join(r.value for r in report.reasons).encode()))
    return out


def _with_reasons(report: VerificationReport, extra: dict[Reason, str]) -> VerificationReport:
    if not extra:
        return report
    order = list(Reason)
    reasons = sorted(set(report.reasons) | extra.keys(), key=order.index)
    return report.model_copy(
        update={
            "verdict": "rejected",
            "reasons": reasons,
            "details": [*report.details, *extra.values()],
        }
    )


def _in_range(at: datetime) -> bool:
    try:
        check_instant(at)
    except ValueError:
        return False
    return True


class Router:
    """Decides, for each package, the verdict and the records to write."""

    def __init__(
        self,
        verifier: Verifier,
        directory: Directory,
        index: MessageIndex,
        *,
        hub_code: str,
        hub_signer: Signer | None,
        group: str | None = None,
    ) -> None:
        self.verifier = verifier
        self.directory = directory
        self.index = index
        self.hub_code = hub_code
        self.hub_signer = hub_signer
        self.group = group

    def _verify(
        self, raw: bytes, received_at: datetime, now: datetime
    ) -> tuple[ParsedPackage | None, VerificationReport]:
        limit = self.verifier.max_package_bytes
        if limit is not None and len(raw) > limit:
            return None, self.verifier.verify_bytes(raw, received_at=received_at, now=now)
        try:
            parsed = parse_package(raw)
        except MalformedPackageError:
            return None, self.verifier.verify_bytes(raw, received_at=received_at, now=now)
        return parsed, self.verifier.verify(parsed, received_at=received_at, now=now)

    def _routing_checks(self, header: Header) -> dict[Reason, str]:
        extra: dict[Reason, str] = {}
        # Step 7: directory.
        if header.sender == self.hub_code:
            extra[Reason.UNKNOWN_SENDER] = f"{header.sender} is the hub itself and cannot submit"
        elif not self.directory.is_active(header.sender):
            extra[Reason.UNKNOWN_SENDER] = f"sender {header.sender} is not an active agency"
        if header.kind is Kind.REGISTER:
            # Register reports go to the hub itself, and only there.
            if header.to != [self.hub_code]:
                extra[Reason.UNKNOWN_RECIPIENT] = (
                    f"register reports go to the hub ({self.hub_code})"
                )
        else:
            unknown = [
                c for c in header.to if not self.directory.is_active(c) or c == self.hub_code
            ]
            if unknown:
                extra[Reason.UNKNOWN_RECIPIENT] = f"not active agencies: {', '.join(unknown)}"
        # Step 8: duplicates.
        mid = str(header.message_id)
        if self.index.get(mid) is not None:
            extra[Reason.DUPLICATE] = f"message {mid} was already accepted"
        # Step 9: a status must answer a document delivered between the same parties.
        if header.kind is Kind.STATUS and header.status is not None:
            ref = self.index.get(str(header.status.ref_message_id))
            to = set(header.to)
            between = (
                ref is not None
                and ref.kind == Kind.DOCUMENT.value
                and (
                    (header.sender == ref.sender and to <= set(ref.recipients))
                    or (header.sender in ref.recipients and to == {ref.sender})
                )
            )
            if not between:
                extra[Reason.UNKNOWN_REFERENCE] = (
                    f"status refers to {header.status.ref_message_id}, which the hub did not "
                    f"deliver between {header.sender} and {', '.join(header.to)}"
                )
        return extra

    def decide(
        self,
        raw: bytes,
        *,
        source: SourceRecord,
        received_at: datetime,
        now: datetime | None = None,
    ) -> Decision:
        """Verify ``raw`` and return the verdict event plus inbox, receipt or rejection records.

        Never raises for what a package holds: if deciding fails (a defect the package
        triggers), the package is refused as ``unprocessable`` and kept on
        ``edoc.rejected`` like any refusal, so routing goes on and an operator can
        reprocess it once the defect is fixed.
        """
        now = now or datetime.now(UTC)
        try:
            return self._decide(raw, source=source, received_at=received_at, now=now)
        except Exception as exc:  # the router's per-record guard (hub.kafka.guard for the others)
            return self.unprocessable(raw, source=source, received_at=received_at, now=now, exc=exc)

    def unprocessable(
        self,
        raw: bytes,
        *,
        source: SourceRecord,
        received_at: datetime,
        now: datetime,
        exc: BaseException,
    ) -> Decision:
        """The refusal of a package deciding on which failed: built from its bytes alone."""
        UNPROCESSABLE.inc()
        log.error(
            "cannot decide on %s/%d/%d: refused as unprocessable",
            source.topic,
            source.partition,
            source.offset,
            exc_info=exc,
        )
        if not _in_range(received_at):
            received_at = now
        report = VerificationReport(
            verdict="rejected",
            reasons=[Reason.UNPROCESSABLE],
            package_sha256=package_sha256(raw),
            received_at=received_at,
            details=[f"the hub failed while deciding: {describe(exc)}"],
        )
        headers = _headers(report, None)
        event = VerdictEvent(
            message_id=None,
            package_sha256=report.package_sha256,
            kind=None,
            **{"from": None},
            to=[],
            verdict="rejected",
            reasons=report.reasons,
            received_at=received_at,
            decided_at=now,
            source=source,
            report=report,
            router_group=self.group,
        )
        return Decision(
            report,
            event,
            [
                OutRecord(wire.REJECTED, b"unknown", raw, headers),
                OutRecord(wire.EVENTS, b"unknown", event.to_bytes(), headers),
            ],
        )

    def _decide(
        self, raw: bytes, *, source: SourceRecord, received_at: datetime, now: datetime
    ) -> Decision:
        parsed, report = self._verify(raw, received_at, now)
        if parsed is not None:
            report = _with_reasons(report, self._routing_checks(parsed.header))
        profile = report.signatures[0].profile if report.signatures else None
        headers = _headers(report, profile)
        key = (report.from_ or "unknown").encode()
        records: list[OutRecord] = []
        delivered: list[str] = []
        if report.ok and parsed is not None:
            header = parsed.header
            for code in header.to:
                if code == self.hub_code:  # a register report: the hub is the recipient
                    records += self._receipt(header, StatusCode.ARRIVED, now, recipient=code)
                    continue
                topic = wire.inbox(code)
                records.append(OutRecord(topic, key, raw, headers))
                delivered.append(topic)
                if header.kind is not Kind.STATUS:
                    records += self._receipt(header, StatusCode.ARRIVED, now, recipient=code)
        else:
            # The original bytes travel unchanged so nothing is lost and reprocessing is exact.
            records.append(OutRecord(wire.REJECTED, key, raw, headers))
            if parsed is not None and self.directory.is_active(parsed.header.sender):
                records += self._receipt(
                    parsed.header, StatusCode.REJECTED, now, reasons=list(report.reasons)
                )
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
            decided_at=now,
            source=source,
            report=report,
            header=parsed.package.header if parsed is not None else None,
            signatures=list(parsed.package.signatures) if parsed is not None else [],
            router_group=self.group,
        )
        records.append(OutRecord(wire.EVENTS, key, event.to_bytes(), headers))
        if report.ok and parsed is not None:
            # Last, once nothing more can fail: a refusal as unprocessable must not
            # leave the message id remembered as accepted.
            header = parsed.header
            self.index.add(
                str(header.message_id),
                Accepted(header.sender, tuple(header.to), header.kind.value, now),
                txn=source.partition,
            )
        log.info(
            "decision %s %s",
            report.message_id or report.package_sha256[:16],
            report.verdict,
            extra={
                "message_id": str(report.message_id) if report.message_id else None,
                "package_sha256": report.package_sha256,
                "agency": report.from_,
                "verdict": report.verdict,
                "reasons": [r.value for r in report.reasons],
                "delivered_to": delivered,
            },
        )
        return Decision(report, event, records)

    def _receipt(
        self,
        header: Header,
        code: StatusCode,
        now: datetime,
        *,
        recipient: str | None = None,
        reasons: list[Reason] | None = None,
    ) -> list[OutRecord]:
        if self.hub_signer is None or header.sender == self.hub_code:
            return []
        value = make_receipt(
            self.hub_signer,
            hub_code=self.hub_code,
            sender=header.sender,
            original=header.message_id,
            code=code,
            at=now,
            recipient=recipient,
            reasons=reasons,
        )
        headers = [
            (wire.H_KIND, Kind.STATUS.value.encode()),
            (wire.H_FROM, self.hub_code.encode()),
            (wire.H_VERDICT, b"ok"),
            (wire.H_STATUS, code.value.encode()),
            (wire.H_REF_MESSAGE_ID, str(header.message_id).encode()),
        ]
        return [OutRecord(wire.inbox(header.sender), self.hub_code.encode(), value, headers)]
