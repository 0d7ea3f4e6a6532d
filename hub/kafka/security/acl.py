"""Who may do what on Kafka: the one source of the hub's principals and their ACLs.

Both the live provisioning (``hub.kafka.security.provision``, ``edoc kafka provision``) and the
Strimzi export (``hub.kafka.security.strimzi``, ``edoc directory export --format strimzi``) are
built from the functions here, so a cluster configured either way grants exactly
the same rights (``tests/deploy`` checks it against a real broker).

Principals (SCRAM user names; docs/kafka-security.md):

=====================  ==========================================================
``edoc-admin``         super-user: creates topics, users and ACLs; publishes the directory
``edoc-router``        reads ``edoc.submit``, writes inboxes, events and rejections
``edoc-audit``         reads ``edoc.events``, writes ``edoc.checkpoints``
``edoc-coverage``      reads ``edoc.events`` and ``edoc.directory``
``edoc-lifecycle``     reads ``edoc.events``
``edoc-api``           console, auditor API and HTTP gateway
``edoc-hub``           all of the above in one process (``edoc serve`` without ``--only``)
``agency-<code>``      one per active agency (code in lower case): writes ``edoc.submit``,
                       reads its own inbox, consumer groups ``agency-<code>.*``
=====================  ==========================================================

Every binding allows; nothing is granted by default (``allow.everyone.if.no.acl.found``
stays false), so what is not listed here is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from hub.settings import Settings
from schemas import wire
from schemas.wire import agency_group_prefix, agency_user


class ResourceType(IntEnum):
    """Kafka's resource type codes (``org.apache.kafka.common.resource.ResourceType``)."""

    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5


class PatternType(IntEnum):
    """How a binding's resource name matches (``PatternType``)."""

    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    """ACL operations (``org.apache.kafka.common.acl.AclOperation``)."""

    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12


class Permission(IntEnum):
    """ACL permission types (``AclPermissionType``)."""

    ANY = 1
    DENY = 2
    ALLOW = 3


#: The super-user that provisions everything else (``super.users`` of the broker).
ADMIN_USER = "edoc-admin"
#: Hub services that run under a principal of their own, and the all-in-one principal.
HUB_SERVICES = ("router", "audit", "coverage", "lifecycle", "api")
ALL_IN_ONE = "hub"
#: Console transactional ids start with this (hub.ops.rejected).
CONSOLE_TRANSACTIONAL_PREFIX = "edoc-console-"


@dataclass(frozen=True, order=True)
class AclBinding:
    """One allow rule: ``principal`` may do ``operation`` on a resource, from any host."""

    principal: str  # "User:<name>"
    resource_type: ResourceType
    pattern: PatternType
    name: str
    operation: Operation
    permission: Permission = Permission.ALLOW
    host: str = "*"

    def describe(self) -> str:
        """One readable line, e.g. ``User:x READ topic edoc.events (literal)``."""
        return (
            f"{self.principal} {self.operation.name} {self.resource_type.name.lower()} "
            f"{self.name} ({self.pattern.name.lower()})"
        )


def user(name: str) -> str:
    """The Kafka principal of a SCRAM user name."""
    return f"User:{name}"


def service_user(service: str) -> str:
    """SCRAM user name of a hub service (``router`` → ``edoc-router``)."""
    if service not in (*HUB_SERVICES, ALL_IN_ONE):
        raise ValueError(f"unknown hub service {service!r}")
    return f"edoc-{service}"


def _bindings(
    principal: str,
    resource: ResourceType,
    name: str,
    *operations: Operation,
    pattern: PatternType = PatternType.LITERAL,
) -> list[AclBinding]:
    return [AclBinding(principal, resource, pattern, name, op) for op in operations]


def agency_acls(code: str) -> list[AclBinding]:
    """An agency: submit, read its own inbox, keep positions in its own groups. Nothing else.

    Kafka cannot restrict the record key or the header's ``from``, so WRITE on
    ``edoc.submit`` lets the agency *claim* any sender; the router refuses such a
    package because the signing certificate's organizationIdentifier must equal
    ``from`` (``sender_mismatch``; docs/kafka-security.md).
    """
    p = user(agency_user(code))
    T, G = ResourceType.TOPIC, ResourceType.GROUP
    return sorted(
        _bindings(p, T, wire.SUBMIT, Operation.WRITE)
        + _bindings(p, T, wire.inbox(code), Operation.READ, Operation.DESCRIBE)
        + _bindings(p, G, agency_group_prefix(code), Operation.READ, pattern=PatternType.PREFIXED)
    )


def _service_groups(settings: Settings) -> list[str]:
    """Every ``*_group`` setting: the consumer groups of the hub's services."""
    out = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if name.endswith("_group") and isinstance(value, str) and value:
            out.append(value)
    return sorted(set(out))


def service_acls(settings: Settings, service: str) -> list[AclBinding]:
    """The least-privilege bindings of one hub service (or ``hub``: all of them)."""
    p = user(service_user(service))
    if service == ALL_IN_ONE:
        merged = {
            AclBinding(p, b.resource_type, b.pattern, b.name, b.operation, b.permission, b.host)
            for s in HUB_SERVICES
            for b in service_acls(settings, s)
        }
        return sorted(merged)
    T, G, TX = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.TRANSACTIONAL_ID
    R, W, C, D = Operation.READ, Operation.WRITE, Operation.CREATE, Operation.DESCRIBE
    prefixed = PatternType.PREFIXED
    # Every service may see the metadata of the hub's topics: TopicAdmin lists them at
    # start and creates only those it cannot see.
    out = _bindings(p, T, "edoc.", D, pattern=prefixed)
    if service == "router":
        out += _bindings(p, T, wire.SUBMIT, R)
        out += _bindings(p, T, wire.EVENTS, R, W)  # reads its own verdicts for duplicates
        out += _bindings(p, T, wire.REJECTED, W)
        out += _bindings(p, T, wire.DIRECTORY, R)
        out += _bindings(p, T, wire.inbox(""), W, C, pattern=prefixed)
        out += _bindings(p, G, settings.router_group, R)
        # Router instances' transactional ids start with the router group's name.
        out += _bindings(p, TX, settings.router_group, W, pattern=prefixed)
    elif service == "audit":
        out += _bindings(p, T, wire.EVENTS, R)
        out += _bindings(p, T, wire.CHECKPOINTS, W)
        out += _bindings(p, T, wire.DEADLETTER, W)  # parks what it cannot record
        out += _bindings(p, G, settings.audit_group, R)
    elif service == "coverage":
        out += _bindings(p, T, wire.EVENTS, R)
        out += _bindings(p, T, wire.DIRECTORY, R)
        out += _bindings(p, T, wire.DEADLETTER, W)
        out += _bindings(p, G, settings.coverage_group, R)
    elif service == "lifecycle":
        out += _bindings(p, T, wire.EVENTS, R)
        out += _bindings(p, T, wire.DEADLETTER, W)
        out += _bindings(p, G, settings.lifecycle_group, R)
    else:  # api: console, auditor API, HTTP gateway
        out += _bindings(p, T, wire.EVENTS, R)
        out += _bindings(p, T, wire.REJECTED, R)
        out += _bindings(p, T, wire.OPERATIONS, R, W)
        out += _bindings(p, T, wire.DEADLETTER, R)  # the console shows parked records
        out += _bindings(p, T, wire.SUBMIT, W)  # gateway and reprocessing
        out += _bindings(p, T, wire.inbox(""), R, pattern=prefixed)  # gateway inbox reads
        out += _bindings(p, G, settings.gateway_group_prefix, R, pattern=prefixed)
        for group in _service_groups(settings):  # consumer lag on the dashboard
            out += _bindings(p, G, group, D)
        out += _bindings(p, TX, CONSOLE_TRANSACTIONAL_PREFIX, W, pattern=prefixed)
    return sorted(set(out))


def all_service_acls(settings: Settings) -> dict[str, list[AclBinding]]:
    """``{user name: bindings}`` for every hub service and the all-in-one principal."""
    return {service_user(s): service_acls(settings, s) for s in (*HUB_SERVICES, ALL_IN_ONE)}


def principals_of(bindings: Iterable[AclBinding]) -> set[str]:
    """The distinct principals named by ``bindings``."""
    return {b.principal for b in bindings}
