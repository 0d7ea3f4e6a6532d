"""Coverage store fixtures on both backends: a SQLite file and a real PostgreSQL.

On PostgreSQL the store runs as the service role (``edoc_app``), which can do
only what migration 0002 grants it — so a missing grant fails these tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.coverage.store import CoverageStore
from hub.store.db import make_engine, migrate
from tests._postgres import APP_ROLE, PostgresDatabase


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CoverageStore]:
    """A migrated coverage store, SQLite then PostgreSQL (service role)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'coverage.db'}")
        await migrate(engine)
    else:
        db: PostgresDatabase = request.getfixturevalue("fresh_postgres_db")
        owner = make_engine(db.owner_url)
        await migrate(owner, app_role=APP_ROLE)
        await owner.dispose()
        engine = make_engine(db.app_url)
    try:
        yield CoverageStore(engine)
    finally:
        await engine.dispose()
