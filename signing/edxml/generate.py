"""header → edXML: an edXML message for a package that was not born as edXML.

Used to hand a JSON-signed package (profile ``jws`` or ``cms``) to an agency
system that only reads edXML. The result is unsigned — the hub cannot sign as
the sending agency; the package, kept next to it, is the evidence. For a package
that *was* edXML, use its original bytes instead (``connectors.edxml``).

The generated document maps back through ``signing.edxml.mapping`` to the same
header, field for field, with these exceptions (all documented in
docs/edxml.md):

* ``DocumentId`` is the message id itself, so a status an edXML system sends
  back (``ResponseFor/DocumentId``) points at the right document;
* a status's own ``message_id`` is derived again (edXML has no element for it),
  its ``reasons`` and ``recipient`` have no edXML element either;
* ``sent_at`` is written in Vietnamese time (+07:00): same instant, and the
  offset comes back as ``+07:00``;
* ``classification`` is not carried (edXML has none; secret never travels).
"""

from __future__ import annotations

from collections.abc import Mapping

from schemas.header import DocumentMeta, DocumentRef, Header, Kind, StatusInfo
from signing.edxml.errors import EdxmlContentError
from signing.edxml.mapping import VIETNAM
from signing.edxml.model import XLINK_NS, EdxmlAttachment, EdxmlDocument, Node, element, leaf


def _day(value: object) -> str:
    return f"{value:%Y/%m/%d}"


def timestamp_text(header: Header) -> str:
    """``sent_at`` as edXML writes times: ``YYYY/MM/DD HH:MM:SS`` in Vietnamese time."""
    local = header.sent_at.astimezone(VIETNAM)
    text = f"{local:%Y/%m/%d %H:%M:%S}"
    return f"{text}.{local.microsecond:06d}" if local.microsecond else text


def _organ(name: str, code: str) -> Node:
    return element(name, leaf("OrganId", code))


def _ref(ref: DocumentRef) -> Node:
    return element(
        "ResponseFor",
        leaf("OrganId", ref.from_) if ref.from_ else None,
        leaf("Code", f"{ref.code.number}/{ref.code.notation}") if ref.code else None,
        leaf("PromulgationDate", _day(ref.promulgation_date)) if ref.promulgation_date else None,
        leaf("DocumentId", str(ref.message_id)) if ref.message_id else None,
    )


def _message_header(header: Header, doc: DocumentMeta) -> Node:
    return element(
        "MessageHeader",
        _organ("From", header.sender),
        *(_organ("To", code) for code in header.to),
        leaf("DocumentId", str(header.message_id)),
        element(
            "Code", leaf("CodeNumber", doc.code.number), leaf("CodeNotation", doc.code.notation)
        ),
        element(
            "PromulgationInfo",
            leaf("Place", doc.promulgation.place),
            leaf("PromulgationDate", _day(doc.promulgation.date)),
        ),
        element("DocumentType", leaf("TypeName", doc.document_type)),
        leaf("Subject", doc.subject),
        leaf("Content", doc.content),
        element(
            "SignerInfo",
            leaf("Competence", doc.signer.competence),
            leaf("Position", doc.signer.position),
            leaf("FullName", doc.signer.full_name),
        ),
        leaf("DueDate", _day(doc.due_date)) if doc.due_date else None,
        element("ToPlaces", *(leaf("Place", p) for p in doc.to_places)),
        element("OtherInfo", leaf("Priority", str(doc.priority))),
        *(_ref(r) for r in doc.response_for),
        leaf("SteeringType", str(doc.steering_type)),
    )


def _trace(header: Header, doc: DocumentMeta) -> Node:
    return element(
        "TraceHeaderList",
        element(
            "TraceHeader",
            leaf("OrganId", header.sender),
            leaf("Timestamp", timestamp_text(header)),
        ),
        element(
            "Bussiness",
            leaf("BussinessDocType", str(int(doc.business.doc_type))),
            leaf("BussinessDocReason", doc.business.reason),
            leaf("Paper", "1" if doc.business.paper else "0"),
        ),
    )


def _status_header(header: Header, status: StatusInfo) -> Node:
    if len(header.to) != 1:
        raise EdxmlContentError(
            f"an edXML status answers one organisation; this one is addressed to {len(header.to)}"
        )
    return element(
        "MessageHeader",
        _organ("From", header.sender),
        element(
            "ResponseFor",
            leaf("OrganId", header.to[0]),
            leaf("DocumentId", str(status.ref_message_id)),
        ),
        element("StaffInfo", leaf("Staff", status.staff)),
        leaf("StatusCode", status.code.value),
        leaf("Description", status.description),
        leaf("Timestamp", timestamp_text(header)),
    )


def _manifest(header: Header) -> Node | None:
    if not header.attachments:
        return None
    refs = [
        element(
            "Reference",
            leaf("AttachmentName", a.name),
            leaf("ContentType", a.media_type),
            leaf("ContentId", a.id),
            attrs=((f"{{{XLINK_NS}}}href", f"cid:{a.id}"), (f"{{{XLINK_NS}}}type", "simple")),
        )
        for a in header.attachments
    ]
    return element("edXMLManifest", *refs, attrs=(("version", "1.0"),))


def edxml_from_header(header: Header, attachments: Mapping[str, bytes]) -> EdxmlDocument:
    """An unsigned edXML document carrying ``header`` and the attachment bytes.

    Raises ``EdxmlContentError`` for what edXML cannot express (register
    reports, a status to several organisations, a missing attachment).
    """
    atts: list[EdxmlAttachment] = []
    for ref in header.attachments:
        data = attachments.get(ref.id)
        if data is None:
            raise EdxmlContentError(f"attachment {ref.id!r} has no content in the package")
        atts.append(EdxmlAttachment(ref.id, ref.media_type, ref.name, "", data))
    if header.kind is Kind.DOCUMENT and header.document is not None:
        return EdxmlDocument(
            header=_message_header(header, header.document),
            trace=_trace(header, header.document),
            manifest=_manifest(header),
            attachments=tuple(atts),
        )
    if header.kind is Kind.STATUS and header.status is not None:
        return EdxmlDocument(
            header=_status_header(header, header.status),
            manifest=_manifest(header),
            attachments=tuple(atts),
        )
    raise EdxmlContentError(f"a {header.kind.value} message has no edXML form")
