"""Rolling counters of the message flow, fed with verdict events; pure, no I/O.

Two resolutions are kept in memory:

* per second, for the last ``SECOND_HORIZON`` seconds: packages by verdict and
  kind, by sender and by recipient, reasons and end-to-end latencies — the
  live rate and the five-minute picture;
* per minute, for the last ``MINUTE_HORIZON`` minutes: verdicts and reasons —
  the "over time" charts.

Plus totals per agency since the monitor started. Events are bucketed by the
router's decision time, so history read at start-up lands where it belongs.

Memory is bounded by the horizons and the number of agencies — agencies of the
directory, not whatever code a package names: a sender the router did not find
in the directory (reason ``unknown_sender``) is counted in one bucket,
``OTHER_AGENCIES``, and so is every code beyond the first ``MAX_AGENCIES``. A
flood of packages from made-up senders therefore adds counts, never keys.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from schemas.bounds import check_instant

#: Seconds kept at one-second resolution (15 minutes).
SECOND_HORIZON = 900
#: Minutes kept at one-minute resolution (24 hours).
MINUTE_HORIZON = 1440
#: Latency samples kept per second (enough for percentiles, bounded under load).
_LATENCY_SAMPLES = 256
#: Width of one bar of the live chart, seconds, and how many bars it has (5 minutes).
SERIES_STEP = 5
SERIES_BARS = 60
#: Agencies counted one by one (a province's directory has a few hundred); codes seen
#: after this many are counted in ``OTHER_AGENCIES``.
MAX_AGENCIES = 2000
#: The one bucket of senders not in the directory and of codes beyond ``MAX_AGENCIES``
#: (no agency code looks like it: those are ``ddd.dd.dd.Xnn``).
OTHER_AGENCIES = "other"
#: The router's reason for a sender that is not an active agency of the directory.
_UNKNOWN_SENDER = "unknown_sender"


@dataclass(frozen=True)
class FlowEvent:
    """What the console needs of one verdict event."""

    decided_at: datetime
    sender: str | None
    recipients: tuple[str, ...]
    kind: str | None
    verdict: str
    reasons: tuple[str, ...]
    latency: float | None  # seconds from received_at to decided_at

    @classmethod
    def from_json(cls, event: dict[str, Any]) -> FlowEvent:
        """Pick the fields from a parsed ``edoc.events`` record (a ``VerdictEvent``)."""
        decided = _parse_time(event.get("decided_at")) or datetime.now(UTC)
        received = _parse_time(event.get("received_at"))
        latency = (decided - received).total_seconds() if received else None
        sender = event.get("from")
        kind = event.get("kind")
        return cls(
            decided_at=decided,
            sender=sender if isinstance(sender, str) else None,
            recipients=_texts(event.get("to")),
            kind=kind if isinstance(kind, str) else None,
            verdict="ok" if event.get("verdict") == "ok" else "rejected",
            reasons=_texts(event.get("reasons")),
            latency=max(latency, 0.0) if latency is not None else None,
        )


def _texts(value: object) -> tuple[str, ...]:
    """The strings of a JSON list (counters are keyed by them; anything else is skipped)."""
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
        return check_instant(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))
    except ValueError:  # unreadable, or outside the hub's years (arithmetic would overflow)
        return None


@dataclass
class _Second:
    ok: int = 0
    rejected: int = 0
    documents: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    senders: Counter[str] = field(default_factory=Counter)
    recipients: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)


@dataclass
class _Minute:
    ok: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


@dataclass
class AgencyTotals:
    """What one agency sent and received since the monitor started."""

    sent_ok: int = 0
    sent_rejected: int = 0
    received: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    last_sent: datetime | None = None
    last_received: datetime | None = None


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-quantile (0–1) by nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


class FlowStats:
    """Rolling flow counters (see the module docstring)."""

    def __init__(self, max_agencies: int = MAX_AGENCIES) -> None:
        self.max_agencies = max_agencies
        self._seconds: dict[int, _Second] = {}
        self._minutes: dict[int, _Minute] = {}
        self.totals: Counter[str] = Counter()
        self.agencies: dict[str, AgencyTotals] = {}
        self.last_event_at: datetime | None = None
        self.events = 0

    def observe(self, ev: FlowEvent) -> None:
        """Count one verdict event."""
        ts = int(ev.decided_at.timestamp())
        self.events += 1
        self.totals[ev.verdict] += 1
        if self.last_event_at is None or ev.decided_at > self.last_event_at:
            self.last_event_at = ev.decided_at
        sec = self._seconds.setdefault(ts, _Second())
        minute = self._minutes.setdefault(ts // 60, _Minute())
        if ev.verdict == "ok":
            sec.ok += 1
            minute.ok += 1
        else:
            sec.rejected += 1
            minute.rejected += 1
            sec.reasons.update(ev.reasons)
            minute.reasons.update(ev.reasons)
        if ev.kind == "document":
            sec.documents += 1
        sec.kinds[ev.kind or "unreadable"] += 1
        if ev.sender:
            sender = self._key(ev.sender, listed=_UNKNOWN_SENDER not in ev.reasons)
            sec.senders[sender] += 1
            a = self.agencies.setdefault(sender, AgencyTotals())
            if ev.verdict == "ok":
                a.sent_ok += 1
            else:
                a.sent_rejected += 1
                a.reasons.update(ev.reasons)
            a.last_sent = max(filter(None, (a.last_sent, ev.decided_at)))
        if ev.verdict == "ok":  # an accepted package's recipients are all in the directory
            for code in ev.recipients:
                key = self._key(code, listed=True)
                sec.recipients[key] += 1
                r = self.agencies.setdefault(key, AgencyTotals())
                r.received += 1
                r.last_received = max(filter(None, (r.last_received, ev.decided_at)))
        if ev.latency is not None and len(sec.latencies) < _LATENCY_SAMPLES:
            sec.latencies.append(ev.latency)

    def _key(self, code: str, *, listed: bool) -> str:
        """The key ``code`` is counted under: itself, or ``OTHER_AGENCIES``."""
        if listed and (code in self.agencies or len(self.agencies) < self.max_agencies):
            return code
        return OTHER_AGENCIES

    def prune(self, now: datetime) -> None:
        """Forget buckets older than the horizons."""
        ts = int(now.timestamp())
        for key in [k for k in self._seconds if k <= ts - SECOND_HORIZON]:
            del self._seconds[key]
        for key in [k for k in self._minutes if k <= ts // 60 - MINUTE_HORIZON]:
            del self._minutes[key]

    def _window(self, now: datetime, seconds: int, *, complete: bool = True) -> list[_Second]:
        """Buckets of the last ``seconds`` seconds (without the current, partial one)."""
        end = int(now.timestamp()) - (1 if complete else 0)
        return [s for t in range(end - seconds + 1, end + 1) if (s := self._seconds.get(t))]

    def rate(self, now: datetime, seconds: int = 10, *, documents: bool = False) -> float:
        """Packages (or documents only) per second over the last ``seconds`` full seconds."""
        window = self._window(now, seconds)
        count = sum(s.documents if documents else s.ok + s.rejected for s in window)
        return count / seconds

    def series(self, now: datetime) -> list[dict[str, int]]:
        """Verdicts per ``SERIES_STEP`` seconds over the last ``SERIES_BARS`` steps."""
        ts = int(now.timestamp())
        last = ts - ts % SERIES_STEP
        out = []
        for start in range(last - (SERIES_BARS - 1) * SERIES_STEP, last + 1, SERIES_STEP):
            ok = rejected = 0
            for t in range(start, start + SERIES_STEP):
                if s := self._seconds.get(t):
                    ok += s.ok
                    rejected += s.rejected
            out.append({"t": start, "ok": ok, "rejected": rejected})
        return out

    def minutes(self, now: datetime, count: int = 60, top: int = 5) -> dict[str, Any]:
        """Verdicts per minute over the last ``count`` minutes, rejections split by top reasons."""
        current = int(now.timestamp()) // 60
        keys = range(current - count + 1, current + 1)
        reasons: Counter[str] = Counter()
        for k in keys:
            if m := self._minutes.get(k):
                reasons.update(m.reasons)
        named = [r for r, _ in reasons.most_common(top)]
        rows = []
        for k in keys:
            m = self._minutes.get(k) or _Minute()
            split = {r: m.reasons.get(r, 0) for r in named}
            rows.append({"t": k * 60, "ok": m.ok, "rejected": m.rejected, "reasons": split})
        return {"reasons": named, "rows": rows, "totals": dict(reasons.most_common())}

    def snapshot(self, now: datetime, top: int = 10) -> dict[str, Any]:
        """Everything the dashboard shows, as JSON-ready data."""
        self.prune(now)
        five = self._window(now, 300, complete=False)
        ok = sum(s.ok for s in five)
        rejected = sum(s.rejected for s in five)
        senders: Counter[str] = Counter()
        recipients: Counter[str] = Counter()
        kinds: Counter[str] = Counter()
        latencies: list[float] = []
        for s in five:
            senders.update(s.senders)
            recipients.update(s.recipients)
            kinds.update(s.kinds)
            latencies.extend(s.latencies)
        return {
            "now": now.isoformat(timespec="seconds"),
            "rate": round(self.rate(now), 2),
            "doc_rate": round(self.rate(now, documents=True), 2),
            "rate_1m": round(self.rate(now, 60), 2),
            "window": {
                "seconds": 300,
                "ok": ok,
                "rejected": rejected,
                "accepted_pct": round(100 * ok / (ok + rejected), 1) if ok + rejected else None,
                "kinds": dict(kinds),
            },
            "latency": {
                "p50": percentile(latencies, 0.5),
                "p95": percentile(latencies, 0.95),
                "max": max(latencies) if latencies else None,
            },
            "senders": _top(senders, top),
            "recipients": _top(recipients, top),
            "series": self.series(now),
            "minutes": self.minutes(now),
            "totals": {"ok": self.totals["ok"], "rejected": self.totals["rejected"]},
            "events": self.events,
            "last_event_at": self.last_event_at.isoformat(timespec="seconds")
            if self.last_event_at
            else None,
        }

    def agency(self, code: str, now: datetime) -> dict[str, Any]:
        """One agency's share of the flow: totals since start and the last hour per minute."""
        totals = self.agencies.get(code) or AgencyTotals()
        hour = self._window(now, SECOND_HORIZON, complete=False)
        return {
            "code": code,
            "sent_ok": totals.sent_ok,
            "sent_rejected": totals.sent_rejected,
            "received": totals.received,
            "reasons": dict(totals.reasons.most_common()),
            "last_sent": totals.last_sent.isoformat(timespec="seconds")
            if totals.last_sent
            else None,
            "last_received": totals.last_received.isoformat(timespec="seconds")
            if totals.last_received
            else None,
            "sent_15m": sum(s.senders.get(code, 0) for s in hour),
            "received_15m": sum(s.recipients.get(code, 0) for s in hour),
        }

    def active_agencies(self) -> Iterable[str]:
        """Codes that sent or received anything since the monitor started."""
        return self.agencies.keys()


def _top(counts: Counter[str], n: int) -> list[dict[str, Any]]:
    return [{"code": c, "count": k, "rate": round(k / 300, 3)} for c, k in counts.most_common(n)]
