"""Signature-log fixtures on both backends: SQLite file and a real PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hub import topics
from hub.directory import Directory, load_directory_file
from hub.index import MessageIndex
from hub.router import Router
from hub.settings import Settings
from hub.store.db import make_engine, migrate
from hub.store.log import SignatureLog
from schemas.events import SourceRecord, VerdictEvent
from signing.keys import SigningKey, load_private_key
from signing.pki import DemoPKI
from signing.signer import Signer
from signing.trust import TrustStore
from signing.verifier import Verifier
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests._postgres import APP_ROLE, PostgresDatabase
from tests.conftest import A, B, C, HUB, PackageFactory


@dataclass
class Backend:
    """A migrated database: the service's engine and a way to tamper as superuser."""

    kind: str
    engine: AsyncEngine
    tamper: Callable[[list[str]], object]  # run raw SQL behind the service's back (awaitable)
    log: SignatureLog


def _sqlite_tamper(path: Path) -> Callable[[list[str]], object]:
    async def run(statements: list[str]) -> None:
        con = sqlite3.connect(path)
        try:
            for name in ("log_entries", "log_recipients", "checkpoints"):
                for action in ("update", "delete"):
                    con.execute(f"DROP TRIGGER IF EXISTS {name}_no_{action}")
            for stmt in statements:
                con.execute(stmt)
            con.commit()
        finally:
            con.close()

    return run


def _pg_tamper(admin_url: str) -> Callable[[list[str]], object]:
    async def run(statements: list[str]) -> None:
        engine = make_engine(admin_url)
        try:
            async with engine.begin() as conn:
                for table in ("log_entries", "log_recipients", "checkpoints"):
                    await conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
                for stmt in statements:
                    await conn.execute(text(stmt))
        finally:
            await engine.dispose()

    return run


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """The signature log on SQLite, then on PostgreSQL (service role with no UPDATE/DELETE)."""
    if request.param == "sqlite":
        path = tmp_path / "edoc.db"
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        await migrate(engine)
        tamper = _sqlite_tamper(path)
    else:
        db: PostgresDatabase = request.getfixturevalue("fresh_postgres_db")
        owner = make_engine(db.owner_url)
        await migrate(owner, app_role=APP_ROLE)
        await owner.dispose()
        engine = make_engine(db.app_url)
        tamper = _pg_tamper(db.admin_url)
    try:
        yield Backend(request.param, engine, tamper, SignatureLog(engine))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def hub_key(pki: DemoPKI) -> SigningKey:
    """The hub's checkpoint signing key."""
    return load_private_key(pki.hub.key)


@pytest.fixture(scope="session")
def make_events(
    pki: DemoPKI, signed_package: PackageFactory
) -> Callable[[int], list[VerdictEvent]]:
    """``make_events(n)`` → n verdict events as the router makes them (about 1 in 5 refused)."""
    directory = Directory(load_directory_file(Settings().directory_file))
    router = Router(
        Verifier(TrustStore.from_paths([pki.root_cert], [pki.crl_dir])),
        directory,
        MessageIndex(timedelta(days=1)),
        hub_code=HUB,
        hub_signer=Signer.from_files(pki.hub.key, pki.hub.chain),
    )

    def make(n: int) -> list[VerdictEvent]:
        events = []
        for i in range(n):
            sender, to = [(A, [B]), (B, [A, C]), (C, [B])][i % 3]
            raw = signed_package(sender, to, signer=C if i % 5 == 4 else None)
            d = router.decide(
                raw,
                source=SourceRecord(topic=topics.SUBMIT, partition=0, offset=i),
                received_at=datetime.now(UTC),
            )
            router.index.commit(datetime.now(UTC))
            events.append(d.event)
        return events

    return make
