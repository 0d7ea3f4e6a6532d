"""The AsyncAPI 3.0 document of every Kafka topic the hub reads or writes (``/asyncapi.json``).

Built from the wire models in ``schemas/`` (JSON Schema from pydantic) and the
topic and header names in ``schemas.wire``, so it cannot drift from the code:
``tests/hub/test_asyncapi.py`` checks that every topic constant has a channel.
Operations are written from the hub's side: ``receive`` is what the hub
consumes, ``send`` what it produces.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from hub.settings import Settings
from schemas import wire
from schemas.directory import Agency
from schemas.events import VerdictEvent
from schemas.header import Header
from schemas.package import Package

_REF = "#/components/schemas/{model}"


def _string_headers(required: dict[str, str], optional: dict[str, str]) -> dict[str, Any]:
    props = {name: {"type": "string", "description": text} for name, text in required.items()}
    props |= {name: {"type": "string", "description": text} for name, text in optional.items()}
    return {"type": "object", "properties": props, "required": sorted(required)}


_ROUTER_HEADERS = {
    wire.H_VERDICT: "ok | rejected",
    wire.H_PACKAGE_SHA256: "SHA-256 (hex) of the record value",
}
_PACKAGE_HEADERS = {
    wire.H_MESSAGE_ID: "the header's message_id (absent when unreadable)",
    wire.H_KIND: "document | status | register",
    wire.H_FROM: "sender's agency code",
    wire.H_PROFILE: "profile of the first signature (jws | cms)",
}

_OPERATOR_ACTION = {
    "type": "object",
    "description": "An action an operator took in the console, e.g. reprocessing a rejected "
    "package; written in the same Kafka transaction as its effect.",
    "properties": {
        "v": {"const": 1},
        "action": {"type": "string", "enum": ["reprocess"]},
        "at": {"type": "string", "format": "date-time"},
        "actor": {
            "type": "object",
            "properties": {
                "token_id": {"type": "integer"},
                "name": {"type": "string"},
                "role": {"type": "string"},
            },
            "required": ["token_id", "name", "role"],
        },
        "target": {"type": "string", "description": "edoc.rejected/<partition>/<offset>"},
        "message_id": {"type": ["string", "null"]},
        "package_sha256": {"type": ["string", "null"]},
        "reasons": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["v", "action", "at", "actor", "target"],
}


def _message(name: str, title: str, payload: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = {"name": name, "title": title, "contentType": "application/json", "payload": payload}
    return body | extra


def build_asyncapi(settings: Settings) -> dict[str, Any]:
    """The AsyncAPI document for a hub configured by ``settings``."""
    _, defs = models_json_schema(
        [
            (Package, "validation"),
            (Header, "validation"),
            (VerdictEvent, "serialization"),
            (Agency, "validation"),
        ],
        ref_template=_REF,
    )
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    schemas["OperatorAction"] = _OPERATOR_ACTION

    def ref(model: str) -> dict[str, str]:
        return {"$ref": _REF.format(model=model)}

    messages = {
        "SubmittedPackage": _message(
            "SubmittedPackage",
            "A signed package (docs/wire-format.md); key: the sender's agency code",
            ref("Package"),
            headers=_string_headers({}, _PACKAGE_HEADERS),
        ),
        "DeliveredPackage": _message(
            "DeliveredPackage",
            "An accepted package, the original bytes unchanged, or a hub-signed receipt "
            "(kind status, status 01/02, sender = the hub)",
            ref("Package"),
            headers=_string_headers(
                _ROUTER_HEADERS,
                _PACKAGE_HEADERS
                | {
                    wire.H_STATUS: "receipts: the status code",
                    wire.H_REF_MESSAGE_ID: "receipts: the document they answer",
                },
            ),
        ),
        "VerdictEvent": _message(
            "VerdictEvent",
            "Exactly one decision per submitted record",
            ref("VerdictEvent"),
            headers=_string_headers(_ROUTER_HEADERS, _PACKAGE_HEADERS),
        ),
        "RejectedPackage": _message(
            "RejectedPackage",
            "A refused package, the original bytes unchanged, reasons in the headers",
            {"description": "the submitted bytes, whatever they were (often a Package)"},
            headers=_string_headers(
                _ROUTER_HEADERS | {wire.H_REASONS: "reason codes, comma-separated"},
                _PACKAGE_HEADERS,
            ),
        ),
        "Checkpoint": {
            "name": "Checkpoint",
            "title": "A signed checkpoint of the signature log (docs/signature-log.md)",
            "contentType": "text/plain",
            "payload": {"type": "string", "description": "signed note: origin, size, root"},
        },
        "DirectoryEntry": _message(
            "DirectoryEntry", "An agency directory entry; key: the agency code", ref("Agency")
        ),
        "OperatorAction": _message(
            "OperatorAction", "Who did what in the console", ref("OperatorAction")
        ),
        "ParkedRecord": _message(
            "ParkedRecord",
            "A record a service could not process: the original key and value (absent when "
            "too large to park; then read it at its source offset), why and where from in "
            "the headers (docs/security.md)",
            {"description": "the original record's value, whatever it was"},
            headers=_string_headers(
                {
                    wire.H_DLQ_SERVICE: "the service that parked it (audit, coverage, lifecycle)",
                    wire.H_DLQ_ERROR: "the error, one line, at most 1000 characters",
                    wire.H_DLQ_TOPIC: "the topic it was read from",
                    wire.H_DLQ_PARTITION: "its partition there",
                    wire.H_DLQ_OFFSET: "its offset there",
                    wire.H_DLQ_PARKED_AT: "when it was parked (ISO 8601, UTC)",
                },
                {},
            ),
        ),
    }
    retention = f"{settings.retention_days} days"

    def channel(address: str, description: str, *names: str, **extra: Any) -> dict[str, Any]:
        msgs = {n: {"$ref": f"#/components/messages/{n}"} for n in names}
        return {"address": address, "description": description, "messages": msgs} | extra

    channels = {
        "submit": channel(
            wire.SUBMIT,
            f"Agencies submit packages; broker receive time (LogAppendTime); {retention}",
            "SubmittedPackage",
        ),
        "inbox": channel(
            "edoc.inbox.{agency}",
            f"One agency's inbox, one partition, written only by the router; {retention}",
            "DeliveredPackage",
            parameters={"agency": {"description": "agency code, e.g. 000.00.01.H49"}},
        ),
        "events": channel(wire.EVENTS, f"Verdicts; {retention}", "VerdictEvent"),
        "rejected": channel(wire.REJECTED, f"Refused originals; {retention}", "RejectedPackage"),
        "checkpoints": channel(
            wire.CHECKPOINTS, "Signed checkpoints, kept forever", "Checkpoint"
        ),
        "directory": channel(
            wire.DIRECTORY, "Agency directory updates (compacted)", "DirectoryEntry"
        ),
        "operations": channel(
            wire.OPERATIONS, "Operator actions, kept forever", "OperatorAction"
        ),
        "deadletter": channel(
            wire.DEADLETTER,
            "Records a service could not process, kept forever until replayed",
            "ParkedRecord",
        ),
    }

    def op(action: str, ch: str, summary: str) -> dict[str, Any]:
        return {"action": action, "channel": {"$ref": f"#/channels/{ch}"}, "summary": summary}

    operations = {
        "consumeSubmissions": op("receive", "submit", "The router verifies every package"),
        "deliverToInbox": op("send", "inbox", "Accepted packages and receipts, exactly once"),
        "publishVerdicts": op("send", "events", "One verdict per package (transactional)"),
        "keepRejected": op("send", "rejected", "Refused originals with reasons"),
        "publishCheckpoints": op("send", "checkpoints", "The audit recorder signs checkpoints"),
        "followDirectory": op("receive", "directory", "Router and coverage follow the directory"),
        "recordOperatorActions": op("send", "operations", "The console records who did what"),
        "parkRecords": op(
            "send",
            "deadletter",
            "Audit recorder, coverage and lifecycle park what they cannot process",
        ),
        "consumeVerdicts": op(
            "receive", "events", "Audit recorder, coverage, lifecycle and console monitor"
        ),
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "edoc-hub Kafka topics",
            "version": "1",
            "description": "Signed official e-documents between state agencies over Kafka. "
            "Every record is read with isolation.level=read_committed; the router writes "
            "inboxes, verdicts and rejections in one transaction per batch.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "hub": {
                "host": settings.kafka_bootstrap.split(",")[0],
                "protocol": "kafka",
                "description": "EDOC_KAFKA_BOOTSTRAP of this hub",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }
