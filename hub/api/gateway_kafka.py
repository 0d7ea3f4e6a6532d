"""The HTTP gateway's Kafka side: one lazy producer, short-lived inbox readers.

Used by ``hub.api.gateway`` (routes and wire models, docs/gateway.md). Nothing
here connects before it is used, so an API process whose broker is down still
starts; every Kafka failure becomes ``BrokerUnavailableError``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from hub.errors import BrokerUnavailableError
from hub.kafka.client import consumer_config, producer_config
from hub.settings import Settings
from schemas import wire

#: Inbox topics have one partition (docs/router.md); offsets are positions in it.
INBOX_PARTITION = 0
#: Most Kafka consumers the gateway holds open at once (one per inbox request).
MAX_CONCURRENT_READS = 16


class GatewayKafka:
    """The gateway's Kafka clients: one lazy producer, short-lived inbox consumers.

    Nothing connects at start-up; the first request (or ``/readyz``) does, so an
    API process whose broker is down still serves auditors.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.timeout = settings.gateway_kafka_timeout_seconds
        self._producer: AIOKafkaProducer | None = None
        self._start_lock = asyncio.Lock()
        self._reads = asyncio.Semaphore(MAX_CONCURRENT_READS)
        # Acknowledgements of one agency are serialised so the offset only moves forward.
        self._ack_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def group(self, agency: str) -> str:
        """The consumer group that keeps ``agency``'s acknowledged position."""
        return self.settings.gateway_group_prefix + agency

    async def producer(self) -> AIOKafkaProducer:
        """The shared producer, started on first use; ``BrokerUnavailableError`` if it cannot."""
        async with self._start_lock:
            if self._producer is None:
                producer = AIOKafkaProducer(**producer_config(self.settings))
                await _start(producer, self.settings.kafka_bootstrap, self.timeout)
                self._producer = producer
            return self._producer

    async def close(self) -> None:
        """Stop the producer (flushing what it holds)."""
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def submit(self, raw: bytes, sender: str, headers: list[tuple[str, bytes]]) -> Any:
        """Produce ``raw`` unchanged to ``edoc.submit``; returns the record metadata."""
        producer = await self.producer()
        try:
            return await producer.send_and_wait(
                wire.SUBMIT, raw, key=sender.encode(), headers=headers
            )
        except KafkaError as exc:
            raise BrokerUnavailableError(self.settings.kafka_bootstrap, str(exc)) from None

    @contextlib.asynccontextmanager
    async def inbox(self, agency: str) -> AsyncIterator[InboxReader]:
        """A reader of ``agency``'s inbox, closed when the block ends."""
        async with self._reads:
            consumer = AIOKafkaConsumer(
                **consumer_config(self.settings), group_id=self.group(agency)
            )
            await _start(consumer, self.settings.kafka_bootstrap, self.timeout)
            try:
                tp = TopicPartition(wire.inbox(agency), INBOX_PARTITION)
                # Manual assignment: the group only stores the offset, nobody joins it,
                # so concurrent requests of one agency never trigger a rebalance.
                consumer.assign([tp])
                yield InboxReader(consumer, tp, self.timeout)
            except KafkaError as exc:
                raise BrokerUnavailableError(self.settings.kafka_bootstrap, str(exc)) from None
            finally:
                await consumer.stop()

    def ack_lock(self, agency: str) -> asyncio.Lock:
        """The lock that serialises ``agency``'s acknowledgements."""
        return self._ack_locks[agency]


async def _start(client: Any, bootstrap: str, timeout: float) -> None:  # noqa: ASYNC109
    """Start an aiokafka client within ``timeout``; stop it again on any failure."""
    try:
        async with asyncio.timeout(timeout):
            await client.start()
    except BaseException as exc:
        # Also on cancellation (client went away): a half-started client leaks its tasks.
        await client.stop()
        if isinstance(exc, KafkaError | TimeoutError):
            raise BrokerUnavailableError(bootstrap, str(exc) or type(exc).__name__) from None
        raise


class InboxReader:
    """Reads one inbox partition on behalf of a request (committed records only)."""

    def __init__(self, consumer: AIOKafkaConsumer, tp: TopicPartition, timeout: float) -> None:
        self.consumer = consumer
        self.tp = tp
        self.timeout = timeout

    async def bounds(self) -> tuple[int, int]:
        """First retained offset and the last stable offset (end of committed data)."""
        first = (await self.consumer.beginning_offsets([self.tp]))[self.tp]
        end = (await self.consumer.end_offsets([self.tp]))[self.tp]
        return int(first), int(end)

    async def committed(self) -> int:
        """The group's committed offset, never before the first retained record."""
        first, _ = await self.bounds()
        committed = await self.consumer.committed(self.tp)
        return max(first, committed or 0)

    async def read(self, start: int, count: int) -> list[ConsumerRecord]:
        """Up to ``count`` committed records from ``start`` on (aborted ones are skipped)."""
        _, end = await self.bounds()
        out: list[ConsumerRecord] = []
        if start >= end or count <= 0:
            return out
        self.consumer.seek(self.tp, start)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while len(out) < count and loop.time() < deadline:
            batch = await self.consumer.getmany(
                self.tp, timeout_ms=200, max_records=count - len(out)
            )
            out.extend(batch.get(self.tp, []))
            # Control markers and aborted records occupy offsets too: stop at the end, not
            # when a record with offset end-1 shows up.
            if await self.consumer.position(self.tp) >= end:
                break
        return out

    async def commit(self, next_offset: int) -> None:
        """Store ``next_offset`` as the group's position."""
        await self.consumer.commit({self.tp: next_offset})
