"""The operator console: server-rendered pages (Jinja2), a live SSE stream, sign-in and forms.

Operators and auditors sign in with their API token; agency tokens are refused
(they reach only the gateway and their own report). Every page needs a valid
session, else the browser is sent to the sign-in form; the stream answers 401.
Forms that change something carry the session's CSRF token and are also
checked for a same-origin ``Origin`` header. See docs/console.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.api import views
from hub.api.auth import console_session
from hub.api.ops import OffsetParam, PartitionParam, do_reprocess
from hub.api.session import COOKIE, CSRF_FIELD, LANG_COOKIE, Session, SessionCodec
from hub.console import i18n
from hub.errors import BrokerUnavailableError
from hub.ops.deadletter import list_parked
from hub.ops.monitor import Monitor
from hub.ops.rejected import RejectedNotFoundError, RejectedQueue
from hub.ops.stats import OTHER_AGENCIES
from hub.store.tokens import TokenInfo, authenticate

log = logging.getLogger("hub.api.actions")
_HERE = Path(__file__).resolve().parent.parent / "console"
templates = Jinja2Templates(directory=_HERE / "templates")
router = APIRouter(prefix="/console", include_in_schema=False)
#: Console roles; agency tokens never get a session.
CONSOLE_ROLES = ("operator", "auditor")
#: How long one SSE response lasts before the browser reconnects (bounds shutdown waits).
STREAM_SECONDS = 55.0


class LoginRequiredError(Exception):
    """No valid console session: redirect a page to the sign-in form."""


class ConsoleUser:
    """The signed-in user of one request."""

    def __init__(self, session: Session, token: TokenInfo, csrf: str) -> None:
        self.session = session
        self.token = token
        self.csrf = csrf

    @property
    def role(self) -> str:
        """``operator`` or ``auditor``."""
        return self.session.role

    @property
    def name(self) -> str:
        """The token's name (who holds it)."""
        return self.session.name


def _codec(request: Request) -> SessionCodec:
    codec: SessionCodec = request.app.state.sessions
    return codec


def _lang(request: Request) -> str:
    return i18n.negotiate(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


async def _user(request: Request) -> ConsoleUser:
    found = await console_session(request)
    if found is None or found[0].role not in CONSOLE_ROLES:
        raise LoginRequiredError
    session, token = found
    return ConsoleUser(session, token, _codec(request).csrf(session))


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return True  # non-browser clients; SameSite=Strict and the CSRF token still apply
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:  # e.g. "http://[" (an unclosed IPv6 address) is no origin of ours
        return False
    return netloc == request.headers.get("host", "")


async def _form_user(request: Request) -> tuple[ConsoleUser, dict[str, str]]:
    """The signed-in user of a form POST whose CSRF token and origin check out."""
    user = await _user(request)
    form = {k: str(v) for k, v in (await request.form()).items()}
    if not _same_origin(request) or not _codec(request).check_csrf(
        user.session, form.get(CSRF_FIELD)
    ):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "err.csrf")
    return user, form


def _tz(request: Request) -> ZoneInfo:
    return ZoneInfo(getattr(request.app.state.settings, "coverage_timezone", "Asia/Ho_Chi_Minh"))


def _render(
    request: Request,
    name: str,
    user: ConsoleUser | None,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    lang = _lang(request)
    tz = _tz(request)

    def localtime(value: datetime | str | None, seconds: bool = True) -> str:
        if value is None or value == "":
            return "—"
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        pattern = "%d/%m/%Y %H:%M" if lang == "vi" else "%Y-%m-%d %H:%M"
        return moment.astimezone(tz).strftime(pattern + (":%S" if seconds else ""))

    base = {
        "lang": lang,
        "t": i18n.translator(lang),
        "reason_text": lambda code: i18n.reason_text(lang, code),
        "status_text": lambda code: i18n.status_text(lang, code),
        "localtime": localtime,
        "user": user,
        "csrf_field": CSRF_FIELD,
        "path": request.url.path,
        "query": request.url.query,
    }
    return templates.TemplateResponse(request, name, base | (context or {}), status_code)


def _problem(body: Any, code: int) -> str:
    """A short text for an API error answer (FastAPI's ``detail``, string or list)."""
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):
        detail = "; ".join(str(d.get("msg", d)) for d in detail if isinstance(d, dict))
    return f"{code}: {detail or 'error'}"


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return "/console"


# -- sign-in ------------------------------------------------------------------------------------


@router.get("/login")
async def login_form(request: Request, next: str = "/console", bye: int = 0) -> HTMLResponse:
    """The sign-in form."""
    notice = "logged_out" if bye else ("login.needed" if next != "/console" else None)
    return _render(request, "login.html", None, {"next": _safe_next(next), "notice": notice})


@router.post("/login")
async def login(request: Request) -> Response:
    """Exchange an API token for a session cookie (operators and auditors only)."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    target = _safe_next(form.get("next"))
    context: dict[str, Any] = {"next": target}
    if not _same_origin(request):
        return _render(request, "login.html", None, context | {"error": "login.origin"}, 403)
    info = await authenticate(request.app.state.engine, form.get("token", "").strip())
    if info is None:
        log.info("console sign-in refused", extra={"action": "login", "outcome": "bad_token"})
        return _render(request, "login.html", None, context | {"error": "login.bad"}, 401)
    if info.role not in CONSOLE_ROLES:
        log.info(
            "console sign-in refused for role %s",
            info.role,
            extra={
                "action": "login",
                "outcome": "role",
                "actor_token_id": info.id,
                "actor_role": info.role,
                "actor_name": info.name,
            },
        )
        return _render(request, "login.html", None, context | {"error": "login.agency"}, 403)
    _, cookie = _codec(request).issue(info)
    log.info(
        "console sign-in %s",
        info.name,
        extra={
            "action": "login",
            "outcome": "ok",
            "actor_token_id": info.id,
            "actor_role": info.role,
            "actor_name": info.name,
        },
    )
    response = RedirectResponse(target, status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=_codec(request).max_age,
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.console_secure_cookies,
        path="/",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session (the cookie is deleted)."""
    user, _ = await _form_user(request)
    _codec(request).end(user.session)
    log.info(
        "console sign-out %s",
        user.name,
        extra={
            "action": "logout",
            "actor_token_id": user.token.id,
            "actor_role": user.role,
            "actor_name": user.name,
        },
    )
    response = RedirectResponse("/console/login?bye=1", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/lang/{lang}")
async def set_language(request: Request, lang: str, next: str = "/console") -> Response:
    """Remember the language choice in a cookie for a year."""
    response = RedirectResponse(_safe_next(next), status.HTTP_303_SEE_OTHER)
    if lang in i18n.LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, samesite="lax", path="/")
    return response


# -- pages --------------------------------------------------------------------------------------


def _monitor(request: Request) -> Monitor:
    monitor: Monitor = request.app.state.monitor
    return monitor


@router.get("")
async def dashboard(request: Request) -> HTMLResponse:
    """Live flow, verdicts over time, reasons, health and lag."""
    user = await _user(request)
    snapshot = _monitor(request).snapshot()
    other = {OTHER_AGENCIES: i18n.translator(_lang(request))("dash.other_agencies")}
    return _render(
        request,
        "dashboard.html",
        user,
        {
            "snap": snapshot,
            "names": await views.names(request.app) | other,
            "reason_names": {code: i18n.reason_text(_lang(request), code) for code in i18n.REASONS},
        },
    )


@router.get("/stream")
async def stream(request: Request) -> StreamingResponse:
    """Server-sent events: the dashboard snapshot once a second (sooner when events arrive)."""
    found = await console_session(request)
    if found is None or found[0].role not in CONSOLE_ROLES:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "sign in first")
    monitor = _monitor(request)

    async def events() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        ends = loop.time() + getattr(request.app.state, "stream_seconds", STREAM_SECONDS)
        yield "retry: 1500\n\n"
        while loop.time() < ends and not await request.is_disconnected():
            yield f"data: {json.dumps(monitor.snapshot())}\n\n"
            changed = monitor.changed
            try:
                await asyncio.wait_for(changed.wait(), 1.0)
                await asyncio.sleep(0.25)  # coalesce a burst of events into one update
            except TimeoutError:
                pass

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


@router.get("/rejected")
async def rejected_page(
    request: Request, done: str | None = None, pos: str | None = None
) -> HTMLResponse:
    """The newest refused packages with their reasons and a reprocess button."""
    user = await _user(request)
    queue: RejectedQueue = request.app.state.rejected
    error = None
    try:
        items = await queue.recent(100)
    except BrokerUnavailableError:
        items, error = [], "err.kafka"
    return _render(
        request,
        "rejected.html",
        user,
        {
            "items": items,
            "names": await views.names(request.app),
            "error": error,
            "done": done,
            "pos": pos,
        },
    )


@router.get("/parked")
async def parked_page(request: Request) -> HTMLResponse:
    """Records the services parked on ``edoc.deadletter``, newest first (docs/security.md)."""
    user = await _user(request)
    error = None
    try:
        items = [p.summary() for p in await list_parked(request.app.state.settings, 200)]
    except BrokerUnavailableError:
        items, error = [], "err.kafka"
    return _render(request, "parked.html", user, {"items": items, "error": error})


@router.get("/rejected/{partition}/{offset}")
async def rejected_detail(
    request: Request, partition: PartitionParam, offset: OffsetParam
) -> HTMLResponse:
    """One refused package: reasons, the original header as signed, signatures."""
    user = await _user(request)
    queue: RejectedQueue = request.app.state.rejected
    try:
        item = await queue.get(partition, offset)
    except RejectedNotFoundError:
        return _render(request, "error.html", user, {"error": "err.not_found"}, 404)
    except BrokerUnavailableError:
        return _render(request, "error.html", user, {"error": "err.kafka"}, 503)
    header = json.dumps(item.header, ensure_ascii=False, indent=2) if item.header else None
    return _render(
        request,
        "rejected_detail.html",
        user,
        {"item": item, "header_json": header, "names": await views.names(request.app)},
    )


@router.post("/rejected/{partition}/{offset}/reprocess")
async def reprocess(request: Request, partition: PartitionParam, offset: OffsetParam) -> Response:
    """Operators: submit the original bytes again (CSRF-checked form)."""
    user, _ = await _form_user(request)
    if not user.session.is_operator:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "err.forbidden")
    action = await do_reprocess(request, partition, offset, user.token)
    done = quote(action["target"])
    pos = quote(str(action.get("submitted", "")))
    return RedirectResponse(f"/console/rejected?done={done}&pos={pos}", status.HTTP_303_SEE_OTHER)


@router.get("/overdue")
async def overdue_page(
    request: Request, agency: str | None = None, hours: float | None = None
) -> HTMLResponse:
    """Documents delivered but not accepted in time (from ``/api/v1/overdue``)."""
    user = await _user(request)
    code, body = await views.internal_get(
        request, "/api/v1/overdue", {"agency": agency, "hours": hours}
    )
    rows: list[dict[str, Any]] = []
    if code == 200:
        rows = body if isinstance(body, list) else (body or {}).get("items", [])
    now = datetime.now(UTC)
    for row in rows:
        delivered = row.get("delivered_at")
        if isinstance(delivered, str):
            at = datetime.fromisoformat(delivered.replace("Z", "+00:00"))
            row["waiting_minutes"] = int((now - at).total_seconds() // 60)
    return _render(
        request,
        "overdue.html",
        user,
        {
            "rows": rows,
            "available": code != status.HTTP_404_NOT_FOUND,
            "error": None if code in (200, 404) else _problem(body, code),
            "names": await views.names(request.app),
            "agency": agency or "",
            "hours": hours if hours is not None else "",
            "default_hours": getattr(request.app.state.settings, "overdue_hours", None),
        },
    )


@router.get("/agencies")
async def agencies_page(request: Request) -> HTMLResponse:
    """The directory with each agency's live traffic."""
    user = await _user(request)
    monitor = _monitor(request)
    now = datetime.now(UTC)
    listed = await views.agencies(request.app)
    flows = {a.code: monitor.stats.agency(a.code, now) for a in listed}
    return _render(request, "agencies.html", user, {"agencies": listed, "flows": flows})


@router.get("/agencies/{code}")
async def agency_page(request: Request, code: str) -> HTMLResponse:
    """One agency: traffic, refusals, unread inbox, indicators, recent log entries."""
    user = await _user(request)
    report = await views.agency_report(request.app, code)
    if report["agency"] is None:
        return _render(request, "error.html", user, {"error": "ag.unknown"}, 404)
    return _render(
        request,
        "agency.html",
        user,
        {
            "r": report,
            "names": await views.names(request.app),
            "entries": await views.recent_entries(request.app.state.engine, code),
        },
    )


@router.get("/coverage")
async def coverage_page(
    request: Request, period: str | None = None, level: str | None = None
) -> HTMLResponse:
    """Indicators per agency against their targets (from ``/api/v1/coverage``)."""
    user = await _user(request)
    code, body = await views.internal_get(
        request, "/api/v1/coverage", {"period": period, "level": level, "laggards": 10}
    )
    return _render(
        request,
        "coverage.html",
        user,
        {
            "report": body if code == 200 else None,
            "available": code != status.HTTP_404_NOT_FOUND,
            "error": None if code in (200, 404) else _problem(body, code),
            "period": period or "",
            "level": level or "",
        },
    )


@router.get("/system")
async def system_page(request: Request) -> HTMLResponse:
    """Broker, database, signature log, consumer lag per partition, interface documents."""
    user = await _user(request)
    monitor = _monitor(request)
    return _render(request, "system.html", user, {"snap": monitor.snapshot(), "m": monitor})


# -- wiring ----------------------------------------------------------------------------------------


def install(app: FastAPI) -> None:
    """Mount the console, its static files, and the handlers that turn errors into pages."""
    app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=_HERE / "static"), name="console-static")

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/console", status.HTTP_303_SEE_OTHER)

    @app.exception_handler(StarletteHTTPException)
    async def _error_page(request: Request, exc: StarletteHTTPException) -> Response:
        path = request.url.path
        if not path.startswith("/console") or path == "/console/stream":
            return await http_exception_handler(request, exc)
        user = None
        with contextlib.suppress(LoginRequiredError):
            user = await _user(request)
        return _render(request, "error.html", user, {"error": exc.detail}, exc.status_code)

    @app.exception_handler(LoginRequiredError)
    async def _to_login(request: Request, _: LoginRequiredError) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            return HTMLResponse("sign in first", status.HTTP_401_UNAUTHORIZED)
        return RedirectResponse(f"/console/login?next={quote(target)}", status.HTTP_303_SEE_OTHER)
