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
from collections.abc import Iterator
from dataclasses import dataclass, field

import uvicorn
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError
from fastapi import FastAPI, status
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.errors import HubError
from hub.kafka.client import client_config, login_refusal
from hub.settings import Settings
from hub.store.db import make_engine

log = logging.getLogger(__name__)

#: Seconds one probe may take before it counts as a failure.
PROBE_TIMEOUT = 3.0
#: Services that keep state in the database.
DATABASE_SERVICES = frozenset({"audit", "coverage", "lifecycle"})


@dataclass
class ServiceStates:
    """What each service of an ``edoc serve`` process is doing, for ``/readyz``.

    ``"starting"`` until its start returns, ``"running"`` then, and
    ``"restarting: <error>"`` after it failed, until it runs again.
    """

    states: dict[str, str] = field(default_factory=dict)

    def starting(self, name: str) -> None:
        """``name`` is being started (first time or again)."""
        self.states.setdefault(name, "starting")

    def running(self, name: str) -> None:
        """``name`` started and is running."""
        self.states[name] = "running"

    def failed(self, name: str, error: str) -> None:
        """``name`` failed with ``error`` and will be restarted."""
        self.states[name] = f"restarting: {error}"

    def has_run(self, name: str) -> bool:
        """True once ``name`` has started at least once (it is then restarted on failure)."""
        return self.states.get(name, "starting") != "starting"

    def unready(self) -> dict[str, str]:
        """The services not running now, with what they are doing."""
        return {n: s for n, s in sorted(self.states.items()) if s != "running"}


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


async def database_probe(engine: AsyncEngine) -> str:
    """``"ok"`` when the database answers ``SELECT 1`` now, else a short reason."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        return f"unavailable: {type(exc).__name__}"
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


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling (``edoc serve`` owns SIGINT/SIGTERM)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave signals alone."""
        yield


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
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await stop.wait()
    finally:
        server.should_exit = True
        await task
        if engine is not None:
            await engine.dispose()
