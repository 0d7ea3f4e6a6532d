"""Agency-side client: submit signed packages to the hub and read an agency's inbox over Kafka.

Talks to the hub only through topics (``edoc.submit``, ``edoc.inbox.<code>``);
the topic names are part of the documented wire contract (docs/wire-format.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError

from connectors.errors import ConnectorError, HubUnreachableError
from schemas.header import Header
from schemas.package import ParsedPackage, parse_package

SUBMIT_TOPIC = "edoc.submit"
INBOX_PREFIX = "edoc.inbox."
#: Matches the hub's default package limit plus header headroom.
DEFAULT_MAX_RECORD = 17 * 1024 * 1024


@dataclass(frozen=True)
class Submitted:
    """Where a package landed on ``edoc.submit``."""

    message_id: str
    partition: int
    offset: int


@dataclass(frozen=True)
class InboxMessage:
    """A package delivered to the agency's inbox, with the hub's record headers."""

    package: ParsedPackage
    headers: dict[str, str]
    offset: int
    timestamp: datetime

    @property
    def header(self) -> Header:
        """The signed header."""
        return self.package.header

    @property
    def hub_verdict(self) -> str | None:
        """The hub's verdict as stamped on the record (``ok`` for delivered documents)."""
        return self.headers.get("edoc-verdict")


class HubClient:
    """A Kafka connection to the hub for one agency system."""

    def __init__(self, bootstrap: str, *, max_record_bytes: int = DEFAULT_MAX_RECORD) -> None:
        self.bootstrap = bootstrap
        self.max_record_bytes = max_record_bytes
        self._producer: AIOKafkaProducer | None = None

    async def __aenter__(self) -> HubClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Flush and close the producer."""
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap,
                acks="all",
                enable_idempotence=True,
                max_request_size=self.max_record_bytes,
                request_timeout_ms=15_000,
            )
            try:
                await producer.start()
            except KafkaConnectionError as exc:
                await producer.stop()
                raise HubUnreachableError(self.bootstrap, str(exc)) from None
            self._producer = producer
        return self._producer

    async def submit(self, raw: bytes) -> Submitted:
        """Send one package (bytes as on the wire) to ``edoc.submit``; key is the sender code.

        The package is parsed first so an unreadable one fails here, locally,
        with ``MalformedPackageError`` — the hub would only refuse it.
        """
        parsed = parse_package(raw)
        producer = await self._ensure_producer()
        h = parsed.header
        headers = [
            ("edoc-message-id", str(h.message_id).encode()),
            ("edoc-kind", h.kind.value.encode()),
        ]
        if parsed.package.signatures:
            headers.append(("edoc-profile", parsed.package.signatures[0].profile.encode()))
        try:
            meta = await producer.send_and_wait(
                SUBMIT_TOPIC, raw, key=h.sender.encode(), headers=headers
            )
        except KafkaError as exc:
            raise ConnectorError(f"submit of {h.message_id} failed: {exc}") from None
        return Submitted(str(h.message_id), meta.partition, meta.offset)

    async def inbox(
        self,
        agency_code: str,
        *,
        follow: bool = False,
        idle_timeout: float = 2.0,
        group_id: str | None = None,
        stop: asyncio.Event | None = None,
    ) -> AsyncIterator[InboxMessage]:
        """Yield the agency's inbox messages from the beginning (or the group's position).

        Without ``follow`` it stops after ``idle_timeout`` seconds with nothing new.
        With ``group_id`` the position is committed once the caller has handled a
        message (when it asks for the next), so a crash re-delivers, never skips.
        Following stops when ``stop`` is set.
        """
        consumer = AIOKafkaConsumer(
            INBOX_PREFIX + agency_code,
            bootstrap_servers=self.bootstrap,
            group_id=group_id,
            isolation_level="read_committed",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=self.max_record_bytes,
            fetch_max_bytes=self.max_record_bytes * 2,
        )
        try:
            await consumer.start()
        except KafkaConnectionError as exc:
            await consumer.stop()
            raise HubUnreachableError(self.bootstrap, str(exc)) from None
        try:
            idle_since = asyncio.get_running_loop().time()
            while stop is None or not stop.is_set():
                batch = await consumer.getmany(timeout_ms=250)
                now = asyncio.get_running_loop().time()
                if not batch:
                    if not follow and now - idle_since > idle_timeout:
                        return
                    continue
                idle_since = now
                for tp, records in batch.items():
                    for rec in records:
                        headers = {k: v.decode("utf-8", "replace") for k, v in rec.headers}
                        yield InboxMessage(
                            package=parse_package(rec.value),
                            headers=headers,
                            offset=rec.offset,
                            timestamp=datetime.fromtimestamp(rec.timestamp / 1000, UTC),
                        )
                        if group_id:
                            # Exactly this message: the batch may hold more not yet handled.
                            await consumer.commit({tp: rec.offset + 1})
        finally:
            await consumer.stop()
