"""Building blocks for coverage tests: headers of every kind and verdict events about them.

Events are made directly (no signing): the coverage counter trusts the
router's verdict, so what matters is the header, the verdict and the reasons.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from schemas import wire
from schemas.events import SourceRecord, VerdictEvent
from schemas.header import (
    Classification,
    DocSigner,
    DocumentCode,
    DocumentMeta,
    Header,
    Kind,
    Promulgation,
    RegisterInfo,
    StatusCode,
    StatusInfo,
)
from schemas.package import b64url_encode
from schemas.reasons import Reason
from schemas.report import VerificationReport

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
HUB = "000.00.99.H49"
PROVINCE = "000.00.00.H49"
S1, S2 = "000.00.01.H49", "000.00.02.H49"  # departments
UNIT = "000.00.11.H49"  # Trường Chính trị tỉnh (a unit under the province)
DISTRICT = "000.00.26.H49"  # huyện Lục Ngạn
C1, C2, C3 = "000.01.26.H49", "000.02.26.H49", "000.03.26.H49"  # its communes

_offsets = itertools.count()


def local(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A wall-clock time in Bắc Giang (UTC+7)."""
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


def document(
    sender: str,
    to: list[str],
    sent_at: datetime,
    *,
    message_id: uuid.UUID | None = None,
    secret: bool = False,
) -> Header:
    """A document header."""
    return Header(
        message_id=message_id or uuid.uuid4(),
        kind=Kind.DOCUMENT,
        **{"from": sender},
        to=to,
        sent_at=sent_at,
        document=DocumentMeta(
            code=DocumentCode(number="7", notation="UBND-VP"),
            promulgation=Promulgation(place="Bắc Giang", date=sent_at.date()),
            document_type="Công văn",
            subject="V/v báo cáo tình hình",
            signer=DocSigner(full_name="Nguyễn Văn A"),
            classification=Classification.SECRET if secret else Classification.PUBLIC,
        ),
    )


def status(sender: str, to: str, sent_at: datetime, ref: uuid.UUID) -> Header:
    """A status 03 (accepted) about document ``ref``."""
    return Header(
        message_id=uuid.uuid4(),
        kind=Kind.STATUS,
        **{"from": sender},
        to=[to],
        sent_at=sent_at,
        status=StatusInfo(code=StatusCode.ACCEPTED, ref_message_id=ref),
    )


def register(
    sender: str,
    sent_at: datetime,
    period: str,
    paper: int,
    *,
    secret: int = 0,
    scanned: float | None = None,
    officials: float | None = None,
    level4: float | None = None,
    hub: str = HUB,
) -> Header:
    """A register report for ``period``, addressed to the hub."""
    return Header(
        message_id=uuid.uuid4(),
        kind=Kind.REGISTER,
        **{"from": sender},
        to=[hub],
        sent_at=sent_at,
        register=RegisterInfo(
            period=period,
            paper_sent=paper,
            secret_sent=secret,
            scanned_pct=scanned,
            officials_pct=officials,
            level4_pct=level4,
        ),
    )


def verdict(
    header: Header,
    *reasons: Reason,
    decided_at: datetime | None = None,
    offset: int | None = None,
    weak: bool = False,
) -> VerdictEvent:
    """The router's verdict event about ``header``: ok without reasons, rejected with them.

    ``weak``: the report warns ``weak_algorithm``, as for an RSA-SHA1 edXML signature
    verified with SHA-1 allowed (whatever the verdict).
    """
    raw = header.to_json_bytes()
    sha = hashlib.sha256(raw + str(next(_offsets)).encode()).hexdigest()
    ok = not reasons
    decided = decided_at or header.sent_at.astimezone(UTC) + timedelta(seconds=2)
    report = VerificationReport(
        verdict="ok" if ok else "rejected",
        reasons=list(reasons),
        message_id=header.message_id,
        kind=header.kind,
        **{"from": header.sender},
        to=list(header.to),
        sent_at=header.sent_at,
        package_sha256=sha,
        warnings=[Reason.WEAK_ALGORITHM] if weak else [],
    )
    return VerdictEvent(
        message_id=header.message_id,
        package_sha256=sha,
        kind=header.kind,
        **{"from": header.sender},
        to=list(header.to),
        verdict=report.verdict,
        reasons=list(reasons),
        received_at=decided,
        decided_at=decided,
        source=SourceRecord(
            topic=wire.SUBMIT, partition=0, offset=next(_offsets) if offset is None else offset
        ),
        report=report,
        header=b64url_encode(raw),
    )


def malformed() -> VerdictEvent:
    """A verdict about a package too broken to have a header or a sender."""
    sha = hashlib.sha256(str(next(_offsets)).encode()).hexdigest()
    report = VerificationReport(verdict="rejected", reasons=[Reason.MALFORMED], package_sha256=sha)
    now = datetime.now(UTC)
    return VerdictEvent(
        message_id=None,
        package_sha256=sha,
        kind=None,
        **{"from": None},
        to=[],
        verdict="rejected",
        reasons=[Reason.MALFORMED],
        received_at=now,
        decided_at=now,
        source=SourceRecord(topic=wire.SUBMIT, partition=0, offset=next(_offsets)),
        report=report,
    )


def month_of_traffic(year: int, month: int) -> list[VerdictEvent]:
    """A varied month for store and API tests: every kind, refusals, resends, reports.

    Weak (SHA-1) signatures: S1's first two documents and DISTRICT's document are
    accepted with one; C1's refused attempt carries the warning but its accepted
    re-send does not — so S1 has 2, DISTRICT 1, C1 0 documents signed weakly.
    """
    day = lambda d, h=10: local(year, month, d, h)  # noqa: E731 -- a local shorthand
    events: list[VerdictEvent] = []
    for i in range(1, 6):
        events.append(verdict(document(S1, [S2], day(i)), weak=i <= 2))
    resent = document(C1, [DISTRICT], day(3))
    events += [
        verdict(resent, Reason.SENDER_MISMATCH, weak=True),
        verdict(resent, decided_at=None),
    ]
    events.append(verdict(document(C1, [DISTRICT], day(4)), Reason.BAD_SIGNATURE))
    events.append(verdict(document(S2, [S1], day(5), secret=True), Reason.CLASSIFIED))
    ref = document(DISTRICT, [C2], day(6))
    events += [verdict(ref, weak=True), verdict(status(C2, DISTRICT, day(7), ref.message_id))]
    events.append(verdict(status(C2, DISTRICT, day(8), uuid.uuid4()), Reason.UNKNOWN_REFERENCE))
    period = f"{year:04d}-{month:02d}"
    events.append(verdict(register(S1, day(20), period, 4, scanned=80, officials=90)))
    events.append(verdict(register(S1, day(25), period, 2, secret=1, scanned=85, officials=95)))
    events.append(verdict(register(DISTRICT, day(28), period, 6, level4=35)))
    events.append(verdict(register(S2, day(28), period, 1), Reason.BAD_SIGNATURE))
    events.append(malformed())
    return events
