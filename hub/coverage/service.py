"""The coverage service: ``edoc.events`` (and ``edoc.directory``) → coverage tables.

At-least-once from Kafka, exactly-once in effect: a batch is merged in one
database transaction, and only then are its offsets committed; a redelivered
event merges to the same state (``hub.coverage.ledger``). When the database
refuses a batch (down, locked), the same batch is retried with a growing pause
and no offset moves, so nothing is lost or skipped; an event that cannot be
counted is parked on ``edoc.deadletter`` (``hub.kafka.guard``).

The service also follows ``edoc.directory`` and keeps the entries it receives,
so agencies added while the hub runs appear in reports (``hub.coverage.query``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.exc import SQLAlchemyError

from hub.coverage.facts import EventFacts, facts_from_event
from hub.coverage.periods import load_timezone
from hub.coverage.store import CoverageStore
from hub.directory import Directory, follow_directory, load_directory_file
from hub.kafka.client import client_config
from hub.kafka.guard import Record, json_decoder
from hub.kafka.stream import BatchConsumer
from hub.settings import Settings
from schemas import wire
from schemas.directory import Agency
from schemas.events import VerdictEvent

log = logging.getLogger(__name__)


class CoverageService(BatchConsumer):
    """Keeps the coverage tables in step with ``edoc.events`` (a FastStream batch consumer)."""

    def __init__(self, settings: Settings, store: CoverageStore, *, batch: int = 500) -> None:
        super().__init__(
            settings, "coverage", wire.EVENTS, settings.coverage_group, max_records=batch
        )
        self.store = store
        self.tz = load_timezone(settings.coverage_timezone)
        self.counted = 0  # events that contributed facts
        self._decode = json_decoder(VerdictEvent)
        self._directory = Directory(load_directory_file(settings.directory_file))
        self._stop_directory = asyncio.Event()
        self._directory_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Create the hub's topics if missing, consume, and follow the directory."""
        await super().start()
        self._directory_task = asyncio.create_task(
            follow_directory(
                client_config(self.settings),
                self._directory,
                self._on_directory,
                self._stop_directory,
            )
        )

    async def _on_directory(self, changed: list[Agency]) -> None:
        try:
            await self.store.save_agencies(changed)
        except SQLAlchemyError as exc:
            # Not fatal: reports fall back to the directory file for these agencies.
            log.error("cannot keep directory update: %s", str(exc).splitlines()[0])

    async def stop(self) -> None:
        """Stop following the directory, finish the batch in hand, disconnect."""
        self._stop_directory.set()
        if self._directory_task is not None:
            with contextlib.suppress(Exception):
                await self._directory_task
            self._directory_task = None
        await super().stop()

    def facts(self, record: Record) -> EventFacts | None:
        """The facts of one event record (raises on an unreadable one: the guard parks it)."""
        return facts_from_event(self._decode(record), self.tz)

    async def handle(self, records: list[Record]) -> bool:
        """Merge a batch in one transaction; an event that cannot be counted is parked.

        A database that refuses the batch (down, locked) is retried with growing
        pauses and no offset moves (``hub.kafka.guard``).
        """
        items = await self.guard.decode(records, self.facts)
        if items is None or not await self.guard.apply(items, self.store.apply):
            return False
        self.counted += len(items)
        return True
