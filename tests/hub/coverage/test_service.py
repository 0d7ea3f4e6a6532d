"""The coverage service without a broker: unreadable records, and a database that refuses."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from sqlalchemy.exc import OperationalError

from hub.coverage import service as service_module
from hub.coverage.errors import CoverageError
from hub.coverage.facts import EventFacts
from hub.coverage.service import CoverageService
from hub.coverage.store import CoverageStore
from hub.settings import Settings
from tests.hub.coverage.traffic import S1, S2, document, local, malformed, verdict


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


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service_module, "RETRY_PAUSES", (0.01,))


def test_unreadable_and_unattributable_records_are_skipped() -> None:
    svc = CoverageService(Settings(), FlakyStore(0))
    good = verdict(document(S1, [S2], local(2026, 11, 3))).to_bytes()
    facts = svc._facts([(0, 1, b"not json"), (0, 2, malformed().to_bytes()), (0, 3, good)])
    assert [f.sender for f in facts] == [S1]


async def test_a_refused_batch_is_retried_until_stored() -> None:
    store = FlakyStore(failures=3)
    svc = CoverageService(Settings(), store)
    facts = svc._facts([(0, 1, verdict(document(S1, [S2], local(2026, 11, 3))).to_bytes())])
    assert await svc._store(facts, asyncio.Event())
    assert store.applied == [facts] and store.failures == 0


async def test_stopping_while_the_database_is_down_gives_up_without_storing() -> None:
    store = FlakyStore(failures=10**6)
    svc = CoverageService(Settings(), store)
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.1, stop.set)
    assert not await svc._store(svc._facts([]), stop)
    assert store.applied == []


def test_a_bad_time_zone_fails_at_start_with_a_hint() -> None:
    with pytest.raises(CoverageError, match="unknown time zone") as err:
        CoverageService(Settings(coverage_timezone="Mars/Olympus"), FlakyStore(0))
    assert "EDOC_COVERAGE_TIMEZONE" in (err.value.hint or "")
