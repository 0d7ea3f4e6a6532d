"""Router throughput and latency against a plain relay, same broker, same run; router RSS.

    .venv/bin/python bench/throughput.py [--packages 5000] [--rounds 3] [--pdf-kb 100]
        [--latency-packages 1000] [--rate R] [--backlog 100000] [--bootstrap HOST:PORT]
        [--tuned-relay-kb 1024] [--routers 2 --partitions 4] [--json OUT]

What it measures (method and results in docs/performance.md, "Router throughput"):

1. **Throughput.** Per round and component, ``--packages`` signed documents
   (one ``--pdf-kb`` PDF each, 1–``--max-recipients`` recipients, from ten
   agencies) are queued on ``edoc.submit`` while the component is stopped; then
   it starts, and the clock runs from the moment it has joined its consumer
   group until its committed offsets reach the end of the queue (every package
   routed, its output committed). Rounds alternate relay / router so
   background load hits both alike; the table shows the median round.
2. **Latency.** ``--latency-packages`` more at ``--rate`` per second (default:
   a quarter of the slower component's throughput, a load both carry): submit→inbox
   latency of each inbox copy = when a ``read_committed`` observer sees it −
   the broker's LogAppendTime of the submission.
3. **Backlog.** ``--backlog`` packages queued with the router stopped, then
   drained like in 1 while the router's RSS is sampled twice a second: peak
   (VmHWM), and the highest RSS in the first and the second half of the drain
   (bounded = the second is not more than 10% above the first).

The two components run as their own processes with the same Kafka client
settings (``hub.kafka.client.producer_config`` / ``consumer_config``), the same batch
size and one Kafka transaction per batch with ``send_offsets_to_transaction``:

* **router** — ``python -m edoc serve --only router``, the real thing: verify,
  directory and duplicate checks, inbox copies, hub-signed receipts, one
  verdict event per package, one log line per decision;
* **relay** — this file's ``_relay`` command: consume ``edoc.submit`` and
  produce the same bytes to the same inbox topics, recipients taken from a
  record header the benchmark sets — no parsing, no verification.

``--routers N`` runs N router processes in one consumer group (N ≤ partitions).
The clock then starts once all have joined; what the first routed while the
others joined is left out of the rates, CPU is summed, RSS is the largest.

Unless ``--bootstrap`` is given it starts its own broker (LocalKafka on free
ports in a temporary directory) and removes it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hub.kafka.client import TopicAdmin, consumer_config, producer_config
from hub.localkafka.broker import LocalKafka
from hub.settings import Settings, get_settings
from schemas import wire
from schemas.header import DocSigner, DocumentCode, DocumentMeta, Header, Kind, Promulgation
from signing.pki import DemoPKI
from signing.signer import Signer, attachment_ref, build_package

#: Ten departments send; any active agency of the sample directory may receive.
SENDERS = [f"000.00.{i:02d}.H49" for i in range(1, 11)]
RECIPIENTS = [f"000.00.{i:02d}.H49" for i in (*range(1, 14), *range(21, 31))]
HUB_CODE = "000.00.99.H49"
#: Record header carrying the recipients, for the relay only (it parses nothing).
H_BENCH_TO = "bench-to"
MAX_RECORD = 20 * 1024 * 1024
console = Console(stderr=True)


# -- packages ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Corpus:
    """How to make packages: who signs, who receives, how large the PDF is."""

    pki_root: Path
    pdf_kb: int
    max_recipients: int


@dataclass(frozen=True, slots=True)
class Package:
    """One signed package ready to submit."""

    message_id: str
    sender: str
    to: tuple[str, ...]
    raw: bytes


_worker_signers: dict[str, Signer] = {}
_worker_pdf: bytes = b""
_worker_corpus: Corpus | None = None


def _init_worker(corpus: Corpus) -> None:
    """Load the signers once per worker process."""
    global _worker_pdf, _worker_corpus  # noqa: PLW0603 - per-process cache of a pool worker
    pki = DemoPKI(corpus.pki_root)
    for code in SENDERS:
        issued = pki.agency(code)
        _worker_signers[code] = Signer.from_files(issued.key, issued.chain)
    body = random.Random(corpus.pdf_kb).randbytes(max(0, corpus.pdf_kb * 1024 - 16))
    _worker_pdf = b"%PDF-1.4\n" + body + b"\n%%EOF\n"
    _worker_corpus = corpus


def _document_header(sender: str, to: list[str], pdf: bytes) -> Header:
    now = datetime.now(UTC)
    return Header(
        message_id=uuid.uuid4(),
        kind=Kind.DOCUMENT,
        **{"from": sender},
        to=to,
        sent_at=now,
        document=DocumentMeta(
            code=DocumentCode(number="125", notation="UBND-VP"),
            promulgation=Promulgation(place="Bắc Giang", date=now.date()),
            document_type="Công văn",
            subject="V/v báo cáo tình hình thực hiện kế hoạch cải cách hành chính",
            signer=DocSigner(full_name="Nguyễn Văn A", position="Chánh Văn phòng"),
        ),
        attachments=[attachment_ref("a1", "cong-van.pdf", pdf, "application/pdf")],
    )


def _make_packages(seed: int, count: int) -> list[Package]:
    """``count`` freshly signed packages (runs in a worker process)."""
    assert _worker_corpus is not None
    rng = random.Random(seed)
    out: list[Package] = []
    for _ in range(count):
        sender = rng.choice(SENDERS)
        k = rng.randint(1, _worker_corpus.max_recipients)
        to = rng.sample([c for c in RECIPIENTS if c != sender], k)
        header = _document_header(sender, to, _worker_pdf)
        pkg = build_package(header, {"a1": _worker_pdf}, [_worker_signers[sender]])
        out.append(Package(str(header.message_id), sender, tuple(to), pkg.to_bytes()))
    return out


class PackageFactory:
    """Signs packages in a process pool (signing is not what is measured)."""

    def __init__(self, corpus: Corpus, workers: int) -> None:
        self._pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(corpus,),
        )
        self._seed = 0

    def close(self) -> None:
        """Stop the workers."""
        self._pool.shutdown(cancel_futures=True)

    async def chunks(self, total: int, chunk: int = 250) -> AsyncIterator[list[Package]]:
        """``total`` packages in chunks, two chunks signed ahead of the consumer."""
        loop = asyncio.get_running_loop()
        sizes = [min(chunk, total - i) for i in range(0, total, chunk)]
        pending: list[asyncio.Future[list[Package]]] = []
        for size in sizes:
            self._seed += 1
            pending.append(loop.run_in_executor(self._pool, _make_packages, self._seed, size))
            if len(pending) > 2:
                yield await pending.pop(0)
        for fut in pending:
            yield await fut

    async def make(self, total: int) -> list[Package]:
        """``total`` packages, all in memory."""
        return [p async for chunk in self.chunks(total) for p in chunk]


# -- the processes under test ------------------------------------------------------------


def _proc_status(pid: int, field_name: str) -> int:
    """A ``kB`` field of /proc/<pid>/status (VmRSS, VmHWM) in bytes; 0 if unavailable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Component:
    """A router or relay: ``instances`` processes in one consumer group."""

    name: str
    command: list[str]
    env: dict[str, str]
    group: str
    log_file: Path
    instances: int = 1
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> None:
        """Launch its processes."""
        with self.log_file.open("ab") as log:
            self.procs = [
                subprocess.Popen(
                    self.command,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
                for _ in range(self.instances)
            ]

    @property
    def pids(self) -> list[int]:
        """Process ids of its processes."""
        return [p.pid for p in self.procs]

    def cpu_seconds(self) -> float:
        """CPU time of all its processes so far."""
        return sum(_cpu_seconds(pid) for pid in self.pids)

    def memory_mb(self, field_name: str) -> float:
        """The largest ``VmRSS``/``VmHWM`` among its processes (memory is per process)."""
        return max((_proc_status(pid, field_name) for pid in self.pids), default=0) / 1e6

    def check_alive(self) -> None:
        """Raise with the log tail if one of its processes died."""
        for proc in self.procs:
            if proc.poll() is not None:
                tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-30:])
                raise RuntimeError(f"{self.name} exited with {proc.returncode}:\n{tail}")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, then SIGKILL if one lingers."""
        running = [p for p in self.procs if p.poll() is None]
        for proc in running:
            proc.send_signal(signal.SIGTERM)
        for proc in running:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def router_component(
    settings: Settings, pki: DemoPKI, work: Path, tag: str, instances: int = 1
) -> Component:
    """``edoc serve --only router`` configured like the tests configure it (``instances`` of it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDOC_")}
    group = f"bench-router-{tag}"
    env |= {
        "EDOC_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "EDOC_TRUST_ANCHORS": json.dumps([str(pki.root_cert)]),
        "EDOC_CRLS": json.dumps([str(pki.crl_dir)]),
        "EDOC_HUB_KEY": str(pki.hub.key),
        "EDOC_HUB_CERT": str(pki.hub.chain),
        "EDOC_HUB_CODE": HUB_CODE,
        "EDOC_TOPIC_PARTITIONS": str(settings.topic_partitions),
        "EDOC_ROUTER_GROUP": group,
        "EDOC_ROUTER_TRANSACTIONAL_ID": group,
        "EDOC_ROUTER_BATCH_SIZE": str(settings.router_batch_size),
        "EDOC_VAR_DIR": str(work / "router-var"),
        "EDOC_LOG_LEVEL": os.environ.get("BENCH_ROUTER_LOG_LEVEL", "INFO"),
    }
    cmd = [sys.executable, "-m", "edoc", "serve", "--only", "router"]
    return Component("router", cmd, env, group, work / f"router-{tag}.log", instances)


def relay_component(
    settings: Settings, work: Path, tag: str, max_batch_kb: int | None = None
) -> Component:
    """This file's ``_relay`` command; ``max_batch_kb`` overrides the producer's batch size."""
    group = f"bench-relay-{tag}" + (f"-{max_batch_kb}k" if max_batch_kb else "")
    name = f"relay, {max_batch_kb} KiB batches" if max_batch_kb else "relay"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "_relay",
        "--bootstrap",
        settings.kafka_bootstrap,
        "--group",
        group,
        "--batch-size",
        str(settings.router_batch_size),
    ]
    if max_batch_kb:
        cmd += ["--max-batch-kb", str(max_batch_kb)]
    env = dict(os.environ)
    return Component(name, cmd, env, group, work / f"{group}.log")


async def relay(
    bootstrap: str, group: str, batch_size: int, max_batch_kb: int | None = None
) -> None:
    """Plain relay: edoc.submit → the same bytes to each inbox, one transaction per batch."""
    settings = Settings(kafka_bootstrap=bootstrap, router_batch_size=batch_size)
    tuning = {"max_batch_size": max_batch_kb * 1024} if max_batch_kb else {}
    producer = AIOKafkaProducer(**producer_config(settings) | tuning, transactional_id=group)
    consumer = AIOKafkaConsumer(
        wire.SUBMIT, **consumer_config(settings), group_id=group, max_poll_records=batch_size
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await producer.start()
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=300, max_records=batch_size)
            if not batch:
                continue
            async with producer.transaction():
                for records in batch.values():
                    for rec in records:
                        headers = rec.headers or ()
                        to = next((v.decode() for k, v in headers if k == H_BENCH_TO), "")
                        for code in filter(None, to.split(",")):
                            await producer.send(
                                wire.inbox(code), rec.value, key=rec.key, headers=list(headers)
                            )
                offsets = {tp: recs[-1].offset + 1 for tp, recs in batch.items()}
                await producer.send_offsets_to_transaction(offsets, group)
    finally:
        await consumer.stop()
        await producer.stop()


# -- Kafka helpers -------------------------------------------------------------------------


async def submit_partitions(bootstrap: str) -> list[TopicPartition]:
    """The partitions of ``edoc.submit``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        parts = (await consumer._client.fetch_all_metadata()).partitions_for_topic(wire.SUBMIT)
        return [TopicPartition(wire.SUBMIT, p) for p in sorted(parts or ())]
    finally:
        await consumer.stop()


async def start_group_at_end(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    """Commit ``group``'s offsets at the current end of edoc.submit (earlier phases skipped)."""
    tps = await submit_partitions(bootstrap)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        await consumer.commit(dict(ends))
        return ends
    finally:
        await consumer.stop()


async def wait_for_group_member(bootstrap: str, group: str, component: Component) -> None:
    """Return once all the component's processes have joined its group (polls DescribeGroups)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        async with asyncio.timeout(120):
            while True:
                component.check_alive()
                (resp,) = await admin.describe_consumer_groups([group])
                state, members = resp.groups[0][2], resp.groups[0][5]
                if state == "Stable" and len(members) >= component.instances:
                    return
                await asyncio.sleep(0.1)  # the broker has no notification for group state
    finally:
        await admin.close()


class InboxObserver:
    """Reads the inboxes (read_committed) and notes when each expected copy becomes visible."""

    def __init__(self, bootstrap: str, agencies: Sequence[str]) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            isolation_level="read_committed",
            enable_auto_commit=False,
            max_partition_fetch_bytes=MAX_RECORD,
            fetch_max_bytes=MAX_RECORD * 2,
            fetch_max_wait_ms=100,
            check_crcs=False,
        )
        self._topics = [wire.inbox(c) for c in agencies]
        self.expected: set[tuple[str, str]] = set()
        self.seen: dict[tuple[str, str], float] = {}
        self.duplicates = 0
        self._task: asyncio.Task[None] | None = None
        self._progress = asyncio.Condition()

    async def start(self) -> None:
        """Start reading at the current end of every inbox."""
        await self._consumer.start()
        tps = [TopicPartition(t, 0) for t in self._topics]
        self._consumer.assign(tps)
        await self._consumer.seek_to_end(*tps)
        for tp in tps:
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._follow())

    async def stop(self) -> None:
        """Stop reading."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    def expect(self, packages: Sequence[Package]) -> None:
        """Watch for these packages' inbox copies."""
        self.expected.update((p.message_id, r) for p in packages for r in p.to)

    async def _follow(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=200)
            now = time.time()
            for tp, records in batch.items():
                agency = wire.agency_of_inbox(tp.topic) or ""
                for rec in records:
                    hdr = dict(rec.headers or ())
                    if hdr.get("edoc-kind", b"document") != b"document":
                        continue  # hub receipts
                    key = (hdr.get("edoc-message-id", b"").decode(), agency)
                    if key in self.expected:
                        if key in self.seen:
                            self.duplicates += 1
                        else:
                            self.seen[key] = now
            if batch:
                async with self._progress:
                    self._progress.notify_all()

    async def wait_all(self, component: Component, stall: float = 120.0) -> None:
        """Return once every expected copy was seen; fail if nothing arrives for ``stall`` s."""
        async with self._progress:
            while not self.expected <= self.seen.keys():
                before = len(self.seen)
                try:
                    async with asyncio.timeout(5.0):
                        await self._progress.wait()
                except TimeoutError:
                    component.check_alive()
                    if len(self.seen) == before:
                        stall -= 5.0
                        if stall <= 0:
                            missing = len(self.expected - self.seen.keys())
                            raise RuntimeError(
                                f"{component.name}: {missing} inbox copies never arrived"
                            ) from None


async def produce(
    bootstrap: str, packages: Sequence[Package], rate: float | None = None
) -> dict[str, float]:
    """Submit packages (paced at ``rate``/s if given); return the broker's receive time of each."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        max_request_size=MAX_RECORD,
        linger_ms=5 if rate is None else 0,
    )
    await producer.start()
    received: dict[str, float] = {}
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    try:
        pending: list[tuple[str, asyncio.Future[Any]]] = []
        for i, pkg in enumerate(packages):
            if rate is not None:
                delay = t0 + i / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)  # open-loop pacing
            headers = [
                ("edoc-message-id", pkg.message_id.encode()),
                ("edoc-kind", b"document"),
                ("edoc-profile", b"jws"),
                (H_BENCH_TO, ",".join(pkg.to).encode()),
            ]
            fut = await producer.send(
                wire.SUBMIT, pkg.raw, key=pkg.sender.encode(), headers=headers
            )
            pending.append((pkg.message_id, fut))
            if len(pending) >= 200:
                await _collect(pending, received)
        await _collect(pending, received)
    finally:
        await producer.stop()
    return received


async def _collect(
    pending: list[tuple[str, asyncio.Future[Any]]], received: dict[str, float]
) -> None:
    for mid, fut in pending:
        meta = await fut
        # edoc.submit has LogAppendTime: the broker's clock says when the hub received it.
        received[mid] = meta.timestamp / 1000 if meta.timestamp_type == 1 else time.time()
    pending.clear()


# -- measurements --------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[rank]


@dataclass
class DrainResult:
    """A component routing a queue of packages that was filled while it was stopped."""

    component: str
    packages: int
    deliveries: int
    megabytes: float
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    rss_after_start_mb: float = 0.0
    peak_rss_mb: float = 0.0
    #: (packages routed so far, RSS in MB), sampled twice a second.
    rss_samples: list[tuple[int, float]] = field(default_factory=list)
    #: Packages already routed when the clock started (the first of several processes
    #: routes while the others join); rates count only the rest.
    head_start: int = 0

    @property
    def _timed_share(self) -> float:
        return (self.packages - self.head_start) / self.packages

    @property
    def docs_per_s(self) -> float:
        """Documents routed per second."""
        return (self.packages - self.head_start) / self.seconds

    @property
    def deliveries_per_s(self) -> float:
        """Inbox copies written per second (the untimed head start taken out in proportion)."""
        return self.deliveries * self._timed_share / self.seconds

    @property
    def mb_per_s(self) -> float:
        """Megabytes read from ``edoc.submit`` per second."""
        return self.megabytes * self._timed_share / self.seconds

    @property
    def docs_per_cpu_s(self) -> float:
        """Documents per CPU-second of the component's processes."""
        return (self.packages - self.head_start) / max(self.cpu_seconds, 1e-9)


@dataclass
class LatencyResult:
    """Submit→inbox latency at a fixed offered rate."""

    component: str
    rate: float
    copies: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    duplicates: int


@contextlib.contextmanager
def running(component: Component) -> Iterator[Component]:
    """Start and always stop a component."""
    component.start()
    try:
        yield component
    finally:
        component.stop()


async def committed_total(admin: AIOKafkaAdminClient, group: str) -> int:
    """Sum of the group's committed offsets on edoc.submit."""
    offsets = await admin.list_consumer_group_offsets(group)
    return sum(o.offset for tp, o in offsets.items() if tp.topic == wire.SUBMIT)


async def queue_packages(
    bootstrap: str, factory: PackageFactory, total: int, progress: Progress, label: str
) -> tuple[int, int, float]:
    """Sign and submit ``total`` packages; (packages, inbox copies, MB) submitted."""
    task = progress.add_task(label, total=total)
    copies, size = 0, 0
    async for chunk in factory.chunks(total, chunk=500):
        await produce(bootstrap, chunk)
        copies += sum(len(p.to) for p in chunk)
        size += sum(len(p.raw) for p in chunk)
        progress.advance(task, len(chunk))
    return total, copies, size / 1e6


async def measure_drain(
    component: Component,
    bootstrap: str,
    factory: PackageFactory,
    total: int,
    progress: Progress,
) -> DrainResult:
    """Queue ``total`` packages with the component stopped, then time it routing them all.

    The clock starts when the component has joined its consumer group (start-up
    and index loading excluded) and stops when its committed offsets reach the
    end of the queue — every package routed and committed, output included.
    """
    start = await start_group_at_end(bootstrap, component.group)
    base = sum(start.values())
    packages, copies, mb = await queue_packages(
        bootstrap, factory, total, progress, f"{component.name}: queueing"
    )
    result = DrainResult(component.name, packages, copies, mb)
    task = progress.add_task(f"{component.name}: routing", total=total)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        with running(component):
            await wait_for_group_member(bootstrap, component.group, component)
            result.rss_after_start_mb = component.memory_mb("VmRSS")
            cpu0 = component.cpu_seconds()
            t0 = time.monotonic()
            result.head_start = done = await committed_total(admin, component.group) - base
            while done < total:
                component.check_alive()
                await asyncio.sleep(0.5)  # sampling interval of progress and RSS
                done = await committed_total(admin, component.group) - base
                result.rss_samples.append((done, component.memory_mb("VmRSS")))
                progress.update(task, completed=done)
            result.seconds = time.monotonic() - t0
            result.cpu_seconds = component.cpu_seconds() - cpu0
            result.peak_rss_mb = component.memory_mb("VmHWM")
    finally:
        await admin.close()
    return result


async def measure_latency(
    component: Component,
    bootstrap: str,
    factory: PackageFactory,
    args: argparse.Namespace,
    progress: Progress,
) -> LatencyResult:
    """``--latency-packages`` submitted at ``args.rate``/s; submit→inbox latency of each copy.

    Latency of a copy = when a read_committed observer sees it in the inbox −
    the broker's LogAppendTime of the submission (edoc.submit uses LogAppendTime).
    """
    await start_group_at_end(bootstrap, component.group)
    warmup = await factory.make(20)
    paced = await factory.make(args.latency_packages)
    observer = InboxObserver(bootstrap, RECIPIENTS)
    await observer.start()
    try:
        with running(component):
            await wait_for_group_member(bootstrap, component.group, component)
            for batch, rate, label in (
                (warmup, None, "warm-up"),
                (paced, args.rate, f"{args.rate:g} documents/s"),
            ):
                task = progress.add_task(f"{component.name}: {label}", total=len(batch))
                observer.expect(batch)
                watcher = asyncio.create_task(_track(progress, task, observer, batch))
                try:
                    received = await produce(bootstrap, batch, rate=rate)
                    await observer.wait_all(component)
                finally:
                    watcher.cancel()
                progress.update(task, completed=len(batch))
    finally:
        await observer.stop()
    lat = [
        (observer.seen[(p.message_id, r)] - received[p.message_id]) * 1000
        for p in paced
        for r in p.to
    ]
    return LatencyResult(
        component.name,
        args.rate,
        len(lat),
        percentile(lat, 50),
        percentile(lat, 99),
        max(lat),
        observer.duplicates,
    )


async def _track(
    progress: Progress, task: Any, observer: InboxObserver, packages: Sequence[Package]
) -> None:
    """Advance a progress bar by fully delivered documents."""
    while True:
        done = sum(all((p.message_id, r) in observer.seen for r in p.to) for p in packages)
        progress.update(task, completed=done)
        await asyncio.sleep(0.5)  # display refresh only


# -- report --------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    """✅ or ❌."""
    return "✅" if ok else "❌"


def rss_growth(result: DrainResult) -> tuple[float, float]:
    """Highest RSS in the first and in the second half of a drain, MB."""
    half = result.packages / 2
    first = [rss for done, rss in result.rss_samples if done <= half] or [0.0]
    second = [rss for done, rss in result.rss_samples if done > half] or [0.0]
    return max(first), max(second)


@dataclass
class Report:
    """Everything measured, and its rendering as Markdown."""

    meta: dict[str, Any]
    drains: dict[str, list[DrainResult]]
    latency: dict[str, LatencyResult]
    backlog: DrainResult | None
    tuned: list[DrainResult] | None

    def best(self, name: str) -> DrainResult:
        """The median round of a component (by documents/s)."""
        rounds = sorted(self.drains[name], key=lambda r: r.docs_per_s)
        return rounds[len(rounds) // 2]

    def markdown(self) -> str:
        """The results as the body of a Markdown section."""
        m = self.meta
        router, relay = self.best("router"), self.best("relay")
        ratio = router.docs_per_s / relay.docs_per_s
        rounds = len(self.drains["router"])
        lat_r, lat_p = self.latency["router"], self.latency["relay"]
        each = ", ".join(f"{r.docs_per_s:,.0f}" for r in self.drains["router"])
        each_relay = ", ".join(f"{r.docs_per_s:,.0f}" for r in self.drains["relay"])
        lines = [
            f"Run {m['date']}: {m['machine']}; packages of {m['package_kb']:.0f} KB "
            f"({m['pdf_kb']} KB PDF), 1–{m['max_recipients']} recipients (mean "
            f"{router.deliveries / router.packages:.1f}), {m['partitions']} partitions, "
            f"{m['batch_size']} records per transaction; load average {m['load_before']:.1f} "
            f"before, {m['load_after']:.1f} after."
            + (
                f" Router: {m['routers']} processes in one consumer group (CPU summed, RSS "
                "of the largest)."
                if m.get("routers", 1) > 1
                else ""
            ),
            "",
            f"| {m['packages']:,} packages, median of {rounds} rounds | router | plain relay "
            "| router ÷ relay |",
            "|---|---:|---:|---:|",
            f"| documents/s | **{router.docs_per_s:,.0f}** | {relay.docs_per_s:,.0f} "
            f"| **{ratio:.0%}** |",
            f"| (each round) | {each} | {each_relay} | |",
            f"| inbox copies/s | {router.deliveries_per_s:,.0f} | {relay.deliveries_per_s:,.0f} "
            f"| {router.deliveries_per_s / relay.deliveries_per_s:.0%} |",
            f"| MB/s read from edoc.submit | {router.mb_per_s:,.1f} | {relay.mb_per_s:,.1f} | |",
            f"| documents per CPU-second of the process | {router.docs_per_cpu_s:,.0f} "
            f"| {relay.docs_per_cpu_s:,.0f} | {router.docs_per_cpu_s / relay.docs_per_cpu_s:.0%} |",
            f"| peak RSS (MB) | {router.peak_rss_mb:,.0f} | {relay.peak_rss_mb:,.0f} | |",
            f"| latency p50 / p99 / max at {lat_r.rate:g} documents/s (ms) "
            f"| {lat_r.p50_ms:,.0f} / {lat_r.p99_ms:,.0f} / {lat_r.max_ms:,.0f} "
            f"| {lat_p.p50_ms:,.0f} / {lat_p.p99_ms:,.0f} / {lat_p.max_ms:,.0f} | |",
            f"| inbox copies seen twice | {lat_r.duplicates} | {lat_p.duplicates} | |",
        ]
        if self.tuned:
            tuned = sorted(self.tuned, key=lambda r: r.docs_per_s)[len(self.tuned) // 2]
            lines += [
                "",
                f"Same run, {tuned.component} (only the producer's `max_batch_size` differs): "
                f"{tuned.docs_per_s:,.0f} documents/s, {tuned.deliveries_per_s:,.0f} inbox "
                f"copies/s, {tuned.docs_per_cpu_s:,.0f} documents per CPU-second "
                f"({tuned.docs_per_s / relay.docs_per_s:.0%} of the plain relay).",
            ]
        goals = [
            "",
            "| goal (issue 4) | result | |",
            "|---|---|---|",
            f"| ≥ 50% of the plain relay | {ratio:.0%} | {verdict(ratio >= 0.5)} |",
            f"| ≥ 1,000 documents/s | {router.docs_per_s:,.0f} | "
            f"{verdict(router.docs_per_s >= 1000)} |",
        ]
        if self.backlog is not None:
            b = self.backlog
            first, second = rss_growth(b)
            bounded = second <= first * 1.1
            marks = []
            for frac in (0.25, 0.5, 0.75, 1.0):
                done, rss = min(b.rss_samples, key=lambda s: abs(s[0] - frac * b.packages))
                marks.append(f"{rss:,.0f} MB at {done:,}")
            lines += [
                "",
                f"Backlog: {b.packages:,} packages ({b.megabytes / 1000:,.1f} GB) queued with the "
                f"router stopped, then started: drained in {b.seconds:,.0f} s "
                f"({b.docs_per_s:,.0f} documents/s). RSS {b.rss_after_start_mb:,.0f} MB "
                f"after start, peak {b.peak_rss_mb:,.0f} MB; along the drain "
                f"{', '.join(marks)}; highest in the first half {first:,.0f} MB, in the "
                f"second half {second:,.0f} MB.",
            ]
            goals.append(
                f"| RSS bounded with a {b.packages:,}-package backlog (second half of the drain "
                f"≤ first half + 10%) | {first:,.0f} → {second:,.0f} MB, peak "
                f"{b.peak_rss_mb:,.0f} MB | {verdict(bounded)} |"
            )
        return "\n".join(lines + goals) + "\n"


# -- main ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def broker(args: argparse.Namespace, work: Path) -> Iterator[str]:
    """``--bootstrap``, or a LocalKafka of our own on free ports under ``work``."""
    if args.bootstrap:
        yield args.bootstrap
        return
    shared_lib = get_settings().var_dir / "kafka" / "lib"
    port = _free_port()
    controller_port = _free_port()
    while controller_port == port:
        controller_port = _free_port()
    kafka = LocalKafka(
        work / "kafka", port=port, controller_port=controller_port, lib_dir=shared_lib
    )
    console.print(f"starting a Kafka broker in {kafka.root} …")
    kafka.start()
    try:
        yield kafka.bootstrap
    finally:
        kafka.stop()


async def run(args: argparse.Namespace, work: Path, bootstrap: str) -> Report:
    """All phases; returns the report."""
    tag = uuid.uuid4().hex[:6]
    settings = Settings(
        kafka_bootstrap=bootstrap,
        topic_partitions=args.partitions,
        router_batch_size=args.batch_size,
    )
    admin = TopicAdmin(settings)
    await admin.start()
    try:
        await admin.ensure_inboxes(RECIPIENTS)
    finally:
        await admin.close()
    pki = DemoPKI.init(work / "pki", hub_code=HUB_CODE)
    for code in SENDERS:
        pki.issue(code, f"Agency {code}")
    factory = PackageFactory(
        Corpus(pki.root, args.pdf_kb, args.max_recipients), workers=args.sign_workers
    )
    meta: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        "pdf_kb": args.pdf_kb,
        "max_recipients": args.max_recipients,
        "partitions": args.partitions,
        "routers": args.routers,
        "batch_size": args.batch_size,
        "packages": args.packages,
        "bootstrap": bootstrap,
        "load_before": os.getloadavg()[0],
    }
    router = router_component(settings, pki, work, tag, args.routers)
    relay = relay_component(settings, work, tag)
    drains: dict[str, list[DrainResult]] = {"router": [], "relay": []}
    tuned: list[DrainResult] = []
    try:
        meta["package_kb"] = len((await factory.make(1))[0].raw) / 1024
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            for _ in range(args.rounds):  # interleaved, so background load hits both alike
                for component in (relay, router):
                    drains[component.name].append(
                        await measure_drain(component, bootstrap, factory, args.packages, progress)
                    )
                if args.tuned_relay_kb:
                    tuned.append(
                        await measure_drain(
                            relay_component(settings, work, tag, args.tuned_relay_kb),
                            bootstrap,
                            factory,
                            args.packages,
                            progress,
                        )
                    )
            if args.rate is None:  # a quarter of the slower one's throughput: a load both carry
                slower = min(statistics.median(r.docs_per_s for r in v) for v in drains.values())
                args.rate = float(max(1, round(slower / 4)))
            latency = {
                c.name: await measure_latency(c, bootstrap, factory, args, progress)
                for c in (relay, router)
            }
            backlog = None
            if args.backlog:
                backlog = await measure_drain(
                    router_component(settings, pki, work, tag + "-backlog", args.routers),
                    bootstrap,
                    factory,
                    args.backlog,
                    progress,
                )
    finally:
        factory.close()
    meta["load_after"] = os.getloadavg()[0]
    return Report(meta, drains, latency, backlog, tuned or None)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command line."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--packages", type=int, default=5000, help="packages per throughput round")
    p.add_argument("--rounds", type=int, default=3, help="throughput rounds per component")
    p.add_argument("--latency-packages", type=int, default=1000, help="latency run size")
    p.add_argument(
        "--rate",
        type=float,
        default=None,
        help="latency run rate, documents/s (default: ¼ of the slower component's throughput)",
    )
    p.add_argument("--pdf-kb", type=int, default=100, help="PDF size per package")
    p.add_argument("--max-recipients", type=int, default=3)
    p.add_argument("--backlog", type=int, default=100_000, help="0 skips the backlog phase")
    p.add_argument("--partitions", type=int, default=3, help="partitions of edoc.submit")
    p.add_argument(
        "--routers", type=int, default=1, help="router processes in one group (≤ partitions)"
    )
    p.add_argument("--batch-size", type=int, default=200, help="records per transaction")
    p.add_argument("--sign-workers", type=int, default=max(1, (os.cpu_count() or 2)))
    p.add_argument(
        "--tuned-relay-kb",
        type=int,
        help="also measure (saturated) a relay whose producer batches are this large, to show "
        "what the shared client settings cost",
    )
    p.add_argument("--bootstrap", help="use this broker instead of starting one")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_relay"]:
        sub = argparse.ArgumentParser()
        sub.add_argument("--bootstrap", required=True)
        sub.add_argument("--group", required=True)
        sub.add_argument("--batch-size", type=int, required=True)
        sub.add_argument("--max-batch-kb", type=int)
        ns = sub.parse_args(argv[1:])
        asyncio.run(relay(ns.bootstrap, ns.group, ns.batch_size, ns.max_batch_kb))
        return
    args = parse_args(argv)
    if not 1 <= args.routers <= args.partitions:
        raise SystemExit("error: --routers must be between 1 and --partitions")
    work = Path(tempfile.mkdtemp(prefix="edoc-bench-"))
    try:
        with broker(args, work) as bootstrap:
            report = asyncio.run(run(args, work, bootstrap))
    finally:
        if args.keep:
            console.print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(report.markdown())
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2, default=str))


if __name__ == "__main__":
    main()
