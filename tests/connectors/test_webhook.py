"""Webhook delivery against a real broker and router, to a real HTTP receiver on 127.0.0.1.

The receiver checks nothing itself; it records every request, and the tests
recompute the HMAC independently of the adapter's code.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import ssl
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from connectors.sdk import HubClient
from connectors.webhook import DeliveryStats, InboxDeliverer, RetryPolicy, WebhookTarget
from hub.router.service import RouterService
from schemas import wire
from schemas.package import parse_package
from signing.pki import DemoPKI
from tests.conftest import A, C, PackageFactory
from tests.hub.router.test_kafka import router_settings, running_router

SECRET = b"shared-secret-for-tests"


@dataclass
class Hit:
    """One request the receiver got, and what it answered."""

    headers: dict[str, str]
    body: bytes
    status: int
    at: float
    client_cert: dict[str, object] | None = None


@dataclass
class Receiver:
    """A tiny HTTP server on 127.0.0.1; answers 503 for the first ``fail_first`` tries per id."""

    fail_first: int = 0
    always_fail: bool = False
    tls: ssl.SSLContext | None = None
    hits: list[Hit] = field(default_factory=list)

    @contextlib.contextmanager
    def running(self) -> Iterator[Receiver]:
        receiver = self
        tries: Counter[str] = Counter()
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                mid = self.headers.get("X-Edoc-Message-Id", "")
                with lock:
                    tries[mid] += 1
                    failing = receiver.always_fail or tries[mid] <= receiver.fail_first
                    status = 503 if failing else 200
                    peer = self.connection.getpeercert() if receiver.tls else None
                    receiver.hits.append(
                        Hit(dict(self.headers), body, status, time.monotonic(), peer)
                    )
                self.send_response(status)
                reply = b"busy" if failing else b"ok"
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{server.server_address[1]}/edoc"
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()

    def for_message(self, mid: str) -> list[Hit]:
        return [h for h in self.hits if h.headers.get("X-Edoc-Message-Id") == mid]


async def wait_until(check: Callable[[], object], wait: float = 45.0) -> None:
    async with asyncio.timeout(wait):
        while not check():
            await asyncio.sleep(0.1)


async def committed(bootstrap: str, group: str, agency: str) -> int | None:
    """The offset the consumer group ``group`` committed on ``agency``'s inbox."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(wire.inbox(agency), 0))  # type: ignore[no-any-return]
    finally:
        await consumer.stop()


async def start_at_end(bootstrap: str, group: str, agency: str) -> None:
    """Commit the current end of the inbox for ``group``: only new messages get delivered."""
    tp = TopicPartition(wire.inbox(agency), 0)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, isolation_level="read_committed"
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        await consumer.commit({tp: end})
    finally:
        await consumer.stop()


@contextlib.asynccontextmanager
async def delivering(deliverer: InboxDeliverer) -> AsyncIterator[DeliveryStats]:
    stop = asyncio.Event()
    task = asyncio.create_task(deliverer.run(stop))
    try:
        yield deliverer.stats
    finally:
        stop.set()
        await task


@pytest.fixture
async def router(kafka_bootstrap: str, pki: DemoPKI) -> AsyncIterator[RouterService]:
    async with running_router(router_settings(kafka_bootstrap, pki)) as service:
        yield service


async def send(bootstrap: str, raw: bytes) -> str:
    async with HubClient(bootstrap) as hub:
        return (await hub.submit(raw)).message_id


def dead_letters(state: Path, pattern: str = "*") -> list[Path]:
    """Files in the adapter's dead-letter folder."""
    return sorted((state / "dead-letter").glob(pattern))


def expected_signature(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()


def v2_ok(hit: Hit, *, within: float = 30.0) -> bool:
    """The v2 headers of a delivery verify as docs/webhook.md says, with a current timestamp."""
    stamp, nonce = hit.headers["X-Edoc-Timestamp"], hit.headers["X-Edoc-Nonce"]
    signed = f"{stamp}.{nonce}.".encode() + hit.body
    mac = "sha256=" + hmac.new(SECRET, signed, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(stamp)) <= within
    return hmac.compare_digest(hit.headers["X-Edoc-Signature-V2"], mac) and fresh


@pytest.mark.kafka
async def test_documents_reach_the_agency_url_signed_with_the_shared_secret(
    kafka_bootstrap: str,
    router: RouterService,
    signed_package: PackageFactory,
    tmp_path: Path,
) -> None:
    group = f"webhook-{uuid.uuid4().hex[:8]}"
    await start_at_end(kafka_bootstrap, group, C)
    raw = signed_package(A, [C])
    with Receiver().running() as receiver:
        deliverer = InboxDeliverer(
            C, kafka_bootstrap, WebhookTarget(receiver.url, SECRET), tmp_path, group_id=group
        )
        async with delivering(deliverer):
            mid = await send(kafka_bootstrap, raw)
            await wait_until(lambda: receiver.for_message(mid))
            await asyncio.sleep(1.0)  # time for a wrong second delivery to show up
        hits = receiver.for_message(mid)
    assert len(hits) == 1, "delivered exactly once"
    hit = hits[0]
    assert hit.body == raw, "the package bytes exactly as the sender signed them"
    assert hit.headers["X-Edoc-Signature"] == expected_signature(hit.body), "v1, for old receivers"
    assert v2_ok(hit) and len(hit.headers["X-Edoc-Nonce"]) == 32
    assert hit.headers["X-Edoc-Kind"] == "document"
    assert hit.headers["X-Edoc-From"] == A
    assert hit.headers["Content-Type"] == "application/json"
    offset = int(hit.headers["X-Edoc-Offset"])
    assert (await committed(kafka_bootstrap, group, C) or 0) > offset
    assert not dead_letters(tmp_path)


@pytest.mark.kafka
async def test_a_receiver_failing_twice_gets_the_message_once_after_backoff(
    kafka_bootstrap: str,
    router: RouterService,
    signed_package: PackageFactory,
    tmp_path: Path,
) -> None:
    group = f"webhook-{uuid.uuid4().hex[:8]}"
    await start_at_end(kafka_bootstrap, group, C)
    policy = RetryPolicy(max_attempts=5, base_seconds=0.2, max_seconds=1.0)
    with Receiver(fail_first=2).running() as receiver:
        deliverer = InboxDeliverer(
            C, kafka_bootstrap, WebhookTarget(receiver.url, SECRET), tmp_path, group_id=group,
            policy=policy,
        )  # fmt: skip
        async with delivering(deliverer):
            mid = await send(kafka_bootstrap, signed_package(A, [C]))
            await wait_until(lambda: any(h.status == 200 for h in receiver.for_message(mid)))
            await asyncio.sleep(1.0)
        hits = receiver.for_message(mid)
    assert [h.status for h in hits] == [503, 503, 200], "retried until it worked, then stopped"
    assert [h.headers["X-Edoc-Attempt"] for h in hits] == ["1", "2", "3"]
    assert all(h.headers["X-Edoc-Signature"] == expected_signature(h.body) for h in hits)
    assert all(v2_ok(h) for h in hits)
    assert len({h.headers["X-Edoc-Nonce"] for h in hits}) == 3, "a new nonce per attempt"
    # Equal jitter: each pause is at least half of its exponential step (0.2 s, then 0.4 s).
    assert hits[1].at - hits[0].at >= 0.1
    assert hits[2].at - hits[1].at >= 0.2
    assert not dead_letters(tmp_path)


@pytest.mark.kafka
async def test_a_receiver_that_always_fails_gets_the_message_dead_lettered(
    kafka_bootstrap: str,
    router: RouterService,
    signed_package: PackageFactory,
    tmp_path: Path,
) -> None:
    group = f"webhook-{uuid.uuid4().hex[:8]}"
    await start_at_end(kafka_bootstrap, group, C)
    raw = signed_package(A, [C])
    mid = str(parse_package(raw).header.message_id)
    policy = RetryPolicy(max_attempts=3, base_seconds=0.05, max_seconds=0.2)
    with Receiver(always_fail=True).running() as receiver:
        deliverer = InboxDeliverer(
            C, kafka_bootstrap, WebhookTarget(receiver.url, SECRET), tmp_path, group_id=group,
            policy=policy,
        )  # fmt: skip
        async with delivering(deliverer):
            await send(kafka_bootstrap, raw)
            await wait_until(lambda: dead_letters(tmp_path, f"*-{mid}.reason.json"))
            offset = int(receiver.for_message(mid)[0].headers["X-Edoc-Offset"])
            await wait_until(lambda: deliverer.stats.last_offset == offset)
        assert len(receiver.for_message(mid)) == 3, "exactly max_attempts tries"
    [reason_file] = dead_letters(tmp_path, f"*-{mid}.reason.json")
    reason = json.loads(reason_file.read_bytes())
    assert reason["message_id"] == mid and reason["offset"] == offset
    assert reason["attempts"] == 3
    assert "not delivered after 3 attempts: HTTP 503" in reason["reason"]
    assert reason["url"] == receiver.url and reason["from"] == A
    package_file = reason_file.with_name(reason_file.name.replace(".reason.json", ".json"))
    assert package_file.read_bytes() == raw, "the package is kept byte for byte"
    assert (await committed(kafka_bootstrap, group, C) or 0) > offset, "and the inbox moves on"


@pytest.mark.kafka
async def test_stopping_during_retries_commits_nothing_and_a_restart_delivers(
    kafka_bootstrap: str,
    router: RouterService,
    signed_package: PackageFactory,
    tmp_path: Path,
) -> None:
    group = f"webhook-{uuid.uuid4().hex[:8]}"
    await start_at_end(kafka_bootstrap, group, C)
    before = await committed(kafka_bootstrap, group, C)
    slow = RetryPolicy(max_attempts=3, base_seconds=60, max_seconds=60)
    with Receiver(always_fail=True).running() as down:
        target = WebhookTarget(down.url, SECRET)
        deliverer = InboxDeliverer(
            C, kafka_bootstrap, target, tmp_path, group_id=group, policy=slow
        )
        async with delivering(deliverer):
            mid = await send(kafka_bootstrap, signed_package(A, [C]))
            await wait_until(lambda: down.hits)
        # Stopped in the middle of a 30-60 s backoff: nothing dead-lettered, nothing committed.
        stuck = down.hits[0].headers["X-Edoc-Message-Id"]
    assert await committed(kafka_bootstrap, group, C) == before
    assert not dead_letters(tmp_path)
    with Receiver().running() as up:
        target = WebhookTarget(up.url, SECRET)
        deliverer = InboxDeliverer(C, kafka_bootstrap, target, tmp_path, group_id=group)
        async with delivering(deliverer):
            await wait_until(lambda: up.for_message(mid))
        assert [h.status for h in up.for_message(stuck)] == [200], "the interrupted one, once"
        assert [h.status for h in up.for_message(mid)] == [200]
