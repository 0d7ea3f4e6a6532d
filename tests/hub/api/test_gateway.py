"""The agency HTTP gateway: roles, list/fetch/ack semantics, isolation, bad input, Kafka down.

Inbox semantics are checked against a real broker on inboxes of fresh agency
codes written with a transactional producer (committed and aborted records), so
each test knows exactly what an inbox holds; one test runs the real router.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from hub.kafka.client import TopicAdmin
from hub.runtime.app import create_app
from hub.settings import Settings
from hub.store.db import make_engine, migrate
from hub.store.tokens import create_token, revoke_token
from schemas import wire
from schemas.package import parse_package
from signing.pki import DemoPKI
from tests._kafka import free_port
from tests.conftest import HUB, A, B, PackageFactory
from tests.hub.router.test_kafka import router_settings, running_router


def fresh_code() -> str:
    """An agency code no other test uses (its inbox starts empty)."""
    n = secrets.randbelow(10**5)
    return f"{n // 100:03d}.88.88.Z{n % 100:02d}"


@dataclass
class Gateway:
    """An HTTP client of the app with a token per role."""

    client: httpx.AsyncClient
    tokens: dict[str, str]
    settings: Settings

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


async def make_tokens(url: str, roles: list[str]) -> dict[str, str]:
    """Tokens for ``roles`` plus a revoked one, in a freshly migrated database."""
    engine = make_engine(url)
    await migrate(engine)
    tokens = {}
    for role in roles:
        tokens[role], _ = await create_token(engine, role, role)
    tokens["revoked"], revoked = await create_token(engine, roles[-1], "left the job")
    await revoke_token(engine, revoked.id)
    await engine.dispose()
    return tokens


@contextlib.asynccontextmanager
async def gateway_app(settings: Settings, tokens: dict[str, str]) -> AsyncIterator[Gateway]:
    """The hub app (lifespan run) behind an in-process HTTP client."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            yield Gateway(client, tokens, settings)


@dataclass
class Inboxes:
    """Two fresh agencies X and Y with known inbox contents."""

    x: str
    y: str
    x_records: dict[int, bytes]  # committed records of X by offset
    x_aborted: int  # offset of an aborted record in X's inbox
    y_records: dict[int, bytes]


async def fill_inboxes(settings: Settings, packages: PackageFactory) -> Inboxes:
    """X: three committed packages around an aborted one; Y: one package."""
    x, y = fresh_code(), fresh_code()
    admin = TopicAdmin(settings)
    await admin.start()
    await admin.ensure_inboxes([x, y])
    await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        transactional_id=f"test-gw-{uuid.uuid4().hex[:8]}",
        max_request_size=4 * 1024 * 1024,
    )
    await producer.start()
    x_records: dict[int, bytes] = {}
    try:

        async def put(topic: str, raw: bytes) -> int:
            meta = await producer.send_and_wait(topic, raw, key=A.encode())
            return int(meta.offset)

        for n in (1, 2):
            async with producer.transaction():
                raw = packages(A, [B], subject=f"Văn bản {n}")
                x_records[await put(wire.inbox(x), raw)] = raw
        await producer.begin_transaction()
        aborted = await put(wire.inbox(x), packages(A, [B], subject="bị hủy"))
        await producer.abort_transaction()
        async with producer.transaction():
            raw = packages(A, [B], subject="Văn bản 3")
            x_records[await put(wire.inbox(x), raw)] = raw
            y_raw = packages(B, [A], subject="Văn bản cho Y")
            y_offset = await put(wire.inbox(y), y_raw)
    finally:
        await producer.stop()
    return Inboxes(x, y, x_records, aborted, {y_offset: y_raw})


@pytest.fixture
async def inboxes(
    kafka_bootstrap: str, signed_package: PackageFactory, tmp_path: Path
) -> AsyncIterator[tuple[Gateway, Inboxes]]:
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}",
        gateway_group_prefix=f"gw-{uuid.uuid4().hex[:8]}-",
        topic_partitions=1,
    )
    boxes = await fill_inboxes(settings, signed_package)
    roles = ["operator", "auditor", f"agency:{boxes.x}", f"agency:{boxes.y}", f"agency:{A}"]
    tokens = await make_tokens(settings.database_url, roles)
    async with gateway_app(settings, tokens) as gw:
        yield gw, boxes


# -- access --------------------------------------------------------------------------------


async def test_every_route_admits_only_agency_tokens(
    inboxes: tuple[Gateway, Inboxes], signed_package: PackageFactory
) -> None:
    gw, boxes = inboxes
    first = min(boxes.x_records)
    routes = [
        ("GET", "/api/v1/gateway/inbox", None, 200),
        ("GET", f"/api/v1/gateway/inbox/{first}", None, 200),
        ("POST", "/api/v1/gateway/inbox/ack", json.dumps({"up_to": first}).encode(), 200),
        ("POST", "/api/v1/gateway/packages", signed_package(boxes.x, [B], signer=A), 202),
    ]
    for method, url, body, ok in routes:
        for headers, expected in [
            ({}, 401),
            ({"Authorization": "Bearer nonsense"}, 401),
            (gw.auth("revoked"), 401),
            (gw.auth("operator"), 403),
            (gw.auth("auditor"), 403),
            (gw.auth(f"agency:{boxes.x}"), ok),
        ]:
            sent = headers | {"Content-Type": "application/json"}
            response = await gw.client.request(method, url, content=body, headers=sent)
            assert response.status_code == expected, (method, url, headers, response.text)
    refused = await gw.client.get("/api/v1/gateway/inbox", headers=gw.auth("operator"))
    assert "agency:<code>" in refused.json()["detail"]


async def test_an_agency_never_reaches_another_agencys_inbox(
    inboxes: tuple[Gateway, Inboxes],
) -> None:
    gw, boxes = inboxes
    as_y = gw.auth(f"agency:{boxes.y}")
    listed = (await gw.client.get("/api/v1/gateway/inbox", headers=as_y)).json()
    assert listed["agency"] == boxes.y
    assert [m["offset"] for m in listed["messages"]] == list(boxes.y_records)
    # Naming X's inbox explicitly is refused, on every inbox route.
    for method, url in [
        ("GET", f"/api/v1/gateway/inbox?agency={boxes.x}"),
        ("GET", f"/api/v1/gateway/inbox/{min(boxes.x_records)}?agency={boxes.x}"),
        ("POST", f"/api/v1/gateway/inbox/ack?agency={boxes.x}"),
    ]:
        response = await gw.client.request(method, url, json={"up_to": 0}, headers=as_y)
        assert response.status_code == 403
        assert f"cannot read the inbox of {boxes.x}" in response.json()["detail"]
    # An offset that holds a package in X's inbox gives Y only its own inbox's content.
    for offset, raw in boxes.x_records.items():
        got = await gw.client.get(f"/api/v1/gateway/inbox/{offset}", headers=as_y)
        assert got.content != raw
        assert got.status_code == 404 or got.content in boxes.y_records.values()
    # Y acknowledging its inbox moves nothing in X's.
    await gw.client.post("/api/v1/gateway/inbox/ack", json={"up_to": 0}, headers=as_y)
    as_x = gw.auth(f"agency:{boxes.x}")
    x_list = (await gw.client.get("/api/v1/gateway/inbox", headers=as_x)).json()
    assert [m["offset"] for m in x_list["messages"]] == sorted(boxes.x_records)
    assert (await gw.client.get(f"/api/v1/gateway/inbox?agency={boxes.x}", headers=as_x)).is_success


# -- inbox semantics -----------------------------------------------------------------------


async def test_list_shows_committed_messages_with_their_summary(
    inboxes: tuple[Gateway, Inboxes],
) -> None:
    gw, boxes = inboxes
    page = (
        await gw.client.get("/api/v1/gateway/inbox", headers=gw.auth(f"agency:{boxes.x}"))
    ).json()
    assert page["committed"] == 0 and page["more"] is False
    assert [m["offset"] for m in page["messages"]] == sorted(boxes.x_records)
    assert boxes.x_aborted not in [m["offset"] for m in page["messages"]]
    for item in page["messages"]:
        parsed = parse_package(boxes.x_records[item["offset"]])
        assert item["message_id"] == str(parsed.header.message_id)
        assert item["kind"] == "document"
        assert item["from"] == A
        assert item["subject"] == parsed.header.document.subject  # type: ignore[union-attr]
        assert item["status"] is None
        assert item["size"] == len(parsed.raw)
        assert item["sent_at"] and item["delivered_at"]
    assert [m["subject"] for m in page["messages"]] == ["Văn bản 1", "Văn bản 2", "Văn bản 3"]


async def test_fetch_returns_the_exact_bytes_or_404(inboxes: tuple[Gateway, Inboxes]) -> None:
    gw, boxes = inboxes
    h = gw.auth(f"agency:{boxes.x}")
    for offset, raw in boxes.x_records.items():
        got = await gw.client.get(f"/api/v1/gateway/inbox/{offset}", headers=h)
        assert got.status_code == 200
        assert got.headers["content-type"] == "application/json"
        assert got.content == raw
    end = max(boxes.x_records) + 10
    for missing in (boxes.x_aborted, boxes.x_aborted + 1, end):
        got = await gw.client.get(f"/api/v1/gateway/inbox/{missing}", headers=h)
        assert got.status_code == 404, missing
        assert got.json()["reason"] == "not_found"
    assert (await gw.client.get("/api/v1/gateway/inbox/-1", headers=h)).status_code == 422


async def test_ack_moves_the_start_of_later_lists(inboxes: tuple[Gateway, Inboxes]) -> None:
    gw, boxes = inboxes
    h = gw.auth(f"agency:{boxes.x}")
    offsets = sorted(boxes.x_records)
    page = (await gw.client.get("/api/v1/gateway/inbox?limit=2", headers=h)).json()
    assert [m["offset"] for m in page["messages"]] == offsets[:2] and page["more"] is True
    paged = (await gw.client.get(f"/api/v1/gateway/inbox?after={offsets[1]}", headers=h)).json()
    assert [m["offset"] for m in paged["messages"]] == offsets[2:], "after pages without acking"

    acked = await gw.client.post("/api/v1/gateway/inbox/ack", json={"up_to": offsets[0]}, headers=h)
    assert acked.json() == {"agency": boxes.x, "committed": offsets[0] + 1}
    page = (await gw.client.get("/api/v1/gateway/inbox", headers=h)).json()
    assert [m["offset"] for m in page["messages"]] == offsets[1:]
    assert page["committed"] == offsets[0] + 1
    # Acknowledging past the aborted record skips it; a retried or older ack changes nothing.
    await gw.client.post("/api/v1/gateway/inbox/ack", json={"up_to": offsets[1]}, headers=h)
    again = await gw.client.post("/api/v1/gateway/inbox/ack", json={"up_to": offsets[0]}, headers=h)
    assert again.json()["committed"] == offsets[1] + 1
    page = (await gw.client.get("/api/v1/gateway/inbox", headers=h)).json()
    assert [m["offset"] for m in page["messages"]] == offsets[2:]
    # Acknowledged messages can still be fetched (re-read after a crash of the agency system).
    assert (await gw.client.get(f"/api/v1/gateway/inbox/{offsets[0]}", headers=h)).is_success

    beyond = await gw.client.post("/api/v1/gateway/inbox/ack", json={"up_to": 10**6}, headers=h)
    assert beyond.status_code == 400 and beyond.json()["reason"] == "invalid_offset"
    negative = await gw.client.post("/api/v1/gateway/inbox/ack", json={"up_to": -1}, headers=h)
    assert negative.status_code == 422

    # The position lives in Kafka (consumer group), not in the API process.
    async with gateway_app(gw.settings, gw.tokens) as restarted:
        page = (await restarted.client.get("/api/v1/gateway/inbox", headers=h)).json()
        assert [m["offset"] for m in page["messages"]] == offsets[2:]
        await restarted.client.post(
            "/api/v1/gateway/inbox/ack", json={"up_to": offsets[2]}, headers=h
        )
        page = (await restarted.client.get("/api/v1/gateway/inbox", headers=h)).json()
        assert page["messages"] == [] and page["more"] is False


# -- submission ----------------------------------------------------------------------------


async def read_record(bootstrap: str, partition: int, offset: int) -> tuple[bytes, bytes, dict]:  # type: ignore[type-arg]
    """Key, value and headers of one ``edoc.submit`` record."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(wire.SUBMIT, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        rec = await consumer.getone()
        return rec.key, rec.value, {k: v.decode() for k, v in rec.headers}
    finally:
        await consumer.stop()


async def test_submit_produces_the_package_unchanged(
    inboxes: tuple[Gateway, Inboxes], signed_package: PackageFactory
) -> None:
    gw, _ = inboxes
    raw = signed_package(A, [B])
    mid = str(parse_package(raw).header.message_id)
    response = await gw.client.post(
        "/api/v1/gateway/packages", content=raw, headers=gw.auth(f"agency:{A}")
    )
    assert response.status_code == 202
    body = response.json()
    assert body["message_id"] == mid
    key, value, headers = await read_record(
        gw.settings.kafka_bootstrap, body["partition"], body["offset"]
    )
    assert (key, value) == (A.encode(), raw)
    assert headers == {
        wire.H_MESSAGE_ID: mid,
        wire.H_KIND: "document",
        wire.H_PROFILE: "jws",
    }


async def test_submit_refuses_bad_input_with_a_reason(
    inboxes: tuple[Gateway, Inboxes], signed_package: PackageFactory
) -> None:
    gw, _ = inboxes
    h = gw.auth(f"agency:{A}")
    url = "/api/v1/gateway/packages"
    for bad, detail in [
        (b"not json", "not JSON"),
        (b'{"v": 1, "header": "!!", "signatures": []}', "header"),
        (b"[]", "not a JSON object"),
    ]:
        response = await gw.client.post(url, content=bad, headers=h)
        assert response.status_code == 400
        assert response.json()["reason"] == "malformed"
        assert detail in response.json()["detail"]
    spoofed = await gw.client.post(url, content=signed_package(B, [A]), headers=h)
    assert spoofed.status_code == 403
    assert spoofed.json()["reason"] == "wrong_sender"
    assert f"from {B} but the token belongs to {A}" in spoofed.json()["detail"]
    too_big = b"{" + b" " * gw.settings.max_package_bytes + b"}"
    response = await gw.client.post(url, content=too_big, headers=h)
    assert response.status_code == 413 and response.json()["reason"] == "too_large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the stream is capped
        for _ in range(gw.settings.max_package_bytes // 65536 + 2):
            yield b" " * 65536

    response = await gw.client.post(url, content=chunks(), headers=h)
    assert response.status_code == 413


async def test_documents_travel_through_the_gateway_end_to_end(
    kafka_bootstrap: str, pki: DemoPKI, signed_package: PackageFactory, tmp_path: Path
) -> None:
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}",
        gateway_group_prefix=f"gw-{uuid.uuid4().hex[:8]}-",
    )
    tokens = await make_tokens(settings.database_url, [f"agency:{A}", f"agency:{B}"])
    raw = signed_package(A, [B])
    mid = str(parse_package(raw).header.message_id)
    async with (
        running_router(router_settings(kafka_bootstrap, pki)),
        gateway_app(settings, tokens) as gw,
    ):
        sent = await gw.client.post(
            "/api/v1/gateway/packages", content=raw, headers=gw.auth(f"agency:{A}")
        )
        assert sent.status_code == 202
        delivered = await wait_listed(gw, B, lambda m: m["message_id"] == mid)
        fetched = await gw.client.get(
            f"/api/v1/gateway/inbox/{delivered['offset']}", headers=gw.auth(f"agency:{B}")
        )
        assert fetched.content == raw
        receipt = await wait_listed(gw, A, lambda m: m["ref_message_id"] == mid)
        assert receipt["kind"] == "status" and receipt["status"] == "01"
        assert receipt["from"] == HUB


async def wait_listed(gw: Gateway, agency: str, match: object, wait: float = 30) -> dict:  # type: ignore[type-arg]
    """The first inbox item of ``agency`` that ``match`` accepts, paging with ``after``."""
    after: int | None = None
    async with asyncio.timeout(wait):
        while True:
            params = {"limit": 200} | ({"after": after} if after is not None else {})
            page = (
                await gw.client.get(
                    "/api/v1/gateway/inbox", params=params, headers=gw.auth(f"agency:{agency}")
                )
            ).json()
            for item in page["messages"]:
                if match(item):  # type: ignore[operator]
                    return item  # type: ignore[no-any-return]
                after = item["offset"]
            if not page["more"]:
                await asyncio.sleep(0.3)


# -- without Kafka -------------------------------------------------------------------------


async def test_without_kafka_the_gateway_answers_503_and_the_rest_works(
    tmp_path: Path, signed_package: PackageFactory
) -> None:
    settings = Settings(
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}",
        gateway_kafka_timeout_seconds=2,
    )
    tokens = await make_tokens(settings.database_url, ["auditor", f"agency:{A}"])
    async with gateway_app(settings, tokens) as gw:
        h = gw.auth(f"agency:{A}")
        for method, url, body in [
            ("GET", "/api/v1/gateway/inbox", None),
            ("GET", "/api/v1/gateway/inbox/0", None),
            ("POST", "/api/v1/gateway/inbox/ack", b'{"up_to": 0}'),
            ("POST", "/api/v1/gateway/packages", signed_package(A, [B])),
        ]:
            response = await gw.client.request(
                method, url, content=body, headers=h | {"Content-Type": "application/json"}
            )
            assert response.status_code == 503, (url, response.text)
            assert response.json()["reason"] == "unavailable"
            assert "not reachable" in response.json()["detail"]
        audit = await gw.client.get("/api/v1/audit/entries", headers=gw.auth("auditor"))
        assert audit.status_code == 200
        ready = (await gw.client.get("/readyz")).json()
        assert ready["database"] == "ok" and ready["kafka"] != "ok"


async def test_openapi_documents_every_gateway_route(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}")
    async with gateway_app(settings, {}) as gw:
        spec = (await gw.client.get("/openapi.json")).json()
    paths = spec["paths"]
    expected = {
        ("/api/v1/gateway/packages", "post"): "Accepted",
        ("/api/v1/gateway/inbox", "get"): "InboxPage",
        ("/api/v1/gateway/inbox/{offset}", "get"): None,
        ("/api/v1/gateway/inbox/ack", "post"): "AckResult",
    }
    for (path, method), model in expected.items():
        op = paths[path][method]
        assert op["summary"] and op["description"]
        assert "gateway" in op["tags"]
        ok = op["responses"]["202" if method == "post" and "packages" in path else "200"]
        if model:
            assert ok["content"]["application/json"]["schema"]["$ref"].endswith(model)
        assert "503" in op["responses"]
    assert paths["/api/v1/gateway/packages"]["post"]["responses"]["400"]["content"]
    assert "Problem" in spec["components"]["schemas"]
