"""Kafka administration the console needs: is the broker there, and how far behind is each group.

Consumer lag is the end offset of each partition a group has committed on
minus the committed offset — for every ``*_group`` setting (router, audit,
coverage, lifecycle, …) and every HTTP-gateway group (one per agency inbox).
End offsets are read with ``read_uncommitted`` (the high watermark) by a
consumer that joins no group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from hub.kafka.client import client_config
from hub.settings import Settings

log = logging.getLogger(__name__)

#: How long one admin request may take before the broker counts as unreachable.
PROBE_TIMEOUT = 3.0


@dataclass(frozen=True)
class LagRow:
    """One partition of one consumer group."""

    group: str
    service: str
    topic: str
    partition: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        """Records not yet consumed (never negative)."""
        return max(0, self.end - self.committed)


def service_groups(settings: Settings) -> dict[str, str]:
    """``{group: service}`` for every ``<service>_group`` setting."""
    out: dict[str, str] = {}
    for name in type(settings).model_fields:
        if name.endswith("_group"):
            value = getattr(settings, name)
            if isinstance(value, str) and value:
                out[value] = name.removesuffix("_group")
    return out


class KafkaOps:
    """A lazily (re)connected admin client and offset reader."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        async with self._lock:
            if self._admin is None or self._offsets is None:
                admin = AIOKafkaAdminClient(
                    **client_config(self.settings),
                    request_timeout_ms=int(PROBE_TIMEOUT * 1000),
                )
                offsets = AIOKafkaConsumer(
                    **client_config(self.settings),
                    enable_auto_commit=False,
                    isolation_level="read_uncommitted",
                    request_timeout_ms=int(PROBE_TIMEOUT * 1000) + 1000,
                )
                try:
                    async with asyncio.timeout(PROBE_TIMEOUT * 2):
                        await admin.start()
                        await offsets.start()
                except BaseException:
                    await _quietly_close(admin, offsets)
                    raise
                self._admin, self._offsets = admin, offsets
            return self._admin, self._offsets

    async def close(self) -> None:
        """Disconnect."""
        async with self._lock:
            await _quietly_close(self._admin, self._offsets)
            self._admin = self._offsets = None

    async def _reset(self) -> None:
        await self.close()

    async def probe(self) -> str:
        """``"ok"`` when the broker answers a metadata request now, else a short reason."""
        try:
            admin, _ = await self._clients()
            async with asyncio.timeout(PROBE_TIMEOUT):
                await admin.describe_cluster()
        except (KafkaError, OSError, TimeoutError) as exc:
            await self._reset()
            return f"unavailable: {type(exc).__name__}"
        return "ok"

    async def lag(self) -> list[LagRow]:
        """Lag of every hub service group and gateway group, by partition."""
        admin, offsets = await self._clients()
        services = service_groups(self.settings)
        groups = dict(services)
        prefix = getattr(self.settings, "gateway_group_prefix", "")
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                listed = await admin.list_consumer_groups()
            for entry in listed:
                name = entry[0]
                if prefix and name.startswith(prefix):
                    groups.setdefault(name, "gateway")
            rows: list[LagRow] = []
            for group, service in sorted(groups.items()):
                async with asyncio.timeout(PROBE_TIMEOUT):
                    committed = await admin.list_consumer_group_offsets(group)
                tps = [tp for tp, meta in committed.items() if meta.offset >= 0]
                if not tps:
                    continue
                async with asyncio.timeout(PROBE_TIMEOUT):
                    ends = await offsets.end_offsets(tps)
                rows.extend(
                    LagRow(group, service, tp.topic, tp.partition, committed[tp].offset, ends[tp])
                    for tp in sorted(tps, key=lambda t: (t.topic, t.partition))
                )
        except (KafkaError, OSError, TimeoutError):
            await self._reset()
            raise
        return rows


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The partitions of ``topic`` now (empty when it does not exist yet).

    ``consumer.topics()`` fetches fresh metadata but does not keep it, so
    ``partitions_for_topic`` would still answer None for a topic the consumer
    has not assigned; read the fetched metadata instead.
    """
    cluster = await consumer._client.fetch_all_metadata()  # private: see the docstring
    return [TopicPartition(topic, p) for p in sorted(cluster.partitions_for_topic(topic) or ())]


async def _quietly_close(
    admin: AIOKafkaAdminClient | None, consumer: AIOKafkaConsumer | None
) -> None:
    if consumer is not None:
        with contextlib.suppress(Exception):
            await consumer.stop()
    if admin is not None:
        with contextlib.suppress(Exception):
            await admin.close()
