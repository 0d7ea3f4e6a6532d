"""Reusable tools for tests that run the hub against a real Kafka broker.

* ``RouterConfig`` / ``RouterProcess`` — the router as users run it (``python -m
  edoc serve --only router``) in a subprocess configured by ``EDOC_*``
  variables: restartable with the same transactional id, killable (SIGKILL),
  freezable (SIGSTOP/SIGCONT), stoppable (SIGTERM); one log file per incarnation.
* ``create_hub_topics`` — the hub's topics with the router's own specs.
* ``submit_packages`` — an agency-like, idempotent producer for ``edoc.submit``.
* ``read_topics`` / ``end_offsets`` — read committed (or uncommitted) records
  between two offset snapshots, so a check sees exactly what a run wrote.
* ``InboxEntry`` / ``documents_by_message_id`` / ``records_by_sha256`` /
  ``verdicts_by_package_sha256`` — count what a run wrote by message id or by
  package digest, the identities the exactly-once guarantees are about.
* ``VerdictWatcher`` — follows ``edoc.events`` (committed or not) in the
  background and lets a test await "n verdicts about my packages are there"
  instead of sleeping; ``until_decided_or_exited`` also stops at a router crash.
* ``wait_until_output_ahead_of_input`` — catches the router between writing its
  output and acknowledging its input; ``wait_for_stable_group`` — a consumer
  group settled with n members.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from hub.kafka.client import TopicAdmin
from hub.settings import Settings
from schemas import wire
from schemas.package import b64url_decode
from signing.pki import DemoPKI

#: Large enough for any package the tests build (the hub's own limit is 16 MiB).
MAX_RECORD_BYTES = 20 * 1024 * 1024
Isolation = Literal["read_committed", "read_uncommitted"]


# -- the router as a subprocess ------------------------------------------------------------


@dataclass(frozen=True)
class RouterConfig:
    """What a router subprocess is configured with (rendered as ``EDOC_*`` variables)."""

    bootstrap: str
    pki: DemoPKI
    #: Names the consumer group and the transactional id; restarts keep it.
    instance: str
    #: The router's own state directory (``EDOC_VAR_DIR``).
    var_dir: Path
    partitions: int = 3
    batch_size: int | None = None
    directory_file: Path | None = None
    log_level: str = "INFO"
    extra_env: Mapping[str, str] = field(default_factory=dict)
    #: Consumer group shared with other instances (scale-out); default: the instance's own.
    shared_group: str | None = None

    @property
    def group(self) -> str:
        """``EDOC_ROUTER_GROUP``."""
        return self.shared_group or f"router-{self.instance}"

    @property
    def transactional_id(self) -> str:
        """``EDOC_ROUTER_TRANSACTIONAL_ID``: one for all incarnations, so each fences the last.

        Shared by every router of a shared group, as deployed: partition ``p``'s producer
        is ``<id>-<p>`` whichever router owns it, so a new owner fences the previous one.
        """
        return self.shared_group or f"router-{self.instance}"

    def settings(self) -> Settings:
        """The same configuration as a ``Settings`` object (for ``TopicAdmin`` and friends)."""
        return Settings(
            kafka_bootstrap=self.bootstrap,
            trust_anchors=[self.pki.root_cert],
            crls=[self.pki.crl_dir],
            topic_partitions=self.partitions,
            router_group=self.group,
            router_transactional_id=self.transactional_id,
            hub_key=self.pki.hub.key,
            hub_cert=self.pki.hub.chain,
            var_dir=self.var_dir,
        )

    def env(self) -> dict[str, str]:
        """The environment of the subprocess: the caller's, minus any ``EDOC_*``, plus ours."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDOC_")}
        env |= {
            "EDOC_KAFKA_BOOTSTRAP": self.bootstrap,
            "EDOC_TRUST_ANCHORS": json.dumps([str(self.pki.root_cert)]),
            "EDOC_CRLS": json.dumps([str(self.pki.crl_dir)]),
            "EDOC_HUB_KEY": str(self.pki.hub.key),
            "EDOC_HUB_CERT": str(self.pki.hub.chain),
            "EDOC_TOPIC_PARTITIONS": str(self.partitions),
            "EDOC_ROUTER_GROUP": self.group,
            "EDOC_ROUTER_TRANSACTIONAL_ID": self.transactional_id,
            "EDOC_VAR_DIR": str(self.var_dir),
            "EDOC_LOG_LEVEL": self.log_level,
            "PYTHONUNBUFFERED": "1",
        }
        if self.batch_size is not None:
            env["EDOC_ROUTER_BATCH_SIZE"] = str(self.batch_size)
        if self.directory_file is not None:
            env["EDOC_DIRECTORY_FILE"] = str(self.directory_file)
        return env | dict(self.extra_env)


class RouterProcess:
    """``python -m edoc serve --only router`` in a subprocess; one log file per incarnation.

    ``start`` after ``kill`` launches a new incarnation with the same consumer
    group and transactional id — the restart an operator (or systemd) would do.
    """

    def __init__(self, config: RouterConfig, log_dir: Path, label: str = "router") -> None:
        self.config = config
        self.log_dir = log_dir
        self.label = label
        self.incarnation = 0
        #: Wall-clock time the current incarnation was launched.
        self.started_at: datetime | None = None
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def command(self) -> list[str]:
        """The command line of the router."""
        return [sys.executable, "-m", "edoc", "serve", "--only", "router"]

    @property
    def pid(self) -> int | None:
        """Process id of the current incarnation."""
        return self._proc.pid if self._proc is not None else None

    @property
    def log_file(self) -> Path:
        """stdout and stderr of the current incarnation."""
        return self.log_dir / f"{self.label}-{self.config.instance}-{self.incarnation}.log"

    def alive(self) -> bool:
        """True while the current incarnation runs."""
        return self._proc is not None and self._proc.returncode is None

    @property
    def returncode(self) -> int | None:
        """Exit code of the current incarnation (None while it runs)."""
        return self._proc.returncode if self._proc is not None else None

    async def start(self) -> None:
        """Launch a new incarnation (the previous one must have exited)."""
        if self.alive():
            raise RuntimeError("the router is still running; kill or stop it first")
        self.incarnation += 1
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.config.var_dir.mkdir(parents=True, exist_ok=True)
        self.started_at = datetime.now(UTC)
        with self.log_file.open("wb") as log:
            self._proc = await asyncio.create_subprocess_exec(
                *self.command,
                env=self.config.env(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )

    async def wait(self) -> int:
        """Wait for the current incarnation to exit (bound it with ``asyncio.timeout``)."""
        return await self._require().wait()

    async def kill(self) -> int:
        """SIGKILL the current incarnation (no cleanup of any kind) and reap it."""
        proc = self._require()
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGKILL)
        async with asyncio.timeout(10):
            return await proc.wait()

    def freeze(self) -> None:
        """SIGSTOP: the process keeps its sockets and state but does nothing (a zombie-to-be)."""
        self._require().send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT: a frozen process carries on where it stopped."""
        self._require().send_signal(signal.SIGCONT)

    async def stop(self, timeout: float = 30.0) -> int:  # noqa: ASYNC109
        """SIGTERM (graceful shutdown) and wait; SIGKILL if it takes longer than ``timeout``."""
        proc = self._require()
        if proc.returncode is not None:
            return proc.returncode
        proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(timeout):
                return await proc.wait()
        except TimeoutError:
            await self.kill()
            raise AssertionError(
                f"router did not stop within {timeout:g}s of SIGTERM\n{self.log_tail()}"
            ) from None

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the current incarnation's output but its per-package decisions."""
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no router log)"
        kept = [
            line
            for line in text.splitlines()
            if '"hub.router.decide", "message": "decision' not in line
        ]
        tail = "\n".join(kept[-lines:])
        return f"--- {self.log_file.name} (pid {self.pid}, exit {self.returncode}) ---\n{tail}"

    def _require(self) -> asyncio.subprocess.Process:
        if self._proc is None:
            raise RuntimeError("the router was never started")
        return self._proc


async def create_hub_topics(settings: Settings, inbox_codes: Iterable[str] = ()) -> None:
    """Create the hub's topics (and these inboxes) with the router's own specs.

    Done before anything is submitted, so ``edoc.submit`` is never auto-created
    without its LogAppendTime setting, and offsets can be snapshotted first.
    """
    admin = TopicAdmin(settings)
    await admin.start()
    try:
        await admin.ensure_inboxes(inbox_codes)
    finally:
        await admin.close()


# -- submitting --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Submission:
    """One record for ``edoc.submit``: the package bytes and the sender code as key."""

    raw: bytes
    key: str


async def submit_packages(
    bootstrap: str,
    submissions: Sequence[Submission],
    *,
    burst: int = 20,
    pause: float = 0.0,
    before_burst: Callable[[int], Awaitable[None]] | None = None,
    request_timeout_ms: int = 30_000,
) -> None:
    """Send ``submissions`` in bursts; each burst is acknowledged before the next one.

    The producer is idempotent with ``acks=all`` like the agency SDK, so its own
    retries never duplicate a record (also across a broker restart, given a
    ``request_timeout_ms`` longer than the outage). ``pause`` paces the stream;
    ``before_burst(i)`` may hold burst ``i`` back until the caller is ready.
    """
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        max_request_size=MAX_RECORD_BYTES,
        request_timeout_ms=request_timeout_ms,
    )
    await producer.start()
    try:
        for i, start in enumerate(range(0, len(submissions), burst)):
            if before_burst is not None:
                await before_burst(i)
            futures = [
                await producer.send(wire.SUBMIT, s.raw, key=s.key.encode())
                for s in submissions[start : start + burst]
            ]
            await asyncio.gather(*futures)
            if pause:
                await asyncio.sleep(pause)  # pacing the stream, not waiting for a condition
    finally:
        await producer.stop()


# -- reading what a run wrote -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopicRecord:
    """One record as read back."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]

    @property
    def sha256(self) -> str:
        """SHA-256 of the value (a package's ``package_sha256``)."""
        return hashlib.sha256(self.value).hexdigest()


def _consumer(bootstrap: str, isolation: Isolation) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        isolation_level=isolation,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=MAX_RECORD_BYTES,
        fetch_max_bytes=MAX_RECORD_BYTES * 2,
        check_crcs=False,
    )


async def _partitions(consumer: AIOKafkaConsumer, names: Iterable[str]) -> list[TopicPartition]:
    """The partitions of ``names``, once metadata lists them all (new topics take a moment).

    ``consumer.topics()`` returns fresh metadata but does not store it in the
    client (``partitions_for_topic`` would still say None), so read it from there.
    """
    wanted = list(names)
    found: dict[str, set[int] | None] = {}
    try:
        async with asyncio.timeout(15):
            while True:
                cluster = await consumer._client.fetch_all_metadata()
                found = {name: cluster.partitions_for_topic(name) for name in wanted}
                if all(found.values()):
                    break
                await asyncio.sleep(0.1)  # polling metadata: the broker offers no notification
    except TimeoutError:
        absent = [name for name, parts in found.items() if not parts]
        raise AssertionError(f"topics do not exist: {', '.join(absent)}") from None
    return [TopicPartition(n, p) for n in wanted for p in sorted(found[n] or ())]


async def end_offsets(
    bootstrap: str, names: Iterable[str], isolation: Isolation = "read_committed"
) -> dict[TopicPartition, int]:
    """Current end of each partition: the last stable offset (committed) or the high watermark."""
    consumer = _consumer(bootstrap, isolation)
    await consumer.start()
    try:
        tps = await _partitions(consumer, names)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        return ends
    finally:
        await consumer.stop()


async def read_topics(
    bootstrap: str,
    names: Iterable[str],
    *,
    since: Mapping[TopicPartition, int] | None = None,
    isolation: Isolation = "read_committed",
    timeout: float = 60.0,  # noqa: ASYNC109
) -> list[TopicRecord]:
    """Every record of ``names`` from ``since`` (default: the beginning) to their current end.

    The end is taken when the call starts, so the result is exactly what was
    written (and, with ``read_committed``, committed) between two moments: no
    quiet-period guessing. Aborted records are skipped by ``read_committed``.
    """
    consumer = _consumer(bootstrap, isolation)
    await consumer.start()
    out: list[TopicRecord] = []
    try:
        tps = await _partitions(consumer, names)
        ends = await consumer.end_offsets(tps)
        consumer.assign(tps)
        for tp in tps:
            start = (since or {}).get(tp)
            if start is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, start)
        remaining = {tp for tp in tps if await consumer.position(tp) < ends[tp]}
        async with asyncio.timeout(timeout):
            while remaining:
                batch = await consumer.getmany(*remaining, timeout_ms=500)
                for tp, records in batch.items():
                    out.extend(_to_record(r) for r in records if r.offset < ends[tp])
                for tp in list(remaining):
                    if await consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
    finally:
        await consumer.stop()
    return out


def _to_record(rec: ConsumerRecord) -> TopicRecord:
    headers = {k: v.decode(errors="replace") for k, v in rec.headers or ()}
    value = rec.value if isinstance(rec.value, bytes) else b""
    return TopicRecord(rec.topic, rec.partition, rec.offset, rec.key, value, headers)


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """What an inbox record is, read from the package itself (the evidence), not its headers."""

    message_id: str
    kind: str
    ref_message_id: str | None
    status_code: str | None

    @classmethod
    def parse(cls, raw: bytes) -> InboxEntry | None:
        """The identity of a package, or None when its header cannot be read."""
        try:
            header = json.loads(b64url_decode(json.loads(raw)["header"]))
            status = header.get("status") or {}
            return cls(
                str(header["message_id"]),
                str(header["kind"]),
                status.get("ref_message_id"),
                status.get("code"),
            )
        except (ValueError, KeyError, TypeError):
            return None


def documents_by_message_id(
    records: Iterable[TopicRecord], only: Collection[str] | None = None
) -> Counter[str]:
    """How often each document (kind ``document``) appears, by message id.

    Hub receipts (kind ``status``) in a sender's inbox are not counted.
    ``only`` restricts the count to these message ids (other tests share topics).
    """
    counts: Counter[str] = Counter()
    for rec in records:
        entry = InboxEntry.parse(rec.value)
        if entry is None or entry.kind != "document":
            continue
        if only is None or entry.message_id in only:
            counts[entry.message_id] += 1
    return counts


def entries_by_message_id(
    records: Iterable[TopicRecord], related_to: Collection[str]
) -> Counter[str]:
    """Every package related to ``related_to`` (documents or receipts about them), by its id."""
    counts: Counter[str] = Counter()
    for rec in records:
        entry = InboxEntry.parse(rec.value)
        if entry is None:
            continue
        if entry.message_id in related_to or entry.ref_message_id in related_to:
            counts[entry.message_id] += 1
    return counts


def records_by_sha256(
    records: Iterable[TopicRecord], only: Collection[str] | None = None
) -> Counter[str]:
    """How often each record value appears, by SHA-256 (for ``edoc.rejected``)."""
    counts: Counter[str] = Counter()
    for rec in records:
        digest = rec.sha256
        if only is None or digest in only:
            counts[digest] += 1
    return counts


def verdicts_by_package_sha256(
    records: Iterable[TopicRecord], only: Collection[str] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """The verdict events of ``edoc.events`` grouped by ``package_sha256``.

    Counted by digest rather than message id: malformed packages have none.
    """
    out: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        event = json.loads(rec.value)
        digest = event["package_sha256"]
        if only is None or digest in only:
            out.setdefault(digest, []).append(event)
    return out


def sample(items: Iterable[Any], n: int = 5) -> str:
    """A few items for an assertion message."""
    listed = list(items)
    more = f" … and {len(listed) - n} more" if len(listed) > n else ""
    return ", ".join(map(str, listed[:n])) + more


# -- following progress -------------------------------------------------------------------


class VerdictWatcher:
    """Follows ``edoc.events`` and counts verdicts about a set of packages.

    By default it reads committed records only; with ``read_uncommitted`` it
    also sees the records of transactions still open (or later aborted), which
    is how a test can catch the router in the middle of a transaction.

    Use as ``async with VerdictWatcher(bootstrap, digests) as w: await w.wait_for(n)``.
    ``seen`` counts events (a duplicate verdict counts twice), ``decided`` the
    distinct packages, ``last_decided_at`` the router's decision time of the
    newest one (tells whether a restarted router has routed anything yet).
    """

    def __init__(
        self,
        bootstrap: str,
        package_digests: Collection[str],
        isolation: Isolation = "read_committed",
    ) -> None:
        self.bootstrap = bootstrap
        self.digests = frozenset(package_digests)
        self.isolation: Isolation = isolation
        self.seen = 0
        self.decided: set[str] = set()
        self.last_decided_at = datetime.min.replace(tzinfo=UTC)
        #: Highest ``edoc.submit`` offset (per partition) a verdict about our packages names.
        self.max_source_offset: dict[int, int] = {}
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> Self:
        consumer = _consumer(self.bootstrap, self.isolation)
        await consumer.start()
        self._consumer = consumer
        tps = await _partitions(consumer, [wire.EVENTS])
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        self._task = asyncio.create_task(self._follow(consumer))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=200)
            found = 0
            for records in batch.values():
                for rec in records:
                    try:  # the topic is shared: other tests put junk on it on purpose
                        event = json.loads(rec.value)
                    except ValueError:
                        continue
                    if isinstance(event, dict) and event.get("package_sha256") in self.digests:
                        found += 1
                        self.decided.add(event["package_sha256"])
                        decided_at = datetime.fromisoformat(event["decided_at"])
                        self.last_decided_at = max(self.last_decided_at, decided_at)
                        source = event["source"]
                        if source["topic"] == wire.SUBMIT:
                            part, offset = source["partition"], source["offset"]
                            self.max_source_offset[part] = max(
                                offset, self.max_source_offset.get(part, -1)
                            )
            if found:
                async with self._changed:
                    self.seen += found
                    self._changed.notify_all()

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float,  # noqa: ASYNC109
        what: str,
        *,
        stall: float | None = None,
    ) -> None:
        """Return once ``predicate()`` holds, checked whenever new verdicts arrive.

        Raises AssertionError saying ``what`` did not happen within ``timeout``
        seconds — or sooner, when ``stall`` seconds pass without any new verdict.
        """
        if self._task is not None and self._task.done():
            self._task.result()  # surface the follower's error
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self._changed:
            while not predicate():
                remaining = deadline - loop.time()
                window = remaining if stall is None else min(remaining, stall)
                seen = self.seen
                try:
                    async with asyncio.timeout(max(window, 0.0)):
                        await self._changed.wait()
                except TimeoutError:
                    stalled = self.seen == seen and window < remaining
                    if not stalled and loop.time() < deadline:
                        continue
                    why = f"no new verdict for {stall:g}s" if stalled else f"{timeout:g}s passed"
                    raise AssertionError(
                        f"{what}: {why} ({len(self.decided)} of {len(self.digests)} packages "
                        f"have a verdict, {self.isolation})"
                    ) from None

    async def wait_for(
        self,
        decided: int,
        timeout: float,  # noqa: ASYNC109
        *,
        stall: float | None = None,
    ) -> None:
        """Return once ``decided`` distinct packages have a verdict."""
        await self.wait_until(
            lambda: len(self.decided) >= decided,
            timeout,
            f"waiting for {decided} verdicts",
            stall=stall,
        )

    async def wait_for_decision_after(self, moment: datetime, timeout: float) -> None:  # noqa: ASYNC109
        """Return once a verdict decided after ``moment`` is committed (a router is routing)."""
        await self.wait_until(
            lambda: self.last_decided_at > moment,
            timeout,
            f"waiting for a verdict decided after {moment.isoformat()}",
        )


async def wait_until_output_ahead_of_input(
    bootstrap: str,
    group: str,
    written: VerdictWatcher,
    timeout: float,  # noqa: ASYNC109
) -> bool:
    """Return True once output exists for input the router's group has not committed yet.

    ``written`` should read uncommitted: it then sees verdicts as soon as they
    are written. A verdict naming ``edoc.submit`` offset *o* while the group's
    committed offset is still ≤ *o* means the router is between writing its
    output and acknowledging its input — an open transaction for a correct
    router, the duplicate window of an at-least-once one. Returns False if no
    such moment shows up within ``timeout``. Polls the group's offsets (the
    broker has no notification for them) every few milliseconds.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5_000)
    await admin.start()
    try:
        async with asyncio.timeout(timeout):
            while True:
                committed = await admin.list_consumer_group_offsets(group)
                for part, offset in list(written.max_source_offset.items()):
                    acknowledged = committed.get(TopicPartition(wire.SUBMIT, part))
                    if acknowledged is None or acknowledged.offset <= offset:
                        return True
                await asyncio.sleep(0.005)
    except TimeoutError:
        return False
    finally:
        await admin.close()


async def wait_for_stable_group(
    bootstrap: str,
    group: str,
    members: int,
    timeout: float,  # noqa: ASYNC109
) -> None:
    """Return once ``group`` is Stable with exactly ``members`` members (polls DescribeGroups)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5_000)
    await admin.start()
    state, count = "unknown", -1
    try:
        async with asyncio.timeout(timeout):
            while True:
                (response,) = await admin.describe_consumer_groups([group])
                # DescribeGroups v0+: (error_code, group_id, state, protocol_type, protocol,
                # members, ...)
                described = response.groups[0]
                state, count = described[2], len(described[5])
                if state == "Stable" and count == members:
                    return
                await asyncio.sleep(0.1)  # the broker has no notification for group state
    except TimeoutError:
        raise AssertionError(
            f"group {group} not Stable with {members} members within {timeout:g}s "
            f"(last seen: {state}, {count} members)"
        ) from None
    finally:
        await admin.close()


async def until_decided_or_exited(
    watcher: VerdictWatcher,
    router: RouterProcess,
    decided: int,
    timeout: float,  # noqa: ASYNC109
) -> bool:
    """Wait for ``decided`` verdicts; return False as soon as the router exits first."""
    verdicts = asyncio.create_task(watcher.wait_for(decided, timeout))
    exited = asyncio.create_task(router.wait())
    try:
        await asyncio.wait({verdicts, exited}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        exited.cancel()
        if not verdicts.done():
            verdicts.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await exited
    if verdicts.done() and not verdicts.cancelled():
        verdicts.result()  # raises the timeout, if that came first
        return True
    with contextlib.suppress(asyncio.CancelledError):
        await verdicts
    return False
