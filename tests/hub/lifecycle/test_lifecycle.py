"""Status lifecycle: latest status per (document, recipient), overdue list, API roles."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.lifecycle.service import apply_events, document_statuses, overdue
from hub.router.decide import Router
from hub.runtime.app import create_app
from hub.settings import Settings
from hub.store.db import make_engine, migrate
from hub.store.tokens import create_token
from schemas.events import SourceRecord, VerdictEvent
from schemas.header import Header, Kind, StatusCode, StatusInfo
from signing.pki import DemoPKI
from signing.signer import Signer, build_package
from tests.conftest import A, B, C, PackageFactory
from tests.hub.conftest import make_router

Decide = Callable[[bytes], VerdictEvent]


@pytest.fixture
def decide(pki: DemoPKI) -> Decide:
    router: Router = make_router(pki)
    offset = iter(range(10**6))

    def run(raw: bytes) -> VerdictEvent:
        d = router.decide(
            raw,
            source=SourceRecord(topic="edoc.submit", partition=0, offset=next(offset)),
            received_at=datetime.now(UTC),
        )
        router.index.commit(datetime.now(UTC))
        return d.event

    return run


def status(  # noqa: PLR0917 -- mirrors the fields of a status message
    pki: DemoPKI, sender: str, to: str, ref: uuid.UUID, code: StatusCode, at: datetime | None = None
) -> bytes:
    h = Header(
        message_id=uuid.uuid4(),
        kind=Kind.STATUS,
        **{"from": sender},
        to=[to],
        sent_at=(at or datetime.now(UTC)).replace(microsecond=0),
        status=StatusInfo(code=code, ref_message_id=ref),
    )
    issued = pki.agency(sender)
    return build_package(h, {}, [Signer.from_files(issued.key, issued.chain)]).to_bytes()


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    e = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'lc.db'}")
    await migrate(e)
    yield e
    await e.dispose()


async def test_latest_status_per_recipient_and_overdue(
    engine: AsyncEngine, decide: Decide, pki: DemoPKI, signed_package: PackageFactory
) -> None:
    doc = decide(signed_package(A, [B, C]))
    assert doc.message_id is not None
    mid = doc.message_id
    now = datetime.now(UTC)
    events = [
        doc,
        decide(status(pki, B, A, mid, StatusCode.ACCEPTED, now - timedelta(seconds=30))),
        decide(status(pki, B, A, mid, StatusCode.COMPLETED, now - timedelta(seconds=10))),
        # An older status arriving late never replaces a newer one.
        decide(status(pki, B, A, mid, StatusCode.PROCESSING, now - timedelta(seconds=20))),
    ]
    assert all(e.verdict == "ok" for e in events), [e.reasons for e in events]
    await apply_events(engine, events)
    await apply_events(engine, events)  # a replay changes nothing
    rows = {r.recipient: r for r in await document_statuses(engine, str(mid))}
    assert rows[B].status == "06" and rows[C].status is None
    late = await overdue(engine, now + timedelta(hours=9), hours=8)
    assert [(r.message_id, r.recipient) for r in late] == [(str(mid), C)]
    assert await overdue(engine, now + timedelta(hours=1), hours=8) == []
    # The sender asks C to recall: C's row shows 13.
    await apply_events(engine, [decide(status(pki, A, C, mid, StatusCode.RECALL_REQUESTED))])
    rows = {r.recipient: r for r in await document_statuses(engine, str(mid))}
    assert rows[C].status == "13" and rows[B].status == "06"


async def test_refused_documents_and_statuses_are_not_tracked(
    engine: AsyncEngine, decide: Decide, signed_package: PackageFactory
) -> None:
    bad = decide(signed_package(A, [B], signer=C))
    assert bad.verdict == "rejected"
    await apply_events(engine, [bad])
    assert bad.message_id is not None
    assert await document_statuses(engine, str(bad.message_id)) == []


async def test_routes_by_role(
    tmp_path: Path, engine: AsyncEngine, decide: Decide, signed_package: PackageFactory
) -> None:
    doc = decide(signed_package(A, [B]))
    await apply_events(engine, [doc])
    tokens = {}
    for role in ("operator", "auditor", f"agency:{A}", f"agency:{B}", f"agency:{C}"):
        tokens[role], _ = await create_token(engine, role, role)
    url = str(engine.url)
    app = create_app(Settings(database_url=url, overdue_hours=1e-7))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://h") as c,
    ):

        def h(role: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {tokens[role]}"}

        assert (await c.get("/api/v1/overdue")).status_code == 401
        assert (await c.get("/api/v1/overdue", headers=h(f"agency:{A}"))).status_code == 403
        for role in ("operator", "auditor"):
            r = await c.get("/api/v1/overdue", headers=h(role))
            assert r.status_code == 200 and r.json()[0]["message_id"] == str(doc.message_id)
        route = f"/api/v1/documents/{doc.message_id}/status"
        assert (await c.get(route)).status_code == 401
        for role in ("operator", "auditor", f"agency:{A}", f"agency:{B}"):
            assert (await c.get(route, headers=h(role))).status_code == 200, role
        assert (await c.get(route, headers=h(f"agency:{C}"))).status_code == 404
