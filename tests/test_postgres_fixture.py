"""The PostgreSQL fixtures of ``tests/_postgres.py`` give what they promise."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from tests._postgres import (
    ADMIN_ROLE,
    APP_ROLE,
    OWNER_ROLE,
    PostgresDatabase,
    PostgresServer,
)


def engine(url: str) -> AsyncEngine:
    """An async engine that keeps no connection after use."""
    return create_async_engine(url, poolclass=NullPool)


async def scalar(url: str, sql: str, **params: object) -> object:
    """The single value ``sql`` (with bound ``params``) returns when run as ``url``'s user."""
    eng = engine(url)
    try:
        async with eng.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar_one()
    finally:
        await eng.dispose()


async def test_urls_are_asyncpg_urls_on_loopback(
    postgres_url: str, postgres_owner_url: str, postgres_admin_url: str
) -> None:
    for raw in (postgres_url, postgres_owner_url, postgres_admin_url):
        url = make_url(raw)
        assert url.drivername == "postgresql+asyncpg"
        assert url.password
    assert make_url(postgres_url).username == APP_ROLE
    assert make_url(postgres_owner_url).username == OWNER_ROLE
    assert len({make_url(u).database for u in (postgres_url, postgres_owner_url)}) == 1


@pytest.mark.parametrize("which", ["admin", "owner", "app"])
async def test_each_role_connects_as_itself(
    which: str, postgres_url: str, postgres_owner_url: str, postgres_admin_url: str
) -> None:
    url = {"admin": postgres_admin_url, "owner": postgres_owner_url, "app": postgres_url}[which]
    assert await scalar(url, "select current_user") == make_url(url).username


async def test_role_privileges(postgres_server: PostgresServer, postgres_admin_url: str) -> None:
    rows = {}
    eng = engine(postgres_admin_url)
    try:
        async with eng.connect() as conn:
            result = await conn.execute(
                text(
                    "select rolname, rolsuper, rolcreatedb, rolcreaterole, rolcanlogin "
                    "from pg_roles where rolname in (:o, :a, :d)"
                ),
                {"o": OWNER_ROLE, "a": APP_ROLE, "d": postgres_server.admin_user},
            )
            rows = {r.rolname: r for r in result}
    finally:
        await eng.dispose()
    for role in (OWNER_ROLE, APP_ROLE):
        assert rows[role].rolcanlogin
        assert not (rows[role].rolsuper or rows[role].rolcreatedb or rows[role].rolcreaterole)
    if postgres_server.managed:
        assert postgres_server.admin_user == ADMIN_ROLE
        assert rows[ADMIN_ROLE].rolsuper


async def test_owner_owns_the_database(postgres_owner_url: str) -> None:
    owner = await scalar(
        postgres_owner_url,
        "select pg_get_userbyid(datdba) from pg_database where datname = current_database()",
    )
    assert owner == OWNER_ROLE


async def test_app_role_cannot_create_tables_until_granted(
    fresh_postgres_db: PostgresDatabase,
) -> None:
    app = engine(fresh_postgres_db.app_url)
    owner = engine(fresh_postgres_db.owner_url)
    try:
        with pytest.raises(ProgrammingError, match="permission denied"):
            async with app.begin() as conn:
                await conn.execute(text("create table intruder (id int)"))

        # The owner creates a table; the app can neither read nor change it ...
        async with owner.begin() as conn:
            await conn.execute(text("create table entries (id int primary key, body text)"))
        with pytest.raises(ProgrammingError, match="permission denied"):
            async with app.begin() as conn:
                await conn.execute(text("select * from entries"))

        # ... until granted: then exactly what was granted, and no more.
        async with owner.begin() as conn:
            await conn.execute(text(f"grant select, insert on entries to {APP_ROLE}"))
        async with app.begin() as conn:
            await conn.execute(text("insert into entries values (1, 'first')"))
            assert (await conn.execute(text("select count(*) from entries"))).scalar_one() == 1
        for forbidden in ("update entries set body = 'x'", "delete from entries"):
            with pytest.raises(ProgrammingError, match="permission denied"):
                async with app.begin() as conn:
                    await conn.execute(text(forbidden))
        with pytest.raises(ProgrammingError, match="permission denied"):
            async with app.begin() as conn:
                await conn.execute(text("create table after_grant (id int)"))
    finally:
        await app.dispose()
        await owner.dispose()


async def test_app_role_cannot_create_in_public_schema(
    fresh_postgres_db: PostgresDatabase,
) -> None:
    can = await scalar(fresh_postgres_db.app_url, "select has_schema_privilege('public', 'CREATE')")
    assert can is False
    assert await scalar(
        fresh_postgres_db.owner_url, "select has_schema_privilege('public', 'CREATE')"
    )


async def test_fresh_databases_are_isolated(
    postgres_server: PostgresServer, fresh_postgres_db: PostgresDatabase
) -> None:
    other = postgres_server.create_database()
    try:
        assert other.name != fresh_postgres_db.name
        async with engine(fresh_postgres_db.owner_url).begin() as conn:
            await conn.execute(text("create table only_here (id int)"))
        assert await scalar(fresh_postgres_db.owner_url, "select to_regclass('only_here')::text")
        assert await scalar(other.owner_url, "select to_regclass('only_here')::text") is None
        assert await scalar(other.owner_url, "select current_database()") == other.name
    finally:
        postgres_server.drop_database(other.name)
    exists = await scalar(
        postgres_server.admin_url(),
        "select count(*) from pg_database where datname = :name",
        name=other.name,
    )
    assert exists == 0


def listening_addresses(port: int) -> set[str] | None:
    """Local addresses with a TCP socket listening on ``port`` (None without /proc)."""
    if not Path("/proc/net/tcp").exists():
        return None
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr_hex, port_hex = local.rsplit(":", 1)
            if state != "0A" or int(port_hex, 16) != port:  # 0A = LISTEN
                continue
            raw = bytes.fromhex(addr_hex)
            # /proc prints each 32-bit word in host (little-endian) order
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.add(str(ipaddress.ip_address(words)))
    return found


async def test_server_listens_on_loopback_only(
    postgres_server: PostgresServer, postgres_admin_url: str
) -> None:
    if not postgres_server.managed:
        pytest.skip("external server (EDOC_TEST_POSTGRES_URL): its config is not ours")
    port = postgres_server.port
    assert await scalar(postgres_admin_url, "show listen_addresses") == "127.0.0.1"
    assert await scalar(postgres_admin_url, "show port") == str(port)
    assert await scalar(postgres_admin_url, "select host(inet_server_addr())") == "127.0.0.1"
    assert await scalar(postgres_admin_url, "show unix_socket_directories") == str(
        postgres_server.data_dir
    )
    assert await scalar(postgres_admin_url, "show fsync") == "off"
    assert listening_addresses(port) in ({"127.0.0.1"}, None)
    # Another loopback address reaches nothing: not bound to 0.0.0.0 / ::.
    with socket.socket() as sock:
        sock.settimeout(2)
        assert sock.connect_ex(("127.0.0.2", port)) != 0
