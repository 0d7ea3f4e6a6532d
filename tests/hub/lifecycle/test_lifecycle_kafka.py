"""The lifecycle service on a real broker: delivery, then the recipient's statuses."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.agency import AgencyClient
from hub.lifecycle.service import LifecycleService, document_statuses, overdue
from hub.store.db import make_engine, migrate
from schemas.header import StatusCode
from signing.pki import DemoPKI
from signing.signer import Signer
from tests.conftest import HUB, A, B, PackageFactory
from tests.hub.router.test_kafka import message_id, router_settings, running_router, submit

pytestmark = pytest.mark.kafka


async def test_statuses_follow_the_document(
    kafka_bootstrap: str, pki: DemoPKI, signed_package: PackageFactory, tmp_path: Path
) -> None:
    settings = router_settings(kafka_bootstrap, pki).model_copy(
        update={
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'lc.db'}",
            "lifecycle_group": f"lc-{uuid.uuid4().hex[:8]}",
        }
    )
    engine = make_engine(settings.database_url)
    await migrate(engine)
    service = LifecycleService(settings, engine)
    await service.start()
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    issued = pki.agency(B)
    b = AgencyClient(B, Signer.from_files(issued.key, issued.chain), kafka_bootstrap, hub_code=HUB)
    raw = signed_package(A, [B])
    mid = message_id(raw)
    try:
        async with running_router(settings):
            await submit(kafka_bootstrap, raw)
            async with asyncio.timeout(30):
                while not await document_statuses(engine, mid):
                    await asyncio.sleep(0.2)
            assert [r.status for r in await document_statuses(engine, mid)] == [None]
            later = datetime.now(UTC) + timedelta(hours=9)
            # The service reads edoc.events from the start: every earlier test's documents
            # are overdue too, so look past the default page of 500.
            assert mid in [r.message_id for r in await overdue(engine, later, 8, limit=10**6)]
            await b.send_status(uuid.UUID(mid), A, StatusCode.ACCEPTED, staff="Văn thư Sở Tư pháp")
            async with asyncio.timeout(30):
                while (await document_statuses(engine, mid))[0].status != "03":
                    await asyncio.sleep(0.2)
            assert mid not in [r.message_id for r in await overdue(engine, later, 8, limit=10**6)]
    finally:
        await b.close()
        stop.set()
        await task
        await service.stop()
        await engine.dispose()
