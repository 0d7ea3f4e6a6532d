"""Parked records: list what is on ``edoc.deadletter`` and replay it after a fix.

A service parks a record it cannot process (``hub.kafka.guard``). Once the cause is
fixed (a defect corrected, a database column widened), an operator replays it:
the record is handed to the *same* per-record code the service runs (decode,
then the store's idempotent apply), in this process, against the hub's
database. A replay that succeeds is recorded on ``edoc.operations`` (action
``replay``, target ``edoc.deadletter/<partition>/<offset>``, who) so the list
shows it as done; one that fails again says why and stays parked.

Replay does not publish the record again to its source topic: every other
consumer of ``edoc.events`` has already processed it, and the router is the
only writer there.

Cost: listing reads the newest ``limit`` parked records and the newest
``ACTIONS_READ`` operator actions, whatever the history; replaying one record
reads that record alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.coverage.facts import facts_from_event
from hub.coverage.periods import load_timezone
from hub.coverage.store import CoverageStore
from hub.errors import BrokerUnavailableError, HubError
from hub.kafka.client import consumer_config, producer_config
from hub.kafka.guard import Parked, describe, json_decoder, read_parked
from hub.lifecycle.service import apply_events
from hub.settings import Settings
from hub.store.log import SignatureLog
from schemas import wire
from schemas.events import VerdictEvent

#: Seconds a read of the topics may take before the broker counts as unavailable.
READ_TIMEOUT = 15.0
#: Operator actions read back to mark replayed records.
ACTIONS_READ = 5000
#: The services that park records, and so can have them replayed.
PARKING_SERVICES = ("audit", "coverage", "lifecycle")


class DeadLetterError(HubError):
    """A parked record cannot be found or replayed."""


@dataclass
class ParkedRecord:
    """One record of ``edoc.deadletter``."""

    offset: int
    parked: Parked | None
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    replayed: dict[str, Any] | None = None

    @property
    def ref(self) -> str:
        """``edoc.deadletter/0/<offset>``: the name replay actions use."""
        return f"{wire.DEADLETTER}/0/{self.offset}"

    def as_source(self) -> _Source:
        """The record as the service first read it (same topic, partition and offset)."""
        p = self.parked
        return _Source(
            topic=p.topic if p else wire.DEADLETTER,
            partition=p.partition if p else 0,
            offset=p.offset if p else self.offset,
            key=self.key,
            value=self.value,
            headers=[(k, v) for k, v in self.headers if not k.startswith("edoc-dlq-")],
        )

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (no value bytes)."""
        p = self.parked
        return {
            "offset": self.offset,
            "service": p.service if p else None,
            "error": p.error if p else "not written by a hub service",
            "source": f"{p.topic}/{p.partition}/{p.offset}" if p else None,
            "parked_at": p.parked_at.isoformat() if p else None,
            "bytes": len(self.value) if self.value is not None else None,
            "replayed": self.replayed,
        }


@dataclass
class _Source:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


Replayer = Callable[[Settings, AsyncEngine, _Source], Awaitable[None]]


async def _replay_audit(settings: Settings, engine: AsyncEngine, rec: _Source) -> None:
    await SignatureLog(engine).append([json_decoder(VerdictEvent)(rec)])


async def _replay_coverage(settings: Settings, engine: AsyncEngine, rec: _Source) -> None:
    event = json_decoder(VerdictEvent)(rec)
    facts = facts_from_event(event, load_timezone(settings.coverage_timezone))
    if facts is not None:
        await CoverageStore(engine).apply([facts])


async def _replay_lifecycle(settings: Settings, engine: AsyncEngine, rec: _Source) -> None:
    await apply_events(engine, [json_decoder(VerdictEvent)(rec)])


#: The per-record work of each parking service (the same calls its guard makes).
REPLAYERS: dict[str, Replayer] = {
    "audit": _replay_audit,
    "coverage": _replay_coverage,
    "lifecycle": _replay_lifecycle,
}


async def _read(
    settings: Settings, topic: str, last: int, offset: int | None = None
) -> list[ConsumerRecord]:
    """The newest ``last`` records of partition 0 of ``topic`` (or the one at ``offset``)."""
    consumer = AIOKafkaConsumer(**consumer_config(settings))
    tp = TopicPartition(topic, 0)
    out: list[ConsumerRecord] = []
    try:
        async with asyncio.timeout(READ_TIMEOUT):
            await consumer.start()
            if topic not in await consumer.topics():
                return []  # no service has created it yet: nothing parked, nothing done
            consumer.assign([tp])
            begin = (await consumer.beginning_offsets([tp]))[tp]
            end = (await consumer.end_offsets([tp]))[tp]
            start = max(begin, end - last) if offset is None else offset
            if offset is not None and not begin <= offset < end:
                raise DeadLetterError(
                    f"no record {offset} on {topic}",
                    hint=f"its offsets run from {begin} to {end - 1}"
                    if end > begin
                    else "nothing is parked",
                )
            stop_at = end if offset is None else offset + 1
            consumer.seek(tp, start)
            while start < stop_at and await consumer.position(tp) < stop_at:
                batch = await consumer.getmany(tp, timeout_ms=500)
                if not batch:
                    break  # transaction markers can leave the position short of the end
                out.extend(r for r in batch.get(tp, []) if r.offset < stop_at)
    except (KafkaError, OSError, TimeoutError) as exc:
        raise BrokerUnavailableError(settings.kafka_bootstrap, describe(exc)) from None
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
    return [r for r in out if offset is None or r.offset == offset]


def _parked(rec: ConsumerRecord) -> ParkedRecord:
    return ParkedRecord(
        offset=rec.offset,
        parked=read_parked(rec),
        key=rec.key,
        value=rec.value,
        headers=list(rec.headers or ()),
    )


async def replay_actions(settings: Settings) -> dict[str, dict[str, Any]]:
    """The latest replay action per parked record, by ``edoc.deadletter/0/<offset>``."""
    done: dict[str, dict[str, Any]] = {}
    for rec in await _read(settings, wire.OPERATIONS, ACTIONS_READ):
        with contextlib.suppress(ValueError, TypeError):
            action = json.loads(rec.value)
            if isinstance(action, dict) and action.get("action") == "replay":
                done[str(action.get("target"))] = action
    return done


async def list_parked(settings: Settings, limit: int = 100) -> list[ParkedRecord]:
    """The newest ``limit`` parked records, newest first, marked when replayed."""
    items = [_parked(r) for r in await _read(settings, wire.DEADLETTER, limit)]
    done = await replay_actions(settings)
    for item in items:
        item.replayed = done.get(item.ref)
        item.value = None  # a list needs no bytes
    return sorted(items, key=lambda i: i.offset, reverse=True)


async def get_parked(settings: Settings, offset: int) -> ParkedRecord:
    """One parked record, with its bytes."""
    found = await _read(settings, wire.DEADLETTER, 1, offset=offset)
    if not found:
        raise DeadLetterError(f"no record {offset} on {wire.DEADLETTER}")
    return _parked(found[0])


async def replay(
    settings: Settings, engine: AsyncEngine, item: ParkedRecord, *, by: str | None = None
) -> dict[str, Any]:
    """Run ``item`` through its service's per-record work; record the replay if it succeeds."""
    if item.parked is None or item.parked.service not in REPLAYERS:
        raise DeadLetterError(
            f"record {item.offset} was not parked by a service that can replay it",
            hint=f"replayable services: {', '.join(PARKING_SERVICES)}",
        )
    if item.value is None:
        raise DeadLetterError(
            f"record {item.offset} was parked without its value (too large)",
            hint=f"read it at its source, {item.summary()['source']}",
        )
    try:
        await REPLAYERS[item.parked.service](settings, engine, item.as_source())
    except Exception as exc:  # it stays parked; the operator sees why
        raise DeadLetterError(
            f"replaying {item.ref} in {item.parked.service} failed again: {describe(exc)}",
            hint="fix the cause first (see the service's log), then replay again",
        ) from None
    action = {
        "action": "replay",
        "target": item.ref,
        "service": item.parked.service,
        "source": item.summary()["source"],
        "by": by or getpass.getuser(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    producer = AIOKafkaProducer(**producer_config(settings))
    try:
        await producer.start()
        await producer.send_and_wait(
            wire.OPERATIONS, json.dumps(action).encode(), key=item.ref.encode()
        )
    except (KafkaError, OSError) as exc:
        raise BrokerUnavailableError(settings.kafka_bootstrap, describe(exc)) from None
    finally:
        with contextlib.suppress(Exception):
            await producer.stop()
    return action
