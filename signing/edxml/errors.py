"""Errors of the edXML layer: a document that is not XML, not an edXML message we can map,
or signed XML that carries content its signature does not cover.

The first two are ``malformed`` to the hub (reason code): the agency sent
something unreadable, not something wrongly signed. The third is
``unsigned_content``: bytes the recipients would get that nobody signed. All
are exit code 2 to the CLI::

    signing.errors.SigningError
    └── EdxmlError                     this module — base; exit code 2
        ├── EdxmlSyntaxError           not well-formed XML (with line and column), DTDs, entities
        ├── EdxmlContentError          well-formed, but not an edXML message the hub can map
        └── EdxmlUnsignedContentError  signed edXML carrying content the signature does not cover
"""

from __future__ import annotations

from signing.errors import SigningError

#: Where the mapping rules are written down; every edXML error points there.
MAPPING_DOC = "see docs/edxml.md for the edXML elements the hub reads and how"


class EdxmlError(SigningError):
    """An edXML document cannot be used (``malformed``, unless a subclass says otherwise)."""

    exit_code = 2


class EdxmlSyntaxError(EdxmlError):
    """The bytes are not well-formed XML (or use a DTD or entities, which edXML never needs)."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None) -> None:
        where = (
            f" (line {line}, column {column})" if line is not None and column is not None else ""
        )
        super().__init__(
            f"edXML is not well-formed XML: {message}{where}",
            hint="fix the sending system's XML writer; every prefix must be declared",
        )
        self.line = line
        self.column = column


class EdxmlContentError(EdxmlError):
    """Well-formed XML that is not an edXML message the hub can map to a header."""

    def __init__(self, message: str) -> None:
        super().__init__(message, hint=MAPPING_DOC)


class EdxmlUnsignedContentError(EdxmlError):
    """Signed edXML whose bytes carry something its signature does not cover (``unsigned_content``).

    The hub hands recipients the original bytes, so they may hold nothing
    unsigned but the ``Signature`` element itself (docs/edxml.md).
    """

    def __init__(self, message: str) -> None:
        super().__init__(
            f"the edXML carries content its signature does not cover: {message}",
            hint="send the document exactly as the agency's system signed it, without comments, "
            "processing instructions or additions to the Signature (see docs/edxml.md)",
        )
