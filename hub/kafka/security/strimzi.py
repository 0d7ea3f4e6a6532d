"""Strimzi resources generated from the directory: KafkaUsers with ACLs, KafkaTopics.

``edoc directory export --format strimzi`` prints these for ``kubectl apply -f -``.
The ACLs come from ``hub.kafka.security.acl`` — the same functions the live provisioner
(``hub.kafka.security.provision``) uses — so a Strimzi cluster and a cluster provisioned with
``edoc kafka provision`` grant the same rights; ``bindings_of_user`` reads a
KafkaUser back into bindings for that comparison.

Strimzi names a SCRAM user after its KafkaUser resource and creates its password
in a Secret of the same name (key ``password``); the operator hands that to the
agency. Resource names must be lower-case DNS names, hence the lower-case agency
user names, and ``spec.topicName`` for inbox topics (codes hold a capital).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import yaml

from hub.kafka.client import inbox_spec, topic_specs
from hub.kafka.security import acl as kafka_acl
from hub.kafka.security.acl import AclBinding, Operation, PatternType, ResourceType
from hub.settings import Settings
from schemas import wire
from schemas.directory import Agency

API_VERSION = "kafka.strimzi.io/v1beta2"
PART_OF = {"app.kubernetes.io/part-of": "edoc-hub"}

_RESOURCE = {
    ResourceType.TOPIC: "topic",
    ResourceType.GROUP: "group",
    ResourceType.CLUSTER: "cluster",
    ResourceType.TRANSACTIONAL_ID: "transactionalId",
}
_PATTERN = {PatternType.LITERAL: "literal", PatternType.PREFIXED: "prefix"}
_OPERATION = {
    Operation.ALL: "All",
    Operation.READ: "Read",
    Operation.WRITE: "Write",
    Operation.CREATE: "Create",
    Operation.DELETE: "Delete",
    Operation.ALTER: "Alter",
    Operation.DESCRIBE: "Describe",
    Operation.CLUSTER_ACTION: "ClusterAction",
    Operation.DESCRIBE_CONFIGS: "DescribeConfigs",
    Operation.ALTER_CONFIGS: "AlterConfigs",
    Operation.IDEMPOTENT_WRITE: "IdempotentWrite",
}


def strimzi_acls(bindings: Iterable[AclBinding]) -> list[dict[str, Any]]:
    """Strimzi ``spec.authorization.acls``: one rule per resource with its operations."""
    grouped: dict[tuple[ResourceType, str, PatternType, str], set[Operation]] = defaultdict(set)
    for b in bindings:
        grouped[(b.resource_type, b.name, b.pattern, b.host)].add(b.operation)
    rules = []
    for (rtype, name, pattern, host), ops in sorted(grouped.items()):
        resource: dict[str, Any] = {"type": _RESOURCE[rtype]}
        if rtype is not ResourceType.CLUSTER:
            resource |= {"name": name, "patternType": _PATTERN[pattern]}
        rules.append(
            {
                "resource": resource,
                "operations": [_OPERATION[o] for o in sorted(ops)],
                "host": host,
            }
        )
    return rules


def bindings_of_user(user: dict[str, Any]) -> list[AclBinding]:
    """The bindings a KafkaUser grants, as ``hub.kafka.security.acl`` bindings (export inverse)."""
    principal = kafka_acl.user(user["metadata"]["name"])
    rtypes = {v: k for k, v in _RESOURCE.items()}
    patterns = {v: k for k, v in _PATTERN.items()}
    ops = {v: k for k, v in _OPERATION.items()}
    out = []
    for rule in user["spec"].get("authorization", {}).get("acls", []):
        res = rule["resource"]
        rtype = rtypes[res["type"]]
        name = res.get("name", "kafka-cluster")
        pattern = patterns[res.get("patternType", "literal")]
        for op in rule["operations"]:
            out.append(AclBinding(principal, rtype, pattern, name, ops[op], host=rule["host"]))
    return sorted(out)


def _metadata(cluster: str, name: str, **annotations: str) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "labels": {"strimzi.io/cluster": cluster, **PART_OF},
    }
    if annotations:
        meta["annotations"] = annotations
    return meta


def kafka_user(
    cluster: str, name: str, bindings: list[AclBinding], **annotations: str
) -> dict[str, Any]:
    """One KafkaUser with SCRAM-SHA-512 and (when there are any) simple-authorizer ACLs."""
    spec: dict[str, Any] = {"authentication": {"type": "scram-sha-512"}}
    if bindings:
        spec["authorization"] = {"type": "simple", "acls": strimzi_acls(bindings)}
    return {
        "apiVersion": API_VERSION,
        "kind": "KafkaUser",
        "metadata": _metadata(cluster, name, **annotations),
        "spec": spec,
    }


def kafka_users(
    settings: Settings, agencies: Iterable[Agency], cluster: str
) -> list[dict[str, Any]]:
    """The super-user, every hub service, and every active agency but the hub itself."""
    users = [
        kafka_user(cluster, kafka_acl.ADMIN_USER, [], **{"edoc.bacgiang.vn/role": "super-user"}),
    ]
    for user, bindings in kafka_acl.all_service_acls(settings).items():
        users.append(kafka_user(cluster, user, bindings, **{"edoc.bacgiang.vn/role": "service"}))
    for a in sorted(agencies, key=lambda a: a.code):
        if a.active and a.code != settings.hub_code:
            users.append(
                kafka_user(
                    cluster,
                    wire.agency_user(a.code),
                    kafka_acl.agency_acls(a.code),
                    **{"edoc.bacgiang.vn/agency": a.code},
                )
            )
    return users


def _topic(
    cluster: str, name: str, partitions: int, replicas: int, config: dict[str, str]
) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "KafkaTopic",
        "metadata": _metadata(cluster, name.lower()),
        "spec": {
            "topicName": name,
            "partitions": partitions,
            "replicas": replicas,
            "config": dict(sorted(config.items())),
        },
    }


def kafka_topics(
    settings: Settings, agencies: Iterable[Agency], cluster: str
) -> list[dict[str, Any]]:
    """The hub's fixed topics and the inbox of every active agency, as the hub would create them."""
    specs = list(topic_specs(settings))
    specs += [
        inbox_spec(settings, a.code)
        for a in sorted(agencies, key=lambda a: a.code)
        if a.active and a.code != settings.hub_code
    ]
    return [
        _topic(cluster, s.name, s.num_partitions, s.replication_factor, s.topic_configs)
        for s in specs
    ]


def export(
    settings: Settings,
    agencies: Iterable[Agency],
    *,
    cluster: str = "edoc",
    namespace: str | None = None,
) -> str:
    """Multi-document YAML: KafkaTopics, then KafkaUsers (``kubectl apply -f -``)."""
    agencies = list(agencies)
    docs = kafka_topics(settings, agencies, cluster) + kafka_users(settings, agencies, cluster)
    if namespace:
        for doc in docs:
            doc["metadata"]["namespace"] = namespace
    header = (
        "# Generated by `edoc directory export --format strimzi` from the agency directory and\n"
        "# hub/kafka/security/acl.py; do not edit by hand. Inbox topics: "
        f"{wire.inbox('<code>')}; users: agency-<code>.\n"
    )
    return header + yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True, width=100)
