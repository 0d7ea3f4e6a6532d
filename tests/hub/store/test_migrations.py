"""Migrations against the table definitions, and 0004 over existing rows, on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, insert, inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.coverage.periods import Period
from hub.coverage.store import CoverageStore
from hub.store.db import MIGRATIONS, current_revision, make_engine, migrate
from hub.store.schema import coverage_documents, metadata
from tests._postgres import APP_ROLE, PostgresDatabase
from tests.hub.coverage.traffic import S1


@dataclass
class Database:
    """A database not yet migrated: the owner runs migrations, the service reads and writes."""

    owner: AsyncEngine
    app_url: str
    app_role: str | None


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """An empty SQLite file, then an empty PostgreSQL database (owner + service role)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'edoc.db'}"
        db = Database(make_engine(url), url, None)
    else:
        pg: PostgresDatabase = request.getfixturevalue("fresh_postgres_db")
        db = Database(make_engine(pg.owner_url), pg.app_url, APP_ROLE)
    try:
        yield db
    finally:
        await db.owner.dispose()


async def test_migrated_tables_match_the_table_definitions(database: Database) -> None:
    """hub/store/schema.py and the migrations describe the same tables."""
    await migrate(database.owner, app_role=database.app_role)

    def diff(conn: Connection) -> list[Any]:
        found: list[Any] = compare_metadata(MigrationContext.configure(conn), metadata)
        return found

    async with database.owner.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_0004_adds_weak_to_existing_documents_and_drops_it_again(database: Database) -> None:
    await migrate(database.owner, app_role=database.app_role, revision="0003")
    old_row = {
        "message_id": "6f1c0d2e-0000-4000-8000-000000000001",
        "sender": S1,
        "day": "2026-11-05",
        "valid": True,
        "classified": False,
        "last_reasons": "[]",
        "last_refused_at": None,
    }
    async with database.owner.begin() as conn:
        # the table as 0003 left it: no weak column yet
        await conn.execute(insert(coverage_documents), [old_row])
    await migrate(database.owner, app_role=database.app_role)
    assert await current_revision(database.owner) == "0004"
    app = make_engine(database.app_url)
    try:
        # The service role reads the new column (0002's table grants cover it).
        docs = (await CoverageStore(app).period_data(Period.parse("2026-11"))).documents
        assert (docs[S1].valid, docs[S1].weak) == (1, 0)
        async with app.connect() as conn:
            stored = (await conn.execute(select(coverage_documents.c.weak))).scalar_one()
        assert stored is False
    finally:
        await app.dispose()

    def downgrade(conn: Connection) -> list[str]:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        cfg.attributes["app_role"] = database.app_role
        command.downgrade(cfg, "0003")
        return [c["name"] for c in inspect(conn).get_columns("coverage_documents")]

    async with database.owner.begin() as conn:
        columns = await conn.run_sync(downgrade)
    assert "weak" not in columns and "last_refused_at" in columns
    async with database.owner.connect() as conn:
        kept = (await conn.execute(select(coverage_documents.c.message_id))).scalars().all()
    assert kept == [old_row["message_id"]], "the downgrade keeps the rows"
