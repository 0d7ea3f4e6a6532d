"""Run a hub service (start, run until the block ends, stop) in the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.settings import Settings
from hub.store.db import make_engine, migrate


class Service(Protocol):
    """What ``edoc serve`` runs: start, run until a stop event, stop."""

    async def start(self) -> None: ...
    async def run(self, stop: asyncio.Event) -> None: ...
    async def stop(self) -> None: ...


S = TypeVar("S", bound=Service)


@contextlib.asynccontextmanager
async def running(service: S) -> AsyncIterator[S]:
    """``service`` started and running in this event loop until the block ends."""
    await service.start()
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        yield service
    finally:
        stop.set()
        await task
        await service.stop()


@contextlib.asynccontextmanager
async def running_on_database(
    settings: Settings, make: Callable[[AsyncEngine], S]
) -> AsyncIterator[S]:
    """A database service on a migrated ``settings.database_url``; the engine disposed last."""
    engine = make_engine(settings.database_url)
    await migrate(engine)
    try:
        async with running(make(engine)) as service:
            yield service
    finally:
        await engine.dispose()
