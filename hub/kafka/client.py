"""Kafka client configuration and topic administration shared by the hub's services.

Limits follow one setting (``max_package_bytes``) so broker, producer and
consumer never disagree about how large a package may be.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.conn import collect_hosts, create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
    for_code,
)
from aiokafka.helpers import create_ssl_context

from hub.errors import BrokerUnavailableError, HubError, KafkaLoginRefused
from hub.settings import Settings
from schemas import wire
from schemas.errors import EdocError

log = logging.getLogger(__name__)


#: What Kafka raises when a login or an ACL refuses a client (docs/kafka-security.md).
ACCESS_DENIED = (
    AuthenticationFailedError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    GroupAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
    ClusterAuthorizationFailedError,
)
ACCESS_DENIED_HINT = (
    "check EDOC_KAFKA_USERNAME/EDOC_KAFKA_PASSWORD, and that `edoc kafka provision` gave this "
    "user the access it needs (docs/kafka-security.md lists each user's ACLs)"
)


def record_limit(settings: Settings) -> int:
    """Largest record the hub writes or reads: a package plus headroom for headers."""
    return wire.record_limit(settings.max_package_bytes)


def client_config(settings: Settings) -> dict[str, Any]:
    """Keyword arguments every aiokafka client of the hub starts from: bootstrap and security.

    The one place that turns the ``EDOC_KAFKA_*`` security settings into client options
    (producer, consumer and admin alike; docs/kafka-security.md). With the default
    PLAINTEXT it is just the bootstrap address. The password goes into the client and
    nowhere else: callers must never log the returned mapping.
    """
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol.startswith("SASL_"):
        if not settings.kafka_username or settings.kafka_password is None:
            raise HubError(
                f"EDOC_KAFKA_SECURITY_PROTOCOL is {settings.kafka_security_protocol} but no "
                "SCRAM credentials are configured",
                hint="set EDOC_KAFKA_USERNAME and EDOC_KAFKA_PASSWORD (see `edoc kafka provision`)",
            )
        config["sasl_mechanism"] = settings.kafka_sasl_mechanism
        config["sasl_plain_username"] = settings.kafka_username
        config["sasl_plain_password"] = settings.kafka_password.get_secret_value()
    if settings.kafka_security_protocol == "SASL_SSL":
        cafile = settings.kafka_ssl_cafile
        try:
            config["ssl_context"] = create_ssl_context(cafile=str(cafile) if cafile else None)
        except (OSError, ValueError) as exc:
            raise HubError(
                f"cannot load the Kafka CA bundle {cafile}: {exc}",
                hint="EDOC_KAFKA_SSL_CAFILE must name a readable PEM file",
            ) from None
    return config


#: What a broker answers to a refused SASL login (aiokafka raises it while connecting).
LOGIN_REFUSED = (SaslAuthenticationFailed, AuthenticationFailedError)


async def login_refusal(
    settings: Settings,
    bootstrap: str | None = None,
    timeout: float = 5.0,  # noqa: ASYNC109 -- a bound for the whole check, not a caller's deadline
) -> str | None:
    """Why the brokers refuse this process's SASL login, or None when they do not.

    aiokafka's clients report a refused login at start only as a failed bootstrap
    (``KafkaConnectionError: Unable to bootstrap``), the same as a broker that is
    down; the cause goes to a log line. This opens one connection with the same
    options (``bootstrap``, default ``EDOC_KAFKA_BOOTSTRAP``) to tell the two apart.
    None also when security is off or no broker answers within ``timeout`` seconds.
    """
    if not settings.kafka_security_protocol.startswith("SASL_"):
        return None
    config = client_config(settings)
    options = {k: v for k, v in config.items() if k != "bootstrap_servers"}
    try:
        hosts = collect_hosts(bootstrap or settings.kafka_bootstrap, randomize=False)
    except (KafkaError, ValueError):
        return None
    for host, port, _family in hosts:
        try:
            async with asyncio.timeout(timeout):
                conn = await create_conn(
                    host, port, request_timeout_ms=int(timeout * 1000), **options
                )
        except LOGIN_REFUSED as exc:  # the broker's own words when it gave any
            said = exc.args[0] if exc.args and isinstance(exc.args[0], str) else ""
            return said or type(exc).__name__
        except (OSError, KafkaError, TimeoutError):
            continue  # this address is down or unusable: try the next one
        with contextlib.suppress(Exception):
            conn.close()
        return None  # logged in: whatever failed, it was not the credentials
    return None


async def explain_unavailable(settings: Settings, error: EdocError) -> EdocError:
    """``KafkaLoginRefused`` when ``error`` (a failed bootstrap) was a refused login.

    Otherwise ``error`` itself. ``error`` may carry the address it tried
    (``.bootstrap``); the credentials are the settings'.
    """
    bootstrap = str(getattr(error, "bootstrap", "") or settings.kafka_bootstrap)
    try:
        refusal = await login_refusal(settings, bootstrap)
    except HubError:  # incomplete security settings: the original error stands
        return error
    if refusal is None:
        return error
    return KafkaLoginRefused(bootstrap, settings.kafka_username or "?", refusal)


#: A Kafka connection: a bare bootstrap address (PLAINTEXT) or a ``client_config()`` mapping.
KafkaClient = str | Mapping[str, Any]


def as_client_config(kafka: KafkaClient) -> dict[str, Any]:
    """``client_config``-style keyword arguments from either form of ``KafkaClient``."""
    if isinstance(kafka, str):
        return {"bootstrap_servers": kafka}
    return dict(kafka)


#: Producer batch size per partition: several documents per request to one inbox.
PRODUCER_BATCH_BYTES = 1024 * 1024


def producer_config(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``AIOKafkaProducer``."""
    return {
        **client_config(settings),
        "max_request_size": record_limit(settings),
        # aiokafka's default (16 KiB) is smaller than one document, so every inbox copy
        # would travel in a produce batch of its own (docs/performance.md).
        "max_batch_size": PRODUCER_BATCH_BYTES,
        "acks": "all",
        "enable_idempotence": True,
        "request_timeout_ms": 30_000,
    }


def consumer_config(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``AIOKafkaConsumer`` reading committed data only."""
    return {
        **client_config(settings),
        "isolation_level": "read_committed",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_partition_fetch_bytes": record_limit(settings),
        "fetch_max_bytes": record_limit(settings) * 2,
    }


def topic_specs(settings: Settings) -> list[NewTopic]:
    """The hub's fixed topics with their configuration."""
    common = {
        "max.message.bytes": str(record_limit(settings)),
        "retention.ms": str(settings.retention_days * 24 * 3600 * 1000),
    }
    parts = settings.topic_partitions
    rf = settings.topic_replication_factor
    return [
        # The broker stamps the receive time, so a sender cannot fake freshness.
        NewTopic(
            wire.SUBMIT,
            parts,
            rf,
            topic_configs={**common, "message.timestamp.type": "LogAppendTime"},
        ),
        NewTopic(wire.EVENTS, parts, rf, topic_configs=common),
        NewTopic(wire.REJECTED, parts, rf, topic_configs=common),
        # Checkpoints and the directory are kept forever (the latest per key for the directory).
        NewTopic(wire.CHECKPOINTS, 1, rf, topic_configs={"retention.ms": "-1"}),
        NewTopic(wire.DIRECTORY, 1, rf, topic_configs={"cleanup.policy": "compact"}),
        NewTopic(wire.OPERATIONS, 1, rf, topic_configs={"retention.ms": "-1"}),
        # Parked records wait for an operator's replay: kept until then, and beyond.
        NewTopic(
            wire.DEADLETTER,
            1,
            rf,
            topic_configs={"retention.ms": "-1", "max.message.bytes": str(record_limit(settings))},
        ),
    ]


def inbox_spec(settings: Settings, agency_code: str) -> NewTopic:
    """An agency's inbox topic (one partition keeps its documents in order)."""
    return NewTopic(
        wire.inbox(agency_code),
        1,
        settings.topic_replication_factor,
        topic_configs={
            "max.message.bytes": str(record_limit(settings)),
            "retention.ms": str(settings.retention_days * 24 * 3600 * 1000),
        },
    )


class TopicAdmin:
    """Creates topics once; remembers which exist so the hot path asks the broker rarely."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._admin: AIOKafkaAdminClient | None = None
        self._known: set[str] = set()

    async def start(self) -> None:
        """Connect and create the hub's fixed topics."""
        self._admin = AIOKafkaAdminClient(
            **client_config(self._settings), request_timeout_ms=15_000
        )
        try:
            await self._admin.start()
        except KafkaConnectionError as exc:
            raise BrokerUnavailableError(self._settings.kafka_bootstrap, str(exc)) from None
        self._known.update(await self._admin.list_topics())
        await self.ensure(topic_specs(self._settings))

    async def close(self) -> None:
        """Disconnect."""
        if self._admin is not None:
            await self._admin.close()
            self._admin = None

    async def ensure(self, specs: Iterable[NewTopic]) -> None:
        """Create those of ``specs`` that do not exist yet."""
        if self._admin is None:
            raise HubError("TopicAdmin used before start()")
        missing = [s for s in specs if s.name not in self._known]
        for spec in missing:
            response = await self._admin.create_topics([spec])
            for err in response.topic_errors:
                code = err[1]
                if code and code != TopicAlreadyExistsError.errno:
                    raise for_code(code)(
                        f"creating topic {err[0]}: {err[2] if len(err) > 2 else ''}"
                    )
            log.info("topic ready: %s", spec.name)
            self._known.add(spec.name)

    async def partitions(self, topic: str) -> list[int]:
        """Partition ids of ``topic`` (empty when it does not exist)."""
        if self._admin is None:
            raise HubError("TopicAdmin used before start()")
        described = await self._admin.describe_topics([topic])
        return sorted(
            p["partition"] for t in described if not t.get("error_code") for p in t["partitions"]
        )

    async def ensure_inboxes(self, agency_codes: Iterable[str]) -> None:
        """Create the inbox topics of these agencies."""
        await self.ensure(inbox_spec(self._settings, c) for c in agency_codes)


async def ensure_hub_topics(settings: Settings) -> None:
    """Create the hub's fixed topics that are missing, with their configuration.

    Every service that writes to one (``edoc.deadletter`` included) calls it at start,
    so nothing is auto-created by the broker with default limits.
    """
    admin = TopicAdmin(settings)
    try:
        await admin.start()
    finally:
        await admin.close()
