"""Router decisions without Kafka: directory, duplicates, receipts, statuses, limits."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from hub.directory import Directory, load_directory_file
from hub.router.decide import Decision, Router
from hub.router.index import MessageIndex
from hub.router.receipts import receipt_id
from hub.settings import Settings
from schemas import wire
from schemas.directory import Agency, Level
from schemas.events import SourceRecord
from schemas.header import Classification, Header, Kind, StatusCode, StatusInfo
from schemas.package import Package, b64url_decode, parse_package
from signing.pki import DemoPKI
from signing.signer import Signer, build_package
from signing.trust import TrustStore
from signing.verifier import Verifier
from tests.conftest import HUB, PDF, A, B, C, PackageFactory, make_header

SRC = SourceRecord(topic=wire.SUBMIT, partition=0, offset=0)


@pytest.fixture
def router(pki: DemoPKI) -> Router:
    verifier = Verifier(
        TrustStore.from_paths([pki.root_cert], [pki.crl_dir]), max_package_bytes=64 * 1024
    )
    directory = Directory(load_directory_file(Settings().directory_file))
    return Router(
        verifier,
        directory,
        MessageIndex(timedelta(days=30)),
        hub_code=HUB,
        hub_signer=Signer.from_files(pki.hub.key, pki.hub.chain),
    )


def decide(router: Router, raw: bytes) -> Decision:
    d = router.decide(raw, source=SRC, received_at=datetime.now(UTC))
    router.index.commit(datetime.now(UTC))
    return d


def by_topic(d: Decision) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    for r in d.records:
        out.setdefault(r.topic, []).append(r.value)
    return out


def header_of(raw: bytes) -> Header:
    return parse_package(raw).header


def test_accepted_document_goes_to_each_recipient_with_a_signed_receipt_each(
    router: Router, signed_package: PackageFactory, verifier: Verifier
) -> None:
    raw = signed_package(A, [B, C])
    d = decide(router, raw)
    assert d.accepted
    out = by_topic(d)
    assert out[wire.inbox(B)] == [raw]
    assert out[wire.inbox(C)] == [raw]
    receipts = [header_of(v) for v in out[wire.inbox(A)]]
    assert {r.status.recipient for r in receipts if r.status} == {B, C}
    mid = header_of(raw).message_id
    for value in out[wire.inbox(A)]:
        h = header_of(value)
        assert h.kind is Kind.STATUS and h.sender == HUB and h.to == [A]
        assert h.status is not None and h.status.code is StatusCode.ARRIVED
        assert h.status.ref_message_id == mid
        assert h.message_id == receipt_id(mid, h.status.recipient or "", StatusCode.ARRIVED)
        # The receipt is a package any agency can verify against the same trust anchor.
        assert verifier.verify_bytes(value).verdict == "ok"
    assert d.event.delivered_to == [wire.inbox(B), wire.inbox(C)]
    assert wire.REJECTED not in out


def test_second_submission_of_the_same_message_id_is_a_duplicate(
    router: Router, signed_package: PackageFactory
) -> None:
    raw = signed_package(A, [B])
    assert decide(router, raw).accepted
    again = decide(router, raw)
    assert again.report.reasons == ["duplicate"]
    assert wire.inbox(B) not in by_topic(again)
    assert by_topic(again)[wire.REJECTED] == [raw]


def test_aborted_transaction_forgets_its_acceptances(
    router: Router, signed_package: PackageFactory
) -> None:
    raw = signed_package(A, [B])
    assert router.decide(raw, source=SRC, received_at=datetime.now(UTC)).accepted
    router.index.rollback()
    assert decide(router, raw).accepted, "after an abort the same package is accepted once"


def test_abort_in_one_partition_keeps_what_another_partition_accepted(
    router: Router, signed_package: PackageFactory
) -> None:
    """Partitions commit concurrently, each in its own transaction: an abort is per partition."""
    first, second = signed_package(A, [B]), signed_package(A, [C])
    src = {p: SourceRecord(topic=wire.SUBMIT, partition=p, offset=0) for p in (0, 1)}
    now = datetime.now(UTC)
    assert router.decide(first, source=src[0], received_at=now).accepted
    assert router.decide(second, source=src[1], received_at=now).accepted
    router.index.rollback(1)
    router.index.commit(now, 0)
    assert decide(router, first).report.reasons == ["duplicate"], "partition 0 committed"
    assert decide(router, second).accepted, "partition 1 aborted: accepted again"


def test_refusal_sends_status_02_with_reasons_to_the_sender(
    router: Router, signed_package: PackageFactory, verifier: Verifier
) -> None:
    raw = signed_package(A, [B], signer=C)  # signed by C, claims to be from A
    d = decide(router, raw)
    assert d.report.reasons == ["sender_mismatch"]
    out = by_topic(d)
    (receipt,) = out[wire.inbox(A)]
    status = header_of(receipt).status
    assert status is not None and status.code is StatusCode.REJECTED
    assert status.reasons == ["sender_mismatch"]
    assert verifier.verify_bytes(receipt).verdict == "ok"
    assert wire.inbox(B) not in out


def test_unknown_and_inactive_agencies(router: Router, signed_package: PackageFactory) -> None:
    d = decide(router, signed_package(A, ["000.00.77.H49"]))
    assert d.report.reasons == ["unknown_recipient"]
    router.directory.upsert(
        [
            Agency(
                code=C,
                name="Sở Tài chính",
                parent="000.00.00.H49",
                level=Level.DEPARTMENT,
                active=False,
            )
        ]
    )
    d = decide(router, signed_package(C, [B]))
    assert d.report.reasons == ["unknown_sender"]
    assert wire.inbox(C) not in by_topic(d), "no receipt to an inactive agency"
    d = decide(router, signed_package(A, [HUB]))
    assert d.report.reasons == ["unknown_recipient"], "nobody sends documents to the hub"


def test_status_from_recipient_is_routed_to_the_original_sender(
    router: Router, signed_package: PackageFactory, pki: DemoPKI
) -> None:
    doc = signed_package(A, [B])
    assert decide(router, doc).accepted
    doc_id = header_of(doc).message_id

    def status(sender: str, to: str, ref: uuid.UUID, code: StatusCode) -> bytes:
        h = Header(
            message_id=uuid.uuid4(),
            kind=Kind.STATUS,
            **{"from": sender},
            to=[to],
            sent_at=datetime.now(UTC).replace(microsecond=0),
            status=StatusInfo(code=code, ref_message_id=ref, staff="Văn thư"),
        )
        issued = pki.agency(sender)
        return build_package(h, {}, [Signer.from_files(issued.key, issued.chain)]).to_bytes()

    accepted = decide(router, status(B, A, doc_id, StatusCode.ACCEPTED))
    assert accepted.accepted
    assert by_topic(accepted)[wire.inbox(A)] != []
    assert all(header_of(v).sender == B for v in by_topic(accepted)[wire.inbox(A)]), (
        "statuses get no hub receipt"
    )
    recall = decide(router, status(A, B, doc_id, StatusCode.RECALL_REQUESTED))
    assert recall.accepted, "the original sender may ask the recipient to recall"
    stranger = decide(router, status(C, A, doc_id, StatusCode.ACCEPTED))
    assert stranger.report.reasons == ["unknown_reference"]
    unknown = decide(router, status(B, A, uuid.uuid4(), StatusCode.COMPLETED))
    assert unknown.report.reasons == ["unknown_reference"]


def test_secret_stale_and_too_large(router: Router, pki: DemoPKI) -> None:
    issued = pki.agency(A)
    signer = Signer.from_files(issued.key, issued.chain)
    secret = make_header(A, [B])
    doc = secret.document
    assert doc is not None
    secret = secret.model_copy(
        update={"document": doc.model_copy(update={"classification": Classification.SECRET})}
    )
    d = decide(router, build_package(secret, {"a1": PDF}, [signer]).to_bytes())
    assert d.report.reasons == ["classified"]

    # 30 minutes ahead: the certificate is valid then, but it is outside the window.
    old = make_header(
        A, [B], sent_at=datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=30)
    )
    d = decide(router, build_package(old, {"a1": PDF}, [signer]).to_bytes())
    assert d.report.reasons == ["stale"]

    big = b"x" * (70 * 1024)
    hdr = make_header(A, [B], data=big)
    raw = build_package(hdr, {"a1": big}, [signer]).to_bytes()
    d = decide(router, raw)
    assert d.report.reasons == ["too_large"]
    assert by_topic(d)[wire.REJECTED] == [raw], "even an oversized package is kept"


def test_event_for_every_decision_carries_the_report(
    router: Router, signed_package: PackageFactory
) -> None:
    raw = signed_package(A, [B])
    d = decide(router, raw)
    (event_bytes,) = by_topic(d)[wire.EVENTS]
    event = json.loads(event_bytes)
    assert event["message_id"] == str(header_of(raw).message_id)
    assert event["report"]["header_sha256"] == d.report.header_sha256
    pkg = Package.model_validate_json(raw)
    assert json.loads(b64url_decode(pkg.header))["from"] == event["from"] == A


def test_register_report_goes_to_the_hub_only(router: Router, pki: DemoPKI) -> None:
    from schemas.header import RegisterInfo  # noqa: PLC0415

    issued = pki.agency(A)
    signer = Signer.from_files(issued.key, issued.chain)

    def report(to: list[str]) -> bytes:
        h = Header(
            message_id=uuid.uuid4(),
            kind=Kind.REGISTER,
            **{"from": A},
            to=to,
            sent_at=datetime.now(UTC).replace(microsecond=0),
            register=RegisterInfo(period="2026-11", paper_sent=3, scanned_pct=80.0),
        )
        return build_package(h, {}, [signer]).to_bytes()

    ok = decide(router, report([HUB]))
    assert ok.accepted and ok.event.delivered_to == []
    (receipt,) = by_topic(ok)[wire.inbox(A)]
    status = header_of(receipt).status
    assert status is not None and status.code is StatusCode.ARRIVED and status.recipient == HUB
    assert decide(router, report([B])).report.reasons == ["unknown_recipient"]


class _FailOn(Verifier):
    """A verifier with a defect that one package triggers (the seam: Router takes any)."""

    def __init__(self, inner: Verifier, poison: bytes) -> None:
        self.__dict__.update(inner.__dict__)
        self.poison = poison

    def verify(self, parsed, **kwargs):  # type: ignore[no-untyped-def]
        if parsed.raw == self.poison:
            raise OverflowError("date value out of range")
        return super().verify(parsed, **kwargs)


def test_a_defect_one_package_triggers_refuses_it_as_unprocessable_and_routing_goes_on(
    router: Router, signed_package: PackageFactory
) -> None:
    poison = signed_package(A, [B])
    router.verifier = _FailOn(router.verifier, poison)
    d = decide(router, poison)
    assert d.report.reasons == ["unprocessable"] and not d.accepted
    out = by_topic(d)
    assert out[wire.REJECTED] == [poison], "kept whole for reprocessing"
    assert d.event.reasons == ["unprocessable"] and d.event.source == SRC
    assert "OverflowError" in d.report.details[0]
    assert header_of(poison).message_id is not None
    assert router.index.get(str(header_of(poison).message_id)) is None, "not remembered"
    assert set(out) == {wire.REJECTED, wire.EVENTS}
    # The next package is decided as usual.
    assert decide(router, signed_package(A, [B])).accepted
