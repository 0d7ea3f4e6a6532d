"""Engines and migrations for SQLite (default, embedded) and PostgreSQL (production).

SQLite needs care for a hash-chained append under concurrency: pysqlite's own
transaction handling is switched off and every transaction starts with
``BEGIN IMMEDIATE``, so two writers can never both read the same tree size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from hub.errors import StoreError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def is_sqlite(engine: AsyncEngine) -> bool:
    """True for the embedded SQLite backend."""
    return engine.dialect.name == "sqlite"


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine for ``url`` (``sqlite+aiosqlite:///…`` or ``postgresql+asyncpg://…``)."""
    try:
        parsed = make_url(url)
    except SQLAlchemyError as exc:
        raise StoreError(f"invalid database URL: {exc}", hint="see docs/configuration.md") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=echo)

        @event.listens_for(engine.sync_engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_async_engine(url, echo=echo, pool_pre_ping=True)
    raise StoreError(
        f"unsupported database {parsed.get_backend_name()!r}",
        hint="use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER:PASS@HOST/DB",
    )


def _alembic_config(connection: Connection, app_role: str | None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    cfg.attributes["app_role"] = app_role
    return cfg


async def migrate(
    engine: AsyncEngine, *, app_role: str | None = None, revision: str = "head"
) -> None:
    """Upgrade the schema to ``revision`` (default: the newest).

    On PostgreSQL, ``app_role`` is the service role: it is granted SELECT and
    INSERT on the log tables and nothing that could rewrite them. An older
    ``revision`` is for tests of a migration over existing rows.
    """

    def _upgrade(conn: Connection) -> None:
        command.upgrade(_alembic_config(conn, app_role), revision)

    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade)
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(
            f"database migration failed: {exc}".splitlines()[0],
            hint="check EDOC_DATABASE_URL and that its role may create tables",
        ) from None


async def current_revision(engine: AsyncEngine) -> str | None:
    """The schema revision the database is at (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415 -- only for this check

    def _rev(conn: Connection) -> str | None:
        return MigrationContext.configure(conn).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(_rev)
