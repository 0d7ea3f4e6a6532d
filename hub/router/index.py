"""What the router remembers about accepted messages: duplicates and status references.

Rebuilt at start from ``edoc.events`` (the routers' committed verdicts) for the
dedup window, so it survives restarts without a database, and kept following
that topic so acceptances made by other router instances are known too. Additions
made while a transaction is open are provisional until ``commit``; an aborted
transaction ``rollback``s them, keeping the index equal to what Kafka holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiokafka import AIOKafkaConsumer, TopicPartition

from hub.kafka.guard import describe
from hub.metrics import IGNORED
from schemas import wire

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Accepted:
    """An accepted message: who sent it to whom, and when the hub accepted it."""

    sender: str
    recipients: tuple[str, ...]
    kind: str
    accepted_at: datetime


class MessageIndex:
    """Accepted message ids within the dedup window."""

    def __init__(self, window: timedelta, group: str | None = None) -> None:
        self.window = window
        self.group = group
        self._items: dict[str, Accepted] = {}
        # Open transactions (one per partition, routed concurrently) and what each added.
        self._pending: dict[int, list[str]] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._tps: list[TopicPartition] = []
        self._follower: asyncio.Task[None] | None = None
        self._reading = asyncio.Lock()
        #: Highest ``edoc.submit`` offset with a committed verdict, per partition. Verdicts
        #: and consumer offsets commit in one transaction, so this is where routing resumes.
        self.decided: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._items)

    def get(self, message_id: str) -> Accepted | None:
        """The accepted message with this id, if remembered."""
        return self._items.get(message_id)

    def add(self, message_id: str, item: Accepted, *, txn: int) -> None:
        """Remember a message accepted in the open transaction ``txn`` (a partition)."""
        if message_id not in self._items:
            self._pending.setdefault(txn, []).append(message_id)
        self._items[message_id] = item

    def commit(self, now: datetime, txn: int | None = None) -> None:
        """Transaction ``txn`` (None: all) committed: keep its additions; forget expired ones."""
        for key in self._txns(txn):
            self._pending.pop(key, None)
        horizon = now - self.window
        if self._items and next(iter(self._items.values())).accepted_at < horizon:
            self._items = {k: v for k, v in self._items.items() if v.accepted_at >= horizon}

    def rollback(self, txn: int | None = None) -> None:
        """Transaction ``txn`` (None: all) aborted: drop its additions."""
        for key in self._txns(txn):
            for message_id in self._pending.pop(key, []):
                self._items.pop(message_id, None)

    def _txns(self, txn: int | None) -> list[int]:
        return list(self._pending) if txn is None else [txn]

    async def start(
        self, consumer_kwargs: dict[str, object], partitions: list[int], now: datetime
    ) -> None:
        """Read accepted verdicts of the last ``window`` from ``edoc.events``, then keep following.

        Following matters when several routers share the work: a partition that
        moves here was routed elsewhere until now, and ``catch_up`` makes sure
        its latest acceptances are known before this router routes it.
        """
        self._consumer = AIOKafkaConsumer(**consumer_kwargs, group_id=None)
        consumer = self._consumer
        try:
            await consumer.start()
        except BaseException:
            self._consumer = None
            with contextlib.suppress(Exception):  # the start's own error is the one to report
                await consumer.stop()
            raise
        # Let the consumer's background tasks start: aiokafka's stop() raises
        # CancelledError when called before they ever ran.
        await asyncio.sleep(0)
        self._tps = [TopicPartition(wire.EVENTS, p) for p in partitions]
        if not self._tps:
            return
        consumer.assign(self._tps)
        since = int((now - self.window).timestamp() * 1000)
        starts = await consumer.offsets_for_times(dict.fromkeys(self._tps, since))
        ends = await consumer.end_offsets(self._tps)
        for tp in self._tps:
            found = starts.get(tp)
            consumer.seek(tp, ends[tp] if found is None else found.offset)
        await self._read_until(ends)
        self._pending.clear()
        log.info("message index: %d accepted messages in the last %s", len(self), self.window)
        self._follower = asyncio.create_task(self._follow())

    async def _read_until(self, ends: dict[TopicPartition, int]) -> None:
        consumer = self._consumer
        assert consumer is not None  # noqa: S101 -- start() sets it before any read
        remaining = {tp for tp in self._tps if await consumer.position(tp) < ends[tp]}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for records in batch.values():
                for rec in records:
                    self.load_event(rec.value)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)

    async def _follow(self) -> None:
        consumer = self._consumer
        assert consumer is not None  # noqa: S101 -- started by start()
        while True:
            async with self._reading:
                batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                for rec in records:
                    self.load_event(rec.value)

    async def catch_up(self) -> None:
        """Return once every verdict committed so far on ``edoc.events`` has been read."""
        if self._consumer is None or not self._tps:
            return
        async with self._reading:  # the follower pauses while we read up to the end
            ends = await self._consumer.end_offsets(self._tps)
            await self._read_until(ends)

    async def close(self) -> None:
        """Stop following."""
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
            self._follower = None
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    def load_event(self, value: bytes | None) -> None:
        """Remember what one record of ``edoc.events`` says; an unreadable one is counted."""
        try:
            self._remember(value)
        except Exception as exc:  # a record the index cannot read must not stop routing
            # Not parked: the index re-reads its window at every start (docs/security.md).
            IGNORED.labels(topic=wire.EVENTS).inc()
            log.error("message index: ignoring an unreadable verdict event: %s", describe(exc))

    def _remember(self, value: bytes | None) -> None:
        event = json.loads(value or b"null")
        if not isinstance(event, dict):
            raise ValueError("not a JSON object")
        source = event.get("source") or {}
        if (
            source.get("topic") == wire.SUBMIT
            and isinstance(source.get("offset"), int)
            and event.get("router_group") == self.group  # other groups read other positions
        ):
            part = int(source.get("partition", 0))
            if not 0 <= part < 1 << 31:
                raise ValueError(f"partition {part} out of range")
            self.decided[part] = max(self.decided.get(part, -1), source["offset"])
        if event.get("verdict") != "ok" or not event.get("message_id"):
            return
        self._items[event["message_id"]] = Accepted(
            sender=event.get("from") or "",
            recipients=tuple(event.get("to") or ()),
            kind=event.get("kind") or "",
            accepted_at=datetime.fromisoformat(event["decided_at"]),
        )
