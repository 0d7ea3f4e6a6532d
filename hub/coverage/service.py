"""The coverage service: ``edoc.events`` (and ``edoc.directory``) → coverage tables.

At-least-once from Kafka, exactly-once in effect: a batch is merged in one
database transaction, and only then are its offsets committed; a redelivered
event merges to the same state (``hub.coverage.ledger``). When the database
refuses a batch (down, locked), the same batch is retried with a growing pause
and no offset moves, so nothing is lost or skipped; an event that cannot be
counted is parked on ``edoc.deadletter`` (``hub.guard``).

The service also follows ``edoc.directory`` and keeps the entries it receives,
so agencies added while the hub runs appear in reports (``hub.coverage.query``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import CommitFailedError, KafkaConnectionError, KafkaError
from sqlalchemy.exc import SQLAlchemyError

from hub import topics
from hub.coverage.facts import EventFacts, facts_from_event
from hub.coverage.periods import load_timezone
from hub.coverage.store import CoverageStore
from hub.directory import Directory, follow_directory, load_directory_file
from hub.errors import BrokerUnavailableError, HubError
from hub.guard import Record, RecordGuard, json_decoder
from hub.kafka import client_config, consumer_config, ensure_hub_topics, producer_config
from hub.settings import Settings
from schemas.directory import Agency
from schemas.events import VerdictEvent

log = logging.getLogger(__name__)


class CoverageService:
    """Keeps the coverage tables in step with ``edoc.events``."""

    def __init__(self, settings: Settings, store: CoverageStore, *, batch: int = 500) -> None:
        self.settings = settings
        self.store = store
        self.batch = batch
        self.tz = load_timezone(settings.coverage_timezone)
        self.seen = 0  # verdict events read (also those already counted before)
        self.parked = 0  # records parked on edoc.deadletter
        self.counted = 0  # events that contributed facts
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._decode = json_decoder(VerdictEvent)
        self._directory = Directory(load_directory_file(settings.directory_file))
        self._stop_directory = asyncio.Event()
        self._directory_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Create the hub's topics if missing, connect, and start following the directory."""
        s = self.settings
        await ensure_hub_topics(s)
        self._consumer = AIOKafkaConsumer(
            topics.EVENTS, **consumer_config(s), group_id=s.coverage_group
        )
        # Parks the events it cannot count (hub.guard).
        self._producer = AIOKafkaProducer(**producer_config(s))
        try:
            await self._consumer.start()
            await self._producer.start()
        except KafkaConnectionError as exc:
            await self.stop()
            raise BrokerUnavailableError(s.kafka_bootstrap, str(exc)) from None
        self._directory_task = asyncio.create_task(
            follow_directory(
                client_config(s), self._directory, self._on_directory, self._stop_directory
            )
        )

    async def _on_directory(self, changed: list[Agency]) -> None:
        try:
            await self.store.save_agencies(changed)
        except SQLAlchemyError as exc:
            # Not fatal: reports fall back to the directory file for these agencies.
            log.error("cannot keep directory update: %s", str(exc).splitlines()[0])

    async def stop(self) -> None:
        """Disconnect."""
        self._stop_directory.set()
        if self._directory_task is not None:
            with contextlib.suppress(Exception):
                await self._directory_task
            self._directory_task = None
        for client in (self._consumer, self._producer):
            if client is not None:
                try:
                    await client.stop()
                except KafkaError as exc:
                    log.warning("error stopping %s: %s", type(client).__name__, exc)
        self._consumer = self._producer = None

    def facts(self, record: Record) -> EventFacts | None:
        """The facts of one event record (raises on an unreadable one: the guard parks it)."""
        return facts_from_event(self._decode(record), self.tz)

    async def run(self, stop: asyncio.Event) -> None:
        """Count until ``stop``.

        Each event is read inside the guard (``hub.guard``): one that cannot be read or
        counted is parked on ``edoc.deadletter``; a database that refuses the batch
        (down, locked) is retried with growing pauses and no offset moves.
        """
        if self._consumer is None or self._producer is None:
            raise HubError("CoverageService used before start()")
        guard: RecordGuard[EventFacts] = RecordGuard("coverage", self._producer, stop)
        while not stop.is_set():
            batch = await self._consumer.getmany(timeout_ms=500, max_records=self.batch)
            if not batch:
                continue
            records = [r for recs in batch.values() for r in recs]
            items = await guard.decode(records, self.facts)
            if items is None or not await guard.apply(items, self.store.apply):
                return  # stopped before the batch was stored: its offsets stay uncommitted
            self.parked = guard.parked
            self.seen += len(records)
            self.counted += len(items)
            try:
                await self._consumer.commit()
            except CommitFailedError as exc:
                # The group rebalanced while we stored: the batch is read again and merges
                # to the same state.
                log.warning("offsets not committed, batch will be re-read: %s", exc)
