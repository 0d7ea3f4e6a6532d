"""The coverage service without a broker: unreadable records, and a database that refuses."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from sqlalchemy.exc import OperationalError

from hub.coverage.errors import CoverageError
from hub.coverage.facts import EventFacts
from hub.coverage.service import CoverageService
from hub.coverage.store import CoverageStore
from hub.kafka.guard import RecordGuard
from hub.settings import Settings
from tests.hub.coverage.traffic import S1, S2, document, local, malformed, verdict
from tests.hub.kafka.test_guard import FAST, Publisher, Rec


class FlakyStore(CoverageStore):
    """Refuses the first ``failures`` batches like a database that is down."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.applied: list[Sequence[EventFacts]] = []

    async def apply(self, facts: Sequence[EventFacts]) -> None:
        if self.failures:
            self.failures -= 1
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        self.applied.append(facts)


def test_unreadable_and_unattributable_records_have_no_facts() -> None:
    """Unreadable: raises (the guard parks it, tests/hub/kafka/test_guard.py); no sender: None."""
    svc = CoverageService(Settings(), FlakyStore(0))
    with pytest.raises(ValueError):
        svc.facts(Rec(b"not json"))
    assert svc.facts(Rec(malformed().to_bytes())) is None
    facts = svc.facts(Rec(verdict(document(S1, [S2], local(2026, 11, 3))).to_bytes()))
    assert facts is not None and facts.sender == S1


async def test_a_refused_batch_is_retried_until_stored() -> None:
    store = FlakyStore(failures=3)
    svc = CoverageService(Settings(), store)
    facts = svc.facts(Rec(verdict(document(S1, [S2], local(2026, 11, 3))).to_bytes()))
    assert facts is not None
    g: RecordGuard[EventFacts] = RecordGuard("coverage", Publisher(), asyncio.Event(), pauses=FAST)
    assert await g.apply([(Rec(b""), facts)], store.apply)
    assert store.applied == [[facts]] and store.failures == 0


def test_a_bad_time_zone_fails_at_start_with_a_hint() -> None:
    with pytest.raises(CoverageError, match="unknown time zone") as err:
        CoverageService(Settings(coverage_timezone="Mars/Olympus"), FlakyStore(0))
    assert "EDOC_COVERAGE_TIMEZONE" in (err.value.hint or "")
