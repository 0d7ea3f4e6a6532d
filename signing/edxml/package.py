"""edXML ⇄ package: the envelope that carries a signed edXML document through the hub.

A package built from a signed edXML document::

    {"v": 1,
     "header": base64url(canonical_header_bytes(edXML)),        # derived, never edited
     "signatures": [{"profile": "xmldsig", "value": base64(the edXML bytes as signed)},
                    …optional co-signatures (jws, cms) over the header bytes…],
     "attachments": [{"id": …, "content": base64(decoded AttachmentEncoded)}, …]}

The hub's checks run unchanged through the signature-profile protocol: the
``xmldsig`` profile verifies the XML signature and that the header bytes are
exactly the mapping of what it signed; chain, key usage, CRLs and sender binding
are the verifier's; attachment digests in the derived header are checked
against the package's attachments as for any package. The original bytes stay
in the signature entry — and so in the signature log — for auditors.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence

from schemas.package import AttachmentContent, Package, ParsedPackage, SignatureEntry, b64url_encode
from signing.edxml.errors import EdxmlContentError
from signing.edxml.mapping import attachment_ids, canonical_header_bytes
from signing.edxml.parse import outer_signatures, parse_tree, read_document
from signing.edxml.uncovered import refuse_uncovered

#: Wire name of the profile that carries an edXML document.
PROFILE = "xmldsig"

#: Signs header bytes, e.g. ``signing.signer.Signer.sign`` (a co-signature).
CoSign = Callable[[bytes], SignatureEntry]


def edxml_package(signed: bytes, cosign: Sequence[CoSign] = ()) -> Package:
    """The package for a signed edXML document.

    Raises ``EdxmlError`` if it cannot map, ``EdxmlUnsignedContentError`` if
    its bytes carry content the signature does not cover.

    ``cosign`` adds signatures over the derived header bytes — another
    agency's countersignature in ``jws`` or ``cms``, say.
    """
    root = parse_tree(signed)
    doc = read_document(root)
    if not doc.signed:
        raise EdxmlContentError(
            "the edXML document carries no Signature; sign it first (Signer.sign_edxml)"
        )
    signatures = outer_signatures(root)
    if len(signatures) == 1:  # several: the hub says why (bad_signature)
        # The bytes travel to the recipients as they are: refuse here, with the
        # hub's own message, what it would refuse as unsigned_content or malformed.
        refuse_uncovered(root, signatures[0])
    header_bytes = canonical_header_bytes(doc)
    ids = attachment_ids(doc)
    return Package(
        header=b64url_encode(header_bytes),
        signatures=[
            SignatureEntry(profile=PROFILE, value=base64.b64encode(signed).decode("ascii")),
            *(sign(header_bytes) for sign in cosign),
        ],
        attachments=[
            AttachmentContent(id=att_id, content=base64.b64encode(att.data).decode("ascii"))
            for att_id, att in zip(ids, doc.attachments, strict=True)
        ],
    )


def original_edxml(parsed: ParsedPackage) -> bytes | None:
    """The edXML bytes of the package's first ``xmldsig`` signature, exactly as signed.

    None when the package carries no (decodable) ``xmldsig`` signature.
    """
    for sig in parsed.package.signatures:
        if sig.profile == PROFILE:
            try:
                return base64.b64decode(sig.value, validate=True)
            except (binascii.Error, ValueError):
                continue
    return None
