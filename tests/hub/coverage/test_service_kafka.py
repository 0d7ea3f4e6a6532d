"""Evidence on the real broker: a scripted month through router and coverage service.

Traffic is placed in the months after next (the coverage day is the header's
``sent_at`` in province time): the router runs with a freshness window of 200
days, and the test PKI's certificates, issued now, are valid through those
months. SHA-1 XML signatures are allowed, so the script's RSA-SHA1 edXML
documents are accepted and counted as ``signed_weak``. The table served by the
API must equal, row by row, the table counted by hand from what the script sent
(``script.expected_rows``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import uuid
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from hub.coverage.models import CoverageReport
from hub.coverage.periods import Period
from hub.coverage.service import CoverageService
from hub.coverage.store import CoverageStore
from hub.kafka.client import TopicAdmin
from hub.runtime.app import create_app
from hub.settings import Settings
from hub.store.db import make_engine
from hub.store.schema import coverage_documents
from hub.store.tokens import create_token
from schemas import wire
from signing.pki import DemoPKI
from tests.hub.coverage.script import Province, Script, Sent, expected_rows, play
from tests.hub.coverage.traffic import S1, S2, TZ, document, verdict
from tests.hub.router.test_kafka import as_event, router_settings, running_router, submit
from tests.hub.running import running_on_database

pytestmark = pytest.mark.kafka

FRESHNESS_DAYS = 200


def running_coverage(
    settings: Settings, batch: int = 500
) -> contextlib.AbstractAsyncContextManager[CoverageService]:
    """The coverage service in this event loop until the block ends."""
    return running_on_database(
        settings, lambda engine: CoverageService(settings, CoverageStore(engine), batch=batch)
    )


async def verdicts_of(
    bootstrap: str, sent: list[Sent]
) -> dict[str, list[tuple[int, int, list[str]]]]:
    """message id → (partition, offset, reasons) of every verdict about our packages."""
    ours = {s.message_id for s in sent}
    consumer = AIOKafkaConsumer(
        wire.EVENTS,
        bootstrap_servers=bootstrap,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: dict[str, list[tuple[int, int, list[str]]]] = defaultdict(list)
    try:
        async with asyncio.timeout(120):
            while sum(map(len, found.values())) < len(sent):
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for r in records:
                        event = as_event(r.value)
                        if event is not None and event.get("message_id") in ours:
                            found[event["message_id"]].append(
                                (r.partition, r.offset, event["reasons"])
                            )
    finally:
        await consumer.stop()
    return found


async def wait_until_consumed(bootstrap: str, group: str, last: dict[int, int]) -> None:
    """Until ``group`` has committed past offset ``last[p]`` of every partition p of the events."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        async with asyncio.timeout(120):
            while True:
                committed = await admin.list_consumer_group_offsets(group)
                if all(
                    (o := committed.get(TopicPartition(wire.EVENTS, p))) is not None
                    and o.offset > off
                    for p, off in last.items()
                ):
                    return
                await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def served(settings: Settings, period: Period) -> CoverageReport:
    """``GET /api/v1/coverage?period=…`` with an operator token."""
    engine = make_engine(settings.database_url)
    token, _ = await create_token(engine, "operator", "test")
    await engine.dispose()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            response = await client.get(
                "/api/v1/coverage",
                params={"period": period.label},
                headers={"Authorization": f"Bearer {token}"},
            )
    assert response.status_code == 200, response.text
    return CoverageReport.model_validate(response.json())


def as_table(report: CoverageReport) -> dict[str, dict[str, object]]:
    """The report in the shape of ``script.expected_rows``."""
    return {
        r.code: {
            "value": {k: i.value for k, i in r.indicators.items()},
            "previous": {k: i.previous for k, i in r.indicators.items()},
            "trend": {k: i.trend for k, i in r.indicators.items()},
            "counts": r.counts.model_dump(
                include={"documents", "valid", "signed_weak", "paper", "secret"}
            ),
            "invalid_signatures": r.invalid_signatures,
            "other_refusals": r.other_refusals,
        }
        for r in report.rows
    }


async def test_a_scripted_month_yields_exactly_the_expected_table(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    prov = Province.fresh()
    pki = DemoPKI.init(tmp_path / "pki", hub_code=prov.hub)
    rogue = DemoPKI.init(tmp_path / "rogue", hub_code=prov.hub)  # a CA the hub does not trust
    for code in (prov.s1, prov.s2, prov.district, prov.c1, prov.c2):
        pki.issue(code, prov.names[code][0], key_type="rsa" if code == prov.s2 else "ec")
    rogue.issue(prov.district, prov.names[prov.district][0])
    previous = Period.month_of(datetime.now(TZ).date()).next()
    target = previous.next()
    tag = uuid.uuid4().hex[:8]
    settings = router_settings(kafka_bootstrap, pki, tag).model_copy(
        update={
            "freshness_seconds": FRESHNESS_DAYS * 24 * 3600,
            "directory_file": prov.write_directory(tmp_path / "directory.json"),
            "hub_code": prov.hub,
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'edoc.db'}",
            "coverage_group": f"coverage-{tag}",
            "xmldsig_allow_sha1": True,
        }
    )
    sent = play(Script(prov, pki, rogue), previous, target)

    # Small batches: a document's decisions are merged across database transactions.
    async with running_router(settings), running_coverage(settings, batch=3):
        await submit(kafka_bootstrap, *(s.raw for s in sent))
        verdicts = await verdicts_of(kafka_bootstrap, sent)
        # The router answered what the script meant to provoke (a check on the script itself).
        for mid, answers in verdicts.items():
            meant = sorted([s.reason] if s.reason else [] for s in sent if s.message_id == mid)
            assert sorted(a[2] for a in answers) == meant, mid
        last: dict[int, int] = {}
        for answers in verdicts.values():
            for partition, offset, _ in answers:
                last[partition] = max(last.get(partition, -1), offset)
        await wait_until_consumed(kafka_bootstrap, settings.coverage_group, last)

    report = await served(settings, target)
    assert as_table(report) == expected_rows(sent, prov, target, previous)
    assert report.unknown == [prov.c3]
    # The script's SHA-1 traffic, spelled out: S2's two accepted edXML documents are weak and
    # S2 still signed everything (its refusals are a duplicate and an unknown recipient).
    s2 = next(r for r in report.rows if r.code == prov.s2)
    assert (s2.counts.signed_weak, s2.counts.agencies_signing_weak) == (2, 1)
    assert s2.indicators["signature_use"].value == 100.0
    before = await served(settings, previous)
    assert as_table(before) == expected_rows(sent, prov, previous, previous.previous())

    # At-least-once: a second service in a new group re-reads every event into the same tables.
    again = settings.model_copy(update={"coverage_group": f"coverage-{tag}-again"})
    async with running_coverage(again):
        await wait_until_consumed(kafka_bootstrap, again.coverage_group, last)
    assert await served(settings, target) == report


async def test_edoc_serve_only_coverage_counts_and_stops_cleanly(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """The service as users run it: a subprocess, configured by EDOC_* variables, SIGTERM."""
    db = tmp_path / "serve.db"
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_partitions=1)
    admin = TopicAdmin(settings)
    await admin.start()
    await admin.close()
    header = document(S1, [S2], datetime.now(TZ).replace(microsecond=0))
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(wire.EVENTS, verdict(header).to_bytes(), key=S1.encode())
    finally:
        await producer.stop()
    env = {
        **os.environ,
        "EDOC_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "EDOC_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "EDOC_COVERAGE_GROUP": f"coverage-{uuid.uuid4().hex[:8]}",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "edoc",
        "serve",
        "--only",
        "coverage",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(90):
            while not await _has_document(db, str(header.message_id)):
                assert proc.returncode is None, "the service exited early"
                await asyncio.sleep(0.3)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, stderr.decode()[-2000:]
    assert b"Traceback" not in stderr


async def _has_document(db: Path, message_id: str) -> bool:
    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    try:
        async with engine.connect() as conn:
            row = await conn.execute(
                select(coverage_documents.c.valid).where(
                    coverage_documents.c.message_id == message_id
                )
            )
            return row.scalar_one_or_none() is True
    except SQLAlchemyError:
        return False  # not migrated yet
    finally:
        await engine.dispose()
