"""The router service: ``edoc.submit`` → verify → inboxes / rejected / events, exactly once.

FastStream has no Kafka transactions, so this service uses aiokafka directly:
for each partition of a batch, every output record and the consumer offset are
committed in one transaction. A crash anywhere before the commit aborts the
transaction and the records are read again; downstream consumers read with
``read_committed`` and so never see a half-routed batch.

One transactional producer per partition of ``edoc.submit``, with the id
``<EDOC_ROUTER_TRANSACTIONAL_ID>-<partition>`` shared by every router of the
group (the pattern Kafka Streams used before KIP-447, which aiokafka lacks):
whoever is assigned a partition initialises that id, which fences the previous
owner — a crashed, frozen or rebalanced-away router — and completes or aborts
its open transaction *before* the new owner reads the committed offset. So the
offset it resumes from is stable, and a partition that moves between routers,
or comes back to the same one after a rebalance, is never routed twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta

from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.errors import KafkaConnectionError, KafkaError, ProducerFenced

from hub.directory import Directory, follow_directory, load_directory_file
from hub.errors import BrokerUnavailableError, HubError, ServiceReplacedError
from hub.kafka.client import TopicAdmin, client_config, consumer_config, producer_config
from hub.kafka.guard import describe
from hub.metrics import observe_decision
from hub.router.decide import Decision, Router
from hub.router.index import MessageIndex
from hub.router.tickets import read_ticket
from hub.settings import Settings
from schemas import wire
from schemas.directory import Agency
from schemas.events import SourceRecord
from schemas.package import package_sha256
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

    def __init__(
        self,
        settings: Settings,
        verifier: Verifier,
        *,
        producer_class: type[AIOKafkaProducer] = AIOKafkaProducer,
    ) -> None:
        self.settings = settings
        # The partitions' transactional producers (a seam for tests that fail InitProducerId).
        self.producer_class = producer_class
        self.admin = TopicAdmin(settings)
        self.directory = Directory(load_directory_file(settings.directory_file))
        self.index = MessageIndex(
            timedelta(days=settings.dedup_window_days), group=settings.router_group
        )
        self.router = Router(
            verifier,
            self.directory,
            self.index,
            hub_code=settings.hub_code,
            hub_signer=hub_signer(settings),
            group=settings.router_group,
        )
        self.routed = 0
        signer = self.router.hub_signer
        self._hub_cert = signer.chain[0] if signer is not None else None
        self._consumer: AIOKafkaConsumer | None = None
        self._producers: dict[TopicPartition, AIOKafkaProducer] = {}
        # Assigned partitions whose previous owner is fenced and whose position is set.
        self._ready: set[TopicPartition] = set()
        # One set-up at a time: two would both init the same transactional id.
        self._setting_up = asyncio.Lock()
        # Held while a batch is routed; a rebalance waits for it before giving partitions up.
        self._routing = asyncio.Lock()
        # Bumped on every (re)assignment: a batch fetched before it is stale and dropped.
        self._generation = 0
        # Last offset this process committed per partition (it survives rebalances).
        self._committed: dict[TopicPartition, int] = {}
        self._stop_directory = asyncio.Event()
        self._directory_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Create topics and inboxes, load the index, start the producer and the consumer.

        A start that fails half-way closes what it opened before raising.
        """
        try:
            await self._start()
        except BaseException:
            with contextlib.suppress(Exception):  # the start's own error is the one to report
                await self.stop()
            raise

    async def _start(self) -> None:
        s = self.settings
        await self.admin.start()
        await self.admin.ensure_inboxes(a.code for a in self.directory.agencies() if a.active)
        ready = asyncio.Event()
        self._directory_task = asyncio.create_task(
            follow_directory(
                client_config(s),
                self.directory,
                self._on_directory_change,
                self._stop_directory,
                ready,
            )
        )
        await asyncio.wait_for(ready.wait(), timeout=60)
        await self.index.start(
            consumer_config(s), await self.admin.partitions(wire.EVENTS), datetime.now(UTC)
        )
        self._consumer = AIOKafkaConsumer(
            **consumer_config(s),
            group_id=s.router_group,
            max_poll_records=s.router_batch_size,
        )
        try:
            await self._consumer.start()
            self._consumer.subscribe([wire.SUBMIT], listener=_Rebalance(self))
        except KafkaConnectionError as exc:
            raise BrokerUnavailableError(s.kafka_bootstrap, str(exc)) from None
        log.info(
            "router started: %d agencies, %d remembered messages",
            len(self.directory),
            len(self.index),
        )

    async def _on_directory_change(self, changed: list[Agency]) -> None:
        await self.admin.ensure_inboxes(a.code for a in changed if a.active)

    def _transactional_id(self, tp: TopicPartition) -> str:
        return f"{self.settings.router_transactional_id}-{tp.partition}"

    async def acquire(self, assigned: set[TopicPartition]) -> None:
        """Partitions assigned: fence their previous owners, learn their acceptances, resume."""
        # First, before any await: records the consumer hands out while we set up
        # (it starts fetching at once) belong to the new generation and are re-read.
        self._generation += 1
        self._ready -= assigned
        try:
            await self._prepare(assigned)
        except (TimeoutError, KafkaError) as exc:
            # aiokafka would swallow this (and the partitions would sit idle): the run
            # loop sees them not ready and retries the set-up itself.
            log.warning(
                "setting up partitions %s failed (%s); retrying",
                sorted(t.partition for t in assigned),
                exc,
            )

    async def _prepare(self, tps: set[TopicPartition]) -> None:
        """Make ``tps`` ready: fence, catch up, seek to the first undecided record."""
        consumer = self._client()
        async with self._setting_up:
            tps = {tp for tp in tps if tp in consumer.assignment()} - self._ready
            if not tps:
                return
            for tp in sorted(tps, key=lambda t: t.partition):
                if tp not in self._producers:
                    producer = self.producer_class(
                        **producer_config(self.settings),
                        transactional_id=self._transactional_id(tp),
                    )
                    # InitProducerId: fences the previous holder of this id and finishes
                    # its transaction, so the committed offset read below is stable.
                    try:
                        await producer.start()
                    except BaseException:
                        await _stop_quietly(producer)
                        raise
                    self._producers[tp] = producer
            # Acceptances committed by the previous owners are now visible: read them.
            await self.index.catch_up()
            for tp in tps:
                # aiokafka cannot ask for stable offsets (KIP-447's require_stable), so the
                # group's committed offset may lag the last transaction; the verdicts read
                # from edoc.events cannot, because they commit in that same transaction.
                committed = await consumer.committed(tp)
                resume = max(committed or 0, self._done(tp) + 1)
                if resume == 0:
                    await consumer.seek_to_beginning(tp)
                else:
                    consumer.seek(tp, resume)
            self._ready |= tps
            # Anything fetched before these seeks is stale: the run loop drops and re-reads it.
            self._generation += 1
            log.info("router owns %s", sorted(t.partition for t in self._ready))

    async def release(self, revoked: set[TopicPartition]) -> None:
        """Partitions revoked: finish the batch in flight, then give their producers up."""
        async with self._routing:
            self._ready -= revoked
            for tp in revoked:
                producer = self._producers.pop(tp, None)
                if producer is not None:
                    await _stop_quietly(producer)

    async def stop(self) -> None:
        """Stop clients; a transaction in flight is aborted by the producer on close."""
        self._stop_directory.set()
        if self._directory_task is not None:
            with contextlib.suppress(Exception):
                await self._directory_task
        if self._consumer is not None:
            await _stop_quietly(self._consumer)
        for producer in self._producers.values():
            await _stop_quietly(producer)
        self._consumer = None
        self._producers = {}
        await self.index.close()
        await self.admin.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Route until ``stop`` is set; the batch in progress is finished first."""
        consumer = self._client()
        while not stop.is_set():
            generation = self._generation
            batch = await consumer.getmany(
                timeout_ms=300, max_records=self.settings.router_batch_size
            )
            if batch:
                async with self._routing:
                    if generation != self._generation:
                        # A rebalance came between fetch and routing: read these again,
                        # from where nothing is decided yet (never skip, never redo).
                        for tp, records in batch.items():
                            if tp in consumer.assignment():
                                consumer.seek(tp, max(records[0].offset, self._done(tp) + 1))
                        continue
                    # One transaction per partition, concurrently: while one commits (a
                    # broker round trip), the next partition's packages are verified.
                    results = await asyncio.gather(
                        *(self._route_partition(tp, recs) for tp, recs in batch.items()),
                        return_exceptions=True,
                    )
                    failures = [r for r in results if isinstance(r, BaseException)]
                    for extra in failures[1:]:  # only one can be raised; say the others
                        log.error("routing another partition failed too: %r", extra)
                    if failures:
                        raise failures[0]

    async def _route_partition(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        consumer = self._client()
        if tp not in consumer.assignment():
            return  # revoked while this batch was fetched: its new owner routes it
        producer = self._producers.get(tp)
        if tp not in self._ready or producer is None:
            # Assigned but its set-up failed (or is under way): finish it here, then
            # read these records again from the position it sets.
            consumer.seek(tp, max(records[0].offset, self._done(tp) + 1))
            try:
                await self._prepare({tp})
            except (TimeoutError, KafkaError) as exc:
                log.warning("partition %s not ready (%s); retrying", tp.partition, exc)
                await asyncio.sleep(1.0)
            return
        done = self._done(tp)
        records = [r for r in records if r.offset > done]  # never decide a record twice
        if not records:
            return
        decisions = [self._decide(rec) for rec in records]
        # Inbox topics must exist before the transaction writes to them.
        await self.admin.ensure_inboxes(
            {wire.agency_of_inbox(r.topic) or "" for d in decisions for r in d.records} - {""}
        )
        try:
            async with producer.transaction():
                for d in decisions:
                    for r in d.records:
                        await producer.send(r.topic, r.value, key=r.key, headers=r.headers)
                await producer.send_offsets_to_transaction(
                    {tp: records[-1].offset + 1}, self.settings.router_group
                )
        except ProducerFenced:
            self.index.rollback(tp.partition)
            raise ServiceReplacedError(
                f"another router took over partition {tp.partition} while this one was "
                "stalled; this one stops",
                hint="a restarted router resumes cleanly; look for a frozen or duplicate process",
            ) from None
        except KafkaError as exc:
            # Aborted: nothing of this batch is visible; forget it and read it again.
            self.index.rollback(tp.partition)
            log.warning("transaction aborted (%s); partition %s will be retried", exc, tp.partition)
            consumer.seek(tp, records[0].offset)
            await asyncio.sleep(1.0)
            return
        self.index.commit(datetime.now(UTC), tp.partition)
        self._committed[tp] = records[-1].offset
        self.routed += len(decisions)

    def _done(self, tp: TopicPartition) -> int:
        """Highest offset of ``tp`` known to have a committed verdict (-1: none)."""
        return max(self._committed.get(tp, -1), self.index.decided.get(tp.partition, -1))

    def _client(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise HubError("RouterService used before start()")
        return self._consumer

    def _decide(self, rec: ConsumerRecord) -> Decision:
        # edoc.submit stamps LogAppendTime: the broker's clock, never the sender's.
        received_at = datetime.fromtimestamp(rec.timestamp / 1000, UTC)
        ticket = next((v for k, v in rec.headers or () if k == wire.H_REPROCESS_TICKET), None)
        if ticket is not None and isinstance(rec.value, bytes) and self._hub_cert is not None:
            # An operator re-submitted a refused package: freshness is judged against
            # when it first arrived, if (and only if) the hub itself vouches for that.
            # Anyone who may submit can set this header: a ticket that fails to read is
            # no ticket.
            try:
                first = read_ticket(
                    ticket.decode(errors="replace"), self._hub_cert, package_sha256(rec.value)
                )
            except Exception as exc:
                log.warning("ignoring an unreadable reprocess ticket: %s", describe(exc))
                first = None
            received_at = first or received_at
        source = SourceRecord(topic=rec.topic, partition=rec.partition, offset=rec.offset)
        raw = rec.value if isinstance(rec.value, bytes) else b""
        started = time.perf_counter()
        decision = self.router.decide(raw, source=source, received_at=received_at)
        observe_decision(decision.report.verdict, time.perf_counter() - started)
        return decision


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Hands partitions between routers without routing anything twice."""

    def __init__(self, service: RouterService) -> None:
        self.service = service

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Finish the batch in flight, then release the partitions' producers."""
        await self.service.release(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Fence the previous owners and resume from the stable committed offsets."""
        await self.service.acquire(set(assigned))


async def _stop_quietly(client: AIOKafkaConsumer | AIOKafkaProducer) -> None:
    try:
        await client.stop()
    except KafkaError as exc:  # stopping must never mask the original error
        log.warning("error while stopping %s: %s", type(client).__name__, exc)
