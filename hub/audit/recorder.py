"""The audit recorder: consumes ``edoc.events`` and appends them to the signature log.

At-least-once from Kafka (offsets are committed after the database commit),
exactly-once in the log (appends skip identities already present); an event
that cannot be recorded is parked on ``edoc.deadletter`` (``hub.kafka.stream``). Every
``checkpoint_every_entries`` entries or ``checkpoint_every_seconds`` seconds of
growth it signs a checkpoint with the hub key, stores it and publishes it on
``edoc.checkpoints``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError

from hub.errors import HubError
from hub.kafka.guard import Record, describe, is_transient, json_decoder
from hub.kafka.stream import BatchConsumer
from hub.settings import Settings
from hub.store.log import SignatureLog
from schemas import wire
from schemas.events import VerdictEvent
from signing.checkpoint import Checkpoint, SignedCheckpoint
from signing.keys import SigningKey, load_private_key

log = logging.getLogger(__name__)


class AuditRecorder(BatchConsumer):
    """Keeps the signature log in step with ``edoc.events`` (a FastStream batch consumer)."""

    def __init__(
        self, settings: Settings, signature_log: SignatureLog, *, batch: int = 2000
    ) -> None:
        if settings.hub_key is None:
            raise HubError("the hub key is needed to sign checkpoints", hint="set EDOC_HUB_KEY")
        super().__init__(settings, "audit", wire.EVENTS, settings.audit_group, max_records=batch)
        self.log = signature_log
        self.key: SigningKey = load_private_key(settings.hub_key)
        self.recorded = 0  # entries added to the log
        self._decode = json_decoder(VerdictEvent)
        self._last_cp_size = 0
        self._last_cp_time = time.monotonic()

    async def start(self) -> None:
        """Read where the last checkpoint stands, then connect and consume."""
        latest = await self.log.latest_checkpoint()
        self._last_cp_size = latest.tree_size if latest else 0
        await super().start()

    async def handle(self, records: list[Record]) -> bool:
        """Append a batch in one transaction; an event that cannot be recorded is parked."""
        items = await self.guard.decode(records, self._decode)
        return items is not None and await self.guard.apply(items, self._append)

    async def run(self, stop: asyncio.Event) -> None:
        """Record until ``stop``; checkpoints as they fall due, and a final one."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)
            await self._checkpoint_quietly()
        await super().run(stop)
        await self._checkpoint_quietly(force=True)

    async def _append(self, events: list[VerdictEvent]) -> None:
        result = await self.log.append(events)
        self.recorded += result.added

    async def _checkpoint_quietly(self, *, force: bool = False) -> None:
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
        await self.broker.publish(
            signed.to_text().encode(), wire.CHECKPOINTS, key=str(size).encode()
        )
        log.info("checkpoint", extra={"tree_size": size, "root": cp.root.hex()})
        return signed
