"""Parking and replaying on a real broker: a bad record never stops a service."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from hub.kafka.client import ensure_hub_topics
from hub.kafka.guard import dead_letter_headers
from hub.lifecycle.service import LifecycleService
from hub.ops.deadletter import DeadLetterError, get_parked, list_parked, replay
from hub.settings import Settings
from hub.store.db import make_engine, migrate
from hub.store.log import SignatureLog
from hub.store.schema import coverage_documents
from schemas import wire
from schemas.events import VerdictEvent
from signing.pki import DemoPKI
from tests.hub.api.console_tools import running_hub
from tests.hub.audit.test_recorder_kafka import running_recorder
from tests.hub.coverage.test_service_kafka import running_coverage
from tests.hub.kafka.test_guard import Rec
from tests.hub.router.test_kafka import router_settings
from tests.hub.running import running_on_database

pytestmark = pytest.mark.kafka


def running_lifecycle(
    settings: Settings,
) -> contextlib.AbstractAsyncContextManager[LifecycleService]:
    return running_on_database(settings, lambda engine: LifecycleService(settings, engine))


def settings_for(kafka_bootstrap: str, pki: DemoPKI, tmp_path: Path) -> Settings:
    tag = uuid.uuid4().hex[:8]
    return router_settings(kafka_bootstrap, pki, tag).model_copy(
        update={
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}",
            "audit_group": f"audit-{tag}",
            "coverage_group": f"coverage-{tag}",
            "lifecycle_group": f"lifecycle-{tag}",
        }
    )


def parked_headers(
    event: VerdictEvent, offset: int, service: str, error: str
) -> list[tuple[str, bytes]]:
    """The headers ``service`` writes when it parks ``event`` read at edoc.events/0/``offset``."""
    return dead_letter_headers(Rec(event.to_bytes(), offset), service, error)


async def produce(
    bootstrap: str, topic: str, *values: tuple[bytes, list[tuple[str, bytes]]]
) -> list[int]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=4 * 1024 * 1024)
    await producer.start()
    try:
        return [
            (await producer.send_and_wait(topic, v, key=b"test", headers=h)).offset
            for v, h in values
        ]
    finally:
        await producer.stop()


async def test_a_bad_event_is_parked_by_every_consumer_and_the_next_one_is_processed(
    kafka_bootstrap: str,
    pki: DemoPKI,
    tmp_path: Path,
    make_events: Callable[[int], list[VerdictEvent]],
) -> None:
    settings = settings_for(kafka_bootstrap, pki, tmp_path)
    await ensure_hub_topics(settings)
    good = make_events(1)[0]
    junk = f"not an event {uuid.uuid4()}".encode()
    bad_offset, _ = await produce(kafka_bootstrap, wire.EVENTS, (junk, []), (good.to_bytes(), []))
    log = SignatureLog(make_engine(settings.database_url))
    async with (
        running_recorder(settings) as recorder,
        running_coverage(settings) as coverage,
        running_lifecycle(settings) as lifecycle,
    ):
        async with asyncio.timeout(60):
            while not (recorder.parked and coverage.parked and lifecycle.parked):
                await asyncio.sleep(0.2)
            while str(good.message_id) not in {e.message_id for e in await log.query_all()}:
                await asyncio.sleep(0.2)  # the record after the bad one is recorded
    parked = [
        p
        for p in await list_parked(settings, 1000)
        if p.parked and p.parked.offset == bad_offset and p.parked.topic == wire.EVENTS
    ]
    assert {p.parked.service for p in parked if p.parked} == {"audit", "coverage", "lifecycle"}
    item = await get_parked(settings, parked[0].offset)
    assert item.value == junk, "the original bytes are kept"
    # Replaying what is still unreadable fails again, says why, and records nothing.
    engine = make_engine(settings.database_url)
    try:
        with pytest.raises(DeadLetterError, match="failed again"):
            await replay(settings, engine, item)
    finally:
        await engine.dispose()
    await log.engine.dispose()


async def test_replay_runs_the_record_through_its_service_and_is_recorded(
    kafka_bootstrap: str,
    pki: DemoPKI,
    tmp_path: Path,
    make_events: Callable[[int], list[VerdictEvent]],
) -> None:
    """A record parked by coverage (say, for a defect since fixed) is counted on replay."""
    settings = settings_for(kafka_bootstrap, pki, tmp_path)
    await ensure_hub_topics(settings)
    event = next(e for e in make_events(5) if e.verdict == "ok")

    class Source:
        topic, partition, offset, key = wire.EVENTS, 0, 10**9, b"k"
        value = event.to_bytes()
        headers = ()

    headers = dead_letter_headers(Source(), "coverage", "OverflowError: date value out of range")
    (offset,) = await produce(kafka_bootstrap, wire.DEADLETTER, (event.to_bytes(), headers))
    engine = make_engine(settings.database_url)
    await migrate(engine)
    try:
        item = await get_parked(settings, offset)
        action = await replay(settings, engine, item, by="test")
        assert action["service"] == "coverage" and action["source"] == f"{wire.EVENTS}/0/{10**9}"
        async with engine.connect() as conn:
            ids = (await conn.execute(select(coverage_documents.c.message_id))).scalars().all()
        assert str(event.message_id) in ids
    finally:
        await engine.dispose()
    listed = {p.offset: p for p in await list_parked(settings, 1000)}
    assert listed[offset].replayed is not None and listed[offset].replayed["by"] == "test"


async def test_parked_records_are_shown_to_operators_in_the_api_and_the_console(
    kafka_bootstrap: str,
    pki: DemoPKI,
    tmp_path: Path,
    make_events: Callable[[int], list[VerdictEvent]],
) -> None:
    settings = settings_for(kafka_bootstrap, pki, tmp_path)
    await ensure_hub_topics(settings)
    event = make_events(1)[0]
    marker = f"OverflowError: test {uuid.uuid4()}"

    (offset,) = await produce(
        kafka_bootstrap,
        wire.DEADLETTER,
        (event.to_bytes(), parked_headers(event, 7, "lifecycle", marker)),
    )
    async with running_hub(settings) as hub:
        listed = await hub.client.get(
            "/api/v1/ops/deadletter?limit=1000", headers=hub.bearer("operator")
        )
        assert listed.status_code == 200
        mine = [r for r in listed.json() if r["offset"] == offset]
        assert mine and mine[0]["service"] == "lifecycle" and mine[0]["error"] == marker
        assert mine[0]["source"] == f"{wire.EVENTS}/0/7" and mine[0]["replayed"] is None
        page = await hub.client.get("/console/parked", headers=hub.session_cookie("auditor"))
        assert page.status_code == 200 and marker in page.text
        assert f'data-offset="{offset}"' in page.text
        denied = await hub.client.get("/api/v1/ops/deadletter", headers=hub.bearer("agency"))
        assert denied.status_code == 403
