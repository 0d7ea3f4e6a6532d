"""HTTP webhook adapter: deliver an agency's inbox to its system's URL, accept what it sends.

``edoc connector http`` runs two things for one agency (docs/webhook.md):

* an ``InboxDeliverer`` — reads ``edoc.inbox.<code>`` (``read_committed``, the
  position kept by the consumer group ``agency-<code>.webhook``) and POSTs each
  package, byte for byte, to the agency system's URL, signed with an HMAC of a
  fresh timestamp, a nonce and the body (``X-Edoc-Signature-V2``, see
  ``sign_request``) and/or over mutual TLS. A failed
  delivery is retried with exponential backoff and jitter; after the last
  attempt the package is written to ``<state>/dead-letter/`` with a file stating
  why. The offset is committed only after a delivery succeeded or the package
  was dead-lettered, so nothing is lost — a crash re-delivers (at least once;
  the agency system de-duplicates by ``X-Edoc-Message-Id``).
* the local endpoint (``connectors.webhook_endpoint``) where the agency system
  posts documents and statuses that the adapter signs and submits.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import heapq
import hmac
import json
import logging
import os
import random
import re
import secrets
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError

from connectors.errors import HubUnreachableError, RequestRefused, WebhookError
from connectors.sdk import DEFAULT_MAX_RECORD, KafkaAuth
from schemas.errors import MalformedPackageError
from schemas.package import parse_package
from schemas.wire import INBOX_PREFIX, agency_group

log = logging.getLogger(__name__)

#: v1, deprecated: HMAC of the body alone (replayable). Sent on deliveries for old receivers;
#: the local endpoint no longer accepts it.
SIGNATURE_HEADER = "X-Edoc-Signature"
#: v2: HMAC of "<timestamp>.<nonce>." + body (docs/webhook.md, "Signatures").
SIGNATURE_V2_HEADER = "X-Edoc-Signature-V2"
TIMESTAMP_HEADER = "X-Edoc-Timestamp"
NONCE_HEADER = "X-Edoc-Nonce"
#: Largest difference between a request's timestamp and the receiver's clock, in seconds.
REPLAY_WINDOW_SECONDS = 300
#: Nonces the local endpoint remembers at most (about 250 bytes each).
MAX_NONCES = 100_000
MESSAGE_ID_HEADER = "X-Edoc-Message-Id"
KIND_HEADER = "X-Edoc-Kind"
#: Inbox topics have one partition (docs/router.md).
INBOX_PARTITION = 0
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_SIGNATURE = re.compile(r"sha256=[0-9a-f]{64}")


# -- HMAC ----------------------------------------------------------------------------------


def sign_body(secret: bytes, body: bytes) -> str:
    """The ``X-Edoc-Signature`` value for ``body``: ``sha256=`` + hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_ok(secret: bytes, body: bytes, header: str | None) -> bool:
    """True when ``header`` is the v1 signature of ``body`` (compared in constant time).

    Any text is answered, never an exception: ``hmac.compare_digest`` refuses non-ASCII
    ``str``, so the bytes are compared.
    """
    if header is None or not (value := header.strip().lower()).isascii():
        return False
    return hmac.compare_digest(value.encode(), sign_body(secret, body).encode())


def sign_request(
    secret: bytes, body: bytes, *, now: float | None = None, nonce: str | None = None
) -> dict[str, str]:
    """The v2 headers of one request: timestamp, nonce and ``sha256=`` + hex HMAC-SHA256 of
    ``"<timestamp>.<nonce>."`` followed by the body. Each attempt needs its own."""
    stamp = str(int(time.time() if now is None else now))
    nonce = nonce or secrets.token_hex(16)
    mac = hmac.new(secret, f"{stamp}.{nonce}.".encode() + body, hashlib.sha256).hexdigest()
    return {TIMESTAMP_HEADER: stamp, NONCE_HEADER: nonce, SIGNATURE_V2_HEADER: "sha256=" + mac}


class ReplayGuard:
    """Authenticates a request by its v2 headers, once: fresh timestamp, nonce never seen.

    A nonce is kept until its timestamp leaves the window (then a copy is stale
    anyway); only after its HMAC verified (only the secret's holders fill the
    memory), at most ``max_nonces`` (then 429, never an early forget). A restart
    forgets them all, so timestamps before the start are refused too.
    """

    def __init__(
        self,
        secret: bytes,
        *,
        window: int = REPLAY_WINDOW_SECONDS,
        max_nonces: int = MAX_NONCES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.secret = secret
        self.window = window
        self.max_nonces = max_nonces
        self.clock = clock
        self.started_at = int(clock())
        self._seen: set[str] = set()
        self._expiry: list[tuple[int, str]] = []  # heap of (forget after, nonce)

    def check(
        self, body: bytes, timestamp: str | None, nonce: str | None, signature: str | None
    ) -> None:
        """Return if the request is authentic and new, else raise ``RequestRefused``."""
        # 1. Three well-formed ASCII headers (bounded before anything is computed).
        stamp, once, mac = ((v or "").strip() for v in (timestamp, nonce, signature))
        mac = mac.lower()
        if not (
            _TIMESTAMP.fullmatch(stamp) and _NONCE.fullmatch(once) and _SIGNATURE.fullmatch(mac)
        ):
            raise _unauthenticated(
                f"{TIMESTAMP_HEADER} (Unix seconds), {NONCE_HEADER} (16-64 of A-Z a-z 0-9 _ -) "
                f"and {SIGNATURE_V2_HEADER} (sha256=<64 hex>) are required, once each"
            )
        # 2. The HMAC, in constant time.
        expected = sign_request(self.secret, body, now=int(stamp), nonce=once)
        if not hmac.compare_digest(mac.encode(), expected[SIGNATURE_V2_HEADER].encode()):
            raise _unauthenticated(f"wrong {SIGNATURE_V2_HEADER}")
        # 3. Fresh: within the window of this clock, and not signed before this process.
        now, at = int(self.clock()), int(stamp)
        if abs(now - at) > self.window or at < self.started_at:
            raise RequestRefused(
                401,
                "stale",
                f"{TIMESTAMP_HEADER} {at} is {at - now:+d} s from the adapter's clock ({now}); "
                f"accepted: within {self.window} s, and not before the adapter started "
                f"({self.started_at}). Sign again with the current time (keep clocks in sync)",
            )
        # 4. Never seen within the window.
        while self._expiry and self._expiry[0][0] < now:
            self._seen.discard(heapq.heappop(self._expiry)[1])
        if once in self._seen:
            raise RequestRefused(401, "replayed", f"{NONCE_HEADER} {once} was already used")
        if len(self._seen) >= self.max_nonces:
            raise RequestRefused(429, "busy", "too many requests in the replay window; retry")
        self._seen.add(once)
        heapq.heappush(self._expiry, (at + self.window, once))


def _unauthenticated(detail: str) -> RequestRefused:
    return RequestRefused(401, "unauthenticated", f"{detail} (docs/webhook.md, Signatures)")


# -- configuration -------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a delivery is retried."""

    max_attempts: int = 10
    base_seconds: float = 1.0
    max_seconds: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise WebhookError("max attempts must be at least 1", hint="e.g. --max-attempts 10")

    def delay(self, failed_attempts: int, retry_after: float | None = None) -> float:
        """Pause after ``failed_attempts`` failures: doubling, capped, with "equal jitter".

        Half the exponential step is kept and half is random, so adapters that
        failed together do not retry in lockstep, yet none retries too early.
        A server's ``Retry-After`` is honoured up to the cap.
        """
        step = min(self.max_seconds, self.base_seconds * 2.0 ** (failed_attempts - 1))
        pause = step / 2 + random.uniform(0, step / 2)  # noqa: S311 -- jitter, not crypto
        if retry_after is not None:
            pause = max(pause, min(retry_after, self.max_seconds))
        return pause


@dataclass(frozen=True)
class WebhookTarget:
    """The agency system's URL and how the adapter authenticates to it."""

    url: str
    secret: bytes | None = None
    #: Client certificate (PEM, may include the key) for mutual TLS, and its key.
    client_cert: Path | None = None
    client_key: Path | None = None
    #: CA bundle that the agency system's server certificate must chain to.
    ca: Path | None = None
    timeout: float = 30.0
    #: Also send the v1 ``X-Edoc-Signature`` (body only) for receivers not yet on v2.
    legacy_signature: bool = True

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise WebhookError(f"not an HTTP URL: {self.url!r}", hint="e.g. --url https://…")
        if self.secret is None and self.client_cert is None:
            raise WebhookError(
                "deliveries would be unauthenticated",
                hint="give --secret (HMAC) and/or --client-cert (mutual TLS)",
            )
        if self.client_cert is not None and not self.url.startswith("https://"):
            raise WebhookError("mutual TLS needs an https:// URL", hint=f"check --url {self.url}")

    def verify(self) -> ssl.SSLContext | bool:
        """TLS settings for httpx: the CA and client certificate, or the system defaults."""
        if self.ca is None and self.client_cert is None:
            return True
        try:
            ctx = ssl.create_default_context(cafile=str(self.ca) if self.ca else None)
            if self.client_cert is not None:
                key = str(self.client_key) if self.client_key else None
                ctx.load_cert_chain(str(self.client_cert), key)
        except (OSError, ssl.SSLError) as exc:
            raise WebhookError(
                f"cannot load TLS files: {exc}",
                hint="check --client-cert, --client-key and --ca (PEM files)",
            ) from None
        return ctx

    def client(self) -> httpx.AsyncClient:
        """An HTTP client for deliveries (redirects are not followed: a moved URL is an error)."""
        return httpx.AsyncClient(verify=self.verify(), timeout=self.timeout, follow_redirects=False)


# -- dead letters --------------------------------------------------------------------------


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old file or the whole new one."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


class DeadLetters:
    """``<state>/dead-letter/``: undeliverable packages, each beside a ``.reason.json``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, name: str, body: bytes, reason: dict[str, Any]) -> Path:
        """Store the package bytes, then the reason (its presence marks a complete entry)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            write_atomically(self.root / f"{name}.json", body)
            target = self.root / f"{name}.reason.json"
            text = json.dumps(reason, ensure_ascii=False, indent=1) + "\n"
            write_atomically(target, text.encode())
        except OSError as exc:
            # Without the file the offset must not move on: stop rather than lose it.
            raise WebhookError(
                f"cannot write the dead-letter folder {self.root}: {exc.strerror or exc}",
                hint="free space or fix permissions; the message will be delivered again",
            ) from None
        return target

    def reasons(self) -> list[dict[str, Any]]:
        """Every reason file, oldest offset first."""
        out = []
        for path in sorted(self.root.glob("*.reason.json")):
            reason: dict[str, Any] = json.loads(path.read_text())
            out.append(reason)
        return out


@contextlib.contextmanager
def state_lock(state_dir: Path) -> Iterator[None]:
    """Hold ``<state>/lock`` so a second adapter cannot run on the same state."""
    state_dir.mkdir(parents=True, exist_ok=True)
    fh: IO[str] = open(state_dir / "lock", "w")  # noqa: SIM115 -- held for the whole block
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WebhookError(
                f"another adapter is running with state directory {state_dir}",
                hint="stop it first, or give each agency its own --state-dir",
            ) from None
        yield
    finally:
        fh.close()


# -- delivery ------------------------------------------------------------------------------


@dataclass
class DeliveryStats:
    """What the deliverer did since it started."""

    delivered: int = 0
    dead_lettered: int = 0
    attempts: int = 0
    last_offset: int | None = None
    last_error: str | None = None


def _safe(value: str | None) -> str:
    """A value fit for an HTTP header and a file name (record headers are not validated)."""
    return _UNSAFE.sub("_", value or "unknown")[:64] or "unknown"


def _describe(rec: ConsumerRecord) -> tuple[str, str, str]:
    """Message id, kind and sender of a record (from the package, else the hub's headers)."""
    try:
        h = parse_package(rec.value).header
        return str(h.message_id), h.kind.value, h.sender
    except MalformedPackageError:
        # The router delivers only readable packages; still, deliver rather than stall.
        headers = {k: v.decode("utf-8", "replace") for k, v in rec.headers}
        return (
            _safe(headers.get("edoc-message-id")),
            _safe(headers.get("edoc-kind")),
            _safe(headers.get("edoc-from")),
        )


class InboxDeliverer:
    """Delivers one agency's inbox to its system, in order, at least once, never losing one."""

    def __init__(
        self,
        agency: str,
        bootstrap: str,
        target: WebhookTarget,
        state_dir: Path,
        *,
        policy: RetryPolicy | None = None,
        group_id: str | None = None,
        max_record_bytes: int = DEFAULT_MAX_RECORD,
        auth: KafkaAuth | None = None,
    ) -> None:
        self.agency = agency
        self.bootstrap = bootstrap
        self.auth = auth or KafkaAuth()
        self.target = target
        self.policy = policy or RetryPolicy()
        # Agency groups start with agency-<code>. (its Kafka ACLs allow no other).
        self.group_id = group_id or agency_group(agency, "webhook")
        self.max_record_bytes = max_record_bytes
        self.dead_letters = DeadLetters(state_dir / "dead-letter")
        self.stats = DeliveryStats()
        self.tp = TopicPartition(INBOX_PREFIX + agency, INBOX_PARTITION)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; a delivery in progress is abandoned, not committed."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            **self.auth.client_kwargs(),
            group_id=self.group_id,
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
            user = self.auth.username
            raise HubUnreachableError(self.bootstrap, str(exc), user=user) from None
        # Manual assignment: the group only keeps the position; the state-dir lock keeps a
        # second adapter away, and a long backoff never triggers a rebalance.
        consumer.assign([self.tp])
        log.info("delivering %s to %s (group %s)", self.tp.topic, self.target.url, self.group_id)
        try:
            async with self.target.client() as http:
                while not stop.is_set():
                    batch = await consumer.getmany(self.tp, timeout_ms=500, max_records=50)
                    for rec in batch.get(self.tp, []):
                        if not await self.handle(http, rec, stop):
                            return  # stopping: this record stays uncommitted
                        await self._commit(consumer, rec.offset + 1)
        finally:
            await consumer.stop()

    async def _commit(self, consumer: AIOKafkaConsumer, next_offset: int) -> None:
        try:
            await consumer.commit({self.tp: next_offset})
        except KafkaError as exc:
            # The next successful commit covers this one; a crash before it re-delivers.
            log.warning("commit of offset %d failed (%s); will be covered later", next_offset, exc)

    async def handle(
        self, http: httpx.AsyncClient, rec: ConsumerRecord, stop: asyncio.Event
    ) -> bool:
        """Deliver ``rec`` (retrying) or dead-letter it; False when stopped before either."""
        message_id, kind, sender = _describe(rec)
        body: bytes = rec.value
        headers = {
            "Content-Type": "application/json",
            MESSAGE_ID_HEADER: message_id,
            KIND_HEADER: kind,
            "X-Edoc-From": sender,
            "X-Edoc-Offset": str(rec.offset),
        }
        secret = self.target.secret
        if secret is not None and self.target.legacy_signature:
            headers[SIGNATURE_HEADER] = sign_body(secret, body)
        errors: list[str] = []
        first_at = datetime.now(UTC)
        for attempt in range(1, self.policy.max_attempts + 1):
            self.stats.attempts += 1
            fresh = sign_request(secret, body) if secret is not None else {}  # per attempt
            error, retry_after = await self._attempt(
                http, body, headers | fresh | {"X-Edoc-Attempt": str(attempt)}
            )
            if error is None:
                self.stats.delivered += 1
                self.stats.last_offset = rec.offset
                log.info(
                    "delivered %s %s (offset %d, attempt %d)", kind, message_id, rec.offset, attempt
                )
                return True
            errors.append(error)
            tries = f"{attempt}/{self.policy.max_attempts}"
            log.warning("delivery of %s failed (attempt %s): %s", message_id, tries, error)
            if attempt == self.policy.max_attempts:
                break
            pause = self.policy.delay(attempt, retry_after)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=pause)
            if stop.is_set():
                return False
        self.dead_letters.put(
            f"{rec.offset:012d}-{message_id}",
            body,
            {
                "message_id": message_id,
                "kind": kind,
                "from": sender,
                "topic": rec.topic,
                "offset": rec.offset,
                "url": self.target.url,
                "attempts": len(errors),
                "reason": f"not delivered after {len(errors)} attempts: {errors[-1]}",
                "errors": errors,
                "first_attempt_at": first_at.isoformat(),
                "dead_lettered_at": datetime.now(UTC).isoformat(),
            },
        )
        self.stats.dead_lettered += 1
        self.stats.last_offset = rec.offset
        self.stats.last_error = errors[-1]
        log.error("dead-lettered %s after %d attempts: %s", message_id, len(errors), errors[-1])
        return True

    async def _attempt(
        self, http: httpx.AsyncClient, body: bytes, headers: dict[str, str]
    ) -> tuple[str | None, float | None]:
        """One POST; (None, None) on a 2xx answer, else (what went wrong, Retry-After)."""
        try:
            async with http.stream("POST", self.target.url, content=body, headers=headers) as r:
                if r.is_success:
                    return None, None
                head = b""  # the start of the answer is enough to say what went wrong
                async for chunk in r.aiter_bytes():
                    head += chunk
                    if len(head) >= 200:
                        break
        except httpx.TimeoutException:
            return f"no answer within {self.target.timeout:g}s", None
        except (httpx.HTTPError, OSError) as exc:
            # With TLS 1.3 a refused client certificate surfaces as a bare ssl.SSLError
            # (an OSError) while reading the answer, not as an httpx error.
            return f"{type(exc).__name__}: {exc}", None
        retry_after = r.headers.get("retry-after", "").strip()
        text = head[:200].decode("utf-8", "replace").strip()
        return (
            f"HTTP {r.status_code}" + (f": {text}" if text else ""),
            float(retry_after) if re.fullmatch(r"[0-9]{1,9}", retry_after) else None,
        )
