"""Signing an edXML document the way edXML systems do: enveloped XML-DSig in ``edXMLHeader``.

For tests, demos and the agency-side adapter when the agency system hands over
an *unsigned* edXML (statuses usually are). The signature:

* sits as the last child of ``edXMLHeader`` (or of the root element when
  there is none, as in the SOAP-wrapped status variant), in the XML-DSig
  namespace with the ``ds:`` prefix;
* has one ``Reference URI=""`` with the transforms ``enveloped-signature`` then
  exclusive canonicalisation, SHA-256 digest;
* is RSA-SHA256 (RSA keys) or ECDSA-SHA256/384 (P-256/P-384 keys), with the
  certificate chain, leaf first, in ``KeyInfo/X509Data``.

The document is signed in place: its content is never re-mapped or re-laid
out, only parsed and serialised again around the new ``Signature`` — without
its comments and processing instructions, which the signature would not cover
and the hub refuses (``unsigned_content``, ``signing.edxml.uncovered``).
"""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, SignatureConstructionMethod
from signxml.exceptions import SignXMLException
from signxml.signer import XMLSigner

from signing.edxml.emit import serialize
from signing.edxml.errors import EdxmlContentError
from signing.edxml.model import DS_NS
from signing.edxml.parse import (
    content_elements,
    find_signatures,
    local_name,
    parse_tree,
    read_document,
)
from signing.errors import SignerError

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def signature_algorithm_for(key: PrivateKey) -> str:
    """The XML-DSig signature method for ``key`` (URI fragment, e.g. ``rsa-sha256``)."""
    if isinstance(key, rsa.RSAPrivateKey):
        return "rsa-sha256"
    return "ecdsa-sha384" if isinstance(key.curve, ec.SECP384R1) else "ecdsa-sha256"


def _signature_parent(root: Any) -> Any:
    headers = [el for el in content_elements(root) if local_name(el) == "edXMLHeader"]
    return headers[0] if len(headers) == 1 else root


def _drop_comments_and_pis(root: Any) -> None:
    """Remove comments and PIs inside ``root``, keeping the text around them joined."""
    for node in list(root.iter(etree.Comment, etree.ProcessingInstruction)):
        parent, previous = node.getparent(), node.getprevious()
        if node.tail:
            if previous is not None:
                previous.tail = (previous.tail or "") + node.tail
            else:
                parent.text = (parent.text or "") + node.tail
        parent.remove(node)


def sign_edxml(
    document: bytes,
    key: PrivateKey,
    chain: list[x509.Certificate],
    *,
    algorithm: str | None = None,
) -> bytes:
    """``document`` with an enveloped XML-DSig by ``key``; ``chain`` (leaf first) goes into KeyInfo.

    Raises ``EdxmlError`` for a document that is not edXML or already signed,
    ``SignerError`` when signing itself fails.
    """
    root = parse_tree(document)
    read_document(root)  # it must at least be an edXML message
    if find_signatures(root):
        raise EdxmlContentError("the edXML document is already signed; it is sent as it is")
    # What is outside the root element is not serialised again; inside, dropped here.
    _drop_comments_and_pis(root)
    etree.SubElement(
        _signature_parent(root), f"{{{DS_NS}}}Signature", nsmap={"ds": DS_NS}, Id="placeholder"
    )
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=algorithm or signature_algorithm_for(key),
        digest_algorithm="sha256",
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    try:
        signed = signer.sign(root, key=key, cert=list(chain))
    except (SignXMLException, ValueError, TypeError) as exc:
        raise SignerError(f"cannot sign the edXML document: {exc}") from None
    return serialize(signed)
