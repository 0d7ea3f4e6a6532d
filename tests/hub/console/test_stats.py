"""Rolling flow counters: rates, windows, buckets by decision time, agency totals, pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.console.stats import SECOND_HORIZON, FlowEvent, FlowStats, percentile

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
