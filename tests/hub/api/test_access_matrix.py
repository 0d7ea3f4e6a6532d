"""Every HTTP route of the app, called as every role: who gets in and who is refused.

The policy below is the single table of who may use what. The first test
fails when the app has a route the table does not mention (a new route must
declare its policy here), so nothing ships unguarded by accident.

"Admitted" means the route did not refuse the caller (not 401/403, and for
console pages no redirect to the sign-in form); what it then answers — 200, 404
for an unknown id, 503 because this test runs without Kafka — is tested elsewhere.
API routes are called with a bearer token; console routes with the role's
console session (agency tokens cannot get one) and, for forms, its CSRF token.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route

from hub.api.session import COOKIE
from tests.conftest import A
from tests.hub.api.console_tools import ROLES, Hub, offline_settings, running_hub

EVERYONE = frozenset(ROLES)
STAFF = frozenset({"operator", "auditor"})
OPERATOR = frozenset({"operator"})
AUDITOR = frozenset({"auditor"})
AGENCIES = frozenset({"agency", "other_agency"})

#: (method, path) → roles admitted. ``console`` routes authenticate with the session cookie.
API_POLICY: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/"): EVERYONE,
    ("GET", "/healthz"): EVERYONE,
    ("GET", "/readyz"): EVERYONE,
    ("GET", "/asyncapi.json"): EVERYONE,
    ("GET", "/openapi.json"): EVERYONE,
    ("GET", "/docs"): EVERYONE,
    ("GET", "/docs/oauth2-redirect"): EVERYONE,
    ("GET", "/redoc"): EVERYONE,
    ("GET", "/metrics"): OPERATOR,
    ("GET", "/api/v1/ops/flow"): STAFF,
    ("GET", "/api/v1/ops/rejected"): STAFF,
    ("GET", "/api/v1/ops/deadletter"): STAFF,
    ("POST", "/api/v1/ops/rejected/{partition}/{offset}/reprocess"): OPERATOR,
    # an agency reaches its own report only (the path names agency A)
    ("GET", "/api/v1/agencies/{code}/report"): STAFF | {"agency"},
    ("GET", "/api/v1/audit/entries"): AUDITOR,
    ("GET", "/api/v1/audit/entries/{key}"): AUDITOR,
    ("GET", "/api/v1/audit/checkpoints/latest"): AUDITOR,
    ("GET", "/api/v1/audit/consistency"): AUDITOR,
    ("GET", "/api/v1/coverage"): STAFF,
    ("GET", "/api/v1/coverage/laggards"): STAFF,
    ("GET", "/api/v1/overdue"): STAFF,
    # agencies see only documents they sent or received (404 otherwise, never another's)
    ("GET", "/api/v1/documents/{message_id}/status"): STAFF | AGENCIES,
    # the gateway derives the inbox from the token: each agency reaches only its own
    ("GET", "/api/v1/gateway/inbox"): AGENCIES,
    ("GET", "/api/v1/gateway/inbox/{offset}"): AGENCIES,
    ("POST", "/api/v1/gateway/inbox/ack"): AGENCIES,
    ("POST", "/api/v1/gateway/packages"): AGENCIES,
}
CONSOLE_POLICY: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/console/login"): EVERYONE,
    # anyone may try; only operators and auditors get a session
    ("POST", "/console/login"): STAFF,
    ("GET", "/console/lang/{lang}"): EVERYONE,
    ("POST", "/console/logout"): STAFF,
    ("GET", "/console"): STAFF,
    ("GET", "/console/stream"): STAFF,
    ("GET", "/console/rejected"): STAFF,
    ("GET", "/console/parked"): STAFF,
    ("GET", "/console/rejected/{partition}/{offset}"): STAFF,
    ("POST", "/console/rejected/{partition}/{offset}/reprocess"): OPERATOR,
    ("GET", "/console/overdue"): STAFF,
    ("GET", "/console/agencies"): STAFF,
    ("GET", "/console/agencies/{code}"): STAFF,
    ("GET", "/console/coverage"): STAFF,
    ("GET", "/console/system"): STAFF,
    ("GET", "/console/static/console.css"): EVERYONE,
}
POLICY = API_POLICY | CONSOLE_POLICY
PARAMS = {
    "{partition}": "0",
    "{offset}": "0",
    "{code}": A,
    "{key}": "0",
    "{message_id}": str(uuid.UUID(int=1)),
    "{lang}": "en",
}
QUERY = {"/api/v1/audit/consistency": "?first=1&second=1"}


def concrete(path: str) -> str:
    """The path with every parameter filled in."""
    for name, value in PARAMS.items():
        path = path.replace(name, value)
    return path + QUERY.get(path, "")


@pytest.fixture
async def hub(tmp_path: Path) -> Hub:  # type: ignore[misc]
    async with running_hub(offline_settings(tmp_path)) as running:
        yield running


def _flatten(routes: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(path prefix, route) of every route, also inside routers included into the app."""
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI ≥ 0.16x keeps routers nested
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from _flatten(inner.routes, prefix + getattr(context, "prefix", ""))
        else:
            yield prefix, route


def app_routes(hub: Hub) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves (HEAD aside)."""
    found: set[tuple[str, str]] = set()
    for prefix, route in _flatten(hub.app.routes):
        if isinstance(route, Mount):
            found.add(("GET", f"{prefix}{route.path}/console.css"))
        elif isinstance(route, APIRoute | Route):
            found |= {(m, prefix + route.path) for m in (route.methods or set()) if m != "HEAD"}
    assert len(found) > 20, f"route discovery is broken: {sorted(found)}"
    return found


async def test_every_route_has_a_declared_policy(hub: Hub) -> None:
    undeclared = app_routes(hub) - POLICY.keys()
    assert not undeclared, f"declare who may use these routes in POLICY: {sorted(undeclared)}"


def refused(method: str, path: str, response: httpx.Response) -> bool:
    """True when the response refuses the caller."""
    if (method, path) == ("POST", "/console/login"):
        return COOKIE not in response.cookies
    if response.status_code in (401, 403):
        return True
    location = response.headers.get("location", "")
    return method == "GET" and path.startswith("/console") and "/console/login" in location


async def call(hub: Hub, method: str, path: str, role: str) -> httpx.Response:
    url = concrete(path)
    if (method, path) in CONSOLE_POLICY:
        headers = hub.session_cookie(role)
        data = {"csrf_token": hub.csrf(role)} if method == "POST" else None
        if path == "/console/login":
            data = {"token": hub.tokens.get(role, ""), "next": "/console"}
        response = await hub.client.request(method, url, headers=headers, data=data)
        hub.client.cookies.clear()
        return response
    headers = hub.bearer(role) | {"Content-Type": "application/json"}
    body = b'{"up_to": 0}' if path.endswith("/ack") else (b"{}" if method == "POST" else None)
    return await hub.client.request(method, url, headers=headers, content=body)


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_reaches_exactly_its_routes(hub: Hub, role: str) -> None:
    present = app_routes(hub)
    wrong = []
    # signing out last: it ends the session the other console routes use
    ordered = sorted(POLICY.items(), key=lambda item: (item[0][1] == "/console/logout", item[0]))
    for (method, path), admitted in ordered:
        if (method, path) not in present:
            continue  # a feature not installed in this build (e.g. lifecycle)
        response = await call(hub, method, path, role)
        if refused(method, path, response) == (role in admitted):
            wrong.append(f"{method} {path}: {response.status_code} {response.text[:120]!r}")
    assert not wrong, f"role {role}:\n" + "\n".join(wrong)


async def test_agency_tokens_never_get_a_console_session(hub: Hub) -> None:
    for role in ("agency", "other_agency", "revoked", "none"):
        response = await hub.sign_in(role)
        assert response.status_code in (401, 403)
        assert role not in hub.cookies
    # a bearer token on a console page does not count as signing in
    page = await hub.client.get("/console", headers=hub.bearer("agency"))
    assert page.status_code == 303 and "/console/login" in page.headers["location"]
    page = await hub.client.get("/console", headers=hub.bearer("operator"))
    assert page.status_code == 303


async def test_an_agency_sees_only_its_own_report(hub: Hub) -> None:
    own = await hub.client.get(f"/api/v1/agencies/{A}/report", headers=hub.bearer("agency"))
    assert own.status_code == 200 and own.json()["agency"]["code"] == A
    other = await hub.client.get(f"/api/v1/agencies/{A}/report", headers=hub.bearer("other_agency"))
    assert other.status_code == 403


async def test_a_session_cookie_never_authorises_an_api_change(hub: Hub) -> None:
    url = "/api/v1/ops/rejected/0/0/reprocess"
    cookie_only = await hub.client.post(url, headers=hub.session_cookie("operator"))
    assert cookie_only.status_code == 401
    readable = await hub.client.get("/api/v1/ops/flow", headers=hub.session_cookie("auditor"))
    assert readable.status_code == 200, "GET API routes accept the console session"
