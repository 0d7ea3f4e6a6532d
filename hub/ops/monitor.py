"""The hub-side monitor behind the console and ``/metrics``.

It tails ``edoc.events`` with ``read_committed`` and no consumer group (it
commits nothing and disturbs no service), starting ``EDOC_MONITOR_HISTORY_MINUTES``
back so the charts are not empty after a restart, and keeps rolling counters
in memory (``hub.ops.stats``). Every ``EDOC_MONITOR_POLL_SECONDS`` it asks
the broker for consumer lag, and the database for the size of the signature
log and the age of its latest checkpoint.

Nothing here is needed for the hub to work: when Kafka or the database is down
the monitor says so and retries, and the API keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.kafka.client import client_config, record_limit
from hub.kafka.lag import PROBE_TIMEOUT, KafkaOps, LagRow, topic_partitions
from hub.metrics import OpsMetrics
from hub.ops.stats import FlowEvent, FlowStats
from hub.settings import Settings
from hub.store.log import SignatureLog
from hub.store.probe import database_probe
from schemas import wire

log = logging.getLogger(__name__)

#: Pause before reconnecting after Kafka went away, seconds.
RECONNECT_PAUSE = 2.0


@dataclass
class Health:
    """Last known state of what the hub depends on."""

    kafka: str = "unknown"
    database: str = "unknown"
    checked_at: datetime | None = None
    log_size: int | None = None
    checkpoint_size: int | None = None
    checkpoint_at: datetime | None = None
    lag: list[LagRow] = field(default_factory=list)
    lag_error: str | None = None

    def as_json(self, now: datetime) -> dict[str, Any]:
        """JSON-ready view, lag summed per group as well as per partition."""
        groups: dict[str, dict[str, Any]] = {}
        for row in self.lag:
            g = groups.setdefault(
                row.group, {"group": row.group, "service": row.service, "lag": 0, "partitions": 0}
            )
            g["lag"] += row.lag
            g["partitions"] += 1
        age = (now - self.checkpoint_at).total_seconds() if self.checkpoint_at else None
        return {
            "kafka": self.kafka,
            "database": self.database,
            "checked_at": _iso(self.checked_at),
            "log_size": self.log_size,
            "checkpoint_size": self.checkpoint_size,
            "checkpoint_age": round(age) if age is not None else None,
            "groups": list(groups.values()),
            "lag": [
                {
                    "group": r.group,
                    "service": r.service,
                    "topic": r.topic,
                    "partition": r.partition,
                    "committed": r.committed,
                    "end": r.end,
                    "lag": r.lag,
                }
                for r in self.lag
            ],
            "lag_error": self.lag_error,
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


class Monitor:
    """Live flow counters, health and lag for one API process."""

    def __init__(self, settings: Settings, engine: AsyncEngine, metrics: OpsMetrics) -> None:
        self.settings = settings
        self.engine = engine
        self.metrics = metrics
        self.stats = FlowStats()
        self.health = Health()
        self.kafka = KafkaOps(settings)
        self.started_at = datetime.now(UTC)
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        #: Set each time new events were counted (the SSE stream waits on it).
        self.changed = asyncio.Event()

    async def start(self) -> None:
        """Start tailing and polling in the background; returns at once."""
        self._tasks = [
            asyncio.create_task(self._tail(), name="monitor-tail"),
            asyncio.create_task(self._poll(), name="monitor-poll"),
        ]

    async def stop(self) -> None:
        """Stop the background tasks and disconnect."""
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.kafka.close()

    # -- tailing edoc.events ----------------------------------------------------------------

    def observe(self, raw: bytes, *, live: bool) -> None:
        """Count one ``edoc.events`` record; ``live`` ones also feed the Prometheus counters."""
        try:
            event = json.loads(raw)
            ev = FlowEvent.from_json(event)
        except (ValueError, TypeError, AttributeError):
            log.warning("monitor skipped an unreadable verdict event")
            return
        self.stats.observe(ev)
        if live:
            m = self.metrics
            m.verdicts.labels(verdict=ev.verdict, kind=ev.kind or "unreadable").inc()
            for reason in ev.reasons:
                m.rejections.labels(reason=reason).inc()
            if ev.latency is not None:
                m.end_to_end.observe(ev.latency)
        m_last = self.stats.last_event_at
        if m_last is not None:
            self.metrics.monitor_last_event.set(m_last.timestamp())

    async def _tail(self) -> None:
        while not self._stop.is_set():
            try:
                await self._tail_once()
            except asyncio.CancelledError:
                raise
            except (KafkaError, OSError, TimeoutError) as exc:
                log.debug("monitor lost edoc.events (%s); reconnecting", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), RECONNECT_PAUSE)

    async def _tail_once(self) -> None:
        s = self.settings
        consumer = AIOKafkaConsumer(
            **client_config(s),
            isolation_level="read_committed",
            enable_auto_commit=False,
            max_partition_fetch_bytes=record_limit(s),
            fetch_max_bytes=record_limit(s) * 2,
            request_timeout_ms=int(PROBE_TIMEOUT * 1000) + 2000,
        )
        try:
            async with asyncio.timeout(PROBE_TIMEOUT * 3):
                await consumer.start()
            tps = await self._wait_for_partitions(consumer)
            if not tps:
                return
            consumer.assign(tps)
            since = datetime.now(UTC) - timedelta(minutes=s.monitor_history_minutes)
            since_ms = int(since.timestamp() * 1000)
            starts = await consumer.offsets_for_times(dict.fromkeys(tps, since_ms))
            ends = await consumer.end_offsets(tps)
            for tp in tps:
                found = starts.get(tp)
                consumer.seek(tp, found.offset if found is not None else ends[tp])
            while not self._stop.is_set():
                batch = await consumer.getmany(timeout_ms=500, max_records=2000)
                counted = 0
                for records in batch.values():
                    for rec in records:
                        self.observe(rec.value, live=rec.timestamp >= self._live_ms())
                        counted += 1
                if counted:
                    self.changed.set()
                    self.changed = asyncio.Event()
                if self._partitions_changed(consumer, tps):
                    return  # reassign with the new partitions
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    def _live_ms(self) -> int:
        return int(self.started_at.timestamp() * 1000)

    async def _wait_for_partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        """The partitions of ``edoc.events``; waits while the topic does not exist yet."""
        while not self._stop.is_set():
            tps = await topic_partitions(consumer, wire.EVENTS)
            if tps:
                return tps
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), RECONNECT_PAUSE)
        return []

    @staticmethod
    def _partitions_changed(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> bool:
        # Cheap: metadata is cached by the client and refreshed in the background.
        # None (no metadata yet) is not a change.
        parts = consumer.partitions_for_topic(wire.EVENTS)
        return parts is not None and len(parts) != len(tps)

    # -- polling health, lag and the log ----------------------------------------------------

    async def refresh(self) -> Health:
        """Probe Kafka and the database now; update health, lag and gauges."""
        h = self.health
        h.kafka = await self.kafka.probe()
        h.database = await database_probe(self.engine)
        h.checked_at = datetime.now(UTC)
        m = self.metrics
        m.broker_up.set(1 if h.kafka == "ok" else 0)
        m.database_up.set(1 if h.database == "ok" else 0)
        if h.kafka == "ok":
            try:
                h.lag = await self.kafka.lag()
                h.lag_error = None
                m.set_lag([(r.group, r.topic, r.partition, r.lag) for r in h.lag])
            except (KafkaError, OSError, TimeoutError) as exc:
                h.lag_error = type(exc).__name__
        if h.database == "ok":
            await self._refresh_log()
        return h

    async def _refresh_log(self) -> None:
        h, m = self.health, self.metrics
        signature_log = SignatureLog(self.engine)
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                h.log_size = await signature_log.size()
                cp = await signature_log.latest_checkpoint()
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            log.debug("monitor could not read the signature log: %s", exc)
            return
        m.log_entries.set(h.log_size)
        if cp is not None:
            created = cp.created_at if cp.created_at.tzinfo else cp.created_at.replace(tzinfo=UTC)
            h.checkpoint_size, h.checkpoint_at = cp.tree_size, created
            m.checkpoint_size.set(cp.tree_size)
            m.checkpoint_age.set((datetime.now(UTC) - created).total_seconds())
            m.uncheckpointed.set(max(0, h.log_size - cp.tree_size))
        else:
            m.uncheckpointed.set(h.log_size)

    async def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:  # the monitor must never take the API down
                log.exception("monitor poll failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.settings.monitor_poll_seconds)

    # -- what the console shows ---------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Flow, health and lag in one JSON-ready dict (the SSE payload)."""
        now = datetime.now(UTC)
        return {"flow": self.stats.snapshot(now), "health": self.health.as_json(now)}
