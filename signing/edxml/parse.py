"""Reading edXML bytes: a safe XML parser, then a liberal walk into an ``EdxmlDocument``.

Safe: no DTD, no entities, no network, and huge text nodes allowed (attachments
are base64 inside the XML and easily exceed libxml2's 10 MB default). Anything
that is not well-formed — the classic being an undeclared ``xlink:`` prefix in
samples from deployed systems — is refused with libxml2's own message and the
line and column.

Liberal: elements are matched by local name in any namespace, the root may be
the ``edXML`` wrapper, ``edXMLEnvelope`` itself or a SOAP envelope, and the
message header is found wherever it is. ``Signature`` subtrees are never read
as content: with an enveloped signature they are exactly what is *not* signed.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from lxml import etree

from signing.edxml.errors import EdxmlContentError, EdxmlSyntaxError
from signing.edxml.model import (
    DS_NS,
    EDXML_NS,
    EdxmlAttachment,
    EdxmlDocument,
    Node,
    SignatureNamespace,
)

#: Element names that hold the message header (document or status).
HEADER_NAMES = ("MessageHeader", "Status")
#: The standard children of ``AttachmentEncoded/Attachment``.
ATTACHMENT_FIELDS = (
    "ContentType",
    "ContentId",
    "Description",
    "ContentTransferEncoded",
    "AttachmentName",
)
#: edXML is a few levels deep; anything far deeper is hostile or broken.
MAX_DEPTH = 64
_LOCATION = re.compile(r",? line \d+, column \d+$")
_WHITESPACE = re.compile(rb"\s+")


def secure_parser() -> Any:
    """A fresh lxml parser that never resolves entities, loads DTDs or touches the network."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=True,
        collect_ids=False,
    )


def parse_tree(data: bytes) -> Any:
    """Parse ``data`` into an lxml root element; raise ``EdxmlSyntaxError`` with line and column."""
    try:
        root = etree.fromstring(data, parser=secure_parser())
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (None, None)
        raise EdxmlSyntaxError(
            _LOCATION.sub("", str(exc.msg or exc)), line=line, column=column
        ) from None
    except ValueError as exc:  # e.g. a str with an encoding declaration
        raise EdxmlSyntaxError(str(exc)) from None
    docinfo = etree.ElementTree(root).docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None or docinfo.doctype:
        raise EdxmlSyntaxError("a DOCTYPE is not allowed in edXML")
    for _ in root.iter(etree.Entity):
        raise EdxmlSyntaxError("entity references are not allowed in edXML")
    return root


def local_name(el: Any) -> str:
    """The element's name without namespace."""
    return str(etree.QName(el).localname)


def namespace(el: Any) -> str | None:
    """The element's namespace URI, or None."""
    ns = etree.QName(el).namespace
    return str(ns) if ns is not None else None


def _is_element(el: Any) -> bool:
    return isinstance(el.tag, str)


def is_signature(el: Any) -> bool:
    """A ``Signature`` in the XML-DSig namespace, or any ``Signature`` with a ``SignedInfo``."""
    if not _is_element(el) or local_name(el) != "Signature":
        return False
    return namespace(el) == DS_NS or any(
        _is_element(c) and local_name(c) == "SignedInfo" for c in el
    )


def find_signatures(root: Any) -> list[Any]:
    """Every ``Signature`` element in the document (nested ones included)."""
    return [el for el in root.iter() if is_signature(el)]


def outer_signatures(root: Any) -> list[Any]:
    """The ``Signature`` elements not inside another one (a nested one is that one's content)."""
    return [s for s in find_signatures(root) if not any(map(is_signature, s.iterancestors()))]


def signature_namespace(el: Any) -> SignatureNamespace:
    """Which namespace a ``Signature`` element is in."""
    ns = namespace(el)
    if ns == DS_NS:
        return SignatureNamespace.XMLDSIG
    if ns == EDXML_NS:
        return SignatureNamespace.EDXML
    return SignatureNamespace.OTHER


def _text(el: Any) -> str:
    # Direct text only: el.text plus the tails of children (comments and PIs
    # split text nodes; canonical XML without comments joins them again).
    parts = [el.text or ""]
    parts += [c.tail or "" for c in el]
    return "".join(parts).strip()


def to_node(el: Any, depth: int = 0) -> Node:
    """An lxml element as a ``Node`` (signatures, comments and PIs left out)."""
    if depth > MAX_DEPTH:
        raise EdxmlContentError(f"edXML nests elements deeper than {MAX_DEPTH} levels")
    children = tuple(to_node(c, depth + 1) for c in el if _is_element(c) and not is_signature(c))
    text = _text(el) if not children else ""
    attrs = tuple((str(k), str(v)) for k, v in el.attrib.items())
    return Node(local_name(el), text, children, attrs)


def content_elements(root: Any) -> list[Any]:
    """Elements of the document outside any ``Signature`` subtree, in document order."""
    out: list[Any] = []
    stack = [root]
    while stack:  # iterative: a hostile document must not exhaust the Python stack
        el = stack.pop()
        out.append(el)
        stack.extend(reversed([c for c in el if _is_element(c) and not is_signature(c)]))
    return out


def _top_most(elements: list[Any], names: tuple[str, ...]) -> list[Any]:
    found = [el for el in elements if local_name(el) in names]
    return [el for el in found if not any(a in found for a in el.iterancestors())]


def _one(elements: list[Any], names: tuple[str, ...], what: str, *, required: bool) -> Any:
    found = _top_most(elements, names)
    if len(found) > 1:
        raise EdxmlContentError(f"edXML has {len(found)} {what} elements; exactly one expected")
    if not found:
        if required:
            raise EdxmlContentError(f"edXML has no {what} element")
        return None
    return found[0]


def _attachment(index: int, el: Any) -> EdxmlAttachment:
    fields: dict[str, str] = {}
    extra: list[Node] = []
    encoded = b""
    for c in el:
        if not _is_element(c):
            continue
        name = local_name(c)
        if name == "ContentTransferEncoded":
            encoded = "".join(c.itertext()).encode("ascii", "replace")
        elif name in ATTACHMENT_FIELDS and name not in fields:
            fields[name] = _text(c)
        else:
            extra.append(to_node(c))
    try:
        data = base64.b64decode(_WHITESPACE.sub(b"", encoded), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EdxmlContentError(
            f"AttachmentEncoded/Attachment[{index}] ({fields.get('AttachmentName', '')!r}): "
            f"ContentTransferEncoded is not base64: {exc}"
        ) from None
    return EdxmlAttachment(
        content_id=fields.get("ContentId", ""),
        content_type=fields.get("ContentType", ""),
        name=fields.get("AttachmentName", ""),
        description=fields.get("Description", ""),
        data=data,
        extra=tuple(extra),
    )


def read_document(root: Any) -> EdxmlDocument:
    """Walk a parsed edXML tree into an ``EdxmlDocument`` (raises ``EdxmlContentError``)."""
    elements = content_elements(root)
    header = _one(elements, HEADER_NAMES, "MessageHeader or Status", required=True)
    trace = _one(elements, ("TraceHeaderList",), "TraceHeaderList", required=False)
    manifest = _one(elements, ("edXMLManifest",), "edXMLManifest", required=False)
    extras: tuple[Node, ...] = ()
    parent = header.getparent()
    if parent is not None and local_name(parent) == "edXMLHeader":
        extras = tuple(
            to_node(c)
            for c in parent
            if _is_element(c) and c is not header and c is not trace and not is_signature(c)
        )
    attachments = [
        el
        for el in elements
        if local_name(el) == "Attachment"
        and el.getparent() is not None
        and local_name(el.getparent()) == "AttachmentEncoded"
    ]
    signatures = find_signatures(root)
    return EdxmlDocument(
        header=to_node(header),
        trace=to_node(trace) if trace is not None else None,
        header_extras=extras,
        manifest=to_node(manifest) if manifest is not None else None,
        attachments=tuple(_attachment(i, el) for i, el in enumerate(attachments, start=1)),
        signature=signature_namespace(signatures[0]) if signatures else None,
    )


def parse_edxml(data: bytes) -> EdxmlDocument:
    """Parse edXML bytes; raises ``EdxmlSyntaxError`` or ``EdxmlContentError``."""
    return read_document(parse_tree(data))
