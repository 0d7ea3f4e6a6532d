"""Errors of the edXML layer: a document that is not XML, or not an edXML message we can map.

Both are ``malformed`` to the hub (reason code) and exit code 2 to the CLI:
the agency sent something unreadable, not something wrongly signed::

    signing.errors.SigningError
    └── EdxmlError                 this module — base; exit code 2
        ├── EdxmlSyntaxError       not well-formed XML (with line and column), DTDs, entities
        └── EdxmlContentError      well-formed, but not an edXML message the hub can map
"""

from __future__ import annotations

from signing.errors import SigningError

#: Where the mapping rules are written down; every edXML error points there.
MAPPING_DOC = "see docs/edxml.md for the edXML elements the hub reads and how"


class EdxmlError(SigningError):
    """An edXML document cannot be used (reason code ``malformed``)."""

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
