"""The access model without a broker: least privilege, naming, Strimzi, client options."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from connectors import sdk
from connectors.errors import ConnectorError
from hub.errors import HubError
from hub.kafka.client import client_config, consumer_config, producer_config
from hub.kafka.security import acl as kafka_acl
from hub.kafka.security.acl import Operation, PatternType, ResourceType
from hub.kafka.security.provision import IssuedCredential, write_private_file
from hub.kafka.security.strimzi import bindings_of_user, kafka_topics, kafka_user, kafka_users
from hub.settings import Settings
from schemas import wire
from schemas.directory import Agency, Level
from tests.conftest import A, B

SETTINGS = Settings()


def ops(bindings: list[kafka_acl.AclBinding], rtype: ResourceType, name: str) -> set[Operation]:
    return {b.operation for b in bindings if b.resource_type is rtype and b.name == name}


def test_an_agency_may_submit_read_its_own_inbox_and_use_its_own_groups_only() -> None:
    acls = kafka_acl.agency_acls(A)
    assert {b.principal for b in acls} == {"User:agency-000.00.01.h49"}
    assert ops(acls, ResourceType.TOPIC, wire.SUBMIT) == {Operation.WRITE}
    assert ops(acls, ResourceType.TOPIC, wire.inbox(A)) == {Operation.READ, Operation.DESCRIBE}
    assert ops(acls, ResourceType.GROUP, "agency-000.00.01.h49.") == {Operation.READ}
    assert {(b.resource_type, b.name) for b in acls} == {
        (ResourceType.TOPIC, wire.SUBMIT),
        (ResourceType.TOPIC, wire.inbox(A)),
        (ResourceType.GROUP, "agency-000.00.01.h49."),
    }
    assert all(
        b.pattern is PatternType.LITERAL for b in acls if b.resource_type is ResourceType.TOPIC
    )


def test_only_the_router_writes_inboxes_and_reads_submissions() -> None:
    for service in kafka_acl.HUB_SERVICES:
        acls = kafka_acl.service_acls(SETTINGS, service)
        inbox_ops = ops(acls, ResourceType.TOPIC, "edoc.inbox.")
        submit_ops = ops(acls, ResourceType.TOPIC, wire.SUBMIT)
        if service == "router":
            assert Operation.WRITE in inbox_ops and Operation.READ in submit_ops
        else:
            assert Operation.WRITE not in inbox_ops, service
            assert Operation.READ not in submit_ops, service
        assert Operation.WRITE not in ops(acls, ResourceType.TOPIC, wire.DIRECTORY)
        assert not any(b.resource_type is ResourceType.CLUSTER for b in acls)


def test_all_in_one_principal_is_the_union_of_the_services() -> None:
    union = {
        (b.resource_type, b.pattern, b.name, b.operation)
        for s in kafka_acl.HUB_SERVICES
        for b in kafka_acl.service_acls(SETTINGS, s)
    }
    hub = kafka_acl.service_acls(SETTINGS, kafka_acl.ALL_IN_ONE)
    assert {(b.resource_type, b.pattern, b.name, b.operation) for b in hub} == union
    assert {b.principal for b in hub} == {"User:edoc-hub"}


def test_groups_and_transactional_ids_follow_the_settings() -> None:
    s = SETTINGS.model_copy(update={"router_group": "r", "audit_group": "a"})
    router = kafka_acl.service_acls(s, "router")
    assert ops(router, ResourceType.GROUP, "r") == {Operation.READ}
    assert ops(router, ResourceType.TRANSACTIONAL_ID, "r") == {Operation.WRITE}
    api = kafka_acl.service_acls(s, "api")
    assert Operation.DESCRIBE in ops(api, ResourceType.GROUP, "a")  # consumer lag


def test_agency_acls_follow_the_wire_names_connectors_use() -> None:
    """One contract (schemas.wire): the groups a connector names are those the ACLs allow."""
    for code in (A, B):
        bindings = kafka_acl.agency_acls(code)
        assert {b.principal for b in bindings} == {kafka_acl.user(wire.agency_user(code))}
        group = wire.agency_group(code, "folder")
        prefixes = [b.name for b in bindings if b.resource_type is ResourceType.GROUP]
        assert prefixes and all(group.startswith(p) for p in prefixes)
        assert wire.inbox(code) in {b.name for b in bindings}
        assert wire.agency_of_user(wire.agency_user(code)) == code


def test_strimzi_users_round_trip_to_the_same_bindings() -> None:
    agencies = [Agency(code=A, name="Sở Nội vụ", level=Level.PROVINCE)]
    users = {u["metadata"]["name"]: u for u in kafka_users(SETTINGS, agencies, "edoc")}
    assert set(users) == {
        kafka_acl.ADMIN_USER,
        *kafka_acl.all_service_acls(SETTINGS),
        kafka_acl.agency_user(A),
    }
    assert "authorization" not in users[kafka_acl.ADMIN_USER]["spec"]  # super-user: no ACLs
    for name, bindings in kafka_acl.all_service_acls(SETTINGS).items():
        assert bindings_of_user(users[name]) == bindings
    assert bindings_of_user(users[kafka_acl.agency_user(A)]) == kafka_acl.agency_acls(A)
    user = kafka_user("edoc", "x", kafka_acl.agency_acls(A))
    assert user["spec"]["authentication"] == {"type": "scram-sha-512"}


def test_strimzi_topics_skip_inactive_agencies_and_name_inboxes_in_lower_case() -> None:
    agencies = [
        Agency(code=A, name="a", level=Level.PROVINCE),
        Agency(code=B, name="b", level=Level.PROVINCE, active=False),
    ]
    names = {
        t["spec"]["topicName"]: t["metadata"]["name"] for t in kafka_topics(SETTINGS, agencies, "e")
    }
    assert names[wire.inbox(A)] == wire.inbox(A).lower()
    assert wire.inbox(B) not in names
    assert wire.SUBMIT in names


def test_client_config_plaintext_is_just_the_bootstrap() -> None:
    assert client_config(SETTINGS) == {
        "bootstrap_servers": SETTINGS.kafka_bootstrap,
        "security_protocol": "PLAINTEXT",
    }
    for cfg in (producer_config(SETTINGS), consumer_config(SETTINGS)):
        assert cfg["security_protocol"] == "PLAINTEXT"


def test_client_config_sasl_needs_credentials_and_carries_them() -> None:
    sasl = SETTINGS.model_copy(update={"kafka_security_protocol": "SASL_PLAINTEXT"})
    with pytest.raises(HubError, match="no SCRAM credentials"):
        client_config(sasl)
    sasl = sasl.model_copy(
        update={"kafka_username": "edoc-router", "kafka_password": SecretStr("s3cret")}
    )
    cfg = producer_config(sasl)
    assert cfg["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (cfg["sasl_plain_username"], cfg["sasl_plain_password"]) == ("edoc-router", "s3cret")
    assert "s3cret" not in repr(sasl)  # settings never show the password


def test_client_config_sasl_ssl_builds_a_verifying_context(tmp_path: Path) -> None:
    ssl = SETTINGS.model_copy(
        update={
            "kafka_security_protocol": "SASL_SSL",
            "kafka_username": "u",
            "kafka_password": SecretStr("p"),
        }
    )
    assert client_config(ssl)["ssl_context"].check_hostname
    with pytest.raises(HubError, match="CA bundle"):
        client_config(ssl.model_copy(update={"kafka_ssl_cafile": tmp_path / "missing.pem"}))


def test_connector_auth_mirrors_the_settings() -> None:
    auth = sdk.KafkaAuth("SASL_PLAINTEXT", username="agency-x", password="pw")
    assert auth.client_kwargs()["sasl_plain_password"] == "pw"
    assert "pw" not in repr(auth)
    with pytest.raises(ConnectorError):
        sdk.KafkaAuth("SASL_SSL").client_kwargs()
    assert sdk.KafkaAuth().client_kwargs() == {"security_protocol": "PLAINTEXT"}


def test_issued_credentials_hide_the_password_and_files_are_private(tmp_path: Path) -> None:
    cred = IssuedCredential("agency-x", "pw-123", "000.00.01.H49")
    assert "pw-123" not in repr(cred)
    path = tmp_path / "secrets" / "agency-x.env"
    write_private_file(path, cred.env(SETTINGS))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "EDOC_KAFKA_PASSWORD=pw-123" in path.read_text()
