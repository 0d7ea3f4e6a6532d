"""What an enveloped XML signature leaves uncovered in edXML bytes — refused before they travel.

The hub hands recipients the agency's *original* bytes (docs/edxml.md, "What
the signature covers"), so those bytes may say nothing the signature does not.
With the one layout the ``xmldsig`` profile accepts — one ``Reference URI=""``
with ``enveloped-signature`` — the digest covers the document element minus
the ``Signature`` element, without comments. What a reader could still see,
refused here as ``EdxmlUnsignedContentError`` (``unsigned_content``):

* comments anywhere: ``URI=""`` drops them before the digest, yet a reader
  sees them, and one inside text splits it (``Ban hành<!---->…`` reads as
  ``Ban hành`` to a reader that takes the first text node);
* processing instructions and comments before or after the document element
  (signxml, which the hub uses, digests the element only; xmlsec1 also
  digests prologue PIs — either way a reader acting on ``xml-stylesheet``
  would act on something the hub never checked);
* inside the ``Signature``, anything but ``SignedInfo``, ``SignatureValue``
  and ``KeyInfo/X509Data/X509Certificate``: ``ds:Object`` (the classic wrapping
  attack hides a forged ``MessageHeader`` there), ``KeyName``,
  ``X509SubjectName``, nested signatures, stray text, attributes other than a
  short ``Id``, a ``SignatureValue`` that is not canonical base64;
* namespace declarations no element uses (exclusive c14n drops them): a few
  short ones are tolerated (``xmlns:xsi`` on the root is everywhere), more or
  longer ones are a channel for unsigned data.

And so that every reader finds the header the hub maps, refused as
``EdxmlContentError`` (``malformed``): a second ``MessageHeader``/``Status``
anywhere (the ``Signature`` included), a header that is not a child of
``edXMLHeader`` (or of a SOAP ``Header``), more than one ``AttachmentEncoded``,
and processing instructions inside the document (signed, but they split text
as comments do). Checks run on the tree as parsed from the bytes, before the
profile moves an edXML-namespace ``Signature`` for the maths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lxml import etree

from signing.edxml.errors import EdxmlContentError, EdxmlUnsignedContentError
from signing.edxml.model import DS_NS, EDXML_NS
from signing.edxml.parse import HEADER_NAMES, local_name, namespace

#: Namespace of ``InclusiveNamespaces`` (exclusive c14n's PrefixList), allowed in ``SignedInfo``.
EXC_C14N_NS = "http://www.w3.org/2001/10/xml-exc-c14n#"
#: Namespace declarations no element uses: how many, and how long, are tolerated.
MAX_UNUSED_NAMESPACES = 8
MAX_NAMESPACE_URI = 256
#: Certificates in ``X509Data``: a chain is a few; a real certificate is a few KB of base64.
MAX_CERTIFICATES = 8
MAX_CERTIFICATE_CHARS = 16 * 1024
#: ``SignatureValue`` of RSA-8192 is 1024 bytes; ECDSA far less.
MAX_SIGNATURE_BYTES = 1024
MAX_ID_CHARS = 128
#: Parents where edXML (or its SOAP form) puts the message header.
HEADER_PARENTS = ("edXMLHeader", "Header")

#: The element children allowed under each element of a ``Signature``, and how many of each
#: (``1`` exactly one, ``+`` one or more, ``?`` at most one). Anything else is refused.
_CHILDREN: dict[str, dict[str, str]] = {
    "Signature": {"SignedInfo": "1", "SignatureValue": "1", "KeyInfo": "1"},
    "SignedInfo": {"CanonicalizationMethod": "1", "SignatureMethod": "1", "Reference": "+"},
    "CanonicalizationMethod": {"InclusiveNamespaces": "?"},
    "SignatureMethod": {},
    "Reference": {"Transforms": "?", "DigestMethod": "1", "DigestValue": "1"},
    "Transforms": {"Transform": "+"},
    "Transform": {"InclusiveNamespaces": "?"},
    "DigestMethod": {},
    "DigestValue": {},
    "InclusiveNamespaces": {},
    "SignatureValue": {},
    "KeyInfo": {"X509Data": "1"},
    "X509Data": {"X509Certificate": "+"},
    "X509Certificate": {},
}
#: Elements whose text is a value (base64); everywhere else only whitespace.
_VALUE_TEXT = frozenset({"DigestValue", "SignatureValue", "X509Certificate"})
#: Elements no signature covers (SignedInfo and below are covered by SignatureValue).
_UNSIGNED = frozenset({"Signature", "SignatureValue", "KeyInfo", "X509Data", "X509Certificate"})
_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
#: XML's whitespace only: ``str.isspace`` would let U+00A0 and friends carry data.
_SPACE = re.compile(r"[ \t\r\n]+")


def refuse_uncovered(root: Any, signature: Any) -> None:
    """Raise if the document around its one enveloped ``signature`` holds anything unsigned.

    ``EdxmlUnsignedContentError`` for content the signature does not cover,
    ``EdxmlContentError`` for a document readers could read differently.
    """
    _outside_the_root(root)
    _comments(root)
    _signature(signature)
    _namespaces(root)
    _processing_instructions(root)
    _one_header(root)


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else f"{text[:limit]}…"


def _describe(node: Any) -> str:
    if isinstance(node, etree._Comment):
        return f"a comment <!--{_short(node.text or '')}-->"
    text = f" {_short(node.text)}" if node.text else ""
    return f"a processing instruction <?{node.target}{text}?>"


def _outside_the_root(root: Any) -> None:
    siblings = (("before", root.itersiblings(preceding=True)), ("after", root.itersiblings()))
    for where, nodes in siblings:
        for node in nodes:
            raise EdxmlUnsignedContentError(f"{_describe(node)} {where} the document element")


def _comments(root: Any) -> None:
    for node in root.iter(etree.Comment):
        parent = node.getparent()
        raise EdxmlUnsignedContentError(
            f"{_describe(node)} inside {local_name(parent)} (a Reference to the whole "
            'document, URI="", never covers comments)'
        )


def _processing_instructions(root: Any) -> None:
    for node in root.iter(etree.ProcessingInstruction):
        raise EdxmlContentError(
            f"{_describe(node)} inside {local_name(node.getparent())}: edXML carries none, and "
            "readers split the text around it differently"
        )


def _qname(ns: str | None, name: str) -> str:
    prefix = {DS_NS: "ds:", EDXML_NS: "edXML:", None: ""}.get(ns, f"{{{ns}}}")
    return f"{prefix}{name}"


def _blank(text: str | None) -> bool:
    return not text or not _SPACE.sub("", text)


def _signature(sig: Any) -> None:
    """Only the XML-DSig elements the profile reads, each where it belongs, nothing else."""
    own = namespace(sig)
    stack = [sig]
    while stack:  # iterative: what is refused here may be deep
        el = stack.pop()
        name = local_name(el)
        where = f"Signature/…/{name}" if el is not sig else "Signature"
        if name in _UNSIGNED:
            _unsigned_attributes(el, where)
        if name in _VALUE_TEXT:
            _value(el, name, where)
        elif not _blank(el.text):
            raise EdxmlUnsignedContentError(f"text {_short(el.text)!r} in {where}")
        allowed = _CHILDREN.get(name, {})
        seen: dict[str, int] = {}
        for child in el:
            if not isinstance(child.tag, str):
                continue  # comments and PIs: refused document-wide
            if not _blank(child.tail):
                raise EdxmlUnsignedContentError(f"text {_short(child.tail)!r} in {where}")
            cname = local_name(child)
            cns = namespace(child)
            expected_ns = EXC_C14N_NS if cname == "InclusiveNamespaces" else own
            if cname not in allowed or cns != expected_ns:
                raise EdxmlUnsignedContentError(
                    f"{_qname(cns, cname)} inside {where}; a Signature may hold only "
                    "SignedInfo, SignatureValue and KeyInfo/X509Data/X509Certificate"
                )
            seen[cname] = seen.get(cname, 0) + 1
            stack.append(child)
        for cname, count in allowed.items():
            n = seen.get(cname, 0)
            if (count == "1" and n != 1) or (count == "?" and n > 1) or (count == "+" and n < 1):
                raise EdxmlUnsignedContentError(f"{where} has {n} {cname} elements")
        if name == "X509Data" and seen.get("X509Certificate", 0) > MAX_CERTIFICATES:
            raise EdxmlUnsignedContentError(
                f"{seen['X509Certificate']} certificates in X509Data; at most {MAX_CERTIFICATES}"
            )


def _unsigned_attributes(el: Any, where: str) -> None:
    for key, value in el.attrib.items():
        if key != "Id":
            raise EdxmlUnsignedContentError(f"attribute {key} on {where}")
        if len(value) > MAX_ID_CHARS:
            raise EdxmlUnsignedContentError(f"Id of {len(value)} characters on {where}")


def _value(el: Any, name: str, where: str) -> None:
    text = _SPACE.sub("", el.text or "")
    if name == "X509Certificate" and len(text) > MAX_CERTIFICATE_CHARS:
        raise EdxmlUnsignedContentError(f"X509Certificate of {len(text)} characters")
    if name != "DigestValue" and (len(text) % 4 or not _B64.fullmatch(text)):
        # signxml decodes leniently: bytes after the padding would ride along unchecked.
        raise EdxmlUnsignedContentError(f"{where} is not base64: {_short(text)!r}")
    if name == "SignatureValue" and len(text) // 4 * 3 > MAX_SIGNATURE_BYTES + 2:
        raise EdxmlUnsignedContentError(f"{where} of {len(text)} characters")


def _namespaces(root: Any) -> None:
    """Declarations no element or attribute in their scope uses: few and short, or refused."""
    idle = _unused_declarations(root)
    for decl in idle:
        if len(decl.uri) > MAX_NAMESPACE_URI:
            raise EdxmlUnsignedContentError(
                f"namespace declaration {decl} ({len(decl.uri)} characters) is used by no "
                "element, so no exclusive canonicalization covers it; at most "
                f"{MAX_NAMESPACE_URI} characters"
            )
    if len(idle) > MAX_UNUSED_NAMESPACES:
        raise EdxmlUnsignedContentError(
            f"{len(idle)} namespace declarations are used by no element (so no exclusive "
            f"canonicalization covers them); at most {MAX_UNUSED_NAMESPACES}"
        )


@dataclass(slots=True)
class _Declaration:
    prefix: str  # "" for the default namespace
    uri: str
    used: bool = False

    def __str__(self) -> str:
        return f'xmlns{":" if self.prefix else ""}{self.prefix}="{_short(self.uri)}"'


def _unused_declarations(root: Any) -> list[_Declaration]:
    """Every namespace declaration (as written, redundant ones too) that nothing in scope uses."""
    scope: dict[str, _Declaration] = {}
    # Per open element: the declarations it made, with what each one shadowed.
    opened: list[list[tuple[str, _Declaration | None]]] = []
    pending: list[tuple[str, _Declaration | None]] = []
    every: list[_Declaration] = []
    attribute_uris: set[str] = set()
    for event, item in etree.iterwalk(root, events=("start-ns", "start", "end")):
        if event == "start-ns":  # comes before the "start" of the element declaring it
            decl = _Declaration(*item)
            every.append(decl)
            pending.append((decl.prefix, scope.get(decl.prefix)))
            scope[decl.prefix] = decl
        elif event == "start":
            opened.append(pending)
            pending = []
            if (own := scope.get(item.prefix or "")) is not None:
                own.used = True
            attribute_uris.update(k[1 : k.index("}")] for k in item.attrib if k[0] == "{")
        else:
            for prefix, shadowed in reversed(opened.pop()):
                if shadowed is None:
                    del scope[prefix]
                else:
                    scope[prefix] = shadowed
    # Not information either: a declaration repeating one that is used, and (lxml keeps no
    # attribute's prefix) a prefix bound to a URI some attribute is in.
    used = {(d.prefix, d.uri) for d in every if d.used}
    return [
        d
        for d in every
        if not d.used
        and (d.prefix, d.uri) not in used
        and not (d.prefix and d.uri in attribute_uris)
    ]


def _one_header(root: Any) -> None:
    """Exactly one message header in the document, where edXML puts it; one AttachmentEncoded."""
    headers = list(root.iter(*(f"{{*}}{n}" for n in HEADER_NAMES)))
    if len(headers) != 1:
        raise EdxmlContentError(
            f"the edXML has {len(headers)} MessageHeader or Status elements (the Signature "
            "included); exactly one expected, or readers may take another one for the header"
        )
    parent = headers[0].getparent()
    if parent is None or local_name(parent) not in HEADER_PARENTS:
        raise EdxmlContentError(
            f"{local_name(headers[0])} must be a child of edXMLHeader, found under "
            f"{local_name(parent) if parent is not None else 'nothing'}"
        )
    blocks = list(root.iter("{*}AttachmentEncoded"))
    if len(blocks) > 1:
        raise EdxmlContentError(
            f"the edXML has {len(blocks)} AttachmentEncoded elements; at most one expected"
        )
