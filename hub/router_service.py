"""The router service: ``edoc.submit`` → verify → inboxes / rejected / events, exactly once.

FastStream has no Kafka transactions, so this service uses aiokafka directly:
for each batch, every output record and the consumer offsets are committed in
one transaction. A crash anywhere before the commit aborts the transaction and
the batch is read again; downstream consumers read with ``read_committed`` and
so never see a half-routed batch.

One router instance per ``EDOC_ROUTER_TRANSACTIONAL_ID``: a restarted instance
with the same id fences its predecessor (a "zombie" cannot commit).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError, ProducerFenced

from hub import topics
from hub.directory import Directory, follow_directory, load_directory_file
from hub.errors import BrokerUnavailableError, HubError
from hub.index import MessageIndex
from hub.kafka import TopicAdmin, consumer_config, producer_config
from hub.metrics import observe_decision
from hub.router import Decision, Router
from hub.settings import Settings
from schemas.directory import Agency
from schemas.events import SourceRecord
from signing.signer import Signer
from signing.verifier import Verifier

log = logging.getLogger(__name__)


def hub_signer(settings: Settings) -> Signer:
    """The hub's signer for receipts, from ``EDOC_HUB_KEY`` and ``EDOC_HUB_CERT``."""
    if settings.hub_key is None or settings.hub_cert is None:
        raise HubError(
            "the hub's signing key is not configured",
            hint="set EDOC_HUB_KEY and EDOC_HUB_CERT (e.g. from `edoc pki init`: hub.key.pem, "
            "hub.chain.pem)",
        )
    return Signer.from_files(settings.hub_key, settings.hub_cert)


class RouterService:
    """Consumes submitted packages and routes them transactionally."""

    def __init__(self, settings: Settings, verifier: Verifier) -> None:
        self.settings = settings
        self.admin = TopicAdmin(settings)
        self.directory = Directory(load_directory_file(settings.directory_file))
        self.index = MessageIndex(timedelta(days=settings.dedup_window_days))
        self.router = Router(
            verifier,
            self.directory,
            self.index,
            hub_code=settings.hub_code,
            hub_signer=hub_signer(settings),
        )
        self.routed = 0
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._stop_directory = asyncio.Event()
        self._directory_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Create topics and inboxes, load the index, start the producer and the consumer."""
        s = self.settings
        await self.admin.start()
        await self.admin.ensure_inboxes(a.code for a in self.directory.agencies() if a.active)
        ready = asyncio.Event()
        self._directory_task = asyncio.create_task(
            follow_directory(
                s.kafka_bootstrap,
                self.directory,
                self._on_directory_change,
                self._stop_directory,
                ready,
            )
        )
        await asyncio.wait_for(ready.wait(), timeout=60)
        await self.index.load(
            consumer_config(s), await self.admin.partitions(topics.EVENTS), datetime.now(UTC)
        )
        self._producer = AIOKafkaProducer(
            **producer_config(s), transactional_id=s.router_transactional_id
        )
        self._consumer = AIOKafkaConsumer(
            topics.SUBMIT,
            **consumer_config(s),
            group_id=s.router_group,
            max_poll_records=s.router_batch_size,
        )
        try:
            await self._producer.start()
            await self._consumer.start()
        except KafkaConnectionError as exc:
            await self.stop()
            raise BrokerUnavailableError(s.kafka_bootstrap, str(exc)) from None
        log.info(
            "router started: %d agencies, %d remembered messages",
            len(self.directory),
            len(self.index),
        )

    async def _on_directory_change(self, changed: list[Agency]) -> None:
        await self.admin.ensure_inboxes(a.code for a in changed if a.active)

    async def stop(self) -> None:
        """Stop clients; a transaction in flight is aborted by the producer on close."""
        self._stop_directory.set()
        if self._directory_task is not None:
            with contextlib.suppress(Exception):
                await self._directory_task
        for client in (self._consumer, self._producer):
            if client is not None:
                try:
                    await client.stop()
                except KafkaError as exc:  # stopping must never mask the original error
                    log.warning("error while stopping %s: %s", type(client).__name__, exc)
        self._consumer = self._producer = None
        await self.admin.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Route until ``stop`` is set; the batch in progress is finished first."""
        consumer, _ = self._clients()
        while not stop.is_set():
            batch = await consumer.getmany(
                timeout_ms=300, max_records=self.settings.router_batch_size
            )
            if batch:
                await self._route_batch(batch)

    async def _route_batch(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        consumer, producer = self._clients()
        decisions: list[Decision] = []
        for records in batch.values():
            decisions.extend(self._decide(rec) for rec in records)
        # Inbox topics must exist before the transaction writes to them.
        await self.admin.ensure_inboxes(
            {topics.agency_of_inbox(r.topic) or "" for d in decisions for r in d.records} - {""}
        )
        offsets = {tp: records[-1].offset + 1 for tp, records in batch.items()}
        try:
            async with producer.transaction():
                for d in decisions:
                    for r in d.records:
                        await producer.send(r.topic, r.value, key=r.key, headers=r.headers)
                await producer.send_offsets_to_transaction(offsets, self.settings.router_group)
        except ProducerFenced:
            self.index.rollback()
            raise HubError(
                "another router with the same transactional id took over; this one stops",
                hint="give each router instance its own EDOC_ROUTER_TRANSACTIONAL_ID",
            ) from None
        except KafkaError as exc:
            # Aborted: nothing of this batch is visible; forget it and read it again.
            self.index.rollback()
            log.warning("transaction aborted (%s); batch will be retried", exc)
            for tp, records in batch.items():
                consumer.seek(tp, records[0].offset)
            await asyncio.sleep(1.0)
            return
        self.index.commit(datetime.now(UTC))
        self.routed += len(decisions)

    def _clients(self) -> tuple[AIOKafkaConsumer, AIOKafkaProducer]:
        if self._consumer is None or self._producer is None:
            raise HubError("RouterService used before start()")
        return self._consumer, self._producer

    def _decide(self, rec: ConsumerRecord) -> Decision:
        received_at = datetime.fromtimestamp(rec.timestamp / 1000, UTC)
        source = SourceRecord(topic=rec.topic, partition=rec.partition, offset=rec.offset)
        raw = rec.value if isinstance(rec.value, bytes) else b""
        started = time.perf_counter()
        decision = self.router.decide(raw, source=source, received_at=received_at)
        observe_decision(decision.report.verdict, time.perf_counter() - started)
        return decision
