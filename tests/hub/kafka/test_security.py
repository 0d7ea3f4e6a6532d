"""Kafka-level isolation on a real broker with SASL/SCRAM and the StandardAuthorizer.

One secure broker for the module (``make_test_broker(secure=True)``): the hub's
services and three agencies are provisioned through ``hub.kafka.security.provision`` exactly as
``edoc kafka provision`` does, then each principal is used for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from pydantic import SecretStr

from connectors.errors import ConnectorError, KafkaAccessDenied
from connectors.sdk import HubClient, KafkaAuth
from hub.directory import load_directory_file
from hub.errors import BrokerUnavailableError, KafkaLoginRefused
from hub.kafka.client import client_config, explain_unavailable, login_refusal
from hub.kafka.security import acl as kafka_acl
from hub.kafka.security.provision import Provisioner
from hub.localkafka.broker import LocalKafka
from hub.runtime.probes import kafka_probe
from hub.settings import Settings
from hub.store.db import make_engine
from hub.store.log import SignatureLog
from schemas import wire
from schemas.wire import agency_group
from signing.pki import DemoPKI
from tests._kafka import free_port, make_test_broker, start_or_unavailable
from tests.conftest import A, B, C, PackageFactory
from tests.hub.audit.test_recorder_kafka import running_recorder
from tests.hub.router.test_kafka import message_id, running_router

pytestmark = pytest.mark.kafka(own_broker=True)

X, Y = A, B  # agency X tries to reach what belongs to agency Y


@dataclass
class SecureHub:
    """The broker, settings per principal, and the passwords handed out at provisioning."""

    broker: LocalKafka
    base: Settings
    passwords: dict[str, str] = field(repr=False)  # never shown in reports

    def as_user(self, user: str, password: str | None = None) -> Settings:
        """Settings that log in as ``user`` (with its provisioned password unless given)."""
        return self.base.model_copy(
            update={
                "kafka_security_protocol": "SASL_PLAINTEXT",
                "kafka_username": user,
                "kafka_password": SecretStr(password or self.passwords[user]),
            }
        )

    def admin(self) -> Settings:
        """Settings of the super-user."""
        admin = self.broker.admin
        assert admin is not None
        return self.as_user(admin.user, admin.password)

    def agency_auth(self, code: str) -> KafkaAuth:
        """What the hub operator hands agency ``code``'s connector."""
        user = wire.agency_user(code)
        return KafkaAuth("SASL_PLAINTEXT", username=user, password=self.passwords[user])


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """A broker of its own with SASL_PLAINTEXT, SCRAM-SHA-512 and ACLs."""
    broker = start_or_unavailable(
        make_test_broker(tmp_path_factory.mktemp("secure-kafka"), secure=True)
    )
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="module")
async def hub(
    secure_broker: LocalKafka, pki: DemoPKI, tmp_path_factory: pytest.TempPathFactory
) -> SecureHub:
    """Topics, the services' and the agencies' users and ACLs, provisioned as edoc-admin."""
    base = Settings(
        kafka_bootstrap=secure_broker.bootstrap,
        trust_anchors=[pki.root_cert],
        crls=[pki.crl_dir],
        topic_partitions=1,
        hub_key=pki.hub.key,
        hub_cert=pki.hub.chain,
        database_url=f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'log.db'}",
        checkpoint_every_entries=1,
    )
    hub = SecureHub(secure_broker, base, {})
    agencies = load_directory_file(base.directory_file)
    async with Provisioner.connect(hub.admin()) as prov:
        await prov.ensure_topics(agencies)
        report = await prov.provision_services([*kafka_acl.HUB_SERVICES, kafka_acl.ALL_IN_ONE])
        report.merge(await prov.provision_agencies([a for a in agencies if a.code in (X, Y, C)]))
    hub.passwords = {c.user: c.password for c in report.issued}
    return hub


async def read_as(settings: Settings, topic: str, *, group: str | None = None) -> list[bytes]:
    """Records of ``topic`` read as ``settings``' user for ~1.5 s (raises when refused)."""
    c = AIOKafkaConsumer(
        topic,
        **client_config(settings),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await c.start()
    try:
        out: list[bytes] = []
        for _ in range(6):
            for records in (await c.getmany(timeout_ms=250)).values():
                out.extend(r.value for r in records)
        return out
    finally:
        await c.stop()


async def write_as(settings: Settings, topic: str, value: bytes) -> None:
    p = AIOKafkaProducer(**client_config(settings), request_timeout_ms=10_000)
    await p.start()
    try:
        await p.send_and_wait(topic, value, key=b"x")
    finally:
        await p.stop()


# -- isolation -------------------------------------------------------------------------------


async def test_agency_cannot_read_another_agencys_inbox(hub: SecureHub) -> None:
    x = hub.as_user(wire.agency_user(X))
    with pytest.raises(TopicAuthorizationFailedError):
        await read_as(x, wire.inbox(Y))
    await read_as(x, wire.inbox(X))  # its own: allowed
    # The connector SDK says the same, as an error with a hint, not a hang.
    async with HubClient(x.kafka_bootstrap, auth=hub.agency_auth(X)) as client:
        with pytest.raises(KafkaAccessDenied):
            async for _ in client.inbox(Y, idle_timeout=1.0):
                pass


async def test_agency_cannot_read_the_events_or_the_submit_topic(hub: SecureHub) -> None:
    x = hub.as_user(wire.agency_user(X))
    for topic in (wire.EVENTS, wire.SUBMIT, wire.REJECTED, wire.DIRECTORY):
        with pytest.raises(TopicAuthorizationFailedError):
            await read_as(x, topic)


async def test_agency_cannot_write_to_any_inbox_or_hub_topic(hub: SecureHub) -> None:
    x = hub.as_user(wire.agency_user(X))
    for topic in (wire.inbox(Y), wire.inbox(X), wire.EVENTS, wire.DIRECTORY):
        with pytest.raises(TopicAuthorizationFailedError):
            await write_as(x, topic, b"forged")


async def test_agency_groups_are_its_own_prefix_only(hub: SecureHub) -> None:
    x = hub.as_user(wire.agency_user(X))
    await read_as(x, wire.inbox(X), group=agency_group(X, "folder"))
    for group in ("edoc-router", agency_group(Y, "folder"), "anything"):
        with pytest.raises(GroupAuthorizationFailedError):
            await read_as(x, wire.inbox(X), group=group)


async def test_wrong_password_is_refused(hub: SecureHub) -> None:
    bad = hub.as_user(wire.agency_user(X), "not-the-password")
    with pytest.raises((KafkaError, ConnectorError)):
        await write_as(bad, wire.SUBMIT, b"x")


def edoc_as(
    hub: SecureHub, user: str, password: str, *args: str, db: Path
) -> subprocess.CompletedProcess[str]:
    """The ``edoc`` command logged in to the secure broker as ``user`` with ``password``."""
    env = {
        **os.environ,
        "EDOC_KAFKA_BOOTSTRAP": hub.broker.bootstrap,
        "EDOC_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "EDOC_KAFKA_USERNAME": user,
        "EDOC_KAFKA_PASSWORD": password,
        "EDOC_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
    }
    return subprocess.run(
        [sys.executable, "-m", "edoc", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


@pytest.mark.parametrize(
    ("user", "args"),
    [
        ("edoc-lifecycle", ("serve", "--only", "lifecycle")),  # a hub service
        (wire.agency_user(X), ("inbox", "--agency", X)),  # an agency's connector command
        ("edoc-admin", ("kafka", "users")),  # an operator's tool
    ],
)
def test_wrong_password_is_reported_as_a_refused_login(
    hub: SecureHub, user: str, args: tuple[str, ...], tmp_path: Path
) -> None:
    """Not "broker not reachable": the broker answers, it refuses the credentials."""
    res = edoc_as(hub, user, "not-the-password", *args, db=tmp_path / "edoc.db")
    assert res.returncode == 1, res.stdout + res.stderr
    assert f"error: Kafka at {hub.broker.bootstrap} refused the login of user '{user}'" in (
        res.stderr
    )
    assert "EDOC_KAFKA_USERNAME and EDOC_KAFKA_PASSWORD" in res.stderr
    assert "not reachable" not in res.stderr
    assert "Traceback" not in res.stderr
    assert "not-the-password" not in res.stdout + res.stderr


async def test_refused_login_is_told_apart_from_a_broker_that_is_down(hub: SecureHub) -> None:
    user = wire.agency_user(X)
    bad = hub.as_user(user, "not-the-password")
    assert await login_refusal(hub.as_user(user)) is None  # the right password logs in
    assert "invalid credentials" in (await login_refusal(bad) or "")
    explained = await explain_unavailable(bad, BrokerUnavailableError(hub.broker.bootstrap))
    assert isinstance(explained, KafkaLoginRefused) and explained.user == user
    assert await kafka_probe(bad) == f"unavailable: login refused for '{user}'"
    # Nothing listens there: still "not reachable", never a refused login.
    down = bad.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})
    unreachable = BrokerUnavailableError(down.kafka_bootstrap)
    assert await login_refusal(down) is None
    assert await explain_unavailable(down, unreachable) is unreachable
    assert (await kafka_probe(down)).startswith("unavailable: KafkaConnectionError")


async def test_services_are_least_privilege(hub: SecureHub) -> None:
    audit = hub.as_user("edoc-audit")
    await read_as(audit, wire.EVENTS)
    for topic in (wire.SUBMIT, wire.inbox(X)):
        with pytest.raises(TopicAuthorizationFailedError):
            await read_as(audit, topic)
    with pytest.raises(TopicAuthorizationFailedError):
        await write_as(hub.as_user("edoc-lifecycle"), wire.EVENTS, b"forged verdict")


# -- the hub still works, each part under its own principal ---------------------------------------


async def events_for(hub: SecureHub, message_ids: set[str], wait: float = 45) -> dict[str, dict]:  # type: ignore[type-arg]
    """Verdict events of ``message_ids``, read as the super-user."""
    found: dict[str, dict] = {}  # type: ignore[type-arg]
    async with asyncio.timeout(wait):
        while message_ids - found.keys():
            for raw in await read_as(hub.admin(), wire.EVENTS):
                event = json.loads(raw)
                if event.get("message_id") in message_ids:
                    found[event["message_id"]] = event
    return found


async def wait_in_inbox(
    hub: SecureHub, code: str, wanted: str, group: str | None = None, wait: float = 45
) -> None:
    """Return once ``wanted`` (or a status about it) is in ``code``'s inbox, read as ``code``."""
    auth = hub.agency_auth(code)
    async with asyncio.timeout(wait), HubClient(hub.base.kafka_bootstrap, auth=auth) as client:
        while True:
            async for msg in client.inbox(code, idle_timeout=1.0, group_id=group):
                status = msg.header.status
                if str(msg.header.message_id) == wanted or (
                    status is not None and str(status.ref_message_id) == wanted
                ):
                    return


@contextlib.asynccontextmanager
async def running_hub(hub: SecureHub) -> AsyncIterator[None]:
    """The router and the audit recorder, each logged in as its own service user."""
    async with (
        running_router(hub.as_user("edoc-router")),
        running_recorder(hub.as_user("edoc-audit")),
    ):
        yield


async def test_full_flow_with_every_part_under_its_own_principal(
    hub: SecureHub, signed_package: PackageFactory
) -> None:
    raw = signed_package(X, [Y])
    mid = message_id(raw)
    async with running_hub(hub):
        async with HubClient(hub.base.kafka_bootstrap, auth=hub.agency_auth(X)) as x:
            await x.submit(raw)
        # Y reads the document with its own credentials and its own consumer group …
        await wait_in_inbox(hub, Y, mid, group=agency_group(Y, "folder"))
        # … X gets the hub's signed receipt in its own inbox …
        await wait_in_inbox(hub, X, mid)
        event = (await events_for(hub, {mid}))[mid]
        assert event["verdict"] == "ok", event["reasons"]
        assert event["delivered_to"] == [wire.inbox(Y)]
        # … and the audit recorder (edoc-audit) logged the verdict.
        log = SignatureLog(make_engine(hub.base.database_url))
        async with asyncio.timeout(30):
            while mid not in {e.message_id for e in await log.query_all()}:
                await asyncio.sleep(0.2)


async def test_claiming_another_sender_is_refused_by_the_signature_binding(
    hub: SecureHub, signed_package: PackageFactory
) -> None:
    """Kafka lets X write any key and any ``from``; the certificate binding refuses it."""
    forged = signed_package(Y, [C], signer=X)  # header says "from Y", X's key signed it
    forged_id = message_id(forged)
    genuine = signed_package(Y, [X])  # Y's real document to X, which X will try to replay
    genuine_id = message_id(genuine)
    async with running_hub(hub):
        async with HubClient(hub.base.kafka_bootstrap, auth=hub.agency_auth(Y)) as y:
            await y.submit(genuine)
        assert (await events_for(hub, {genuine_id}))[genuine_id]["verdict"] == "ok"
        async with HubClient(hub.base.kafka_bootstrap, auth=hub.agency_auth(X)) as x:
            await x.submit(forged)  # Kafka accepts the write (WRITE on edoc.submit) …
            await x.submit(genuine)  # … and a replay of Y's document X received
        events = await events_for(hub, {forged_id, genuine_id})
    assert events[forged_id]["verdict"] == "rejected"
    assert "sender_mismatch" in events[forged_id]["reasons"]
    replays = [
        json.loads(r)
        for r in await read_as(hub.admin(), wire.EVENTS)
        if json.loads(r).get("message_id") == genuine_id
    ]
    assert [e["verdict"] for e in replays] == ["ok", "rejected"]
    assert "duplicate" in replays[1]["reasons"]


async def test_console_works_as_edoc_api(hub: SecureHub) -> None:
    from hub.kafka.lag import KafkaOps  # noqa: PLC0415 -- console only here
    from hub.ops.rejected import RejectedQueue  # noqa: PLC0415

    api = hub.as_user("edoc-api")
    ops = KafkaOps(api)
    try:
        assert await ops.probe() == "ok"
        await ops.lag()  # describes the services' groups: allowed for edoc-api
    finally:
        await ops.close()
    queue = RejectedQueue(api)
    try:
        await queue.recent(5)
    finally:
        await queue.close()


# -- provisioning ------------------------------------------------------------------------------


async def test_provisioning_again_changes_nothing(hub: SecureHub) -> None:
    agencies = [a for a in load_directory_file(hub.base.directory_file) if a.code in (X, Y)]
    async with Provisioner.connect(hub.admin()) as prov:
        report = await prov.provision_services()
        report.merge(await prov.provision_agencies(agencies))
    assert report.issued == []
    assert (report.acls_added, report.acls_removed) == (0, 0)
    services = [kafka_acl.service_user(s) for s in kafka_acl.HUB_SERVICES]
    agencies_ = [wire.agency_user(X), wire.agency_user(Y)]
    assert sorted(report.kept) == sorted(services + agencies_)


async def test_strimzi_export_grants_what_the_broker_holds(hub: SecureHub) -> None:
    from hub.kafka.security.strimzi import bindings_of_user, kafka_users  # noqa: PLC0415

    agencies = [a for a in load_directory_file(hub.base.directory_file) if a.code in (X, Y, C)]
    exported = {u["metadata"]["name"]: u for u in kafka_users(hub.base, agencies, "edoc")}
    async with Provisioner.connect(hub.admin()) as prov:
        for name, user in exported.items():
            live = await prov.admin.describe_acls(kafka_acl.user(name))
            assert live == bindings_of_user(user), name


async def test_deactivated_agency_loses_its_access(
    hub: SecureHub, signed_package: PackageFactory
) -> None:
    c_user = wire.agency_user(C)
    c = hub.as_user(c_user)
    await write_as(c, wire.SUBMIT, signed_package(C, [X]))  # works while active
    agency = next(a for a in load_directory_file(hub.base.directory_file) if a.code == C)
    async with Provisioner.connect(hub.admin()) as prov:
        report = await prov.provision_agencies([agency.model_copy(update={"active": False})])
        assert report.revoked == [c_user]
        assert await prov.admin.describe_acls(kafka_acl.user(c_user)) == []
        assert c_user not in await prov.admin.describe_scram()
    with pytest.raises(KafkaError):
        await write_as(c, wire.SUBMIT, b"after deactivation")
