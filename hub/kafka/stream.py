"""FastStream for the hub's consumers that need no Kafka transaction.

One ``KafkaBroker`` per service, built from the settings (bootstrap, SASL/SCRAM,
record limits) by ``make_broker``; subscribers read ``read_committed`` with an
acknowledgement policy that loses nothing: FastStream 0.7's default (``ACK_FIRST``)
commits before the handler runs, so a crash would skip records. Here
``NACK_ON_ERROR``: the offsets are committed after the handler returned, and a
handler that raises rewinds its partitions to the first record of the batch.

The guard runs at two depths:

* inside the handler, per record (``hub.kafka.client.guard.RecordGuard``): a record
  that cannot be decoded or stored is parked on ``edoc.deadletter``, a
  transient failure is retried there;
* around the handler, as a FastStream middleware (``GuardMiddleware``), for
  whatever still escapes: a transient failure pauses and rewinds (read again),
  anything else parks every record of the message and goes on.

The router keeps its own aiokafka client: FastStream 0.7 has no Kafka
transactions (``hub.router.decide.service``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka.errors import KafkaConnectionError
from faststream import AckPolicy
from faststream._internal.middlewares import BaseMiddleware
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage as KafkaMessageParam
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.security import BaseSecurity, SASLScram256, SASLScram512
from prometheus_client import REGISTRY

from hub.errors import BrokerUnavailableError
from hub.kafka.client import client_config, ensure_hub_topics, record_limit
from hub.kafka.guard import RETRY_PAUSES, Record, RecordGuard, describe, is_transient
from hub.settings import Settings

log = logging.getLogger(__name__)

#: FastStream's own metrics (``faststream_*``) for every subscriber of every service,
#: in the process-wide registry that ``/metrics`` renders; one middleware per process.
PROMETHEUS = KafkaPrometheusMiddleware(registry=REGISTRY, app_name="edoc-hub")


def broker_security(settings: Settings) -> BaseSecurity | None:
    """``EDOC_KAFKA_*`` security as FastStream's security object (None for PLAINTEXT)."""
    config = client_config(settings)  # validates the credentials and loads the CA bundle
    if settings.kafka_security_protocol == "PLAINTEXT":
        return None
    scram = SASLScram512 if settings.kafka_sasl_mechanism == "SCRAM-SHA-512" else SASLScram256
    return scram(
        config["sasl_plain_username"],
        config["sasl_plain_password"],
        ssl_context=config.get("ssl_context"),
        use_ssl=settings.kafka_security_protocol == "SASL_SSL",
    )


class BrokerPublisher:
    """``RecordGuard``'s publisher over a FastStream broker (header values are text)."""

    def __init__(self, broker: KafkaBroker) -> None:
        self.broker = broker

    async def send_and_wait(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        """Publish one record and wait for the broker's acknowledgement."""
        text = {k: v.decode("utf-8", "replace") for k, v in headers or ()}
        await self.broker.publish(value or b"", topic, key=key, headers=text)


class GuardMiddleware(BaseMiddleware):
    """What escapes a handler: transient → pause and read again; else park and go on."""

    def __init__(self, msg: Any, /, *, context: Any, guard: RecordGuard[Any]) -> None:
        super().__init__(msg, context=context)
        self.guard = guard

    async def consume_scope(self, call_next: Callable[[Any], Awaitable[Any]], msg: Any) -> Any:
        """Run the handler inside the guard."""
        try:
            return await call_next(msg)
        except Exception as exc:
            if is_transient(exc) or self.guard.stop.is_set():
                # Rewound by NACK_ON_ERROR and read again; pause so it is not a hot loop.
                await self.guard.pause(0, exc)
                raise
            raw = msg.raw_message
            records: Sequence[Record] = raw if isinstance(raw, list | tuple) else (raw,)
            log.error(
                "%s: the handler failed on %d record(s): %s",
                self.guard.service,
                len(records),
                describe(exc),
            )
            for record in records:
                if not await self.guard.park(record, exc):
                    raise  # stopped while the broker was away: nothing committed
            return None


def make_broker(
    settings: Settings, service: str
) -> tuple[KafkaBroker, asyncio.Event, RecordGuard[Any]]:
    """A broker for ``service``, its stop event and the guard its subscribers share."""
    stop = asyncio.Event()
    broker = KafkaBroker(
        settings.kafka_bootstrap,
        security=broker_security(settings),
        client_id=f"edoc-{service}",
        max_request_size=record_limit(settings),
        acks="all",
        enable_idempotence=True,
        graceful_timeout=15.0,
        logger=log,
    )
    guard: RecordGuard[Any] = RecordGuard(
        service, BrokerPublisher(broker), stop, pauses=RETRY_PAUSES
    )
    broker.add_middleware(functools.partial(GuardMiddleware, guard=guard))
    broker.add_middleware(PROMETHEUS)
    return broker, stop, guard


def batch_options(settings: Settings, group: str, *, max_records: int) -> dict[str, Any]:
    """Subscriber options of a batch consumer of the hub: committed reads, nothing lost."""
    return {
        "group_id": group,
        "batch": True,
        "max_records": max_records,
        "batch_timeout_ms": 500,
        "auto_offset_reset": "earliest",
        "isolation_level": "read_committed",
        "max_partition_fetch_bytes": record_limit(settings),
        "fetch_max_bytes": record_limit(settings) * 2,
        "ack_policy": AckPolicy.NACK_ON_ERROR,
        "decoder": _undecoded,
    }


async def _undecoded(message: Any) -> Any:
    """No decoding by FastStream: handlers read the raw records (and guard each one)."""
    return message.body


class Stopped(Exception):
    """Raised by a handler stopped before its batch was done: rewound, read again later."""


class BatchConsumer:
    """A service that reads one topic in batches through FastStream, inside the guard.

    Subclasses say what a batch means (``handle``); this class gives ``edoc serve``
    its start/run/stop and the tests a FastStream broker (``TestKafkaBroker`` or real).
    """

    def __init__(
        self, settings: Settings, service: str, topic: str, group: str, *, max_records: int
    ) -> None:
        self.settings = settings
        self.broker, self._stop, self.guard = make_broker(settings, service)
        self.broker.subscriber(topic, **batch_options(settings, group, max_records=max_records))(
            self._on_batch
        )
        self.seen = 0  # records read (also those applied before)

    @property
    def parked(self) -> int:
        """Records this service parked on ``edoc.deadletter`` since it started."""
        return self.guard.parked

    async def _on_batch(self, message: KafkaMessageParam) -> None:
        # The handler takes the message, not a decoded body: the guard decodes each record
        # itself, so one that is not JSON is parked alone instead of failing the batch.
        raw = message.raw_message
        records: list[Record] = list(raw) if isinstance(raw, list | tuple) else [raw]
        if not await self.handle(records):
            raise Stopped  # rewound by NACK_ON_ERROR: nothing of the batch is committed
        self.seen += len(records)

    async def handle(self, records: list[Record]) -> bool:
        """Process one batch inside ``self.guard``; False when stopped before it was done."""
        raise NotImplementedError

    async def start(self) -> None:
        """Create the hub's topics if missing, connect and start consuming."""
        await ensure_hub_topics(self.settings)
        try:
            await self.broker.start()
        except (KafkaConnectionError, OSError) as exc:
            await self.stop()
            raise BrokerUnavailableError(self.settings.kafka_bootstrap, describe(exc)) from None

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set (FastStream runs the subscribers meanwhile)."""
        await stop.wait()
        self._stop.set()

    async def stop(self) -> None:
        """Finish the batch in hand and disconnect."""
        self._stop.set()
        with contextlib.suppress(Exception):  # stopping must never mask the original error
            await self.broker.stop()
