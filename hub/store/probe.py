"""Is the database there? One probe for ``/readyz``, the console and the service probes."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

#: Seconds one probe may take before it counts as a failure.
PROBE_TIMEOUT = 3.0


async def database_probe(engine: AsyncEngine) -> str:
    """``"ok"`` when the database answers ``SELECT 1`` now, else a short reason."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        return f"unavailable: {type(exc).__name__}"
    return "ok"
