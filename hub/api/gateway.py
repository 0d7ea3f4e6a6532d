"""HTTP gateway for agency systems that cannot speak Kafka: submit, list, fetch, acknowledge.

A pull interface like the national document axis (``getReceivedEdocList``,
``getEdoc``, ``updateStatus``), specified in docs/gateway.md. Every route needs
an ``agency:<code>`` token and reaches only that agency's own inbox: the topic
is derived from the token, never from the request, so no parameter can name
another agency's inbox. Operators and auditors get 403 — nobody but the agency
reads its inbox.

The gateway is a thin Kafka client: a submitted package goes unchanged to
``edoc.submit`` (the router decides on it later, as for Kafka clients); the
inbox is read with ``read_committed`` from the committed offset of the consumer
group ``EDOC_GATEWAY_GROUP_PREFIX + <code>``, and an acknowledgement commits
that group's offset. Kafka is connected lazily, so the rest of the API works
while the broker is down (the gateway answers 503 then).
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Annotated, Any

from aiokafka import ConsumerRecord
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.api.auth import current_token
from hub.api.gateway_kafka import GatewayKafka
from hub.errors import BrokerUnavailableError
from hub.store.tokens import TokenInfo
from schemas import wire
from schemas.errors import MalformedPackageError
from schemas.header import Header
from schemas.package import b64url_decode, parse_package

__all__ = ["GatewayKafka", "router"]

#: Most inbox entries one list request returns.
MAX_LIST = 200
#: Largest Kafka offset (a signed 64-bit field on the wire); a larger one names no message.
MAX_OFFSET = 2**63 - 1
_AGENCY_ROLE = "agency:"


# -- wire models ---------------------------------------------------------------------------


class Problem(BaseModel):
    """An error of the gateway: a stable ``reason`` and a human-readable ``detail``."""

    reason: str = Field(
        description="malformed | too_large | wrong_sender | not_found | invalid_offset | "
        "unavailable"
    )
    detail: str


class Accepted(BaseModel):
    """Where the package landed on ``edoc.submit``; the verdict arrives later in the inbox."""

    message_id: str
    partition: int
    offset: int


class InboxItem(BaseModel):
    """One message of the inbox, summarised from its signed header."""

    model_config = ConfigDict(populate_by_name=True)

    offset: int = Field(description="position in the inbox; fetch and acknowledge by it")
    message_id: str | None
    kind: str | None = Field(description="document | status | register")
    from_: str | None = Field(alias="from", description="sender's agency code")
    subject: str | None = Field(description="document subject (kind document)")
    status: str | None = Field(description="status code, e.g. 01 (kind status)")
    ref_message_id: str | None = Field(description="document a status is about")
    sent_at: datetime | None
    delivered_at: datetime = Field(description="when the router wrote it to the inbox")
    size: int = Field(description="package bytes")


class InboxPage(BaseModel):
    """Not yet acknowledged messages, oldest first."""

    agency: str
    committed: int = Field(description="first offset not yet acknowledged")
    messages: list[InboxItem]
    more: bool = Field(description="more messages follow the last one listed")


class AckRequest(BaseModel):
    """Acknowledge every message up to and including ``up_to``."""

    up_to: int = Field(ge=0, le=MAX_OFFSET, description="offset of the last message handled")


class AckResult(BaseModel):
    """The group's committed offset after the acknowledgement."""

    agency: str
    committed: int = Field(description="first offset the next list starts from")


def _problem(code: int, reason: str, detail: str) -> JSONResponse:
    return JSONResponse(Problem(reason=reason, detail=detail).model_dump(), status_code=code)


_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": Problem, "description": "Kafka is unavailable; retry later"}
}


def summarize(rec: ConsumerRecord) -> InboxItem:
    """An inbox item from a record, reading only the signed header (not the attachments)."""
    headers = {k: v.decode("utf-8", "replace") for k, v in rec.headers}
    header: Header | None = None
    # The router only delivers readable packages; a record that is not one (kept from an
    # older hub, say) is still listed and handed over, summed up from its record headers.
    with contextlib.suppress(ValueError, KeyError, TypeError, ValidationError):
        header = Header.model_validate_json(b64url_decode(json.loads(rec.value)["header"]))
    doc = header.document if header else None
    st = header.status if header else None
    return InboxItem(
        offset=rec.offset,
        message_id=str(header.message_id) if header else headers.get(wire.H_MESSAGE_ID),
        kind=header.kind.value if header else headers.get(wire.H_KIND),
        **{"from": header.sender if header else headers.get(wire.H_FROM)},
        subject=doc.subject if doc else None,
        status=st.code.value if st else None,
        ref_message_id=str(st.ref_message_id) if st else None,
        sent_at=header.sent_at if header else None,
        delivered_at=datetime.fromtimestamp(rec.timestamp / 1000, UTC),
        size=len(rec.value or b""),
    )


# -- authentication ------------------------------------------------------------------------


async def agency_of_token(token: Annotated[TokenInfo, Depends(current_token)]) -> str:
    """The agency code of an ``agency:<code>`` token; 403 for every other role."""
    if not token.role.startswith(_AGENCY_ROLE):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"role {token.role} may not use the gateway; it serves agency systems "
            "with an agency:<code> token",
        )
    return token.role.removeprefix(_AGENCY_ROLE)


async def own_inbox(
    agency: Annotated[str, Depends(agency_of_token)],
    inbox_of: Annotated[
        str | None,
        Query(
            alias="agency",
            description="optional: the inbox the client means; must be the token's own agency",
        ),
    ] = None,
) -> str:
    """The token's agency; 403 when the request names another agency's inbox."""
    if inbox_of is not None and inbox_of != agency:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"a token of agency {agency} cannot read the inbox of {inbox_of}",
        )
    return agency


Agency = Annotated[str, Depends(own_inbox)]


def _gateway(request: Request) -> GatewayKafka:
    gw: GatewayKafka = request.app.state.gateway
    return gw


# -- routes --------------------------------------------------------------------------------

router = APIRouter(
    prefix="/api/v1/gateway",
    tags=["gateway"],
    responses={
        401: {"description": "missing, unknown or revoked token"},
        403: {"description": "not an agency token, or another agency's data"},
    },
)


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


@router.post(
    "/packages",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    summary="Submit a signed package",
    responses={
        400: {"model": Problem, "description": "the package is unreadable (malformed)"},
        403: {"model": Problem, "description": "the header's from is not the token's agency"},
        413: {"model": Problem, "description": "larger than EDOC_MAX_PACKAGE_BYTES"},
        **_UNAVAILABLE,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
            "description": "the package JSON bytes exactly as on the wire (docs/wire-format.md)",
        }
    },
)
async def submit_package(request: Request, agency: Annotated[str, Depends(agency_of_token)]) -> Any:
    """Forward a package unchanged to ``edoc.submit``; the verdict arrives in the inbox.

    The hub's receipt (status 01 per recipient, or 02 with reasons) reaches the
    sender's inbox like for Kafka clients. Re-sending the same bytes is safe: an
    accepted message id is refused as ``duplicate`` and never delivered twice.
    """
    limit = _gateway(request).settings.max_package_bytes
    raw = await _read_body(request, limit)
    if raw is None:
        return _problem(413, "too_large", f"a package may have at most {limit} bytes")
    try:
        parsed = parse_package(raw)
    except MalformedPackageError as exc:
        return _problem(400, "malformed", exc.message)
    h = parsed.header
    if h.sender != agency:
        return _problem(
            403,
            "wrong_sender",
            f"the package is from {h.sender} but the token belongs to {agency}; "
            "an agency submits only its own packages",
        )
    headers = [(wire.H_MESSAGE_ID, str(h.message_id).encode()), (wire.H_KIND, h.kind.encode())]
    if parsed.package.signatures:
        headers.append((wire.H_PROFILE, parsed.package.signatures[0].profile.encode()))
    try:
        meta = await _gateway(request).submit(raw, h.sender, headers)
    except BrokerUnavailableError as exc:
        return _problem(503, "unavailable", exc.message)
    return Accepted(message_id=str(h.message_id), partition=meta.partition, offset=meta.offset)


@router.get(
    "/inbox",
    response_model=InboxPage,
    response_model_by_alias=True,
    summary="List messages not yet acknowledged",
    responses=_UNAVAILABLE,
)
async def list_inbox(
    request: Request,
    agency: Agency,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST, description="most messages listed")] = 50,
    after: Annotated[
        int | None,
        Query(
            ge=0,
            le=MAX_OFFSET,
            description="list after this offset instead of the acknowledged position",
        ),
    ] = None,
) -> Any:
    """The agency's inbox from its acknowledged position (like getReceivedEdocList)."""
    gw = _gateway(request)
    try:
        async with gw.inbox(agency) as reader:
            committed = await reader.committed()
            start = max(committed, after + 1) if after is not None else committed
            records = await reader.read(start, limit + 1)
    except BrokerUnavailableError as exc:
        return _problem(503, "unavailable", exc.message)
    return InboxPage(
        agency=agency,
        committed=committed,
        messages=[summarize(r) for r in records[:limit]],
        more=len(records) > limit,
    )


@router.get(
    "/inbox/{offset}",
    response_class=Response,
    summary="Fetch one package",
    responses={
        200: {
            "content": {"application/json": {}},
            "description": "the package bytes exactly as delivered",
        },
        404: {"model": Problem, "description": "no message at that offset"},
        **_UNAVAILABLE,
    },
)
async def fetch_message(
    request: Request,
    agency: Agency,
    offset: Annotated[int, Path(ge=0, le=MAX_OFFSET, description="offset from the inbox list")],
) -> Response:
    """The package bytes at ``offset`` of the agency's inbox (like getEdoc)."""
    try:
        async with _gateway(request).inbox(agency) as reader:
            found = await reader.read(offset, 1)
    except BrokerUnavailableError as exc:
        return _problem(503, "unavailable", exc.message)
    if not found or found[0].offset != offset:
        return _problem(404, "not_found", f"no message at offset {offset} of {agency}'s inbox")
    rec = found[0]
    # Record headers are ASCII (router-written); latin-1 can encode any byte into a header.
    extra = {
        f"X-Edoc-{k.removeprefix('edoc-').title()}": v.decode("latin-1") for k, v in rec.headers
    }
    return Response(rec.value, media_type="application/json", headers=extra)


@router.post(
    "/inbox/ack",
    response_model=AckResult,
    summary="Acknowledge messages up to an offset",
    responses={400: {"model": Problem, "description": "offset beyond the inbox"}, **_UNAVAILABLE},
)
async def ack_messages(request: Request, agency: Agency, body: AckRequest) -> Any:
    """Commit ``up_to + 1`` for the agency's group; later lists start after it.

    Acknowledging an offset at or before the current position changes nothing,
    so a retried acknowledgement is harmless.
    """
    gw = _gateway(request)
    try:
        async with gw.ack_lock(agency), gw.inbox(agency) as reader:
            _, end = await reader.bounds()
            if body.up_to >= end:
                return _problem(
                    400,
                    "invalid_offset",
                    f"offset {body.up_to} is beyond the inbox of {agency} (next offset {end})",
                )
            committed = await reader.committed()
            if body.up_to + 1 > committed:
                committed = body.up_to + 1
                await reader.commit(committed)
    except BrokerUnavailableError as exc:
        return _problem(503, "unavailable", exc.message)
    return AckResult(agency=agency, committed=committed)
