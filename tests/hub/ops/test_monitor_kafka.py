"""The monitor, metrics, readiness and reprocessing against a real broker and a real router."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from hub.directory import publish_agencies
from hub.kafka.lag import topic_partitions
from hub.ops.stats import OTHER_AGENCIES
from hub.router.service import RouterService
from hub.settings import Settings
from schemas import wire
from schemas.directory import Agency, Level
from schemas.package import Package, b64url_decode, b64url_encode
from signing.pki import DemoPKI
from tests.conftest import A, B, C, PackageFactory
from tests.hub.api.console_tools import Hub, running_hub
from tests.hub.router.test_kafka import (
    as_event,
    router_settings,
    running_router,
    submit,
    wait_for_event,
)

pytestmark = pytest.mark.kafka


def hub_settings(kafka_bootstrap: str, pki: DemoPKI, tmp_path: Path) -> Settings:
    """One router's settings plus the API's: its own database, a fast monitor."""
    return router_settings(kafka_bootstrap, pki).model_copy(
        update={
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}",
            "monitor_poll_seconds": 0.5,
            # Short, so the reprocess test can outwait it (the hub's ticket must carry it).
            "freshness_seconds": 10,
        }
    )


@pytest.fixture
async def live(
    kafka_bootstrap: str, pki: DemoPKI, tmp_path: Path
) -> AsyncIterator[tuple[Hub, RouterService]]:
    settings = hub_settings(kafka_bootstrap, pki, tmp_path)
    async with running_router(settings) as router, running_hub(settings) as hub:
        yield hub, router


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus exposition ``text`` (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if match and match[1] == name:
            got = ",".join(sorted((match[2] or "").split(","))) if match[2] else ""
            if got == want:
                return float(match[3])
    return 0.0


def tampered(raw: bytes) -> bytes:
    pkg = Package.model_validate_json(raw)
    header = json.loads(b64url_decode(pkg.header))
    header["document"]["subject"] += " (sửa)"
    return pkg.model_copy(update={"header": b64url_encode(json.dumps(header).encode())}).to_bytes()


async def eventually(check: object, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    """Wait until ``check()`` (sync or async) is truthy."""
    async with asyncio.timeout(timeout):
        while True:
            result = check()  # type: ignore[operator]
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            await asyncio.sleep(0.2)


async def test_monitor_counts_what_the_router_decides(
    live: tuple[Hub, RouterService], signed_package: PackageFactory, kafka_bootstrap: str
) -> None:
    hub, router = live
    metrics_before = (await hub.client.get("/metrics", headers=hub.bearer("operator"))).text
    good = [signed_package(A, [B]), signed_package(C, [A, B]), signed_package(B, [C])]
    await submit(kafka_bootstrap, *good, tampered(signed_package(A, [C])))
    text = ""

    def grew(name: str, **labels: str) -> float:
        return metric(text, name, **labels) - metric(metrics_before, name, **labels)

    async def counted() -> bool:
        # History read at start-up feeds the charts, never these counters: they only grow
        # with what is decided while the monitor runs (here: at least our four packages).
        nonlocal text
        text = (await hub.client.get("/metrics", headers=hub.bearer("operator"))).text
        return (
            grew("edoc_verdicts_total", verdict="ok", kind="document") >= 3
            and grew("edoc_rejections_total", reason="bad_signature") >= 1
            and grew("edoc_end_to_end_seconds_count") >= 4
        )

    await eventually(counted)
    assert grew("edoc_verification_seconds_count", verdict="ok") >= 3, "router in this process"
    flow = (await hub.client.get("/api/v1/ops/flow", headers=hub.bearer("auditor"))).json()
    assert {A, B, C} <= {s["code"] for s in flow["flow"]["senders"]}
    assert flow["flow"]["window"]["ok"] >= 3 and flow["flow"]["latency"]["p95"] is not None

    async def router_lag_known() -> bool:
        health = await hub.app.state.monitor.refresh()
        rows = [r for r in health.lag if r.group == router.settings.router_group]
        return bool(rows) and all(r.topic == wire.SUBMIT and r.lag == 0 for r in rows)

    await eventually(router_lag_known)
    text = (await hub.client.get("/metrics", headers=hub.bearer("operator"))).text
    assert f'edoc_consumer_lag{{group="{router.settings.router_group}"' in text
    assert "edoc_broker_up 1.0" in text
    ready = await hub.client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {
        "status": "ok",
        "kafka": "ok",
        "database": "ok",
    }


def fresh_code() -> str:
    return f"{secrets.randbelow(1000):03d}.77.77.H49"


async def read_all(bootstrap: str, topic: str) -> list[tuple[bytes, dict[str, str]]]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = await topic_partitions(consumer, topic)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out = []
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for recs in batch.values():
                out += [(r.value, {k: v.decode() for k, v in r.headers}) for r in recs]
            # transaction markers can leave the position one short of the end
            if not batch and all([await consumer.position(tp) >= ends[tp] - 1 for tp in tps]):
                return out
    finally:
        await consumer.stop()


async def test_an_operator_reprocesses_a_refused_package_after_the_directory_learned_the_agency(
    live: tuple[Hub, RouterService], signed_package: PackageFactory, kafka_bootstrap: str
) -> None:
    hub, router = live
    new = fresh_code()
    raw = signed_package(A, [new])
    mid = json.loads(b64url_decode(Package.model_validate_json(raw).header))["message_id"]
    await submit(kafka_bootstrap, raw)
    first = await wait_for_event(kafka_bootstrap, "message_id", mid)
    assert first["reasons"] == ["unknown_recipient"]
    listed = (await hub.client.get("/api/v1/ops/rejected", headers=hub.bearer("auditor"))).json()
    item = next(i for i in listed if i["message_id"] == mid)
    assert item["reasons"] == ["unknown_recipient"] and item["to"] == [new]
    assert item["reprocessed"] is None
    url = f"/api/v1/ops/rejected/{item['partition']}/{item['offset']}/reprocess"
    assert (await hub.client.post(url, headers=hub.bearer("auditor"))).status_code == 403

    agency = Agency(
        code=new, name="Ban Dân tộc tỉnh", parent="000.00.00.H49", level=Level.DEPARTMENT
    )
    await publish_agencies(kafka_bootstrap, [agency])
    await eventually(lambda: router.directory.is_active(new))
    await asyncio.sleep(11)  # past the freshness window: only the hub's ticket avoids `stale`
    done = await hub.client.post(url, headers=hub.bearer("operator"))
    assert done.status_code == 202, done.text
    action = done.json()
    assert action["actor"]["role"] == "operator" and action["actor"]["name"] == "test operator"
    assert action["target"] == item["ref"] and action["submitted"].startswith("edoc.submit/")

    async def accepted() -> bool:
        events = [e for v, _ in await read_all(kafka_bootstrap, wire.EVENTS) if (e := as_event(v))]
        return any(e["message_id"] == mid and e["verdict"] == "ok" for e in events)

    await eventually(accepted)
    inbox = [v for v, _ in await read_all(kafka_bootstrap, wire.inbox(new))]
    assert inbox.count(raw) == 1, "the original bytes, delivered once"
    resubmitted = [h for v, h in await read_all(kafka_bootstrap, wire.SUBMIT) if v == raw]
    assert any(h.get(wire.H_REPROCESS_OF) == item["ref"] for h in resubmitted)
    assert any("test operator" in h.get(wire.H_REPROCESSED_BY, "") for h in resubmitted)
    assert all(
        h.get(wire.H_REPROCESS_TICKET) for h in resubmitted if h.get(wire.H_REPROCESS_OF)
    )
    actions = [json.loads(v) for v, _ in await read_all(kafka_bootstrap, wire.OPERATIONS)]
    assert any(a["target"] == item["ref"] and a["action"] == "reprocess" for a in actions)
    listed = (await hub.client.get("/api/v1/ops/rejected", headers=hub.bearer("auditor"))).json()
    again = next(i for i in listed if i["ref"] == item["ref"])
    assert again["reprocessed"]["actor"]["name"] == "test operator"
    missing = await hub.client.post(
        f"/api/v1/ops/rejected/{item['partition']}/999999999/reprocess",
        headers=hub.bearer("operator"),
    )
    assert missing.status_code == 404


def stranger() -> str:
    """A well-formed agency code that no directory lists."""
    low, top = secrets.randbelow(1000), secrets.randbelow(100)
    return f"{low:03d}.66.66.Z{top:02d}"


def envelope(header: bytes) -> bytes:
    """A package around ``header`` bytes (the router refuses it; edoc.rejected keeps it)."""
    sig = {"profile": "jws", "value": "e30..AA"}
    return json.dumps({"v": 1, "header": b64url_encode(header), "signatures": [sig]}).encode()


async def test_hostile_refused_packages_leave_the_queue_and_the_counters_usable(
    live: tuple[Hub, RouterService], signed_package: PackageFactory, kafka_bootstrap: str
) -> None:
    hub, _ = live
    hostile = [
        b"[" * 50_000 + b"]" * 50_000,  # json.loads raised RecursionError
        envelope(b'{"document": "x", "to": 5, "message_id": NaN}'),  # .get on a str; NaN in JSON
        envelope(b'{"document": {"code": "x", "subject": ["s"]}, "from": {"a": 1}}'),
        envelope(b'{"a": ' + b"[" * 900 + b"]" * 900 + b"}"),
    ]
    flood = [signed_package(stranger(), [B], signer=A) for _ in range(120)]
    await submit(kafka_bootstrap, *hostile, *flood)
    wanted = {hashlib.sha256(raw).hexdigest() for raw in hostile}
    staff = hub.bearer("auditor")
    listed: list[dict[str, object]] = []

    async def all_listed() -> bool:
        nonlocal listed
        response = await hub.client.get("/api/v1/ops/rejected?limit=500", headers=staff)
        assert response.status_code == 200, response.text  # one bad record broke the list
        listed = response.json()
        return wanted <= {i["package_sha256"] for i in listed}

    await eventually(all_listed)
    mine = [i for i in listed if i["package_sha256"] in wanted]
    assert all(i["message_id"] is None or isinstance(i["message_id"], str) for i in mine)
    assert all(isinstance(i["to"], list) for i in mine)
    cookie = hub.session_cookie("operator")
    page = await hub.client.get("/console/rejected", headers=cookie)
    assert page.status_code == 200
    for item in mine:
        detail = await hub.client.get(
            f"/console/rejected/{item['partition']}/{item['offset']}", headers=cookie
        )
        assert detail.status_code == 200, (item, detail.text[:300])

    # 120 made-up senders: counted, in one bucket, not as 120 agencies
    async def flooded() -> bool:
        flow = (await hub.client.get("/api/v1/ops/flow", headers=staff)).json()["flow"]
        other = [s for s in flow["senders"] if s["code"] == OTHER_AGENCIES]
        return bool(other) and other[0]["count"] >= len(flood)

    await eventually(flooded)
    stats = hub.app.state.monitor.stats
    assert len(list(stats.active_agencies())) < 20, "a handful of agencies and one bucket"
