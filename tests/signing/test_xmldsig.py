"""The ``xmldsig`` profile: xmlsec1-made vectors, signxml-made signatures, refusals.

tests/vectors/edxml/make_vectors.sh signs every vector with the ``xmlsec1``
command line and writes each package header with ``printf`` from the mapping
table of docs/edxml.md, so these tests check the profile *and* the mapping
against implementations that share no code with ours.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from signxml.signer import XMLSigner

from schemas.package import Package, b64url_decode, b64url_encode, parse_package
from schemas.reasons import Reason
from signing.edxml import canonical_header_bytes, edxml_package, parse_edxml, sign_edxml
from signing.edxml.model import DS_NS
from signing.edxml.parse import find_signatures, parse_tree
from signing.pki import DemoPKI
from signing.profiles.xmldsig import XmlDsigProfile
from signing.signer import Signer
from signing.trust import TrustStore
from signing.verifier import PROFILE_BUG, Verifier, default_profiles

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "edxml"
MANIFEST = json.loads((VECTORS / "manifest.json").read_text())
CASES: list[dict[str, Any]] = MANIFEST["cases"]
SAMPLE = (VECTORS / "samples" / "document.edxml").read_bytes()
AT = datetime(2025, 6, 1, 10, tzinfo=UTC)  # the samples' TraceHeader time, 17:00 in Hà Nội
A, B, C = "000.00.14.H49", "000.00.15.H49", "000.00.16.H49"  # the samples' agencies


# -- the xmlsec1 vectors ---------------------------------------------------------------------


def _vector_verifier(case: dict[str, Any]) -> Verifier:
    trust = TrustStore.from_paths(
        [VECTORS / p for p in case["anchors"]], [VECTORS / p for p in case["crls"]]
    )
    return Verifier(trust, profiles=default_profiles(allow_xmldsig_sha1=case["allow_sha1"]))


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_xmlsec1_vector(case: dict[str, Any]) -> None:
    """Exact verdict, reasons and warnings; algorithm and Signature namespace as stated."""
    raw = (VECTORS / case["package"]).read_bytes()
    report = _vector_verifier(case).verify_bytes(
        raw, at=datetime.fromisoformat(case["at"]), now=datetime.fromisoformat(case["now"])
    )
    got = {
        "verdict": report.verdict,
        "reasons": [str(r) for r in report.reasons],
        "warnings": [str(w) for w in report.warnings],
    }
    want = {k: case[k] for k in ("verdict", "reasons", "warnings")}
    assert got == want, report.to_json()
    for sig in report.signatures:
        assert not any(d.startswith(PROFILE_BUG) for d in sig.details), sig.details
    expected = case["signature"]
    if expected is None:
        return
    (sig,) = report.signatures
    assert sig.valid is expected["valid"], sig.details
    assert sig.algorithm == expected["algorithm"]
    assert sig.warnings == report.warnings
    ns_note = {
        "xmldsig": "Signature element in the XML-DSig namespace",
        "edxml": "Signature element in the edXML namespace",
    }[expected["namespace"]]
    assert any(d.startswith(ns_note) for d in sig.details), sig.details


@pytest.mark.parametrize(
    "case", [c for c in CASES if c["header_is_mapping"]], ids=lambda c: c["name"]
)
def test_printf_header_is_our_mapping(case: dict[str, Any]) -> None:
    """The header the script wrote from docs/edxml.md is byte for byte what the code derives."""
    header_bytes = parse_package((VECTORS / case["package"]).read_bytes()).header_bytes
    derived = canonical_header_bytes(parse_edxml((VECTORS / case["edxml"]).read_bytes()))
    assert derived == header_bytes


def test_vectors_cover_the_issue() -> None:
    """Accepted xmlsec1 signatures in both namespaces, SHA-1 both ways, every tampering,
    and the attacks on what the signature does not cover (tests/signing/test_edxml_uncovered.py)."""
    names = {c["name"] for c in CASES}
    assert {
        "document", "document_edxml_namespace", "document_c14n_inclusive", "status",
        "status_variant", "document_rsa_sha1", "document_rsa_sha1_allowed", "tampered_subject",
        "tampered_attachment_xml", "tampered_signature", "tampered_header_json",
        "tampered_package_attachment", "undeclared_prefix", "attack_wrapped_header",
        "attack_wrapped_header_edxml_namespace", "attack_comment_in_subject",
        "attack_comment_before_root", "attack_pi_before_root", "attack_object_attachment",
        "attack_keyinfo_subject_name", "attack_namespace_blob",
    } <= names  # fmt: skip
    covered = {r for c in CASES for r in c["reasons"] + c["warnings"]}
    assert {"bad_signature", "weak_algorithm", "digest_mismatch", "malformed"} <= covered
    assert {"sender_mismatch", "unsigned_content"} <= covered
    # An attack is one only if an independent verifier accepts the bytes: most must be.
    assert sum(c.get("xmlsec1") is True for c in CASES) >= 5


def test_sha1_warning_reaches_the_report_json() -> None:
    """Allowed SHA-1 is ok, but never silently: ``warnings`` in the report and a sentence."""
    case = next(c for c in CASES if c["name"] == "document_rsa_sha1_allowed")
    report = _vector_verifier(case).verify_bytes(
        (VECTORS / case["package"]).read_bytes(), at=AT, now=AT
    )
    data = json.loads(report.to_json())
    assert data["verdict"] == "ok" and data["reasons"] == []
    assert data["warnings"] == ["weak_algorithm"]
    assert data["signatures"][0]["warnings"] == ["weak_algorithm"]
    assert any("SHA-1" in d for d in data["signatures"][0]["details"])


def test_not_well_formed_is_malformed_with_line_and_column() -> None:
    case = next(c for c in CASES if c["name"] == "undeclared_prefix")
    report = _vector_verifier(case).verify_bytes(
        (VECTORS / case["package"]).read_bytes(), at=AT, now=AT
    )
    assert report.reasons == [Reason.MALFORMED]
    (detail,) = report.signatures[0].details
    assert "Namespace prefix xlink for href on Reference is not defined" in detail
    assert "(line " in detail and ", column " in detail


# -- signatures made here with signxml ---------------------------------------------------------


@pytest.fixture(scope="module")
def xpki(tmp_path_factory: pytest.TempPathFactory) -> DemoPKI:
    """A PKI for the samples' agencies: A RSA (as edXML systems), B RSA, C EC P-256."""
    pki = DemoPKI.init(
        tmp_path_factory.mktemp("xmldsig") / "pki", not_before=datetime(2025, 1, 1, tzinfo=UTC)
    )
    for code, name, kind in ((A, "Sở Nội vụ", "rsa"), (B, "Sở Tư pháp", "rsa"), (C, "Sở TC", "ec")):
        pki.issue(code, name, key_type=kind, not_before=datetime(2025, 1, 1, tzinfo=UTC))
    return pki


def _signer(pki: DemoPKI, code: str, profile: str = "jws") -> Signer:
    issued = pki.agency(code)
    return Signer.from_files(issued.key, issued.chain, profile=profile)


def _verify(pki: DemoPKI, raw: bytes, *, allow_sha1: bool = False) -> Any:
    trust = TrustStore.from_paths([pki.root_cert], [pki.crl_dir])
    verifier = Verifier(trust, profiles=default_profiles(allow_xmldsig_sha1=allow_sha1))
    return verifier.verify_bytes(raw, at=AT, now=datetime.now(UTC))


def _with_signature(pkg: Package, value: bytes) -> bytes:
    sig = pkg.signatures[0].model_copy(update={"value": base64.b64encode(value).decode()})
    return pkg.model_copy(update={"signatures": [sig, *pkg.signatures[1:]]}).to_bytes()


def test_signxml_rsa_and_ecdsa_signatures_verify(xpki: DemoPKI, signed_sample: bytes) -> None:
    signed = signed_sample
    report = _verify(xpki, edxml_package(signed).to_bytes())
    assert report.ok, report.to_json()
    assert report.signatures[0].algorithm == "rsa-sha256"
    assert report.signatures[0].signer.organization_identifier == A
    # The same document from C's EC key: ecdsa-sha256, sender changed in the XML first.
    doc_c = SAMPLE.replace(A.encode(), C.encode())
    report = _verify(xpki, edxml_package(_signer(xpki, C).sign_edxml(doc_c)).to_bytes())
    assert report.ok, report.to_json()
    assert report.signatures[0].algorithm == "ecdsa-sha256"


def test_cosignature_over_the_derived_header(xpki: DemoPKI) -> None:
    """Another agency countersigns the derived header bytes (jws): both verify, sender binds."""
    signed = _signer(xpki, A).sign_edxml(SAMPLE)
    pkg = edxml_package(signed, cosign=[_signer(xpki, B).sign])
    report = _verify(xpki, pkg.to_bytes())
    assert report.ok, report.to_json()
    assert [s.profile for s in report.signatures] == ["xmldsig", "jws"]


def test_header_edit_names_the_field(xpki: DemoPKI) -> None:
    pkg = edxml_package(_signer(xpki, A).sign_edxml(SAMPLE))
    header = json.loads(b64url_decode(pkg.header))
    header["to"] = header["to"][:1]  # drop a recipient the signed XML names
    edited = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode()
    raw = pkg.model_copy(update={"header": b64url_encode(edited)}).to_bytes()
    report = _verify(xpki, raw)
    assert report.reasons == [Reason.BAD_SIGNATURE]
    assert any("first difference: to" in d for d in report.signatures[0].details)
    # Same fields, other bytes (whitespace): still not the canonical mapping.
    spaced = json.dumps(json.loads(b64url_decode(pkg.header)), ensure_ascii=False).encode()
    report = _verify(xpki, pkg.model_copy(update={"header": b64url_encode(spaced)}).to_bytes())
    assert report.reasons == [Reason.BAD_SIGNATURE]
    assert any("same fields, different bytes" in d for d in report.signatures[0].details)


def _edit(signed: bytes, change: Any) -> bytes:
    root = parse_tree(signed)
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("name", "change", "reason", "detail"),
    [
        (
            "reference_uri",
            lambda r: r.find(f".//{{{DS_NS}}}Reference").set("URI", "#x"),
            Reason.BAD_SIGNATURE,
            'Reference URI must be ""',
        ),
        (
            "no_enveloped_transform",
            lambda r: r.find(f".//{{{DS_NS}}}Transform").set(
                "Algorithm", "http://www.w3.org/2001/10/xml-exc-c14n#"
            ),
            Reason.BAD_SIGNATURE,
            "enveloped-signature",
        ),
        (
            "two_signatures",
            lambda r: r.append(etree.fromstring(etree.tostring(find_signatures(r)[0]))),
            Reason.BAD_SIGNATURE,
            "2 Signature elements",
        ),
        (
            "dsa_method",
            lambda r: r.find(f".//{{{DS_NS}}}SignatureMethod").set(
                "Algorithm", "http://www.w3.org/2000/09/xmldsig#dsa-sha1"
            ),
            Reason.WEAK_ALGORITHM,
            "not allowed",
        ),
        (
            "no_certificate",
            lambda r: [x.getparent().remove(x) for x in r.iter(f"{{{DS_NS}}}X509Certificate")],
            Reason.BAD_SIGNATURE,
            "KeyInfo carries no X509Certificate",
        ),
    ],
)
def test_refused_signature_layouts(
    xpki: DemoPKI, name: str, change: Any, reason: Reason, detail: str
) -> None:
    signed = _signer(xpki, A).sign_edxml(SAMPLE)
    pkg = edxml_package(signed)
    report = _verify(xpki, _with_signature(pkg, _edit(signed, change)))
    assert reason in report.reasons, (name, report.to_json())
    assert any(detail in d for d in report.signatures[0].details), report.signatures[0].details


def test_dtd_and_garbage_values(xpki: DemoPKI) -> None:
    pkg = edxml_package(_signer(xpki, A).sign_edxml(SAMPLE))
    bomb = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>'
    report = _verify(xpki, _with_signature(pkg, bomb))
    assert report.reasons == [Reason.MALFORMED]
    assert "DOCTYPE" in report.signatures[0].details[0]
    sig = pkg.signatures[0].model_copy(update={"value": "not base64!"})
    report = _verify(xpki, pkg.model_copy(update={"signatures": [sig]}).to_bytes())
    assert report.reasons == [Reason.BAD_SIGNATURE]


class _Sha1Signer(XMLSigner):
    """signxml refuses to make SHA-1 signatures; deployed systems still do."""

    def check_deprecated_methods(self) -> None:
        return None


def test_sha1_made_by_signxml_is_refused_then_warned(xpki: DemoPKI) -> None:
    root = parse_tree(SAMPLE)
    header = next(el for el in root.iter() if etree.QName(el).localname == "edXMLHeader")
    etree.SubElement(header, f"{{{DS_NS}}}Signature", nsmap={"ds": DS_NS}, Id="placeholder")
    issued = xpki.agency(A)
    signer = _Sha1Signer(signature_algorithm="rsa-sha1", digest_algorithm="sha1")
    key = Signer.from_files(issued.key, issued.chain)
    signed = etree.tostring(signer.sign(root, key=key.key, cert=key.chain))
    raw = edxml_package(signed).to_bytes()
    refused = _verify(xpki, raw)
    assert refused.reasons == [Reason.WEAK_ALGORITHM]
    assert "allowed only with the SHA-1 setting" in refused.signatures[0].details[0]
    allowed = _verify(xpki, raw, allow_sha1=True)
    assert allowed.ok and allowed.warnings == [Reason.WEAK_ALGORITHM]


def test_profile_alone_verifies_the_original_bytes() -> None:
    """What an auditor's bundle check does: the profile over the logged header and value."""
    pkg = parse_package((VECTORS / "cases" / "document.json").read_bytes())
    result = XmlDsigProfile().verify(pkg.package.signatures[0].value, pkg.header_bytes)
    assert not result.problems and not result.warnings
    assert result.signer_cert.organization_identifier == A
    assert len(result.extra) == 1  # the issuing CA from X509Data


def test_sign_edxml_refuses_a_signed_document(xpki: DemoPKI) -> None:
    signed = _signer(xpki, A).sign_edxml(SAMPLE)
    issued = xpki.agency(A)
    key = Signer.from_files(issued.key, issued.chain)
    with pytest.raises(Exception, match="already signed"):
        sign_edxml(signed, key.key, key.chain)


@pytest.fixture(scope="module")
def signed_sample(xpki: DemoPKI) -> bytes:
    """The rich sample signed by A (signxml, RSA-SHA256)."""
    return _signer(xpki, A).sign_edxml(SAMPLE)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_documents_never_crash_the_profile(
    xpki: DemoPKI, signed_sample: bytes, data: st.DataObject
) -> None:
    """Any byte of a signed edXML changed: a verdict with reasons, never a profile bug.

    Some changes are invisible to canonical XML (whitespace between attributes,
    a line break inside a base64 value); those may verify, but then the document
    still maps to exactly the header that was signed.
    """
    pos = data.draw(st.integers(0, len(signed_sample) - 1))
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != signed_sample[pos]))
    mutated = signed_sample[:pos] + bytes([byte]) + signed_sample[pos + 1 :]
    pkg = edxml_package(signed_sample)
    report = _verify(xpki, _with_signature(pkg, mutated))
    for sig in report.signatures:
        assert not any(d.startswith(PROFILE_BUG) for d in sig.details), sig.details
    if report.ok:
        assert canonical_header_bytes(parse_edxml(mutated)) == b64url_decode(pkg.header)


def test_deep_signature_in_edxml_namespace_is_refused(xpki: DemoPKI, signed_sample: bytes) -> None:
    pkg = edxml_package(signed_sample)
    deep = b"<x>" * 1500 + b"</x>" * 1500  # under libxml2's 2048, over Python's 1000
    edited = signed_sample.replace(b'<ds:Signature xmlns:ds="%s">' % DS_NS.encode(), b"<Signature>")
    edited = edited.replace(b"ds:", b"").replace(b"</Signature>", deep + b"</Signature>")
    report = _verify(xpki, _with_signature(pkg, edited))
    assert report.reasons == [Reason.BAD_SIGNATURE]
    assert "deeper than 64" in report.signatures[0].details[0]
