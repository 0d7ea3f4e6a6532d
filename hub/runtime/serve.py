"""Running the hub's services in one process (``edoc serve``).

Start fails fast, running heals itself:

* at start, every chosen service must start (broker and database reachable,
  configuration complete); if one cannot, the others are stopped and its error
  is raised with its hint — a deployment that is wrong says so at once;
* once a service has started, a failure of that service (broker or database
  gone, a defect) restarts it alone with growing pauses (``RESTART_PAUSES``);
  ``/readyz`` answers 503 naming it until it runs again, and the other
  services keep running. A record can never be such a failure: each consumer
  handles records inside its guard (``hub.kafka.guard``; the router's verdicts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Protocol

import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.audit.recorder import AuditRecorder
from hub.coverage.service import CoverageService
from hub.coverage.store import CoverageStore
from hub.errors import BrokerUnavailableError, HubError, ServiceReplacedError
from hub.kafka.client import explain_unavailable
from hub.kafka.guard import describe
from hub.lifecycle.service import LifecycleService
from hub.metrics import SERVICE_RESTARTS, SERVICE_UP
from hub.router.service import RouterService
from hub.runtime.app import create_app
from hub.runtime.probes import serve_probes
from hub.runtime.server import QuietServer
from hub.services import DATABASE_SERVICES, SERVICES, ServiceStates
from hub.settings import Settings
from hub.store.db import make_engine, migrate
from hub.store.log import SignatureLog
from schemas.errors import EdocError
from signing.trust import TrustStore
from signing.verifier import Verifier, default_profiles

log = logging.getLogger(__name__)

#: Pauses before restarting a service that failed, seconds (the last one repeats).
RESTART_PAUSES = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
#: A service that ran this long before failing starts its pauses over.
HEALTHY_RUN_SECONDS = 120.0


def build_verifier(settings: Settings) -> Verifier:
    """The verifier configured from ``EDOC_TRUST_ANCHORS``, ``EDOC_CRLS`` and the time windows."""
    trust = TrustStore.from_paths(list(settings.trust_anchors), list(settings.crls))
    return Verifier(
        trust,
        profiles=default_profiles(allow_xmldsig_sha1=settings.xmldsig_allow_sha1),
        clock_skew=timedelta(seconds=settings.clock_skew_seconds),
        freshness=timedelta(seconds=settings.freshness_seconds),
        max_package_bytes=settings.max_package_bytes,
    )


class _Service(Protocol):
    async def start(self) -> None: ...
    async def run(self, stop: asyncio.Event) -> None: ...
    async def stop(self) -> None: ...


async def _run(name: str, service: _Service, stop: asyncio.Event, states: ServiceStates) -> None:
    """Start, run until ``stop``, always stop."""
    try:
        await service.start()
        states.running(name)
        SERVICE_UP.labels(service=name).set(1)
        await service.run(stop)
    finally:
        SERVICE_UP.labels(service=name).set(0)
        await service.stop()
        log.info("%s stopped", name)


async def _router(settings: Settings, stop: asyncio.Event, states: ServiceStates) -> None:
    await _run("router", RouterService(settings, build_verifier(settings)), stop, states)


async def _with_database(
    settings: Settings,
    stop: asyncio.Event,
    states: ServiceStates,
    name: str,
    make: Callable[[AsyncEngine], _Service],
) -> None:
    """A service that writes the database (migrated by ``serve``); dispose of the engine last."""
    engine = make_engine(settings.database_url)
    try:
        await _run(name, make(engine), stop, states)
    finally:
        await engine.dispose()


async def _migrate(settings: Settings) -> None:
    """Bring the schema to the newest revision, once for all the database services.

    Once, not per service: Alembic keeps its migration context in module globals, so
    two migrations interleaving in one event loop (PostgreSQL lets them; SQLite's
    write lock happens to serialise them) corrupt each other.
    """
    engine = make_engine(settings.database_url)
    try:
        await migrate(engine, app_role=settings.database_app_role)
    finally:
        await engine.dispose()


async def _audit(settings: Settings, stop: asyncio.Event, states: ServiceStates) -> None:
    await _with_database(
        settings, stop, states, "audit", lambda e: AuditRecorder(settings, SignatureLog(e))
    )


async def _coverage(settings: Settings, stop: asyncio.Event, states: ServiceStates) -> None:
    await _with_database(
        settings, stop, states, "coverage", lambda e: CoverageService(settings, CoverageStore(e))
    )


async def _lifecycle(settings: Settings, stop: asyncio.Event, states: ServiceStates) -> None:
    await _with_database(
        settings, stop, states, "lifecycle", lambda e: LifecycleService(settings, e)
    )


async def _api(settings: Settings, stop: asyncio.Event, states: ServiceStates) -> None:
    config = uvicorn.Config(
        create_app(settings, states),
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=5,  # open console event streams must not hold up a stop
    )
    server = QuietServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():  # noqa: ASYNC110 -- uvicorn has no event for it
        await asyncio.sleep(0.05)
    if server.started:
        states.running("api")
    await stop.wait()
    server.should_exit = True
    await task


Runner = Callable[[Settings, asyncio.Event, ServiceStates], Awaitable[None]]


async def supervise(
    name: str,
    runner: Runner,
    settings: Settings,
    stop: asyncio.Event,
    states: ServiceStates,
    *,
    pauses: tuple[float, ...] = RESTART_PAUSES,
) -> None:
    """Run ``name`` until ``stop``; once it has started, restart it whenever it fails."""
    failures = 0
    while not stop.is_set():
        states.starting(name)
        began = time.monotonic()
        try:
            await runner(settings, stop, states)
            return
        except Exception as exc:
            if not states.has_run(name) or isinstance(exc, ServiceReplacedError):
                # It never started (a wrong deployment fails fast, with its hint), or
                # another process took its place: restarting would fight that one.
                raise
            error: BaseException = exc
            if isinstance(exc, BrokerUnavailableError):  # or was it a refused login?
                error = await explain_unavailable(settings, exc)
            if time.monotonic() - began > HEALTHY_RUN_SECONDS:
                failures = 0  # it ran well for a while: start the pauses over
            pause = pauses[min(failures, len(pauses) - 1)]
            failures += 1
            states.failed(name, describe(error))
            SERVICE_RESTARTS.labels(service=name).inc()
            log.error(
                "service %s failed: %s; restarting it in %.0f s",
                name,
                describe(error),
                pause,
                exc_info=not isinstance(error, EdocError),  # a defect deserves its traceback
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=pause)


async def serve(
    settings: Settings, only: set[str] | None = None, stop: asyncio.Event | None = None
) -> None:
    """Start the chosen services and run until SIGINT/SIGTERM or ``stop`` is set.

    If one service cannot start, the others are stopped and its error is raised;
    a service that fails after it started is restarted (module docstring).
    """
    chosen = only or set(SERVICES)
    unknown = chosen - set(SERVICES)
    if unknown:
        raise HubError(
            f"unknown service(s): {', '.join(sorted(unknown))}",
            hint=f"choose from {', '.join(SERVICES)}",
        )
    if chosen & DATABASE_SERVICES:
        await _migrate(settings)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    states = ServiceStates()
    runners: dict[str, Runner] = {
        "router": _router,
        "audit": _audit,
        "coverage": _coverage,
        "lifecycle": _lifecycle,
        "api": _api,
    }
    tasks: list[asyncio.Task[None]] = [
        asyncio.create_task(supervise(name, runners[name], settings, stop, states), name=name)
        for name in SERVICES
        if name in chosen
    ]
    if settings.health_port is not None and "api" not in chosen:  # the api has its own probes
        tasks.append(
            asyncio.create_task(serve_probes(settings, chosen, stop, states), name="probes")
        )
    await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    stop.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for name, result in zip([t.get_name() for t in tasks], results, strict=True):
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            error = result
            if isinstance(error, BrokerUnavailableError):  # or was it a refused login?
                error = await explain_unavailable(settings, error)
            log.error("service %s failed: %s", name, error)
            raise error
