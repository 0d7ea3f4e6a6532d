"""Realistic provincial traffic for demos and load: documents, statuses, register reports,
and a share of bad actors the hub must refuse.

Bad actors (each a reason code the hub must give): a header altered after signing
(``bad_signature``), a package signed by another agency (``sender_mismatch``), an
unknown recipient (``unknown_recipient``), a secret document (``classified``), a
replay of an accepted package (``duplicate``), and a ``sent_at`` far from now (``stale``).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from connectors.agency import AgencyClient
from connectors.sdk import HubClient, KafkaAuth
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
)
from schemas.package import Package, b64url_decode, b64url_encode
from signing.pki import DemoPKI
from signing.signer import Signer, build_package

SUBJECTS = [
    "V/v báo cáo kết quả cải cách hành chính",
    "V/v triển khai kế hoạch chuyển đổi số",
    "V/v góp ý dự thảo quyết định",
    "V/v mời họp giao ban tháng",
    "V/v tăng cường kỷ luật, kỷ cương hành chính",
    "V/v thực hiện dịch vụ công trực tuyến mức độ 4",
]
DOC_TYPES = ["Công văn", "Quyết định", "Kế hoạch", "Thông báo", "Báo cáo", "Tờ trình"]
BAD_KINDS = ("tampered", "wrong_signer", "unknown_recipient", "secret", "replay", "stale")
#: Bad actors that need certificates prepared before the hub loads its CRLs.
CERT_BAD_KINDS = ("expired_cert", "revoked_cert")


@dataclass(frozen=True)
class SimAgency:
    """An agency the simulator speaks for."""

    code: str
    name: str


@dataclass
class SimStats:
    """What the simulator sent, by kind (``document``, ``status``, ``register``, ``bad:<kind>``)."""

    sent: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        """All packages submitted."""
        return sum(self.sent.values())


def _pdf(title: str, size: int = 0) -> bytes:
    body = f"BT /F1 14 Tf 72 720 Td ({title.encode('ascii', 'replace').decode()}) Tj ET".encode()
    # Scanned official documents are tens to hundreds of KB; pad to a realistic size.
    padding = b"%" + b"0" * max(0, size - len(body) - 40) + b"\n" if size else b""
    return b"%PDF-1.4\n% edoc-hub simulator\n" + body + b"\n" + padding + b"%%EOF\n"


class Simulator:
    """Sends traffic at ``rate`` packages per second for ``duration`` seconds."""

    def __init__(
        self,
        pki: DemoPKI,
        agencies: list[SimAgency],
        bootstrap: str,
        *,
        hub_code: str,
        bad_share: float = 0.1,
        seed: int | None = None,
        auth: KafkaAuth | None = None,
    ) -> None:
        """``auth``: one Kafka identity for every simulated agency (e.g. the super-user)."""
        if len(agencies) < 3:
            raise ValueError("the simulator needs at least three agencies")
        self.rng = random.Random(seed)  # noqa: S311 -- traffic shape, not security
        self.agencies = agencies
        self.hub = HubClient(bootstrap, auth=auth)
        self.bad_share = bad_share
        self.clients: dict[str, AgencyClient] = {}
        for a in agencies:
            if not pki.agency(a.code).cert.exists():
                pki.issue(a.code, a.name)
            issued = pki.agency(a.code)
            self.clients[a.code] = AgencyClient(
                a.code,
                Signer.from_files(issued.key, issued.chain),
                bootstrap,
                hub_code=hub_code,
                auth=auth,
            )
        self.hub_code = hub_code
        self.pki = pki
        self.bad_signers: dict[str, tuple[str, Signer]] = {}  # kind -> (agency, signer)
        # (id, sender, recipient, when sent): statuses answer documents sent a while ago,
        # so the hub has accepted them before the answer arrives.
        self.accepted: list[tuple[uuid.UUID, str, str, float]] = []
        self.status_delay = 2.0
        #: Every package submitted, with its kind label, for checking the hub's verdicts.
        self.journal: list[tuple[str, bytes]] = []
        self.sent_raw: list[bytes] = []
        self.stats = SimStats()

    def prepare_bad_certificates(self) -> None:
        """An expired and a revoked certificate for two agencies. Call before the hub starts,
        so the CRL it loads already lists the revoked one."""
        now = datetime.now(UTC)
        a, b = self.agencies[0], self.agencies[1]
        # Expired a few minutes ago (beyond the clock skew), issued while the CA was valid.
        key, chain = self.pki.issue_extra(
            a.code, a.name, not_before=now - timedelta(minutes=9), lifetime=timedelta(minutes=2)
        )
        self.bad_signers["expired_cert"] = (a.code, Signer(key, chain))
        key, chain = self.pki.issue_extra(b.code, b.name, revoked_at=now - timedelta(minutes=5))
        self.bad_signers["revoked_cert"] = (b.code, Signer(key, chain))

    async def close(self) -> None:
        """Close every connection."""
        await self.hub.close()
        for c in self.clients.values():
            await c.close()

    def _meta(
        self, subject: str, classification: Classification = Classification.PUBLIC
    ) -> DocumentMeta:
        today = datetime.now(UTC).date()
        return DocumentMeta(
            code=DocumentCode(number=str(self.rng.randint(1, 999)), notation="UBND-VP"),
            promulgation=Promulgation(place="Bắc Giang", date=today),
            document_type=self.rng.choice(DOC_TYPES),
            subject=subject,
            signer=DocSigner(full_name="Nguyễn Văn A", position="Chánh Văn phòng"),
            priority=self.rng.choice([0, 0, 0, 1, 2]),
            classification=classification,
        )

    def _document(
        self,
        *,
        sent_at: datetime | None = None,
        classification: Classification = Classification.PUBLIC,
        to: list[str] | None = None,
    ) -> tuple[str, bytes, list[str]]:
        sender = self.rng.choice(self.agencies).code
        others = [a.code for a in self.agencies if a.code != sender]
        recipients = to or self.rng.sample(others, k=self.rng.randint(1, min(3, len(others))))
        subject = self.rng.choice(SUBJECTS)
        size = int(self.rng.lognormvariate(11.0, 0.8))  # median ≈ 60 KB, a few hundred KB
        raw = self.clients[sender].document(
            recipients,
            self._meta(subject, classification),
            {"van-ban.pdf": _pdf(subject, min(size, 2_000_000))},
            sent_at=sent_at,
        )
        return sender, raw, recipients

    def next_package(self) -> tuple[str, bytes]:
        """One package to submit and its kind label."""
        roll = self.rng.random()
        if roll < self.bad_share:
            return self._bad(self.rng.choice(BAD_KINDS + tuple(self.bad_signers)))
        settled = [a for a in self.accepted if time.monotonic() - a[3] > self.status_delay]
        if roll < self.bad_share + 0.25 and settled:
            mid, sender, recipient, _ = self.rng.choice(settled)
            if self.rng.random() < 0.1:  # the sender asks a recipient to recall it
                return "status", self.clients[sender].status(
                    mid, recipient, StatusCode.RECALL_REQUESTED, description="Ban hành nhầm"
                )
            code = self.rng.choice(
                [StatusCode.ACCEPTED, StatusCode.PROCESSING, StatusCode.COMPLETED]
            )
            return "status", self.clients[recipient].status(mid, sender, code, staff="Văn thư")
        sender, raw, recipients = self._document()
        header = json.loads(b64url_decode(Package.model_validate_json(raw).header))
        now = time.monotonic()
        for r in recipients:
            self.accepted.append((uuid.UUID(header["message_id"]), sender, r, now))
        self.sent_raw.append(raw)
        return "document", raw

    def _bad(self, kind: str) -> tuple[str, bytes]:
        if kind in self.bad_signers:
            return self._bad_certificate(kind)
        return self._bad_content(kind)

    def _bad_certificate(self, kind: str) -> tuple[str, bytes]:
        code, signer = self.bad_signers[kind]
        others = [a.code for a in self.agencies if a.code != code]
        header = Header(
            message_id=uuid.uuid4(),
            kind=Kind.DOCUMENT,
            **{"from": code},
            to=[self.rng.choice(others)],
            sent_at=datetime.now(UTC).replace(microsecond=0),
            document=self._meta(self.rng.choice(SUBJECTS)),
        )
        return f"bad:{kind}", build_package(header, {}, [signer]).to_bytes()

    def _bad_content(self, kind: str) -> tuple[str, bytes]:
        if kind == "replay" and self.sent_raw:
            return "bad:replay", self.rng.choice(self.sent_raw)
        if kind == "secret":
            return "bad:secret", self._document(classification=Classification.SECRET)[1]
        if kind == "stale":
            return "bad:stale", self._document(
                sent_at=datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
            )[1]
        if kind == "unknown_recipient":
            return "bad:unknown_recipient", self._document(to=["999.99.99.H49"])[1]
        sender, raw, _ = self._document()
        pkg = Package.model_validate_json(raw)
        if kind == "wrong_signer":
            impostor = self.rng.choice([c for c in self.clients if c != sender])
            header_bytes = b64url_decode(pkg.header)
            forged = pkg.model_copy(
                update={"signatures": [self.clients[impostor].signer.sign(header_bytes)]}
            )
            return "bad:wrong_signer", forged.to_bytes()
        header = json.loads(b64url_decode(pkg.header))
        header["document"]["subject"] += " (đã bị sửa)"
        tampered = pkg.model_copy(
            update={"header": b64url_encode(json.dumps(header, ensure_ascii=False).encode())}
        )
        return "bad:tampered", tampered.to_bytes()

    async def send_register_reports(self, period: str) -> None:
        """Each agency reports its paper totals and indicators for ``period``."""
        for client in self.clients.values():
            info = RegisterInfo(
                period=period,
                paper_sent=self.rng.randint(0, 20),
                secret_sent=self.rng.randint(0, 3),
                scanned_pct=round(self.rng.uniform(60, 100), 1),
                officials_pct=round(self.rng.uniform(70, 100), 1),
                level4_pct=round(self.rng.uniform(10, 45), 1),
            )
            raw = client.register_report(info)
            await self.hub.submit(raw)
            self.journal.append(("register", raw))
            self.stats.sent["register"] += 1

    async def run(
        self, rate: float, duration: float, on_sent: Callable[[str], None] | None = None
    ) -> SimStats:
        """Submit about ``rate`` packages per second for ``duration`` seconds."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        n = 0
        while (elapsed := loop.time() - start) < duration:
            due = int(elapsed * rate) + 1
            while n < due:
                kind, raw = self.next_package()
                await self.hub.submit(raw)
                self.journal.append((kind, raw))
                self.stats.sent[kind] += 1
                n += 1
                if on_sent:
                    on_sent(kind)
            await asyncio.sleep(max(0.0, (n / rate) - (loop.time() - start)))
        return self.stats
