"""The FastStream consumers on the in-memory broker (the real-broker runs are in
test_deadletter_kafka.py, test_audit_kafka.py, lifecycle/ and coverage/)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from sqlalchemy.exc import OperationalError

from hub.coverage.service import CoverageService
from hub.coverage.store import CoverageStore
from hub.kafka.guard import read_parked
from hub.kafka.stream import BatchConsumer, broker_security
from hub.lifecycle.service import LifecycleService
from hub.settings import Settings
from hub.store.db import make_engine, migrate
from schemas import wire
from schemas.events import VerdictEvent
from tests.hub.kafka.test_guard import Rec


def parked_sink(broker: KafkaBroker) -> list[tuple[bytes, dict[str, str]]]:
    """Whatever lands on edoc.deadletter of ``broker``."""
    got: list[tuple[bytes, dict[str, str]]] = []

    @broker.subscriber(wire.DEADLETTER)
    async def sink(message: KafkaMessage) -> None:
        got.append((message.body, dict(message.headers)))

    return got


async def test_lifecycle_parks_the_unreadable_event_and_applies_the_rest(
    tmp_path: Path, make_events: Callable[[int], list[VerdictEvent]]
) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    await migrate(engine)
    service = LifecycleService(Settings(), engine)
    parked = parked_sink(service.broker)
    good = next(e for e in make_events(3) if e.verdict == "ok")
    async with TestKafkaBroker(service.broker) as br:
        await br.publish_batch(b"[1, 2", good.to_bytes(), topic=wire.EVENTS)
    assert service.parked == 1 and service.seen == 2
    body, headers = parked[0]
    assert body == b"[1, 2" and headers[wire.H_DLQ_SERVICE] == "lifecycle"
    assert (
        headers[wire.H_DLQ_TOPIC] == wire.EVENTS and "ValidationError" in headers[wire.H_DLQ_ERROR]
    )
    await engine.dispose()


async def test_coverage_parks_an_event_out_of_range_and_counts_the_rest(
    tmp_path: Path, make_events: Callable[[int], list[VerdictEvent]]
) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    await migrate(engine)
    service = CoverageService(Settings(), CoverageStore(engine))
    parked = parked_sink(service.broker)
    good = make_events(1)[0]
    hostile = json.loads(good.to_bytes())
    hostile["decided_at"] = "9999-12-31T23:59:59-00:01"
    async with TestKafkaBroker(service.broker) as br:
        await br.publish_batch(json.dumps(hostile).encode(), good.to_bytes(), topic=wire.EVENTS)
    assert service.parked == 1 and service.counted == 1
    assert read_parked(
        Rec(parked[0][0], headers=[(k, v.encode()) for k, v in parked[0][1].items()])
    )
    await engine.dispose()


class Failing(BatchConsumer):
    """A handler with a defect outside the per-record work: the middleware is the net."""

    def __init__(self, error: Exception) -> None:
        super().__init__(Settings(), "test", "edoc.test", "g", max_records=10)
        self.error = error
        self.calls = 0

    async def handle(self, records: list[Any]) -> bool:
        self.calls += 1
        raise self.error


async def test_the_guard_middleware_parks_every_record_of_a_batch_a_handler_fails_on() -> None:
    service = Failing(KeyError("defect"))
    parked = parked_sink(service.broker)
    async with TestKafkaBroker(service.broker) as br:
        await br.publish_batch(b"a", b"b", topic="edoc.test")
    assert [p[0] for p in parked] == [b"a", b"b"] and service.parked == 2
    assert all("KeyError" in h[wire.H_DLQ_ERROR] for _, h in parked)


async def test_a_transient_failure_is_not_parked_but_read_again() -> None:
    service = Failing(OperationalError("INSERT", {}, Exception("database is locked")))
    service.guard.pauses = (0.001,)
    parked = parked_sink(service.broker)
    async with TestKafkaBroker(service.broker) as br:
        with pytest.raises(OperationalError):  # the in-memory broker hands the rewind back
            await br.publish_batch(b"a", topic="edoc.test")
    assert parked == [] and service.calls == 1


def test_the_broker_speaks_scram_when_the_hub_does() -> None:
    settings = Settings(
        kafka_security_protocol="SASL_PLAINTEXT", kafka_username="edoc-audit", kafka_password="pw"
    )
    security = broker_security(settings)
    assert security is not None and type(security).__name__ == "SASLScram512"
    assert broker_security(Settings()) is None
