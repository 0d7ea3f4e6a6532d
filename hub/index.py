"""What the router remembers about accepted messages: duplicates and status references.

Rebuilt at start from ``edoc.events`` (the router's own committed verdicts)
for the dedup window, so it survives restarts without a database. Additions
made while a transaction is open are provisional until ``commit``; an aborted
transaction ``rollback``s them, keeping the index equal to what Kafka holds.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiokafka import AIOKafkaConsumer, TopicPartition

from hub import topics

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

    def __init__(self, window: timedelta) -> None:
        self.window = window
        self._items: dict[str, Accepted] = {}
        self._pending: list[str] = []

    def __len__(self) -> int:
        return len(self._items)

    def get(self, message_id: str) -> Accepted | None:
        """The accepted message with this id, if remembered."""
        return self._items.get(message_id)

    def add(self, message_id: str, item: Accepted) -> None:
        """Remember a message accepted in the open transaction."""
        self._items[message_id] = item
        self._pending.append(message_id)

    def commit(self, now: datetime) -> None:
        """The transaction committed: keep its additions; forget what left the window."""
        self._pending.clear()
        horizon = now - self.window
        if self._items and next(iter(self._items.values())).accepted_at < horizon:
            self._items = {k: v for k, v in self._items.items() if v.accepted_at >= horizon}

    def rollback(self) -> None:
        """The transaction aborted: drop its additions."""
        for message_id in self._pending:
            self._items.pop(message_id, None)
        self._pending.clear()

    async def load(
        self, consumer_kwargs: dict[str, object], partitions: list[int], now: datetime
    ) -> None:
        """Read accepted verdicts of the last ``window`` from ``edoc.events``' ``partitions``."""
        consumer = AIOKafkaConsumer(**consumer_kwargs, group_id=None)
        await consumer.start()
        # Let the consumer's background tasks start: aiokafka's stop() raises
        # CancelledError when called before they ever ran.
        await asyncio.sleep(0)
        try:
            tps = [TopicPartition(topics.EVENTS, p) for p in partitions]
            if not tps:
                return
            consumer.assign(tps)
            since = int((now - self.window).timestamp() * 1000)
            starts = await consumer.offsets_for_times(dict.fromkeys(tps, since))
            ends = await consumer.end_offsets(tps)
            for tp in tps:
                found = starts.get(tp)
                if found is None:
                    consumer.seek(tp, ends[tp])
                else:
                    consumer.seek(tp, found.offset)
            remaining = {tp for tp in tps if await consumer.position(tp) < ends[tp]}
            while remaining:
                batch = await consumer.getmany(*remaining, timeout_ms=1000)
                for records in batch.values():
                    for rec in records:
                        self._load_event(rec.value)
                for tp in list(remaining):
                    if await consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
        finally:
            await consumer.stop()
        self._pending.clear()
        log.info("message index: %d accepted messages in the last %s", len(self), self.window)

    def _load_event(self, value: bytes) -> None:
        try:
            event = json.loads(value)
        except ValueError:
            return
        if event.get("verdict") != "ok" or not event.get("message_id"):
            return
        self._items[event["message_id"]] = Accepted(
            sender=event.get("from") or "",
            recipients=tuple(event.get("to") or ()),
            kind=event.get("kind") or "",
            accepted_at=datetime.fromisoformat(event["decided_at"]),
        )
