"""The ``xmldsig`` profile: an agency's own enveloped XML-DSig over an edXML document.

The value is standard base64 of the edXML document exactly as the agency
signed it. Unlike ``jws`` and ``cms`` the signature is not over the header
bytes: it is over the XML (``Reference URI=""``, transforms
``enveloped-signature`` then a canonicalisation). What binds the package's
header to it is step 8: the header bytes must be exactly the canonical mapping
(``signing.edxml.mapping``) of the content the signature covers, so the header
can say nothing the signed XML does not — attachments included, through the
SHA-256 digests in the derived manifest.

Accepted as deployed systems send it:

* the ``Signature`` in the XML-DSig namespace, or parsed into the edXML
  namespace because it carries no ``xmlns`` of its own (it is then verified
  after moving it back into the XML-DSig namespace, as its signer made it);
  a note in the report says which;
* SignatureMethod RSA-SHA256/384/512 or ECDSA-SHA256/384/512, digests
  SHA-256/384/512, any of the six W3C canonicalisations;
* RSA-SHA1 and SHA-1 digests only with ``allow_sha1``, and then reported as a
  ``weak_algorithm`` *warning* (``ProfileResult.warnings``): the verdict stays
  ``ok``, the report's ``warnings`` say why it should not.

Refused: not well-formed XML, DTDs and entities (``malformed``); no or several
signatures, another Reference layout, undecodable values, bad maths, a header
that is not the mapping (``bad_signature``); other algorithms (``weak_algorithm``);
anything in the bytes the signature does not cover — comments, prologue
processing instructions, ``ds:Object``/``KeyName``/extra data in the
``Signature`` — (``unsigned_content``), and documents a reader could read
another header from (``malformed``), see ``signing.edxml.uncovered``: the
bytes travel on to the recipients as they are, so they must carry nothing
unsigned but the ``Signature`` itself.
Numbered steps match the comments in ``XmlDsigProfile.verify``.
"""

from __future__ import annotations

import binascii
import copy
import json
from typing import Any, ClassVar

from cryptography import x509
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidDigest, SignXMLException
from signxml.verifier import SignatureConfiguration, VerifyResult, XMLVerifier

from schemas.reasons import Reason
from signing.certs import ParsedCert, parse_der
from signing.edxml.errors import EdxmlError, EdxmlUnsignedContentError
from signing.edxml.mapping import canonical_header_bytes
from signing.edxml.model import DS_NS, EDXML_NS, SignatureNamespace
from signing.edxml.parse import (
    MAX_DEPTH,
    local_name,
    namespace,
    outer_signatures,
    parse_tree,
    read_document,
    secure_parser,
    signature_namespace,
)
from signing.edxml.uncovered import refuse_uncovered
from signing.errors import SignatureCheckError
from signing.profiles.base import ProfileResult, strict_b64decode

#: Signature methods accepted without conditions.
SIGNATURE_METHODS = frozenset(
    {
        SignatureMethod.RSA_SHA256,
        SignatureMethod.RSA_SHA384,
        SignatureMethod.RSA_SHA512,
        SignatureMethod.ECDSA_SHA256,
        SignatureMethod.ECDSA_SHA384,
        SignatureMethod.ECDSA_SHA512,
    }
)
DIGESTS = frozenset({DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512})
#: Accepted only with ``allow_sha1``, and then as a ``weak_algorithm`` warning.
SHA1_METHODS = frozenset({SignatureMethod.RSA_SHA1})
SHA1_DIGESTS = frozenset({DigestAlgorithm.SHA1})
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
#: Short names of the canonicalisations, for the report.
C14N_NAMES = {
    CanonicalizationMethod.CANONICAL_XML_1_0.value: "c14n",
    CanonicalizationMethod.CANONICAL_XML_1_0_WITH_COMMENTS.value: "c14n-with-comments",
    CanonicalizationMethod.CANONICAL_XML_1_1.value: "c14n11",
    CanonicalizationMethod.CANONICAL_XML_1_1_WITH_COMMENTS.value: "c14n11-with-comments",
    CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0.value: "exc-c14n",
    CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0_WITH_COMMENTS.value: (
        "exc-c14n-with-comments"
    ),
}
#: Largest value accepted (base64 characters); the hub's package limit is lower.
MAX_VALUE_CHARS = 64 * 1024 * 1024


class _Verifier(XMLVerifier):
    """signxml's verifier, canonicalising a non-root element inclusively on a standalone copy.

    lxml 6.1 (libxml2 2.14) writes a spurious ``xmlns=""`` on the grandchildren
    of a non-root element in default namespace when it canonicalises it
    inclusively, so ``SignedInfo`` under ``CanonicalizationMethod``
    ``REC-xml-c14n-20010315`` — what deployed edXML systems use — never
    verified. A copy whose root is that element carries every in-scope
    namespace declaration and canonicalises correctly. (Inherited ``xml:*``
    attributes are not copied; edXML signatures carry none.)
    """

    def _c14n(
        self,
        nodes: Any,
        algorithm: CanonicalizationMethod,
        inclusive_ns_prefixes: Any = None,
    ) -> bytes:
        exclusive = algorithm.value.startswith(_EXC_C14N)
        if not exclusive and not isinstance(nodes, list) and nodes.getparent() is not None:
            nodes = etree.fromstring(etree.tostring(nodes), parser=secure_parser())
        out: bytes = super()._c14n(nodes, algorithm, inclusive_ns_prefixes)
        return out


def _fail(message: str, reason: Reason = Reason.BAD_SIGNATURE) -> SignatureCheckError:
    return SignatureCheckError(reason, message)


def _ds(el: Any, name: str) -> Any:
    return el.find(f"{{{DS_NS}}}{name}")


def _fragment(uri: str) -> str:
    """``rsa-sha256`` for ``…xmldsig-more#rsa-sha256``; canonicalisations by short name."""
    return C14N_NAMES.get(uri) or uri.rsplit("#", 1)[-1] or uri


def _rehome(sig: Any) -> Any:
    """Replace an edXML-namespace ``Signature`` by the same element in the XML-DSig namespace."""
    base = sum(1 for _ in sig.iterancestors())
    if any(sum(1 for _ in el.iterancestors()) - base > MAX_DEPTH for el in sig.iter()):
        raise _fail(f"Signature nests elements deeper than {MAX_DEPTH} levels")
    new = etree.Element(f"{{{DS_NS}}}Signature", attrib=dict(sig.attrib), nsmap={None: DS_NS})

    def fill(src: Any, dst: Any) -> None:
        dst.text = src.text
        for c in src:
            if not isinstance(c.tag, str):
                dst.append(copy.copy(c))
                continue
            tag = f"{{{DS_NS}}}{local_name(c)}" if namespace(c) in (EDXML_NS, None) else c.tag
            fill(c, etree.SubElement(dst, tag, attrib=dict(c.attrib)))
            dst[-1].tail = c.tail

    fill(sig, new)
    new.tail = sig.tail
    sig.getparent().replace(sig, new)
    return new


def _signer(sig: Any) -> tuple[ParsedCert, list[ParsedCert]]:
    """Step 4: the certificates of ``KeyInfo/X509Data``; the leaf is the first non-CA one."""
    key_info = _ds(sig, "KeyInfo")
    texts = [] if key_info is None else key_info.findall(f".//{{{DS_NS}}}X509Certificate")
    if not texts:
        raise _fail("KeyInfo carries no X509Certificate; the signer certificate must be included")
    try:
        certs = [
            parse_der(strict_b64decode("".join((t.text or "").split()), urlsafe=False))
            for t in texts
        ]
    except ValueError as exc:
        raise _fail(f"X509Certificate unreadable: {exc}") from None
    leaf = next((c for c in certs if not _is_ca(c)), certs[0])
    extra = {c.sha256: c for c in certs if c.sha256 != leaf.sha256}
    return leaf, list(extra.values())


def _is_ca(cert: ParsedCert) -> bool:
    try:
        return bool(cert.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    """Where two JSON values first differ, as a dotted path (``(root)`` for the top)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in [*a, *(k for k in b if k not in a)]:
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), f"{path}.{k}" if path else k)
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
    return path or "(root)"


class XmlDsigProfile:
    """Verifier for the ``xmldsig`` profile (edXML documents signed by their agency)."""

    name: ClassVar[str] = "xmldsig"

    def __init__(self, *, allow_sha1: bool = False) -> None:
        self.allow_sha1 = allow_sha1
        self.methods = SIGNATURE_METHODS | (SHA1_METHODS if allow_sha1 else frozenset())
        self.digests = DIGESTS | (SHA1_DIGESTS if allow_sha1 else frozenset())

    def verify(self, value: str, header_bytes: bytes) -> ProfileResult:
        """Decode, parse, find the signer, check algorithms, maths, then the header binding."""
        # Step 1: canonical standard base64 of the edXML bytes.
        if len(value) > MAX_VALUE_CHARS:
            raise _fail(f"xmldsig value longer than {MAX_VALUE_CHARS} characters")
        try:
            document = strict_b64decode(value, urlsafe=False)
        except (ValueError, binascii.Error) as exc:
            raise _fail(f"xmldsig value is not canonical base64: {exc}") from None
        # Step 2: well-formed XML, no DTD, no entities.
        try:
            root = parse_tree(document)
        except EdxmlError as exc:
            raise _fail(exc.message, Reason.MALFORMED) from None
        # Step 3: exactly one Signature, in the XML-DSig or the edXML namespace. One
        # nested inside it is not a second signature but content of the first (step 6).
        signatures = outer_signatures(root)
        if len(signatures) != 1:
            raise _fail(
                f"the edXML carries {len(signatures)} Signature elements; exactly one expected"
            )
        where = signature_namespace(signatures[0])
        if where is SignatureNamespace.OTHER:
            raise _fail(f"Signature element in namespace {namespace(signatures[0])!r}")
        # Step 6 judges the bytes as they travel, so it looks before the move below.
        uncovered = self._uncovered(root, signatures[0])
        sig = _rehome(signatures[0]) if where is SignatureNamespace.EDXML else signatures[0]
        # Step 4: who signed.
        leaf, extra = _signer(sig)
        result = ProfileResult(algorithm="unknown", signer_cert=leaf, extra=extra)
        result.notes.append(
            "Signature element in the XML-DSig namespace"
            if where is SignatureNamespace.XMLDSIG
            else "Signature element in the edXML namespace (no xmlns of its own); verified "
            "after moving it into the XML-DSig namespace"
        )
        # Step 5: algorithms and the one Reference layout edXML uses.
        try:
            self._check_algorithms(sig, result)
        except SignatureCheckError as exc:
            result.problems.append(exc)
        if result.problems:
            return result
        # Step 6: nothing in the bytes but what the Reference covers and the Signature.
        if uncovered is not None:
            result.problems.append(uncovered)
            return result
        # Step 7: the Reference digest and the signature maths.
        try:
            signed = self._verify_maths(root, leaf)
        except SignatureCheckError as exc:
            result.problems.append(exc)
            return result
        # Step 8: the header is exactly the mapping of what was signed.
        try:
            expected = canonical_header_bytes(read_document(signed))
        except EdxmlError as exc:
            result.problems.append(
                _fail(f"the signed edXML does not map to a header: {exc.message}", Reason.MALFORMED)
            )
            return result
        if expected != header_bytes:
            result.problems.append(_fail(self._mismatch(header_bytes, expected)))
        return result

    @staticmethod
    def _uncovered(root: Any, sig: Any) -> SignatureCheckError | None:
        """Step 6: what the bytes carry beyond the signed content and the Signature, if anything."""
        try:
            refuse_uncovered(root, sig)
        except EdxmlUnsignedContentError as exc:
            return _fail(exc.message, Reason.UNSIGNED_CONTENT)
        except EdxmlError as exc:
            return _fail(exc.message, Reason.MALFORMED)
        return None

    def _check_algorithms(self, sig: Any, result: ProfileResult) -> None:
        signed_info = _ds(sig, "SignedInfo")
        if signed_info is None:
            raise _fail("Signature has no SignedInfo")
        c14n = _ds(signed_info, "CanonicalizationMethod")
        method = _ds(signed_info, "SignatureMethod")
        refs = signed_info.findall(f"{{{DS_NS}}}Reference")
        if c14n is None or method is None or len(refs) != 1:
            raise _fail(
                "SignedInfo needs CanonicalizationMethod, SignatureMethod and one Reference"
            )
        ref = refs[0]
        if ref.get("URI") != "":
            raise _fail(f'Reference URI must be "" (the whole document), found {ref.get("URI")!r}')
        transforms = [t.get("Algorithm") for t in ref.iterfind(f".//{{{DS_NS}}}Transform")]
        c14n_uris = {m.value for m in CanonicalizationMethod}
        if (
            not transforms
            or transforms[0] != ENVELOPED
            or len(transforms) > 2
            or (len(transforms) == 2 and transforms[1] not in c14n_uris)
        ):
            raise _fail(
                "Reference transforms must be enveloped-signature, then optionally one "
                f"canonicalization; found {', '.join(map(str, transforms)) or 'none'}"
            )
        if c14n.get("Algorithm") not in c14n_uris:
            raise _fail(f"unknown CanonicalizationMethod {c14n.get('Algorithm')!r}")
        digest_el = _ds(ref, "DigestMethod")
        method_uri = str(method.get("Algorithm"))
        digest_uri = str(digest_el.get("Algorithm") if digest_el is not None else "")
        result.algorithm = _fragment(method_uri)
        result.notes.append(
            f"digest {_fragment(digest_uri)}; SignedInfo canonicalization "
            f"{_fragment(str(c14n.get('Algorithm')))}; transforms "
            + ", ".join(_fragment(str(t)) for t in transforms)
        )
        for uri, allowed, weak, what in (
            (method_uri, self.methods, SHA1_METHODS, "SignatureMethod"),
            (digest_uri, self.digests, SHA1_DIGESTS, "DigestMethod"),
        ):
            if uri in {m.value for m in allowed}:
                if uri in {m.value for m in weak}:
                    result.warnings.append(
                        _fail(
                            f"{what} {_fragment(uri)} is SHA-1: accepted because SHA-1 is "
                            "allowed for xmldsig, but it is deprecated",
                            Reason.WEAK_ALGORITHM,
                        )
                    )
                continue
            hint = (
                " (allowed only with the SHA-1 setting)"
                if uri in {m.value for m in SHA1_METHODS | SHA1_DIGESTS}
                else ""
            )
            raise _fail(f"{what} {uri} not allowed{hint}", Reason.WEAK_ALGORITHM)

    def _verify_maths(self, root: Any, leaf: ParsedCert) -> Any:
        """Step 7 via signxml; returns the signed content as an element (Signature removed)."""
        config = SignatureConfiguration(
            require_x509=True,
            location=".//",
            expect_references=1,
            signature_methods=self.methods,
            digest_algorithms=self.digests,
            # Validity is the verifier's job (step 4b, at sent_at): a time inside
            # the certificate keeps signxml from judging it at "now".
            verification_time=leaf.not_before,
            default_reference_c14n_method=CanonicalizationMethod.CANONICAL_XML_1_0,
        )
        try:
            verified = _Verifier().verify(
                root, x509_cert=leaf.cert, parser=secure_parser(), expect_config=config
            )
            assert isinstance(verified, VerifyResult)  # noqa: S101 -- expect_references=1
        except InvalidDigest:
            raise _fail("the edXML was changed after signing (Reference digest differs)") from None
        except (SignXMLException, etree.LxmlError, ValueError, binascii.Error) as exc:
            raise _fail(f"XML signature does not verify: {exc}") from None
        if verified.signed_xml is not None:
            return verified.signed_xml
        return parse_tree(verified.signed_data)

    @staticmethod
    def _mismatch(header_bytes: bytes, expected: bytes) -> str:
        base = "the package header is not the canonical mapping of the signed edXML"
        try:
            where = _first_difference(json.loads(header_bytes), json.loads(expected))
        except (ValueError, UnicodeDecodeError):
            return base
        if where == "(root)":
            return f"{base} (same fields, different bytes)"
        return f"{base} (first difference: {where})"
