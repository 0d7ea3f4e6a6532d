"""docs/operations.md, "Broker upgrades", on one local node: an older Kafka, then the pom's.

The broker runs Kafka 4.0.0 on a data directory, takes records (one batch in a
committed transaction, as the router writes), stops; the pom's Kafka starts on
the same data, serves the old records and takes new ones; then the
metadata-version bump (``kafka-features upgrade --metadata``), after which the old
release refuses the data — the point of no return the guide describes.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from hub.errors import KafkaLauncherError
from hub.localkafka.broker import LocalKafka, pom_kafka_version
from hub.settings import get_settings
from schemas.errors import EdocError
from tests._kafka import make_test_broker, shared_lib, start_or_unavailable

pytestmark = pytest.mark.kafka(own_broker=True)

#: The release upgraded from: the previous minor release line of Kafka 4.
OLD = "4.0.0"
TOPIC = "edoc.upgrade-check"


def same_node(broker: LocalKafka, kafka_version: str | None = None) -> LocalKafka:
    """Another launcher for ``broker``'s data and ports, running ``kafka_version``."""
    return LocalKafka(
        broker.root,
        port=broker.port,
        controller_port=broker.controller_port,
        lib_dir=shared_lib(),
        kafka_version=kafka_version,
    )


async def write_in_transaction(bootstrap: str, values: list[bytes]) -> None:
    """Write ``values`` in one committed transaction, as the router does."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, transactional_id=f"upgrade-{uuid.uuid4().hex[:8]}"
    )
    await producer.start()
    try:
        async with producer.transaction():
            for value in values:
                await producer.send(TOPIC, value)
    finally:
        await producer.stop()


async def read_committed(bootstrap: str, count: int) -> list[bytes]:
    """The first ``count`` committed values of the topic."""
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        values: list[bytes] = []
        while len(values) < count:
            batch = await consumer.getmany(timeout_ms=10_000)
            if not batch:
                break
            values += [r.value for records in batch.values() for r in records]
        return values
    finally:
        await consumer.stop()


@pytest.fixture
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """A node's data directory and ports (no broker running yet); stopped afterwards."""
    broker = make_test_broker(tmp_path_factory.mktemp("upgrade") / "kafka", kafka_version=OLD)
    try:
        yield broker
    finally:
        with contextlib.suppress(EdocError):
            broker.stop()


@pytest.mark.timeout(600)  # the first run fetches the old release's jars
async def test_upgrade_keeps_the_data_and_bumps_the_metadata_version(node: LocalKafka) -> None:
    target = pom_kafka_version(get_settings().kafka_deploy_dir)
    assert target is not None and target.split(".")[:2] != OLD.split(".")[:2]
    new_level = "FinalizedVersionLevel: {}.{}-IV".format(*target.split(".")[:2])

    old = start_or_unavailable(node)
    await write_in_transaction(old.bootstrap, [b"before 1", b"before 2"])
    assert "FinalizedVersionLevel: 4.0-IV" in old.features(["describe"])
    old.stop()

    new = start_or_unavailable(same_node(node))  # same data, the pom's release
    assert new.version == target
    await write_in_transaction(new.bootstrap, [b"after"])
    assert await read_committed(new.bootstrap, 3) == [b"before 1", b"before 2", b"after"]
    assert "FinalizedVersionLevel: 4.0-IV" in new.features(["describe"])  # not raised yet

    upgraded = new.features(["upgrade", "--metadata", ".".join(target.split(".")[:2])])
    assert "metadata.version was upgraded" in upgraded
    assert new_level in new.features(["describe"])
    await write_in_transaction(new.bootstrap, [b"after the bump"])
    assert len(await read_committed(new.bootstrap, 4)) == 4
    new.stop()

    with pytest.raises(KafkaLauncherError, match="Unsupported metadata version"):
        same_node(node, OLD).start()  # no way back once the metadata version is raised
