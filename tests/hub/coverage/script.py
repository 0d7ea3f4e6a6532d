"""A scripted month of signed traffic for a small province, and its table counted by hand.

The province gets fresh codes on every run (top-level part ``Xnn`` drawn at
random), so a shared or reused broker holds no traffic of it but ours. The
expectation (``expected_rows``) is a plain count over what the script *sent*
— which packages were correctly signed, which with SHA-1, which were secret,
which reports came last — and never looks at verdict events or calls
``hub.coverage``. The router runs with SHA-1 allowed (``EDOC_XMLDSIG_ALLOW_SHA1``),
so edXML signed with RSA-SHA1 is accepted with a ``weak_algorithm`` warning.
"""

from __future__ import annotations

import json
import random
import string
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from lxml import etree
from signxml.signer import XMLSigner

from hub.coverage.periods import Period
from schemas.header import Header, RegisterInfo
from schemas.package import Package, b64url_decode, b64url_encode
from signing.edxml import DS_NS, edxml_from_header, edxml_package, emit_edxml
from signing.edxml.parse import parse_tree
from signing.pki import DemoPKI
from signing.signer import Signer, attachment_ref, build_package
from tests.hub.coverage.traffic import TZ, document, register, status

#: The refusals this script provokes that mean "not validly signed" (docs/coverage.md).
SIGNATURE_FAULTS = frozenset({"bad_signature", "sender_mismatch", "untrusted_chain"})
REPORTED = ("scanned", "officials", "level4")
PDF = b"%PDF-1.4\n% coverage test\n"


@dataclass(frozen=True)
class Province:
    """Codes of a small province: two departments, a district with three communes, the hub."""

    tag: str

    @classmethod
    def fresh(cls) -> Province:
        """Random codes (2 500 kinds, never the sample's H49): earlier runs do not interfere."""
        letter = random.choice([c for c in string.ascii_uppercase if c != "H"])
        return cls(f"{letter}{random.randint(0, 99):02d}")

    def code(self, local: str) -> str:
        """``ddd.dd.dd`` + this province's top-level part."""
        return f"{local}.{self.tag}"

    @property
    def names(self) -> dict[str, tuple[str, str, str | None]]:
        """code → (name, level, parent)."""
        p, d = self.code("000.00.00"), self.code("000.00.26")
        return {
            p: ("Ủy ban nhân dân tỉnh (thử nghiệm)", "province", None),
            self.s1: ("Sở Nội vụ", "department", p),
            self.s2: ("Sở Tư pháp", "department", p),
            d: ("Ủy ban nhân dân huyện Lục Ngạn", "district", p),
            self.c1: ("Ủy ban nhân dân thị trấn Chũ", "commune", d),
            self.c2: ("Ủy ban nhân dân xã Biển Động", "commune", d),
            self.c3: ("Ủy ban nhân dân xã Phì Điền", "commune", d),
            self.hub: ("Trục liên thông (edoc-hub)", "unit", p),
        }

    @property
    def province(self) -> str:
        """The provincial People's Committee."""
        return self.code("000.00.00")

    @property
    def s1(self) -> str:
        """Sở Nội vụ."""
        return self.code("000.00.01")

    @property
    def s2(self) -> str:
        """Sở Tư pháp."""
        return self.code("000.00.02")

    @property
    def district(self) -> str:
        """Huyện Lục Ngạn."""
        return self.code("000.00.26")

    @property
    def c1(self) -> str:
        """Thị trấn Chũ."""
        return self.code("000.01.26")

    @property
    def c2(self) -> str:
        """Xã Biển Động."""
        return self.code("000.02.26")

    @property
    def c3(self) -> str:
        """Xã Phì Điền: never sends, never reports."""
        return self.code("000.03.26")

    @property
    def hub(self) -> str:
        """The hub itself."""
        return self.code("000.00.99")

    def rollups(self) -> dict[str, set[str]]:
        """Row → the agencies whose numbers it sums, written out by hand (not from the tree)."""
        communes = {self.c1, self.c2, self.c3}
        leaves = {c: {c} for c in (self.s1, self.s2, *communes)}
        everyone = {self.province, self.s1, self.s2, self.district, *communes}
        return {self.province: everyone, self.district: {self.district, *communes}, **leaves}

    def write_directory(self, path: Path) -> Path:
        """The directory file (docs/directory.md); codes are illustrative test codes."""
        agencies = [
            {"code": c, "name": n, "level": lv} | ({"parent": p} if p else {})
            for c, (n, lv, p) in self.names.items()
        ]
        path.write_text(json.dumps({"v": 1, "agencies": agencies}, ensure_ascii=False))
        return path


@dataclass(frozen=True)
class Sent:
    """One package the script submitted, and what the router must answer."""

    raw: bytes
    sender: str
    kind: str
    message_id: str
    sent_at: datetime
    reason: str | None = None  # the single refusal reason expected; None = accepted
    secret: bool = False
    report: RegisterInfo | None = None
    weak: bool = False  # edXML signed with RSA-SHA1

    @property
    def day(self) -> date:
        """The local day the script placed it on."""
        return self.sent_at.astimezone(TZ).date()


class _Sha1Signer(XMLSigner):
    """signxml refuses to make SHA-1 signatures; deployed edXML systems still do."""

    def check_deprecated_methods(self) -> None:
        return None


@dataclass
class Script:
    """Builds the packages: signed by the right key, by another agency's, by a rogue CA, altered."""

    prov: Province
    pki: DemoPKI
    rogue: DemoPKI
    sent: list[Sent] = field(default_factory=list)

    def _sign(self, header: Header, signer: str, *, rogue: bool = False) -> bytes:
        issued = (self.rogue if rogue else self.pki).agency(signer)
        return build_package(
            header,
            {"a1": PDF} if header.attachments else {},
            [Signer.from_files(issued.key, issued.chain)],
        ).to_bytes()

    def send(
        self,
        header: Header,
        *,
        signer: str | None = None,
        rogue: bool = False,
        tamper: bool = False,
        reason: str | None = None,
    ) -> Sent:
        """Sign ``header`` (by ``signer``, default the sender) and record what was sent."""
        raw = self._sign(header, signer or header.sender, rogue=rogue)
        if tamper:  # change the signed header after signing
            pkg = Package.model_validate_json(raw)
            data = json.loads(b64url_decode(pkg.header))
            data["document"]["subject"] = "Nội dung đã bị sửa sau khi ký"
            raw = pkg.model_copy(
                update={"header": b64url_encode(json.dumps(data).encode())}
            ).to_bytes()
        sent = Sent(
            raw=raw,
            sender=header.sender,
            kind=header.kind.value,
            message_id=str(header.message_id),
            sent_at=header.sent_at,
            reason=reason,
            secret=bool(header.document and header.document.classification.value == "secret"),
            report=header.register_,
        )
        self.sent.append(sent)
        return sent

    def send_sha1_edxml(self, header: Header, *, reason: str | None = None) -> Sent:
        """``header`` as edXML with an enveloped RSA-SHA1 signature by its sender (an RSA key)."""
        root = parse_tree(emit_edxml(edxml_from_header(header, {"a1": PDF})))
        parent = next(e for e in root.iter() if etree.QName(e).localname == "edXMLHeader")
        etree.SubElement(parent, f"{{{DS_NS}}}Signature", nsmap={"ds": DS_NS}, Id="placeholder")
        issued = self.pki.agency(header.sender)
        key = Signer.from_files(issued.key, issued.chain)
        xml_signer = _Sha1Signer(signature_algorithm="rsa-sha1", digest_algorithm="sha1")
        signed = etree.tostring(xml_signer.sign(root, key=key.key, cert=key.chain))
        sent = Sent(
            raw=edxml_package(signed).to_bytes(),
            sender=header.sender,
            kind=header.kind.value,
            message_id=str(header.message_id),
            sent_at=header.sent_at,
            reason=reason,
            weak=True,
        )
        self.sent.append(sent)
        return sent

    def resend(self, earlier: Sent, reason: str) -> None:
        """Submit the very same bytes again."""
        self.sent.append(replace(earlier, reason=reason))

    def doc(self, sender: str, to: str, when: datetime, *, secret: bool = False) -> Header:
        """A document header with one attachment."""
        h = document(sender, [to], when, secret=secret)
        return h.model_copy(update={"attachments": [attachment_ref("a1", "cv.pdf", PDF)]})

    def report(
        self, sender: str, when: datetime, period: Period, paper: int, **kw: float
    ) -> Header:
        """A register report to the hub."""
        return register(sender, when, period.label, paper, hub=self.prov.hub, **kw)  # type: ignore[arg-type]


def at(period: Period, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """Local wall-clock time on ``day`` of ``period``'s month."""
    return datetime(period.start.year, period.start.month, day, hour, minute, tzinfo=TZ)


def play(script: Script, previous: Period, target: Period) -> list[Sent]:
    """The month: ``previous`` gets a little traffic (the trend's base), ``target`` the rest."""
    p = script.prov
    s, after = script, target.next()
    last_of_previous = (previous.end - timedelta(days=1)).day
    # -- the previous month
    s.send(s.doc(p.s1, p.s2, at(previous, 10)))
    s.send(s.doc(p.s1, p.s2, at(previous, 12)))
    s.send(s.doc(p.district, p.c1, at(previous, 11)))
    s.send(s.doc(p.district, p.c1, at(previous, 14)), tamper=True, reason="bad_signature")
    s.send(s.doc(p.c1, p.district, at(previous, last_of_previous, 23, 30)))  # 16:30 UTC
    s.send_sha1_edxml(s.doc(p.s2, p.s1, at(previous, 20)))  # SHA-1: accepted, weak
    # -- the target month
    s.send(s.doc(p.c1, p.district, at(target, 1, 0, 30)))  # still the previous day in UTC
    first = s.send(s.doc(p.s1, p.s2, at(target, 3)))
    s.send(s.doc(p.s1, p.s2, at(target, 4)))
    s.send(s.doc(p.s1, p.s2, at(target, 5)))
    s.send(s.doc(p.s1, p.s2, at(target, 6)), tamper=True, reason="bad_signature")
    fixed = s.doc(p.s1, p.s2, at(target, 7))
    s.send(fixed, signer=p.s2, reason="sender_mismatch")  # refused …
    s.send(fixed)  # … corrected and re-sent with the same message id: accepted
    s.resend(first, "duplicate")  # a connector retry of an accepted document
    s.send(status(p.s2, p.s1, at(target, 8), uuid.UUID(first.message_id)))
    s.send(s.doc(p.s2, p.district, at(target, 9)))
    s.send(s.doc(p.s2, p.district, at(target, 10)))
    s.send(s.doc(p.s2, p.s1, at(target, 11), secret=True), reason="classified")
    # S2's edXML system signs with RSA-SHA1: accepted (allowed), counted apart as weak
    old_system = s.send_sha1_edxml(s.doc(p.s2, p.district, at(target, 18)))
    s.send_sha1_edxml(s.doc(p.s2, p.c1, at(target, 19)))
    s.resend(old_system, "duplicate")  # a retry: refused, changes nothing
    nowhere = p.code("000.00.77")  # in no directory: refused although SHA-1 is allowed
    s.send_sha1_edxml(s.doc(p.s2, nowhere, at(target, 20)), reason="unknown_recipient")
    s.send(s.doc(p.district, p.c1, at(target, 12)))
    s.send(s.doc(p.district, p.c1, at(target, 13)))
    to_c2 = s.send(s.doc(p.district, p.c2, at(target, 14)))
    s.send(s.doc(p.district, p.c2, at(target, 15)), rogue=True, reason="untrusted_chain")
    s.send(s.doc(p.c1, p.district, at(target, 16)))
    answer = status(p.c2, p.district, at(target, 17), uuid.UUID(to_c2.message_id))
    s.send(answer, signer=p.c1, reason="sender_mismatch")
    # -- register reports (most sent early in the following month)
    s.send(s.report(p.s1, at(target, 2), previous, 1, scanned=70, officials=80))
    s.send(s.report(p.s1, at(after, 2), target, 4, scanned=90, officials=85))
    s.send(s.report(p.s1, at(after, 5), target, 2, scanned=95, officials=90))  # replaces
    s.send(s.report(p.s2, at(after, 6), target, 1, secret=3, scanned=80, officials=100))
    s.send(s.report(p.s2, at(target, 28), target, 9, scanned=10))  # older: replaces nothing
    s.send(s.report(p.district, at(after, 3), target, 5, scanned=100, officials=95, level4=35))
    s.send(s.report(p.c2, at(after, 4), target, 3, scanned=60, level4=10))
    return s.sent


# -- the expectation, counted by hand ------------------------------------------------------


@dataclass
class Numbers:
    """What some agencies sent in a month, counted from the script."""

    documents: int = 0
    valid: int = 0
    signed_weak: int = 0
    paper: int = 0
    secret: int = 0
    with_traffic: int = 0
    all_signed: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    others: Counter[str] = field(default_factory=Counter)
    reported: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in REPORTED})


def count(sent: list[Sent], code: str, month: Period) -> Numbers:
    """One agency's month: distinct documents, valid ones, its last accepted report, faults."""
    mine = [x for x in sent if x.sender == code and month.contains(x.day)]
    docs = {x.message_id for x in mine if x.kind == "document" and not x.secret}
    valid = {x.message_id for x in mine if x.kind == "document" and not x.secret and not x.reason}
    weak = {x.message_id for x in mine if x.message_id in valid and x.weak and not x.reason}
    secret = {x.message_id for x in mine if x.secret}
    reports = [
        x
        for x in sent
        if x.sender == code and x.report and not x.reason and x.report.period == month.label
    ]
    report = max(reports, key=lambda x: x.sent_at).report if reports else None
    n = Numbers(documents=len(docs), valid=len(valid), signed_weak=len(weak), secret=len(secret))
    n.faults = Counter(x.reason for x in mine if x.reason in SIGNATURE_FAULTS)
    n.others = Counter(x.reason for x in mine if x.reason and x.reason not in SIGNATURE_FAULTS)
    n.with_traffic = int(bool(mine))
    n.all_signed = int(bool(mine) and not n.faults)
    if report is not None:
        n.paper, n.secret = report.paper_sent, n.secret + report.secret_sent
        for k in REPORTED:
            if (v := getattr(report, f"{k}_pct")) is not None:
                n.reported[k].append(v)
    return n


def total(sent: list[Sent], members: set[str], month: Period) -> Numbers:
    """The sum over ``members``."""
    t = Numbers()
    for code in members:
        n = count(sent, code, month)
        t.documents += n.documents
        t.valid += n.valid
        t.signed_weak += n.signed_weak
        t.paper += n.paper
        t.secret += n.secret
        t.with_traffic += n.with_traffic
        t.all_signed += n.all_signed
        t.faults += n.faults
        t.others += n.others
        for k in REPORTED:
            t.reported[k] += n.reported[k]
    return t


def _pct(n: int, d: int) -> float | None:
    return round(100.0 * n / d, 2) if d else None


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def values(t: Numbers) -> dict[str, float | None]:
    """The five indicators of a total."""
    return {
        "e_documents": _pct(t.valid, t.documents + t.paper),
        "signature_use": _pct(t.all_signed, t.with_traffic),
    } | {k: _mean(t.reported[k]) for k in REPORTED}


def expected_rows(
    sent: list[Sent], prov: Province, month: Period, previous: Period
) -> dict[str, dict[str, object]]:
    """Row code → indicator values, previous values, trends and counts, as the table must show."""
    rows: dict[str, dict[str, object]] = {}
    for code, members in prov.rollups().items():
        now = total(sent, members, month)
        v, before = values(now), values(total(sent, members, previous))
        rows[code] = {
            "value": v,
            "previous": before,
            "trend": {
                k: round(x - y, 2) if x is not None and (y := before[k]) is not None else None
                for k, x in v.items()
            },
            "counts": {
                "documents": now.documents,
                "valid": now.valid,
                "signed_weak": now.signed_weak,
                "paper": now.paper,
                "secret": now.secret,
            },
            "invalid_signatures": dict(now.faults),
            "other_refusals": dict(now.others),
        }
    return rows
