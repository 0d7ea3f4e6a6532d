"""The local broker launcher against a real Kafka (its own instance, on free ports)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from hub.errors import BrokerUnavailableError, KafkaLauncherError
from hub.localkafka.broker import (
    LocalKafka,
    broker_message_max_bytes,
    new_cluster_id,
    pom_kafka_version,
)
from hub.localkafka.process import wait_for_broker
from hub.settings import get_settings
from tests._ci import unavailable
from tests._kafka import broker_unavailable, free_port, make_test_broker


def _pgrep(pattern: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True, check=False)
    return [int(p) for p in out.stdout.split()]


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _round_trip(bootstrap: str, value: bytes) -> bytes:
    topic = f"lk-{uuid.uuid4().hex[:8]}"
    limit = broker_message_max_bytes(len(value))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=limit)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=limit,
        fetch_max_bytes=limit,
    )
    await consumer.start()
    try:
        record = await consumer.getone()
    finally:
        await consumer.stop()
    received: bytes = record.value
    return received


@pytest.mark.kafka(own_broker=True)
@pytest.mark.asyncio
async def test_lifecycle(tmp_path: Path) -> None:
    """start → ready (3 MiB round trip) → status → idempotent start → stop → nothing left."""
    kafka = make_test_broker(tmp_path / "state")
    reason: str | None = None  # skipped/failed outside `except`: no chained traceback
    started = False
    try:
        # Called inside a running loop on purpose: wait_ready must cope.
        started = kafka.start(timeout=90.0)
    except KafkaLauncherError as exc:
        reason = exc.diagnostics()
    if reason is not None:
        kafka.stop()
        broker_unavailable(reason)
    assert started is True
    try:
        state = kafka.status()
        assert state.running and state.pid is not None
        assert state.bootstrap == kafka.bootstrap == f"127.0.0.1:{kafka.port}"
        assert state.log_file.is_file()
        assert state.pid in _pgrep(str(kafka.root))

        payload = os.urandom(3 * 1024 * 1024)  # above Kafka's 1 MiB default
        assert await _round_trip(kafka.bootstrap, payload) == payload

        assert kafka.start() is False  # already running: no second JVM
        assert kafka.status().pid == state.pid
    finally:
        assert kafka.stop() is True
    assert not _pid_exists(state.pid)
    assert _pgrep(str(kafka.root)) == []
    assert not kafka.pid_file.exists()
    assert kafka.status().running is False
    assert kafka.stop() is False  # idempotent


@pytest.mark.asyncio
async def test_wait_for_broker_names_the_unreachable_address() -> None:
    bootstrap = f"127.0.0.1:{free_port()}"
    with pytest.raises(BrokerUnavailableError) as caught:
        await wait_for_broker(bootstrap, timeout=1.0)
    assert bootstrap in str(caught.value)
    assert caught.value.bootstrap == bootstrap
    assert caught.value.hint and "edoc local kafka start" in caught.value.hint


@pytest.mark.asyncio
async def test_wait_for_broker_rejects_a_malformed_address() -> None:
    with pytest.raises(BrokerUnavailableError, match="not host:port"):
        await wait_for_broker("localhost", timeout=1.0)


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        kafka = LocalKafka(tmp_path, port=port, controller_port=free_port())
        with pytest.raises(KafkaLauncherError, match=f"port {port} .* in use"):
            kafka.start(timeout=5.0)
    assert not kafka.pid_file.exists()


def test_missing_maven_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    kafka = LocalKafka(tmp_path / "state")
    with pytest.raises(KafkaLauncherError, match="mvn"):
        kafka.ensure_jars()


def test_maven_failure_shows_its_output(tmp_path: Path) -> None:
    if shutil.which("mvn") is None:
        unavailable("Maven", "mvn not on PATH")
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    (deploy / "pom.xml").write_text("<project>not a pom</project>")
    kafka = LocalKafka(tmp_path / "state", deploy_dir=deploy)
    with pytest.raises(KafkaLauncherError) as caught:
        kafka.ensure_jars()
    assert "Maven could not fetch" in caught.value.message
    assert len(caught.value.message.splitlines()) > 1  # the tail of mvn's output
    assert not kafka.lib_dir.exists()


def test_stop_without_start_is_a_noop(tmp_path: Path) -> None:
    kafka = LocalKafka(tmp_path)
    assert kafka.stop() is False
    assert kafka.status().running is False


def test_cluster_ids_are_valid() -> None:
    for _ in range(200):
        cid = new_cluster_id()
        assert len(cid) == 22 and not cid.startswith("-") and "=" not in cid


@pytest.mark.kafka
def test_marker_provides_the_session_broker(request: pytest.FixtureRequest) -> None:
    assert "kafka_bootstrap" in request.fixturenames
    bootstrap = request.getfixturevalue("kafka_bootstrap")
    assert bootstrap.startswith("127.0.0.1:") or bootstrap == os.environ.get(
        "EDOC_TEST_KAFKA_BOOTSTRAP"
    )


# -- another Kafka release (--kafka-version / EDOC_LOCAL_KAFKA_VERSION) ---------------------------


def fake_mvn(bin_dir: Path, record: Path) -> None:
    """An ``mvn`` on PATH that records its arguments and 'fetches' one jar."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "mvn"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {record}\n'
        'for a in "$@"; do case "$a" in -DoutputDirectory=*) out="${a#-DoutputDirectory=}";; '
        "esac; done\n"
        'mkdir -p "$out" && touch "$out/kafka_2.13-x.jar"\n'
    )
    script.chmod(0o755)


def test_another_kafka_version_has_its_own_jars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "mvn.args"
    fake_mvn(tmp_path / "bin", record)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    lib = tmp_path / "shared" / "lib"
    default = LocalKafka(tmp_path / "a", lib_dir=lib)
    old = LocalKafka(tmp_path / "b", lib_dir=lib, kafka_version="4.0.0")
    assert default.version == pom_kafka_version(default.deploy_dir)
    assert (old.version, old.lib_dir) == ("4.0.0", lib.with_name("lib-4.0.0"))
    # The pom's own version named explicitly is the default: no second copy of its jars.
    same = LocalKafka(tmp_path / "c", lib_dir=lib, kafka_version=default.version)
    assert (same.kafka_version, same.lib_dir) == (None, default.lib_dir)

    assert old.ensure_jars() == lib.with_name("lib-4.0.0")
    assert "-Dkafka.version=4.0.0" in record.read_text()
    old.ensure_jars()  # fetched once per pom and version
    assert len(record.read_text().splitlines()) == 1
    default.ensure_jars()
    assert "-Dkafka.version" not in record.read_text().splitlines()[1]


def test_kafka_version_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDOC_LOCAL_KAFKA_VERSION", "4.0.2")
    get_settings.cache_clear()
    try:
        assert LocalKafka(tmp_path).version == "4.0.2"
    finally:
        monkeypatch.delenv("EDOC_LOCAL_KAFKA_VERSION")
        get_settings.cache_clear()


def test_a_malformed_kafka_version_is_refused_by_the_cli(tmp_path: Path) -> None:
    env = {**os.environ, "EDOC_VAR_DIR": str(tmp_path)}
    res = subprocess.run(
        [sys.executable, "-m", "edoc", "local", "kafka", "start", "--kafka-version", "4.0; rm"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert res.returncode != 0
    assert "'4.0; rm' is not a Kafka version" in res.stderr
    assert "Traceback" not in res.stderr


def test_features_needs_a_running_broker(tmp_path: Path) -> None:
    with pytest.raises(KafkaLauncherError, match="not running"):
        LocalKafka(tmp_path).features(["describe"])
