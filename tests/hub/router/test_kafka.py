"""The router against a real broker: delivery exactly once, tampered packages refused."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaTimeoutError

from hub.directory import load_directory_file, publish_agencies
from hub.router.service import RouterService
from hub.runtime.serve import build_verifier
from hub.settings import Settings
from schemas import wire
from schemas.package import Package, b64url_decode, b64url_encode, package_sha256, parse_package
from signing.pki import DemoPKI
from signing.verifier import Verifier
from tests.conftest import HUB, A, B, C, PackageFactory
from tests.hub.running import running

pytestmark = pytest.mark.kafka


def router_settings(kafka_bootstrap: str, pki: DemoPKI, tag: str | None = None) -> Settings:
    """Settings for a test router with its own consumer group and transactional id."""
    tag = tag or uuid.uuid4().hex[:8]
    return Settings(
        kafka_bootstrap=kafka_bootstrap,
        trust_anchors=[pki.root_cert],
        crls=[pki.crl_dir],
        topic_partitions=1,
        router_group=f"router-{tag}",
        router_transactional_id=f"router-{tag}",
        hub_key=pki.hub.key,
        hub_cert=pki.hub.chain,
    )


def running_router(settings: Settings) -> contextlib.AbstractAsyncContextManager[RouterService]:
    """A router running in this event loop until the block ends."""
    return running(RouterService(settings, build_verifier(settings)))


@pytest.fixture
async def router(kafka_bootstrap: str, pki: DemoPKI) -> AsyncIterator[RouterService]:
    """A running router with its own consumer group and transactional id."""
    async with running_router(router_settings(kafka_bootstrap, pki)) as service:
        yield service


async def submit(bootstrap: str, *packages: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=4 * 1024 * 1024)
    await producer.start()
    try:
        for raw in packages:
            await producer.send_and_wait(wire.SUBMIT, raw, key=b"test")
    finally:
        await producer.stop()


async def read_topic(bootstrap: str, topic: str, *, quiet: float = 1.5) -> list[bytes]:
    """Every committed record of ``topic`` until ``quiet`` seconds pass with nothing new."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    out: list[bytes] = []
    try:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while loop.time() - last < quiet:
            batch = await consumer.getmany(timeout_ms=200)
            for recs in batch.values():
                out.extend(r.value for r in recs)
                last = loop.time()
    finally:
        await consumer.stop()
    return out


def as_event(raw: bytes | None) -> dict[str, Any] | None:
    """A record of edoc.events as a dict; None for one that is no JSON object.

    The topic is shared by the whole session, and the dead-letter tests put junk
    on it on purpose.
    """
    try:
        event = json.loads(raw or b"")
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


async def read_events(bootstrap: str, quiet: float = 0.5) -> list[dict[str, Any]]:
    """Every verdict event committed on edoc.events (records that are no event skipped)."""
    records = await read_topic(bootstrap, wire.EVENTS, quiet=quiet)
    return [e for e in map(as_event, records) if e is not None]


async def wait_for_event(bootstrap: str, key: str, value: str, wait: float = 30) -> dict:  # type: ignore[type-arg]
    async with asyncio.timeout(wait):
        while True:
            for event in await read_events(bootstrap):
                if event.get(key) == value:
                    return event  # type: ignore[no-any-return]


def message_id(raw: bytes) -> str:
    return str(json.loads(b64url_decode(Package.model_validate_json(raw).header))["message_id"])


async def test_document_delivered_exactly_once_to_recipient_only(
    kafka_bootstrap: str, router: RouterService, signed_package: PackageFactory
) -> None:
    raw = signed_package(A, [B])
    mid = message_id(raw)
    await submit(kafka_bootstrap, raw)
    event = await wait_for_event(kafka_bootstrap, "message_id", mid)
    assert event["verdict"] == "ok"
    assert event["reasons"] == []
    assert event["delivered_to"] == [wire.inbox(B)]
    inbox_b = await read_topic(kafka_bootstrap, wire.inbox(B))
    assert inbox_b.count(raw) == 1, "delivered bytes are the original bytes, once"
    for other in (A, C):
        assert raw not in await read_topic(kafka_bootstrap, wire.inbox(other), quiet=0.5)
    assert raw not in await read_topic(kafka_bootstrap, wire.REJECTED, quiet=0.5)


async def test_header_altered_after_signing_is_refused(
    kafka_bootstrap: str, router: RouterService, signed_package: PackageFactory
) -> None:
    pkg = Package.model_validate_json(signed_package(A, [C]))
    header = json.loads(b64url_decode(pkg.header))
    header["document"]["subject"] = "Nội dung đã bị sửa"
    tampered = pkg.model_copy(update={"header": b64url_encode(json.dumps(header).encode())})
    raw = tampered.to_bytes()
    await submit(kafka_bootstrap, raw)
    event = await wait_for_event(kafka_bootstrap, "package_sha256", package_sha256(raw))
    assert event["verdict"] == "rejected"
    assert event["reasons"] == ["bad_signature"]
    assert event["delivered_to"] == []
    assert raw not in await read_topic(kafka_bootstrap, wire.inbox(C), quiet=0.5)
    rejected = await read_topic(kafka_bootstrap, wire.REJECTED)
    assert rejected.count(raw) == 1, "the refused original is kept on edoc.rejected"


async def test_unreadable_package_gets_malformed_verdict_and_is_kept(
    kafka_bootstrap: str, router: RouterService
) -> None:
    raw = b'{"v": 1, "header": "not base64 at all!", "signatures": []}'
    await submit(kafka_bootstrap, raw)
    event = await wait_for_event(kafka_bootstrap, "package_sha256", package_sha256(raw))
    assert event["reasons"] == ["malformed"]
    assert event["message_id"] is None
    assert raw in await read_topic(kafka_bootstrap, wire.REJECTED)


async def events_for(bootstrap: str, key: str, value: str) -> list[dict]:  # type: ignore[type-arg]
    return [e for e in await read_events(bootstrap) if e.get(key) == value]


async def test_sender_receives_signed_receipt_per_recipient(
    kafka_bootstrap: str,
    router: RouterService,
    signed_package: PackageFactory,
    verifier: Verifier,
) -> None:
    raw = signed_package(C, [A, B])
    mid = message_id(raw)
    await submit(kafka_bootstrap, raw)
    await wait_for_event(kafka_bootstrap, "message_id", mid)
    receipts = [parse_package(v) for v in await read_topic(kafka_bootstrap, wire.inbox(C))]
    mine = [p for p in receipts if p.header.status and str(p.header.status.ref_message_id) == mid]
    assert sorted(p.header.status.recipient or "" for p in mine if p.header.status) == [A, B]
    for p in mine:
        assert p.header.sender == HUB
        assert verifier.verify_bytes(p.raw).verdict == "ok"


async def test_duplicate_is_refused_after_a_router_restart(
    kafka_bootstrap: str, pki: DemoPKI, signed_package: PackageFactory
) -> None:
    settings = router_settings(kafka_bootstrap, pki)
    raw = signed_package(A, [C])
    mid = message_id(raw)
    async with running_router(settings):
        await submit(kafka_bootstrap, raw)
        await wait_for_event(kafka_bootstrap, "message_id", mid)
    async with running_router(settings):  # a new process would rebuild its index the same way
        await submit(kafka_bootstrap, raw)
        async with asyncio.timeout(30):
            while len(events := await events_for(kafka_bootstrap, "message_id", mid)) < 2:
                pass
    assert [e["reasons"] for e in events] == [[], ["duplicate"]]
    inbox_c = await read_topic(kafka_bootstrap, wire.inbox(C))
    assert inbox_c.count(raw) == 1


async def test_agency_added_while_running_gets_an_inbox_and_mail(
    kafka_bootstrap: str,
    router: RouterService,
    pki: DemoPKI,
    tmp_path: Path,
    signed_package: PackageFactory,
) -> None:
    new = "000.00.40.H49"
    first = signed_package(A, [new])
    await submit(kafka_bootstrap, first)
    event = await wait_for_event(kafka_bootstrap, "message_id", message_id(first))
    assert event["reasons"] == ["unknown_recipient"]
    directory = tmp_path / "more.json"
    directory.write_text(
        json.dumps(
            {
                "v": 1,
                "agencies": [
                    {
                        "code": new,
                        "name": "Ban Quản lý các khu công nghiệp",
                        "parent": "000.00.00.H49",
                        "level": "department",
                    }
                ],
            },
            ensure_ascii=False,
        )
    )
    await publish_agencies(kafka_bootstrap, load_directory_file(directory))
    async with asyncio.timeout(30):
        while not router.directory.is_active(new):
            await asyncio.sleep(0.1)
    second = signed_package(A, [new])
    await submit(kafka_bootstrap, second)
    event = await wait_for_event(kafka_bootstrap, "message_id", message_id(second))
    assert event["verdict"] == "ok"
    assert second in await read_topic(kafka_bootstrap, wire.inbox(new))


async def test_partition_set_up_that_fails_is_retried_not_left_idle(
    kafka_bootstrap: str,
    pki: DemoPKI,
    signed_package: PackageFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """aiokafka logs and swallows errors raised in a rebalance callback.

    If fencing a newly assigned partition fails there (here: the first
    InitProducerId times out, as it can under broker load), the router must
    finish the set-up later instead of holding the partition without routing it.
    """
    failed: list[str] = []

    class FlakyProducer(AIOKafkaProducer):  # type: ignore[misc]
        async def start(self) -> None:
            if not failed:
                failed.append("InitProducerId")
                raise KafkaTimeoutError("injected: InitProducerId timed out")
            await super().start()

    raws = [signed_package(A, [B]) for _ in range(3)]
    settings = router_settings(kafka_bootstrap, pki)
    service = RouterService(settings, build_verifier(settings), producer_class=FlakyProducer)
    with caplog.at_level(logging.WARNING, logger="hub.router.service"):
        async with running(service):
            await submit(kafka_bootstrap, *raws)
            for raw in raws:
                event = await wait_for_event(kafka_bootstrap, "message_id", message_id(raw))
                assert event["verdict"] == "ok"
    assert failed == ["InitProducerId"]
    assert "failed (KafkaTimeoutError: injected: InitProducerId timed out); retrying" in caplog.text
    inbox_b = await read_topic(kafka_bootstrap, wire.inbox(B))
    assert [inbox_b.count(raw) for raw in raws] == [1, 1, 1]
