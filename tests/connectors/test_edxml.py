"""The edXML adapter: fidelity both ways, refusals, and the drop folder over a real broker.

Fidelity has three levels, each tested here:

1. edXML → package → edXML returns the agency's signed bytes, byte for byte;
2. parse → emit → parse keeps every element of the message header, the trace
   list and the manifest (also the ones the header does not map), and every
   attachment;
3. header → edXML → header keeps every field edXML can express (the rest is
   listed in docs/edxml.md and asserted below).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from connectors.agency import AgencyClient
from connectors.edxml import EdxmlAdapter
from connectors.errors import ConnectorError
from connectors.folder import FolderAdapter
from hub.router.service import RouterService
from schemas.header import (
    Business,
    BusinessDocType,
    DocSigner,
    DocumentCode,
    DocumentMeta,
    DocumentRef,
    Header,
    Kind,
    Promulgation,
    RegisterInfo,
    StatusCode,
    StatusInfo,
)
from schemas.package import parse_package
from signing.edxml import (
    EdxmlContentError,
    EdxmlSyntaxError,
    EdxmlUnsignedContentError,
    derive_header,
    edxml_from_header,
    emit_edxml,
    parse_edxml,
)
from signing.edxml.model import EdxmlDocument, Node
from signing.edxml.parse import is_signature, local_name
from signing.pki import DemoPKI
from signing.signer import Signer, attachment_ref
from signing.verifier import Verifier
from tests.conftest import PDF, A, B, C, PackageFactory
from tests.hub.router.test_kafka import read_topic, router_settings, running_router

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "edxml"
SAMPLES = VECTORS / "samples"
VIETNAM = timezone(timedelta(hours=7))
#: The agencies of the committed samples, and which test agency stands in for each.
SAMPLE_CODES = {"000.00.14.H49": A, "000.00.15.H49": B, "000.00.16.H49": C}


def sample(name: str, *, when: datetime | None = None, doc_number: str = "166") -> bytes:
    """A committed sample with the test PKI's agencies, a fresh time and a DocumentId of our own."""
    data = (SAMPLES / f"{name}.edxml").read_bytes()
    for old, new in SAMPLE_CODES.items():
        data = data.replace(old.encode(), new.encode())
    local = (when or datetime.now(UTC)).astimezone(VIETNAM)
    data = data.replace(b"2025/06/01 17:00:00", f"{local:%Y/%m/%d %H:%M:%S}".encode())
    data = data.replace(b"01/06/2025 17:00:00", f"{local:%d/%m/%Y %H:%M:%S}".encode())
    return data.replace(b",2025/06/01,166/", f",2025/06/01,{doc_number}/".encode())


def signer(pki: DemoPKI, code: str) -> Signer:
    issued = pki.agency(code)
    return Signer.from_files(issued.key, issued.chain)


# -- level 2: every element survives parse → emit → parse ----------------------------------------


def _fields_lxml(data: bytes) -> Counter[tuple[str, str]]:
    """(path of local names, trimmed text) of each leaf outside Signature, and each attribute."""
    out: Counter[tuple[str, str]] = Counter()
    root = etree.fromstring(data)

    def walk(el: Any, path: str) -> None:
        if not isinstance(el.tag, str) or is_signature(el):
            return
        here = f"{path}/{local_name(el)}"
        kids = [c for c in el if isinstance(c.tag, str) and not is_signature(c)]
        if not kids:
            out[(here, "".join(el.itertext()).strip())] += 1
        for k, v in el.attrib.items():
            out[(f"{here}@{k}", v)] += 1
        for c in kids:
            walk(c, here)

    walk(root, "")
    return out


def _fields_model(doc: EdxmlDocument) -> Counter[tuple[str, str]]:
    out: Counter[tuple[str, str]] = Counter()

    def walk(node: Node, path: str) -> None:
        here = f"{path}/{node.name}"
        if not node.children:
            out[(here, node.text)] += 1
        for k, v in node.attrs:
            out[(f"{here}@{k}", v)] += 1
        for c in node.children:
            walk(c, here)

    for node in (doc.header, doc.trace, doc.manifest, *doc.header_extras):
        if node is not None:
            walk(node, "")
    return out


def _strip_prefix(fields: Counter[tuple[str, str]], roots: tuple[str, ...]) -> Counter[Any]:
    """Paths from the header / trace / manifest element down (the model starts there)."""
    out: Counter[tuple[str, str]] = Counter()
    for (where, text), n in fields.items():
        path, at, attr = where.partition("@")
        parts = path.split("/")
        for i, part in enumerate(parts):
            if part in roots:
                out[("/" + "/".join(parts[i:]) + at + attr, text)] += n
                break
    return out


@pytest.mark.parametrize("name", ["document", "status", "status-variant"])
def test_every_element_survives_parse_emit_parse(name: str) -> None:
    data = (SAMPLES / f"{name}.edxml").read_bytes()
    doc = parse_edxml(data)
    roots = ("MessageHeader", "Status", "TraceHeaderList", "edXMLManifest")
    assert _fields_model(doc) == _strip_prefix(_fields_lxml(data), roots)
    emitted = emit_edxml(doc)
    assert parse_edxml(emitted) == doc
    assert _strip_prefix(_fields_lxml(emitted), roots) == _fields_model(doc)
    assert emit_edxml(parse_edxml(emitted)) == emitted, "the strict layout is a fixed point"


def test_rich_sample_covers_every_message_header_element() -> None:
    """The sample has every MessageHeader element of QCVN 102, TraceHeaderList and Bussiness."""
    doc = parse_edxml((SAMPLES / "document.edxml").read_bytes())
    names = {n.name for n in doc.header.walk()}
    assert {
        "From", "To", "OrganId", "OrganizationInCharge", "OrganName", "OrganAdd", "Email",
        "Telephone", "Fax", "Website", "DocumentId", "Code", "CodeNumber", "CodeNotation",
        "PromulgationInfo", "Place", "PromulgationDate", "DocumentType", "Type", "TypeDetail",
        "TypeName", "Subject", "Content", "SignerInfo", "Competence", "Position", "FullName",
        "DueDate", "ToPlaces", "OtherInfo", "Priority", "SphereOfPromulgation", "TyperNotation",
        "PromulgationAmount", "PageAmount", "Appendixes", "Appendix", "ResponseFor",
        "SteeringType",
    } <= names  # fmt: skip
    assert doc.trace is not None
    trace = {n.name for n in doc.trace.walk()}
    assert {
        "TraceHeader", "Timestamp", "Bussiness", "BussinessDocType", "BussinessDocReason",
        "BussinessDocumentInfo", "ReceiverList", "StaffInfo", "Paper", "ReplacementInfoList",
    } <= trace  # fmt: skip
    assert [a.name for a in doc.attachments] == ["quyet-dinh-166.pdf", "phu-luc.zip"]
    assert doc.attachments[0].data.startswith(b"%PDF-1.4")


def test_rich_sample_maps_to_every_header_field() -> None:
    header, _ = derive_header(parse_edxml((SAMPLES / "document.edxml").read_bytes()))
    assert header.sender == "000.00.14.H49" and header.to == ["000.00.15.H49", "000.00.16.H49"]
    assert header.sent_at == datetime(2025, 6, 1, 10, tzinfo=UTC)
    doc = header.document
    assert doc is not None
    assert (doc.code.number, doc.code.notation) == ("166", "QĐ-UBND")
    assert (doc.promulgation.place, doc.promulgation.date) == ("Bắc Giang", date(2025, 6, 1))
    assert doc.document_type == "Quyết định"
    assert doc.subject.startswith("Ban hành Kế hoạch") and "<cải cách>" in doc.content
    assert (doc.signer.full_name, doc.signer.position, doc.signer.competence) == (
        "Nguyễn Văn A", "Phó Chủ tịch", "KT. Chủ tịch",
    )  # fmt: skip
    assert (doc.priority, doc.due_date, doc.steering_type) == (1, date(2025, 6, 30), 1)
    assert doc.to_places == ["Các sở, ban, ngành tỉnh", "UBND các huyện, thành phố"]
    assert doc.business == Business(
        doc_type=BusinessDocType.NEW, reason="Văn bản điện tử mới", paper=True
    )
    (ref,) = doc.response_for
    assert ref.code == DocumentCode(number="125", notation="UBND-NC")
    assert (ref.from_, ref.promulgation_date) == ("000.00.00.H49", date(2025, 5, 20))
    assert ref.message_id is not None
    assert [(a.id, a.name, a.media_type) for a in header.attachments] == [
        ("qd-166", "quyet-dinh-166.pdf", "application/pdf"),
        ("phu-luc", "phu-luc.zip", "application/zip"),
    ]


def test_statuses_answer_the_document() -> None:
    """Both status forms map to kind status, referring to the document's message id."""
    doc_header, _ = derive_header(parse_edxml((SAMPLES / "document.edxml").read_bytes()))
    for name, code, sender in (
        ("status", "03", "000.00.15.H49"),
        ("status-variant", "04", "000.00.16.H49"),
    ):
        header, _ = derive_header(parse_edxml((SAMPLES / f"{name}.edxml").read_bytes()))
        assert header.kind is Kind.STATUS and header.status is not None
        assert header.status.ref_message_id == doc_header.message_id
        assert (header.status.code.value, header.sender, header.to) == (
            code,
            sender,
            [doc_header.sender],
        )
        assert header.sent_at == doc_header.sent_at
    assert parse_edxml((SAMPLES / "status-variant.edxml").read_bytes()).header.name == "Status"


# -- level 3: header → edXML → header -------------------------------------------------------


def _rich_header(kind: Kind = Kind.DOCUMENT) -> Header:
    when = datetime(2026, 11, 26, 8, 30, 15, tzinfo=VIETNAM)
    common: dict[str, Any] = {"message_id": uuid.uuid4(), "from": A, "sent_at": when}
    if kind is Kind.STATUS:
        return Header(
            kind=Kind.STATUS, to=[B], **common,
            status=StatusInfo(
                code=StatusCode.COMPLETED, ref_message_id=uuid.uuid4(),
                description="Đã xử lý xong", staff="Lê Văn E",
            ),
        )  # fmt: skip
    return Header(
        kind=Kind.DOCUMENT, to=[B, C], **common,
        document=DocumentMeta(
            code=DocumentCode(number="07", notation="SNV-VP"),
            promulgation=Promulgation(place="Bắc Giang", date=date(2026, 11, 25)),
            document_type="Công văn", subject="V/v thu hồi văn bản",
            content="Nội dung\ncó xuống dòng",
            signer=DocSigner(full_name="Hà Thị F", position="Giám đốc", competence="TL. Chủ tịch"),
            priority=3, due_date=date(2026, 12, 31), steering_type=2,
            to_places=["Lưu: VT"],
            business=Business(doc_type=BusinessDocType.REVOKE, reason="Sai thể thức", paper=True),
            response_for=[
                DocumentRef(
                    message_id=uuid.uuid4(), code=DocumentCode(number="5", notation="UBND"),
                    promulgation_date=date(2026, 10, 1), **{"from": C},
                ),
                DocumentRef(code=DocumentCode(number="6", notation="UBND")),
            ],
        ),
        attachments=[attachment_ref("a1", "cong-van.pdf", PDF, "application/pdf")],
    )  # fmt: skip


def test_document_header_survives_edxml() -> None:
    header = _rich_header()
    emitted = emit_edxml(edxml_from_header(header, {"a1": PDF}))
    back, back_bytes = derive_header(parse_edxml(emitted))
    assert back == header  # every field, message_id included (DocumentId carries it)
    assert back.sent_at.utcoffset() == timedelta(hours=7)
    assert parse_edxml(emitted).attachments[0].data == PDF
    # And the derived bytes are a fixed point: regenerate once more, same bytes.
    again = derive_header(parse_edxml(emit_edxml(edxml_from_header(back, {"a1": PDF}))))[1]
    assert again == back_bytes


def test_status_header_survives_edxml_except_its_own_id() -> None:
    header = _rich_header(Kind.STATUS)
    back, back_bytes = derive_header(parse_edxml(emit_edxml(edxml_from_header(header, {}))))
    assert back.model_copy(update={"message_id": header.message_id}) == header
    again = derive_header(parse_edxml(emit_edxml(edxml_from_header(back, {}))))[1]
    assert again == back_bytes, "derived status ids are stable"


def test_what_edxml_cannot_carry_is_refused() -> None:
    register = Header(
        message_id=uuid.uuid4(), kind=Kind.REGISTER, to=[B], sent_at=datetime.now(UTC),
        register=RegisterInfo(period="2026-11", paper_sent=3), **{"from": A},
    )  # fmt: skip
    with pytest.raises(EdxmlContentError, match="register message has no edXML form"):
        edxml_from_header(register, {})
    with pytest.raises(EdxmlContentError, match="no content"):
        edxml_from_header(_rich_header(), {})


# -- level 1 and the adapter -----------------------------------------------------------------------


def test_signed_edxml_comes_back_byte_for_byte(pki: DemoPKI, verifier: Verifier) -> None:
    signed = signer(pki, A).sign_edxml(sample("document"))
    raw = EdxmlAdapter(agency=A).to_package(signed)
    assert EdxmlAdapter.from_package(raw) == signed
    report = verifier.verify_bytes(raw)
    assert report.ok, report.to_json()
    parsed = parse_package(raw)
    assert parsed.attachments["qd-166"].startswith(b"%PDF-1.4")
    assert EdxmlAdapter.is_edxml_package(parsed)


def test_unsigned_edxml_is_signed_by_the_connector(pki: DemoPKI, verifier: Verifier) -> None:
    unsigned = sample("status")  # from B, as statuses usually come: unsigned
    raw = EdxmlAdapter(signer(pki, B), agency=B).to_package(unsigned)
    report = verifier.verify_bytes(raw)
    assert report.ok, report.to_json()
    assert report.signatures[0].signer is not None
    assert report.signatures[0].signer.organization_identifier == B
    back = EdxmlAdapter.from_package(raw)
    assert parse_edxml(back) == parse_edxml(unsigned), "only the Signature was added"
    with pytest.raises(ConnectorError, match="unsigned"):
        EdxmlAdapter(agency=B).to_package(unsigned)
    with pytest.raises(ConnectorError, match=f"this connector sends for {A}"):
        EdxmlAdapter(signer(pki, A), agency=A).to_package(unsigned)


def test_unsigned_content_is_refused_before_it_is_sent() -> None:
    """An xmlsec1-signed document wrapped around a forged header: refused here, as the hub would."""
    wrapped = (VECTORS / "signed" / "attack-wrapped-header.edxml").read_bytes()
    with pytest.raises(EdxmlUnsignedContentError, match="ds:Object inside Signature"):
        EdxmlAdapter().to_package(wrapped)


def test_connector_signs_without_comments_and_processing_instructions(
    pki: DemoPKI, verifier: Verifier
) -> None:
    """The signature would not cover them and the hub refuses them: they are not sent."""
    unsigned = sample("status").replace(
        "Đã tiếp nhận và".encode(), "Đã tiếp nhận<!-- nháp --> và<?note x?>".encode()
    )
    raw = EdxmlAdapter(signer(pki, B), agency=B).to_package(unsigned)
    report = verifier.verify_bytes(raw)
    assert report.ok, report.to_json()
    back = EdxmlAdapter.from_package(raw)
    assert b"<!--" not in back and b"<?note" not in back
    assert parse_edxml(back) == parse_edxml(unsigned), "the text around them is kept"


def test_not_well_formed_edxml_names_line_and_column() -> None:
    broken = sample("document").replace(b' xmlns:xlink="http://www.w3.org/1999/xlink"', b"")
    with pytest.raises(EdxmlSyntaxError) as err:
        EdxmlAdapter().to_package(broken)
    assert "Namespace prefix xlink for href on Reference is not defined" in err.value.message
    assert err.value.line is not None and f"(line {err.value.line}, column " in err.value.message
    with pytest.raises(EdxmlContentError, match="no MessageHeader or Status"):
        EdxmlAdapter().to_package(b"<edXML><Other/></edXML>")


def test_json_package_gets_a_generated_edxml(signed_package: PackageFactory) -> None:
    raw = signed_package(A, [B])
    parsed = parse_package(raw)
    generated = EdxmlAdapter.from_package(raw)
    back, _ = derive_header(parse_edxml(generated))
    assert back.message_id == parsed.header.message_id
    assert back.document == parsed.header.document
    assert back.attachments == parsed.header.attachments
    assert back.sent_at == parsed.header.sent_at


# -- the drop folder over a real broker -----------------------------------------------------


@pytest.fixture
async def router(kafka_bootstrap: str, pki: DemoPKI) -> Any:
    async with running_router(router_settings(kafka_bootstrap, pki)) as service:
        yield service


def _client(pki: DemoPKI, code: str, bootstrap: str) -> AgencyClient:
    issued = pki.agency(code)
    return AgencyClient.from_files(
        code, issued.key, issued.chain, bootstrap,
        trust_anchors=[pki.root_cert], crls=[pki.crl_dir], hub_code="000.00.99.H49",
    )  # fmt: skip


async def _run(*adapters: FolderAdapter, seconds: float) -> None:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(a.run(stop, poll=0.2)) for a in adapters]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks)
    for a in adapters:
        await a.client.close()


@pytest.mark.kafka
async def test_drop_folder_carries_edxml_both_ways(
    kafka_bootstrap: str, router: RouterService, pki: DemoPKI, tmp_path: Path
) -> None:
    """A drops a signed edXML; B receives those exact bytes; B's unsigned status reaches A."""
    number = str(uuid.uuid4().int % 10**6)
    signed = signer(pki, A).sign_edxml(sample("document", doc_number=number))
    a = FolderAdapter(_client(pki, A, kafka_bootstrap), tmp_path / "a")
    b = FolderAdapter(_client(pki, B, kafka_bootstrap), tmp_path / "b")
    (a.root / "outbox" / "qd-166.edxml").write_bytes(signed)
    (a.root / "outbox" / "broken.edxml").write_bytes(signed.replace(b' xmlns:xlink="', b' x="'))
    await _run(a, b, seconds=6)

    sent = json.loads((a.root / "sent" / "qd-166.sent.json").read_text())
    got = b.root / "inbox" / sent["message_id"]
    assert (got / "document.edxml").read_bytes() == signed, "the agency's own signed bytes"
    assert (got / "quyet-dinh-166.pdf").read_bytes().startswith(b"%PDF-1.4")
    assert json.loads((got / "header.json").read_bytes())["to"] == [B, C]
    assert "not well-formed" in (a.root / "failed" / "broken.reason.txt").read_text()

    # B answers with an unsigned edXML status; its connector signs it with B's key.
    status = sample("status", doc_number=number)
    (b.root / "outbox" / "st-03.edxml").write_bytes(status)
    a2 = FolderAdapter(_client(pki, A, kafka_bootstrap), tmp_path / "a")
    b2 = FolderAdapter(_client(pki, B, kafka_bootstrap), tmp_path / "b")
    await _run(a2, b2, seconds=6)
    st_sent = json.loads((b.root / "sent" / "st-03.sent.json").read_text())
    received = json.loads((a.root / "status" / f"{st_sent['message_id']}.json").read_text())
    assert received["status"]["ref_message_id"] == sent["message_id"], "ResponseFor → the document"
    assert received["status"]["code"] == "03" and received["_hub"]["verdict"] == "ok"
    edxml_back = (a.root / "status" / f"{st_sent['message_id']}.edxml").read_bytes()
    assert parse_edxml(edxml_back) == parse_edxml(status)
    inbox_a = await read_topic(kafka_bootstrap, f"edoc.inbox.{A}")
    assert any(
        parse_package(r).header.message_id == uuid.UUID(st_sent["message_id"]) for r in inbox_a
    )


def test_deep_nesting_is_refused_not_a_crash() -> None:
    deep = b"<x>" * 1500 + b"</x>" * 1500  # under libxml2's 2048, over Python's 1000
    with pytest.raises(EdxmlContentError, match="deeper than 64"):
        parse_edxml(b"<edXML><MessageHeader>" + deep + b"</MessageHeader></edXML>")
