"""The audit recorder: consumes ``edoc.events`` and appends them to the signature log.

At-least-once from Kafka (offsets are committed after the database commit),
exactly-once in the log (appends skip identities already present). Every
``checkpoint_every_entries`` entries or ``checkpoint_every_seconds`` seconds of
growth it signs a checkpoint with the hub key, stores it and publishes it on
``edoc.checkpoints``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError
from sqlalchemy.exc import IntegrityError

from hub import topics
from hub.errors import BrokerUnavailableError, HubError
from hub.guard import RecordGuard, describe, is_transient, json_decoder
from hub.kafka import consumer_config, ensure_hub_topics, producer_config
from hub.settings import Settings
from hub.store.log import SignatureLog
from schemas.events import VerdictEvent
from signing.checkpoint import Checkpoint, SignedCheckpoint
from signing.keys import SigningKey, load_private_key

log = logging.getLogger(__name__)


class AuditRecorder:
    """Keeps the signature log in step with ``edoc.events``."""

    def __init__(
        self, settings: Settings, signature_log: SignatureLog, *, batch: int = 2000
    ) -> None:
        if settings.hub_key is None:
            raise HubError("the hub key is needed to sign checkpoints", hint="set EDOC_HUB_KEY")
        self.settings = settings
        self.log = signature_log
        self.batch = batch
        self.key: SigningKey = load_private_key(settings.hub_key)
        self.recorded = 0  # entries added to the log
        self.seen = 0  # events read (added or already present)
        self.parked = 0  # records parked on edoc.deadletter
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._last_cp_size = 0
        self._last_cp_time = time.monotonic()

    async def start(self) -> None:
        """Connect to Kafka and read where the last checkpoint stands."""
        s = self.settings
        await ensure_hub_topics(s)
        self._consumer = AIOKafkaConsumer(
            topics.EVENTS, **consumer_config(s), group_id=s.audit_group
        )
        # Checkpoints, and parked events (as large as the largest package allows).
        self._producer = AIOKafkaProducer(**producer_config(s))
        try:
            await self._consumer.start()
            await self._producer.start()
        except KafkaConnectionError as exc:
            await self.stop()
            raise BrokerUnavailableError(s.kafka_bootstrap, str(exc)) from None
        latest = await self.log.latest_checkpoint()
        self._last_cp_size = latest.tree_size if latest else 0

    async def stop(self) -> None:
        """Disconnect."""
        for client in (self._consumer, self._producer):
            if client is not None:
                try:
                    await client.stop()
                except KafkaError as exc:
                    log.warning("error stopping %s: %s", type(client).__name__, exc)
        self._consumer = self._producer = None

    async def run(self, stop: asyncio.Event) -> None:
        """Record until ``stop``; a final checkpoint covers what was recorded.

        Each event is read inside the guard (``hub.guard``): one that cannot be read
        or appended is parked on ``edoc.deadletter`` and the log goes on.
        """
        if self._consumer is None or self._producer is None:
            raise HubError("AuditRecorder used before start()")
        guard: RecordGuard[VerdictEvent] = RecordGuard("audit", self._producer, stop)
        while not stop.is_set():
            batch = await self._consumer.getmany(timeout_ms=500, max_records=self.batch)
            records = [rec for recs in batch.values() for rec in recs]
            items = await guard.decode(records, json_decoder(VerdictEvent))
            if items is None or not await guard.apply(items, self._append):
                return  # stopped mid-batch: its offsets stay uncommitted
            self.parked = guard.parked
            self.seen += len(items)
            if batch:
                await self._consumer.commit()
            await self._checkpoint_quietly(guard)
        await self._checkpoint_quietly(guard, force=True)

    async def _append(self, events: list[VerdictEvent]) -> None:
        result = await self.log.append(events)
        self.recorded += result.added

    async def _checkpoint_quietly(
        self, guard: RecordGuard[VerdictEvent], *, force: bool = False
    ) -> None:
        """A checkpoint the database or broker refuses now is signed at a later round."""
        try:
            await self.maybe_checkpoint(force=force)
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("checkpoint deferred: %s", describe(exc))

    async def maybe_checkpoint(self, *, force: bool = False) -> SignedCheckpoint | None:
        """Sign a checkpoint when enough entries or time have accumulated."""
        size = await self.log.size()
        grown = size - self._last_cp_size
        due = grown >= self.settings.checkpoint_every_entries or (
            time.monotonic() - self._last_cp_time >= self.settings.checkpoint_every_seconds
        )
        if grown <= 0 or not (due or force):
            return None
        return await self.checkpoint(size)

    async def checkpoint(self, size: int) -> SignedCheckpoint | None:
        """Sign, store and publish the checkpoint of the first ``size`` entries."""
        cp = Checkpoint(
            origin=self.settings.log_origin,
            size=size,
            root=await self.log.root(size),
            time=datetime.now(UTC).replace(microsecond=0),
        )
        signed = cp.sign(self.key, self.settings.hub_code)
        try:
            await self.log.add_checkpoint(signed)
        except IntegrityError:
            return None  # another recorder signed this size first
        self._last_cp_size = size
        self._last_cp_time = time.monotonic()
        if self._producer is not None:
            await self._producer.send_and_wait(
                topics.CHECKPOINTS, signed.to_text().encode(), key=str(size).encode()
            )
        log.info("checkpoint", extra={"tree_size": size, "root": cp.root.hex()})
        return signed
