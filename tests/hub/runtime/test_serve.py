"""``edoc serve`` running several database services in one process."""

from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from hub.errors import BrokerUnavailableError
from hub.runtime.serve import serve
from hub.settings import Settings
from hub.store.db import MIGRATIONS, make_engine
from signing.pki import DemoPKI
from tests._postgres import APP_ROLE, PostgresDatabase, free_port


async def test_database_services_migrate_once_on_postgres(
    fresh_postgres_db: PostgresDatabase, pki: DemoPKI
) -> None:
    """Audit, coverage and lifecycle share one migration: concurrent alembic runs collide.

    No broker listens, so once the schema is in place every service fails on Kafka,
    which is the error ``serve`` must raise (not a half-run migration's).
    """
    settings = Settings(
        database_url=fresh_postgres_db.owner_url,
        database_app_role=APP_ROLE,
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        hub_key=pki.hub.key,
        hub_cert=pki.hub.chain,
    )
    with pytest.raises(BrokerUnavailableError):
        await serve(settings, {"audit", "coverage", "lifecycle"})
    engine = make_engine(fresh_postgres_db.owner_url)
    try:
        async with engine.connect() as conn:
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    finally:
        await engine.dispose()
    assert version == ScriptDirectory(str(MIGRATIONS)).get_current_head(), "migrated to the head"
