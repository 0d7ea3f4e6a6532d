"""The audit recorder against a real broker: every verdict once, signed checkpoints published."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path

import pytest

from hub.audit.recorder import AuditRecorder
from hub.settings import Settings
from hub.store.db import make_engine
from hub.store.integrity import verify_integrity
from hub.store.log import SignatureLog
from schemas import wire
from signing.checkpoint import SignedCheckpoint
from signing.keys import load_cert_chain
from signing.pki import DemoPKI
from tests.conftest import A, B, C, PackageFactory
from tests.hub.router.test_kafka import (
    message_id,
    read_topic,
    router_settings,
    running_router,
    submit,
)
from tests.hub.running import running_on_database

pytestmark = pytest.mark.kafka


def running_recorder(settings: Settings) -> contextlib.AbstractAsyncContextManager[AuditRecorder]:
    return running_on_database(
        settings, lambda engine: AuditRecorder(settings, SignatureLog(engine))
    )


async def test_every_verdict_recorded_once_with_published_checkpoints(
    kafka_bootstrap: str, pki: DemoPKI, signed_package: PackageFactory, tmp_path: Path
) -> None:
    settings = router_settings(kafka_bootstrap, pki).model_copy(
        update={
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}",
            "audit_group": f"audit-{uuid.uuid4().hex[:8]}",
            "checkpoint_every_entries": 5,
            "checkpoint_every_seconds": 3600.0,
        }
    )
    packages = [signed_package(A, [B]) for _ in range(8)] + [
        signed_package(C, [B], signer=A)
        for _ in range(4)  # refused: sender_mismatch
    ]
    ours = {message_id(p) for p in packages}
    log = SignatureLog(make_engine(settings.database_url))
    async with running_router(settings), running_recorder(settings):
        await submit(kafka_bootstrap, *packages)
        async with asyncio.timeout(60):
            while True:
                recorded = {e.message_id for e in await log.query_all()}
                if ours <= recorded:
                    break
                await asyncio.sleep(0.2)
    # A second recorder (new group: re-reads every event from the start) adds nothing twice.
    size_before = await log.size()
    again = settings.model_copy(update={"audit_group": f"audit-{uuid.uuid4().hex[:8]}"})
    total_events = len(await read_topic(kafka_bootstrap, wire.EVENTS, quiet=0.5))
    async with running_recorder(again) as second:
        async with asyncio.timeout(60):
            while second.seen < total_events:
                await asyncio.sleep(0.2)
    assert second.recorded == 0 and await log.size() == size_before
    entries = await log.query_all()
    for mid in ours:
        assert sum(e.message_id == mid for e in entries) == 1
    verdicts = {e.message_id: (e.verdict, e.reasons) for e in entries if e.message_id in ours}
    assert sorted(verdicts.values()) == [("ok", [])] * 8 + [("rejected", ["sender_mismatch"])] * 4
    cert = load_cert_chain(pki.hub.cert)[0]
    report = await verify_integrity(log, cert)
    assert report.ok, report.problems
    assert report.checkpoints_checked >= 1
    published = [
        SignedCheckpoint.from_text(v.decode())
        for v in await read_topic(kafka_bootstrap, wire.CHECKPOINTS)
    ]
    stored = {cp.tree_size for cp in await log.checkpoints()}
    mine = [p for p in published if p.checkpoint.size in stored]
    assert mine, "checkpoints are published on edoc.checkpoints"
    for p in mine:
        p.verify(cert)
    await log.engine.dispose()
