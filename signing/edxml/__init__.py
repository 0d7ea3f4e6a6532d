"""edXML (QCVN 102:2016/BTTTT): parse, emit, map to and from the header, sign, package.

The public surface, re-exported here (modules are one job each):

* ``parse_edxml`` (``parse``) — bytes → ``EdxmlDocument``, liberal, safe;
* ``emit_edxml`` (``emit``) — ``EdxmlDocument`` → bytes, one strict layout;
* ``canonical_header_bytes`` / ``derive_header`` (``mapping``) — the header an
  edXML package must carry;
* ``edxml_from_header`` (``generate``) — edXML for a package born as JSON;
* ``sign_edxml`` (``sign``) — enveloped XML-DSig as edXML systems write it;
* ``refuse_uncovered`` (``uncovered``) — signed bytes may carry nothing their
  signature does not cover, since they travel to the recipients as they are;
* ``edxml_package`` / ``original_edxml`` (``package``) — the package envelope.

The ``xmldsig`` signature profile that verifies these packages is
``signing.profiles.xmldsig``; docs/edxml.md has the mapping table.
"""

from signing.edxml.emit import emit_edxml
from signing.edxml.errors import (
    EdxmlContentError,
    EdxmlError,
    EdxmlSyntaxError,
    EdxmlUnsignedContentError,
)
from signing.edxml.generate import edxml_from_header
from signing.edxml.mapping import MAPPING_VERSION, canonical_header_bytes, derive_header
from signing.edxml.model import (
    DS_NS,
    EDXML_NS,
    EdxmlAttachment,
    EdxmlDocument,
    Node,
    SignatureNamespace,
)
from signing.edxml.package import PROFILE, edxml_package, original_edxml
from signing.edxml.parse import parse_edxml
from signing.edxml.sign import sign_edxml
from signing.edxml.uncovered import refuse_uncovered

__all__ = [
    "DS_NS",
    "EDXML_NS",
    "MAPPING_VERSION",
    "PROFILE",
    "EdxmlAttachment",
    "EdxmlContentError",
    "EdxmlDocument",
    "EdxmlError",
    "EdxmlSyntaxError",
    "EdxmlUnsignedContentError",
    "Node",
    "SignatureNamespace",
    "canonical_header_bytes",
    "derive_header",
    "edxml_from_header",
    "edxml_package",
    "emit_edxml",
    "original_edxml",
    "parse_edxml",
    "refuse_uncovered",
    "sign_edxml",
]
