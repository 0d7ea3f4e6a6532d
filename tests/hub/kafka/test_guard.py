"""The per-record guard (hub.kafka.guard) without a broker: park, retry, go on."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from hub.coverage.facts import EventFacts
from hub.coverage.service import CoverageService
from hub.coverage.store import CoverageStore
from hub.kafka.guard import (
    RecordGuard,
    dead_letter_headers,
    is_transient,
    json_decoder,
    read_parked,
)
from hub.router.index import MessageIndex
from hub.settings import Settings
from schemas import wire
from schemas.events import VerdictEvent
from tests.hub.coverage.traffic import S1, S2, document, local, malformed, verdict

FAST = (0.001,)


@dataclass
class Rec:
    """A consumed record, as aiokafka hands it over."""

    value: bytes | None
    offset: int = 0
    topic: str = wire.EVENTS
    partition: int = 0
    key: bytes | None = b"k"
    headers: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass
class Publisher:
    """Collects what is parked; fails the first sends with ``failures``."""

    failures: list[Exception] = field(default_factory=list)
    sent: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]] = field(
        default_factory=list
    )

    async def send_and_wait(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((topic, value, key, headers or []))


def guard(publisher: Publisher, stop: asyncio.Event | None = None) -> RecordGuard[int]:
    return RecordGuard("test", publisher, stop or asyncio.Event(), pauses=FAST)


def decode_int(record: Rec) -> int | None:
    value = int(record.value or b"")
    return None if value == 0 else value


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (KafkaConnectionError(), True),
        (NotLeaderForPartitionError(), True),
        (TimeoutError(), True),
        (OperationalError("INSERT", {}, Exception("database is locked")), True),
        (MessageSizeTooLargeError(), False),
        (IntegrityError("INSERT", {}, Exception("unique")), False),
        (ValueError("bad"), False),
        (OverflowError("date value out of range"), False),
        (KeyError("x"), False),
    ],
)
def test_transient_means_the_broker_or_database_not_the_record(
    exc: Exception, transient: bool
) -> None:
    assert is_transient(exc) is transient


async def test_decode_parks_what_it_cannot_read_and_keeps_the_rest() -> None:
    pub = Publisher()
    g = guard(pub)
    records = [Rec(b"1", 1), Rec(b"junk", 2), Rec(b"0", 3), Rec(None, 4), Rec(b"5", 5)]
    items = await g.decode(records, decode_int)
    assert items is not None
    assert [(r.offset, v) for r, v in items] == [(1, 1), (5, 5)]  # 0 maps to None: dropped
    parked = [read_parked(Rec(v, headers=h)) for _, v, _, h in pub.sent]
    assert [(p.offset, p.service, p.topic) for p in parked if p] == [
        (2, "test", wire.EVENTS),
        (4, "test", wire.EVENTS),
    ]
    assert pub.sent[0][:3] == (wire.DEADLETTER, b"junk", b"k")  # original bytes and key
    assert "ValueError" in (parked[0].error if parked[0] else "")
    assert g.parked == 2


async def test_a_batch_refused_for_its_data_is_applied_one_by_one() -> None:
    pub = Publisher()
    applied: list[list[int]] = []

    async def apply(batch: list[int]) -> None:
        if 13 in batch:
            raise IntegrityError("INSERT", {}, Exception("constraint"))
        applied.append(batch)

    items = [(Rec(str(v).encode(), v), v) for v in (1, 13, 2)]
    assert await guard(pub).apply(items, apply)
    assert applied == [[1], [2]]
    assert [read_parked(Rec(v, headers=h)).offset for _, v, _, h in pub.sent] == [13]


async def test_a_transient_failure_is_retried_not_parked() -> None:
    pub = Publisher()
    calls: list[list[int]] = []

    async def apply(batch: list[int]) -> None:
        calls.append(batch)
        if len(calls) < 4:
            raise OperationalError("INSERT", {}, Exception("database is locked"))

    assert await guard(pub).apply([(Rec(b"1"), 1), (Rec(b"2"), 2)], apply)
    assert calls == [[1, 2]] * 4 and pub.sent == []


async def test_stopping_while_the_database_is_down_gives_up_without_parking() -> None:
    pub = Publisher()
    stop = asyncio.Event()

    async def apply(batch: list[int]) -> None:
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    asyncio.get_running_loop().call_later(0.05, stop.set)
    assert not await guard(pub, stop).apply([(Rec(b"1"), 1)], apply)
    assert pub.sent == []


async def test_parking_waits_for_the_broker_and_never_skips() -> None:
    pub = Publisher(failures=[KafkaConnectionError(), KafkaConnectionError()])
    g = guard(pub)
    assert await g.park(Rec(b"x", 7), ValueError("bad"))
    assert len(pub.sent) == 1 and g.parked == 1


async def test_a_record_too_large_to_park_is_parked_without_its_value() -> None:
    pub = Publisher(failures=[MessageSizeTooLargeError()])
    assert await guard(pub).park(Rec(b"x" * 10, 7), ValueError("bad"))
    _, value, _, headers = pub.sent[0]
    parked = read_parked(Rec(value, headers=headers))
    assert value is None and parked is not None and parked.offset == 7
    assert "value not kept" in parked.error


def test_a_record_parked_again_keeps_one_set_of_guard_headers() -> None:
    original = [("edoc-message-id", b"m1")]
    once = dead_letter_headers(Rec(b"x", 3, headers=original), "audit", "E1")
    twice = dead_letter_headers(  # a replay that failed again
        Rec(b"x", 3, headers=once), "audit", "E2"
    )
    names = [k for k, _ in twice]
    assert names.count(wire.H_DLQ_ERROR) == 1 and ("edoc-message-id", b"m1") in twice
    assert dict(twice)[wire.H_DLQ_ERROR] == b"E2"


def test_json_decoder_refuses_missing_values() -> None:
    decode = json_decoder(VerdictEvent)
    with pytest.raises(ValueError, match="without a value"):
        decode(Rec(None))


async def test_coverage_parks_an_event_whose_time_is_out_of_range() -> None:
    """The crash of the hostile-input report: a local day of year 9999 overflows."""
    svc = CoverageService(Settings(), CoverageStore.__new__(CoverageStore))
    good = verdict(document(S1, [S2], local(2026, 11, 3)))
    # An unsigned package's verdict: no header, the report's sent_at alone dates it.
    hostile = json.loads(malformed().to_bytes())
    hostile["from"] = hostile["report"]["from"] = S1
    hostile["report"]["sent_at"] = "9999-12-31T20:00:00Z"
    pub = Publisher()
    g: RecordGuard[EventFacts] = RecordGuard("coverage", pub, asyncio.Event(), pauses=FAST)
    items = await g.decode(
        [Rec(json.dumps(hostile).encode(), 1), Rec(good.to_bytes(), 2)],
        svc.facts,
    )
    assert items is not None and [r.offset for r, _ in items] == [2]
    assert [read_parked(Rec(v, headers=h)).service for _, v, _, h in pub.sent] == ["coverage"]


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"[1]",
        b"1",
        b'{"source": [], "verdict": "ok"}',
        b'{"verdict": "ok", "message_id": "m"}',
        b'{"source": {"topic": "edoc.submit", "offset": 1, "partition": "x"}, "router_group": "g"}',
    ],
)
def test_the_message_index_ignores_an_unreadable_event_and_keeps_reading(
    value: bytes | None,
) -> None:
    """The router's index reads history at every start: it counts and skips, never raises."""

    index = MessageIndex(timedelta(days=1), group="g")
    index.load_event(value)
    good = verdict(document(S1, [S2], local(2026, 11, 3)))
    index.load_event(good.to_bytes())
    assert index.get(str(good.message_id)) is not None
