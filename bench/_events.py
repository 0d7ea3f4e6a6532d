"""A real verdict event (demo PKI, real signature, real router decision) to copy in benchmarks."""

from __future__ import annotations

import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.directory import Directory, load_directory_file
from hub.router.decide import Router
from hub.router.index import MessageIndex
from hub.settings import Settings
from schemas import wire
from schemas.events import SourceRecord, VerdictEvent
from schemas.header import DocSigner, DocumentCode, DocumentMeta, Header, Kind, Promulgation
from signing.pki import DemoPKI
from signing.signer import Signer, attachment_ref, build_package
from signing.trust import TrustStore
from signing.verifier import Verifier

HUB, A, B = "000.00.99.H49", "000.00.01.H49", "000.00.02.H49"


def one_event() -> VerdictEvent:
    """The router's verdict event for one signed document from A to B."""
    with tempfile.TemporaryDirectory() as tmp:
        pki = DemoPKI.init(Path(tmp) / "pki", hub_code=HUB)
        issued = pki.issue(A, "Sở Nội vụ")
        pdf = b"%PDF-1.4\n" + b"x" * 2000
        now = datetime.now(UTC).replace(microsecond=0)
        header = Header(
            message_id=uuid.uuid4(),
            kind=Kind.DOCUMENT,
            **{"from": A},
            to=[B],
            sent_at=now,
            document=DocumentMeta(
                code=DocumentCode(number="1", notation="SNV"),
                promulgation=Promulgation(place="Bắc Giang", date=now.date()),
                document_type="Công văn",
                subject="Benchmark",
                signer=DocSigner(full_name="A"),
            ),
            attachments=[attachment_ref("a1", "a.pdf", pdf)],
        )
        raw = build_package(
            header, {"a1": pdf}, [Signer.from_files(issued.key, issued.chain)]
        ).to_bytes()
        router = Router(
            Verifier(TrustStore.from_paths([pki.root_cert], [pki.crl_dir])),
            Directory(load_directory_file(Settings().directory_file)),
            MessageIndex(timedelta(days=1)),
            hub_code=HUB,
            hub_signer=Signer.from_files(pki.hub.key, pki.hub.chain),
        )
        decision = router.decide(
            raw, source=SourceRecord(topic=wire.SUBMIT, partition=0, offset=0), received_at=now
        )
        return decision.event
