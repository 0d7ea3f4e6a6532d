"""deploy/ checked without a cluster or Docker: YAML, Kubernetes and Strimzi schemas, compose spec.

- every YAML file under deploy/ parses;
- Kubernetes objects validate strictly (unknown fields refused) against the schemas
  that ``kubernetes-validate`` ships; Strimzi resources against the CRD schemas
  generated from Strimzi's own model (tests/deploy/strimzi_schemas.py);
- the compose file validates against the compose specification's JSON schema
  (vendored by check-jsonschema, Apache-2.0);
- the generated ``kafka-access.yaml`` is what ``edoc directory export`` makes now, so the
  KafkaUser ACLs are those the live provisioner grants (the same ``hub.kafka.security.acl``;
  tests/hub/kafka/test_security.py compares them with a real broker's);
- the wiring agrees: every Deployment's Kafka user is a KafkaUser, every compose
  service reads the credentials of its own user, the image runs as non-root.
"""

from __future__ import annotations

import json
import re
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs installed
import pytest
import yaml
from kubernetes_validate import utils as k8s  # type: ignore[import-untyped]  # ships no types

from hub.directory import load_directory_file
from hub.kafka.security import acl as kafka_acl
from hub.kafka.security.strimzi import bindings_of_user, export
from hub.settings import REPO_ROOT, Settings
from schemas import wire
from tests.deploy.strimzi_schemas import schema_of

DEPLOY = REPO_ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
#: The settings deploy/k8s/kafka-access.yaml was generated with (kustomization.yaml says so).
EXPORT_SETTINGS = {"topic_partitions": 6, "topic_replication_factor": 3}
STRIMZI_KINDS = {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser"}


def yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))


def k8s_objects() -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        out += [(path, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return out


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_parses(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs, f"{path} is empty"


def test_kubernetes_objects_validate_strictly() -> None:
    checked = 0
    for path, obj in k8s_objects():
        if obj["kind"] in STRIMZI_KINDS:
            continue
        try:
            k8s.validate(obj, k8s.latest_version(), strict=True)
        except k8s.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            pytest.fail(
                f"{path.name}: {obj['kind']}/{obj['metadata']['name']}: {where}: {exc.message}"
            )
        checked += 1
    assert checked >= 10


def test_a_wrong_field_is_caught_by_the_kubernetes_validator() -> None:
    _, deployment = next((p, o) for p, o in k8s_objects() if o["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(k8s.ValidationError):
        k8s.validate(deployment, k8s.latest_version(), strict=True)


def test_strimzi_resources_validate_against_the_crd_schemas() -> None:
    validators = {
        kind: jsonschema.Draft7Validator(schema_of(kind)) for kind in sorted(STRIMZI_KINDS)
    }
    seen = set()
    for path, obj in k8s_objects():
        if obj["kind"] not in STRIMZI_KINDS:
            continue
        assert obj["apiVersion"] == "kafka.strimzi.io/v1beta2"
        errors = sorted(validators[obj["kind"]].iter_errors(obj), key=lambda e: list(e.path))
        assert not errors, (
            f"{path.name}: {obj['kind']}/{obj['metadata']['name']}: "
            f"{'.'.join(map(str, errors[0].path))}: {errors[0].message}"
        )
        seen.add(obj["kind"])
    assert seen == STRIMZI_KINDS
    bad = {"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaUser", "metadata": {}}
    bad["spec"] = {"authentication": {"type": "scram-sha-512"}, "authorisation": {}}
    assert list(validators["KafkaUser"].iter_errors(bad)), "the schema must refuse unknown fields"


def test_compose_file_follows_the_compose_specification() -> None:
    vendor = files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads(vendor.joinpath("compose-spec.json").read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    doc = yaml.safe_load(COMPOSE.read_text())
    errors = list(validator.iter_errors(doc))
    assert not errors, f"{'.'.join(map(str, errors[0].path))}: {errors[0].message}"
    doc["services"]["router"]["helthcheck"] = {}
    assert list(validator.iter_errors(doc)), "the schema must refuse unknown keys"


def test_generated_kafka_access_is_up_to_date() -> None:
    settings = Settings(**EXPORT_SETTINGS)  # type: ignore[arg-type]
    agencies = load_directory_file(settings.directory_file)
    fresh = export(settings, agencies, namespace="edoc")
    assert (K8S / "kafka-access.yaml").read_text() == fresh, (
        "regenerate: EDOC_TOPIC_PARTITIONS=6 EDOC_TOPIC_REPLICATION_FACTOR=3 "
        "edoc directory export --format strimzi --namespace edoc > deploy/k8s/kafka-access.yaml"
    )


def test_kafka_users_grant_exactly_the_provisioned_acls() -> None:
    settings = Settings(**EXPORT_SETTINGS)  # type: ignore[arg-type]
    users = {o["metadata"]["name"]: o for _, o in k8s_objects() if o["kind"] == "KafkaUser"}
    for name, bindings in kafka_acl.all_service_acls(settings).items():
        assert bindings_of_user(users[name]) == bindings, name
    for agency in load_directory_file(settings.directory_file):
        name = wire.agency_user(agency.code)
        if agency.active and agency.code != settings.hub_code:
            assert bindings_of_user(users[name]) == kafka_acl.agency_acls(agency.code)
        else:
            assert name not in users


def test_every_deployment_logs_in_as_its_own_kafka_user() -> None:
    objects = [o for _, o in k8s_objects()]
    users = {o["metadata"]["name"] for o in objects if o["kind"] == "KafkaUser"}
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} == {
        kafka_acl.service_user(s) for s in kafka_acl.HUB_SERVICES
    }
    for d in deployments:
        (container,) = d["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        user = env["EDOC_KAFKA_USERNAME"]["value"]
        assert user == d["metadata"]["name"] and user in users
        assert env["EDOC_KAFKA_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == user
        assert container["args"] == ["serve", "--only", user.removeprefix("edoc-")]
        assert {"livenessProbe", "readinessProbe", "resources"} <= container.keys()
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
    kinds = {o["kind"] for o in objects}
    assert {"PodDisruptionBudget", "NetworkPolicy", "Secret", "Service"} <= kinds


def test_kustomization_lists_every_manifest() -> None:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(
        p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"
    )


def test_every_compose_service_reads_only_its_own_credentials() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for name in kafka_acl.HUB_SERVICES:
        svc = services[name]
        assert svc["environment"]["EDOC_SERVICE"] == name
        (creds,) = [v for v in svc["volumes"] if isinstance(v, dict)]
        assert creds["volume"]["subpath"] == kafka_acl.service_user(name)
        assert creds["read_only"] is True
    connector = services["connector-000-00-01-h49"]
    (creds,) = [v for v in connector["volumes"] if isinstance(v, dict)]
    assert creds["volume"]["subpath"] == wire.agency_user("000.00.01.H49")
    assert services["kafka"]["image"] == "apache/kafka:4.1.1"


def test_dockerfile_is_multi_stage_pinned_and_non_root() -> None:
    text = (DEPLOY / "compose" / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2
    (base,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base)
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1].split(":")[0] not in ("0", "root")
