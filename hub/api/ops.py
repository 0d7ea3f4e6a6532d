"""Operations routes: health, readiness, Prometheus metrics, AsyncAPI, live flow, rejected queue.

Who may call what (every route; ``tests/hub/api/test_access_matrix.py`` checks it):

==========================================  =======================================
``/healthz``, ``/readyz``                   anyone (probes; bodies name no secrets)
``/asyncapi.json``                          anyone (interface description)
``/metrics``                                operator
``/api/v1/ops/flow``                        operator, auditor
``GET /api/v1/ops/rejected``                operator, auditor
``GET /api/v1/ops/deadletter``              operator, auditor (records parked by the services)
``POST …/rejected/{p}/{o}/reprocess``       operator (bearer token; the console has its own form)
``/api/v1/agencies/{code}/report``          operator, auditor, and ``agency:{code}`` itself
==========================================  =======================================

Also here: the action log — one JSON log line for every state-changing HTTP
request (any method but GET/HEAD/OPTIONS), naming who (token id, role, name),
what (method, path) and the outcome (status).
"""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
    status,
)
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.api import views
from hub.api.asyncapi import build_asyncapi
from hub.api.auth import ACTOR_KEY, agency_or_role, require_role
from hub.api.session import SessionCodec
from hub.errors import BrokerUnavailableError
from hub.metrics import CONTENT_TYPE, OpsMetrics
from hub.ops.deadletter import list_parked
from hub.ops.monitor import Monitor
from hub.ops.rejected import RejectedNotFoundError, RejectedQueue
from hub.settings import Settings
from hub.store.probe import database_probe
from hub.store.tokens import TokenInfo

log = logging.getLogger("hub.api.actions")
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})

router = APIRouter(tags=["ops"])
#: A partition and an offset of ``edoc.rejected``: Kafka's 32- and 64-bit fields.
PartitionParam = Annotated[int, Path(ge=0, le=2**31 - 1)]
OffsetParam = Annotated[int, Path(ge=0, le=2**63 - 1)]


# -- state owned by one app ------------------------------------------------------------------


def setup_state(app: FastAPI, settings: Settings) -> None:
    """Create the per-app session codec, metrics registry and rejected queue."""
    secret = (
        settings.console_secret.get_secret_value().encode() if settings.console_secret else None
    )
    app.state.settings = settings
    app.state.sessions = SessionCodec(secret, settings.console_session_minutes * 60)
    app.state.metrics = OpsMetrics()
    app.state.rejected = RejectedQueue(settings)


async def start(app: FastAPI, settings: Settings, engine: AsyncEngine) -> None:
    """Start the monitor (it connects to Kafka in the background)."""
    monitor = Monitor(settings, engine, app.state.metrics)
    app.state.monitor = monitor
    await monitor.start()


async def stop(app: FastAPI) -> None:
    """Stop the monitor and the rejected queue's producer."""
    monitor: Monitor | None = getattr(app.state, "monitor", None)
    if monitor is not None:
        await monitor.stop()
    await app.state.rejected.close()


def _monitor(request: Request) -> Monitor:
    monitor: Monitor = request.app.state.monitor
    return monitor


# -- probes ----------------------------------------------------------------------------------


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    """The process answers (says nothing about Kafka or the database)."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: Kafka and the database answer now",
    responses={503: {"description": "Kafka or the database is unreachable"}},
)
async def readyz(request: Request) -> JSONResponse:
    """200 when the broker and the database answer now and every service runs; 503 otherwise."""
    monitor = _monitor(request)
    kafka = await monitor.kafka.probe()
    database = await database_probe(request.app.state.engine)
    services = request.app.state.services
    unready: dict[str, str] = services.unready() if services is not None else {}
    ready = kafka == "ok" and database == "ok" and not unready
    body: dict[str, object] = {
        "status": "ok" if ready else "unavailable",
        "kafka": kafka,
        "database": database,
    }
    if unready:
        body["unready"] = unready  # services of this process being (re)started
    return JSONResponse(body, status.HTTP_200_OK if ready else status.HTTP_503_SERVICE_UNAVAILABLE)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    dependencies=[Depends(require_role("operator"))],
)
async def metrics(request: Request) -> Response:
    """Counts by verdict and reason, latencies, consumer lag, log size, checkpoint age."""
    ops: OpsMetrics = request.app.state.metrics
    return Response(ops.render(), media_type=CONTENT_TYPE)


@router.get("/asyncapi.json", summary="AsyncAPI 3.0 document of the Kafka topics")
async def asyncapi(request: Request) -> dict[str, Any]:
    """Every topic, its messages and their JSON Schemas."""
    return build_asyncapi(request.app.state.settings)


# -- live flow and the rejected queue -------------------------------------------------------


@router.get(
    "/api/v1/ops/flow",
    summary="Live flow, health and consumer lag (what the dashboard shows)",
    dependencies=[Depends(require_role("operator", "auditor"))],
)
async def flow(request: Request) -> dict[str, Any]:
    """The monitor's snapshot: rates, verdicts over time, top agencies, health, lag."""
    return _monitor(request).snapshot()


def _queue(request: Request) -> RejectedQueue:
    queue: RejectedQueue = request.app.state.rejected
    return queue


@router.get(
    "/api/v1/ops/rejected",
    summary="The newest refused packages",
    dependencies=[Depends(require_role("operator", "auditor"))],
)
async def rejected(request: Request, limit: int = 50) -> list[dict[str, Any]]:
    """Newest first, with reasons, summary of the original header, and any reprocessing."""
    try:
        items = await _queue(request).recent(max(1, min(limit, 500)))
    except BrokerUnavailableError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, exc.message) from None
    return [views.rejected_json(i) for i in items]


@router.get(
    "/api/v1/ops/deadletter",
    summary="Records the services parked on edoc.deadletter",
    dependencies=[Depends(require_role("operator", "auditor"))],
)
async def parked(
    request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    """Newest first: service, error, source topic/partition/offset, and any replay."""
    try:
        items = await list_parked(request.app.state.settings, limit)
    except BrokerUnavailableError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, exc.message) from None
    return [i.summary() for i in items]


@router.post(
    "/api/v1/ops/rejected/{partition}/{offset}/reprocess",
    summary="Submit a refused original again (e.g. after a CRL was renewed)",
    status_code=status.HTTP_202_ACCEPTED,
)
async def reprocess(
    request: Request,
    partition: PartitionParam,
    offset: OffsetParam,
    actor: Annotated[TokenInfo, Depends(require_role("operator"))],
) -> dict[str, Any]:
    """The original bytes go to ``edoc.submit`` again; who asked is kept on ``edoc.operations``."""
    return await do_reprocess(request, partition, offset, actor)


async def do_reprocess(
    request: Request, partition: int, offset: int, actor: TokenInfo
) -> dict[str, Any]:
    """Reprocess for the API and the console alike; logs one line naming the actor."""
    try:
        done = await _queue(request).reprocess(partition, offset, actor)
    except RejectedNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, exc.diagnostics()) from None
    except BrokerUnavailableError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, exc.message) from None
    request.app.state.metrics.reprocessed.inc()
    log.info(
        "reprocess %s",
        done.ref,
        extra={
            "action": "reprocess",
            "actor_token_id": actor.id,
            "actor_role": actor.role,
            "actor_name": actor.name,
            "target": done.ref,
            "message_id": done.action.get("message_id"),
            "reasons": done.action.get("reasons"),
            "submitted": done.action.get("submitted"),
        },
    )
    return done.action


# -- an agency's own report --------------------------------------------------------------------


@router.get(
    "/api/v1/agencies/{code}/report",
    summary="One agency's traffic, refusals, unread inbox and indicators",
)
async def agency_report(
    request: Request,
    code: str,
    _: Annotated[TokenInfo, Depends(agency_or_role("operator", "auditor"))],
) -> dict[str, Any]:
    """Operators and auditors see any agency; an agency token only its own code."""
    report = await views.agency_report(request.app, code)
    if report["agency"] is None and not report["flow"]["sent_ok"] + report["flow"]["received"]:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no agency {code} in the directory")
    return report


# -- middleware ------------------------------------------------------------------------------


class ActionLog:
    """ASGI middleware: one log line per state-changing request, with who and what."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; log after the response started."""
        if scope["type"] != "http" or scope["method"] in _SAFE:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        code = 500

        async def _send(message: Message) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            actor: TokenInfo | None = scope.get(ACTOR_KEY)
            client = scope.get("client")
            log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                code,
                extra={
                    "action": "http",
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": code,
                    "actor_token_id": actor.id if actor else None,
                    "actor_role": actor.role if actor else None,
                    "actor_name": actor.name if actor else None,
                    "client": client[0] if client else None,
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )


class SecurityHeaders:
    """ASGI middleware: browser hardening headers on every response."""

    HEADERS = (
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"x-frame-options", b"DENY"),
    )
    #: Console pages: scripts and styles only from the hub itself (Swagger UI keeps its own).
    CSP = (
        b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        b"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
        b"base-uri 'none'"
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the headers to the response start message."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        console = scope["path"].startswith("/console")

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(self.HEADERS)
                if console:
                    headers.append((b"content-security-policy", self.CSP))
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, _send)


def install(app: FastAPI, settings: Settings) -> None:
    """Add the operations routes and both middlewares (they wrap every route, the console's too)."""
    setup_state(app, settings)
    app.include_router(router)
    app.add_middleware(ActionLog)
    app.add_middleware(SecurityHeaders)
