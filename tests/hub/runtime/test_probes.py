"""Probes of service processes without the API (EDOC_HEALTH_PORT)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from hub.runtime.probes import create_health_app, serve_probes
from hub.settings import Settings
from hub.store.db import make_engine
from tests._kafka import free_port


def client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://probe")  # type: ignore[arg-type]


async def test_live_but_not_ready_without_kafka(tmp_path: Path) -> None:
    settings = Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}")
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    async with client(create_health_app(settings, {"audit"}, engine)) as c:
        assert (await c.get("/healthz")).json() == {"status": "ok", "services": ["audit"]}
        ready = await c.get("/readyz")
    await engine.dispose()
    assert ready.status_code == 503
    body = ready.json()
    assert body["kafka"].startswith("unavailable") and body["database"] == "ok"


@pytest.mark.kafka
async def test_ready_with_kafka_served_on_the_health_port(kafka_bootstrap: str) -> None:
    port = free_port()
    settings = Settings(kafka_bootstrap=kafka_bootstrap, health_port=port)
    stop = asyncio.Event()
    task = asyncio.create_task(serve_probes(settings, {"router"}, stop))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c, asyncio.timeout(20):
            while True:
                try:
                    ready = await c.get("/readyz")
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.1)
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"services": ["router"], "kafka": "ok", "status": "ok"}
    finally:
        stop.set()
        await task
