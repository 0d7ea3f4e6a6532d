"""Signed edXML bytes carry nothing their signature does not cover (``signing.edxml.uncovered``).

The hub hands recipients the agency's original bytes, so every attack here is
built on a signature someone else made — the xmlsec1-signed vectors of
tests/vectors/edxml/make_vectors.sh — and changed only where an enveloped
``URI=""`` signature does not look. ``xmlsec1 --verify`` still accepts most of
them (that is what makes them attacks); the hub must refuse every one, with
``unsigned_content``, or ``malformed`` for signed content readers could read
two ways.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, SignatureConstructionMethod
from signxml.signer import XMLSigner

from schemas.package import b64url_decode, parse_package
from schemas.reasons import Reason
from signing.edxml import canonical_header_bytes, edxml_package, parse_edxml
from signing.edxml.model import DS_NS
from signing.edxml.parse import parse_tree
from signing.pki import DemoPKI
from signing.signer import Signer
from signing.trust import TrustStore
from signing.verifier import Verifier, default_profiles
from tests._ci import unavailable

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "edxml"
ATTACKS = [c for c in json.loads((VECTORS / "manifest.json").read_text())["cases"] if "detail" in c]
#: The xmlsec1-signed document every Python-made attack starts from, and its package.
BASE = (VECTORS / "signed" / "document.edxml").read_bytes()
BASE_PACKAGE = parse_package((VECTORS / "cases" / "document.json").read_bytes()).package
SAMPLE = (VECTORS / "samples" / "document.edxml").read_bytes()
AT = datetime(2025, 6, 1, 10, tzinfo=UTC)  # when every vector is judged
A = "000.00.14.H49"  # the sample's sender
DS_OPEN = f'<Signature xmlns="{DS_NS}">'.encode()


def xmlsec1_verifies(document: bytes, tmp_path: Path) -> bool:
    """What the xmlsec1 command line says of ``document``, trusting the vectors' root, at AT."""
    tool = shutil.which("xmlsec1")
    if tool is None:
        unavailable("xmlsec1", "not installed (scripts/bootstrap.sh installs it)")
    path = tmp_path / "document.edxml"
    path.write_bytes(document)
    out = subprocess.run(
        [tool, "--verify", "--trusted-pem", str(VECTORS / "pki" / "root.pem"),
         "--verification-gmt-time", "2025-06-01 10:00:00", str(path)],
        capture_output=True, check=False, timeout=60,
    )  # fmt: skip
    return out.returncode == 0


def verify_vector_package(edxml: bytes) -> Any:
    """The report for the document vector's package carrying ``edxml`` instead."""
    sig = BASE_PACKAGE.signatures[0].model_copy(update={"value": base64.b64encode(edxml).decode()})
    raw = BASE_PACKAGE.model_copy(update={"signatures": [sig]}).to_bytes()
    trust = TrustStore.from_paths([VECTORS / "pki" / "root.pem"], [VECTORS / "pki" / "crl"])
    return Verifier(trust, profiles=default_profiles()).verify_bytes(raw, at=AT, now=AT)


# -- the attack vectors (files made by make_vectors.sh) ----------------------------------------


@pytest.mark.parametrize("case", ATTACKS, ids=[c["name"] for c in ATTACKS])
def test_attack_vector_refused_though_xmlsec1_verifies(
    case: dict[str, Any], tmp_path: Path
) -> None:
    """xmlsec1 answers as recorded (mostly: valid); the hub refuses, saying what is uncovered."""
    edxml = (VECTORS / case["edxml"]).read_bytes()
    report = verify_vector_package(edxml)
    assert report.reasons == [Reason.UNSIGNED_CONTENT], report.to_json()
    assert any(case["detail"] in d for d in report.signatures[0].details), report.to_json()
    # The header the hub would have derived is the real one: only the bytes lie.
    assert (
        canonical_header_bytes(parse_edxml(edxml))
        == parse_package((VECTORS / case["package"]).read_bytes()).header_bytes
    )
    if case["xmlsec1"] is not None:
        assert xmlsec1_verifies(edxml, tmp_path) is case["xmlsec1"]


def test_wrapped_header_is_what_a_first_match_reader_reads() -> None:
    """The point of the wrapping vector: the first MessageHeader in the file is the forgery."""
    edxml = (VECTORS / "signed" / "attack-wrapped-header.edxml").read_bytes()
    first = next(parse_tree(edxml).iter("{*}MessageHeader"))
    assert "Bãi bỏ" in "".join(first.itertext())
    assert verify_vector_package(edxml).reasons == [Reason.UNSIGNED_CONTENT]


# -- more hostile bytes around the xmlsec1 signature, made here ---------------------------------

Change = Callable[[bytes], bytes]


def _in_object(content: bytes) -> Change:
    wrapped = b"</KeyInfo><Object>%s</Object></Signature>" % content
    return lambda d: d.replace(b"</KeyInfo></Signature>", wrapped)


def _nested_signature(d: bytes) -> bytes:
    start = d.index(DS_OPEN)
    end = d.index(b"</Signature>") + len(b"</Signature>")
    return _in_object(d[start:end])(d)


NINE_UNUSED = b"".join(b' xmlns:n%d="urn:n:%d"' % (i, i) for i in range(9))


@pytest.mark.parametrize(
    ("change", "xmlsec1", "detail"),
    [
        pytest.param(
            lambda d: d + b"<!-- tail -->\n",
            True,
            "a comment <!--tail--> after the document element",
            id="comment_after_root",
        ),
        pytest.param(
            lambda d: d + b"<?xml-stylesheet href=x.xsl?>\n",
            False,
            "processing instruction <?xml-stylesheet href=x.xsl?> after",
            id="pi_after_root",
        ),
        pytest.param(
            _in_object(b"A" * (1 << 20)),
            True,
            "ds:Object inside Signature",
            id="one_megabyte_in_object",
        ),
        pytest.param(
            _nested_signature, True, "ds:Object inside Signature", id="second_signature_in_object"
        ),
        pytest.param(
            lambda d: d.replace(b"<KeyInfo>", "<KeyInfo><KeyName>Sở Nội vụ</KeyName>".encode()),
            True,
            "ds:KeyName inside Signature/…/KeyInfo",
            id="key_name",
        ),
        pytest.param(
            lambda d: d.replace(b"<KeyInfo>", b'<KeyInfo Note="approved">'),
            True,
            "attribute Note on Signature/…/KeyInfo",
            id="attribute_on_key_info",
        ),
        pytest.param(
            lambda d: d.replace(DS_OPEN, DS_OPEN[:-1] + b' Id="%s">' % (b"i" * 500)),
            True,
            "Id of 500 characters on Signature",
            id="long_id",
        ),
        pytest.param(
            lambda d: d.replace(b"</SignatureValue>", "</SignatureValue>Đã ký".encode()),
            True,
            "text 'Đã ký' in Signature",
            id="text_in_signature",
        ),
        pytest.param(
            lambda d: d.replace(b"==</SignatureValue>", b"==QUJDRA</SignatureValue>"),
            False,
            "SignatureValue is not base64",
            id="data_after_signature_padding",
        ),
        pytest.param(
            lambda d: d.replace(b"<edXML ", b"<edXML" + NINE_UNUSED + b" ", 1),
            True,
            "10 namespace declarations are used by no element",
            id="many_unused_namespaces",
        ),
    ],
)
def test_hostile_bytes_around_an_xmlsec1_signature(
    change: Change, xmlsec1: bool, detail: str, tmp_path: Path
) -> None:
    edxml = change(BASE)
    assert edxml != BASE
    report = verify_vector_package(edxml)
    assert report.reasons == [Reason.UNSIGNED_CONTENT], report.to_json()
    assert any(detail in d for d in report.signatures[0].details), report.signatures[0].details
    assert xmlsec1_verifies(edxml, tmp_path) is xmlsec1


# -- signed content a reader could read another way (malformed) ---------------------------------


@pytest.fixture(scope="module")
def sender(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoPKI, Signer]:
    """The sample's sender in a demo PKI (RSA, as edXML systems)."""
    pki = DemoPKI.init(
        tmp_path_factory.mktemp("uncovered") / "pki", not_before=datetime(2025, 1, 1, tzinfo=UTC)
    )
    issued = pki.issue(A, "Sở Nội vụ", key_type="rsa", not_before=datetime(2025, 1, 1, tzinfo=UTC))
    return pki, Signer.from_files(issued.key, issued.chain)


def _sign_as_is(signer: Signer, document: bytes) -> bytes:
    """An enveloped signature over ``document`` exactly as given (sign_edxml would tidy it)."""
    root = parse_tree(document)
    header = next(root.iter("{*}edXMLHeader"))
    etree.SubElement(header, f"{{{DS_NS}}}Signature", nsmap={"ds": DS_NS}, Id="placeholder")
    xml_signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm="rsa-sha256",
        digest_algorithm="sha256",
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    signed = xml_signer.sign(root, key=signer.key, cert=signer.chain)
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("old", "new", "detail"),
    [
        pytest.param(
            "Ban hành Kế hoạch",
            "Ban hành<?br?> Kế hoạch",
            "a processing instruction <?br?> inside Subject",
            id="pi_in_subject",
        ),
        pytest.param(
            "<edXML:Priority>1</edXML:Priority>",
            "<edXML:Priority>1</edXML:Priority><edXML:MessageHeader>"
            "<edXML:Subject>Bãi bỏ</edXML:Subject></edXML:MessageHeader>",
            "2 MessageHeader or Status elements",
            id="second_header_nested",
        ),
        pytest.param(
            "</Attachment>\n    <Attachment>",
            "</Attachment>\n  </AttachmentEncoded>\n  <AttachmentEncoded>\n    <Attachment>",
            "2 AttachmentEncoded elements",
            id="two_attachment_blocks",
        ),
    ],
)
def test_signed_content_with_two_readings_is_malformed(
    sender: tuple[DemoPKI, Signer], old: str, new: str, detail: str
) -> None:
    document = SAMPLE.replace(old.encode(), new.encode())
    assert document != SAMPLE, old
    report = _verify_against_clean(sender, document)
    assert report.reasons == [Reason.MALFORMED], report.to_json()
    assert any(detail in d for d in report.signatures[0].details), report.signatures[0].details


def test_header_outside_edxml_header_is_malformed(sender: tuple[DemoPKI, Signer]) -> None:
    """The one MessageHeader moved into edXMLBody: the hub finds it, readers look elsewhere."""
    root = parse_tree(SAMPLE)
    next(root.iter("{*}edXMLBody")).insert(0, next(root.iter("{*}MessageHeader")))
    report = _verify_against_clean(sender, etree.tostring(root, encoding="UTF-8"))
    assert report.reasons == [Reason.MALFORMED], report.to_json()
    detail = "MessageHeader must be a child of edXMLHeader, found under edXMLBody"
    assert any(detail in d for d in report.signatures[0].details), report.signatures[0].details


def _verify_against_clean(sender: tuple[DemoPKI, Signer], document: bytes) -> Any:
    """``document`` signed as is, in the package of the clean sample (same header, attachments)."""
    pki, signer = sender
    signed = _sign_as_is(signer, document)
    pkg = edxml_package(_sign_as_is(signer, SAMPLE))
    # The header maps the same, so only the new check can refuse it.
    assert canonical_header_bytes(parse_edxml(signed)) == b64url_decode(pkg.header)
    sig = pkg.signatures[0].model_copy(update={"value": base64.b64encode(signed).decode()})
    raw = pkg.model_copy(update={"signatures": [sig]}).to_bytes()
    trust = TrustStore.from_paths([pki.root_cert], [pki.crl_dir])
    return Verifier(trust).verify_bytes(raw, at=AT, now=datetime.now(UTC))
