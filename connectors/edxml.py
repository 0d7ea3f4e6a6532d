"""The edXML adapter: agency systems that speak edXML (QCVN 102:2016) use the hub unchanged.

Outgoing, an edXML document becomes a package (``signing.edxml.package``):
the agency's signed bytes ride in a signature entry of profile ``xmldsig``,
the JSON header is derived from them, the ``AttachmentEncoded`` files become
package attachments. An edXML document that arrives *unsigned* (statuses
usually are) is signed here with the agency's key first — an enveloped XML
signature, so the package still carries one edXML document signed by the agency.

Incoming, a package becomes edXML again: its original signed bytes when it
has them (byte for byte: every element, every attribute, the agency's own
signature — the hub accepts them only if they carry nothing the signature does
not cover, ``signing.edxml.uncovered``), otherwise an edXML document generated from the header
(``signing.edxml.generate``), unsigned — the package next to it is the evidence.

The drop folder (``connectors.folder``) uses this for ``outbox/<stem>.edxml``
files and writes ``document.edxml`` next to what it receives.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from connectors.errors import ConnectorError
from schemas.package import ParsedPackage, parse_package
from signing.edxml import (
    edxml_from_header,
    edxml_package,
    emit_edxml,
    original_edxml,
    parse_edxml,
)
from signing.edxml.mapping import derive_header
from signing.signer import Signer

#: File suffix of edXML documents in the drop folder.
SUFFIX = ".edxml"


@dataclass(frozen=True)
class EdxmlAdapter:
    """edXML bytes ⇄ package bytes for one agency.

    ``signer`` signs edXML documents that come unsigned; without it they are
    refused. ``agency``, when set, must be the document's sender
    (``From/OrganId``) — caught here, before the hub would answer
    ``sender_mismatch``.
    """

    signer: Signer | None = None
    agency: str | None = None

    def to_package(self, document: bytes) -> bytes:
        """Package bytes for an edXML document; raises ``EdxmlError`` or ``ConnectorError``.

        A signed document carrying content its signature does not cover is
        refused here (``EdxmlUnsignedContentError``), as the hub would.
        """
        doc = parse_edxml(document)  # not well-formed / not edXML: a precise error here
        header, _ = derive_header(doc)
        if self.agency is not None and header.sender != self.agency:
            raise ConnectorError(
                f"edXML From/OrganId is {header.sender}, but this connector sends for "
                f"{self.agency}",
                hint="drop the document into the sending agency's own folder",
            )
        if not doc.signed:
            if self.signer is None:
                raise ConnectorError(
                    "the edXML document is unsigned and this connector has no signing key",
                    hint="sign it in the agency system or give the connector --key/--cert",
                )
            document = self.signer.sign_edxml(document)
        return edxml_package(document).to_bytes()

    def read(self, path: Path) -> bytes:
        """Package bytes for the edXML file at ``path``."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConnectorError(f"cannot read {path}: {exc.strerror}") from None
        return self.to_package(data)

    @staticmethod
    def from_package(package: bytes | ParsedPackage) -> bytes:
        """edXML for a package: the original signed bytes if any, else generated (unsigned).

        Raises ``MalformedPackageError`` for unreadable package bytes and
        ``EdxmlError`` for a header edXML cannot express (e.g. a register report).
        """
        parsed = parse_package(package) if isinstance(package, bytes) else package
        original = original_edxml(parsed)
        if original is not None:
            return original
        return emit_edxml(edxml_from_header(parsed.header, parsed.attachments))

    @staticmethod
    def is_edxml_package(parsed: ParsedPackage) -> bool:
        """True when the package carries an agency's original edXML (profile ``xmldsig``)."""
        return original_edxml(parsed) is not None
