"""The agency directory: loaded from a data file, updated at run time through ``edoc.directory``.

The file (format in docs/directory.md) seeds the directory at start; ``edoc
directory import FILE`` publishes entries to the compacted ``edoc.directory``
topic, which every router follows, so agencies are added or updated while the
hub runs and their inbox topics are created on the spot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from pydantic import ValidationError

from hub.errors import BrokerUnavailableError, DirectoryError
from hub.kafka.client import KafkaClient, as_client_config
from hub.metrics import IGNORED
from schemas import wire
from schemas.directory import Agency, DirectoryFile
from schemas.errors import describe_validation_error

log = logging.getLogger(__name__)


def load_directory_file(path: Path) -> list[Agency]:
    """Read and validate a directory file; raise ``DirectoryError`` naming the problem."""
    hint = "see docs/directory.md for the file format"
    try:
        data = DirectoryFile.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise DirectoryError(f"cannot read directory {path}: {exc.strerror}", hint=hint) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise DirectoryError(f"directory {path}: {where}: {first['msg']}", hint=hint) from None
    seen: set[str] = set()
    for agency in data.agencies:
        if agency.code in seen:
            raise DirectoryError(f"directory {path}: agency {agency.code} listed twice", hint=hint)
        seen.add(agency.code)
    return data.agencies


class Directory:
    """Agencies by code; ``version`` increases on every change."""

    def __init__(self, agencies: Iterable[Agency] = ()) -> None:
        self._by_code: dict[str, Agency] = {}
        self.version = 0
        self.upsert(agencies)

    def __len__(self) -> int:
        return len(self._by_code)

    def get(self, code: str) -> Agency | None:
        """The entry for ``code``, active or not."""
        return self._by_code.get(code)

    def is_active(self, code: str) -> bool:
        """True when ``code`` is listed and active."""
        agency = self._by_code.get(code)
        return agency is not None and agency.active

    def agencies(self) -> list[Agency]:
        """All entries, sorted by code."""
        return sorted(self._by_code.values(), key=lambda a: a.code)

    def upsert(self, agencies: Iterable[Agency]) -> list[Agency]:
        """Add or replace entries; returns those that changed. Parents must be known."""
        batch = list(agencies)
        known = self._by_code.keys() | {a.code for a in batch}
        for agency in batch:
            if agency.parent is not None and agency.parent not in known:
                raise DirectoryError(
                    f"agency {agency.code} names unknown parent {agency.parent}",
                    hint="add the parent first, or in the same file",
                )
        changed = [a for a in batch if self._by_code.get(a.code) != a]
        for agency in changed:
            self._by_code[agency.code] = agency
        if changed:
            self.version += 1
        return changed


async def publish_agencies(kafka: KafkaClient, agencies: list[Agency]) -> None:
    """Send entries to ``edoc.directory`` (keyed by code, so compaction keeps the latest).

    ``kafka`` is a bootstrap address or ``hub.kafka.client.client_config(settings)``.
    """
    config = as_client_config(kafka)
    producer = AIOKafkaProducer(**config, acks="all", enable_idempotence=True)
    try:
        await producer.start()
    except KafkaConnectionError as exc:
        await producer.stop()
        raise BrokerUnavailableError(config["bootstrap_servers"], str(exc)) from None
    try:
        for agency in agencies:
            await producer.send(
                wire.DIRECTORY, agency.model_dump_json().encode(), key=agency.code.encode()
            )
        await producer.flush()
    finally:
        await producer.stop()


OnChange = Callable[[list[Agency]], Awaitable[None]]


async def follow_directory(
    kafka: KafkaClient,
    directory: Directory,
    on_change: OnChange,
    stop: asyncio.Event,
    ready: asyncio.Event | None = None,
) -> None:
    """Apply ``edoc.directory`` to ``directory`` until ``stop``; ``ready`` is set once caught up."""
    consumer = AIOKafkaConsumer(
        wire.DIRECTORY,
        **as_client_config(kafka),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    try:
        await consumer.start()
    except BaseException:
        with contextlib.suppress(Exception):  # the start's own error is the one to report
            await consumer.stop()
        raise
    try:
        caught_up = False
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=500)
            entries: list[Agency] = []
            for records in batch.values():
                for rec in records:
                    try:
                        entries.append(Agency.model_validate_json(rec.value or b""))
                    except ValidationError as exc:
                        # A bad record must not stop the router; it is logged, counted and
                        # skipped (not parked: every start reads this topic whole again,
                        # and the entry stays until an administrator publishes its fix).
                        IGNORED.labels(topic=rec.topic).inc()
                        log.error(
                            "ignoring invalid directory record at offset %s: %s",
                            rec.offset,
                            describe_validation_error(exc),
                        )
            if entries:
                try:
                    changed = directory.upsert(entries)
                except DirectoryError as exc:
                    log.error("ignoring directory update: %s", exc.message)
                    changed = []
                if changed:
                    log.info("directory updated: %s", ", ".join(a.code for a in changed))
                    await on_change(changed)
            if not caught_up and not batch:
                caught_up = True
                if ready is not None:
                    ready.set()
    finally:
        await consumer.stop()


def directory_json(agencies: list[Agency]) -> str:
    """The directory as a file (inverse of ``load_directory_file``)."""
    return json.dumps(
        {"v": 1, "agencies": [a.model_dump(exclude_none=True) for a in agencies]},
        ensure_ascii=False,
        indent=1,
    )
