"""The drop-folder adapter against a real broker and router: nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from connectors.agency import AgencyClient
from connectors.folder import FolderAdapter
from hub import topics
from hub.router_service import RouterService
from signing.pki import DemoPKI
from tests.conftest import HUB, PDF, A, B
from tests.hub.test_router_kafka import read_topic, router_settings, running_router

pytestmark = pytest.mark.kafka


@pytest.fixture
async def router(kafka_bootstrap: str, pki: DemoPKI) -> AsyncIterator[RouterService]:
    async with running_router(router_settings(kafka_bootstrap, pki)) as service:
        yield service


def client(pki: DemoPKI, code: str, bootstrap: str) -> AgencyClient:
    issued = pki.agency(code)
    return AgencyClient.from_files(
        code,
        issued.key,
        issued.chain,
        bootstrap,
        trust_anchors=[pki.root_cert],
        crls=[pki.crl_dir],
        hub_code=HUB,
    )


async def run_for(
    adapter: FolderAdapter, until: asyncio.Future[None] | None = None, seconds: float = 8.0
) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(adapter.run(stop, poll=0.2))
    await asyncio.sleep(seconds)
    stop.set()
    await task
    await adapter.client.close()


def drop(outbox: Path, stem: str, meta: dict[str, object], data: bytes = PDF) -> None:
    (outbox / f"{stem}.pdf").write_bytes(data)
    (outbox / f"{stem}.meta.json").write_text(json.dumps(meta, ensure_ascii=False))


async def test_document_dropped_by_a_arrives_in_b_folder(
    kafka_bootstrap: str, router: RouterService, pki: DemoPKI, tmp_path: Path
) -> None:
    a = FolderAdapter(client(pki, A, kafka_bootstrap), tmp_path / "a")
    b = FolderAdapter(client(pki, B, kafka_bootstrap), tmp_path / "b")
    drop(
        a.root / "outbox",
        "cv-125",
        {
            "to": [B],
            "subject": "V/v họp giao ban",
            "number": "125",
            "notation": "SNV-VP",
            "signed_by": "Nguyễn Văn A",
        },
    )
    drop(a.root / "outbox", "bad", {"to": ["H49"], "subject": "mã nhận sai"})
    await asyncio.gather(run_for(a), run_for(b))
    sent = json.loads((a.root / "sent" / "cv-125.sent.json").read_text())
    assert (a.root / "sent" / "cv-125.pdf").read_bytes() == PDF
    assert not list((a.root / "outbox").iterdir())
    got = b.root / "inbox" / sent["message_id"]
    assert (got / "cv-125.pdf").read_bytes() == PDF, "the recipient gets the exact bytes"
    assert (
        json.loads((got / "header.json").read_bytes())["document"]["subject"] == "V/v họp giao ban"
    )
    # The refused one is kept, with a reason that says what is wrong.
    assert (a.root / "failed" / "bad.pdf").read_bytes() == PDF
    assert "ddd.dd.dd.Xnn" in (a.root / "failed" / "bad.reason.txt").read_text()
    # A's status folder holds the hub's signed receipt for the delivery.
    receipts = [json.loads(p.read_text()) for p in (a.root / "status").glob("*.json")]
    mine = [r for r in receipts if r["status"]["ref_message_id"] == sent["message_id"]]
    assert mine and mine[0]["status"]["code"] == "01" and mine[0]["_hub"]["receipt"] is True


async def test_crash_after_submit_before_filing_does_not_deliver_twice(
    kafka_bootstrap: str, router: RouterService, pki: DemoPKI, tmp_path: Path
) -> None:
    a = FolderAdapter(client(pki, A, kafka_bootstrap), tmp_path / "a")
    drop(a.root / "outbox", "cv-7", {"to": [B], "subject": "Gửi lại sau sự cố"})
    # Simulate the crash: signed into pending and submitted, but never filed as sent.
    raw = a._build("cv-7")
    (a.root / ".state" / "pending" / "cv-7.package.json").write_bytes(raw)
    await a.client.submit(raw)
    # The restarted adapter finds the pending package and submits the same bytes again.
    await run_for(a, seconds=4)
    assert (a.root / "sent" / "cv-7.sent.json").exists()
    assert not (a.root / ".state" / "pending" / "cv-7.package.json").exists()
    inbox_b = await read_topic(kafka_bootstrap, topics.inbox(B))
    assert inbox_b.count(raw) == 1, "the hub refused the re-submission as a duplicate"
    await a.client.close()


async def test_received_messages_survive_a_restart_without_loss(
    kafka_bootstrap: str, router: RouterService, pki: DemoPKI, tmp_path: Path
) -> None:
    sender = client(pki, A, kafka_bootstrap)
    from schemas.header import (  # noqa: PLC0415
        DocSigner,
        DocumentCode,
        DocumentMeta,
        Promulgation,
        utc_now,
    )

    meta = DocumentMeta(
        code=DocumentCode(number="9", notation="SNV"),
        promulgation=Promulgation(place="Bắc Giang", date=utc_now().date()),
        document_type="Công văn",
        subject="Ba văn bản liên tiếp",
        signer=DocSigner(full_name="Lê C"),
    )
    ids = [(await sender.send_document([B], meta, {"x.pdf": PDF})).message_id for _ in range(3)]
    await sender.close()
    b1 = FolderAdapter(client(pki, B, kafka_bootstrap), tmp_path / "b")
    await run_for(b1, seconds=5)
    b2 = FolderAdapter(client(pki, B, kafka_bootstrap), tmp_path / "b")  # restarted
    await run_for(b2, seconds=3)
    for mid in ids:
        assert (tmp_path / "b" / "inbox" / mid / "package.json").exists()
