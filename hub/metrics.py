"""Prometheus metrics of the hub (``GET /metrics``, docs/console.md).

Two kinds of collectors:

* process-wide ones in prometheus-client's default registry, observed where
  the work happens — the router's verification time per package
  (``edoc_verification_seconds``) — and visible in ``/metrics`` when the router
  runs in the API's process (the default ``edoc serve``);
* per-application ones (``OpsMetrics``) in a registry owned by one ASGI app,
  fed by its monitor: verdicts and reasons seen on ``edoc.events``, end-to-end
  latency, consumer lag, broker and database reachability, log size and
  checkpoint age. A registry per app lets tests build several apps in one process.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

#: Exposition content type of ``/metrics``.
CONTENT_TYPE = CONTENT_TYPE_LATEST

#: Buckets for verification time: signature checks take well under a millisecond to a
#: few tens of milliseconds; a CRL fetch or a large attachment can take longer.
VERIFY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
#: Buckets for submit → decision time: batching and transactions add up to seconds.
E2E_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

#: Router: wall time of ``Router.decide`` for one package (verify + routing checks + receipt).
VERIFICATION_SECONDS = Histogram(
    "edoc_verification_seconds",
    "Time the router spent deciding on one package (signature verification and routing checks)",
    ["verdict"],
    buckets=VERIFY_BUCKETS,
    registry=REGISTRY,
)


#: Every service: records parked on edoc.deadletter (hub.kafka.guard).
PARKED = Counter(
    "edoc_deadletter_parked",
    "Records a service could not process, parked on edoc.deadletter",
    ["service", "topic"],
    registry=REGISTRY,
)
#: Readers without a consumer group (the directory follower): records they skip. Such a
#: reader reads its topic whole at every start, so parking would park the same record again.
IGNORED = Counter(
    "edoc_records_ignored",
    "Invalid records skipped by a reader that re-reads its topic at every start",
    ["topic"],
    registry=REGISTRY,
)
#: Every service: retries after a transient failure (broker or database unavailable).
TRANSIENT_RETRIES = Counter(
    "edoc_transient_retries",
    "Work retried because the broker or the database was unavailable",
    ["service"],
    registry=REGISTRY,
)
#: Router: packages refused as ``unprocessable`` because deciding on them failed.
UNPROCESSABLE = Counter(
    "edoc_router_unprocessable",
    "Packages the router could not decide on (refused as unprocessable)",
    registry=REGISTRY,
)
#: ``edoc serve``: 1 while a service runs, 0 while it is being (re)started.
SERVICE_UP = Gauge(
    "edoc_service_up", "1 while the service runs in this process", ["service"], registry=REGISTRY
)
#: ``edoc serve``: restarts of a service after it failed.
SERVICE_RESTARTS = Counter(
    "edoc_service_restarts",
    "Times a service was restarted after it failed",
    ["service"],
    registry=REGISTRY,
)


def observe_decision(verdict: str, seconds: float) -> None:
    """Record one router decision (called by ``hub.router.service``)."""
    VERIFICATION_SECONDS.labels(verdict=verdict).observe(seconds)


class OpsMetrics:
    """The collectors one API app exposes, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.verdicts = Counter(
            "edoc_verdicts", "Verdict events seen on edoc.events", ["verdict", "kind"], registry=r
        )
        self.rejections = Counter(
            "edoc_rejections",
            "Refused packages by reason code (a package with two reasons counts in both)",
            ["reason"],
            registry=r,
        )
        self.end_to_end = Histogram(
            "edoc_end_to_end_seconds",
            "Time from the broker receiving a package to the router's decision "
            "(received_at → decided_at of the verdict event)",
            buckets=E2E_BUCKETS,
            registry=r,
        )
        self.consumer_lag = Gauge(
            "edoc_consumer_lag",
            "Records not yet consumed by a consumer group (end offset − committed offset)",
            ["group", "topic", "partition"],
            registry=r,
        )
        self.broker_up = Gauge("edoc_broker_up", "1 when the Kafka broker answers", registry=r)
        self.database_up = Gauge("edoc_database_up", "1 when the database answers", registry=r)
        self.log_entries = Gauge(
            "edoc_log_entries", "Entries in the signature log (tree size)", registry=r
        )
        self.checkpoint_size = Gauge(
            "edoc_checkpoint_tree_size", "Tree size of the latest signed checkpoint", registry=r
        )
        self.checkpoint_age = Gauge(
            "edoc_checkpoint_age_seconds",
            "Seconds since the latest signed checkpoint (absent before the first)",
            registry=r,
        )
        self.uncheckpointed = Gauge(
            "edoc_log_entries_uncheckpointed",
            "Log entries not yet covered by a signed checkpoint",
            registry=r,
        )
        self.monitor_last_event = Gauge(
            "edoc_monitor_last_event_timestamp_seconds",
            "Decision time of the newest verdict event the monitor has seen (Unix time)",
            registry=r,
        )
        self.reprocessed = Counter(
            "edoc_reprocessed", "Rejected packages submitted again by an operator", registry=r
        )

    def set_lag(self, rows: list[tuple[str, str, int, int]]) -> None:
        """Replace every lag sample with ``rows`` of (group, topic, partition, lag)."""
        self.consumer_lag.clear()
        for group, topic, partition, lag in rows:
            self.consumer_lag.labels(group=group, topic=topic, partition=str(partition)).set(lag)

    def render(self) -> bytes:
        """This app's metrics followed by the process-wide ones (router, Python process)."""
        return generate_latest(self.registry) + generate_latest(REGISTRY)
