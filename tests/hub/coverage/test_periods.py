"""Periods: parsing, bounds, neighbours, parts, and the province's local day."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from hub.coverage.errors import CoverageError, PeriodError
from hub.coverage.periods import Period, Span, current_month, load_timezone, local_day
from tests.hub.coverage.traffic import TZ


@pytest.mark.parametrize(
    ("text", "span", "start", "end"),
    [
        ("2026-11", Span.MONTH, date(2026, 11, 1), date(2026, 12, 1)),
        ("2026-12", Span.MONTH, date(2026, 12, 1), date(2027, 1, 1)),
        ("2026-Q1", Span.QUARTER, date(2026, 1, 1), date(2026, 4, 1)),
        ("2026-Q4", Span.QUARTER, date(2026, 10, 1), date(2027, 1, 1)),
        ("2026", Span.YEAR, date(2026, 1, 1), date(2027, 1, 1)),
    ],
)
def test_parse_and_bounds(text: str, span: Span, start: date, end: date) -> None:
    p = Period.parse(text)
    assert (p.span, p.start, p.end, p.label, str(p)) == (span, start, end, text, text)
    assert p.day_range == (start.isoformat(), end.isoformat())
    assert p.contains(start) and not p.contains(end)


@pytest.mark.parametrize(
    "text", ["2026-13", "2026-00", "2026-Q5", "2026-Q0", "26-11", "2026-1", "", "2026-11-01", "x"]
)
def test_bad_periods_are_refused_with_a_hint(text: str) -> None:
    with pytest.raises(PeriodError) as err:
        Period.parse(text)
    assert err.value.hint and "YYYY-MM" in err.value.hint


@pytest.mark.parametrize(
    "text", ["0001", "0001-01", "1999", "1999-Q4", "1999-12", "2200", "2200-Q1", "9999", "9999-12"]
)
def test_years_outside_the_hubs_range_are_refused(text: str) -> None:
    # Year 9999 has no next period and year 1 no previous one (date arithmetic raised,
    # a 500 from the coverage API); no time the hub accepts lies outside 2000-2199.
    with pytest.raises(PeriodError) as err:
        Period.parse(text)
    assert err.value.hint and "YYYY-MM" in err.value.hint and "2000-2199" in err.value.hint


def test_the_edge_years_and_their_neighbours_work() -> None:
    first, last = Period.parse("2000-01"), Period.parse("2199")
    assert first.previous().start == date(1999, 12, 1)
    assert last.end == date(2200, 1, 1) and last.next().label == "2200"
    assert Period.parse("2199-Q4").day_range == ("2199-10-01", "2200-01-01")


@pytest.mark.parametrize(
    ("text", "previous"),
    [("2026-01", "2025-12"), ("2026-11", "2026-10"), ("2026-Q1", "2025-Q4"), ("2026", "2025")],
)
def test_previous_is_the_period_before_of_the_same_span(text: str, previous: str) -> None:
    assert Period.parse(text).previous().label == previous
    assert Period.parse(previous).next().label == text


def test_parts_and_labels_within() -> None:
    assert [p.label for p in Period.parse("2026-Q4").parts()] == ["2026-10", "2026-11", "2026-12"]
    assert Period.parse("2026-11").parts() == []
    year = Period.parse("2026").labels_within()
    assert len(year) == 1 + 4 + 12
    assert year[:3] == ["2026", "2026-Q1", "2026-01"]


def test_the_day_is_the_provinces_day_not_utcs() -> None:
    # 17:30 UTC on 30 November is 00:30 on 1 December in Bắc Giang.
    moment = datetime(2026, 11, 30, 17, 30, tzinfo=UTC)
    assert local_day(moment, TZ) == date(2026, 12, 1)
    assert current_month(TZ, moment).label == "2026-12"
    assert current_month(UTC, moment).label == "2026-11"


def test_unknown_time_zone_is_a_clear_error() -> None:
    assert load_timezone("Asia/Ho_Chi_Minh").key == "Asia/Ho_Chi_Minh"
    with pytest.raises(CoverageError) as err:
        load_timezone("Asia/Bac_Giang")
    assert "EDOC_COVERAGE_TIMEZONE" in (err.value.hint or "")
