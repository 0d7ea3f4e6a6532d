"""No package stops the verifier: generated hostile packages, from the bytes to the verdict event.

Where test_properties.py mutates valid packages to show that nothing forged
verifies, this generates packages a hostile or broken sender might write —
random JSON where the schema wants something else, times at the edges of
``datetime`` (years 1 and 9999, odd offsets), duplicated members, numbers
where strings belong, arbitrary signature entries — and feeds them to
``Verifier.verify_bytes``, sometimes with a caller's ``at``/``received_at`` at
the edges too. What must hold:

* the only exception is ``ValidationTimeError``, and only for a caller's time
  out of range (documented in docs/signing.md);
* a package ``parse_package`` refuses is ``malformed`` and nothing else;
* a report is ``ok`` only for the header bytes and attachments that were signed;
* no signature report is a profile bug;
* every report fits a ``VerdictEvent`` that reads back (the router publishes one
  per package, and the services read it).

CI runs ``max_examples=300``; ``EDOC_HYPOTHESIS_EXAMPLES=40000`` runs more (about
10 minutes here; add ``--timeout=0``, pytest-timeout stops a test at 300 s).
"""

from __future__ import annotations

import base64
import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from schemas.bounds import check_instant
from schemas.errors import MalformedPackageError
from schemas.events import SourceRecord, VerdictEvent
from schemas.package import ParsedPackage, b64url_encode, parse_package
from schemas.reasons import Reason
from schemas.report import VerificationReport
from signing.errors import ValidationTimeError
from signing.pki import DemoPKI
from signing.verifier import PROFILE_BUG, Verifier
from tests.signing.conftest import COSIGNER, SENDER, MakePackage, trust_for

EXAMPLES = int(os.environ.get("EDOC_HYPOTHESIS_EXAMPLES", "300"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass(frozen=True)
class World:
    """A verifier, genuine packages (jws, cms, co-signed) and their parts to recombine."""

    verifier: Verifier
    packages: tuple[dict[str, Any], ...]
    headers: tuple[dict[str, Any], ...]
    #: (header bytes, attachments) of each genuine package: all an ok report may carry.
    signed: tuple[tuple[bytes, tuple[tuple[str, bytes], ...]], ...]


def _content(raw: bytes) -> tuple[bytes, tuple[tuple[str, bytes], ...]]:
    parsed = parse_package(raw)
    return parsed.header_bytes, tuple(sorted(parsed.attachments.items()))


@functools.cache
def _world(spki: DemoPKI, make_package: MakePackage) -> World:
    # Built once per session: hypothesis must not see function-scoped fixtures.
    raws = [make_package(profile=p) for p in ("jws", "cms")]
    raws.append(make_package(SENDER, COSIGNER, profile="cms"))
    return World(
        Verifier(trust_for(spki), max_package_bytes=256 * 1024),
        packages=tuple(json.loads(r) for r in raws),
        headers=tuple(json.loads(parse_package(r).header_bytes) for r in raws),
        signed=tuple(_content(r) for r in raws),
    )


# -- values --------------------------------------------------------------------------

_YEARS = st.one_of(
    st.sampled_from([1, 2, 1900, 1969, 1970, 1999, 2000, 2026, 2199, 2200, 9998, 9999]),
    st.integers(1, 9999),
)
_OFFSETS = st.one_of(
    st.sampled_from(["Z", "+00:00", "-00:01", "+00:01", "+23:59", "-23:59", "+07:00", ""]),
    st.builds(
        lambda sign, h, m: f"{sign}{h:02d}:{m:02d}",
        st.sampled_from("+-"),
        st.integers(0, 23),
        st.integers(0, 59),
    ),
)


@st.composite
def datetime_texts(draw: st.DrawFn) -> str:
    """RFC 3339-ish text, often at the edges of what ``datetime`` can hold."""
    year, month = draw(_YEARS), draw(st.integers(1, 12))
    day = draw(st.sampled_from([1, 28, 31 if month in (1, 3, 5, 7, 8, 10, 12) else 30]))
    clock = draw(st.sampled_from(["00:00:00", "23:59:59", "23:58:00", "12:00:00.123456789"]))
    sep = draw(st.sampled_from(["T", "T", " ", "t"]))
    return f"{year:04d}-{month:02d}-{day:02d}{sep}{clock}{draw(_OFFSETS)}"


def _instants() -> st.SearchStrategy[datetime]:
    """Aware datetimes a caller might pass, including ones arithmetic cannot shift."""
    edges = st.sampled_from(
        [
            datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
            datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(-timedelta(minutes=1))),
            datetime(9999, 12, 31, 23, 58, tzinfo=UTC),
            datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
            datetime(2199, 12, 31, 23, 59, 59, tzinfo=UTC),
        ]
    )
    offsets = st.integers(-1439, 1439).map(lambda m: timezone(timedelta(minutes=m)))
    in_range = st.datetimes(datetime(2000, 1, 2), datetime(2199, 12, 30), timezones=offsets)
    return st.one_of(edges, in_range, st.datetimes(timezones=offsets))


_JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=12),
        datetime_texts(),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)

_FIELDS = [
    ("sent_at",),
    ("v",),
    ("message_id",),
    ("kind",),
    ("from",),
    ("to",),
    ("attachments",),
    ("document", "priority"),
    ("document", "due_date"),
    ("document", "classification"),
    ("document", "promulgation", "date"),
    ("document", "business", "doc_type"),
    ("document", "business", "paper"),
    ("document", "response_for"),
]


@st.composite
def header_edits(draw: st.DrawFn, header: dict[str, Any]) -> bytes:
    """The header JSON bytes after a few hostile edits (or none)."""
    edited = json.loads(json.dumps(header))
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(_FIELDS))
        target = edited
        for key in path[:-1]:
            target = target.setdefault(key, {}) if isinstance(target, dict) else {}
        if not isinstance(target, dict):
            continue
        how = draw(st.sampled_from(["time", "json", "drop", "date"]))
        if how == "time":
            target[path[-1]] = draw(datetime_texts())
        elif how == "date":
            target[path[-1]] = draw(datetime_texts())[:10]
        elif how == "json":
            target[path[-1]] = draw(_JSON)
        else:
            target.pop(path[-1], None)
    text = json.dumps(edited, ensure_ascii=draw(st.booleans()))
    if draw(st.integers(0, 4)) == 0:  # a duplicated member, first or last copy hostile
        name = draw(st.sampled_from(["classification", "from", "sent_at", "kind", "v"]))
        text = text.replace(f'"{name}": ', f'"{name}": {json.dumps(draw(_JSON))}, "{name}": ', 1)
    return text.encode()


@st.composite
def signature_entries(draw: st.DrawFn, genuine: list[dict[str, Any]]) -> Any:
    """A genuine entry, a mangled one, or anything at all."""
    profile = draw(st.one_of(st.sampled_from(["jws", "cms", "xmldsig", "x", ""]), st.text()))
    value = draw(
        st.one_of(
            st.text(max_size=60),
            st.binary(max_size=80).map(lambda b: base64.b64encode(b).decode()),
            st.lists(st.binary(max_size=40).map(b64url_encode), min_size=3, max_size=3).map(
                ".".join
            ),
        )
    )
    return draw(
        st.one_of(
            st.sampled_from(genuine) if genuine else st.nothing(),
            st.just({"profile": profile, "value": value}),
            st.just({"profile": profile, "value": value, "extra": 1}),
            _JSON,
        )
    )


def _often(draw: Callable[[st.SearchStrategy[Any]], Any], usual: Any, hostile: Any) -> Any:
    """``usual`` seven times in ten, so that enough packages get past parsing."""
    return usual if draw(st.integers(0, 9)) < 7 else draw(hostile)


@st.composite
def packages(draw: st.DrawFn, world: World) -> bytes:
    """A package built from a genuine one: its header edited or not, anything else redrawn."""
    i = draw(st.integers(0, len(world.packages) - 1))
    base, header = world.packages[i], world.headers[i]
    header_bytes = draw(st.one_of(st.just(world.signed[i][0]), header_edits(header)))
    encoded = _often(
        draw,
        b64url_encode(header_bytes),
        st.sampled_from(
            [
                base64.urlsafe_b64encode(header_bytes).decode(),  # padded: accepted
                base64.b64encode(header_bytes).decode(),
                b64url_encode(header_bytes) + "\n",
            ]
        ),
    )
    pkg: dict[str, Any] = {
        "v": _often(draw, 1, st.sampled_from([True, 1.0, "1", 2, None])),
        "header": encoded,
        "signatures": draw(st.lists(signature_entries(base["signatures"]), max_size=3)),
        "attachments": _often(draw, base["attachments"], st.lists(_JSON, max_size=2)),
    }
    if draw(st.integers(0, 19)) == 0:
        pkg = draw(_JSON) if draw(st.booleans()) else {**pkg, draw(st.text()): draw(_JSON)}
    return json.dumps(pkg).encode()


def _in_range(when: datetime | None) -> bool:
    if when is None:
        return True
    try:
        check_instant(when)
    except ValueError:
        return False
    return True


@SETTINGS
@given(data=st.data())
def test_hostile_packages_never_escape_the_verifier(
    spki: DemoPKI, make_package: MakePackage, data: st.DataObject
) -> None:
    world = _world(spki, make_package)
    raw = data.draw(packages(world), label="package")
    at = _often(data.draw, None, _instants())
    received_at = _often(data.draw, None, _instants())
    try:
        report = world.verifier.verify_bytes(raw, at=at, received_at=received_at)
    except ValidationTimeError:
        assert not (_in_range(at) and _in_range(received_at))
        event("caller's time out of range")
        return
    assert _in_range(at) and _in_range(received_at)
    for sig in report.signatures:
        assert not any(d.startswith(PROFILE_BUG) for d in sig.details), sig.details
    try:
        parsed = parse_package(raw)
    except MalformedPackageError:
        assert report.reasons in ([Reason.MALFORMED], [Reason.TOO_LARGE]), report.to_json()
        parsed = None
    event(f"{report.verdict}: {','.join(report.reasons)}")
    if report.ok:
        assert _content(raw) in world.signed, report.to_json()
    else:
        assert report.reasons and report.verdict == "rejected"
    _publishable(report, parsed)


def _publishable(report: VerificationReport, parsed: ParsedPackage | None) -> None:
    """The router's event for this report serialises and reads back unchanged."""
    now = datetime.now(UTC)
    event = VerdictEvent(
        message_id=report.message_id,
        package_sha256=report.package_sha256,
        kind=report.kind,
        **{"from": report.from_},
        to=report.to,
        verdict=report.verdict,
        reasons=report.reasons,
        received_at=report.received_at or now,
        decided_at=now,
        source=SourceRecord(topic="edoc.submit", partition=0, offset=0),
        report=report,
        header=parsed.package.header if parsed else None,
        signatures=list(parsed.package.signatures) if parsed else [],
    )
    again = VerdictEvent.model_validate_json(event.to_bytes())
    assert again.report == report
