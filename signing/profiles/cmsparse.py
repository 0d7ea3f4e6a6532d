"""Reading a CMS SignedData (RFC 5652) down to the fields the ``cms`` profile checks.

Two readers produce the same ``SignedFields``:

* a strict DER walker — the fast path for what ``openssl cms -outform DER``
  writes; it only splits the structure into byte ranges;
* asn1crypto's ``cms.ContentInfo`` — the reference, used for anything the
  walker does not accept (BER indefinite lengths from streaming signers, and
  garbage, which asn1crypto then rejects with its own message).

Decoding a whole SignedData with asn1crypto costs several times the signature
check; the walker costs a few µs, and the parts that need real ASN.1 semantics
(algorithm identifiers, the signer identifier) are decoded with asn1crypto
once per distinct value by the profile. The test suite runs every vector
through both readers and requires identical output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from asn1crypto import cms as acms
from asn1crypto import core

# DER tag bytes used below.
_INTEGER, _OCTET_STRING, _OID, _SEQUENCE, _SET = 0x02, 0x04, 0x06, 0x30, 0x31
_CTX0_CONS, _CTX1_CONS, _CTX0_PRIM = 0xA0, 0xA1, 0x80

#: Content of the OBJECT IDENTIFIERs the profile compares (DER, without tag and length).
OID_SIGNED_DATA = bytes.fromhex("2a864886f70d010702")  # 1.2.840.113549.1.7.2
OID_DATA = bytes.fromhex("2a864886f70d010701")  # 1.2.840.113549.1.7.1
OID_CONTENT_TYPE = bytes.fromhex("2a864886f70d010903")  # 1.2.840.113549.1.9.3
OID_MESSAGE_DIGEST = bytes.fromhex("2a864886f70d010904")  # 1.2.840.113549.1.9.4
OID_SIGNING_TIME = bytes.fromhex("2a864886f70d010905")  # 1.2.840.113549.1.9.5


class CmsFormatError(ValueError):
    """The value is not a SignedData of the expected shape; the message says where."""


@dataclass(frozen=True, slots=True)
class SignedFields:
    """The parts of a one-signer detached SignedData, as DER byte strings."""

    sid: bytes  # SignerIdentifier: SEQUENCE (issuerAndSerialNumber) or [0] (subjectKeyIdentifier)
    digest_algorithm: bytes  # AlgorithmIdentifier
    signature_algorithm: bytes  # AlgorithmIdentifier
    certificates: tuple[bytes, ...]  # each an X.509 Certificate
    signature: bytes  # the signature value (OCTET STRING contents)
    signed_attrs: bytes | None = None  # the attributes re-tagged as SET OF, as signed
    #: attribute type OID (content bytes) → DER of each value
    attrs: dict[bytes, list[bytes]] = field(default_factory=dict)


class _NotDer(Exception):
    """The walker does not accept this input; the asn1crypto reader decides."""


def _tlv(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, contents start, contents end) of the DER element at ``pos``."""
    if pos + 2 > end:
        raise _NotDer("truncated")
    tag, first = data[pos], data[pos + 1]
    if tag & 0x1F == 0x1F:
        raise _NotDer("high tag number")
    if first < 0x80:
        start, length = pos + 2, first
    elif first == 0x81 and pos + 3 <= end:
        start, length = pos + 3, data[pos + 2]
        if length < 0x80:
            raise _NotDer("non-minimal length")
    elif first == 0x82 and pos + 4 <= end:
        start, length = pos + 4, (data[pos + 2] << 8) | data[pos + 3]
        if length < 0x100:
            raise _NotDer("non-minimal length")
    else:
        # 0x80 is BER's indefinite length; nothing in a package needs more than 64 KiB.
        raise _NotDer("not a short DER length")
    if start + length > end:
        raise _NotDer("truncated")
    return tag, start, start + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, contents start, contents end) of each element in a range."""
    out = []
    pos = start
    while pos < end:
        tag, cstart, cend = _tlv(data, pos, end)
        out.append((tag, pos, cstart, cend))
        pos = cend
    return out


def _expect(items: list[tuple[int, int, int, int]], tags: tuple[int, ...]) -> None:
    if tuple(t for t, *_ in items) != tags:
        raise _NotDer(f"unexpected layout {[hex(t) for t, *_ in items]}")


def _walk(der: bytes) -> SignedFields:
    tag, start, end = _tlv(der, 0, len(der))
    if tag != _SEQUENCE or end != len(der):
        raise _NotDer("ContentInfo")
    info = _children(der, start, end)
    _expect(info, (_OID, _CTX0_CONS))
    if der[info[0][2] : info[0][3]] != OID_SIGNED_DATA:
        raise CmsFormatError("CMS content type is not signedData")
    inner = _children(der, info[1][2], info[1][3])
    _expect(inner, (_SEQUENCE,))
    sd = _children(der, inner[0][2], inner[0][3])
    tags = tuple(t for t, *_ in sd)
    if tags not in (
        (_INTEGER, _SET, _SEQUENCE, _CTX0_CONS, _SET),
        (_INTEGER, _SET, _SEQUENCE, _CTX0_CONS, _CTX1_CONS, _SET),
        (_INTEGER, _SET, _SEQUENCE, _SET),
    ):
        raise _NotDer("SignedData layout")
    encap = _children(der, sd[2][2], sd[2][3])
    if not encap or encap[0][0] != _OID or der[encap[0][2] : encap[0][3]] != OID_DATA:
        raise CmsFormatError("CMS eContentType is not id-data")
    if len(encap) != 1:
        raise CmsFormatError("CMS signature must be detached (it encapsulates content)")
    certs: tuple[bytes, ...] = ()
    if sd[3][0] == _CTX0_CONS:
        certs = tuple(
            der[pos:cend]
            for t, pos, _, cend in _children(der, sd[3][2], sd[3][3])
            if t == _SEQUENCE  # other CertificateChoices (attribute certificates) are skipped
        )
    infos = _children(der, sd[-1][2], sd[-1][3])
    if len(infos) != 1:
        raise CmsFormatError(
            f"CMS value has {len(infos)} SignerInfos; put each signer in its own signature entry"
        )
    si = _children(der, infos[0][2], infos[0][3])
    tags = tuple(t for t, *_ in si)
    heads = ((_INTEGER, _SEQUENCE, _SEQUENCE), (_INTEGER, _CTX0_PRIM, _SEQUENCE))
    if len(tags) < 5 or tags[:3] not in heads:
        raise _NotDer("SignerInfo layout")
    i, attrs_raw = 3, None
    if tags[3] == _CTX0_CONS:
        attrs_raw, i = der[si[3][1] : si[3][3]], 4
    if tags[i:] not in ((_SEQUENCE, _OCTET_STRING), (_SEQUENCE, _OCTET_STRING, _CTX1_CONS)):
        raise _NotDer("SignerInfo layout")
    return _fields(
        sid=der[si[1][1] : si[1][3]],
        digest_algorithm=der[si[2][1] : si[2][3]],
        signature_algorithm=der[si[i][1] : si[i][3]],
        certificates=certs,
        signature=der[si[i + 1][2] : si[i + 1][3]],
        attrs_raw=attrs_raw,
    )


def parse_time(der: bytes) -> datetime:
    """A DER UTCTime or GeneralizedTime (signingTime), as an aware UTC datetime.

    Fractional seconds are dropped. asn1crypto's parser goes through ``strptime``
    and costs more than the rest of the attribute checks together; DER fixes the
    format to a few shapes.
    """
    try:
        tag, start, end = _tlv(der, 0, len(der))
    except _NotDer as exc:
        raise CmsFormatError(f"time not DER: {exc}") from None
    text = der[start:end].decode("ascii", "replace")
    if end != len(der) or not text.endswith("Z"):
        raise CmsFormatError("time must be UTC ('Z') DER")
    if tag == 0x17 and len(text) == 13:  # UTCTime YYMMDDHHMMSSZ; RFC 5280 pivots at 50
        year = int(text[:2])
        text = ("19" if year >= 50 else "20") + text
    elif tag != 0x18 or len(text) < 15:
        raise CmsFormatError("time is neither UTCTime nor GeneralizedTime")
    digits, frac = text[:14], text[14:-1]
    if not digits.isdigit() or (frac and not (frac[0] == "." and frac[1:].isdigit())):
        raise CmsFormatError(f"time {text!r} is malformed")
    try:
        when = datetime(
            int(digits[:4]), int(digits[4:6]), int(digits[6:8]),
            int(digits[8:10]), int(digits[10:12]), int(digits[12:14]), tzinfo=UTC,
        )  # fmt: skip
    except ValueError as exc:
        raise CmsFormatError(f"time {text!r}: {exc}") from None
    return when


def primitive(der: bytes, tag: int) -> bytes:
    """Contents of one DER element that must carry ``tag`` (e.g. an OCTET STRING value)."""
    try:
        got, start, end = _tlv(der, 0, len(der))
    except _NotDer as exc:
        raise CmsFormatError(f"not DER: {exc}") from None
    if got != tag or end != len(der):
        raise CmsFormatError(f"expected tag {tag:#x}, found {got:#x}")
    return der[start:end]


def _fields(
    *,
    sid: bytes,
    digest_algorithm: bytes,
    signature_algorithm: bytes,
    certificates: tuple[bytes, ...],
    signature: bytes,
    attrs_raw: bytes | None,
) -> SignedFields:
    """Assemble the result; the signed attributes are split by the walker in both paths."""
    signed_attrs = None
    attrs: dict[bytes, list[bytes]] = {}
    if attrs_raw is not None:
        # The signature covers the attributes with their universal SET OF tag,
        # not the [0] IMPLICIT tag they travel under (RFC 5652 §5.4). They must
        # be DER, so the walker reads them for either reader.
        if attrs_raw[:1] != b"\xa0":
            raise CmsFormatError("CMS signed attributes are not tagged [0]")
        signed_attrs = b"\x31" + attrs_raw[1:]
        try:
            _, start, end = _tlv(signed_attrs, 0, len(signed_attrs))
            for tag, _, cstart, cend in _children(signed_attrs, start, end):
                parts = _children(signed_attrs, cstart, cend) if tag == _SEQUENCE else []
                if [t for t, *_ in parts] != [_OID, _SET]:
                    raise CmsFormatError("CMS signed attribute is not {type, SET OF value}")
                oid = signed_attrs[parts[0][2] : parts[0][3]]
                if oid in attrs:
                    raise CmsFormatError("CMS signed attribute type appears twice")
                attrs[oid] = [
                    signed_attrs[pos:vend]
                    for _, pos, _, vend in _children(signed_attrs, parts[1][2], parts[1][3])
                ]
        except _NotDer as exc:
            raise CmsFormatError(f"CMS signed attributes are not DER: {exc}") from None
    return SignedFields(
        sid, digest_algorithm, signature_algorithm, certificates, signature, signed_attrs, attrs
    )


def _asn1crypto(der: bytes) -> SignedFields:
    """The reference reader (slow): any BER that asn1crypto accepts."""
    info = acms.ContentInfo.load(der, strict=True)
    if info["content_type"].native != "signed_data":
        raise CmsFormatError(f"CMS content type is {info['content_type'].native}, not signedData")
    sd = info["content"]
    encap = sd["encap_content_info"]
    if encap["content_type"].native != "data":
        raise CmsFormatError(f"CMS eContentType is {encap['content_type'].native}, not id-data")
    if not isinstance(encap["content"], core.Void):
        raise CmsFormatError("CMS signature must be detached (it encapsulates content)")
    infos = sd["signer_infos"]
    if len(infos) != 1:
        raise CmsFormatError(
            f"CMS value has {len(infos)} SignerInfos; put each signer in its own signature entry"
        )
    si = infos[0]
    cert_set = sd["certificates"]
    certs = (
        ()
        if isinstance(cert_set, core.Void)
        else tuple(c.chosen.dump() for c in cert_set if c.name == "certificate")
    )
    attrs = si["signed_attrs"]
    return _fields(
        sid=si["sid"].dump(),
        digest_algorithm=si["digest_algorithm"].dump(),
        signature_algorithm=si["signature_algorithm"].dump(),
        certificates=certs,
        signature=si["signature"].native,
        attrs_raw=None if isinstance(attrs, core.Void) else attrs.dump(),
    )


def read_signed_data(der: bytes, *, fast: bool = True) -> SignedFields:
    """The fields of a one-signer detached SignedData; raises ``CmsFormatError``.

    ``fast=False`` forces the asn1crypto reader (tests compare the two).
    """
    if fast:
        try:
            return _walk(der)
        except _NotDer:
            pass
    try:
        return _asn1crypto(der)
    except CmsFormatError:
        raise
    # asn1crypto parses lazily and reports malformed input with whichever
    # built-in exception the failing accessor raises; all mean "undecodable".
    except Exception as exc:
        raise CmsFormatError(f"CMS structure unreadable: {type(exc).__name__}: {exc}") from None
