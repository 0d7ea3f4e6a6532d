"""The hub's ASGI application: auditor API, health and readiness."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from hub.api import audit
from hub.settings import Settings
from hub.store.db import make_engine, migrate
from hub.store.log import SignatureLog


def create_app(settings: Settings) -> FastAPI:
    """The FastAPI app; the database is opened (and migrated) at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        await migrate(engine, app_role=settings.database_app_role)
        app.state.engine = engine
        app.state.log = SignatureLog(engine)
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="edoc-hub API",
        version="1",
        summary="Signature log, coverage and operations of the provincial e-document hub",
        lifespan=lifespan,
    )
    app.include_router(audit.router)

    @app.get("/healthz", tags=["ops"], summary="Liveness")
    async def healthz() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="Readiness: the database answers")
    async def readyz(request: Request) -> JSONResponse:
        """200 when the database answers a query, 503 otherwise."""
        try:
            async with request.app.state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "database": str(exc)[:200]}, 503)
        return JSONResponse({"status": "ok"})

    return app
