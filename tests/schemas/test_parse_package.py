"""parse_package, the one edge for untrusted bytes: what it accepts and exactly what it refuses.

Signatures are not checked here (that is the verifier's job), so the packages
carry a placeholder signature entry; every case differs from ``_header()`` /
``_package()`` by the one thing under test.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from schemas.errors import MalformedPackageError
from schemas.package import b64url_encode, parse_package

PDF = b"%PDF-1.4\n% parse tests\n%%EOF\n"
MESSAGE_ID = "4c8c25d7-e5d6-43b8-965b-187784c8c277"


def _header(**changes: Any) -> dict[str, Any]:
    header: dict[str, Any] = {
        "v": 1,
        "message_id": MESSAGE_ID,
        "kind": "document",
        "from": "000.00.01.H49",
        "to": ["000.00.02.H49"],
        "sent_at": "2026-12-02T08:30:00+07:00",
        "document": {
            "code": {"number": "7", "notation": "SNV-VP"},
            "promulgation": {"place": "Bắc Giang", "date": "2026-12-02"},
            "document_type": "Công văn",
            "subject": "Về việc thử nghiệm",
            "signer": {"full_name": "Lê Văn C"},
            "priority": 1,
            "business": {"doc_type": 0, "paper": False},
            "classification": "public",
        },
        "attachments": [
            {
                "id": "a1",
                "name": "cv.pdf",
                "media_type": "application/pdf",
                "size": len(PDF),
                "sha256": hashlib.sha256(PDF).hexdigest(),
            }
        ],
    }
    header.update(changes)
    return header


def _document(**changes: Any) -> dict[str, Any]:
    return {**_header()["document"], **changes}


def _package(hdr: bytes | dict[str, Any] | None = None, **changes: Any) -> bytes:
    """A package of ``hdr`` (a dict, or the exact bytes); ``changes`` replace envelope members."""
    if not isinstance(hdr, bytes):
        hdr = json.dumps(hdr or _header(), ensure_ascii=False).encode()
    pkg: dict[str, Any] = {
        "v": 1,
        "header": b64url_encode(hdr),
        "signatures": [{"profile": "jws", "value": "x..y"}],
        "attachments": [{"id": "a1", "content": base64.b64encode(PDF).decode()}],
    }
    pkg.update(changes)
    return json.dumps(pkg).encode()


def _malformed(raw: bytes, match: str) -> None:
    with pytest.raises(MalformedPackageError, match=match):
        parse_package(raw)


def test_valid_package_parses() -> None:
    parsed = parse_package(_package())
    assert str(parsed.header.message_id) == MESSAGE_ID
    assert parsed.attachments == {"a1": PDF}
    assert parsed.header.document is not None
    assert parsed.header.document.priority == 1


# -- base64 ------------------------------------------------------------------------


def _odd_header() -> bytes:
    """Header bytes whose base64 ends in a partial group (one byte: two '=' of padding)."""
    header = json.dumps(_header()).encode()
    return header + b" " * ((1 - len(header)) % 3)  # trailing whitespace is still JSON


def test_header_base64url_padding_is_optional_but_exact() -> None:
    header = _odd_header()
    unpadded = b64url_encode(header)
    padded = base64.urlsafe_b64encode(header).decode()
    assert padded.endswith("==")
    assert parse_package(_package(header=unpadded)).header_bytes == header
    assert parse_package(_package(header=padded)).header_bytes == header
    _malformed(_package(header=padded + "=="), "header: not base64url: .*padding")
    _malformed(_package(header=unpadded + "="), "header: not base64url: .*padding")


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (lambda t: t[:10] + "+" + t[11:], "'\\+' from the standard alphabet"),
        (lambda t: t[:10] + "/" + t[11:], "'/' from the standard alphabet"),
        (lambda t: t[:10] + "\n" + t[10:], "a line break"),
        (lambda t: t[:10] + " " + t[10:], "a space"),
        (lambda t: t + "\t", "a trailing tab"),
        (lambda t: t[:10] + "é" + t[11:], "a non-ASCII letter"),
    ],
)
def test_header_outside_the_base64url_alphabet_is_malformed(edit: Any, why: str) -> None:
    text = b64url_encode(json.dumps(_header()).encode())
    _malformed(_package(header=edit(text)), "header: not base64url")


def test_header_with_stray_bits_is_malformed() -> None:
    """The last character carries bits past the data: a second spelling of the same bytes."""
    text = b64url_encode(_odd_header())
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".index(text[-1])
    twin = text[:-1] + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last + 1]
    assert base64.urlsafe_b64decode(twin + "==") == base64.urlsafe_b64decode(text + "==")
    _malformed(_package(header=twin), "stray bits")


@pytest.mark.parametrize(
    "content",
    [
        base64.urlsafe_b64encode(b"\xfb\xff\xfe").decode(),  # '-' and '_': the url alphabet
        base64.b64encode(PDF).decode().rstrip("="),  # padding missing
        "QUJ=",  # "AB" with a stray bit ("QUI=" is canonical)
        "QUJD\n",
    ],
)
def test_attachment_content_must_be_canonical_standard_base64(content: str) -> None:
    raw = _package(attachments=[{"id": "a1", "content": content}])
    _malformed(raw, "content is not base64")


def test_duplicate_attachment_ids_are_malformed() -> None:
    content = base64.b64encode(PDF).decode()
    raw = _package(attachments=[{"id": "a1", "content": content}] * 2)
    _malformed(raw, "attachment id 'a1' appears twice")


# -- duplicate members ---------------------------------------------------------------


def test_duplicate_member_in_the_signed_header_is_malformed() -> None:
    """Last copy wins in pydantic, first copy in other readers: the hub judged 'public'."""
    text = json.dumps(_header(), ensure_ascii=False)
    assert '"classification": "public"' in text
    twice = text.replace(
        '"classification": "public"', '"classification": "secret", "classification": "public"'
    )
    _malformed(_package(twice.encode()), "header: member 'classification' appears twice")


def test_duplicate_member_spelled_with_an_escape_is_malformed() -> None:
    text = json.dumps(_header(), ensure_ascii=False)
    twice = text.replace('"from": ', '"\\u0066rom": "000.00.09.H49", "from": ')
    _malformed(_package(twice.encode()), "member 'from' appears twice")


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ('{"v": 1, "header": ', '{"v": 1, "header": "eyJ9", "header": '),
        ('{"v": 1, ', '{"v": 2, "v": 1, '),
        ('"signatures": [{"profile": "jws"', '"signatures": [{"profile": "cms", "profile": "jws"'),
        ('"attachments": [{"id": "a1"', '"attachments": [{"id": "a0", "id": "a1"'),
    ],
    ids=["header", "v", "signature-profile", "attachment-id"],
)
def test_duplicate_member_in_the_package_is_malformed(before: str, after: str) -> None:
    raw = _package().decode()
    assert before in raw
    _malformed(raw.replace(before, after, 1).encode(), "package: member .* appears twice")


def test_the_same_name_in_different_objects_is_fine() -> None:
    # "id" in every attachment, "code" at two levels: names repeat across objects.
    header = _header(document=_document(response_for=[{"code": {"number": "1", "notation": "QĐ"}}]))
    assert parse_package(_package(header)).header.document is not None


# -- strict types --------------------------------------------------------------------


@pytest.mark.parametrize("value", [True, 1.0, "1"])
def test_package_version_must_be_the_integer_1(value: object) -> None:
    _malformed(_package(v=value), "package: v")


@pytest.mark.parametrize(
    ("header", "where"),
    [
        (_header(v=True), "header.v"),
        (_header(v=1.0), "header.v"),
        (_header(document=_document(priority=True)), "priority"),
        (_header(document=_document(priority=1.0)), "priority"),
        (_header(document=_document(priority="1")), "priority"),
        (_header(document=_document(steering_type=False)), "steering_type"),
        (_header(document=_document(business={"doc_type": True})), "doc_type"),
        (_header(document=_document(business={"doc_type": 1.0})), "doc_type"),
        (_header(document=_document(business={"doc_type": "1"})), "doc_type"),
        (_header(document=_document(business={"paper": 1})), "paper"),
        (_header(document=_document(business={"paper": "true"})), "paper"),
        (_header(attachments=[{**_header()["attachments"][0], "size": float(len(PDF))}]), "size"),
        (_header(attachments=[{**_header()["attachments"][0], "size": str(len(PDF))}]), "size"),
        (_header(attachments=[{**_header()["attachments"][0], "size": 2**53}]), "size"),
        (_header(sent_at=1764646200), "sent_at"),  # a Unix time is not RFC 3339
    ],
)
def test_header_scalars_are_read_strictly(header: dict[str, Any], where: str) -> None:
    _malformed(_package(header), where)


def _register(**changes: Any) -> dict[str, Any]:
    header = _header(kind="register", register={"period": "2026-11", "paper_sent": 3, **changes})
    del header["document"]
    return header


def test_register_report_parses() -> None:
    parsed = parse_package(_package(_register(scanned_pct=97, officials_pct=88.5)))
    assert parsed.header.register_ is not None
    assert parsed.header.register_.scanned_pct == 97.0


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"paper_sent": True}, "paper_sent"),
        ({"paper_sent": 3.0}, "paper_sent"),
        ({"secret_sent": 2**60}, "secret_sent"),
        ({"scanned_pct": "97"}, "scanned_pct"),
        ({"scanned_pct": True}, "scanned_pct"),
    ],
)
def test_register_numbers_are_read_strictly(changes: dict[str, Any], where: str) -> None:
    _malformed(_package(_register(**changes)), where)


def test_nan_is_not_a_number_of_the_wire() -> None:
    text = json.dumps(_register(scanned_pct=1.5)).replace("1.5", "NaN")
    _malformed(_package(text.encode()), "scanned_pct")


@pytest.mark.parametrize(
    "spelling",
    [
        "4c8c25d7e5d643b8965b187784c8c277",
        "{4c8c25d7-e5d6-43b8-965b-187784c8c277}",
        "urn:uuid:4c8c25d7-e5d6-43b8-965b-187784c8c277",
    ],
)
def test_message_id_has_one_spelling(spelling: str) -> None:
    _malformed(_package(_header(message_id=spelling)), "message_id")
    assert parse_package(_package(_header(message_id=MESSAGE_ID.upper())))


# -- times and dates -----------------------------------------------------------------


@pytest.mark.parametrize(
    "sent_at",
    [
        "0001-01-01T00:00:00+01:00",  # year 0 in UTC: astimezone overflowed
        "9999-12-31T23:59:59-00:01",  # year 10000 in UTC
        "9999-12-31T23:58:00Z",  # at + clock skew overflowed
        "1999-12-31T23:59:59Z",
        "2000-01-01T06:59:59+07:00",  # 1999 in UTC
        "2200-01-01T00:00:00Z",
        "2026-12-02T08:30:00",  # no offset
    ],
)
def test_sent_at_out_of_range_is_malformed(sent_at: str) -> None:
    _malformed(_package(_header(sent_at=sent_at)), "sent_at")


@pytest.mark.parametrize(
    "sent_at", ["2000-01-01T00:00:00Z", "2200-01-01T06:59:59+07:00", "2199-12-31T23:59:59Z"]
)
def test_sent_at_range_edges_inside(sent_at: str) -> None:
    assert parse_package(_package(_header(sent_at=sent_at))).header.sent_at


@pytest.mark.parametrize(
    ("document", "where"),
    [
        (_document(promulgation={"place": "Bắc Giang", "date": "1899-12-31"}), "date"),
        (_document(promulgation={"place": "Bắc Giang", "date": "2200-01-01"}), "date"),
        (_document(due_date="9999-12-31"), "due_date"),
        (_document(response_for=[{"promulgation_date": "0001-01-01"}]), "promulgation_date"),
        (_document(due_date="2026-12-02T00:00:00"), "due_date"),
    ],
)
def test_dates_out_of_range_are_malformed(document: dict[str, Any], where: str) -> None:
    _malformed(_package(_header(document=document)), where)


def test_an_old_document_can_be_referenced() -> None:
    old = _document(response_for=[{"promulgation_date": "1900-01-01"}], due_date="2199-12-31")
    assert parse_package(_package(_header(document=old))).header.document is not None


@pytest.mark.parametrize("period", ["9999", "1999-12", "2200-Q1", "٢٠٢٦-11", "２０２６"])
def test_register_period_out_of_range_or_not_ascii_is_malformed(period: str) -> None:
    _malformed(_package(_register(period=period)), "period")


# -- agency codes --------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "٠٠٠.٠٠.٠١.H٤٩",  # Arabic-Indic digits
        "０００.００.０１.H４９",  # full-width digits
        "000.00.01.H4٩",
        "000.00.01.H49\n",
    ],
)
def test_agency_codes_take_ascii_digits_only(code: str) -> None:
    _malformed(_package(_header(**{"from": code})), "from")
    _malformed(_package(_header(to=[code])), "to")
