"""Rolling flow counters: rates, windows, buckets by decision time, agency totals, pruning."""

from __future__ import annotations

import random
import tracemalloc
from datetime import UTC, datetime, timedelta

from hub.ops.stats import (
    MAX_AGENCIES,
    OTHER_AGENCIES,
    SECOND_HORIZON,
    FlowEvent,
    FlowStats,
    percentile,
)

NOW = datetime(2026, 11, 26, 9, 30, 0, tzinfo=UTC)


def event(
    seconds_ago: float,
    verdict: str = "ok",
    *,
    sender: str = "000.00.01.H49",
    to: tuple[str, ...] = ("000.00.02.H49",),
    reasons: tuple[str, ...] = (),
    kind: str = "document",
    latency: float | None = 0.05,
) -> FlowEvent:
    return FlowEvent(
        decided_at=NOW - timedelta(seconds=seconds_ago),
        sender=sender,
        recipients=to,
        kind=kind,
        verdict=verdict,
        reasons=reasons,
        latency=latency,
    )


def test_rate_counts_the_last_full_seconds_only() -> None:
    stats = FlowStats()
    for second in range(1, 11):  # two per second over the ten full seconds before NOW
        stats.observe(event(second))
        stats.observe(event(second - 0.5))
    stats.observe(event(0))  # the current, partial second does not count yet
    stats.observe(event(30))  # nor does anything older than the window
    assert stats.rate(NOW) == 2.0
    assert stats.rate(NOW, documents=True) == 2.0
    stats.observe(event(2, kind="status"))
    assert stats.rate(NOW) == 2.1 and stats.rate(NOW, documents=True) == 2.0


def test_snapshot_window_top_agencies_reasons_and_latency() -> None:
    stats = FlowStats()
    for i in range(8):
        stats.observe(event(10 + i, latency=0.01 * (i + 1)))
    bad = {"sender": "000.00.03.H49", "latency": None}
    stats.observe(event(12, "rejected", reasons=("bad_signature",), **bad))  # type: ignore[arg-type]
    stats.observe(event(13, "rejected", reasons=("stale", "sender_mismatch"), **bad))  # type: ignore[arg-type]
    snap = stats.snapshot(NOW)
    assert snap["window"]["ok"] == 8 and snap["window"]["rejected"] == 2
    assert snap["window"]["accepted_pct"] == 80.0
    assert snap["senders"][0] == {"code": "000.00.01.H49", "count": 8, "rate": round(8 / 300, 3)}
    # refused packages are not deliveries: recipients count accepted ones only
    assert snap["recipients"] == [{"code": "000.00.02.H49", "count": 8, "rate": 0.027}]
    assert snap["minutes"]["totals"] == {"bad_signature": 1, "stale": 1, "sender_mismatch": 1}
    assert snap["latency"]["p50"] == 0.04 and snap["latency"]["max"] == 0.08
    assert snap["totals"] == {"ok": 8, "rejected": 2}
    assert sum(b["ok"] + b["rejected"] for b in snap["series"]) == 10
    assert len(snap["series"]) == 60 and len(snap["minutes"]["rows"]) == 60


def test_history_lands_in_its_own_minute_and_old_buckets_are_forgotten() -> None:
    stats = FlowStats()
    stats.observe(event(45 * 60, "rejected", reasons=("revocation_unknown",)))
    stats.observe(event(SECOND_HORIZON + 5))
    rows = stats.minutes(NOW)["rows"]
    assert [r["rejected"] for r in rows].index(1) == 60 - 1 - 45
    assert rows[60 - 1 - 45]["reasons"] == {"revocation_unknown": 1}
    stats.prune(NOW)
    assert stats.snapshot(NOW)["window"]["ok"] == 0, "beyond the five minutes"
    assert stats.agency("000.00.01.H49", NOW)["sent_ok"] == 1, "totals stay"
    stats.prune(NOW + timedelta(days=2))
    assert all(r["ok"] == r["rejected"] == 0 for r in stats.minutes(NOW)["rows"])


def test_agency_view_separates_sent_refused_and_received() -> None:
    stats = FlowStats()
    stats.observe(event(5, sender="000.00.01.H49", to=("000.00.02.H49", "000.00.03.H49")))
    stats.observe(event(4, "rejected", sender="000.00.01.H49", reasons=("cert_revoked",)))
    stats.observe(event(3, sender="000.00.02.H49", to=("000.00.01.H49",)))
    a = stats.agency("000.00.01.H49", NOW)
    assert (a["sent_ok"], a["sent_rejected"], a["received"]) == (1, 1, 1)
    assert a["reasons"] == {"cert_revoked": 1}
    assert a["sent_15m"] == 2 and a["received_15m"] == 1
    assert stats.agency("000.00.99.H49", NOW)["sent_ok"] == 0


def test_events_parse_from_the_wire_even_when_incomplete() -> None:
    ev = FlowEvent.from_json(
        {
            "verdict": "rejected",
            "reasons": ["malformed"],
            "from": None,
            "to": [],
            "kind": None,
            "received_at": "2026-11-26T02:00:00+00:00",
            "decided_at": "2026-11-26T02:00:01.500000+00:00",
        }
    )
    assert ev.latency == 1.5 and ev.sender is None and ev.verdict == "rejected"
    stats = FlowStats()
    stats.observe(ev)
    assert stats.snapshot(ev.decided_at + timedelta(seconds=1))["window"]["kinds"] == {
        "unreadable": 1
    }
    assert FlowEvent.from_json({"verdict": "ok", "decided_at": "garbage"}).latency is None


def test_percentile_by_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 0.95) == 95.0


def random_code(rng: random.Random) -> str:
    """A well-formed agency code no directory lists (the router refuses it: unknown_sender)."""
    low, mid, high, top = (rng.randrange(n) for n in (1000, 100, 100, 100))
    return f"{low:03d}.{mid:02d}.{high:02d}.Z{top:02d}"


def flood(stats: FlowStats, rng: random.Random, count: int, reasons: tuple[str, ...]) -> None:
    for i in range(count):
        stats.observe(event(i % 7, "rejected", sender=random_code(rng), to=(), reasons=reasons))


def test_a_flood_of_unknown_senders_adds_counts_never_keys() -> None:
    stats = FlowStats()
    stats.observe(event(3, sender="000.00.01.H49"))
    rng = random.Random(7)
    tracemalloc.start()
    try:
        flood(stats, rng, 5_000, ("unknown_sender",))
        before, _ = tracemalloc.get_traced_memory()
        flood(stats, rng, 20_000, ("unknown_sender", "bad_signature"))
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 20,000 more made-up senders: no new keys, so (almost) no new memory. Counting each
    # code apart kept an AgencyTotals and counter entries per code — megabytes.
    assert after - before < 200_000, f"memory grew by {after - before} bytes"
    assert set(stats.active_agencies()) == {"000.00.01.H49", "000.00.02.H49", OTHER_AGENCIES}
    other = stats.agency(OTHER_AGENCIES, NOW)
    assert other["sent_rejected"] == 25_000 and other["sent_15m"] == 25_000
    assert other["reasons"] == {"unknown_sender": 25_000, "bad_signature": 20_000}
    snap = stats.snapshot(NOW)
    assert snap["senders"][0] == {"code": OTHER_AGENCIES, "count": 25_000, "rate": 83.333}
    assert snap["window"]["rejected"] == 25_000, "every package is still counted"
    assert stats.agency("000.00.01.H49", NOW)["sent_ok"] == 1, "known agencies keep their own"


def test_codes_beyond_the_cap_share_one_bucket() -> None:
    # Senders the router knew (no unknown_sender), but more than any directory holds.
    stats = FlowStats(max_agencies=50)
    rng = random.Random(11)
    flood(stats, rng, 2_000, ("bad_signature",))
    codes = set(stats.active_agencies())
    assert len(codes) == 51 and OTHER_AGENCIES in codes
    named = sum(stats.agency(c, NOW)["sent_rejected"] for c in codes - {OTHER_AGENCIES})
    assert named + stats.agency(OTHER_AGENCIES, NOW)["sent_rejected"] == 2_000
    # an agency counted before the cap was reached keeps counting under its own code
    first = next(iter(codes - {OTHER_AGENCIES}))
    stats.observe(event(1, sender=first, to=(first,)))
    assert stats.agency(first, NOW)["received"] == 1
    assert MAX_AGENCIES >= 1000, "room for a province's whole directory"


def test_times_outside_the_hubs_range_are_ignored_not_fatal() -> None:
    ev = FlowEvent.from_json(
        {
            "verdict": "ok",
            "from": "000.00.01.H49",
            "to": "000.00.02.H49",  # not a list: no recipients rather than one per character
            "reasons": [{"x": 1}, "stale"],
            "received_at": "0001-01-01T00:00:00+05:00",
            "decided_at": "9999-12-31T23:59:59-05:00",
        }
    )
    assert ev.latency is None and ev.recipients == () and ev.reasons == ("stale",)
    assert ev.decided_at.year == datetime.now(UTC).year  # unreadable: counted as now
    FlowStats().observe(ev)
