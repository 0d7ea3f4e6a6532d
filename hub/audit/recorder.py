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
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from hub import topics
from hub.errors import BrokerUnavailableError, HubError
from hub.kafka import client_config
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
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._last_cp_size = 0
        self._last_cp_time = time.monotonic()

    async def start(self) -> None:
        """Connect to Kafka and read where the last checkpoint stands."""
        s = self.settings
        self._consumer = AIOKafkaConsumer(
            topics.EVENTS,
            **client_config(s),
            group_id=s.audit_group,
            isolation_level="read_committed",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=32 * 1024 * 1024,
        )
        self._producer = AIOKafkaProducer(**client_config(s), acks="all")
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
        """Record until ``stop``; a final checkpoint covers what was recorded."""
        if self._consumer is None:
            raise HubError("AuditRecorder used before start()")
        while not stop.is_set():
            batch = await self._consumer.getmany(timeout_ms=500, max_records=self.batch)
            events: list[VerdictEvent] = []
            for records in batch.values():
                for rec in records:
                    try:
                        events.append(VerdictEvent.model_validate_json(rec.value))
                    except ValidationError as exc:
                        # Only the router writes edoc.events; a bad record is a bug, not data.
                        log.error(
                            "skipping unreadable event at %s/%s: %s",
                            rec.partition,
                            rec.offset,
                            exc.errors()[0]["msg"],
                        )
            self.seen += len(events)
            if events:
                result = await self.log.append(events)
                self.recorded += result.added
            if batch:
                await self._consumer.commit()
            await self.maybe_checkpoint()
        await self.maybe_checkpoint(force=True)

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
