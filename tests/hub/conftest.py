"""Fixtures shared by the hub's tests: verdict events as the router makes them, the hub key."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from hub.directory import Directory, load_directory_file
from hub.router.decide import Router
from hub.router.index import MessageIndex
from hub.settings import Settings
from schemas import wire
from schemas.events import SourceRecord, VerdictEvent
from signing.keys import SigningKey, load_private_key
from signing.pki import DemoPKI
from signing.signer import Signer
from signing.trust import TrustStore
from signing.verifier import Verifier
from tests.conftest import HUB, A, B, C, PackageFactory


@pytest.fixture(scope="session")
def hub_key(pki: DemoPKI) -> SigningKey:
    """The hub's checkpoint signing key."""
    return load_private_key(pki.hub.key)


def make_router(pki: DemoPKI) -> Router:
    """A router (no Kafka) over the sample directory, trusting the test PKI."""
    return Router(
        Verifier(TrustStore.from_paths([pki.root_cert], [pki.crl_dir])),
        Directory(load_directory_file(Settings().directory_file)),
        MessageIndex(timedelta(days=1)),
        hub_code=HUB,
        hub_signer=Signer.from_files(pki.hub.key, pki.hub.chain),
    )


@pytest.fixture(scope="session")
def make_events(
    pki: DemoPKI, signed_package: PackageFactory
) -> Callable[[int], list[VerdictEvent]]:
    """``make_events(n)`` → n verdict events as the router makes them (about 1 in 5 refused)."""
    router = make_router(pki)

    def make(n: int) -> list[VerdictEvent]:
        events = []
        for i in range(n):
            sender, to = [(A, [B]), (B, [A, C]), (C, [B])][i % 3]
            raw = signed_package(sender, to, signer=C if i % 5 == 4 else None)
            d = router.decide(
                raw,
                source=SourceRecord(topic=wire.SUBMIT, partition=0, offset=i),
                received_at=datetime.now(UTC),
            )
            router.index.commit(datetime.now(UTC))
            events.append(d.event)
        return events

    return make
