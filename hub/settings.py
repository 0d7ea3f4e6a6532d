"""The one place that reads the environment: every setting is ``EDOC_<NAME>``.

Documented for operators in docs/configuration.md.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.wire import DEFAULT_MAX_PACKAGE_BYTES

#: Repository root when running from a checkout (deploy/ and .var/ live there).
REPO_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    """Hub configuration, read from ``EDOC_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="EDOC_", extra="ignore")

    kafka_bootstrap: str = Field(
        default="127.0.0.1:19092", description="Kafka bootstrap servers, comma-separated"
    )
    var_dir: Path = Field(
        default=REPO_ROOT / ".var", description="state and data of local services (git-ignored)"
    )
    local_kafka_port: int = Field(default=19092, description="client port of the local broker")
    local_kafka_controller_port: int = Field(
        default=19093, description="KRaft controller port of the local broker"
    )
    kafka_deploy_dir: Path = Field(
        default=REPO_ROOT / "deploy" / "kafka",
        description="pom.xml, server.properties template and log4j2 config of the local broker",
    )
    max_package_bytes: int = Field(
        default=DEFAULT_MAX_PACKAGE_BYTES,
        description="largest package accepted; broker, producer and consumer limits follow it",
    )
    trust_anchors: list[Path] = Field(
        default_factory=list, description="PEM files or directories of trusted root CAs"
    )
    crls: list[Path] = Field(default_factory=list, description="PEM/DER CRL files or directories")
    freshness_seconds: int = Field(
        default=900, description="how far sent_at may be from the time the hub received a package"
    )
    clock_skew_seconds: int = Field(
        default=300, description="tolerance when checking certificate validity at sent_at"
    )
    topic_partitions: int = Field(default=3, description="partitions of topics the hub creates")
    router_group: str = Field(default="edoc-router", description="consumer group of the router")
    router_transactional_id: str = Field(
        default="edoc-router-1",
        description="prefix of the router's transactional ids (one per edoc.submit partition); "
        "the same in every router of the group",
    )
    router_batch_size: int = Field(
        default=200, description="most packages the router handles in one transaction"
    )
    hub_code: str = Field(
        default="000.00.99.H49",
        description="agency code of the hub itself: sender of receipts, organizationIdentifier "
        "of the hub certificate",
    )
    hub_key: Path | None = Field(
        default=None, description="the hub's private key (PEM) for signing receipts"
    )
    hub_cert: Path | None = Field(
        default=None, description="the hub's certificate chain (PEM, leaf first)"
    )
    directory_file: Path = Field(
        default=REPO_ROOT / "hub" / "data" / "directory-bac-giang.json",
        description="agency directory loaded at start (docs/directory.md); "
        "`edoc directory import` adds to it at run time",
    )
    dedup_window_days: int = Field(
        default=30, description="how long an accepted message_id is remembered as a duplicate"
    )
    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{REPO_ROOT / '.var' / 'edoc.db'}",
        description="SQLAlchemy URL: sqlite+aiosqlite:///PATH (default) or "
        "postgresql+asyncpg://USER:PASS@HOST/DB",
    )
    database_app_role: str | None = Field(
        default=None,
        description="PostgreSQL role the services run as; migrations grant it only SELECT and "
        "INSERT on the log tables",
    )
    log_origin: str = Field(
        default="bacgiang.edoc-hub/signature-log",
        description="name of the signature log, the first line of every checkpoint",
    )
    checkpoint_every_entries: int = Field(
        default=1000, description="sign a checkpoint after this many new log entries"
    )
    checkpoint_every_seconds: float = Field(
        default=60.0, description="…or after this many seconds when the log has grown"
    )
    api_host: str = Field(default="127.0.0.1", description="address the HTTP API listens on")
    api_port: int = Field(default=8080, description="port of the HTTP API")
    audit_group: str = Field(default="edoc-audit", description="consumer group of the recorder")
    retention_days: int = Field(
        default=30, description="retention of submit, inbox, events and rejected topics"
    )
    coverage_group: str = Field(
        default="edoc-coverage", description="consumer group of the coverage service"
    )
    coverage_timezone: str = Field(
        default="Asia/Ho_Chi_Minh",
        description="IANA time zone whose calendar days and months coverage counts in",
    )
    gateway_group_prefix: str = Field(
        default="edoc-gateway-",
        description="prefix of the consumer group (plus the agency code) that keeps an agency's "
        "acknowledged position in the HTTP gateway",
    )
    gateway_kafka_timeout_seconds: float = Field(
        default=10.0, description="how long the HTTP gateway waits for Kafka before answering 503"
    )
    webhook_max_attempts: int = Field(
        default=10,
        description="`edoc connector http`: deliveries tried before a message is dead-lettered",
    )
    webhook_timeout_seconds: float = Field(
        default=30.0, description="`edoc connector http`: timeout of one delivery request"
    )
    webhook_backoff_seconds: float = Field(
        default=1.0, description="`edoc connector http`: pause after the first failed delivery"
    )
    webhook_backoff_max_seconds: float = Field(
        default=300.0, description="`edoc connector http`: longest pause between two deliveries"
    )

    lifecycle_group: str = Field(
        default="edoc-lifecycle", description="consumer group of the status-lifecycle service"
    )
    overdue_hours: float = Field(
        default=8.0,
        description="a delivered document without status 03 or later after this long is overdue",
    )

    console_secret: SecretStr | None = Field(
        default=None,
        description="key that signs console session cookies (32+ random bytes); unset: a random "
        "key per process, so sessions end when the API restarts",
    )
    console_session_minutes: int = Field(
        default=480, description="how long a console sign-in lasts before signing in again"
    )
    console_secure_cookies: bool = Field(
        default=False,
        description="mark console cookies Secure (set it when the console is served over HTTPS)",
    )
    monitor_history_minutes: int = Field(
        default=60,
        description="how far back in edoc.events the console's monitor reads when it starts",
    )
    monitor_poll_seconds: float = Field(
        default=5.0,
        description="how often the monitor refreshes consumer lag, broker and database health",
    )
    xmldsig_allow_sha1: bool = Field(
        default=False,
        description="accept RSA-SHA1/SHA-1 XML signatures of deployed edXML systems, reported "
        "as a weak_algorithm warning (refused when false)",
    )

    # -- Kafka security (docs/kafka-security.md); off by default ---------------------------
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT",
        description="how clients talk to Kafka: PLAINTEXT, SASL_PLAINTEXT (loopback and tests "
        "only) or SASL_SSL (production)",
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = Field(
        default="SCRAM-SHA-512", description="SASL mechanism when the protocol is SASL_*"
    )
    kafka_username: str | None = Field(
        default=None,
        description="SCRAM user (Kafka principal) this process authenticates as, e.g. "
        "edoc-router or agency-000.00.01.h49",
    )
    kafka_password: SecretStr | None = Field(
        default=None, description="password of EDOC_KAFKA_USERNAME (never logged)"
    )
    kafka_ssl_cafile: Path | None = Field(
        default=None,
        description="PEM CA bundle that signed the brokers' certificates (SASL_SSL); unset: "
        "the system's CAs",
    )
    local_kafka_secure: bool = Field(
        default=False,
        description="`edoc local kafka start` runs the broker with SASL_PLAINTEXT, SCRAM-SHA-512 "
        "and ACLs (same as --secure)",
    )
    local_kafka_version: str | None = Field(
        default=None,
        description="Kafka version of the local broker's jars (same as --kafka-version); unset: "
        "kafka.version in deploy/kafka/pom.xml",
    )
    topic_replication_factor: int = Field(
        default=1,
        ge=1,
        description="replicas of the topics the hub creates (3 on a production cluster)",
    )
    health_port: int | None = Field(
        default=None,
        description="`edoc serve` without the api: serve /healthz and /readyz on this port "
        "(containers, Kubernetes probes)",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings (read once from the environment)."""
    return Settings()
