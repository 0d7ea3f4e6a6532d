"""Indicators, roll-up and laggards against numbers worked out by hand.

The directory (codes as in the sample)::

    P  province         no data of its own
    ├── S1 department    8 docs, 6 valid (2 SHA-1), 1 secret; refused: bad_signature,
    │   │                classified; report: paper 2, secret 3, scanned 80, officials 90
    │   └── U unit       nothing at all → unknown
    ├── S2 department    4 docs, 4 valid (all SHA-1); refused: unknown_recipient (no
    │                    signature fault)
    ├── D district       no traffic; report: paper 5, scanned 100, officials 100, level4 40
    │   ├── C1 commune   3 docs, 2 valid (1 SHA-1); refused: sender_mismatch
    │   └── C2 commune   statuses only (activity, no documents, no report)
    └── HUB unit         excluded from every report
"""

from __future__ import annotations

import pytest

from hub.coverage.compute import build_report, resolve_report
from hub.coverage.errors import UnknownAgencyError
from hub.coverage.facts import RefusalFact, ReportFact
from hub.coverage.ledger import DocumentCounts, PeriodData
from hub.coverage.models import CoverageReport, CoverageRow
from hub.coverage.periods import Period
from schemas.directory import Agency, Level
from tests.hub.coverage.traffic import C1, C2, DISTRICT, HUB, PROVINCE, S1, S2

U = "000.00.11.H49"
OUTSIDE = "000.00.88.H49"
NOV, OCT = Period.parse("2026-11"), Period.parse("2026-10")

AGENCIES = [
    Agency(code=PROVINCE, name="UBND tỉnh", level=Level.PROVINCE),
    Agency(code=S1, name="Sở Nội vụ", parent=PROVINCE, level=Level.DEPARTMENT),
    Agency(code=U, name="Trường Chính trị", parent=S1, level=Level.UNIT),
    Agency(code=S2, name="Sở Tư pháp", parent=PROVINCE, level=Level.DEPARTMENT),
    Agency(code=DISTRICT, name="UBND huyện Lục Ngạn", parent=PROVINCE, level=Level.DISTRICT),
    Agency(code=C1, name="UBND thị trấn Chũ", parent=DISTRICT, level=Level.COMMUNE),
    Agency(code=C2, name="UBND xã Biển Động", parent=DISTRICT, level=Level.COMMUNE),
    Agency(code=HUB, name="edoc-hub", parent=PROVINCE, level=Level.UNIT),
]


def refusal(n: int, sender: str, *reasons: str) -> RefusalFact:
    day = NOV.start
    return RefusalFact(f"e{n}", None, sender, "document", day, reasons)


def report(agency: str, period: str, paper: int, **kw: float | int | None) -> ReportFact:
    values: dict[str, float | int | None] = {
        "secret_sent": 0,
        "scanned_pct": None,
        "officials_pct": None,
        "level4_pct": None,
    } | kw
    return ReportFact(
        agency, period, "2026-12-01T00:00:00.000000Z", f"m-{agency}-{period}", paper, **values
    )  # type: ignore[arg-type]


CURRENT = PeriodData(
    period=NOV,
    documents={
        S1: DocumentCounts(8, 6, 1, weak=2),
        S2: DocumentCounts(4, 4, 0, weak=4),
        C1: DocumentCounts(3, 2, 0, weak=1),
        HUB: DocumentCounts(9, 0, 0),  # must vanish: the hub is excluded
        OUTSIDE: DocumentCounts(1, 1, 0, weak=1),  # in no row's sum
    },
    refusals=[
        refusal(1, S1, "bad_signature"),
        refusal(2, S1, "classified"),
        refusal(3, S2, "unknown_recipient"),
        refusal(4, C1, "sender_mismatch"),
    ],
    active=frozenset({S1, S2, C1, C2, HUB, OUTSIDE}),
    reports=[
        report(S1, "2026-11", 2, secret_sent=3, scanned_pct=80.0, officials_pct=90.0),
        report(DISTRICT, "2026-11", 5, scanned_pct=100.0, officials_pct=100.0, level4_pct=40.0),
    ],
)
PREVIOUS = PeriodData(period=OCT, documents={S1: DocumentCounts(5, 5, 0)}, active=frozenset({S1}))


@pytest.fixture(scope="module")
def full() -> CoverageReport:
    return build_report(CURRENT, PREVIOUS, AGENCIES, exclude=[HUB], laggard_limit=10)


def row(report: CoverageReport, code: str) -> CoverageRow:
    (found,) = [r for r in report.rows if r.code == code]
    return found


def values(r: CoverageRow) -> dict[str, float | None]:
    return {k: i.value for k, i in r.indicators.items()}


def test_rows_follow_the_tree_and_the_hub_is_left_out(full: CoverageReport) -> None:
    assert [(r.code, r.depth) for r in full.rows] == [
        (PROVINCE, 0),
        (S1, 1),
        (U, 2),
        (S2, 1),
        (DISTRICT, 1),
        (C1, 2),
        (C2, 2),
    ]
    assert full.outside_directory == [OUTSIDE]
    assert (full.period, full.previous_period) == ("2026-11", "2026-10")
    assert (full.first_day.isoformat(), full.last_day.isoformat()) == ("2026-11-01", "2026-11-30")


def test_agency_with_no_traffic_and_no_report_is_unknown_not_zero_or_hundred(
    full: CoverageReport,
) -> None:
    u = row(full, U)
    assert values(u) == dict.fromkeys(values(u))  # every indicator None
    assert all(i.gap is None and i.trend is None for i in u.indicators.values())
    assert u.status == "unknown" and u.report == "missing"
    assert u.counts.agencies_unknown == 1
    assert full.unknown == [U]


def test_own_figures_of_leaves(full: CoverageReport) -> None:
    assert values(row(full, S2)) == {
        "e_documents": 100.0,  # 4 / (4 + 0)
        "signature_use": 100.0,  # unknown_recipient is not a signature fault
        "scanned": None,
        "officials": None,
        "level4": None,
    }
    assert row(full, S2).status == "met" and row(full, S2).report == "missing"
    assert values(row(full, C1))["e_documents"] == 66.67  # 2 / 3
    assert values(row(full, C1))["signature_use"] == 0.0
    # statuses only: traffic (signature use known) but no documents (e-documents unknown)
    assert values(row(full, C2))["e_documents"] is None
    assert values(row(full, C2))["signature_use"] == 100.0
    assert row(full, C2).counts.documents == 0


def test_department_rolls_up_its_unit(full: CoverageReport) -> None:
    s1 = row(full, S1)
    assert values(s1) == {
        "e_documents": 60.0,  # 6 / (8 + 2 paper)
        "signature_use": 0.0,  # bad_signature
        "scanned": 80.0,
        "officials": 90.0,
        "level4": None,
    }
    c = s1.counts
    assert (c.documents, c.valid, c.paper, c.secret) == (
        8,
        6,
        2,
        4,
    )  # secret: 1 refused + 3 reported
    assert (c.agencies, c.agencies_with_traffic, c.agencies_signing_ok, c.agencies_unknown) == (
        2,
        1,
        0,
        1,
    )
    assert s1.invalid_signatures == {"bad_signature": 1}
    assert s1.other_refusals == {"classified": 1}
    assert s1.report == "complete"


def test_district_rolls_up_its_communes(full: CoverageReport) -> None:
    d = row(full, DISTRICT)
    assert values(d) == {
        "e_documents": 25.0,  # (0 + 2 + 0) / (0 + 3 + 0 docs + 5 paper)
        "signature_use": 50.0,  # C1 failed, C2 ok; D itself sent nothing
        "scanned": 100.0,
        "officials": 100.0,
        "level4": 40.0,
    }
    assert d.indicators["level4"].gap == -10.0 and d.indicators["e_documents"].gap == 75.0


def test_province_totals(full: CoverageReport) -> None:
    p = row(full, PROVINCE)
    assert values(p) == {
        "e_documents": 54.55,  # (6 + 4 + 2) / (8 + 4 + 3 + 2 + 5) = 12 / 22
        "signature_use": 50.0,  # S2 and C2 of S1, S2, C1, C2
        "scanned": 90.0,  # mean of S1 80 and D 100
        "officials": 95.0,  # mean of 90 and 100
        "level4": 40.0,  # D only
    }
    c = p.counts
    assert (c.documents, c.valid, c.paper, c.secret, c.agencies, c.agencies_unknown) == (
        15,
        12,
        7,
        4,
        7,
        2,  # the province committee itself and U
    )
    assert p.invalid_signatures == {"bad_signature": 1, "sender_mismatch": 1}
    assert p.other_refusals == {"classified": 1, "unknown_recipient": 1}


def test_weak_signatures_are_counted_apart_and_still_count_as_signed(
    full: CoverageReport,
) -> None:
    weak = {r.code: (r.counts.signed_weak, r.counts.agencies_signing_weak) for r in full.rows}
    assert weak == {
        PROVINCE: (7, 3),  # S1 2 + S2 4 + C1 1; OUTSIDE and the hub are in no row
        S1: (2, 1),
        U: (0, 0),
        S2: (4, 1),
        DISTRICT: (1, 1),
        C1: (1, 1),
        C2: (0, 0),
    }
    # S2 signed everything with SHA-1: valid, signed, on target — only the count tells.
    s2 = row(full, S2)
    assert values(s2)["e_documents"] == 100.0 and values(s2)["signature_use"] == 100.0
    assert s2.status == "met" and S2 not in [lag.code for lag in full.laggards]
    flat = {f["code"]: f for f in full.flat_rows()}
    assert (flat[S2]["signed_weak"], flat[PROVINCE]["agencies_signing_weak"]) == (4, 3)


def test_gap_and_trend_against_the_previous_period(full: CoverageReport) -> None:
    e = row(full, S1).indicators["e_documents"]
    assert (e.target, e.value, e.gap, e.previous, e.trend) == (100.0, 60.0, 40.0, 100.0, -40.0)
    assert row(full, S1).indicators["signature_use"].previous == 100.0
    d = row(full, DISTRICT).indicators["e_documents"]
    assert (d.previous, d.trend) == (None, None), "no data before: no trend"
    assert row(full, PROVINCE).indicators["level4"].target == 30.0


def test_laggards_rank_the_largest_gap_and_skip_the_province_total(full: CoverageReport) -> None:
    assert [(lag.code, lag.indicator, lag.gap) for lag in full.laggards] == [
        (S1, "signature_use", 100.0),
        (C1, "signature_use", 100.0),
        (DISTRICT, "e_documents", 75.0),
    ]
    short = build_report(CURRENT, PREVIOUS, AGENCIES, exclude=[HUB], laggard_limit=1)
    assert [lag.code for lag in short.laggards] == [S1]


def test_level_and_agency_select_rows() -> None:
    districts = build_report(CURRENT, PREVIOUS, AGENCIES, exclude=[HUB], level=Level.DISTRICT)
    assert [r.code for r in districts.rows] == [DISTRICT]
    assert values(districts.rows[0])["e_documents"] == 25.0, "a level row keeps its subtree"
    sub = build_report(CURRENT, PREVIOUS, AGENCIES, exclude=[HUB], agency=DISTRICT)
    assert [r.code for r in sub.rows] == [DISTRICT, C1, C2]
    communes = build_report(
        CURRENT, PREVIOUS, AGENCIES, exclude=[HUB], agency=DISTRICT, level=Level.COMMUNE
    )
    assert [r.code for r in communes.rows] == [C1, C2]
    province = build_report(CURRENT, PREVIOUS, AGENCIES, exclude=[HUB], level=Level.PROVINCE)
    assert [lag.code for lag in province.laggards] == [PROVINCE]
    with pytest.raises(UnknownAgencyError):
        build_report(CURRENT, PREVIOUS, AGENCIES, exclude=[HUB], agency="000.00.77.H49")
    with pytest.raises(UnknownAgencyError):
        build_report(CURRENT, PREVIOUS, AGENCIES, exclude=[HUB], agency=HUB)


def test_inactive_agency_appears_only_with_data() -> None:
    inactive = [*AGENCIES[:-1], AGENCIES[-1]]
    inactive[2] = Agency(code=U, name="Trường Chính trị", parent=S1, level=Level.UNIT, active=False)
    quiet = build_report(CURRENT, PREVIOUS, inactive, exclude=[HUB])
    assert U not in [r.code for r in quiet.rows]
    busy = PeriodData(period=NOV, documents={U: DocumentCounts(1, 1, 0)}, active=frozenset({U}))
    assert U in [r.code for r in build_report(busy, PREVIOUS, inactive, exclude=[HUB]).rows]


def test_report_without_numbers_leaves_agency_unknown_but_reporting() -> None:
    only_report = PeriodData(period=NOV, reports=[report(U, "2026-11", 0)])
    r = row(build_report(only_report, PREVIOUS, AGENCIES, exclude=[HUB]), U)
    assert r.status == "unknown" and r.report == "complete"
    assert (r.counts.agencies_reporting, r.counts.agencies_unknown) == (1, 0)
    paper_only = PeriodData(period=NOV, reports=[report(U, "2026-11", 4)])
    r = row(build_report(paper_only, PREVIOUS, AGENCIES, exclude=[HUB]), U)
    assert values(r)["e_documents"] == 0.0, "everything on paper is 0 %, a known value"


def test_reports_of_smaller_periods_are_combined() -> None:
    by_period = {
        "2026-10": report(S1, "2026-10", 1, scanned_pct=80.0),
        "2026-11": report(S1, "2026-11", 2, scanned_pct=90.0, officials_pct=70.0),
    }
    q4 = resolve_report(Period.parse("2026-Q4"), by_period)
    assert q4 is not None
    assert (q4.paper_sent, q4.values["scanned"], q4.values["officials"], q4.complete) == (
        3,
        85.0,
        70.0,
        False,  # December is missing
    )
    with_quarter = {**by_period, "2026-Q4": report(S1, "2026-Q4", 7, level4_pct=25.0)}
    exact = resolve_report(Period.parse("2026-Q4"), with_quarter)
    assert exact is not None and (exact.paper_sent, exact.complete) == (7, True)
    year = {
        "2026-Q1": report(S1, "2026-Q1", 10, level4_pct=20.0),
        "2026-04": report(S1, "2026-04", 1, level4_pct=30.0),
        "2026-05": report(S1, "2026-05", 1, level4_pct=30.0),
        "2026-06": report(S1, "2026-06", 1, level4_pct=60.0),
    }
    y = resolve_report(Period.parse("2026"), year)
    assert y is not None
    # Q1 = 20 %; Q2 = mean(30, 30, 60) = 40 %; the year = mean of the quarters = 30 %
    assert (y.paper_sent, y.values["level4"], y.complete) == (13, 30.0, False)
    assert resolve_report(Period.parse("2026-11"), {"2026-Q4": by_period["2026-10"]}) is None
