"""The console in a real headless Chromium, against ``edoc serve`` on a real broker.

Debian's ``chromium`` is driven by Playwright (``executable_path``: no browser
download). The hub runs as users run it — router, audit recorder, coverage,
lifecycle and the API with its monitor, all in ``hub.runtime.serve.serve`` — while the
provincial traffic simulator submits packages, so the dashboard has real
numbers to move. Screenshots go to ``.ci/artifacts/`` (the CI keeps them).

On CI (``CI=true``) a missing Chromium or Playwright fails the test; elsewhere
it is skipped with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

from connectors.simulate import SimAgency, Simulator
from hub.runtime.serve import serve
from hub.services import SERVICES
from hub.settings import Settings
from signing.pki import DemoPKI
from tests._ci import unavailable
from tests._kafka import free_port
from tests.conftest import HUB, A, B, C
from tests.hub.api.console_tools import make_role_tokens
from tests.hub.router.test_kafka import router_settings

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(600)]

CHROMIUM = Path(os.environ.get("EDOC_TEST_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[3] / ".ci" / "artifacts"
#: The flags this machine's Chromium needs (docs/testing.md): no sandbox as root, no network
#: beyond loopback, nothing fetched in the background.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
D = "000.00.04.H49"
#: Page predicates (functions, not strings to evaluate: the console's CSP forbids eval).
SHOWN_AT_LEAST = (
    "([id, n]) => Number(document.getElementById(id).textContent.replace(/\\D/g, '')) >= n"
)
RATE_ABOVE_ZERO = "(id) => Number(document.getElementById(id).textContent.replace(',', '.')) > 0"


def browser_unavailable(reason: str) -> NoReturn:
    """Fail on CI, skip elsewhere."""
    unavailable("headless Chromium", reason)


def playwright_api() -> Any:
    """``playwright.async_api.async_playwright``, or fail/skip saying why."""
    if not CHROMIUM.exists():
        browser_unavailable(f"{CHROMIUM} not found (apt-get install chromium)")
    try:
        from playwright.async_api import async_playwright  # noqa: PLC0415 -- optional at import
    except ImportError:
        browser_unavailable("the playwright package is not installed (pip install -e '.[dev]')")
    return async_playwright


@dataclass
class Served:
    """The running hub: its URL, tokens per role and settings."""

    url: str
    tokens: dict[str, str]
    settings: Settings


@pytest.fixture
async def served(kafka_bootstrap: str, pki: DemoPKI, tmp_path: Path) -> AsyncIterator[Served]:
    tag = uuid.uuid4().hex[:8]
    base = router_settings(kafka_bootstrap, pki, tag)
    groups = {
        name: f"{name.removesuffix('_group')}-{tag}"
        for name in Settings.model_fields
        if name.endswith("_group") and name != "router_group"
    }
    settings = base.model_copy(
        update={
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}",
            "api_port": free_port(),
            "monitor_poll_seconds": 1.0,
            "checkpoint_every_seconds": 2.0,
            **groups,
        }
    )
    tokens = await make_role_tokens(settings.database_url)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, set(SERVICES), stop))
    url = f"http://127.0.0.1:{settings.api_port}"
    try:
        async with httpx.AsyncClient() as client, asyncio.timeout(90):
            while True:
                if task.done():
                    task.result()
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{url}/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.2)
        yield Served(url, tokens, settings)
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # serve() took them for its own stop event
            loop.remove_signal_handler(sig)


async def number(page: Any, selector: str) -> int:
    """The integer shown by ``selector`` (digits only, whatever the locale's separators)."""
    text = await page.text_content(selector) or ""
    digits = re.sub(r"\D", "", text)
    return int(digits) if digits else 0


async def test_console_in_chromium(served: Served, pki: DemoPKI, kafka_bootstrap: str) -> None:
    async_playwright = playwright_api()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    agencies = [
        SimAgency(A, "Sở Nội vụ"),
        SimAgency(B, "Sở Tư pháp"),
        SimAgency(C, "Sở Tài chính"),
        SimAgency(D, "Sở Kế hoạch và Đầu tư"),
    ]
    sim = Simulator(pki, agencies, kafka_bootstrap, hub_code=HUB, bad_share=0.2, seed=11)
    url = served.url
    async with async_playwright() as pw:
        try:
            browser = await pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
            )
        except Exception as exc:  # a broken install should say so, not crash obscurely
            browser_unavailable(f"{CHROMIUM} did not start: {exc}")
        context = await browser.new_context(
            viewport={"width": 1440, "height": 1000}, locale="vi-VN"
        )
        page = await context.new_page()
        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))

        # 1. Not signed in: refused and sent to the sign-in form; the stream says 401.
        await page.goto(f"{url}/console/agencies")
        assert page.url.endswith("/console/login?next=/console/agencies")
        assert await page.is_visible("#token")
        assert (await page.request.get(f"{url}/console/stream")).status == 401

        # 2. An agency token does not open the console.
        await page.fill("#token", served.tokens["agency"])
        await page.click("#login-submit")
        assert "gateway" in (await page.text_content("#login-error") or "")
        assert "/console/login" in page.url

        # 3. An operator signs in and lands where they wanted to go, then on the dashboard.
        await page.fill("#token", served.tokens["operator"])
        await page.click("#login-submit")
        await page.wait_for_url(f"{url}/console/agencies")
        await page.goto(f"{url}/console")
        assert await page.text_content("h1") == "Tổng quan luồng văn bản"
        await page.evaluate("window.__sameDocument = 42")
        before = await number(page, "#total-ok")
        updates = int(await page.evaluate("document.body.dataset.updates || '0'"))

        # 4. Live numbers move while the simulator sends, without reloading the page.
        await sim.send_register_reports("2026-11")
        traffic = asyncio.create_task(sim.run(rate=12, duration=20))
        await page.wait_for_function(SHOWN_AT_LEAST, arg=["total-ok", before + 20], timeout=60_000)
        await page.wait_for_function(RATE_ABOVE_ZERO, arg="kpi-doc-rate", timeout=30_000)
        assert await page.evaluate("window.__sameDocument") == 42, "updated in place, no reload"
        assert int(await page.evaluate("document.body.dataset.updates")) > updates
        assert await page.locator("#chart-flow rect").count() > 0
        assert await page.locator("#list-senders .row").count() >= 3
        assert await page.get_attribute("#live", "class") == "live on"
        await page.wait_for_function(
            "() => document.querySelectorAll('#list-reasons .row').length > 0", timeout=30_000
        )
        # the screenshot once a good minute of bars has built up
        await page.wait_for_function(SHOWN_AT_LEAST, arg=["total-ok", before + 90], timeout=60_000)
        await page.screenshot(path=str(ARTIFACTS / "console.png"), full_page=True)
        await traffic
        assert await number(page, "#total-rejected") > 0, "the simulator's bad actors"

        # 5. The language switch works and is remembered across a reload and pages.
        await page.click('a[data-lang-switch="en"]')
        await page.wait_for_function(
            "() => document.querySelector('h1').textContent === 'Message flow'"
        )
        await page.reload()
        assert await page.text_content("h1") == "Message flow"
        await page.screenshot(path=str(ARTIFACTS / "console-en.png"))
        await page.goto(f"{url}/console/rejected")
        assert await page.text_content("h1") == "Rejected queue"
        await page.click('a[data-lang-switch="vi"]')
        await page.wait_for_function(
            "() => document.querySelector('h1').textContent === 'Hàng đợi gói bị từ chối'"
        )

        # 6. The rejected queue shows reasons; an operator reprocesses one (CSRF-checked form).
        assert await page.locator("#rejected-table tbody tr[data-ref]").count() > 0
        await page.locator("button.reprocess").first.click()
        await page.wait_for_selector("#reprocess-done")
        assert "edoc.submit" in (await page.text_content("#reprocess-done") or "")
        await page.screenshot(path=str(ARTIFACTS / "console-rejected.png"))

        # 7. The other pages render with data.
        for path, shot in (
            ("/console/coverage", "console-coverage.png"),
            (f"/console/agencies/{A}", "console-agency.png"),
            ("/console/overdue?hours=0.0003", "console-overdue.png"),
            ("/console/system", "console-system.png"),
        ):
            response = await page.goto(f"{url}{path}")
            assert response is not None and response.status == 200, path
            long_list = path.startswith("/console/overdue")
            await page.screenshot(path=str(ARTIFACTS / shot), full_page=not long_list)
            if long_list:
                assert await page.locator("#overdue-table tbody tr.late").count() > 0
        assert await page.locator("#lag-table tbody tr.lag-row").count() >= 4, "4 services"

        # 8. Signing out ends the session; the console is refused again.
        await page.click("#logout")
        await page.wait_for_url(re.compile(r".*/console/login\?bye=1$"))
        await page.goto(f"{url}/console")
        assert "/console/login" in page.url

        # 9. A fresh browser (no cookies at all) is refused too.
        stranger = await browser.new_context()
        other = await stranger.new_page()
        await other.goto(f"{url}/console/system")
        assert "/console/login" in other.url
        await stranger.close()
        await browser.close()
    await sim.close()
