"""The coverage service: ``edoc.events`` (and ``edoc.directory``) → coverage tables.

At-least-once from Kafka, exactly-once in effect: a batch is merged in one
database transaction, and only then are its offsets committed; a redelivered
event merges to the same state (``hub.coverage.ledger``). When the database
refuses a batch (down, locked), the same batch is retried with a growing pause
and no offset moves, so nothing is lost or skipped.

The service also follows ``edoc.directory`` and keeps the entries it receives,
so agencies added while the hub runs appear in reports (``hub.coverage.query``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CommitFailedError, KafkaConnectionError, KafkaError
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from hub import topics
from hub.coverage.facts import EventFacts, facts_from_event
from hub.coverage.periods import load_timezone
from hub.coverage.store import CoverageStore
from hub.directory import Directory, follow_directory, load_directory_file
from hub.errors import BrokerUnavailableError, HubError
from hub.kafka import TopicAdmin, client_config, consumer_config
from hub.settings import Settings
from schemas.directory import Agency
from schemas.events import VerdictEvent

log = logging.getLogger(__name__)

#: Pauses between attempts to store a batch the database refused, seconds.
RETRY_PAUSES = (0.5, 1.0, 2.0, 5.0, 10.0)


class CoverageService:
    """Keeps the coverage tables in step with ``edoc.events``."""

    def __init__(self, settings: Settings, store: CoverageStore, *, batch: int = 500) -> None:
        self.settings = settings
        self.store = store
        self.batch = batch
        self.tz = load_timezone(settings.coverage_timezone)
        self.seen = 0  # verdict events read (also those already counted before)
        self.counted = 0  # events that contributed facts
        self._consumer: AIOKafkaConsumer | None = None
        self._directory = Directory(load_directory_file(settings.directory_file))
        self._stop_directory = asyncio.Event()
        self._directory_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Create the hub's topics if missing, connect, and start following the directory."""
        s = self.settings
        admin = TopicAdmin(s)  # so edoc.events is made with its configuration, not auto-created
        try:
            await admin.start()
        finally:
            await admin.close()
        self._consumer = AIOKafkaConsumer(
            topics.EVENTS, **consumer_config(s), group_id=s.coverage_group
        )
        try:
            await self._consumer.start()
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
        if self._consumer is not None:
            try:
                await self._consumer.stop()
            except KafkaError as exc:
                log.warning("error stopping the consumer: %s", exc)
            self._consumer = None

    def _facts(self, values: list[tuple[int, int, bytes]]) -> list[EventFacts]:
        out: list[EventFacts] = []
        for partition, offset, value in values:
            try:
                event = VerdictEvent.model_validate_json(value)
            except ValidationError as exc:
                # Only the router writes edoc.events; a bad record is a bug, not data.
                log.error(
                    "skipping unreadable event at %s/%s: %s",
                    partition,
                    offset,
                    exc.errors()[0]["msg"],
                )
                continue
            facts = facts_from_event(event, self.tz)
            if facts is not None:
                out.append(facts)
        return out

    async def _store(self, facts: list[EventFacts], stop: asyncio.Event) -> bool:
        """Merge ``facts``, retrying while the database refuses; False when stopped first."""
        attempt = 0
        while True:
            try:
                await self.store.apply(facts)
                return True
            except SQLAlchemyError as exc:
                pause = RETRY_PAUSES[min(attempt, len(RETRY_PAUSES) - 1)]
                attempt += 1
                log.warning(
                    "cannot store coverage batch (attempt %d, retrying in %.1f s): %s",
                    attempt,
                    pause,
                    str(exc).splitlines()[0],
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=pause)
                if stop.is_set():
                    return False

    async def run(self, stop: asyncio.Event) -> None:
        """Count until ``stop``."""
        if self._consumer is None:
            raise HubError("CoverageService used before start()")
        while not stop.is_set():
            batch = await self._consumer.getmany(timeout_ms=500, max_records=self.batch)
            if not batch:
                continue
            values = [(r.partition, r.offset, r.value) for recs in batch.values() for r in recs]
            facts = self._facts(values)
            if facts and not await self._store(facts, stop):
                return  # stopped before the batch was stored: its offsets stay uncommitted
            self.seen += len(values)
            self.counted += len(facts)
            try:
                await self._consumer.commit()
            except CommitFailedError as exc:
                # The group rebalanced while we stored: the batch is read again and merges
                # to the same state.
                log.warning("offsets not committed, batch will be re-read: %s", exc)
