"""The console over HTTP without Kafka: sign-in, sessions, CSRF, language, headers, probes, pages.

The browser test (``test_console_browser.py``) shows the same in Chromium with
a live broker; these tests pin each rule down one at a time.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from hub.api.session import COOKIE, LANG_COOKIE
from hub.coverage.facts import facts_from_event
from hub.coverage.store import CoverageStore
from hub.runtime.logs import JsonFormatter
from hub.store.db import make_engine
from hub.store.tokens import list_tokens, revoke_token
from schemas import wire
from tests.conftest import A
from tests.hub.api.console_tools import Hub, offline_settings, running_hub
from tests.hub.coverage.traffic import DISTRICT, S1, S2, TZ, month_of_traffic


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    async with running_hub(offline_settings(tmp_path)) as running:
        yield running


async def test_a_visit_without_session_goes_to_the_sign_in_form(hub: Hub) -> None:
    page = await hub.client.get("/console/agencies?x=1")
    assert page.status_code == 303
    assert page.headers["location"] == "/console/login?next=/console/agencies%3Fx%3D1"
    form = await hub.client.get("/console/login", params={"next": "/console/agencies"})
    assert 'name="token"' in form.text and 'value="/console/agencies"' in form.text
    assert (await hub.client.get("/console/stream")).status_code == 401


async def test_sign_in_sets_a_strict_http_only_cookie_and_follows_next(hub: Hub) -> None:
    response = await hub.client.post(
        "/console/login", data={"token": hub.tokens["auditor"], "next": "/console/system"}
    )
    hub.client.cookies.clear()
    assert response.status_code == 303 and response.headers["location"] == "/console/system"
    cookie = response.headers["set-cookie"]
    assert f"{COOKIE}=" in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert hub.tokens["auditor"] not in cookie, "the cookie never carries the token itself"
    evil = await hub.client.post(
        "/console/login", data={"token": hub.tokens["auditor"], "next": "//evil.example/x"}
    )
    hub.client.cookies.clear()
    assert evil.headers["location"] == "/console", "no open redirect"


async def test_wrong_tokens_and_agency_tokens_are_refused_with_a_reason(hub: Hub) -> None:
    bad = await hub.client.post("/console/login", data={"token": "edoc_nope"})
    assert bad.status_code == 401 and "không đúng hoặc đã bị thu hồi" in bad.text
    agency = await hub.client.post("/console/login", data={"token": hub.tokens["agency"]})
    assert agency.status_code == 403 and "gateway" in agency.text
    assert COOKIE not in agency.cookies
    foreign = await hub.client.post(
        "/console/login",
        data={"token": hub.tokens["operator"]},
        headers={"Origin": "http://evil.example"},
    )
    assert foreign.status_code == 403 and COOKIE not in foreign.cookies


async def test_revoking_the_token_ends_its_sessions_at_once(hub: Hub) -> None:
    assert (
        await hub.client.get("/console", headers=hub.session_cookie("auditor"))
    ).status_code == 200
    engine = make_engine(hub.settings.database_url)
    auditor = next(t for t in await list_tokens(engine) if t.name == "test auditor")
    await revoke_token(engine, auditor.id)
    await engine.dispose()
    page = await hub.client.get("/console", headers=hub.session_cookie("auditor"))
    assert page.status_code == 303 and "/console/login" in page.headers["location"]


async def test_a_tampered_cookie_is_worthless(hub: Hub) -> None:
    value = hub.cookies["auditor"]
    payload, mac = value.split(".")
    forged = payload.replace(payload[5], "A" if payload[5] != "A" else "B") + "." + mac
    page = await hub.client.get("/console", headers={"Cookie": f"{COOKIE}={forged}"})
    assert page.status_code == 303


async def test_forms_need_the_csrf_token_and_the_same_origin(hub: Hub) -> None:
    cookie = hub.session_cookie("operator")
    url = "/console/rejected/0/0/reprocess"
    assert (await hub.client.post(url, headers=cookie)).status_code == 403
    wrong = await hub.client.post(url, headers=cookie, data={"csrf_token": "x" * 43})
    assert wrong.status_code == 403 and "tải lại trang" in wrong.text
    foreign = await hub.client.post(
        url,
        headers=cookie | {"Origin": "http://evil.example"},
        data={"csrf_token": hub.csrf("operator")},
    )
    assert foreign.status_code == 403
    ok = await hub.client.post(url, headers=cookie, data={"csrf_token": hub.csrf("operator")})
    assert ok.status_code == 503, "past every check; only Kafka is missing in this test"


async def test_auditors_may_look_but_not_reprocess(hub: Hub) -> None:
    url = "/console/rejected/0/0/reprocess"
    response = await hub.client.post(
        url, headers=hub.session_cookie("auditor"), data={"csrf_token": hub.csrf("auditor")}
    )
    assert response.status_code == 403


async def test_sign_out_ends_the_session_even_for_a_copied_cookie(hub: Hub) -> None:
    cookie = hub.session_cookie("operator")
    out = await hub.client.post(
        "/console/logout", headers=cookie, data={"csrf_token": hub.csrf("operator")}
    )
    assert out.status_code == 303 and out.headers["location"] == "/console/login?bye=1"
    assert "Max-Age=0" in out.headers["set-cookie"] or "expires=" in out.headers["set-cookie"]
    again = await hub.client.get("/console", headers=cookie)
    assert again.status_code == 303 and "/console/login" in again.headers["location"]


async def test_language_is_switchable_and_remembered(hub: Hub) -> None:
    cookie = hub.session_cookie("operator")
    vi = await hub.client.get("/console", headers=cookie)
    assert '<html lang="vi">' in vi.text and "Tổng quan luồng văn bản" in vi.text
    switch = await hub.client.get("/console/lang/en", params={"next": "/console/system"})
    assert switch.status_code == 303 and switch.headers["location"] == "/console/system"
    assert f"{LANG_COOKIE}=en" in switch.headers["set-cookie"]
    assert "Max-Age=31536000" in switch.headers["set-cookie"]
    hub.client.cookies.clear()
    en = await hub.client.get(
        "/console", headers={"Cookie": f"{cookie['Cookie']}; {LANG_COOKIE}=en"}
    )
    assert '<html lang="en">' in en.text and "Message flow" in en.text
    browser_en = await hub.client.get("/console", headers=cookie | {"Accept-Language": "en-US"})
    assert "Message flow" in browser_en.text, "without a choice, the browser's language"


async def test_console_pages_are_hardened(hub: Hub) -> None:
    page = await hub.client.get("/console", headers=hub.session_cookie("operator"))
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text, "no inline script (the CSP forbids it)"


async def test_each_state_changing_request_logs_who_did_what(
    hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hub.api.actions")
    await hub.client.post(
        "/console/rejected/0/0/reprocess",
        headers=hub.session_cookie("operator"),
        data={"csrf_token": hub.csrf("operator")},
    )
    await hub.client.post(
        "/api/v1/gateway/inbox/ack", headers=hub.bearer("agency"), json={"up_to": 0}
    )
    lines = [
        json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "hub.api.actions"
    ]
    http = [line for line in lines if line.get("action") == "http"]
    assert {(x["path"], x["actor_role"], x["status"]) for x in http} == {
        ("/console/rejected/0/0/reprocess", "operator", 503),
        ("/api/v1/gateway/inbox/ack", f"agency:{A}", 503),
    }
    assert all(x["actor_token_id"] and x["actor_name"] for x in http)


async def test_readyz_needs_the_broker_and_the_database(hub: Hub) -> None:
    assert (await hub.client.get("/healthz")).json() == {"status": "ok"}
    ready = await hub.client.get("/readyz")
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "unavailable" and body["database"] == "ok"
    assert body["kafka"].startswith("unavailable")


async def test_metrics_name_every_signal(hub: Hub) -> None:
    await hub.app.state.monitor.refresh()
    text = (await hub.client.get("/metrics", headers=hub.bearer("operator"))).text
    for name in (
        "edoc_broker_up 0.0",
        "edoc_database_up 1.0",
        "edoc_log_entries 0.0",
        "edoc_log_entries_uncheckpointed 0.0",
        "# TYPE edoc_verdicts_total counter",
        "# TYPE edoc_rejections_total counter",
        "# TYPE edoc_end_to_end_seconds histogram",
        "# TYPE edoc_verification_seconds histogram",
        "# TYPE edoc_consumer_lag gauge",
        "# TYPE edoc_checkpoint_age_seconds gauge",
    ):
        assert name in text, name


async def test_asyncapi_describes_every_topic_and_resolves_every_reference(hub: Hub) -> None:
    doc = (await hub.client.get("/asyncapi.json")).json()
    assert doc["asyncapi"].startswith("3.")
    addresses = {c["address"] for c in doc["channels"].values()}
    named = {v for k, v in vars(wire).items() if k.isupper() and isinstance(v, str)}
    fixed = {v for v in named if v.startswith("edoc.") and not v.endswith(".")}
    assert fixed <= addresses, f"topics without a channel: {fixed - addresses}"
    assert "edoc.inbox.{agency}" in addresses
    text = json.dumps(doc)
    for ref in set(re.findall(r'"\$ref": "#/([^"]+)"', text)):
        node = doc
        for part in ref.split("/"):
            node = node[part]
    for op in doc["operations"].values():
        assert op["action"] in ("send", "receive")
    openapi = (await hub.client.get("/openapi.json")).json()
    assert "/metrics" in openapi["paths"] and "/api/v1/ops/rejected" in openapi["paths"]


async def test_the_stream_sends_snapshots_as_server_sent_events(hub: Hub) -> None:
    response = await hub.client.get("/console/stream", headers=hub.session_cookie("auditor"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [
        json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")
    ]
    assert events and {"flow", "health"} <= events[0].keys()
    assert "retry: " in response.text


@pytest.mark.parametrize(
    ("path", "marker"),
    [
        ("/console", 'id="chart-flow"'),
        ("/console/agencies", "Sở Nội vụ"),
        (f"/console/agencies/{A}", "Sở Nội vụ"),
        ("/console/coverage", 'id="coverage-table"'),
        ("/console/overdue", 'id="overdue-table"'),
        ("/console/system", "/asyncapi.json"),
        ("/console/rejected", "Không kết nối được Kafka"),
    ],
)
async def test_every_page_renders(hub: Hub, path: str, marker: str) -> None:
    page = await hub.client.get(path, headers=hub.session_cookie("operator"))
    assert page.status_code == 200, page.text[:500]
    assert marker in page.text
    unknown = await hub.client.get(
        "/console/agencies/999.99.99.H49", headers=hub.session_cookie("operator")
    )
    assert unknown.status_code == 404


async def test_coverage_pages_show_documents_signed_with_sha1(hub: Hub) -> None:
    now = datetime.now(TZ)  # the agency page shows the current month
    engine = make_engine(hub.settings.database_url)
    events = month_of_traffic(now.year, now.month)  # SHA-1: S1 2 documents, DISTRICT 1
    await CoverageStore(engine).apply([f for e in events if (f := facts_from_event(e, TZ))])
    await engine.dispose()
    page = await hub.client.get("/console/coverage", headers=hub.session_cookie("operator"))
    assert page.status_code == 200 and "Ký số SHA-1" in page.text

    def weak_cell(code: str) -> str:
        row = page.text.split(f'<div class="mono small muted">{code}</div>')[1].split("</tr>")[0]
        return row.rsplit('<td class="num">', 1)[1]

    assert weak_cell(S1).startswith('<span class="tag tag-weak">2</span>')
    assert weak_cell(DISTRICT).startswith('<span class="tag tag-weak">1</span>')
    agency = await hub.client.get(f"/console/agencies/{S1}", headers=hub.session_cookie("auditor"))
    assert 'id="agency-weak"' in agency.text and "Ký số SHA-1: 2<" in agency.text
    quiet = await hub.client.get(f"/console/agencies/{S2}", headers=hub.session_cookie("auditor"))
    assert 'id="agency-weak"' not in quiet.text


def test_ci_fails_rather_than_skips_without_chromium(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.hub.api import test_console_browser as browser  # noqa: PLC0415 -- the unit tested

    monkeypatch.setattr(browser, "CHROMIUM", Path("/nonexistent/chromium"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="chromium"):
        browser.playwright_api()
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        browser.playwright_api()
