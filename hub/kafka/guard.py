"""The per-record guard of the hub's consumers: one record can never stop a service.

Every consumer that needs no Kafka transaction (audit recorder, coverage,
lifecycle, directory follower) hands what it reads to a ``RecordGuard``. A
failure falls in one of two kinds:

* **transient** (``is_transient``): the broker or the database is unreachable,
  busy or timed out. The record is not at fault, so nothing is parked: the same
  work is retried with growing pauses (``RETRY_PAUSES``) and no offset moves
  until it succeeds or the service is stopped.
* **anything else**: this record cannot be processed (unreadable, out of range,
  or a defect the record triggers). It is parked on ``edoc.deadletter`` with the
  error, the service and where it was read from, counted in
  ``edoc_deadletter_parked_total``, logged, and the consumer goes on. An
  operator replays it after a fix (``edoc deadletter replay``).

Batch consumers keep their batch for throughput (one database transaction per
batch): records are decoded one at a time, and a batch the store refuses for a
non-transient reason is applied again record by record, so that only the
record at fault is parked. Stores are idempotent per record (the signature log
skips identities it holds, coverage and lifecycle merge), so applying again
what a rolled-back batch held changes nothing.

The router does not park: it answers every package with a verdict in its own
transaction (``unprocessable`` when deciding failed; ``hub.router.decide``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from aiokafka.errors import KafkaConnectionError, KafkaError
from pydantic import BaseModel
from sqlalchemy import exc as sa_exc

from hub.metrics import PARKED, TRANSIENT_RETRIES
from schemas import wire

log = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

#: Pauses between attempts at work that failed for a transient reason, seconds.
RETRY_PAUSES = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
#: Longest error text carried in a dead-letter header (the log line has the full one).
MAX_ERROR_CHARS = 1000


class Record(Protocol):
    """What the guard needs of a consumed record (aiokafka's ``ConsumerRecord`` has it)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


class Publisher(Protocol):
    """Sends one record and waits for the broker's acknowledgement."""

    async def send_and_wait(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> Any:
        """Send and wait (aiokafka's ``AIOKafkaProducer.send_and_wait``)."""


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` says the broker or database is unavailable, not the record bad."""
    if isinstance(exc, KafkaConnectionError | TimeoutError | ConnectionError):
        return True
    if isinstance(exc, KafkaError):
        return bool(getattr(exc, "retriable", False))
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    # OperationalError: connection lost, database locked or shutting down; the rest of
    # the DBAPIError family (DataError, IntegrityError, ProgrammingError) is about the data.
    return isinstance(
        exc,
        sa_exc.OperationalError
        | sa_exc.InterfaceError
        | sa_exc.DisconnectionError
        | sa_exc.TimeoutError
        | OSError,
    )


def describe(exc: BaseException) -> str:
    """``Type: message`` on one line, bounded (error messages can echo hostile input)."""
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text[:MAX_ERROR_CHARS]


def json_decoder(model: type[M]) -> Callable[[Record], M]:
    """A decoder of records whose value is ``model`` as JSON; it raises on anything else."""

    def decode(record: Record) -> M:
        if record.value is None:
            raise ValueError(f"a record without a value on {record.topic}")
        return model.model_validate_json(record.value)

    return decode


@dataclass(frozen=True, slots=True)
class Parked:
    """A record on ``edoc.deadletter``, as the guard wrote it."""

    service: str
    error: str
    topic: str
    partition: int
    offset: int
    parked_at: datetime


def dead_letter_headers(record: Record, service: str, error: str) -> list[tuple[str, bytes]]:
    """The original record's headers plus where it came from and why it was parked."""
    own = {
        wire.H_DLQ_SERVICE,
        wire.H_DLQ_ERROR,
        wire.H_DLQ_TOPIC,
        wire.H_DLQ_PARTITION,
        wire.H_DLQ_OFFSET,
        wire.H_DLQ_PARKED_AT,
    }
    # A record parked twice (a replay that failed again) keeps one set of these headers.
    kept = [(k, v) for k, v in record.headers or () if k not in own]
    return [
        *kept,
        (wire.H_DLQ_SERVICE, service.encode()),
        (wire.H_DLQ_ERROR, error.encode()),
        (wire.H_DLQ_TOPIC, record.topic.encode()),
        (wire.H_DLQ_PARTITION, str(record.partition).encode()),
        (wire.H_DLQ_OFFSET, str(record.offset).encode()),
        (wire.H_DLQ_PARKED_AT, datetime.now(UTC).isoformat(timespec="seconds").encode()),
    ]


def read_parked(record: Record) -> Parked | None:
    """The guard's headers of a record read from ``edoc.deadletter`` (None if absent)."""
    h = {k: v.decode(errors="replace") for k, v in record.headers or ()}
    try:
        return Parked(
            service=h[wire.H_DLQ_SERVICE],
            error=h.get(wire.H_DLQ_ERROR, ""),
            topic=h[wire.H_DLQ_TOPIC],
            partition=int(h[wire.H_DLQ_PARTITION]),
            offset=int(h[wire.H_DLQ_OFFSET]),
            parked_at=datetime.fromisoformat(h[wire.H_DLQ_PARKED_AT]),
        )
    except (KeyError, ValueError):
        return None


class RecordGuard(Generic[T]):
    """Runs a consumer's per-record work so that no record can stop it.

    ``publisher`` writes to ``edoc.deadletter`` (the service's own producer);
    ``stop`` ends the retries of transient failures, paused by ``pauses``.
    """

    def __init__(
        self,
        service: str,
        publisher: Publisher,
        stop: asyncio.Event,
        *,
        pauses: Sequence[float] = RETRY_PAUSES,
    ) -> None:
        self.service = service
        self.publisher = publisher
        self.stop = stop
        self.pauses = tuple(pauses)
        self.parked = 0

    async def decode(
        self, records: Sequence[Record], decode: Callable[[Record], T | None]
    ) -> list[tuple[Record, T]] | None:
        """``decode`` each record; a record it fails on is parked, one it maps to None dropped.

        Returns None when the service was stopped while a parking was being retried.
        """
        out: list[tuple[Record, T]] = []
        for record in records:
            try:
                item = decode(record)
            except Exception as exc:  # the guard: whatever one record does, the loop goes on
                if not await self.park(record, exc):
                    return None
                continue
            if item is not None:
                out.append((record, item))
        return out

    async def apply(
        self, items: Sequence[tuple[Record, T]], apply: Callable[[list[T]], Awaitable[None]]
    ) -> bool:
        """Apply all ``items`` at once; if that fails for the data, one by one, parking failures.

        Transient failures are retried (the batch whole, or the one item). Returns
        False when the service was stopped before everything was applied (the caller
        must then leave its offsets uncommitted).
        """
        if not items:
            return True
        try:
            return await self._retrying(lambda: apply([item for _, item in items]))
        except Exception as exc:
            if len(items) == 1:
                return await self.park(items[0][0], exc)
            log.warning(
                "%s: a batch of %d failed (%s); applying its records one by one",
                self.service,
                len(items),
                describe(exc),
            )
        for record, item in items:
            try:
                done = await self._retrying(lambda item=item: apply([item]))  # type: ignore[misc]
            except Exception as exc:
                done = await self.park(record, exc)
            if not done:
                return False
        return True

    async def run(self, record: Record, work: Callable[[], Awaitable[None]]) -> bool:
        """Do ``work`` for one record: retry transient failures, park the record on others."""
        try:
            return await self._retrying(work)
        except Exception as exc:
            return await self.park(record, exc)

    async def _retrying(self, work: Callable[[], Awaitable[None]]) -> bool:
        """Run ``work``; retry while it fails transiently; raise other failures."""
        attempt = 0
        while True:
            try:
                await work()
                return True
            except Exception as exc:
                if not is_transient(exc):
                    raise
                if not await self.pause(attempt, exc):
                    return False
                attempt += 1

    async def pause(self, attempt: int, exc: BaseException) -> bool:
        """Wait before retry ``attempt + 1`` after a transient ``exc``; False if stopped."""
        wait = self.pauses[min(attempt, len(self.pauses) - 1)]
        TRANSIENT_RETRIES.labels(service=self.service).inc()
        log.warning(
            "%s: %s; retrying in %.1f s (attempt %d)",
            self.service,
            describe(exc),
            wait,
            attempt + 1,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), timeout=wait)
        return not self.stop.is_set()

    async def park(self, record: Record, exc: BaseException) -> bool:
        """Put ``record`` on ``edoc.deadletter``; retry while the broker is away.

        Returns False only when the service was stopped before the record was parked
        (its offset then stays uncommitted and it is read again).
        """
        error = describe(exc)
        log.error(
            "%s: cannot process %s/%d/%d, parking it on %s: %s",
            self.service,
            record.topic,
            record.partition,
            record.offset,
            wire.DEADLETTER,
            error,
            exc_info=not isinstance(exc, ValueError),  # a defect deserves its traceback
        )
        value = record.value
        headers = dead_letter_headers(record, self.service, error)
        attempt = 0
        while True:
            try:
                await self.publisher.send_and_wait(
                    wire.DEADLETTER, value, key=record.key, headers=headers
                )
                break
            except Exception as send_exc:
                if not is_transient(send_exc) and value is not None:
                    # E.g. too large with our headers: park the coordinates alone; the
                    # bytes stay readable on the source topic at that offset.
                    value = None
                    headers = dead_letter_headers(
                        record, self.service, f"{error} (value not kept: {describe(send_exc)})"
                    )
                    continue
                if not is_transient(send_exc):
                    log.critical(
                        "%s: cannot park %s/%d/%d either (%s); skipped, see this log line",
                        self.service,
                        record.topic,
                        record.partition,
                        record.offset,
                        describe(send_exc),
                    )
                    break
                # Not parked is not lost: the offset stays and the record is read again.
                if not await self.pause(attempt, send_exc):
                    return False
                attempt += 1
        self.parked += 1
        PARKED.labels(service=self.service, topic=record.topic).inc()
        return True
