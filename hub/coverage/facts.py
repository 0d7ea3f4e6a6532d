"""What one verdict event contributes to coverage — pure, no I/O.

A verdict event (``schemas.events.VerdictEvent``) becomes at most:

* an **activity** mark: its sender sent something on its local day;
* a **document** fact (kind ``document`` only — statuses and register reports
  are never documents), keyed by ``message_id``; an accepted one is *weak* when
  its report warns ``weak_algorithm`` (an RSA-SHA1 edXML signature accepted
  only because ``EDOC_XMLDSIG_ALLOW_SHA1`` is set);
* a **refusal** fact (verdict ``rejected``), keyed by the event id, with every
  reason code;
* a **report** fact (kind ``register``, verdict ``ok``), keyed by
  ``(agency, period)``.

The day is the header's ``sent_at`` in the province's time zone. The router
accepts ``sent_at`` only within its freshness window around the broker's
receive time (15 minutes by default), so in production this is the day the
hub received the package; it is also the time the signature was validated at.
An event without a readable sender or ``sent_at`` (a package too malformed to
have a header) cannot be attributed to an agency and contributes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo

from pydantic import ValidationError

from hub.coverage.periods import local_day
from schemas.agency import AGENCY_CODE_RE
from schemas.events import VerdictEvent
from schemas.header import Classification, Header, Kind, RegisterInfo
from schemas.package import b64url_decode
from schemas.reasons import Reason

log = logging.getLogger(__name__)

#: Refusal reasons that mean the package was not validly signed by its sender: they
#: decide the "signature use" indicator. Other refusals (``classified``,
#: ``unknown_recipient``, ``stale``, ``duplicate``, ``revocation_unknown`` — the hub
#: lacked a CRL, not the agency's fault — …) are listed as other refusals.
SIGNATURE_REASONS: frozenset[str] = frozenset(
    r.value
    for r in (
        Reason.BAD_SIGNATURE,
        Reason.DIGEST_MISMATCH,
        Reason.UNTRUSTED_CHAIN,
        Reason.CERT_EXPIRED,
        Reason.CERT_NOT_YET_VALID,
        Reason.CERT_REVOKED,
        Reason.KEY_USAGE,
        Reason.WEAK_KEY,
        Reason.WEAK_ALGORITHM,
        Reason.SENDER_MISMATCH,
        Reason.UNSIGNED,
        Reason.UNSUPPORTED_PROFILE,
    )
)


#: Warnings on an accepted package that make it "signed, but weakly" (counted apart).
WEAK_WARNINGS: frozenset[Reason] = frozenset({Reason.WEAK_ALGORITHM})


def utc_text(moment: datetime) -> str:
    """Fixed-width UTC text (microseconds), so text order is time order on every backend."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class DocumentFact:
    """One decision about a document (kind ``document``)."""

    message_id: str
    sender: str
    day: date
    ok: bool
    classified: bool
    reasons: tuple[str, ...]
    decided_at: str  # utc_text
    #: Accepted with a weak signature (SHA-1 allowed by configuration); never set on a refusal.
    weak: bool = False


@dataclass(frozen=True, slots=True)
class RefusalFact:
    """One refused package (any kind), by event id."""

    event_id: str
    message_id: str | None
    sender: str
    kind: str | None
    day: date
    reasons: tuple[str, ...]

    @property
    def signature(self) -> bool:
        """True when a reason says the package was not validly signed by its sender."""
        return any(r in SIGNATURE_REASONS for r in self.reasons)


@dataclass(frozen=True, slots=True)
class ReportFact:
    """An accepted register report: an agency's totals for one period."""

    agency: str
    period: str
    sent_at: str  # utc_text; the later report for (agency, period) wins
    message_id: str
    paper_sent: int
    secret_sent: int
    scanned_pct: float | None
    officials_pct: float | None
    level4_pct: float | None

    @classmethod
    def from_info(
        cls, agency: str, info: RegisterInfo, sent_at: datetime, message_id: str
    ) -> ReportFact:
        """The fact for a register header's body."""
        return cls(
            agency=agency,
            period=info.period,
            sent_at=utc_text(sent_at),
            message_id=message_id,
            paper_sent=info.paper_sent,
            secret_sent=info.secret_sent,
            scanned_pct=info.scanned_pct,
            officials_pct=info.officials_pct,
            level4_pct=info.level4_pct,
        )

    def supersedes(self, other: ReportFact) -> bool:
        """True when this report replaces ``other`` (later ``sent_at``; ties: larger id)."""
        return (self.sent_at, self.message_id) > (other.sent_at, other.message_id)


@dataclass(frozen=True, slots=True)
class EventFacts:
    """Everything one verdict event contributes."""

    event_id: str
    sender: str
    day: date
    document: DocumentFact | None = None
    refusal: RefusalFact | None = None
    report: ReportFact | None = None


def _header(event: VerdictEvent) -> Header | None:
    if event.header is None:
        return None
    try:
        return Header.model_validate_json(b64url_decode(event.header))
    except (ValidationError, ValueError):
        # The router only carries headers it parsed with this same schema; a header
        # we cannot read is from another version and falls back to the report's fields.
        log.warning("cannot read the header of event %s; using the report", event.event_id)
        return None


def facts_from_event(event: VerdictEvent, tz: tzinfo) -> EventFacts | None:
    """The coverage facts of ``event``, days in ``tz``; None when no agency can be blamed."""
    header = _header(event)
    sender = header.sender if header else (event.from_ or event.report.from_)
    sent_at = header.sent_at if header else event.report.sent_at
    kind = header.kind if header else event.kind
    if sender is None or sent_at is None or not AGENCY_CODE_RE.fullmatch(sender):
        return None
    day = local_day(sent_at, tz)
    ok = event.verdict == "ok"
    reasons = tuple(r.value for r in event.reasons if r is not Reason.OK)
    mid = str(event.message_id) if event.message_id is not None else None
    event_id = event.event_id
    document = refusal = report = None
    if kind is Kind.DOCUMENT and mid is not None:
        secret = bool(
            header
            and header.document is not None
            and header.document.classification is Classification.SECRET
        )
        document = DocumentFact(
            message_id=mid,
            sender=sender,
            day=day,
            ok=ok,
            classified=secret or Reason.CLASSIFIED.value in reasons,
            reasons=() if ok else reasons,
            decided_at=utc_text(event.decided_at),
            # A refusal's warnings say nothing about how the agency's accepted documents
            # were signed; only an accepted decision can make a document weak.
            weak=ok and not WEAK_WARNINGS.isdisjoint(event.report.warnings),
        )
    if not ok:
        refusal = RefusalFact(
            event_id=event_id,
            message_id=mid,
            sender=sender,
            kind=kind.value if kind else None,
            day=day,
            reasons=reasons,
        )
    elif kind is Kind.REGISTER and header is not None and header.register_ is not None:
        report = ReportFact.from_info(sender, header.register_, sent_at, str(header.message_id))
    return EventFacts(event_id, sender, day, document, refusal, report)
