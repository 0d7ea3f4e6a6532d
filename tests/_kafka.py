"""Pytest plugin: a real Kafka broker for the tests that need one.

Load it with ``-p tests._kafka`` (or ``pytest_plugins``). It gives

* the ``kafka`` marker: a marked test gets the session broker (the
  ``kafka_bootstrap`` fixture is added for it); ``-m "not kafka"`` skips them
  all. ``@pytest.mark.kafka(own_broker=True)`` marks a test that needs Java and
  Maven but runs its own broker, so the shared one is not started for it.
* the session fixture ``kafka_bootstrap``: ``EDOC_TEST_KAFKA_BOOTSTRAP`` when
  set, otherwise a LocalKafka on free ports with its state in pytest's tmp
  dir (never the developer's demo broker), stopped at the end of the session.

A broker that cannot be had fails the test on CI (``CI=true``) and skips it
elsewhere, with the reason either way.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from hub.errors import BrokerUnavailableError
from hub.localkafka.broker import LocalKafka
from hub.localkafka.process import wait_for_broker
from hub.settings import get_settings
from schemas.errors import EdocError
from tests._ci import unavailable

ENV_BOOTSTRAP = "EDOC_TEST_KAFKA_BOOTSTRAP"


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``kafka`` marker."""
    config.addinivalue_line(
        "markers",
        "kafka(own_broker=False): needs a real Kafka broker (gets the kafka_bootstrap fixture)",
    )


@pytest.hookimpl(tryfirst=True)  # before -m deselection sees the markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marked tests get the broker; tests asking for the broker get the marker."""
    for item in items:
        names = getattr(item, "fixturenames", None)
        if names is None:
            continue
        marker = item.get_closest_marker("kafka")
        if marker is None and "kafka_bootstrap" in names:
            item.add_marker(pytest.mark.kafka)
        elif (
            marker is not None
            and not marker.kwargs.get("own_broker")
            and "kafka_bootstrap" not in names
        ):
            names.append("kafka_bootstrap")


def broker_unavailable(reason: str) -> NoReturn:
    """Fail on CI, skip elsewhere: a developer without Java can still run the rest."""
    unavailable("Kafka broker", reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_test_broker(
    root: Path, *, secure: bool = False, kafka_version: str | None = None
) -> LocalKafka:
    """A LocalKafka under ``root`` on free ports, sharing the developer's fetched jars.

    ``secure``: SASL_PLAINTEXT + SCRAM + ACLs; ``broker.client_config()`` logs in as the
    super-user (tests/hub/kafka/test_security.py). ``kafka_version``: another Kafka
    release than the pom's (its jars are shared too, in ``lib-<version>``).
    """
    port = free_port()
    controller_port = free_port()
    while controller_port == port:
        controller_port = free_port()
    return LocalKafka(
        root,
        port=port,
        controller_port=controller_port,
        lib_dir=shared_lib(),
        secure=secure,
        kafka_version=kafka_version,
    )


def start_or_unavailable(broker: LocalKafka) -> LocalKafka:
    """``broker`` started, or the test failed on CI (skipped elsewhere) with the reason."""
    reason: str | None = None  # raised outside `except`: no chained traceback in reports
    try:
        broker.start()
    except EdocError as exc:
        reason = exc.diagnostics()
        with contextlib.suppress(EdocError):
            broker.stop()
    if reason:
        broker_unavailable(reason)
    return broker


def shared_lib() -> Path:
    """Where test brokers keep the fetched jars: the developer's (jars are immutable)."""
    return get_settings().var_dir / "kafka" / "lib"


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a real broker shared by the whole session."""
    external = os.environ.get(ENV_BOOTSTRAP)
    reason: str | None = None  # raised outside `except`: no chained traceback in reports
    if external:
        try:
            # A worker thread with its own loop: safe whatever loop pytest-asyncio runs.
            with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
                pool.submit(asyncio.run, wait_for_broker(external, 30.0)).result()
        except BrokerUnavailableError as exc:
            reason = f"{exc.message} (from {ENV_BOOTSTRAP})"
        if reason:
            broker_unavailable(reason)
        yield external
        return
    kafka = start_or_unavailable(make_test_broker(tmp_path_factory.mktemp("kafka")))
    try:
        yield kafka.bootstrap
    finally:
        kafka.stop()
