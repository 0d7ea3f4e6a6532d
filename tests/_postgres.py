"""Pytest plugin: a real PostgreSQL server for the tests that need one.

Load it with ``-p tests._postgres`` (or ``pytest_plugins``). It gives

* the ``postgres`` marker: a marked test gets the session server (the
  ``postgres_server`` fixture is added for it), and a test asking for any of
  the fixtures below gets the marker; ``-m "not postgres"`` skips them all.
* three roles, the same on every server the tests use:

  - ``edoc_admin`` (:data:`ADMIN_ROLE`): superuser, for tests that tamper with
    the data behind the service's back (on a server given by
    ``EDOC_TEST_POSTGRES_URL`` it is that URL's user instead);
  - ``edoc_owner`` (:data:`OWNER_ROLE`): owns the test databases and runs the
    migrations; not a superuser;
  - ``edoc_app`` (:data:`APP_ROLE`): the service role; LOGIN and nothing else,
    so it can do only what the migrations GRANT it.

* session fixtures ``postgres_admin_url``, ``postgres_owner_url`` and
  ``postgres_url`` (the app role): SQLAlchemy async URLs
  (``postgresql+asyncpg://USER:PASS@127.0.0.1:PORT/DB``) of one database made
  for the session; ``postgres_server`` (:class:`PostgresServer`) for anything
  else;
* the function fixture ``fresh_postgres_db`` (:class:`PostgresDatabase`): a new
  empty database per test, owned by ``edoc_owner``, dropped afterwards.

The server is ``EDOC_TEST_POSTGRES_URL`` when set (a superuser URL, or one of a
role with CREATEROLE and CREATEDB, of a server dedicated to tests: the roles
above are created or get their test password there), otherwise a throwaway
cluster: ``initdb`` into a fresh directory under the system temp dir, owned by
the ``postgres`` system user when we are root (PostgreSQL refuses to run as
root), listening on 127.0.0.1 only on a free port, with its unix socket in the
data directory and fsync off. It is stopped and deleted at the end of the
session; its log is copied to pytest's temp dir (``postgres0/server.log``).

A server that cannot be had fails the test on CI (``CI=true``) and skips it
elsewhere, with the reason (and the tail of the server log) either way.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn, TypeVar

import pytest
from sqlalchemy import URL, make_url, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from tests._ci import unavailable

ENV_URL = "EDOC_TEST_POSTGRES_URL"

ADMIN_ROLE = "edoc_admin"
OWNER_ROLE = "edoc_owner"
APP_ROLE = "edoc_app"
# Test-only passwords on a loopback-only throwaway server (or a server dedicated
# to tests). Fixed, so concurrent sessions against one external server agree.
ADMIN_PASSWORD = "edoc-admin-test"
OWNER_PASSWORD = "edoc-owner-test"
APP_PASSWORD = "edoc-app-test"

DRIVER = "postgresql+asyncpg"
HOST = "127.0.0.1"
SYSTEM_USER = "postgres"  # who runs the server when we are root
START_TIMEOUT_S = 60
CONNECT_TIMEOUT_S = 15.0
LOG_TAIL_LINES = 30

FIXTURES = frozenset(
    {
        "postgres_server",
        "postgres_session_db",
        "postgres_admin_url",
        "postgres_owner_url",
        "postgres_url",
        "fresh_postgres_db",
    }
)
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
T = TypeVar("T")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``postgres`` marker."""
    config.addinivalue_line(
        "markers",
        "postgres: needs a real PostgreSQL server (gets the postgres_server fixture)",
    )


@pytest.hookimpl(tryfirst=True)  # before -m deselection sees the markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marked tests get the server; tests asking for a PostgreSQL fixture get the marker."""
    for item in items:
        names = getattr(item, "fixturenames", None)
        if names is None:
            continue
        wants = FIXTURES.intersection(names)
        marker = item.get_closest_marker("postgres")
        if marker is None and wants:
            item.add_marker(pytest.mark.postgres)
        elif marker is not None and not wants:
            names.append("postgres_server")


def postgres_unavailable(reason: str) -> NoReturn:
    """Fail on CI, skip elsewhere: a developer without PostgreSQL can still run the rest."""
    unavailable("PostgreSQL", reason)


class PostgresUnavailableError(Exception):
    """The server could not be found, started or reached; the message says why."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def quote_ident(name: str) -> str:
    """``name`` as an SQL identifier; only plain lower-case names are accepted."""
    if not _IDENT.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return f'"{name}"'


def quote_literal(value: str) -> str:
    """``value`` as an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def run_async(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion in a worker thread with its own event loop.

    Safe from sync fixtures whatever loop pytest-asyncio is running.
    """

    async def main() -> T:
        return await factory()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


@dataclass(frozen=True)
class PostgresDatabase:
    """One database and the URLs to reach it as each of the three roles."""

    name: str
    admin_url: str
    """The superuser (``edoc_admin``, or the ``EDOC_TEST_POSTGRES_URL`` user)."""
    owner_url: str
    """``edoc_owner``: owns the database and its ``public`` schema; runs migrations."""
    app_url: str
    """``edoc_app``: the service role, with only what the migrations grant it."""

    @property
    def url(self) -> str:
        """The service's URL (the app role), like the ``postgres_url`` fixture."""
        return self.app_url


@dataclass
class PostgresServer:
    """A running server: where it listens, how to log in as admin, and DB helpers."""

    host: str
    port: int
    admin_user: str
    admin_password: str
    maintenance_db: str = "postgres"
    managed: bool = False
    """True for the throwaway cluster this plugin started (and will stop)."""
    data_dir: Path | None = None
    log_file: Path | None = None
    created: set[str] = field(default_factory=set)

    def url(self, user: str, password: str, database: str) -> str:
        """A SQLAlchemy async (asyncpg) URL for ``user`` on ``database``."""
        return URL.create(
            DRIVER,
            username=user,
            password=password,
            host=self.host,
            port=self.port,
            database=database,
        ).render_as_string(hide_password=False)

    def admin_url(self, database: str | None = None) -> str:
        """The admin's URL for ``database`` (default: the maintenance database)."""
        return self.url(self.admin_user, self.admin_password, database or self.maintenance_db)

    def database(self, name: str) -> PostgresDatabase:
        """The three URLs for database ``name``."""
        return PostgresDatabase(
            name=name,
            admin_url=self.admin_url(name),
            owner_url=self.url(OWNER_ROLE, OWNER_PASSWORD, name),
            app_url=self.url(APP_ROLE, APP_PASSWORD, name),
        )

    def execute(self, statements: Sequence[str], database: str | None = None) -> None:
        """Run ``statements`` one by one, autocommit, as admin on ``database``."""
        url = self.admin_url(database)

        async def go() -> None:
            engine = create_async_engine(url, poolclass=NullPool)
            try:
                async with engine.connect() as conn:
                    auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                    for sql in statements:
                        await auto.execute(text(sql))
            finally:
                await engine.dispose()

        run_async(go)

    def create_database(self, prefix: str = "edoc_t") -> PostgresDatabase:
        """Create a new empty database owned by ``edoc_owner``; return its URLs.

        ``public`` is left to the owner alone (``CREATE`` revoked from PUBLIC, as
        PostgreSQL 15 does anyway), so ``edoc_app`` can create nothing there.
        """
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self.execute(
            [
                f"CREATE DATABASE {quote_ident(name)} OWNER {quote_ident(OWNER_ROLE)} "
                "TEMPLATE template0 ENCODING 'UTF8'"
            ]
        )
        self.created.add(name)
        self.execute(
            [
                "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
                f"ALTER SCHEMA public OWNER TO {quote_ident(OWNER_ROLE)}",
            ],
            database=name,
        )
        return self.database(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name``, disconnecting whoever is still on it."""
        self.execute([f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)"])
        self.created.discard(name)

    def ensure_roles(self) -> None:
        """Create ``edoc_owner`` and ``edoc_app`` (or reset them to the test settings)."""
        statements: list[str] = []
        for role, password in ((OWNER_ROLE, OWNER_PASSWORD), (APP_ROLE, APP_PASSWORD)):
            ident = quote_ident(role)
            statements += [
                "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
                f"{quote_literal(role)}) THEN CREATE ROLE {ident}; END IF; END $$",
                f"ALTER ROLE {ident} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                f"NOBYPASSRLS PASSWORD {quote_literal(password)}",
            ]
        self.execute(statements)


# --- finding and running the server binaries -------------------------------------------


def _version_key(bindir: str) -> tuple[int, ...]:
    """Sort key for ``/usr/lib/postgresql/<ver>/bin``: the version as numbers."""
    ver = Path(bindir).parent.name
    return tuple(int(p) for p in re.findall(r"\d+", ver)) or (0,)


def find_bindir() -> Path:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres`` of one version.

    ``pg_ctl`` on PATH first (symlinks resolved, so its siblings match), then
    Debian's ``/usr/lib/postgresql/<ver>/bin``, newest version first.
    """
    candidates: list[str] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for cand in candidates:
        d = Path(cand)
        if all(os.access(d / exe, os.X_OK) for exe in ("initdb", "pg_ctl", "postgres")):
            return d
    raise PostgresUnavailableError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH nor in "
        "/usr/lib/postgresql/*/bin; install them with `bash scripts/bootstrap.sh` "
        "(as root) or `apt-get install postgresql`, or set " + ENV_URL
    )


def log_tail(log_file: Path | None, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of the server log, or a note that there is none."""
    if log_file is None or not log_file.exists():
        return "(no server log)"
    text_ = log_file.read_text(errors="replace").splitlines()
    return "\n".join(text_[-lines:]) or "(server log is empty)"


class LocalCluster:
    """A throwaway cluster: initdb, start, stop, delete. Runs as ``postgres`` when root."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.as_user: str | None = None
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam(SYSTEM_USER)
            except KeyError:
                raise PostgresUnavailableError(
                    f"running as root and there is no {SYSTEM_USER!r} system user to run "
                    "PostgreSQL as (PostgreSQL refuses root); `apt-get install postgresql` "
                    "creates it"
                ) from None
            self.as_user = SYSTEM_USER
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
        # Not pytest's tmp dir: /tmp/pytest-of-root is 0700, closed to `postgres`.
        self.root = Path(tempfile.mkdtemp(prefix="edoc-pg-"))
        if self.as_user:
            os.chown(self.root, self.uid, self.gid)
        self.data_dir = self.root / "data"
        self.log_file = self.root / "server.log"
        self.port = 0
        self.started = False

    def _cmd(self, exe: str, *args: str) -> list[str]:
        argv = [str(self.bindir / exe), *args]
        return ["runuser", "-u", self.as_user, "--", *argv] if self.as_user else argv

    def _run(self, exe: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        for var in ("PGDATA", "PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE"):
            env.pop(var, None)
        return subprocess.run(
            self._cmd(exe, *args),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=self.root,
            check=False,
        )

    def _fail(self, what: str, proc: subprocess.CompletedProcess[str]) -> NoReturn:
        out = (proc.stdout + proc.stderr).strip()
        raise PostgresUnavailableError(
            f"{what} failed (exit {proc.returncode}): {out[-2000:]}\n"
            f"--- server log ({self.log_file}) ---\n{log_tail(self.log_file)}"
        )

    def init(self) -> None:
        """``initdb`` with ``edoc_admin`` as bootstrap superuser, then the config."""
        pwfile = self.root / "pwfile"
        pwfile.write_text(ADMIN_PASSWORD + "\n")
        pwfile.chmod(0o600)
        if self.as_user:
            os.chown(pwfile, self.uid, self.gid)
        proc = self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            ADMIN_ROLE,
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
            "--no-instructions",
        )
        pwfile.unlink()
        if proc.returncode != 0:
            self._fail("initdb", proc)
        # Only the owner's unix socket (in the 0700 data dir) and 127.0.0.1 with a password.
        (self.data_dir / "pg_hba.conf").write_text(
            f"local all all trust\nhost all all {HOST}/32 scram-sha-256\n"
        )

    def configure(self, port: int) -> None:
        """Listen on 127.0.0.1:``port`` only; durability off (the data is thrown away)."""
        self.port = port
        settings = {
            "listen_addresses": f"'{HOST}'",
            "port": str(port),
            "unix_socket_directories": f"'{self.data_dir}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "password_encryption": "'scram-sha-256'",
            "log_min_messages": "warning",
            "log_line_prefix": "'%m [%p] %q%u@%d '",
        }
        body = "".join(f"{k} = {v}\n" for k, v in settings.items())
        (self.data_dir / "postgresql.auto.conf").write_text(
            "# Written by tests/_postgres.py for a throwaway test cluster.\n" + body
        )

    def start(self) -> None:
        """``pg_ctl -w start`` on a free port (a second port if the first was taken)."""
        for attempt in range(2):
            self.configure(free_port())
            proc = self._run(
                "pg_ctl",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                str(START_TIMEOUT_S),
                "start",
                timeout=START_TIMEOUT_S + 30,
            )
            if proc.returncode == 0:
                self.started = True
                return
            if attempt == 0 and "could not bind" in log_tail(self.log_file, 200):
                continue  # lost the free-port race: try another one
            self._fail("pg_ctl start", proc)

    def stop(self) -> None:
        """Fast shutdown (immediate if that does not work); idempotent."""
        if not self.started:
            return
        proc = self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
        if proc.returncode != 0:
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        self.started = False

    def remove(self) -> None:
        """Delete the cluster's directory (stop it first)."""
        shutil.rmtree(self.root, ignore_errors=True)


def wait_for_server(url: str, timeout_s: float = CONNECT_TIMEOUT_S) -> tuple[str, bool]:
    """Connect to ``url`` until it answers; return (server version, can create roles+dbs)."""

    async def probe() -> tuple[str, bool]:
        engine = create_async_engine(url, poolclass=NullPool, connect_args={"timeout": 5})
        try:
            async with engine.connect() as conn:
                return await _probe(conn)
        finally:
            await engine.dispose()

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return run_async(probe)
        except (SQLAlchemyError, OSError) as exc:
            if time.monotonic() >= deadline:
                raise PostgresUnavailableError(
                    f"{make_url(url).render_as_string(hide_password=True)} does not answer: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
            time.sleep(0.5)


async def _probe(conn: AsyncConnection) -> tuple[str, bool]:
    version = (await conn.execute(text("show server_version"))).scalar_one()
    row = (
        await conn.execute(
            text(
                "select rolsuper or (rolcreaterole and rolcreatedb) "
                "from pg_roles where rolname = current_user"
            )
        )
    ).scalar_one()
    return str(version), bool(row)


def external_server(raw: str) -> PostgresServer:
    """The server named by ``EDOC_TEST_POSTGRES_URL``, checked to answer and be an admin."""
    try:
        given = make_url(raw)
    except Exception as exc:  # any parse error: report it, do not crash the session
        raise PostgresUnavailableError(f"{ENV_URL} is not a database URL: {exc}") from None
    if not given.drivername.startswith("postgresql"):
        raise PostgresUnavailableError(f"{ENV_URL} is not a postgresql:// URL")
    server = PostgresServer(
        host=given.host or HOST,
        port=given.port or 5432,
        admin_user=given.username or "postgres",
        admin_password=given.password if isinstance(given.password, str) else "",
        maintenance_db=given.database or "postgres",
    )
    _, privileged = wait_for_server(server.admin_url())
    if not privileged:
        raise PostgresUnavailableError(
            f"{ENV_URL}: user {server.admin_user!r} is neither superuser nor "
            "CREATEROLE+CREATEDB; the tests need to create roles and databases"
        )
    return server


def local_server(cluster: LocalCluster) -> PostgresServer:
    """Init and start ``cluster``; the :class:`PostgresServer` that describes it."""
    cluster.init()
    cluster.start()
    server = PostgresServer(
        host=HOST,
        port=cluster.port,
        admin_user=ADMIN_ROLE,
        admin_password=ADMIN_PASSWORD,
        managed=True,
        data_dir=cluster.data_dir,
        log_file=cluster.log_file,
    )
    try:
        wait_for_server(server.admin_url())
    except PostgresUnavailableError as exc:
        raise PostgresUnavailableError(
            f"{exc}\n--- server log ({cluster.log_file}) ---\n{log_tail(cluster.log_file)}"
        ) from None
    return server


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A running server with the ``edoc_owner`` and ``edoc_app`` roles, for the session."""
    external = os.environ.get(ENV_URL)
    cluster: LocalCluster | None = None
    server: PostgresServer | None = None
    reason: str | None = None  # raised outside `except`: no chained traceback in reports
    try:
        if external:
            server = external_server(external)
        else:
            cluster = LocalCluster(find_bindir())
            server = local_server(cluster)
        server.ensure_roles()
    except PostgresUnavailableError as exc:
        reason = str(exc) + (f" (from {ENV_URL})" if external else "")
    except (SQLAlchemyError, OSError, subprocess.SubprocessError) as exc:
        tail = f"\n--- server log ---\n{log_tail(cluster.log_file)}" if cluster else ""
        reason = f"{type(exc).__name__}: {exc}{tail}"
    if reason or server is None:
        _shutdown(cluster, tmp_path_factory)
        postgres_unavailable(reason or "no server")
    try:
        yield server
    finally:
        for name in sorted(server.created):
            with contextlib.suppress(SQLAlchemyError, OSError):
                server.drop_database(name)
        _shutdown(cluster, tmp_path_factory)


def _shutdown(cluster: LocalCluster | None, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Stop and delete ``cluster``, keeping its log in pytest's temp dir."""
    if cluster is None:
        return
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        cluster.stop()
    with contextlib.suppress(OSError):
        if cluster.log_file.exists():
            shutil.copy(cluster.log_file, tmp_path_factory.mktemp("postgres") / "server.log")
    cluster.remove()


@pytest.fixture(scope="session")
def postgres_session_db(postgres_server: PostgresServer) -> PostgresDatabase:
    """One database shared by the whole session (dropped with the server's cleanup)."""
    return postgres_server.create_database(prefix="edoc_session")


@pytest.fixture(scope="session")
def postgres_admin_url(postgres_session_db: PostgresDatabase) -> str:
    """Superuser URL of the session database (for tampering behind the service's back)."""
    return postgres_session_db.admin_url


@pytest.fixture(scope="session")
def postgres_owner_url(postgres_session_db: PostgresDatabase) -> str:
    """``edoc_owner`` URL of the session database: owns it, runs the migrations."""
    return postgres_session_db.owner_url


@pytest.fixture(scope="session")
def postgres_url(postgres_session_db: PostgresDatabase) -> str:
    """``edoc_app`` URL of the session database: the service role, no special rights."""
    return postgres_session_db.app_url


@pytest.fixture
def fresh_postgres_db(postgres_server: PostgresServer) -> Iterator[PostgresDatabase]:
    """A new empty database for this test alone (owned by ``edoc_owner``), dropped after."""
    db = postgres_server.create_database()
    try:
        yield db
    finally:
        postgres_server.drop_database(db.name)
