"""docs/operations.md, "Backup and restore of the log database", on a real PostgreSQL.

The procedure exactly as documented: ``pg_dump -Fc`` of the database holding the
signature log, ``pg_restore --clean --if-exists`` as the owner role, then
``edoc audit verify``. A restore of a dump someone altered must fail that check,
naming the entry.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError

from hub.store.db import make_engine, migrate
from hub.store.log import SignatureLog
from schemas.events import VerdictEvent
from signing.checkpoint import Checkpoint
from signing.keys import SigningKey
from signing.pki import DemoPKI
from tests._ci import unavailable
from tests._postgres import (
    APP_ROLE,
    PostgresDatabase,
    PostgresServer,
    PostgresUnavailableError,
    find_bindir,
)

pytestmark = pytest.mark.postgres

Events = Callable[[int], list[VerdictEvent]]


def pg_tool(name: str) -> str:
    """``pg_dump``/``pg_restore`` of the server's own version (else the one on PATH)."""
    try:
        candidate = find_bindir() / name
    except PostgresUnavailableError:
        candidate = None
    if candidate is not None and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        unavailable("PostgreSQL client tools", f"{name} is neither on PATH nor beside pg_ctl")
    return found


def libpq(url: str) -> tuple[list[str], dict[str, str]]:
    """Connection options and environment (the password) for a libpq tool, from a URL."""
    u = make_url(url)
    args = ["-h", str(u.host), "-p", str(u.port), "-U", str(u.username), "-d", str(u.database)]
    return args, {**os.environ, "PGPASSWORD": str(u.password), "PGCONNECT_TIMEOUT": "10"}


def run_tool(name: str, url: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run ``pg_dump``/``pg_restore`` against ``url``; fail the test with its output."""
    conn, env = libpq(url)
    res = subprocess.run(
        [pg_tool(name), *conn, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert res.returncode == 0, f"{name} failed:\n{res.stdout}{res.stderr}"
    return res


def audit_verify(db: PostgresDatabase, pki: DemoPKI) -> subprocess.CompletedProcess[str]:
    """``edoc audit verify`` as the service role, the way an operator runs it after a restore."""
    env = {
        **os.environ,
        "EDOC_DATABASE_URL": db.app_url,
        "EDOC_DATABASE_APP_ROLE": APP_ROLE,
        "EDOC_HUB_CERT": str(pki.hub.chain),
    }
    return subprocess.run(
        [sys.executable, "-m", "edoc", "audit", "verify"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


Record = Callable[[str, int], Awaitable[None]]


@pytest.fixture
def record(make_events: Events, hub_key: SigningKey) -> Record:
    """``await record(url, n)``: n verdicts appended as ``url``'s role, then a signed checkpoint."""

    async def run(url: str, n: int) -> None:
        engine = make_engine(url)
        try:
            log = SignatureLog(engine)
            await log.append(make_events(n))
            size = await log.size()
            now = datetime.now(UTC).replace(microsecond=0)
            cp = Checkpoint("test/log", size, await log.root(size), now)
            await log.add_checkpoint(cp.sign(hub_key, "000.00.99.H49"))
        finally:
            await engine.dispose()

    return run


@pytest.fixture
async def log_db(fresh_postgres_db: PostgresDatabase) -> PostgresDatabase:
    """A new database migrated by its owner, the service role granted what it needs."""
    owner = make_engine(fresh_postgres_db.owner_url)
    try:
        await migrate(owner, app_role=APP_ROLE)
    finally:
        await owner.dispose()
    return fresh_postgres_db


async def test_dump_restore_verifies_and_keeps_the_append_only_rules(
    log_db: PostgresDatabase, record: Record, pki: DemoPKI, tmp_path: Path
) -> None:
    db = log_db
    await record(db.app_url, 5)
    dump = tmp_path / "edoc.dump"
    run_tool("pg_dump", db.owner_url, "-Fc", "-f", dump)
    await record(db.app_url, 3)  # written after the backup, lost below

    run_tool("pg_restore", db.owner_url, "--clean", "--if-exists", dump)
    res = audit_verify(db, pki)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "entries: 5, checkpoints verified: 1" in res.stdout
    assert "OK: the log matches every signed checkpoint" in res.stdout

    # The restore brought back the grants and the append-only triggers, not just rows:
    # the service role appends, and nobody rewrites an entry.
    await record(db.app_url, 2)
    assert audit_verify(db, pki).returncode == 0
    owner = make_engine(db.owner_url)
    try:
        with pytest.raises(DBAPIError, match="append-only"):
            async with owner.begin() as conn:
                await conn.execute(text("UPDATE log_entries SET subject = 'x' WHERE seq = 1"))
    finally:
        await owner.dispose()


async def test_restore_of_an_altered_dump_fails_verification(
    log_db: PostgresDatabase,
    postgres_server: PostgresServer,
    record: Record,
    pki: DemoPKI,
    tmp_path: Path,
) -> None:
    db = log_db
    await record(db.app_url, 6)
    good = tmp_path / "edoc.dump"
    run_tool("pg_dump", db.owner_url, "-Fc", "-f", good)

    # Someone with the backup file restores it elsewhere, rewrites one subject behind
    # the triggers' back, and dumps it again in the same format.
    scratch = postgres_server.create_database(prefix="edoc_forged")
    try:
        run_tool("pg_restore", scratch.owner_url, "--clean", "--if-exists", good)
        postgres_server.execute(
            [
                "ALTER TABLE log_entries DISABLE TRIGGER USER",
                "UPDATE log_entries SET subject = 'sửa trái phép' WHERE seq = 3",
                "ALTER TABLE log_entries ENABLE TRIGGER USER",
            ],
            database=scratch.name,
        )
        altered = tmp_path / "edoc-altered.dump"
        run_tool("pg_dump", scratch.owner_url, "-Fc", "-f", altered)
    finally:
        postgres_server.drop_database(scratch.name)

    run_tool("pg_restore", db.owner_url, "--clean", "--if-exists", altered)
    res = audit_verify(db, pki)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "DIVERGENCE: entry 3" in res.stdout
    assert "edited after it was recorded" in res.stdout
    assert "Traceback" not in res.stderr
