"""Agency-side client: submit signed packages to the hub and read an agency's inbox over Kafka.

Talks to the hub only through topics (``edoc.submit``, ``edoc.inbox.<code>``);
the topic names are part of the documented wire contract (docs/wire-format.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import (
    AuthenticationFailedError,
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
)
from aiokafka.helpers import create_ssl_context

from connectors.errors import ConnectorError, HubUnreachableError, KafkaAccessDenied
from schemas import wire
from schemas.errors import MalformedPackageError
from schemas.header import Header
from schemas.package import ParsedPackage, parse_package

#: Matches the hub's default package limit plus header headroom.
DEFAULT_MAX_RECORD = wire.record_limit()
#: What Kafka says when a login or an ACL refuses this client.
DENIED = (
    AuthenticationFailedError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    GroupAuthorizationFailedError,
)


@dataclass(frozen=True)
class KafkaAuth:
    """How a connector authenticates to the hub's Kafka (SASL/SCRAM; off when PLAINTEXT).

    The hub hands each agency its user name (``agency_user(code)``) and a password
    once; the connector passes them here. The password is never logged (hidden from
    ``repr``).
    """

    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl_cafile: Path | None = None

    def client_kwargs(self) -> dict[str, Any]:
        """aiokafka keyword arguments (without the bootstrap address)."""
        out: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.security_protocol.startswith("SASL_"):
            if not self.username or self.password is None:
                raise ConnectorError(
                    f"{self.security_protocol} needs a user name and a password",
                    hint="set EDOC_KAFKA_USERNAME and EDOC_KAFKA_PASSWORD to the credentials "
                    "the hub operator gave the agency",
                )
            out |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.password,
            }
        if self.security_protocol == "SASL_SSL":
            cafile = str(self.ssl_cafile) if self.ssl_cafile else None
            out["ssl_context"] = create_ssl_context(cafile=cafile)
        return out


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


@dataclass(frozen=True)
class UnreadableMessage:
    """An inbox record that is not a readable package.

    The router delivers only packages it could read, but a record retained from an
    older, looser hub (or written by a defect) can be unreadable now. It is handed
    over, never raised inside the loop, so the caller parks it and reads on.
    """

    raw: bytes
    headers: dict[str, str]
    offset: int
    timestamp: datetime
    error: str


class HubClient:
    """A Kafka connection to the hub for one agency system."""

    def __init__(
        self,
        bootstrap: str,
        *,
        max_record_bytes: int = DEFAULT_MAX_RECORD,
        auth: KafkaAuth | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.max_record_bytes = max_record_bytes
        self.auth = auth or KafkaAuth()
        self._producer: AIOKafkaProducer | None = None

    def client_kwargs(self) -> dict[str, Any]:
        """Bootstrap and security options every Kafka client of this connection uses."""
        return {"bootstrap_servers": self.bootstrap, **self.auth.client_kwargs()}

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
                **self.client_kwargs(),
                acks="all",
                enable_idempotence=True,
                max_request_size=self.max_record_bytes,
                request_timeout_ms=15_000,
            )
            try:
                await producer.start()
            except DENIED as exc:
                await producer.stop()
                raise KafkaAccessDenied("the login", type(exc).__name__) from None
            except KafkaConnectionError as exc:
                await producer.stop()
                raise HubUnreachableError(
                    self.bootstrap, str(exc), user=self.auth.username
                ) from None
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
                wire.SUBMIT, raw, key=h.sender.encode(), headers=headers
            )
        except DENIED as exc:
            raise KafkaAccessDenied(f"the submit of {h.message_id}", type(exc).__name__) from None
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
    ) -> AsyncGenerator[InboxMessage | UnreadableMessage, None]:
        """Yield the agency's inbox messages from the beginning (or the group's position).

        A record that is no readable package comes as an ``UnreadableMessage``.

        Without ``follow`` it stops after ``idle_timeout`` seconds with nothing new.
        With ``group_id`` the position is committed once the caller has handled a
        message (when it asks for the next), so a crash re-delivers, never skips.
        Following stops when ``stop`` is set.
        """
        consumer = AIOKafkaConsumer(
            wire.inbox(agency_code),
            **self.client_kwargs(),
            group_id=group_id,
            isolation_level="read_committed",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=self.max_record_bytes,
            fetch_max_bytes=self.max_record_bytes * 2,
        )
        try:
            await consumer.start()
        except DENIED as exc:
            await consumer.stop()
            what = f"reading {wire.inbox(agency_code)}"
            raise KafkaAccessDenied(what, type(exc).__name__) from None
        except KafkaConnectionError as exc:
            await consumer.stop()
            raise HubUnreachableError(self.bootstrap, str(exc), user=self.auth.username) from None
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
                        yield inbox_message(rec)
                        if group_id:
                            # Exactly this message: the batch may hold more not yet handled.
                            await consumer.commit({tp: rec.offset + 1})
        except DENIED as exc:  # e.g. a consumer group outside agency-<code>.*
            what = f"reading {wire.inbox(agency_code)} with group {group_id}"
            raise KafkaAccessDenied(what, type(exc).__name__) from None
        finally:
            await consumer.stop()


def inbox_message(rec: ConsumerRecord) -> InboxMessage | UnreadableMessage:
    """One inbox record as a message; an unreadable one as such, never an exception."""
    headers = {k: v.decode("utf-8", "replace") for k, v in rec.headers or ()}
    at = datetime.fromtimestamp(rec.timestamp / 1000, UTC)
    raw = rec.value or b""
    try:
        package = parse_package(raw)
    except MalformedPackageError as exc:
        return UnreadableMessage(raw, headers, rec.offset, at, exc.message)
    return InboxMessage(package=package, headers=headers, offset=rec.offset, timestamp=at)
