"""Exactly once across crashes: router killed, broker restarted, router frozen, all mid-stream.

Each test submits the same kind of stream — 1,000 packages: ~80% valid documents
from A and C to B, B+C or A+B; ~20% refused (header altered after signing,
attachment altered, unreadable JSON); and at the end 20 re-sent copies of early
documents (same header and message id, fresh signature), which must be refused
as ``duplicate`` — to a router running as users run it (``python -m edoc serve
--only router``), and then checks, against the list of what was submitted
(never against what the router reports about itself):

* every recipient inbox holds every accepted document addressed to it exactly
  once, byte for byte, and nothing that was refused or addressed elsewhere;
* no record in those inboxes (documents and hub receipts) is there twice;
* every refused package is on ``edoc.rejected`` exactly once, no valid one is;
* ``edoc.events`` holds exactly one verdict per package (by ``package_sha256``,
  since unreadable packages have no message id), with the expected verdict,
  reason and inboxes.

The stream is flow-controlled (the submitter stays at most ``IN_FLIGHT``
packages ahead of the committed verdicts) and gated (at every kill, outage or
freeze at least ``GATE`` more packages are still to come). Nothing sleeps to
"let things settle": every wait is for a condition, with a bound.

Replay a failing run with the seed it prints: ``EDOC_TEST_SEED=<n>``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import os
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from schemas import wire
from schemas.errors import EdocError
from schemas.package import b64url_decode, b64url_encode, package_sha256
from signing.pki import DemoPKI
from signing.signer import Signer, build_package
from tests._kafka import broker_unavailable, make_test_broker
from tests.conftest import PDF, A, B, C, PackageFactory
from tests.hub.kafka.tools import (
    Isolation,
    RouterConfig,
    RouterProcess,
    Submission,
    TopicRecord,
    VerdictWatcher,
    create_hub_topics,
    documents_by_message_id,
    end_offsets,
    entries_by_message_id,
    read_topics,
    records_by_sha256,
    sample,
    submit_packages,
    until_decided_or_exited,
    verdicts_by_package_sha256,
    wait_for_stable_group,
    wait_until_output_ahead_of_input,
)

PACKAGES = 1_000
VALID_SHARE = 0.8
#: Documents re-sent at the end of the stream (→ duplicate), copies of early ones.
RESENT = 20
RESENT_FROM = 60
#: Routes of valid documents: sender → recipients.
ROUTES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (A, (B,)),
    (A, (B, C)),
    (C, (B,)),
    (C, (A, B)),
)
AGENCIES = (A, B, C)
BURST = 20
#: Pacing of the submitter (about 100 packages/s while the router keeps up).
BURST_PAUSE = 0.2
#: The submitter waits when this many packages are submitted but have no verdict yet.
IN_FLIGHT = 150
#: At each kill (or outage, or freeze) at least this many more packages are still to come.
GATE = 150
#: A wait fails when no new verdict arrives for this long (a restart takes ~10 s).
STALL = 45.0
#: How long a kill waits for the state it aims at before falling back to a random instant.
AIM_TIMEOUT = 20.0
#: Bound of the gate: the test raises it within this time, or something is stuck.
GATE_TIMEOUT = 600.0
#: Generous bounds: a restarted router waits for the killed member's session to expire (~10 s).
VERDICT_TIMEOUT = 120.0
#: How long the broker stays down, on top of the time it takes to stop and start.
OUTAGE_SECONDS = float(os.environ.get("EDOC_TEST_OUTAGE_SECONDS", "3"))


# -- the stream ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidDocument:
    """A correctly signed document: must reach each recipient exactly once."""

    message_id: str
    raw: bytes
    sender: str
    recipients: tuple[str, ...]


@dataclass(frozen=True)
class RefusedPackage:
    """A package the hub must refuse with ``reason``; kept on ``edoc.rejected``."""

    raw: bytes
    damage: str
    reason: str
    message_id: str | None


@dataclass
class MixedStream:
    """What is submitted (in order) and the ground truth the checks compare against."""

    submissions: list[Submission] = field(default_factory=list)
    valid: dict[str, ValidDocument] = field(default_factory=dict)
    refused: dict[str, RefusedPackage] = field(default_factory=dict)

    @property
    def digests(self) -> set[str]:
        """``package_sha256`` of every submitted package."""
        return {package_sha256(s.raw) for s in self.submissions}

    def expected_inbox(self, agency: str) -> set[str]:
        """Message ids of the documents ``agency`` must receive."""
        return {d.message_id for d in self.valid.values() if agency in d.recipients}

    @property
    def message_ids(self) -> set[str]:
        """Every message id in the stream (valid or refused)."""
        return set(self.valid) | {r.message_id for r in self.refused.values() if r.message_id}


def _edit_package(raw: bytes, edit: Callable[[dict[str, object]], None]) -> bytes:
    pkg = json.loads(raw)
    edit(pkg)
    return json.dumps(pkg, separators=(",", ":")).encode()


def alter_header(raw: bytes) -> bytes:
    """The same package with its signed header changed after signing (→ bad_signature)."""

    def edit(pkg: dict[str, object]) -> None:
        header = json.loads(b64url_decode(str(pkg["header"])))
        header["document"]["subject"] = "Nội dung đã bị sửa sau khi ký"
        pkg["header"] = b64url_encode(json.dumps(header, ensure_ascii=False).encode())

    return _edit_package(raw, edit)


def alter_attachment(raw: bytes) -> bytes:
    """The same package with its attachment bytes replaced (→ digest_mismatch)."""

    def edit(pkg: dict[str, object]) -> None:
        attachments = pkg["attachments"]
        assert isinstance(attachments, list)
        attachments[0]["content"] = base64.b64encode(b"%PDF-1.4 forged " + os.urandom(16)).decode()

    return _edit_package(raw, edit)


def garbage(rng: random.Random, valid_raw: bytes) -> bytes:
    """An unreadable package (→ malformed); each one unique."""
    choice = rng.randrange(3)
    if choice == 0:  # a truncated package
        return valid_raw[: rng.randrange(len(valid_raw) // 2, len(valid_raw) - 1)]
    if choice == 1:  # not JSON at all
        return b"\x00garbage " + rng.randbytes(48)
    return json.dumps({"v": 1, "header": "!not base64url!", "nonce": rng.random()}).encode()


def message_id_of(raw: bytes) -> str:
    """The message id in a (possibly tampered) package's header."""
    return str(json.loads(b64url_decode(json.loads(raw)["header"]))["message_id"])


def resign(pki: DemoPKI, doc: ValidDocument) -> bytes:
    """The same document sent again: identical header bytes, a fresh signature.

    What a connector does when it re-sends after a timeout. ECDSA signatures are
    randomised, so the package bytes (and digest) differ; the message id does not.
    """
    header_bytes = b64url_decode(json.loads(doc.raw)["header"])
    issued = pki.agency(doc.sender)
    signer = Signer.from_files(issued.key, issued.chain)
    raw = build_package(header_bytes, {"a1": PDF}, [signer]).to_bytes()
    assert raw != doc.raw
    return raw


def build_mixed_stream(
    signed_package: PackageFactory, pki: DemoPKI, rng: random.Random
) -> MixedStream:
    """``PACKAGES`` packages, ~80% valid, shuffled; signed now, so none is stale.

    The last ``RESENT`` are re-sent copies of documents from the first
    ``RESENT_FROM`` positions — long accepted (and, in the kill test, accepted
    by an earlier incarnation of the router) when the copies arrive — which the
    hub must refuse as ``duplicate``.
    """
    stream = MixedStream()
    for i in range(PACKAGES - RESENT):
        sender, recipients = ROUTES[i % len(ROUTES)]
        raw = signed_package(sender, list(recipients))
        if rng.random() < VALID_SHARE:
            mid = message_id_of(raw)
            stream.valid[mid] = ValidDocument(mid, raw, sender, recipients)
            stream.submissions.append(Submission(raw, sender))
            continue
        damage = rng.choice(("header", "attachment", "garbage"))
        if damage == "header":
            bad = alter_header(raw)
            refused = RefusedPackage(bad, damage, "bad_signature", message_id_of(bad))
        elif damage == "attachment":
            bad = alter_attachment(raw)
            refused = RefusedPackage(bad, damage, "digest_mismatch", message_id_of(bad))
        else:
            bad = garbage(rng, raw)
            refused = RefusedPackage(bad, damage, "malformed", None)
        stream.refused[package_sha256(bad)] = refused
        stream.submissions.append(Submission(bad, sender if damage != "garbage" else "unknown"))
    rng.shuffle(stream.submissions)
    valid_by_bytes = {doc.raw: doc for doc in stream.valid.values()}
    early = [
        valid_by_bytes[sub.raw]
        for sub in stream.submissions[:RESENT_FROM]
        if sub.raw in valid_by_bytes
    ]
    for doc in rng.sample(early, RESENT):
        copy = resign(pki, doc)
        # Same key as the original: same partition, so the copy is read after it.
        stream.submissions.append(Submission(copy, doc.sender))
        stream.refused[package_sha256(copy)] = RefusedPackage(
            copy, "resent", "duplicate", doc.message_id
        )
    assert len(stream.digests) == PACKAGES, "every package is distinct"
    return stream


# -- the checks ---------------------------------------------------------------------------

WATCHED = [*(wire.inbox(code) for code in AGENCIES), wire.REJECTED, wire.EVENTS]


@dataclass(frozen=True)
class RunOutput:
    """Everything the run wrote to the watched topics, split by topic."""

    inboxes: dict[str, list[TopicRecord]]
    rejected: list[TopicRecord]
    events: list[TopicRecord]

    @classmethod
    async def read(
        cls,
        bootstrap: str,
        since: dict[TopicPartition, int],
        isolation: Isolation = "read_committed",
    ) -> RunOutput:
        """Read the watched topics from ``since`` to their current end."""
        records = await read_topics(bootstrap, WATCHED, since=since, isolation=isolation)
        by_topic: dict[str, list[TopicRecord]] = {name: [] for name in WATCHED}
        for rec in records:
            by_topic[rec.topic].append(rec)
        return cls(
            {code: by_topic[wire.inbox(code)] for code in AGENCIES},
            by_topic[wire.REJECTED],
            by_topic[wire.EVENTS],
        )


def assert_each_document_delivered_exactly_once(stream: MixedStream, out: RunOutput) -> None:
    """Inboxes hold exactly the accepted documents addressed to them, once, unchanged."""
    ours = stream.message_ids
    for agency in AGENCIES:
        records = out.inboxes[agency]
        expected = stream.expected_inbox(agency)
        counts = documents_by_message_id(records, only=ours)
        missing = expected - counts.keys()
        twice = {mid: n for mid, n in counts.items() if n > 1}
        stray = counts.keys() - expected
        assert not missing, (
            f"{len(missing)} accepted documents never reached {agency}: {sample(missing)}"
        )
        resent = {r.message_id for r in stream.refused.values() if r.damage == "resent"}
        assert not twice, (
            f"{len(twice)} documents reached {agency} more than once "
            f"({len(twice.keys() & resent)} of them re-sent copies the hub should have refused "
            f"as duplicate): {sample(twice.items())}"
        )
        assert not stray, (
            f"{len(stray)} documents reached {agency} though refused or addressed elsewhere: "
            f"{sample(stray)}"
        )
        for rec in records:
            doc = stream.valid.get(_document_id(rec) or "")
            if doc is not None:
                assert rec.value == doc.raw, f"{doc.message_id} was altered on the way to {agency}"
        # Documents and hub receipts alike: no record about our packages is there twice.
        repeated = {mid: n for mid, n in entries_by_message_id(records, ours).items() if n > 1}
        assert not repeated, f"records repeated in {agency}'s inbox: {sample(repeated.items())}"


def _document_id(rec: TopicRecord) -> str | None:
    try:
        return message_id_of(rec.value)
    except (ValueError, KeyError, TypeError):
        return None


def assert_each_refusal_kept_exactly_once(stream: MixedStream, out: RunOutput) -> None:
    """Every refused package is on ``edoc.rejected`` once, byte for byte; no valid one is."""
    refused = set(stream.refused)
    counts = records_by_sha256(out.rejected, only=stream.digests)
    missing = refused - counts.keys()
    twice = {d: n for d, n in counts.items() if n > 1}
    wrongly = counts.keys() - refused
    assert not missing, (
        f"{len(missing)} refused packages are not on edoc.rejected: "
        f"{sample(stream.refused[d].damage + ':' + d[:12] for d in missing)}"
    )
    assert not twice, f"{len(twice)} refused packages kept more than once: {sample(twice.items())}"
    assert not wrongly, f"{len(wrongly)} valid packages ended on edoc.rejected: {sample(wrongly)}"


def assert_one_verdict_per_package(stream: MixedStream, out: RunOutput) -> None:
    """One committed verdict per package, the right one, naming the right inboxes."""
    verdicts = verdicts_by_package_sha256(out.events, only=stream.digests)
    missing = stream.digests - verdicts.keys()
    twice = {d: len(v) for d, v in verdicts.items() if len(v) > 1}
    assert not missing, f"{len(missing)} packages have no verdict: {sample(missing)}"
    assert not twice, f"{len(twice)} packages have several verdicts: {sample(twice.items())}"
    wrong: list[str] = []
    for sub in stream.submissions:
        digest = package_sha256(sub.raw)
        (event,) = verdicts[digest]
        if digest in stream.refused:
            refused = stream.refused[digest]
            if event["verdict"] != "rejected" or refused.reason not in event["reasons"]:
                wrong.append(f"{refused.damage} package: {event['verdict']} {event['reasons']}")
        else:
            doc = stream.valid[message_id_of(sub.raw)]
            inboxes = {wire.inbox(code) for code in doc.recipients}
            if event["verdict"] != "ok" or set(event["delivered_to"]) != inboxes:
                wrong.append(
                    f"valid {doc.message_id}: {event['verdict']} {event['reasons']} "
                    f"delivered_to={event['delivered_to']}"
                )
    assert not wrong, f"{len(wrong)} wrong verdicts: {sample(wrong)}"


def assert_exactly_once(stream: MixedStream, out: RunOutput, trouble: str | None = None) -> None:
    """The guarantees of the module docstring; then, that nothing else went wrong.

    ``trouble`` says what went wrong during the run, if anything (a stall, a
    crash): the output is checked all the same — the precise failure says what
    is missing or doubled — and the test fails either way.
    """
    try:
        assert_each_document_delivered_exactly_once(stream, out)
        assert_each_refusal_kept_exactly_once(stream, out)
        assert_one_verdict_per_package(stream, out)
    except AssertionError as exc:
        if trouble:
            raise AssertionError(f"{exc}\n(meanwhile: {trouble})") from None
        raise
    assert trouble is None, trouble


async def aborted_record_count(
    bootstrap: str, since: dict[TopicPartition, int], stream: MixedStream
) -> int:
    """Verdicts about our packages that were written but never committed (killed transactions).

    Not a guarantee, evidence: above zero, a kill interrupted a transaction that
    had already written records, and the checks show none of them leaked.
    """
    raw_out = await RunOutput.read(bootstrap, since, isolation="read_uncommitted")
    written = verdicts_by_package_sha256(raw_out.events, only=stream.digests)
    return sum(len(v) for v in written.values()) - len(stream.digests)


# -- driving the stream -------------------------------------------------------------------


class StreamDriver:
    """Submits the stream in bursts, paced by the router and gated by the test.

    * Flow control: it stays at most ``IN_FLIGHT`` packages ahead of the
      committed verdicts (soft: after ``STALL`` seconds it goes on regardless,
      so a router that loses packages cannot deadlock the test).
    * Gate: it never submits past ``limit``; the test raises it after each kill,
      so at every kill more of the stream is still to come.
    """

    def __init__(
        self,
        bootstrap: str,
        stream: MixedStream,
        committed: VerdictWatcher,
        *,
        limit: int = PACKAGES,
        request_timeout_ms: int = 30_000,
    ) -> None:
        self.bootstrap = bootstrap
        self.stream = stream
        self.committed = committed
        self.limit = limit
        self.request_timeout_ms = request_timeout_ms
        self._raised = asyncio.Condition()

    async def allow(self, upto: int) -> None:
        """Let the stream run up to position ``upto``."""
        async with self._raised:
            self.limit = max(self.limit, min(upto, PACKAGES))
            self._raised.notify_all()

    async def _before_burst(self, index: int) -> None:
        end = min((index + 1) * BURST, PACKAGES)
        async with asyncio.timeout(GATE_TIMEOUT), self._raised:
            await self._raised.wait_for(lambda: self.limit >= end)
        with contextlib.suppress(AssertionError):  # pacing only, never fatal
            await self.committed.wait_for(index * BURST - IN_FLIGHT, timeout=STALL, stall=STALL)

    async def run(self) -> None:
        """Submit everything (the gate permitting)."""
        await submit_packages(
            self.bootstrap,
            self.stream.submissions,
            burst=BURST,
            pause=BURST_PAUSE,
            before_burst=self._before_burst,
            request_timeout_ms=self.request_timeout_ms,
        )


async def finish(submitter: asyncio.Task[None]) -> None:
    """Cancel the submitter if it is still waiting; re-raise its error if it had one."""
    if not submitter.done():
        submitter.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await submitter


@pytest.fixture
def rng() -> random.Random:
    """A seeded generator; the seed is printed so a failing run can be replayed."""
    seed = int(os.environ.get("EDOC_TEST_SEED", str(random.randrange(2**32))))
    print(f"EDOC_TEST_SEED={seed}")
    return random.Random(seed)


def router_config(bootstrap: str, pki: DemoPKI, tmp_path: Path, name: str) -> RouterConfig:
    """A router instance of its own (group, transactional id, state dir) for one test."""
    instance = f"{name}-{uuid.uuid4().hex[:8]}"
    return RouterConfig(bootstrap, pki, instance, var_dir=tmp_path / "router-var", partitions=3)


# -- choosing the moment ------------------------------------------------------------------


@dataclass(frozen=True)
class Kill:
    """One SIGKILL: how its moment was chosen and how far the stream had got."""

    moment: str
    threshold: int
    decided_before: int
    aimed_state_seen: bool


async def kill_moment(
    style: str,
    rng: random.Random,
    committed: VerdictWatcher,
    written: VerdictWatcher,
    group: str,
) -> bool:
    """Wait for the moment to kill; True when the aimed-for state was seen.

    ``random``: a random instant within the next half second of routing.
    ``open-transaction``: as soon as a read_uncommitted reader (``written``)
    sees verdicts a read_committed one does not — the router has written part
    of a transaction and not committed it.
    ``output-ahead-of-input``: as soon as output exists for input the group has
    not acknowledged (the window where an at-least-once router duplicates).
    The last two fall back to ``random`` if the state does not show up in time.
    """
    if style == "open-transaction":
        pending_before = written.decided - committed.decided

        def transaction_open() -> bool:
            return bool(written.decided - committed.decided - pending_before)

        try:
            await written.wait_until(transaction_open, AIM_TIMEOUT, "no open transaction seen")
            return True
        except AssertionError:
            pass
    elif style == "output-ahead-of-input" and await wait_until_output_ahead_of_input(
        written.bootstrap, group, written, AIM_TIMEOUT
    ):
        return True
    await asyncio.sleep(rng.uniform(0.0, 0.5))  # the random instant itself, not a wait
    return False


# -- the tests ----------------------------------------------------------------------------


@pytest.mark.kafka
@pytest.mark.timeout(300)
async def test_router_killed_three_times_mid_stream_delivers_each_document_exactly_once(
    kafka_bootstrap: str,
    pki: DemoPKI,
    signed_package: PackageFactory,
    tmp_path: Path,
    rng: random.Random,
) -> None:
    """SIGKILL at three points of the stream, restart with the same transactional id.

    The points: stream positions drawn at random; at one a random instant, at
    one the moment a transaction is seen half-written, at one the moment output
    is seen for input not yet acknowledged (see ``kill_moment``). The stream is
    gated so that at each kill at least ``GATE`` more packages are still to come.
    """
    stream = build_mixed_stream(signed_package, pki, rng)
    config = router_config(kafka_bootstrap, pki, tmp_path, "kill")
    await create_hub_topics(config.settings(), AGENCIES)
    before = await end_offsets(kafka_bootstrap, WATCHED)
    router = RouterProcess(config, tmp_path / "logs")
    thresholds = sorted(rng.sample(range(RESENT_FROM + IN_FLIGHT, PACKAGES - RESENT - GATE), 3))
    styles = ["random", "open-transaction", "output-ahead-of-input"]
    rng.shuffle(styles)
    kills: list[Kill] = []
    stalled: str | None = None
    await router.start()
    try:
        async with (
            VerdictWatcher(kafka_bootstrap, stream.digests) as committed,
            VerdictWatcher(kafka_bootstrap, stream.digests, "read_uncommitted") as written,
        ):
            driver = StreamDriver(kafka_bootstrap, stream, committed, limit=thresholds[0] + GATE)
            submitter = asyncio.create_task(driver.run())
            try:
                for k, (threshold, style) in enumerate(zip(thresholds, styles, strict=True)):
                    # This incarnation is routing (past startup and group join) and
                    # the stream has reached the threshold …
                    assert router.started_at is not None
                    await committed.wait_for_decision_after(router.started_at, VERDICT_TIMEOUT)
                    await committed.wait_for(threshold, timeout=VERDICT_TIMEOUT, stall=STALL)
                    # … then the moment itself.
                    seen = await kill_moment(style, rng, committed, written, config.group)
                    assert router.alive(), f"router died on its own\n{router.log_tail()}"
                    await router.kill()
                    kills.append(Kill(style, threshold, len(committed.decided), seen))
                    await router.start()
                    nxt = thresholds[k + 1] + GATE if k + 1 < len(thresholds) else PACKAGES
                    await driver.allow(nxt)
                await committed.wait_for(PACKAGES, timeout=VERDICT_TIMEOUT, stall=STALL)
            except AssertionError as exc:
                stalled = f"the stream stalled: {exc}"  # the checks say what exactly is missing
            await finish(submitter)
        exit_code = await router.stop()
    finally:
        if router.alive():
            await router.kill()
    print(f"kills: {kills}")
    out = await RunOutput.read(kafka_bootstrap, before)
    assert_exactly_once(stream, out, stalled)
    aborted = await aborted_record_count(kafka_bootstrap, before, stream)
    print(f"verdicts written by transactions the kills aborted: {aborted}")
    assert exit_code == 0, f"router did not shut down cleanly on SIGTERM\n{router.log_tail()}"


@pytest.mark.kafka(own_broker=True)
@pytest.mark.timeout(300)
async def test_broker_restart_mid_stream_router_survives_and_delivers_exactly_once(
    pki: DemoPKI,
    signed_package: PackageFactory,
    tmp_path: Path,
    rng: random.Random,
) -> None:
    """The broker stops mid-stream and comes back (same data, same ports).

    Desired behaviour, asserted: the router keeps running through the outage
    and catches up on its own. If it exits instead, the test restarts it only
    to check the delivery guarantees too, and then fails on the crash.
    """
    kafka = make_test_broker(tmp_path / "kafka")
    try:
        await asyncio.to_thread(kafka.start)
    except EdocError as exc:
        broker_unavailable(exc.diagnostics())
    bootstrap = kafka.bootstrap
    stream = build_mixed_stream(signed_package, pki, rng)
    config = router_config(bootstrap, pki, tmp_path, "outage")
    router = RouterProcess(config, tmp_path / "logs")
    outage_at = rng.randrange(250, 500)
    crash: str | None = None
    stalled: str | None = None
    try:
        await create_hub_topics(config.settings(), AGENCIES)
        before = await end_offsets(bootstrap, WATCHED)
        await router.start()
        async with VerdictWatcher(bootstrap, stream.digests) as committed:
            # The submitter's own retries must outlast the outage (idempotent: no duplicates).
            driver = StreamDriver(
                bootstrap,
                stream,
                committed,
                limit=outage_at + GATE,
                request_timeout_ms=180_000,
            )
            submitter = asyncio.create_task(driver.run())
            try:
                await committed.wait_for(outage_at, timeout=VERDICT_TIMEOUT, stall=STALL)
                await asyncio.to_thread(kafka.stop)
                outage_started = datetime.now(UTC)
                await driver.allow(PACKAGES)  # the stream goes on: agencies keep sending
                await asyncio.sleep(OUTAGE_SECONDS)  # the outage itself, beyond stop and start
                await asyncio.to_thread(kafka.start)
                outage = (datetime.now(UTC) - outage_started).total_seconds()
                print(f"broker down {outage:.1f}s with {len(committed.decided)} packages decided")
                if not await until_decided_or_exited(committed, router, PACKAGES, VERDICT_TIMEOUT):
                    crash = (
                        f"the router exited (code {router.returncode}) when the broker went "
                        f"away instead of waiting for it\n{router.log_tail()}"
                    )
                    await router.start()  # only so the guarantees below can be checked too
                    await committed.wait_for(PACKAGES, timeout=VERDICT_TIMEOUT, stall=STALL)
            except AssertionError as exc:
                stalled = f"the stream stalled: {exc}"
            await finish(submitter)
        exit_code = await router.stop()
        out = await RunOutput.read(bootstrap, before)
        aborted = await aborted_record_count(bootstrap, before, stream)
        print(f"verdicts written by aborted transactions: {aborted}")
    finally:
        if router.alive():
            await router.kill()
        await asyncio.to_thread(kafka.stop)
    assert_exactly_once(stream, out, "; ".join(filter(None, (crash, stalled))) or None)
    assert exit_code == 0, f"router did not shut down cleanly on SIGTERM\n{router.log_tail()}"


@pytest.mark.kafka
@pytest.mark.timeout(300)
async def test_frozen_router_is_fenced_by_its_replacement_and_writes_nothing(
    kafka_bootstrap: str,
    pki: DemoPKI,
    signed_package: PackageFactory,
    tmp_path: Path,
    rng: random.Random,
) -> None:
    """A real zombie: frozen (SIGSTOP) mid-transaction, replaced, then woken up (SIGCONT).

    The replacement uses the same transactional id and so fences it: the woken
    router must not get a single record committed and must exit by itself.
    """
    stream = build_mixed_stream(signed_package, pki, rng)
    config = router_config(kafka_bootstrap, pki, tmp_path, "zombie")
    await create_hub_topics(config.settings(), AGENCIES)
    before = await end_offsets(kafka_bootstrap, WATCHED)
    zombie = RouterProcess(config, tmp_path / "logs", label="zombie")
    replacement = RouterProcess(config, tmp_path / "logs", label="replacement")
    freeze_at = rng.randrange(200, 400)
    zombie_exit: int | None = None
    stalled: str | None = None
    await zombie.start()
    try:
        async with (
            VerdictWatcher(kafka_bootstrap, stream.digests) as committed,
            VerdictWatcher(kafka_bootstrap, stream.digests, "read_uncommitted") as written,
        ):
            driver = StreamDriver(kafka_bootstrap, stream, committed, limit=freeze_at + GATE)
            submitter = asyncio.create_task(driver.run())
            try:
                await committed.wait_for(freeze_at, timeout=VERDICT_TIMEOUT, stall=STALL)
                await kill_moment("open-transaction", rng, committed, written, config.group)
                zombie.freeze()
                await replacement.start()
                await driver.allow(PACKAGES)
                assert replacement.started_at is not None
                await committed.wait_for_decision_after(replacement.started_at, VERDICT_TIMEOUT)
                zombie.thaw()
                try:
                    async with asyncio.timeout(60):
                        zombie_exit = await zombie.wait()
                except TimeoutError:
                    raise AssertionError(
                        f"the fenced router still runs a minute after waking up\n"
                        f"{zombie.log_tail()}"
                    ) from None
                await committed.wait_for(PACKAGES, timeout=VERDICT_TIMEOUT, stall=STALL)
            except AssertionError as exc:
                stalled = f"the stream stalled: {exc}"
            await finish(submitter)
        exit_code = await replacement.stop()
    finally:
        for router in (zombie, replacement):
            if router.alive():
                router.thaw()
                await router.kill()
    out = await RunOutput.read(kafka_bootstrap, before)
    assert_exactly_once(stream, out, stalled)
    assert zombie_exit != 0, f"the fenced router exited as if all was well\n{zombie.log_tail()}"
    assert exit_code == 0, f"router did not shut down cleanly on SIGTERM\n{replacement.log_tail()}"


@pytest.mark.kafka
@pytest.mark.timeout(300)
async def test_second_router_joining_and_leaving_the_group_mid_stream_duplicates_nothing(
    kafka_bootstrap: str,
    pki: DemoPKI,
    signed_package: PackageFactory,
    tmp_path: Path,
    rng: random.Random,
) -> None:
    """Scale out and back in, three times, while the stream flows.

    A second router (same consumer group and transactional id, as deployed:
    whoever is assigned partition p initialises ``<id>-p`` and so fences its
    previous owner) starts and later stops gracefully; every join and leave
    moves partitions between the two while both are routing. Nothing may be lost
    or routed twice.
    """
    stream = build_mixed_stream(signed_package, pki, rng)
    first = router_config(kafka_bootstrap, pki, tmp_path, "scale-a")
    second = dataclasses.replace(
        router_config(kafka_bootstrap, pki, tmp_path, "scale-b"), shared_group=first.group
    )
    await create_hub_topics(first.settings(), AGENCIES)
    before = await end_offsets(kafka_bootstrap, WATCHED)
    resident = RouterProcess(first, tmp_path / "logs", label="resident")
    visitor = RouterProcess(second, tmp_path / "logs", label="visitor")
    marks = sorted(rng.sample(range(RESENT_FROM + IN_FLIGHT, PACKAGES - RESENT - GATE), 6))
    stalled: str | None = None
    visits: list[tuple[int, int]] = []
    await resident.start()
    try:
        async with VerdictWatcher(kafka_bootstrap, stream.digests) as committed:
            driver = StreamDriver(kafka_bootstrap, stream, committed, limit=marks[0] + GATE)
            submitter = asyncio.create_task(driver.run())
            try:
                for k in range(0, len(marks), 2):
                    join_at, leave_at = marks[k], marks[k + 1]
                    await committed.wait_for(join_at, timeout=VERDICT_TIMEOUT, stall=STALL)
                    await visitor.start()
                    # Both are members (partitions moved), then the stream goes on.
                    await wait_for_stable_group(kafka_bootstrap, first.group, 2, VERDICT_TIMEOUT)
                    await driver.allow(leave_at + GATE)
                    await committed.wait_for(leave_at, timeout=VERDICT_TIMEOUT, stall=STALL)
                    visits.append((len(committed.decided), visitor.incarnation))
                    code = await visitor.stop()
                    assert code == 0, f"visitor exited {code}\n{visitor.log_tail()}"
                    nxt = marks[k + 2] + GATE if k + 2 < len(marks) else PACKAGES
                    await driver.allow(nxt)
                await committed.wait_for(PACKAGES, timeout=VERDICT_TIMEOUT, stall=STALL)
            except AssertionError as exc:
                stalled = f"the stream stalled: {exc}"
            await finish(submitter)
        exit_code = await resident.stop()
    finally:
        for router in (resident, visitor):
            if router.alive():
                await router.kill()
    print(f"visitor left at (decided, visit): {visits}")
    out = await RunOutput.read(kafka_bootstrap, before)
    assert_exactly_once(stream, out, stalled)
    assert exit_code == 0, f"router did not shut down cleanly on SIGTERM\n{resident.log_tail()}"
