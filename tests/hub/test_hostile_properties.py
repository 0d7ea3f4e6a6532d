"""Property-based: whatever a package or an event holds, nothing escapes a service's loop.

* The router decides every generated or mutated package: a verdict that every consumer
  can read back, and never ``unprocessable`` (that would be a defect the input found).
* Every consumer's per-record work (audit recorder, coverage, lifecycle), run inside
  its guard on generated verdict events against a real SQLite database, either applies
  a record or parks it: no exception escapes.

``EDOC_HYPOTHESIS_EXAMPLES`` raises the number of examples (docs/security.md gives the
long run's figures); the suite's default keeps it to seconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.coverage.service import CoverageService
from hub.coverage.store import CoverageStore
from hub.kafka.guard import RecordGuard, json_decoder
from hub.lifecycle.service import apply_events
from hub.router.decide import Router
from hub.settings import Settings
from hub.store.db import make_engine, migrate
from hub.store.log import SignatureLog
from schemas import wire
from schemas.events import SourceRecord, VerdictEvent
from schemas.package import b64url_decode, b64url_encode
from signing.pki import DemoPKI
from tests.conftest import A, B, PackageFactory
from tests.hub.conftest import make_router
from tests.hub.kafka.test_guard import FAST, Publisher, Rec

EXAMPLES = int(os.environ.get("EDOC_HYPOTHESIS_EXAMPLES", "150"))
SLOW = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SRC = SourceRecord(topic=wire.SUBMIT, partition=0, offset=0)

#: Values that have broken parsers before: extremes of time, numbers, text and types.
NASTY: list[Any] = [
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-00:01",
    "9999-12-31T20:00:00Z",
    "2026-02-30T00:00:00Z",
    "",
    "\x00",
    "..",
    "٣٤٥.٠٠.٠٠.H49",
    "1" * 10_000,
    10**30,
    -1,
    1.0,
    True,
    None,
    [],
    {},
    [None] * 3,
    {"profile": "x", "value": ""},
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
values = st.sampled_from(NASTY) | json_values
any_instant = st.builds(
    lambda dt, minutes: dt.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat(),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
    st.integers(-1439, 1439),
)


def _mutate(doc: Any, path: list[int], value: Any) -> Any:
    """Replace (or delete, for a None value on a dict key) one node chosen by ``path``."""
    if not path or not isinstance(doc, dict | list) or not doc:
        return value
    keys = list(doc.keys()) if isinstance(doc, dict) else list(range(len(doc)))
    key = keys[path[0] % len(keys)]
    copy = dict(doc) if isinstance(doc, dict) else list(doc)
    copy[key] = _mutate(doc[key], path[1:], value)  # type: ignore[index]
    return copy


@pytest.fixture(scope="module")
def router(pki: DemoPKI) -> Router:
    return make_router(pki)


@pytest.fixture(scope="module")
def genuine(signed_package: PackageFactory) -> dict[str, Any]:
    return json.loads(signed_package(A, [B]))


@SLOW
@given(data=st.data())
def test_the_router_answers_every_package_with_a_readable_verdict(
    router: Router, genuine: dict[str, Any], data: st.DataObject
) -> None:
    header = json.loads(b64url_decode(genuine["header"]))
    how = data.draw(st.sampled_from(["time", "header", "package", "bytes"]))
    if how == "time":  # any instant Python can write, with any offset it allows
        header["sent_at"] = data.draw(st.sampled_from(NASTY[:4]) | any_instant)
        raw = json.dumps(dict(genuine, header=b64url_encode(json.dumps(header).encode()))).encode()
    elif how == "header":  # a hostile header, encoded and wrapped as a sender would
        path = data.draw(st.lists(st.integers(0, 50), min_size=1, max_size=4))
        header = _mutate(header, path, data.draw(values))
        pkg = dict(genuine, header=b64url_encode(json.dumps(header).encode()))
        raw = json.dumps(pkg).encode()
    elif how == "package":
        path = data.draw(st.lists(st.integers(0, 50), min_size=1, max_size=4))
        raw = json.dumps(_mutate(genuine, path, data.draw(values))).encode()
    else:  # bytes cut or flipped
        raw = bytearray(json.dumps(genuine).encode())
        cut = data.draw(st.integers(0, len(raw)))
        for i in data.draw(st.lists(st.integers(0, len(raw) - 1), max_size=5)):
            raw[i] ^= data.draw(st.integers(1, 255))
        raw = bytes(raw[:cut] if data.draw(st.booleans()) else raw)
    decision = router.decide(raw, source=SRC, received_at=datetime.now(UTC))
    router.index.commit(datetime.now(UTC))
    assert "unprocessable" not in decision.report.reasons, decision.report.details
    event = VerdictEvent.model_validate_json(decision.event.to_bytes())  # consumers can read it
    assert event.verdict == decision.report.verdict
    assert (event.verdict == "ok") == (not event.reasons)


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database, copied for each example (migrating is the slow part)."""
    path = tmp_path_factory.mktemp("props") / "template.db"

    async def make() -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        await migrate(engine)
        await engine.dispose()

    asyncio.run(make())
    return path


@pytest.fixture(scope="module")
def events(make_events: Any) -> list[dict[str, Any]]:
    return [json.loads(e.to_bytes()) for e in make_events(6)]


async def _consume_all(db: Path, records: list[Rec]) -> None:
    """Run the three consumers' per-record work on ``records``, each inside its guard.

    Every record is taken (or, for coverage, found to blame no agency) or parked, and
    every parked record was sent to the dead-letter publisher; no exception escapes.
    """
    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    try:
        coverage = CoverageService(Settings(), CoverageStore(engine))
        decode = json_decoder(VerdictEvent)
        log = SignatureLog(engine)
        consumers: list[tuple[str, Any, Any]] = [
            ("audit", decode, log.append),
            ("coverage", coverage.facts, coverage.store.apply),
            ("lifecycle", decode, lambda batch: apply_events(engine, batch)),
        ]
        for name, decoder, apply in consumers:
            pub = Publisher()
            guard: RecordGuard[Any] = RecordGuard(name, pub, asyncio.Event(), pauses=FAST)
            items = await guard.decode(records, decoder)
            assert items is not None
            unreadable = guard.parked
            if name != "coverage":  # only coverage maps a readable record to "nothing"
                assert len(items) + unreadable == len(records)
            assert await guard.apply(items, apply)
            assert len(pub.sent) == guard.parked <= len(records)
            if name == "audit":
                taken = len({decode(r).event_id for r, _ in items})
                assert taken - (guard.parked - unreadable) <= await log.size() <= taken
    finally:
        await engine.dispose()


@SLOW
@given(data=st.data())
def test_every_consumer_applies_or_parks_every_generated_event(
    events: list[dict[str, Any]],
    template_db: Path,
    tmp_path_factory: pytest.TempPathFactory,
    data: st.DataObject,
) -> None:
    records = []
    for i in range(data.draw(st.integers(1, 4))):
        event = data.draw(st.sampled_from(events))
        for _ in range(data.draw(st.integers(0, 3))):
            path = data.draw(st.lists(st.integers(0, 50), min_size=1, max_size=4))
            event = _mutate(event, path, data.draw(values))
        records.append(Rec(json.dumps(event).encode(), offset=i))
    db = tmp_path_factory.mktemp("ex") / "hub.db"
    shutil.copy(template_db, db)
    asyncio.run(_consume_all(db, records))
