"""``edoc serve``'s supervision: start fails fast, a service that fails later is restarted alone."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client import REGISTRY

from hub.errors import HubError, ServiceReplacedError
from hub.runtime.probes import create_health_app
from hub.runtime.serve import supervise
from hub.services import ServiceStates
from hub.settings import Settings


class Flaky:
    """A service runner that starts, fails ``failures`` times after starting, then runs."""

    def __init__(self, name: str, failures: int) -> None:
        self.name = name
        self.failures = failures
        self.starts = 0

    async def __call__(
        self, settings: Settings, stop: asyncio.Event, states: ServiceStates
    ) -> None:
        self.starts += 1
        states.running(self.name)
        if self.failures:
            self.failures -= 1
            raise RuntimeError("lost the database")
        await stop.wait()


def restarts(name: str) -> float:
    return REGISTRY.get_sample_value("edoc_service_restarts_total", {"service": name}) or 0.0


async def test_a_service_that_fails_after_starting_is_restarted_while_the_others_run() -> None:
    states, stop = ServiceStates(), asyncio.Event()
    flaky, steady = Flaky("lifecycle", failures=2), Flaky("router", failures=0)
    before = restarts("lifecycle")
    tasks = [
        asyncio.create_task(supervise(r.name, r, Settings(), stop, states, pauses=(0.2,)))
        for r in (flaky, steady)
    ]
    await asyncio.sleep(0.1)  # failed once, waiting to start again
    assert states.unready() == {"lifecycle": "restarting: RuntimeError: lost the database"}
    async with asyncio.timeout(5):
        while flaky.starts < 3 or states.unready():
            await asyncio.sleep(0.05)
    assert steady.starts == 1 and not any(t.done() for t in tasks), "the others kept running"
    assert restarts("lifecycle") - before == 2
    stop.set()
    await asyncio.gather(*tasks)


async def test_a_service_that_cannot_start_stops_serve_with_its_error() -> None:
    async def misconfigured(settings: Settings, stop: asyncio.Event, states: ServiceStates) -> None:
        raise HubError("the hub's signing key is not configured", hint="set EDOC_HUB_KEY")

    with pytest.raises(HubError, match="signing key"):
        await supervise("router", misconfigured, Settings(), asyncio.Event(), ServiceStates())


async def test_readyz_names_the_service_being_restarted(kafka_bootstrap: str) -> None:
    states = ServiceStates()
    states.running("router")
    states.failed("audit", "OperationalError: database is locked")
    app = create_health_app(
        Settings(kafka_bootstrap=kafka_bootstrap), {"router", "audit"}, None, states
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://p") as c:
        answer = await c.get("/readyz")
        assert answer.status_code == 503
        assert answer.json()["unready"] == {
            "audit": "restarting: OperationalError: database is locked"
        }
        states.running("audit")
        again = await c.get("/readyz")
        assert again.status_code == 200 and "unready" not in again.json()


async def test_a_service_replaced_by_another_process_stops_serve_instead_of_restarting() -> None:
    """A fenced router woken up must not come back and fight its replacement."""

    async def fenced(settings: Settings, stop: asyncio.Event, states: ServiceStates) -> None:
        states.running("router")
        raise ServiceReplacedError("another router took over partition 0")

    with pytest.raises(ServiceReplacedError):
        await supervise("router", fenced, Settings(), asyncio.Event(), ServiceStates())
