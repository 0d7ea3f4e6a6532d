"""Writing an ``EdxmlDocument`` as edXML bytes, in one strict layout.

Liberal on input, strict on output. Every document this module writes looks
like this (UTF-8, two-space indentation; elements present only when the
document has them)::

    <?xml version="1.0" encoding="UTF-8"?>
    <edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">
      <edXML:edXMLEnvelope xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">
        <edXML:edXMLHeader>
          <edXML:MessageHeader>…</edXML:MessageHeader>     (or edXML:Status)
          <edXML:TraceHeaderList>…</edXML:TraceHeaderList>
        </edXML:edXMLHeader>
        <edXML:edXMLBody>
          <edXML:edXMLManifest>…</edXML:edXMLManifest>
        </edXML:edXMLBody>
      </edXML:edXMLEnvelope>
      <AttachmentEncoded>
        <Attachment>
          <ContentType/><ContentId/><Description/><ContentTransferEncoded/><AttachmentName/>
        </Attachment>
      </AttachmentEncoded>
    </edXML>

The ``edXML`` wrapper makes the envelope and the attachments one well-formed
document, as the reference SDKs write it; ``AttachmentEncoded`` sits in the
default (edXML) namespace without a prefix. Every prefix used is declared —
``xlink`` on the root when a manifest needs it. Signatures are added afterwards
by ``signing.edxml.sign`` (never by re-emitting a signed document).
"""

from __future__ import annotations

import base64
from typing import Any

from lxml import etree

from signing.edxml.model import EDXML_NS, XLINK_NS, EdxmlAttachment, EdxmlDocument, Node

#: The XML declaration of every emitted document (lxml would write single quotes).
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def _tag(name: str) -> str:
    return f"{{{EDXML_NS}}}{name}"


def _write(parent: Any, node: Node) -> None:
    el = etree.SubElement(parent, _tag(node.name), attrib=dict(node.attrs))
    if node.children:
        for child in node.children:
            _write(el, child)
    elif node.text:
        el.text = node.text


def _write_attachment(parent: Any, att: EdxmlAttachment) -> None:
    el = etree.SubElement(parent, _tag("Attachment"))
    values = (
        ("ContentType", att.content_type),
        ("ContentId", att.content_id),
        ("Description", att.description),
        ("ContentTransferEncoded", base64.b64encode(att.data).decode("ascii")),
        ("AttachmentName", att.name),
    )
    for name, text in values:
        etree.SubElement(el, _tag(name)).text = text or None
    for extra in att.extra:
        _write(el, extra)


def _uses_xlink(doc: EdxmlDocument) -> bool:
    nodes = [doc.header, *doc.header_extras]
    nodes += [n for n in (doc.trace, doc.manifest) if n is not None]
    return any(
        k.startswith(f"{{{XLINK_NS}}}") for n in nodes for sub in n.walk() for k, _ in sub.attrs
    )


def emit_tree(doc: EdxmlDocument) -> Any:
    """The document as an lxml element tree in the strict layout (unsigned)."""
    nsmap: dict[str | None, str] = {None: EDXML_NS}
    if _uses_xlink(doc):
        nsmap["xlink"] = XLINK_NS
    root = etree.Element(_tag("edXML"), nsmap=nsmap)
    envelope = etree.SubElement(root, _tag("edXMLEnvelope"), nsmap={"edXML": EDXML_NS})
    header = etree.SubElement(envelope, _tag("edXMLHeader"))
    _write(header, doc.header)
    if doc.trace is not None:
        _write(header, doc.trace)
    for extra in doc.header_extras:
        _write(header, extra)
    body = etree.SubElement(envelope, _tag("edXMLBody"))
    if doc.manifest is not None:
        _write(body, doc.manifest)
    if doc.attachments:
        encoded = etree.SubElement(root, _tag("AttachmentEncoded"))
        for att in doc.attachments:
            _write_attachment(encoded, att)
    return root


def serialize(root: Any) -> bytes:
    """UTF-8 bytes of an lxml tree with the standard XML declaration."""
    body: bytes = etree.tostring(root, encoding="UTF-8", xml_declaration=False)
    return XML_DECLARATION + body + b"\n"


def emit_edxml(doc: EdxmlDocument) -> bytes:
    """The document as edXML bytes in the strict layout (unsigned, indented)."""
    root = emit_tree(doc)
    etree.indent(root, space="  ")
    return serialize(root)
