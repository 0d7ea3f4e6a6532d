"""The signature log on SQLite and PostgreSQL: append, dedup, proofs, append-only, tampering."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from hub.errors import StoreError
from hub.store.integrity import verify_integrity
from hub.store.log import Query, parse_entry_key
from schemas.events import VerdictEvent
from signing.checkpoint import Checkpoint
from signing.keys import SigningKey, load_cert_chain
from signing.merkle import leaf_hash, verify_consistency, verify_inclusion
from signing.pki import DemoPKI
from tests.conftest import A, B
from tests.hub.store.conftest import Backend

Events = Callable[[int], list[VerdictEvent]]


async def checkpoint(backend: Backend, key: SigningKey) -> None:
    size = await backend.log.size()
    cp = Checkpoint(
        "test/log", size, await backend.log.root(size), datetime.now(UTC).replace(microsecond=0)
    )
    await backend.log.add_checkpoint(cp.sign(key, "000.00.99.H49"))


async def test_every_event_once_even_when_redelivered(
    backend: Backend, make_events: Events
) -> None:
    events = make_events(12)
    first = await backend.log.append(events[:8])
    assert (first.added, first.skipped, first.tree_size) == (8, 0, 8)
    again = await backend.log.append(events)  # 8 redelivered + 4 new, as after a crash
    assert (again.added, again.skipped, again.tree_size) == (4, 8, 12)
    assert [e.seq for e in await backend.log.query(Query(limit=100))] == list(range(12))
    ids = [e.identity for e in await backend.log.query(Query(limit=100))]
    assert ids == [ev.event_id for ev in events]


async def test_rejected_then_resent_message_has_two_entries(
    backend: Backend, make_events: Events
) -> None:
    """Each decision is an entry: the refusal and the accepted re-send of the same message id."""
    (first,) = make_events(1)
    resent = first.model_copy(
        update={
            "source": first.source.model_copy(update={"offset": first.source.offset + 1000}),
            "package_sha256": "0" * 64,
        }
    )
    assert (await backend.log.append([first, resent, first])).added == 2
    latest = await backend.log.entry(str(first.message_id))
    assert latest is not None and latest.seq == 1, "lookup by message id gives the latest verdict"


async def test_entry_keeps_what_reverification_needs(backend: Backend, make_events: Events) -> None:
    (event,) = make_events(1)
    await backend.log.append([event])
    entry = await backend.log.entry(str(event.message_id))
    assert entry is not None
    assert entry.header == event.header and entry.signatures == event.signatures
    assert entry.sender == A and entry.recipients == [B]
    assert entry.signer_org_id == A and entry.signer_serial
    assert entry.doc_number == "12" and entry.doc_notation == "SNV-VP"
    assert json.loads(entry.report)["verdict"] == "ok"
    assert entry.source_topic == "edoc.submit"


async def test_proofs_verify_against_signed_checkpoints(
    backend: Backend, make_events: Events, hub_key: SigningKey
) -> None:
    events = make_events(11)
    await backend.log.append(events[:5])
    await checkpoint(backend, hub_key)
    await backend.log.append(events[5:])
    await checkpoint(backend, hub_key)
    old, new = await backend.log.checkpoints()
    for seq in range(11):
        entry = await backend.log.entry(seq)
        assert entry is not None
        proof = await backend.log.inclusion_proof(seq, new.tree_size)
        verify_inclusion(
            leaf_hash(entry.canonical_bytes()), seq, new.tree_size, proof, new.root_hash
        )
    proof = await backend.log.consistency_proof(old.tree_size, new.tree_size)
    verify_consistency(old.tree_size, new.tree_size, old.root_hash, new.root_hash, proof)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE log_entries SET verdict = 'ok'",
        "DELETE FROM log_entries",
        "UPDATE checkpoints SET tree_size = 1",
        "DELETE FROM log_recipients",
    ],
)
async def test_service_cannot_rewrite_the_log(
    backend: Backend, make_events: Events, hub_key: SigningKey, statement: str
) -> None:
    await backend.log.append(make_events(3))
    await checkpoint(backend, hub_key)
    with pytest.raises((IntegrityError, DBAPIError)):
        async with backend.engine.begin() as conn:
            await conn.execute(text(statement))
    assert await backend.log.size() == 3


TAMPERING = {
    "edit a column": ["UPDATE log_entries SET verdict = 'ok', reasons = '[]' WHERE seq = 4"],
    "delete a row": [
        "DELETE FROM log_entries WHERE seq = 2",
        "DELETE FROM log_recipients WHERE seq = 2",
    ],
    "delete the tail": [
        "DELETE FROM log_entries WHERE seq >= 7",
        "DELETE FROM log_recipients WHERE seq >= 7",
    ],
    "reorder two rows": [
        "UPDATE log_entries SET seq = 100 WHERE seq = 1",
        "UPDATE log_entries SET seq = 1 WHERE seq = 3",
        "UPDATE log_entries SET seq = 3 WHERE seq = 100",
    ],
    "insert a row": [
        "INSERT INTO log_entries SELECT 9 + seq, 'forged-' || identity, message_id, kind, "
        "sender, recipients, doc_number, doc_notation, doc_type, subject, verdict, reasons, "
        "signer_subject, signer_serial, signer_issuer, signer_org_id, profile, algorithm, "
        "signing_time, verified_at, header_sha256, package_sha256, header_bytes, signatures, "
        "report, source_topic, source_partition, source_offset, leaf_hash "
        "FROM log_entries WHERE seq = 0",
    ],
    "edit a recipient index": ["UPDATE log_recipients SET agency = '000.00.05.H49' WHERE seq = 0"],
    "forge a checkpoint root": [
        "UPDATE checkpoints SET root_hash = leaf_hash "
        "FROM (SELECT leaf_hash FROM log_entries WHERE seq = 0) AS x"
    ],
}


@pytest.mark.parametrize("how", list(TAMPERING))
async def test_tampering_behind_the_service_is_detected(
    backend: Backend, make_events: Events, hub_key: SigningKey, pki: DemoPKI, how: str
) -> None:
    cert = load_cert_chain(pki.hub.cert)[0]
    await backend.log.append(make_events(9))
    await checkpoint(backend, hub_key)
    assert (await verify_integrity(backend.log, cert)).ok
    statements = TAMPERING[how]
    if how == "forge a checkpoint root" and backend.kind == "sqlite":
        statements = [
            "UPDATE checkpoints SET root_hash = (SELECT leaf_hash FROM log_entries WHERE seq = 0)"
        ]
    await backend.tamper(statements)  # type: ignore[misc]
    report = await verify_integrity(backend.log, cert)
    assert not report.ok, f"{how} went unnoticed"
    assert report.problems[0]


async def test_rewrite_with_recomputed_leaf_hash_is_caught_by_the_checkpoint(
    backend: Backend, make_events: Events, hub_key: SigningKey, pki: DemoPKI
) -> None:
    cert = load_cert_chain(pki.hub.cert)[0]
    await backend.log.append(make_events(6))
    await checkpoint(backend, hub_key)
    entry = await backend.log.entry(4)
    assert entry is not None and entry.verdict == "rejected"
    forged = entry.model_copy(update={"verdict": "ok", "reasons": []})
    new_leaf = leaf_hash(forged.canonical_bytes()).hex()
    blob = f"X'{new_leaf}'" if backend.kind == "sqlite" else f"'\\x{new_leaf}'::bytea"
    await backend.tamper(  # type: ignore[misc]
        # the value is a hex digest we computed, not outside input
        [f"UPDATE log_entries SET verdict = 'ok', reasons = '[]', leaf_hash = {blob} WHERE seq = 4"]  # noqa: S608
    )
    report = await verify_integrity(backend.log, cert)
    assert any("checkpoint at size 6" in p and "rewritten" in p for p in report.problems), (
        report.problems
    )


async def test_queries_filter_and_paginate(backend: Backend, make_events: Events) -> None:
    events = make_events(15)
    await backend.log.append(events)
    every = await backend.log.query(Query(limit=1000))
    as_sender = await backend.log.query(Query(agency=A, role="sender", limit=1000))
    assert as_sender and all(e.sender == A for e in as_sender)
    as_recipient = await backend.log.query(Query(agency=A, role="recipient", limit=1000))
    assert as_recipient and all(A in e.recipients for e in as_recipient)
    either = {e.seq for e in await backend.log.query(Query(agency=A, limit=1000))}
    assert either == {e.seq for e in every if e.sender == A or A in e.recipients}
    rejected = await backend.log.query(Query(reason="sender_mismatch", limit=1000))
    assert rejected and {e.seq for e in rejected} == {
        e.seq for e in every if "sender_mismatch" in e.reasons
    }
    serial = every[0].signer_serial
    assert {e.seq for e in await backend.log.query(Query(signer_serial=serial, limit=1000))} == {
        e.seq for e in every if e.signer_serial == serial
    }
    by_code = await backend.log.query(Query(doc_code="12/SNV-VP", limit=1000))
    assert {e.seq for e in by_code} == {
        e.seq for e in every if (e.doc_number, e.doc_notation) == ("12", "SNV-VP")
    }
    assert by_code, "the test documents carry 12/SNV-VP"
    assert await backend.log.query(Query(doc_code="13/SNV-VP", limit=1000)) == []
    # Pages of 4 cover everything once, in order.
    seen: list[int] = []
    after = -1
    while page := await backend.log.query(Query(after_seq=after, limit=4)):
        seen += [e.seq for e in page]
        after = page[-1].seq
    assert seen == list(range(15))


async def test_reason_is_one_code_matched_exactly_never_a_pattern(
    backend: Backend, make_events: Events
) -> None:
    await backend.log.append(make_events(15))
    every = await backend.log.query(Query(limit=1000))
    exact = {e.seq for e in every if "sender_mismatch" in e.reasons}
    assert exact, "the test traffic has refusals for sender_mismatch"
    # LIKE metacharacters and near misses: the reasons column holds a JSON array, and a
    # pattern such as %"%"% matched every refusal.
    for needle in ("%", "_", "%mismatch", "sender_mismatc_", "sender%", "\\", '"', '%"%'):
        found = await backend.log.query(Query(reason=needle, limit=1000))
        assert found == [], f"reason={needle!r} matched {[e.reasons for e in found]}"
    # both backends give one answer whatever the case (SQLite's LIKE ignores ASCII case)
    for needle in ("sender_mismatch", "SENDER_MISMATCH"):
        found = await backend.log.query(Query(reason=needle, limit=1000))
        assert {e.seq for e in found} == exact


async def test_keys_and_filters_no_entry_can_have_find_nothing(
    backend: Backend, make_events: Events
) -> None:
    await backend.log.append(make_events(3))
    # beyond 64 bits, negative, NUL (PostgreSQL refuses it in text), lone surrogates
    for key in (10**30, 2**63, -1, "\x00", "a\x00b", "\udcff", "²", "9" * 5000):
        assert await backend.log.entry(key) is None, key
    assert parse_entry_key("²") == "²" and parse_entry_key("١٢") == "١٢"
    assert parse_entry_key("12") == 12 and parse_entry_key("9" * 5000) == "9" * 5000
    assert (await backend.log.entry(parse_entry_key("2"))) is not None
    for q in (
        Query(after_seq=10**30),
        Query(agency="\x00"),
        Query(doc_code="1/\x00"),
        Query(signer_serial="\udcff"),
        Query(reason="\x00"),
    ):
        assert await backend.log.query(q) == [], q
    assert len(await backend.log.query(Query(after_seq=-(10**30), limit=10**30))) == 3
    far = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))
    for q in (Query(since=far), Query(until=datetime(9999, 12, 31, 23, tzinfo=UTC))):
        with pytest.raises(StoreError, match="out of range"):
            await backend.log.query(q)
    with pytest.raises(StoreError):
        await backend.log.query(Query(limit=0))
    with pytest.raises(StoreError):
        await backend.log.consistency_proof(1, 10**30)
    with pytest.raises(StoreError):
        await backend.log.inclusion_proof(0, 10**30)
    assert len(await backend.log.leaf_hashes(10**30)) == 3
