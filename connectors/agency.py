"""The agency client: sign and submit documents and statuses, read the inbox, check receipts.

One ``AgencyClient`` per agency system. It builds the header, signs it with
the agency's key (JWS or CMS), submits over Kafka, and retries a failed
submission with the *same* bytes (same ``message_id``), which the hub accepts
once and refuses as ``duplicate`` afterwards — so a retry can never deliver twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from connectors.errors import ConnectorError, HubUnreachableError
from connectors.sdk import HubClient, InboxMessage, KafkaAuth, Submitted, UnreadableMessage
from schemas.header import (
    DocumentMeta,
    Header,
    Kind,
    RegisterInfo,
    StatusCode,
    StatusInfo,
)
from schemas.package import package_sha256
from schemas.reasons import Reason
from schemas.report import VerificationReport
from signing.signer import Signer, attachment_ref, build_package
from signing.trust import TrustStore
from signing.verifier import Verifier

log = logging.getLogger(__name__)

DEFAULT_HUB_CODE = "000.00.99.H49"


@dataclass(frozen=True)
class Received:
    """An inbox message with what the client found out about it."""

    message: InboxMessage
    #: True for a status the hub itself signed (01 delivered / 02 refused).
    is_hub_receipt: bool
    #: The local re-verification, when the client has a trust store.
    report: VerificationReport | None

    @property
    def trusted(self) -> bool:
        """True when re-verified here with verdict ok (or not re-verified at all)."""
        return self.report is None or self.report.ok


class AgencyClient:
    """Everything an agency system does with the hub, over Kafka."""

    def __init__(
        self,
        code: str,
        signer: Signer,
        bootstrap: str,
        *,
        trust: TrustStore | None = None,
        hub_code: str = DEFAULT_HUB_CODE,
        retries: int = 5,
        auth: KafkaAuth | None = None,
    ) -> None:
        self.code = code
        self.signer = signer
        self.hub = HubClient(bootstrap, auth=auth)
        self.verifier = Verifier(trust, revocation_fail_open=True) if trust else None
        self.hub_code = hub_code
        self.retries = retries

    @classmethod
    def from_files(
        cls,
        code: str,
        key: Path,
        cert: Path,
        bootstrap: str,
        *,
        chain: Path | None = None,
        profile: str = "jws",
        trust_anchors: list[Path] | None = None,
        crls: list[Path] | None = None,
        hub_code: str = DEFAULT_HUB_CODE,
        auth: KafkaAuth | None = None,
    ) -> AgencyClient:
        """Load the agency's PEM key and certificate (and optionally a trust store)."""
        trust = TrustStore.from_paths(trust_anchors, crls or []) if trust_anchors else None
        return cls(
            code,
            Signer.from_files(key, cert, chain, profile),
            bootstrap,
            trust=trust,
            hub_code=hub_code,
            auth=auth,
        )

    async def __aenter__(self) -> AgencyClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the Kafka connection."""
        await self.hub.close()

    # -- building ---------------------------------------------------------
    def document(
        self,
        to: list[str],
        meta: DocumentMeta,
        attachments: Mapping[str, bytes] | None = None,
        *,
        message_id: uuid.UUID | None = None,
        sent_at: datetime | None = None,
    ) -> bytes:
        """A signed document package; ``attachments`` maps file names to bytes."""
        refs, contents = [], {}
        for i, (name, data) in enumerate((attachments or {}).items(), start=1):
            refs.append(attachment_ref(f"a{i}", name, data))
            contents[f"a{i}"] = data
        header = Header(
            message_id=message_id or uuid.uuid4(),
            kind=Kind.DOCUMENT,
            **{"from": self.code},
            to=to,
            sent_at=sent_at or _now(),
            document=meta,
            attachments=refs,
        )
        return build_package(header, contents, [self.signer]).to_bytes()

    def status(
        self,
        ref_message_id: uuid.UUID,
        to: str,
        code: StatusCode,
        *,
        description: str = "",
        staff: str = "",
    ) -> bytes:
        """A signed status about an earlier document (03 accepted … 16 recall refused)."""
        header = Header(
            message_id=uuid.uuid4(),
            kind=Kind.STATUS,
            **{"from": self.code},
            to=[to],
            sent_at=_now(),
            status=StatusInfo(
                code=code, ref_message_id=ref_message_id, description=description, staff=staff
            ),
        )
        return build_package(header, {}, [self.signer]).to_bytes()

    def register_report(self, info: RegisterInfo) -> bytes:
        """A signed register report for a period, addressed to the hub."""
        header = Header(
            message_id=uuid.uuid4(),
            kind=Kind.REGISTER,
            **{"from": self.code},
            to=[self.hub_code],
            sent_at=_now(),
            register_=info,
        )
        return build_package(header, {}, [self.signer]).to_bytes()

    # -- sending ------------------------------------------------------------
    async def submit(self, raw: bytes) -> Submitted:
        """Submit bytes, retrying the same bytes with backoff while the hub is unreachable."""
        delay = 0.5
        for attempt in range(1, self.retries + 1):
            try:
                return await self.hub.submit(raw)
            except (HubUnreachableError, ConnectorError) as exc:
                if attempt == self.retries:
                    raise
                log.warning("submit attempt %d failed (%s); retrying in %.1fs", attempt, exc, delay)
                await self.hub.close()  # reconnect on the next attempt
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        raise ConnectorError("unreachable")  # pragma: no cover -- loop always returns or raises

    async def send_document(
        self, to: list[str], meta: DocumentMeta, attachments: Mapping[str, bytes] | None = None
    ) -> Submitted:
        """Build, sign and submit a document."""
        return await self.submit(self.document(to, meta, attachments))

    async def send_status(
        self, ref_message_id: uuid.UUID, to: str, code: StatusCode, **kw: str
    ) -> Submitted:
        """Build, sign and submit a status."""
        return await self.submit(self.status(ref_message_id, to, code, **kw))

    # -- receiving ------------------------------------------------------------
    async def inbox(
        self,
        *,
        follow: bool = False,
        group_id: str | None = None,
        idle_timeout: float = 2.0,
        stop: asyncio.Event | None = None,
    ) -> AsyncGenerator[Received | UnreadableMessage, None]:
        """The agency inbox; hub receipts flagged, re-verified when a trust store is set.

        A record that is no readable package comes as an ``UnreadableMessage``, for
        the caller to park. Close it (``contextlib.aclosing``) to stop reading at
        once: the message handed out last is then not committed.
        """
        messages = self.hub.inbox(
            self.code, follow=follow, group_id=group_id, idle_timeout=idle_timeout, stop=stop
        )
        async with contextlib.aclosing(messages):
            async for msg in messages:
                yield msg if isinstance(msg, UnreadableMessage) else self._received(msg)

    def _received(self, msg: InboxMessage) -> Received:
        report = _reverify(self.verifier, msg) if self.verifier else None
        is_receipt = (
            msg.header.kind is Kind.STATUS
            and msg.header.sender == self.hub_code
            and msg.header.status is not None
            and msg.header.status.code in (StatusCode.ARRIVED, StatusCode.REJECTED)
        )
        if report is not None and not report.ok:
            log.warning(
                "inbox message %s failed local re-verification: %s",
                msg.header.message_id,
                ",".join(report.reasons),
            )
        return Received(msg, is_receipt, report)


def _reverify(verifier: Verifier, msg: InboxMessage) -> VerificationReport:
    """The local verification; a verifier that fails means not trusted, never a stop."""
    try:
        return verifier.verify_bytes(msg.package.raw)
    except Exception as exc:  # a hostile package must not end the inbox loop
        log.exception("re-verification of %s failed", msg.header.message_id)
        return VerificationReport(
            verdict="rejected",
            reasons=[Reason.UNPROCESSABLE],
            package_sha256=package_sha256(msg.package.raw),
            details=[f"local re-verification failed: {type(exc).__name__}: {exc}"],
        )


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
