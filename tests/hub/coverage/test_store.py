"""The coverage tables on SQLite and PostgreSQL agree with the in-memory merge rules.

Whatever the batching, order and redelivery of events, the store must end in
the state the reference ``Ledger`` describes.
"""

from __future__ import annotations

import random

from sqlalchemy import func, select

from hub.coverage.facts import EventFacts, facts_from_event
from hub.coverage.ledger import Ledger
from hub.coverage.periods import Period
from hub.coverage.store import CoverageStore
from hub.store.schema import coverage_documents, coverage_refusals, coverage_reports
from schemas.directory import Agency, Level
from schemas.reasons import Reason
from tests.hub.coverage.traffic import (
    C1,
    DISTRICT,
    S1,
    S2,
    TZ,
    document,
    local,
    month_of_traffic,
    register,
    verdict,
)

PERIODS = [Period.parse(p) for p in ("2026-10", "2026-11", "2026-12", "2026-Q4", "2026")]


def all_facts() -> list[EventFacts]:
    events = month_of_traffic(2026, 11) + month_of_traffic(2026, 12)
    # A quarter report and a document across the month boundary in local time.
    events.append(verdict(register(S2, local(2027, 1, 5), "2026-Q4", 11, scanned=60)))
    events.append(verdict(document(C1, [DISTRICT], local(2026, 11, 30, 23, 45))))
    events.append(verdict(document(C1, [DISTRICT], local(2026, 12, 1, 0, 15))))
    facts = [f for e in events if (f := facts_from_event(e, TZ)) is not None]
    assert len(facts) == len(events) - 2, "the two malformed packages contribute nothing"
    return facts


def reference(facts: list[EventFacts]) -> Ledger:
    ledger = Ledger()
    for f in facts:
        ledger.apply(f)
    return ledger


async def test_store_matches_the_reference_in_any_order_and_batching(store: CoverageStore) -> None:
    facts = all_facts()
    ledger = reference(facts)
    rng = random.Random(166)
    # Deliver everything twice, shuffled, in uneven batches: at-least-once with reordering.
    stream = facts + rng.sample(facts, len(facts))
    rng.shuffle(stream)
    i = 0
    while i < len(stream):
        n = rng.randint(1, 9)
        await store.apply(stream[i : i + n])
        i += n
    for period in PERIODS:
        assert await store.period_data(period) == ledger.period_data(period), period.label


async def test_one_batch_holding_a_document_twice_and_a_report_twice(store: CoverageStore) -> None:
    header = document(S1, [S2], local(2026, 11, 9))
    early = register(S1, local(2026, 12, 1), "2026-11", 5)
    late = register(S1, local(2026, 12, 2), "2026-11", 1)
    events = [
        verdict(header, Reason.BAD_SIGNATURE),
        verdict(header),
        verdict(late),
        verdict(early),
    ]
    facts = [f for e in events if (f := facts_from_event(e, TZ)) is not None]
    await store.apply(facts)  # PostgreSQL refuses one statement upserting a key twice
    await store.apply(facts)  # and a redelivery changes nothing
    data = await store.period_data(Period.parse("2026-11"))
    assert data == reference(facts).period_data(Period.parse("2026-11"))
    assert data.documents[S1].valid == 1 and data.reports[0].paper_sent == 1
    async with store.engine.connect() as conn:
        counts = [
            (await conn.execute(select(func.count()).select_from(t))).scalar_one()
            for t in (coverage_documents, coverage_refusals, coverage_reports)
        ]
    assert counts == [1, 1, 1]


async def test_weak_signatures_are_counted_per_sender(store: CoverageStore) -> None:
    nov = Period.parse("2026-11")
    facts = [f for e in month_of_traffic(2026, 11) if (f := facts_from_event(e, TZ)) is not None]
    await store.apply(facts)
    await store.apply(facts[::-1])  # a redelivery, in another order
    docs = (await store.period_data(nov)).documents
    # month_of_traffic: S1's first two documents and DISTRICT's are accepted with SHA-1;
    # C1's SHA-1 attempt was refused and its accepted re-send is clean.
    assert {s: (c.valid, c.weak) for s, c in docs.items()} == {
        S1: (5, 2),
        S2: (0, 0),
        DISTRICT: (1, 1),
        C1: (1, 0),
    }


async def test_a_weak_acceptance_in_a_later_batch_marks_the_stored_document(
    store: CoverageStore,
) -> None:
    """The SQL merge ORs ``weak`` into the stored row, as the ledger does, in either order."""
    nov = Period.parse("2026-11")
    first = document(S1, [S2], local(2026, 11, 9))
    second = document(S2, [S1], local(2026, 11, 10))
    batches = [
        [verdict(first), verdict(second, weak=True)],
        [verdict(first, weak=True), verdict(second)],
        [verdict(first, Reason.STALE), verdict(second, Reason.STALE)],  # refusals change nothing
    ]
    for events in batches:
        await store.apply([f for e in events if (f := facts_from_event(e, TZ)) is not None])
    docs = (await store.period_data(nov)).documents
    assert {s: (c.valid, c.weak) for s, c in docs.items()} == {S1: (1, 1), S2: (1, 1)}


async def test_an_older_report_arriving_in_a_later_batch_does_not_replace(
    store: CoverageStore,
) -> None:
    late = facts_from_event(verdict(register(S1, local(2026, 12, 9), "2026-11", 2)), TZ)
    early = facts_from_event(verdict(register(S1, local(2026, 12, 1), "2026-11", 8)), TZ)
    assert late is not None and early is not None
    await store.apply([late])
    await store.apply([early])
    (stored,) = (await store.period_data(Period.parse("2026-11"))).reports
    assert stored.paper_sent == 2


async def test_directory_updates_are_kept_and_replaced(store: CoverageStore) -> None:
    new = Agency(
        code="000.00.40.H49", name="Ban Quản lý", parent="000.00.00.H49", level=Level.DEPARTMENT
    )
    await store.save_agencies([new])
    renamed = new.model_copy(update={"name": "Ban Quản lý các khu công nghiệp", "active": False})
    await store.save_agencies([renamed])
    await store.save_agencies([])
    assert await store.saved_agencies() == [renamed]
