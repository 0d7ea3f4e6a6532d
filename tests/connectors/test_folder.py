"""The drop-folder adapter against a real broker and router: nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from connectors.agency import AgencyClient
from connectors.folder import FolderAdapter
from connectors.webhook import RetryPolicy
from hub.router.service import RouterService
from schemas import wire
from schemas.header import DocSigner, DocumentCode, DocumentMeta, Promulgation, utc_now
from schemas.package import b64url_decode
from schemas.wire import agency_group
from signing.pki import DemoPKI
from tests.conftest import HUB, PDF, A, B, C
from tests.connectors.test_folder_hostile import LONG_NAME
from tests.connectors.test_webhook import committed, start_at_end
from tests.hub.router.test_kafka import read_topic, router_settings, running_router

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
    inbox_b = await read_topic(kafka_bootstrap, wire.inbox(B))
    assert inbox_b.count(raw) == 1, "the hub refused the re-submission as a duplicate"
    await a.client.close()


async def test_received_messages_survive_a_restart_without_loss(
    kafka_bootstrap: str, router: RouterService, pki: DemoPKI, tmp_path: Path
) -> None:
    sender = client(pki, A, kafka_bootstrap)
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


# -- hostile input over the real broker ----------------------------------------------------


def meta_for(subject: str) -> DocumentMeta:
    return DocumentMeta(
        code=DocumentCode(number="3", notation="SNV"),
        promulgation=Promulgation(place="Bắc Giang", date=utc_now().date()),
        document_type="Công văn",
        subject=subject,
        signer=DocSigner(full_name="Lê C"),
    )


async def test_hostile_names_and_an_unstorable_message_do_not_stop_the_recipient(
    kafka_bootstrap: str, router: RouterService, pki: DemoPKI, tmp_path: Path
) -> None:
    sender = client(pki, A, kafka_bootstrap)
    b = FolderAdapter(
        client(pki, B, kafka_bootstrap),
        tmp_path / "b",
        store_retry=RetryPolicy(2, base_seconds=0.05, max_seconds=0.1),
    )
    names = {LONG_NAME: PDF, "header.json": b"{}", "Báo cáo.pdf": b"1", "BÁO CÁO.pdf": b"2"}
    hostile = await sender.send_document([B], meta_for("Tên tệp lạ"), names)
    # A message whose folder cannot be made (a file is in the way): retried, then parked.
    blocked_id = uuid.uuid4()
    (b.root / "inbox" / str(blocked_id)).write_bytes(b"")
    blocked = await sender.submit(
        sender.document([B], meta_for("Không lưu được"), {"x.pdf": PDF}, message_id=blocked_id)
    )
    after = await sender.send_document([B], meta_for("Văn bản sau"), {"sau.pdf": PDF})
    await sender.close()

    stop = asyncio.Event()
    task = asyncio.create_task(b.run(stop, poll=0.2))
    done = b.root / "inbox" / after.message_id / "package.json"
    async with asyncio.timeout(60):
        while not done.exists():
            assert not task.done(), task
            await asyncio.sleep(0.1)
    stop.set()
    await task
    await b.client.close()

    got = b.root / "inbox" / hostile.message_id
    listing = json.loads((got / "attachments.json").read_bytes())["attachments"]
    files = {e["name"]: e["file"] for e in listing}
    assert files["header.json"] == "header (2).json"
    assert files["BÁO CÁO.pdf"] == "BÁO CÁO (2).pdf"
    assert len(files[LONG_NAME].encode()) <= 255 and files[LONG_NAME].endswith(".pdf")
    for name, data in names.items():
        assert (got / files[name]).read_bytes() == data
    assert (got / "header.json").read_bytes() == b64url_decode(
        json.loads((got / "package.json").read_bytes())["header"]
    )
    parked = b.root / "parked"
    [reason_file] = parked.glob(f"*-{blocked.message_id}.reason.json")
    assert json.loads(reason_file.read_bytes())["attempts"] == 2
    status = json.loads((b.root / "connector.json").read_bytes())
    assert status["this_run"]["parked"] == 1 and status["running"] is False
    assert status["this_run"]["received"] >= 2


async def test_the_cli_stops_with_one_line_when_the_folder_takes_nothing(
    kafka_bootstrap: str, router: RouterService, pki: DemoPKI, tmp_path: Path
) -> None:
    """Files of at most 1,500 bytes (RLIMIT_FSIZE) stand in for a full disk."""
    group = agency_group(C, "folder")
    await start_at_end(kafka_bootstrap, group, C)
    before = await committed(kafka_bootstrap, group, C)
    sender = client(pki, A, kafka_bootstrap)
    sent = await sender.send_document([C], meta_for("Đĩa đầy"), {"cv.pdf": PDF})
    await sender.close()
    issued = pki.agency(C)

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1500, 1500))

    argv = [
        sys.executable, "-m", "edoc", "connector", "folder", "--agency", C,
        "--dir", str(tmp_path / "c"), "--key", str(issued.key), "--cert", str(issued.chain),
        "--store-attempts", "2",
    ]  # fmt: skip
    env = os.environ | {"EDOC_KAFKA_BOOTSTRAP": kafka_bootstrap, "EDOC_HUB_CODE": HUB}
    res = await asyncio.to_thread(
        subprocess.run, argv, capture_output=True, text=True, timeout=120, check=False,
        cwd=tmp_path, env=env, preexec_fn=small_files,
    )  # fmt: skip
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    [error] = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert f"cannot store received message {sent.message_id} nor park it" in error
    assert "File too large" in error
    assert "hint: free space" in res.stderr
    assert await committed(kafka_bootstrap, group, C) == before, "received again at next start"
