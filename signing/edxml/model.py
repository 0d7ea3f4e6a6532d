"""An edXML message (QCVN 102:2016/BTTTT) as plain immutable data, independent of lxml.

The parser (``signing.edxml.parse``) is liberal: it matches elements by local
name whatever their namespace prefix, so ``edXML:Subject``, ``Subject`` in the
default namespace and ``ns0:Subject`` all read the same. It keeps *every*
element of the message header, the trace list and the manifest as a
``Node`` tree — also elements this hub does not map — so that
``emit(parse(x))`` parses back to the same ``EdxmlDocument``. The emitter
(``signing.edxml.emit``) is strict: one layout, one prefix, documented in
docs/edxml.md.

Byte-for-byte fidelity is a different matter: a signed edXML document is never
re-serialised; the package keeps the agency's original bytes (profile
``xmldsig``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

#: The edXML namespace of QCVN 102:2016.
EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
#: The XML-DSig namespace.
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
#: XLink, used by ``edXMLManifest/Reference`` attributes.
XLINK_NS = "http://www.w3.org/1999/xlink"


class SignatureNamespace(StrEnum):
    """Where the ``Signature`` element of a document lives (reported in signature details)."""

    #: ``http://www.w3.org/2000/09/xmldsig#``, as XML-DSig says.
    XMLDSIG = "xmldsig"
    #: The edXML namespace: the element carries no ``xmlns`` of its own and
    #: inherits the default namespace, as several deployed systems send it.
    EDXML = "edxml"
    #: Any other namespace: refused by the ``xmldsig`` profile.
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Node:
    """One XML element by local name: its trimmed text, attributes and element children.

    Attribute names are in Clark notation (``{namespace}local``) when namespaced.
    Comments and processing instructions are not kept (canonical XML without
    comments does not sign them either).
    """

    name: str
    text: str = ""
    children: tuple[Node, ...] = ()
    attrs: tuple[tuple[str, str], ...] = ()

    def child(self, name: str) -> Node | None:
        """The first child element called ``name``, or None."""
        return next((c for c in self.children if c.name == name), None)

    def all(self, name: str) -> list[Node]:
        """Every child element called ``name``, in document order."""
        return [c for c in self.children if c.name == name]

    def text_at(self, *path: str) -> str:
        """Text of the element at ``path`` (first match per step), ``""`` when absent."""
        node: Node | None = self
        for step in path:
            node = node.child(step) if node is not None else None
        return node.text if node is not None else ""

    def has(self, *path: str) -> bool:
        """True when an element exists at ``path`` below this one."""
        node: Node | None = self
        for step in path:
            node = node.child(step) if node is not None else None
        return node is not None

    def walk(self) -> Iterator[Node]:
        """This node and every descendant, depth first."""
        yield self
        for c in self.children:
            yield from c.walk()


def leaf(name: str, text: str) -> Node:
    """An element with text only."""
    return Node(name, text)


def element(name: str, *children: Node | None, attrs: tuple[tuple[str, str], ...] = ()) -> Node:
    """An element with element children (``None`` entries are skipped, for optional parts)."""
    return Node(name, "", tuple(c for c in children if c is not None), attrs)


@dataclass(frozen=True, slots=True)
class EdxmlAttachment:
    """One ``AttachmentEncoded/Attachment``: metadata plus the decoded bytes.

    ``data`` is the base64-decoded ``ContentTransferEncoded`` — often itself a
    zip file; the hub never unpacks it.
    """

    content_id: str
    content_type: str
    name: str
    description: str
    data: bytes
    #: Child elements beyond the five standard ones, kept for round trips.
    extra: tuple[Node, ...] = ()


@dataclass(frozen=True, slots=True)
class EdxmlDocument:
    """One edXML message: a document (``MessageHeader``) or a status.

    Statuses come as a ``MessageHeader`` carrying ``StatusCode``, or wrapped in
    ``Status`` instead (a deployed variant); ``header.name`` says which.
    """

    header: Node
    trace: Node | None = None
    #: Other children of ``edXMLHeader`` (e.g. an empty ``DigitalSignature``
    #: placeholder), never the ``Signature`` itself.
    header_extras: tuple[Node, ...] = ()
    #: ``edXMLBody/edXMLManifest``.
    manifest: Node | None = None
    attachments: tuple[EdxmlAttachment, ...] = ()
    #: Where the document's ``Signature`` was found (None: unsigned). Not part of
    #: equality: the emitter never writes signatures, it only lays out content.
    signature: SignatureNamespace | None = field(default=None, compare=False)

    @property
    def is_status(self) -> bool:
        """True for a status message (``Status`` wrapper or a ``StatusCode`` in the header)."""
        return self.header.name == "Status" or self.header.has("StatusCode")

    @property
    def signed(self) -> bool:
        """True when the document carries a ``Signature`` element."""
        return self.signature is not None
