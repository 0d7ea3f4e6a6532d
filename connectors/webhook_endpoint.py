"""The webhook adapter's local endpoint, and the runner that starts the whole adapter.

The agency system POSTs JSON to the endpoint (bound to 127.0.0.1 by default):

* ``POST /documents`` — ``{"message_id"?, "to": [codes], "document": {…},
  "attachments": [{"name", "media_type"?, "content": base64}]}``, where
  ``document`` is the header's ``document`` object of docs/wire-format.md §3;
* ``POST /statuses`` — ``{"message_id"?, "ref_message_id", "to": code | [codes],
  "code": "03", "description"?, "staff"?, "reasons"?}``.

Each request carries ``X-Edoc-Timestamp``, ``X-Edoc-Nonce`` and
``X-Edoc-Signature-V2: sha256=<hex HMAC-SHA256 of "<timestamp>.<nonce>." + body>``
with the adapter's shared secret (``connectors.webhook.sign_request``); a copy of
a request, or one signed more than 5 minutes away from now, is refused
(``ReplayGuard``). The adapter builds the header, signs it with
the agency key, submits the package over Kafka and answers 202 with the
``message_id``; anything it cannot accept gets a 4xx with a reason and is not
sent, so the agency system always knows whether a document left. Sending the
same ``message_id`` again is safe: the hub accepts an id once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from connectors.errors import ConnectorError, RequestRefused, WebhookError
from connectors.sdk import HubClient, KafkaAuth, Submitted
from connectors.webhook import (
    NONCE_HEADER,
    SIGNATURE_V2_HEADER,
    TIMESTAMP_HEADER,
    DeliveryStats,
    InboxDeliverer,
    ReplayGuard,
    RetryPolicy,
    WebhookTarget,
    state_lock,
)
from schemas.agency import AgencyCode
from schemas.bounds import EARLIEST, LATEST
from schemas.errors import EdocError, describe_validation_error
from schemas.header import DocumentMeta, Header, Kind, StatusCode, StatusInfo, utc_now
from signing.signer import Signer, attachment_ref, build_package

log = logging.getLogger(__name__)

Submit = Callable[[bytes], Awaitable[Submitted]]
M = TypeVar("M", bound=BaseModel)


# -- request models ------------------------------------------------------------------------


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _file_name(name: str) -> str:
    """A name the recipients can show and store: no control characters, no path."""
    if name.strip(" .") == "" or any(ch in "/\\" or not ch.isprintable() for ch in name):
        raise ValueError("a file name without / \\ or control characters, not . or ..")
    return name


class AttachmentIn(_Request):
    """A file to send: its name, media type (guessed from the name when absent), base64 bytes."""

    name: Annotated[str, AfterValidator(_file_name)] = Field(min_length=1, max_length=255)
    media_type: str | None = Field(
        default=None, min_length=3, max_length=127, pattern=r"^[\w.+-]+/[\w.+-]+(;[ -~]*)?$"
    )
    content: str = Field(description="standard base64 (RFC 4648 §4) of the file bytes")


class DocumentIn(_Request):
    """``POST /documents``: a document to sign and send."""

    message_id: uuid.UUID | None = Field(
        default=None, description="reuse it when retrying, so the hub delivers once"
    )
    to: list[AgencyCode] = Field(min_length=1, max_length=500)
    document: DocumentMeta
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _bounded(self) -> DocumentIn:
        """What the header's schema leaves open is bounded here, where it enters."""
        doc = self.document
        years = f"{EARLIEST.year}-{LATEST.year - 1}"
        dates = {"promulgation.date": doc.promulgation.date, "due_date": doc.due_date}
        for where, day in dates.items():
            if day is not None and not EARLIEST.date() <= day < LATEST.date():
                raise ValueError(f"document.{where}: years {years} are accepted")
        if not 0 <= doc.steering_type <= 99:
            raise ValueError("document.steering_type: 0-99")
        if any(len(place) > 500 for place in doc.to_places):
            raise ValueError("document.to_places: at most 500 characters each")
        return self


#: One reason of a status 02, bounded (the header's schema takes any length).
Reason = Annotated[str, Field(max_length=500)]


def _as_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


class StatusIn(_Request):
    """``POST /statuses``: a status about an earlier document (03 accepted … 16)."""

    message_id: uuid.UUID | None = None
    ref_message_id: uuid.UUID
    to: Annotated[list[AgencyCode], BeforeValidator(_as_list)] = Field(min_length=1)
    code: StatusCode
    description: str = Field(default="", max_length=2000)
    staff: str = Field(default="", max_length=128)
    reasons: list[Reason] = Field(default_factory=list, max_length=50)


#: The headers that authenticate a request (docs/webhook.md, "Signatures").
_SIGNED_BY = (TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_V2_HEADER)


def _once(request: Request, name: str) -> str | None:
    """The header's value if it is there exactly once (a repeated one is not trusted)."""
    values = request.headers.getlist(name)
    return values[0] if len(values) == 1 else None


def _refusal(err: RequestRefused) -> JSONResponse:
    """The JSON answer ``{"reason", "detail"}`` of a refused request."""
    return JSONResponse({"reason": err.reason, "detail": err.message}, err.status)


# -- building packages ---------------------------------------------------------------------


def document_package(agency: str, req: DocumentIn, signer: Signer) -> bytes:
    """The signed package for a document request."""
    refs, contents = [], {}
    for i, att in enumerate(req.attachments, start=1):
        try:
            data = base64.b64decode(att.content, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise RequestRefused(
                400, "invalid", f"attachments.{i - 1}.content: not base64: {exc}"
            ) from None
        refs.append(attachment_ref(f"a{i}", att.name, data, att.media_type))
        contents[f"a{i}"] = data
    header = _header(
        message_id=req.message_id or uuid.uuid4(),
        kind=Kind.DOCUMENT,
        to=req.to,
        document=req.document,
        attachments=refs,
        **{"from": agency},
    )
    return build_package(header, contents, [signer]).to_bytes()


def status_package(agency: str, req: StatusIn, signer: Signer) -> bytes:
    """The signed package for a status request."""
    status = StatusInfo(
        code=req.code,
        ref_message_id=req.ref_message_id,
        description=req.description,
        staff=req.staff,
        reasons=req.reasons,
    )
    header = _header(
        message_id=req.message_id or uuid.uuid4(),
        kind=Kind.STATUS,
        to=req.to,
        status=status,
        **{"from": agency},
    )
    return build_package(header, {}, [signer]).to_bytes()


def _header(**fields: Any) -> Header:
    try:
        return Header(sent_at=utc_now(), **fields)
    except ValidationError as exc:
        raise RequestRefused(400, "invalid", describe_validation_error(exc)) from None


# -- the ASGI app --------------------------------------------------------------------------


def make_endpoint(
    agency: str,
    signer: Signer,
    secret: bytes,
    submit: Submit,
    *,
    max_package_bytes: int,
    guard: ReplayGuard | None = None,
) -> FastAPI:
    """The local endpoint of one agency: only fresh requests signed with ``secret``, once."""
    guard = guard or ReplayGuard(secret)
    app = FastAPI(
        title=f"edoc webhook adapter of {agency}",
        summary="Send documents and statuses through the hub (see docs/webhook.md)",
        docs_url=None,
        redoc_url=None,
    )

    async def body_of(request: Request) -> bytes:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_package_bytes:
                raise RequestRefused(
                    413, "too_large", f"requests are limited to {max_package_bytes} bytes"
                )
        guard.check(bytes(body), *(_once(request, h) for h in _SIGNED_BY))
        return bytes(body)

    async def send(raw: bytes) -> JSONResponse:
        if len(raw) > max_package_bytes:
            raise RequestRefused(
                413,
                "too_large",
                f"the signed package has {len(raw)} bytes; the hub takes "
                f"at most {max_package_bytes}",
            )
        try:
            sub = await submit(raw)
        except ConnectorError as exc:
            raise RequestRefused(503, "unavailable", exc.message) from None
        log.info("submitted %s (edoc.submit %d/%d)", sub.message_id, sub.partition, sub.offset)
        return JSONResponse(
            {"message_id": sub.message_id, "partition": sub.partition, "offset": sub.offset}, 202
        )

    def parse(model: type[M], body: bytes) -> M:
        try:
            return model.model_validate_json(body)
        except ValidationError as exc:
            raise RequestRefused(400, "invalid", describe_validation_error(exc)) from None

    def signed(build: Callable[[], bytes]) -> bytes:
        try:
            return build()
        except RequestRefused:
            raise
        except EdocError as exc:
            raise RequestRefused(500, "signing_failed", exc.diagnostics()) from None

    @app.post("/documents", status_code=202, summary="Sign and send a document")
    async def post_document(request: Request) -> JSONResponse:
        """Build, sign and submit a document; answers its message_id."""
        try:
            req = parse(DocumentIn, await body_of(request))
            return await send(signed(lambda: document_package(agency, req, signer)))
        except RequestRefused as err:
            return _refusal(err)

    @app.post("/statuses", status_code=202, summary="Sign and send a status")
    async def post_status(request: Request) -> JSONResponse:
        """Build, sign and submit a status about an earlier document."""
        try:
            req = parse(StatusIn, await body_of(request))
            return await send(signed(lambda: status_package(agency, req, signer)))
        except RequestRefused as err:
            return _refusal(err)

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        """The adapter answers."""
        return {"status": "ok", "agency": agency}

    return app


# -- the whole adapter ---------------------------------------------------------------------


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling (the runner owns SIGINT/SIGTERM) that says when
    it listens."""

    def __init__(self, config: uvicorn.Config, ready: asyncio.Event) -> None:
        super().__init__(config)
        self.ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Bind, then set ``ready``."""
        await super().startup(sockets)
        if self.started:
            self.ready.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave signals alone."""
        yield


@dataclass(frozen=True)
class AdapterConfig:
    """Everything ``edoc connector http`` is configured with."""

    agency: str
    bootstrap: str
    signer: Signer
    target: WebhookTarget
    state_dir: Path
    #: Where the local endpoint listens; None runs delivery only.
    listen: tuple[str, int] | None = ("127.0.0.1", 8090)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    group_id: str | None = None
    max_package_bytes: int = 16 * 1024 * 1024
    auth: KafkaAuth | None = None


async def _serve(server: _Server, stop: asyncio.Event) -> None:
    task = asyncio.create_task(server.serve())
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([task, stopped], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        server.should_exit = True
        try:
            await task
        except SystemExit:  # uvicorn exits the process when it cannot bind
            cfg = server.config
            raise WebhookError(
                f"cannot listen on {cfg.host}:{cfg.port}",
                hint="the port is taken or the address is not local; choose another --listen",
            ) from None


async def run_adapter(
    cfg: AdapterConfig, stop: asyncio.Event, ready: asyncio.Event | None = None
) -> DeliveryStats:
    """Deliver the inbox and serve the local endpoint until ``stop``; ``ready`` once listening."""
    ready = ready or asyncio.Event()
    if cfg.listen is not None and cfg.target.secret is None:
        raise WebhookError(
            "the local endpoint needs the shared secret to authenticate the agency system",
            hint="give --secret (or --secret-file), or run without --listen",
        )
    with state_lock(cfg.state_dir):
        hub = HubClient(
            cfg.bootstrap, max_record_bytes=cfg.max_package_bytes + 1024 * 1024, auth=cfg.auth
        )
        deliverer = InboxDeliverer(
            cfg.agency,
            cfg.bootstrap,
            cfg.target,
            cfg.state_dir,
            policy=cfg.policy,
            group_id=cfg.group_id,
            max_record_bytes=cfg.max_package_bytes + 1024 * 1024,
            auth=cfg.auth,
        )
        tasks = [asyncio.create_task(deliverer.run(stop), name="deliver")]
        if cfg.listen is not None and cfg.target.secret is not None:
            app = make_endpoint(
                cfg.agency,
                cfg.signer,
                cfg.target.secret,
                hub.submit,
                max_package_bytes=cfg.max_package_bytes,
            )
            host, port = cfg.listen
            config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
            tasks.append(asyncio.create_task(_serve(_Server(config, ready), stop), name="listen"))
        else:
            ready.set()
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            stop.set()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            await hub.close()
        for result in results:
            if isinstance(result, BaseException):
                raise result
    return deliverer.stats
