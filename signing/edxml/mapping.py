"""edXML → header: the canonical mapping the ``xmldsig`` profile holds every package to.

An edXML package's JSON header is *derived*: the adapter computes it from the
signed edXML, and the ``xmldsig`` profile recomputes it from what the signature
covers and requires the package's header bytes to be exactly these bytes. So
the header can never say something the agency's signed XML does not.

The rules (the table is in docs/edxml.md) are frozen as mapping version 1:
changing them would make logged entries stop verifying, so a new rule set
needs a new profile name. The output is built by hand, not by pydantic, so the
bytes depend only on this module and Python's ``json``:

* UTF-8, no whitespace, non-ASCII characters as themselves;
* keys in ``Header`` declaration order, every field written (defaults too),
  ``due_date`` and the ``response_for`` members only when present;
* dates ``YYYY-MM-DD``; ``sent_at`` as ``datetime.isoformat()`` — edXML
  times without an offset are Vietnamese time, ``+07:00``.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from pydantic import ValidationError

from schemas.errors import describe_validation_error
from schemas.header import Header, StatusCode
from signing.edxml.errors import EdxmlContentError
from signing.edxml.model import EDXML_NS, EdxmlAttachment, EdxmlDocument, Node

#: Version of the rules below (see the module docstring before changing anything).
MAPPING_VERSION = 1
#: Namespace of the UUIDs derived from edXML DocumentIds (uuid5 of the edXML namespace URL).
EDXML_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, EDXML_NS)
#: edXML times carry no offset; agencies write Vietnamese local time (no DST).
VIETNAM = timezone(timedelta(hours=7))
#: edXML priorities run 0–4 (4: "hỏa tốc hẹn giờ"); the header's scale stops at 3.
MAX_PRIORITY = 3

# [0-9], not \d: \d also takes Arabic-Indic and full-width digits.
_ATTACHMENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_YMD = re.compile(r"^([0-9]{4})[/-]([0-9]{1,2})[/-]([0-9]{1,2})")
_DMY = re.compile(r"^([0-9]{1,2})[/-]([0-9]{1,2})[/-]([0-9]{4})")
_TIME = re.compile(
    r"^[ T]([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]{1,6})[0-9]*)?)?"
    r"\s*(Z|[+-][0-9]{2}:?[0-9]{2})?$"
)


def _fail(message: str) -> EdxmlContentError:
    return EdxmlContentError(message)


def _split_date(text: str, where: str) -> tuple[date, str]:
    m = _YMD.match(text)
    if m:
        y, mo, d = m.groups()
    else:
        m = _DMY.match(text)
        if not m:
            raise _fail(f"{where}: {text!r} is not a date (YYYY/MM/DD, YYYY-MM-DD or DD/MM/YYYY)")
        d, mo, y = m.groups()
    try:
        return date(int(y), int(mo), int(d)), text[m.end() :]
    except ValueError as exc:
        raise _fail(f"{where}: {text!r} is not a valid date: {exc}") from None


def parse_date(text: str, where: str) -> date:
    """A liberal edXML date; a time of day after it is allowed and ignored."""
    day, rest = _split_date(text, where)
    if rest and not _TIME.match(rest):
        raise _fail(f"{where}: {text!r} has trailing text after the date")
    return day


def parse_timestamp(text: str, where: str) -> datetime:
    """A liberal edXML date-time; without an offset it is Vietnamese time (+07:00)."""
    day, rest = _split_date(text, where)
    m = _TIME.match(rest)
    if not m:
        raise _fail(f"{where}: {text!r} is not a date and time (YYYY/MM/DD HH:MM:SS)")
    hh, mm, ss, frac, offset = m.groups()
    tz = VIETNAM
    if offset == "Z":
        tz = UTC
    elif offset:
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        return datetime(
            day.year, day.month, day.day, int(hh), int(mm), int(ss or 0),
            int((frac or "0").ljust(6, "0")), tzinfo=tz,
        )  # fmt: skip
    except ValueError as exc:
        raise _fail(f"{where}: {text!r} is not a valid time: {exc}") from None


def _int(text: str, where: str, default: int = 0) -> int:
    if not text:
        return default
    if not text.isdigit():
        raise _fail(f"{where}: {text!r} is not a non-negative integer")
    return int(text)


def _flag(text: str, where: str) -> bool:
    value = text.lower()
    if value in ("", "0", "false"):
        return False
    if value in ("1", "true"):
        return True
    raise _fail(f"{where}: {text!r} is not 0 or 1")


def _required(node: Node, *path: str) -> str:
    value = node.text_at(*path)
    if not value:
        raise _fail(f"{node.name}/{'/'.join(path)} is missing or empty")
    return value


def document_uuid(document_id: str, business_type: int = 0) -> uuid.UUID:
    """The message id of an edXML document.

    A DocumentId that is itself a UUID (edXML written by this hub) is used as
    is. Otherwise uuid5 over the DocumentId — with ``#bussiness=N`` appended
    for revoke/update/replace, which re-use the document's DocumentId.
    """
    try:
        return uuid.UUID(document_id)
    except ValueError:
        pass
    name = document_id if business_type == 0 else f"{document_id}#bussiness={business_type}"
    return uuid.uuid5(EDXML_UUID_NAMESPACE, name)


def _code_pair(node: Node) -> tuple[str, str] | None:
    """``Code`` as (number, notation): children, or the text ``number/notation``."""
    if node.children:
        number, notation = node.text_at("CodeNumber"), node.text_at("CodeNotation")
    else:
        number, _, notation = node.text.partition("/")
    number, notation = number.strip(), notation.strip()
    return (number, notation) if number and notation else None


def _organ_id(node: Node | None) -> str:
    return node.text_at("OrganId") if node is not None else ""


def _document_id(h: Node) -> str:
    """``DocumentId``, or the standard form ``OrganId,YYYY/MM/DD,number/notation``."""
    given = h.text_at("DocumentId")
    if given:
        return given
    day = parse_date(_required(h, "PromulgationInfo", "PromulgationDate"), "PromulgationDate")
    return (
        f"{_required(h, 'From', 'OrganId')},{day:%Y/%m/%d},"
        f"{_required(h, 'Code', 'CodeNumber')}/{_required(h, 'Code', 'CodeNotation')}"
    )


def _ref_document_id(rf: Node) -> str:
    given = rf.text_at("DocumentId")
    if given or not rf.text_at("OrganId"):
        return given
    day = rf.text_at("PromulgationDate")
    day_text = f"{parse_date(day, 'ResponseFor/PromulgationDate'):%Y/%m/%d}" if day else ""
    code = _code_pair(rf.child("Code") or Node("Code"))
    return f"{rf.text_at('OrganId')},{day_text},{'/'.join(code) if code else ''}"


def _response_for(rf: Node) -> dict[str, Any]:
    out: dict[str, Any] = {}
    doc_id = rf.text_at("DocumentId")
    if doc_id:
        out["message_id"] = str(document_uuid(doc_id))
    code = _code_pair(rf.child("Code") or Node("Code"))
    if code:
        out["code"] = {"number": code[0], "notation": code[1]}
    day = rf.text_at("PromulgationDate")
    if day:
        out["promulgation_date"] = parse_date(day, "ResponseFor/PromulgationDate").isoformat()
    if rf.text_at("OrganId"):
        out["from"] = rf.text_at("OrganId")
    return out


def _sent_at(doc: EdxmlDocument, sender: str) -> datetime:
    """The sender's ``TraceHeader/Timestamp`` (documents) or ``Timestamp`` (statuses)."""
    if doc.is_status:
        return parse_timestamp(_required(doc.header, "Timestamp"), "Timestamp")
    traces = doc.trace.all("TraceHeader") if doc.trace is not None else []
    own = [t for t in traces if t.text_at("OrganId") == sender]
    if not own:
        raise _fail(
            f"TraceHeaderList has no TraceHeader of the sender {sender}: the send time is unknown"
        )
    return parse_timestamp(_required(own[0], "Timestamp"), "TraceHeader/Timestamp")


def _attachment_refs(attachments: tuple[EdxmlAttachment, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, att in enumerate(attachments, start=1):
        cid = att.content_id.removeprefix("cid:").strip("<>")
        att_id = cid if _ATTACHMENT_ID.match(cid) and cid not in seen else f"a{i}"
        if att_id in seen:
            raise _fail(f"AttachmentEncoded/Attachment[{i}]: attachment id {att_id!r} is taken")
        seen.add(att_id)
        out.append(
            {
                "id": att_id,
                "name": att.name or att.description or att_id,
                "media_type": att.content_type or "application/octet-stream",
                "size": len(att.data),
                "sha256": hashlib.sha256(att.data).hexdigest(),
            }
        )
    return out


def attachment_ids(doc: EdxmlDocument) -> list[str]:
    """The header ids of the document's attachments, in order."""
    return [ref["id"] for ref in _attachment_refs(doc.attachments)]


def _document(doc: EdxmlDocument) -> dict[str, Any]:
    h = doc.header
    bussiness = doc.trace.child("Bussiness") if doc.trace is not None else None
    b = bussiness or Node("Bussiness")
    doc_type = h.text_at("DocumentType", "TypeName") or h.text_at("DocumentType", "Type")
    if not doc_type and not h.has("DocumentType", "TypeName"):
        doc_type = h.text_at("DocumentType")  # some systems write the name as plain text
    body: dict[str, Any] = {
        "code": {
            "number": _required(h, "Code", "CodeNumber"),
            "notation": _required(h, "Code", "CodeNotation"),
        },
        "promulgation": {
            "place": _required(h, "PromulgationInfo", "Place"),
            "date": parse_date(
                _required(h, "PromulgationInfo", "PromulgationDate"), "PromulgationDate"
            ).isoformat(),
        },
        "document_type": doc_type,
        "subject": _required(h, "Subject"),
        "content": h.text_at("Content"),
        "signer": {
            "full_name": _required(h, "SignerInfo", "FullName"),
            "position": h.text_at("SignerInfo", "Position"),
            "competence": h.text_at("SignerInfo", "Competence"),
        },
        "priority": min(_int(h.text_at("OtherInfo", "Priority"), "Priority"), MAX_PRIORITY),
    }
    if h.text_at("DueDate"):
        body["due_date"] = parse_date(h.text_at("DueDate"), "DueDate").isoformat()
    places = h.child("ToPlaces")
    body |= {
        "steering_type": _int(h.text_at("SteeringType"), "SteeringType"),
        "to_places": [p.text for p in places.all("Place") if p.text] if places else [],
        "business": {
            "doc_type": _int(b.text_at("BussinessDocType"), "BussinessDocType"),
            "reason": b.text_at("BussinessDocReason"),
            "paper": _flag(b.text_at("Paper"), "Paper"),
        },
        "response_for": [_response_for(rf) for rf in h.all("ResponseFor")],
        "classification": "public",
    }
    return body


def header_dict(doc: EdxmlDocument) -> dict[str, Any]:
    """The header as an ordered dict, before serialisation (raises ``EdxmlContentError``)."""
    h = doc.header
    sender = _required(h, "From", "OrganId")
    sent_at = _sent_at(doc, sender)
    if doc.is_status:
        rf = h.child("ResponseFor")
        if rf is None or not rf.text_at("OrganId"):
            raise _fail(f"{h.name}/ResponseFor/OrganId is missing: the status has no recipient")
        ref_doc = _ref_document_id(rf)
        code = _required(h, "StatusCode")
        code = code.zfill(2) if code.isdigit() else code
        if code not in {c.value for c in StatusCode}:
            raise _fail(f"StatusCode {code!r} is not an edXML status code (01–06, 13, 15, 16)")
        ref_id = document_uuid(ref_doc)
        # From the referenced id (not the DocumentId text), so edXML regenerated
        # from this header (DocumentId = that id) maps back to the same message id.
        name = f"status:{ref_id}:{sender}:{code}:{sent_at.isoformat()}"
        head: dict[str, Any] = {
            "v": 1,
            "message_id": str(uuid.uuid5(EDXML_UUID_NAMESPACE, name)),
            "kind": "status",
            "from": sender,
            "to": [rf.text_at("OrganId")],
            "sent_at": sent_at.isoformat(),
            "status": {
                "code": code,
                "ref_message_id": str(ref_id),
                "description": h.text_at("Description"),
                "reasons": [],
                "staff": h.text_at("StaffInfo", "Staff"),
            },
        }
    else:
        body = _document(doc)
        head = {
            "v": 1,
            "message_id": str(document_uuid(_document_id(h), body["business"]["doc_type"])),
            "kind": "document",
            "from": sender,
            "to": [_organ_id(t) for t in h.all("To")],
            "sent_at": sent_at.isoformat(),
            "document": body,
        }
    head["attachments"] = _attachment_refs(doc.attachments)
    return head


def canonical_header_bytes(doc: EdxmlDocument) -> bytes:
    """The exact header bytes an edXML package must carry (raises ``EdxmlContentError``)."""
    data = json.dumps(header_dict(doc), ensure_ascii=False, separators=(",", ":")).encode()
    try:
        Header.model_validate_json(data)
    except ValidationError as exc:
        raise _fail(f"edXML maps to an invalid header: {describe_validation_error(exc)}") from None
    return data


def derive_header(doc: EdxmlDocument) -> tuple[Header, bytes]:
    """The header model and its canonical bytes."""
    data = canonical_header_bytes(doc)
    return Header.model_validate_json(data), data
