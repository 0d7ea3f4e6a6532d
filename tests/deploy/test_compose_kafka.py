"""The compose file's Kafka entrypoint (deploy/compose/kafka/start.sh) run for real, without Docker.

The apache/kafka image runs the script with its own ``kafka-storage.sh`` and
``kafka-server-start.sh``; here two shims with the same names start the same Kafka
version from the jars the local launcher fetched, so the rendered configuration —
listeners, SASL/SCRAM, the authorizer, the super-user made at format time — is the
one a ``docker compose up`` would run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import TopicAuthorizationFailedError
from pydantic import SecretStr

from hub.directory import load_directory_file
from hub.kafka.client import client_config
from hub.kafka.security import acl as kafka_acl
from hub.kafka.security.provision import Provisioner, new_password
from hub.localkafka.broker import LocalKafka, new_cluster_id
from hub.localkafka.process import wait_for_broker
from hub.settings import REPO_ROOT, Settings, get_settings
from schemas import wire
from schemas.errors import EdocError
from tests._kafka import broker_unavailable, free_port

pytestmark = pytest.mark.kafka(own_broker=True)

START = REPO_ROOT / "deploy" / "compose" / "kafka" / "start.sh"


def _shims(home: Path, lib: Path, logs: Path) -> None:
    """``bin/kafka-storage.sh`` and ``bin/kafka-server-start.sh`` as in the image."""
    log4j = REPO_ROOT / "deploy" / "kafka" / "log4j2.yaml"
    java = f'exec java -Xms256m -Xmx768m -cp "{lib}/*"'
    (home / "bin").mkdir(parents=True)
    scripts = {
        "kafka-storage.sh": f'{java} kafka.tools.StorageTool "$@"\n',
        "kafka-server-start.sh": (
            f'{java} -Dlog4j2.configurationFile={log4j} -Dkafka.logs.dir={logs} kafka.Kafka "$@"\n'
        ),
    }
    for name, body in scripts.items():
        path = home / "bin" / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(0o755)


@pytest.fixture(scope="module")
def compose_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(bootstrap, admin password) of a broker started by the compose entrypoint."""
    root = tmp_path_factory.mktemp("compose-kafka")
    try:
        lib = LocalKafka(lib_dir=get_settings().var_dir / "kafka" / "lib").ensure_jars()
    except EdocError as exc:
        broker_unavailable(exc.diagnostics())
    _shims(root / "home", lib, root / "logs")
    port, password = free_port(), new_password()
    env = {
        **os.environ,
        "KAFKA_HOME": str(root / "home"),
        "KAFKA_DATA_DIR": str(root / "data"),
        "KAFKA_CONF_DIR": str(root / "config"),
        "KAFKA_LISTEN_HOST": "127.0.0.1",
        "KAFKA_ADVERTISED_HOST": "127.0.0.1",
        "KAFKA_PORT": str(port),
        "KAFKA_CONTROLLER_PORT": str(free_port()),
        "KAFKA_ADMIN_PASSWORD": password,
        "KAFKA_CLUSTER_ID": new_cluster_id(),
    }
    console = (root / "console.log").open("wb")
    proc = subprocess.Popen(
        ["bash", str(START)], env=env, stdout=console, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    bootstrap = f"127.0.0.1:{port}"
    admin = {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": kafka_acl.ADMIN_USER,
        "sasl_plain_password": password,
    }
    try:
        try:
            asyncio.run(wait_for_broker(bootstrap, 90.0, admin))
        except EdocError as exc:
            broker_unavailable(f"{exc.message}; {(root / 'console.log').read_text()[-2000:]}")
        yield bootstrap, password
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        console.close()


def test_the_config_is_private_and_holds_no_plaintext_listener(
    tmp_path_factory: pytest.TempPathFactory, compose_broker: tuple[str, str]
) -> None:
    config = next(tmp_path_factory.getbasetemp().glob("compose-kafka*/config/server.properties"))
    assert config.stat().st_mode & 0o077 == 0
    text = config.read_text()
    assert "listener.security.protocol.map=INTERNAL:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT" in text
    assert "CONTROLLER://localhost:" in text  # the anonymous listener is container-local


async def test_compose_broker_enforces_the_provisioned_acls(
    compose_broker: tuple[str, str],
) -> None:
    bootstrap, password = compose_broker
    admin = Settings(
        kafka_bootstrap=bootstrap,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_username=kafka_acl.ADMIN_USER,
        kafka_password=SecretStr(password),
    )
    agency = next(a for a in load_directory_file(admin.directory_file) if a.code == "000.00.01.H49")
    async with Provisioner.connect(admin) as prov:
        await prov.ensure_topics([agency])
        report = await prov.provision_agencies([agency])
    (cred,) = report.issued
    user = admin.model_copy(
        update={"kafka_username": cred.user, "kafka_password": SecretStr(cred.password)}
    )
    consumer = AIOKafkaConsumer(wire.EVENTS, **client_config(user), auto_offset_reset="earliest")
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await consumer.start()  # refused at the first metadata request or the first fetch
            for _ in range(10):
                await consumer.getmany(timeout_ms=300)
    finally:
        await consumer.stop()
