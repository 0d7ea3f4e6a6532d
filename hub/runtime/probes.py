"""Health probes for service processes that run without the HTTP API.

``edoc serve --only router`` (or audit, coverage, lifecycle) has no web server, yet
containers and Kubernetes want ``/healthz`` and ``/readyz`` like the API's. With
``EDOC_HEALTH_PORT`` set, such a process also serves:

=============  ==================================================================
``/healthz``   200 while the process and its event loop answer (liveness); a
               service that fails after it started is restarted inside the
               process (``hub.runtime.serve``), so liveness stays 200
``/readyz``    200 when Kafka answers a metadata request as this service's user,
               for services with a database the database answers ``SELECT 1``, and
               every service of the process runs; 503 naming the failing part or
               the service being restarted otherwise (bodies name no secrets)
=============  ==================================================================

The API process keeps its own, richer probes (``hub.api.ops``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import uvicorn
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError
from fastapi import FastAPI, status
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.errors import HubError
from hub.kafka.client import client_config, login_refusal
from hub.runtime.server import QuietServer
from hub.services import DATABASE_SERVICES, ServiceStates
from hub.settings import Settings
from hub.store.db import make_engine
from hub.store.probe import database_probe

log = logging.getLogger(__name__)

#: Seconds one probe may take before it counts as a failure.
PROBE_TIMEOUT = 3.0


async def kafka_probe(settings: Settings) -> str:
    """``"ok"`` when the brokers answer a metadata request now, else a short reason.

    A refused SASL login says so (``unavailable: login refused for '<user>'``): to
    the client it looks like a broker that is down.
    """
    admin = AIOKafkaAdminClient(
        **client_config(settings), request_timeout_ms=int(PROBE_TIMEOUT * 1000)
    )
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            await admin.start()
            await admin.describe_cluster()
    except (KafkaError, OSError, TimeoutError) as exc:
        if isinstance(exc, KafkaConnectionError) and await login_refusal(
            settings, timeout=PROBE_TIMEOUT
        ):
            return f"unavailable: login refused for {settings.kafka_username!r}"
        return f"unavailable: {type(exc).__name__}"
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
    return "ok"


def create_health_app(
    settings: Settings,
    services: set[str],
    engine: AsyncEngine | None = None,
    states: ServiceStates | None = None,
) -> FastAPI:
    """The probe app for a process running ``services`` (their ``states``, when supervised)."""
    app = FastAPI(title="edoc-hub service probes", docs_url=None, redoc_url=None)
    names = sorted(services)

    @app.get("/healthz")
    async def healthz() -> dict[str, object]:
        return {"status": "ok", "services": names}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        body: dict[str, object] = {"services": names, "kafka": await kafka_probe(settings)}
        if engine is not None:
            body["database"] = await database_probe(engine)
        unready = states.unready() if states is not None else {}
        ready = not unready and all(v == "ok" for k, v in body.items() if k != "services")
        if unready:
            body["unready"] = unready
        body["status"] = "ok" if ready else "unavailable"
        code = status.HTTP_200_OK if ready else status.HTTP_503_SERVICE_UNAVAILABLE
        return JSONResponse(body, code)

    return app


async def serve_probes(
    settings: Settings,
    services: set[str],
    stop: asyncio.Event,
    states: ServiceStates | None = None,
) -> None:
    """Serve ``/healthz`` and ``/readyz`` on ``EDOC_API_HOST:EDOC_HEALTH_PORT`` until ``stop``."""
    if settings.health_port is None:
        raise HubError("serve_probes needs EDOC_HEALTH_PORT")
    engine = make_engine(settings.database_url) if services & DATABASE_SERVICES else None
    config = uvicorn.Config(
        create_health_app(settings, services, engine, states),
        host=settings.api_host,
        port=settings.health_port,
        log_level="warning",
        lifespan="off",
    )
    server = QuietServer(config)
    task = asyncio.create_task(server.serve())
    try:
        await stop.wait()
    finally:
        server.should_exit = True
        await task
        if engine is not None:
            await engine.dispose()
