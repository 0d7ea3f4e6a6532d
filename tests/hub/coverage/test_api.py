"""``GET /api/v1/coverage`` and ``/laggards``: every route with every role, filters, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from hub.coverage.facts import facts_from_event
from hub.coverage.store import CoverageStore
from hub.runtime.app import create_app
from hub.settings import Settings
from hub.store.db import make_engine, migrate
from hub.store.tokens import create_token, revoke_token
from tests.hub.coverage.traffic import (
    C1,
    DISTRICT,
    S1,
    TZ,
    document,
    local,
    month_of_traffic,
    verdict,
)

ROUTES = ["/api/v1/coverage", "/api/v1/coverage/laggards"]
AGENCY_ROLE = f"agency:{S1}"


@pytest.fixture(scope="module")
async def api(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('api') / 'coverage.db'}"
    engine = make_engine(url)
    await migrate(engine)
    events = [*month_of_traffic(2026, 11), verdict(document(S1, [C1], local(2026, 10, 15)))]
    await CoverageStore(engine).apply([f for e in events if (f := facts_from_event(e, TZ))])
    tokens = {}
    for role in ("operator", "auditor", AGENCY_ROLE):
        tokens[role], _ = await create_token(engine, role, role)
    tokens["revoked"], revoked = await create_token(engine, "operator", "left")
    await revoke_token(engine, revoked.id)
    await engine.dispose()
    app = create_app(Settings(database_url=url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            client.tokens = tokens  # type: ignore[attr-defined]
            yield client


def auth(client: httpx.AsyncClient, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.tokens[role]}"}  # type: ignore[attr-defined]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (None, 401),
        ("nonsense", 401),
        ("revoked", 401),
        (AGENCY_ROLE, 403),
        ("operator", 200),
        ("auditor", 200),
    ],
)
async def test_operators_and_auditors_only(
    api: httpx.AsyncClient, route: str, role: str | None, expected: int
) -> None:
    if role is None:
        headers = {}
    elif role == "nonsense":
        headers = {"Authorization": "Bearer edoc_nonsense"}
    else:
        headers = auth(api, role)
    response = await api.get(route, params={"period": "2026-11"}, headers=headers)
    assert response.status_code == expected, response.text


async def test_report_values_and_trend(api: httpx.AsyncClient) -> None:
    body = (
        await api.get(
            "/api/v1/coverage", params={"period": "2026-11"}, headers=auth(api, "auditor")
        )
    ).json()
    rows = {r["code"]: r for r in body["rows"]}
    s1 = rows[S1]["indicators"]["e_documents"]
    # 5 valid documents; the later register report (paper 2) replaced the earlier (paper 4)
    assert (s1["value"], s1["gap"], s1["previous"], s1["trend"]) == (71.43, 28.57, 100.0, -28.57)
    district = rows[DISTRICT]["indicators"]
    # D 1 of 1 + C1 1 of 2 (the re-sent document once, valid), paper 6: 2 / 9
    assert district["e_documents"]["value"] == 22.22
    assert district["signature_use"]["value"] == 66.67  # C1 failed, D and C2 did not
    assert rows["000.03.26.H49"]["status"] == "unknown"
    # SHA-1 (traffic.month_of_traffic): S1 2 documents, D 1; C1's SHA-1 attempt was refused
    weak = {
        code: (rows[code]["counts"]["signed_weak"], rows[code]["counts"]["agencies_signing_weak"])
        for code in ("000.00.00.H49", S1, DISTRICT, C1)
    }
    assert weak == {"000.00.00.H49": (3, 2), S1: (2, 1), DISTRICT: (1, 1), C1: (0, 0)}
    assert body["targets"]["level4"] == 30.0
    assert "000.00.99.H49" not in rows, "the hub is not an agency to measure"


async def test_filters(api: httpx.AsyncClient) -> None:
    h = auth(api, "operator")
    body = (
        await api.get(
            "/api/v1/coverage", params={"period": "2026-11", "level": "district"}, headers=h
        )
    ).json()
    assert {r["level"] for r in body["rows"]} == {"district"} and body["level"] == "district"
    body = (
        await api.get(
            "/api/v1/coverage", params={"period": "2026-11", "agency": DISTRICT}, headers=h
        )
    ).json()
    assert [r["code"] for r in body["rows"]] == [DISTRICT, C1, "000.02.26.H49", "000.03.26.H49"]
    lag = (
        await api.get(
            "/api/v1/coverage/laggards", params={"period": "2026-11", "limit": 2}, headers=h
        )
    ).json()
    assert len(lag["laggards"]) == 2 and lag["period"] == "2026-11"
    assert lag["laggards"][0]["gap"] >= lag["laggards"][1]["gap"]
    default = (await api.get("/api/v1/coverage", headers=h)).json()
    assert len(default["period"]) == 7, "no period: the current month"


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"period": "2026-13"}, 422),
        ({"period": "2026-11", "level": "hamlet"}, 422),
        ({"period": "2026-11", "limit": 100000}, 422),
        ({"period": "2026-11", "agency": "000.00.77.H49"}, 404),
        ({"period": "2026-11", "agency": "Sở Nội vụ"}, 400),
    ],
)
async def test_bad_requests_say_why(
    api: httpx.AsyncClient, params: dict[str, str], status: int
) -> None:
    response = await api.get(
        "/api/v1/coverage/laggards", params=params, headers=auth(api, "operator")
    )
    assert response.status_code == status
    assert response.json()["detail"]


async def test_openapi_documents_the_routes(api: httpx.AsyncClient) -> None:
    paths = (await api.get("/openapi.json")).json()["paths"]
    assert set(ROUTES) <= set(paths)
