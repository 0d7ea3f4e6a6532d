"""Running the hub's services in one process (``edoc serve``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Protocol

import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.api.app import create_app
from hub.audit.recorder import AuditRecorder
from hub.coverage.service import CoverageService
from hub.coverage.store import CoverageStore
from hub.errors import BrokerUnavailableError, HubError
from hub.health import DATABASE_SERVICES, serve_probes
from hub.kafka import explain_unavailable
from hub.lifecycle import LifecycleService
from hub.router_service import RouterService
from hub.settings import Settings
from hub.store.db import make_engine, migrate
from hub.store.log import SignatureLog
from signing.trust import TrustStore
from signing.verifier import Verifier, default_profiles

log = logging.getLogger(__name__)

#: Services ``edoc serve --only`` accepts.
SERVICES = ("router", "audit", "coverage", "lifecycle", "api")


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


async def _run(name: str, service: _Service, stop: asyncio.Event) -> None:
    """Start, run until ``stop``, always stop."""
    await service.start()
    try:
        await service.run(stop)
    finally:
        await service.stop()
        log.info("%s stopped", name)


async def _router(settings: Settings, stop: asyncio.Event) -> None:
    await _run("router", RouterService(settings, build_verifier(settings)), stop)


async def _with_database(
    settings: Settings,
    stop: asyncio.Event,
    name: str,
    make: Callable[[AsyncEngine], _Service],
) -> None:
    """A service that writes the database (migrated by ``serve``); dispose of the engine last."""
    engine = make_engine(settings.database_url)
    try:
        await _run(name, make(engine), stop)
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


async def _audit(settings: Settings, stop: asyncio.Event) -> None:
    await _with_database(
        settings, stop, "audit recorder", lambda e: AuditRecorder(settings, SignatureLog(e))
    )


async def _coverage(settings: Settings, stop: asyncio.Event) -> None:
    await _with_database(
        settings, stop, "coverage", lambda e: CoverageService(settings, CoverageStore(e))
    )


async def _lifecycle(settings: Settings, stop: asyncio.Event) -> None:
    await _with_database(settings, stop, "lifecycle", lambda e: LifecycleService(settings, e))


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: ``serve`` owns SIGINT/SIGTERM for all services."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave signals alone."""
        yield


async def _api(settings: Settings, stop: asyncio.Event) -> None:
    config = uvicorn.Config(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=5,  # open console event streams must not hold up a stop
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    await stop.wait()
    server.should_exit = True
    await task


async def _as_coro(awaitable: Awaitable[None]) -> None:
    await awaitable


async def serve(
    settings: Settings, only: set[str] | None = None, stop: asyncio.Event | None = None
) -> None:
    """Start the chosen services and run until SIGINT/SIGTERM or ``stop`` is set.

    If one service fails, the others are stopped and the error is raised.
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
    runners: dict[str, Callable[[Settings, asyncio.Event], Awaitable[None]]] = {
        "router": _router,
        "audit": _audit,
        "coverage": _coverage,
        "lifecycle": _lifecycle,
        "api": _api,
    }
    tasks: list[asyncio.Task[None]] = [
        asyncio.create_task(_as_coro(runners[name](settings, stop)), name=name)
        for name in SERVICES
        if name in chosen
    ]
    if settings.health_port is not None and "api" not in chosen:  # the api has its own probes
        tasks.append(asyncio.create_task(serve_probes(settings, chosen, stop), name="probes"))
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
