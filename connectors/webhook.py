"""HTTP webhook adapter: deliver an agency's inbox to its system's URL, accept what it sends.

``edoc connector http`` runs two things for one agency (docs/webhook.md):

* an ``InboxDeliverer`` — reads ``edoc.inbox.<code>`` (``read_committed``, the
  position kept by the consumer group ``agency-<code>.webhook``) and POSTs each
  package, byte for byte, to the agency system's URL, signed with an HMAC of the
  body (``X-Edoc-Signature: sha256=<hex>``) and/or over mutual TLS. A failed
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
import hmac
import json
import logging
import os
import random
import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError

from connectors.errors import HubUnreachableError, WebhookError
from connectors.sdk import DEFAULT_MAX_RECORD, INBOX_PREFIX, KafkaAuth, agency_group
from schemas.errors import MalformedPackageError
from schemas.package import parse_package

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Edoc-Signature"
MESSAGE_ID_HEADER = "X-Edoc-Message-Id"
KIND_HEADER = "X-Edoc-Kind"
#: Inbox topics have one partition (docs/router.md).
INBOX_PARTITION = 0
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


# -- HMAC ----------------------------------------------------------------------------------


def sign_body(secret: bytes, body: bytes) -> str:
    """The ``X-Edoc-Signature`` value for ``body``: ``sha256=`` + hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_ok(secret: bytes, body: bytes, header: str | None) -> bool:
    """True when ``header`` is the signature of ``body`` (compared in constant time)."""
    return header is not None and hmac.compare_digest(header.strip(), sign_body(secret, body))


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
        if self.target.secret is not None:
            headers[SIGNATURE_HEADER] = sign_body(self.target.secret, body)
        errors: list[str] = []
        first_at = datetime.now(UTC)
        for attempt in range(1, self.policy.max_attempts + 1):
            self.stats.attempts += 1
            error, retry_after = await self._attempt(
                http, body, headers | {"X-Edoc-Attempt": str(attempt)}
            )
            if error is None:
                self.stats.delivered += 1
                self.stats.last_offset = rec.offset
                log.info(
                    "delivered %s %s (offset %d, attempt %d)", kind, message_id, rec.offset, attempt
                )
                return True
            errors.append(error)
            log.warning(
                "delivery of %s failed (attempt %d/%d): %s",
                message_id,
                attempt,
                self.policy.max_attempts,
                error,
            )
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
            response = await http.post(self.target.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return f"no answer within {self.target.timeout:g}s", None
        except (httpx.HTTPError, OSError) as exc:
            # With TLS 1.3 a refused client certificate surfaces as a bare ssl.SSLError
            # (an OSError) while reading the answer, not as an httpx error.
            return f"{type(exc).__name__}: {exc}", None
        if response.is_success:
            return None, None
        retry_after = response.headers.get("retry-after", "")
        text = response.text[:200].strip()
        return (
            f"HTTP {response.status_code}" + (f": {text}" if text else ""),
            float(retry_after) if retry_after.isdigit() else None,
        )
