"""Signature-log fixtures on both backends: SQLite file and a real PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.store.db import make_engine, migrate
from hub.store.log import SignatureLog
from tests._postgres import APP_ROLE, PostgresDatabase


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
