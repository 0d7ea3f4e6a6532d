"""The hub's ASGI application: auditor API, coverage, lifecycle, agency gateway, console, ops."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from hub.api import audit, coverage, gateway, lifecycle, ops
from hub.console import routes as console
from hub.services import ServiceStates
from hub.settings import Settings
from hub.store.db import make_engine, migrate
from hub.store.log import SignatureLog


def create_app(settings: Settings, services: ServiceStates | None = None) -> FastAPI:
    """The FastAPI app; the database is opened (and migrated) at start-up.

    ``services``: the states of the services ``edoc serve`` runs beside it, for ``/readyz``.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        await migrate(engine, app_role=settings.database_app_role)
        app.state.engine = engine
        app.state.settings = settings
        app.state.log = SignatureLog(engine)
        await ops.start(app, settings, engine)  # the console's monitor (Kafka in the background)
        try:
            yield
        finally:
            await ops.stop(app)
            await app.state.gateway.close()
            await engine.dispose()

    app = FastAPI(
        title="edoc-hub API",
        version="1",
        summary="Signature log, coverage and operations of the provincial e-document hub",
        lifespan=lifespan,
    )
    app.state.services = services
    app.include_router(audit.router)
    app.include_router(coverage.make_router(settings))
    app.include_router(lifecycle.router)
    # Kafka is connected on the gateway's first use, so the API starts while the broker is down.
    app.state.gateway = gateway.GatewayKafka(settings)
    app.include_router(gateway.router)

    # /healthz, /readyz (broker and database), /metrics, /asyncapi.json; then the console.
    ops.install(app, settings)
    console.install(app)
    app.add_exception_handler(RequestValidationError, _invalid_request)

    return app


def _json_safe(value: object) -> object:
    """``value`` with every NaN or infinity replaced by its text (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 answer, but one that can always be written.

    The default echoes each offending input; a JSON body such as ``{"up_to": NaN}``
    (Python's parser accepts it) made that echo unserialisable, and the 422 a 500.
    """
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    body = {"detail": _json_safe(jsonable_encoder(errors))}
    return JSONResponse(body, status.HTTP_422_UNPROCESSABLE_CONTENT)
