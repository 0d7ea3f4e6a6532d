"""The rejected queue: read ``edoc.rejected``, and submit a refused original again.

The router keeps every refused package, byte for byte, on ``edoc.rejected``
with its reasons in the record headers. Reprocessing writes those same bytes
to ``edoc.submit`` and, in the same Kafka transaction, one action record on
``edoc.operations`` naming who did it and which record it was — so the
resubmission and the record of who asked for it exist together or not at all.
The resubmitted record carries ``edoc-reprocess-of`` and ``edoc-reprocessed-by``
headers too. The router then decides on it like on any package.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from hub.errors import BrokerUnavailableError, HubError
from hub.kafka.client import TopicAdmin, consumer_config, producer_config
from hub.kafka.lag import topic_partitions
from hub.router.tickets import make_ticket
from hub.settings import Settings
from hub.store.tokens import TokenInfo
from schemas import wire
from schemas.package import b64url_decode
from signing.keys import load_private_key

#: How long reading the queue may take before the broker counts as unavailable.
READ_TIMEOUT = 10.0
#: Operator actions read back to mark reprocessed records.
ACTIONS_READ = 1000
#: Reasons that can go away without the sender changing the package: a CRL renewed, the
#: directory or trust store updated, the referenced document delivered since, a limit or
#: profile added. Any other reason comes back the same, so the console offers no shortcut.
RETRYABLE = frozenset(
    {
        "revocation_unknown",
        "unknown_sender",
        "unknown_recipient",
        "untrusted_chain",
        "unknown_reference",
        "unsupported_profile",
        "too_large",
        # the hub failed on it: once the defect is fixed, the same bytes may pass
        "unprocessable",
    }
)


class RejectedNotFoundError(HubError):
    """No record at that partition and offset of ``edoc.rejected`` (wrong, or past retention)."""


@dataclass
class RejectedItem:
    """One refused package as the console shows it."""

    partition: int
    offset: int
    at: datetime
    reasons: list[str]
    message_id: str | None
    kind: str | None
    sender: str | None
    recipients: list[str]
    subject: str | None
    doc_code: str | None
    package_sha256: str | None
    size: int
    header: dict[str, Any] | None = None
    profiles: list[str] = field(default_factory=list)
    raw: bytes = b""
    reprocessed: dict[str, Any] | None = None

    @property
    def retryable(self) -> bool:
        """True when every reason may have gone away by itself (``RETRYABLE``)."""
        return bool(self.reasons) and set(self.reasons) <= RETRYABLE

    @property
    def ref(self) -> str:
        """``edoc.rejected/<partition>/<offset>``: how action records name this record."""
        return f"{wire.REJECTED}/{self.partition}/{self.offset}"

    @classmethod
    def from_record(cls, rec: ConsumerRecord) -> RejectedItem:
        """Parse a record of ``edoc.rejected`` without trusting its contents.

        The records are the packages the router refused, hostile ones included: any
        JSON may be where a header field should be, and one record must never make
        the whole queue unreadable. Fields the console shows are text or nothing.
        """
        hdrs = {k: v.decode("utf-8", "replace") for k, v in (rec.headers or [])}
        raw: bytes = rec.value or b""
        pkg: object = None
        header: dict[str, Any] | None = None
        # RecursionError: JSON nested deeper than the parser goes
        unreadable = (ValueError, TypeError, KeyError, AttributeError, RecursionError)
        with contextlib.suppress(*unreadable):
            pkg = json.loads(raw)
        envelope = _object(pkg)
        with contextlib.suppress(*unreadable):
            header = _object(json.loads(b64url_decode(envelope["header"]))) or None
        sigs = envelope.get("signatures")
        sig_list = sigs if isinstance(sigs, list) else []
        profiles = [str(sig.get("profile")) for sig in sig_list if isinstance(sig, dict)]
        fields = header or {}
        doc = _object(fields.get("document"))
        code = _object(doc.get("code"))
        number, notation = _text(code.get("number")), _text(code.get("notation"))
        reasons = [r for r in hdrs.get(wire.H_REASONS, "").split(",") if r]
        to = fields.get("to")
        return cls(
            partition=rec.partition,
            offset=rec.offset,
            at=datetime.fromtimestamp(rec.timestamp / 1000, UTC),
            reasons=reasons,
            message_id=hdrs.get(wire.H_MESSAGE_ID) or _text(fields.get("message_id")),
            kind=hdrs.get(wire.H_KIND) or _text(fields.get("kind")),
            sender=hdrs.get(wire.H_FROM) or _text(fields.get("from")),
            recipients=[c for c in to if isinstance(c, str)] if isinstance(to, list) else [],
            subject=_text(doc.get("subject")),
            doc_code=f"{number}/{notation}" if number and notation else None,
            package_sha256=hdrs.get(wire.H_PACKAGE_SHA256),
            size=len(raw),
            header=header,
            profiles=profiles,
            raw=raw,
        )


def _object(value: object) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    """``value`` if it is a string, else None (a number, list or NaN is no text to show)."""
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Reprocessed:
    """Where a reprocessed package landed on ``edoc.submit``."""

    ref: str
    partition: int
    offset: int
    action: dict[str, Any]


class RejectedQueue:
    """Reads ``edoc.rejected`` and ``edoc.operations``; reprocesses transactionally."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        # One transactional id per API process: concurrent API processes never fence each other.
        self.transactional_id = f"edoc-console-{socket.gethostname()}-{os.getpid()}-{id(self)}"

    async def _consumer(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(**consumer_config(self.settings))
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                await consumer.start()
        except (KafkaError, OSError, TimeoutError) as exc:
            with contextlib.suppress(Exception):
                await consumer.stop()
            raise BrokerUnavailableError(
                self.settings.kafka_bootstrap, type(exc).__name__
            ) from None
        return consumer

    async def _tail(self, topic: str, per_partition: int) -> list[ConsumerRecord]:
        """The last ``per_partition`` committed records of every partition of ``topic``."""
        consumer = await self._consumer()
        out: list[ConsumerRecord] = []
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                tps = await topic_partitions(consumer, topic)
                if not tps:
                    return []
                consumer.assign(tps)
                begins = await consumer.beginning_offsets(tps)
                ends = await consumer.end_offsets(tps)
                for tp in tps:
                    consumer.seek(tp, max(begins[tp], ends[tp] - per_partition))
                pending = {tp for tp in tps if ends[tp] > begins[tp]}
                while pending:
                    batch = await consumer.getmany(*pending, timeout_ms=500)
                    if not batch:
                        break  # caught up (transaction markers leave the position short of end)
                    for tp, records in batch.items():
                        out.extend(records)
                        if await consumer.position(tp) >= ends[tp]:
                            pending.discard(tp)
        except (KafkaError, TimeoutError) as exc:
            raise BrokerUnavailableError(
                self.settings.kafka_bootstrap, type(exc).__name__
            ) from None
        finally:
            await consumer.stop()
        return out

    async def actions(self) -> dict[str, dict[str, Any]]:
        """The latest reprocess action per rejected record, by ``edoc.rejected/<p>/<o>``."""
        done: dict[str, dict[str, Any]] = {}
        for rec in await self._tail(wire.OPERATIONS, ACTIONS_READ):
            with contextlib.suppress(ValueError, TypeError):
                action = json.loads(rec.value)
                if isinstance(action, dict) and action.get("action") == "reprocess":
                    done[str(action.get("target"))] = action
        return done

    async def recent(self, limit: int = 100) -> list[RejectedItem]:
        """The newest ``limit`` refused packages, newest first, marked when reprocessed."""
        records = await self._tail(wire.REJECTED, limit)
        items = [RejectedItem.from_record(r) for r in records]
        items.sort(key=lambda i: (i.at, i.partition, i.offset), reverse=True)
        items = items[:limit]
        done = await self.actions()
        for item in items:
            item.reprocessed = done.get(item.ref)
            item.raw = b""  # the list needs no bytes
        return items

    async def get(self, partition: int, offset: int) -> RejectedItem:
        """One record of ``edoc.rejected`` with its original bytes."""
        consumer = await self._consumer()
        tp = TopicPartition(wire.REJECTED, partition)
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                if tp not in await topic_partitions(consumer, wire.REJECTED):
                    raise RejectedNotFoundError(f"edoc.rejected has no partition {partition}")
                consumer.assign([tp])
                begin = (await consumer.beginning_offsets([tp]))[tp]
                end = (await consumer.end_offsets([tp]))[tp]
                if not begin <= offset < end:
                    raise RejectedNotFoundError(
                        f"no record {partition}/{offset} on edoc.rejected",
                        hint=f"offsets of partition {partition} run from {begin} to {end - 1}",
                    )
                consumer.seek(tp, offset)
                while True:
                    batch = await consumer.getmany(tp, timeout_ms=500, max_records=1)
                    for rec in batch.get(tp, []):
                        if rec.offset == offset:
                            item = RejectedItem.from_record(rec)
                            item.reprocessed = (await self.actions()).get(item.ref)
                            return item
                        raise RejectedNotFoundError(f"no record {partition}/{offset}")
        except (KafkaError, TimeoutError) as exc:
            raise BrokerUnavailableError(
                self.settings.kafka_bootstrap, type(exc).__name__
            ) from None
        finally:
            await consumer.stop()

    async def _transactional(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                admin = TopicAdmin(self.settings)
                await admin.start()  # creates edoc.operations on a hub older than this console
                await admin.close()
                producer = AIOKafkaProducer(
                    **producer_config(self.settings), transactional_id=self.transactional_id
                )
                try:
                    async with asyncio.timeout(READ_TIMEOUT):
                        await producer.start()
                except (KafkaError, OSError, TimeoutError) as exc:
                    with contextlib.suppress(Exception):
                        await producer.stop()
                    raise BrokerUnavailableError(
                        self.settings.kafka_bootstrap, type(exc).__name__
                    ) from None
                self._producer = producer
            return self._producer

    async def reprocess(self, partition: int, offset: int, actor: TokenInfo) -> Reprocessed:
        """Submit the original bytes of one rejected record again, recording who asked."""
        item = await self.get(partition, offset)
        producer = await self._transactional()
        now = datetime.now(UTC)
        action = {
            "v": 1,
            "action": "reprocess",
            "at": now.isoformat(timespec="milliseconds"),
            "actor": {"token_id": actor.id, "name": actor.name, "role": actor.role},
            "target": item.ref,
            "message_id": item.message_id,
            "package_sha256": item.package_sha256,
            "reasons": item.reasons,
        }
        headers = [
            (wire.H_REPROCESS_OF, item.ref.encode()),
            (wire.H_REPROCESSED_BY, f"token {actor.id} ({actor.name})".encode()),
        ]
        if item.message_id:
            headers.append((wire.H_MESSAGE_ID, item.message_id.encode()))
        if self.settings.hub_key is not None and item.package_sha256:
            # Vouch for the original receive time, so a late reprocess is not `stale`.
            ticket = make_ticket(
                load_private_key(self.settings.hub_key), item.package_sha256, item.at
            )
            headers.append((wire.H_REPROCESS_TICKET, ticket.encode()))
        key = (item.sender or "unknown").encode()
        async with self._lock:
            try:
                async with producer.transaction():
                    sent = await producer.send(wire.SUBMIT, item.raw, key=key, headers=headers)
                    await producer.send(
                        wire.OPERATIONS,
                        json.dumps(action, ensure_ascii=False).encode(),
                        key=item.ref.encode(),
                    )
                meta = await sent
            except KafkaError as exc:
                await self._drop_producer()
                raise BrokerUnavailableError(self.settings.kafka_bootstrap, str(exc)) from None
        action["submitted"] = f"{wire.SUBMIT}/{meta.partition}/{meta.offset}"
        return Reprocessed(item.ref, meta.partition, meta.offset, action)

    async def _drop_producer(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
            self._producer = None

    async def close(self) -> None:
        """Stop the producer."""
        async with self._lock:
            await self._drop_producer()
