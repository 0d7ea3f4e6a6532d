"""Reporting periods — a month ``YYYY-MM``, a quarter ``YYYY-Qn`` or a year ``YYYY`` — and days.

Coverage counts by the **local day** of the province (``EDOC_COVERAGE_TIMEZONE``,
default ``Asia/Ho_Chi_Minh``): a document sent at 00:30 on 1 December in Bắc
Giang belongs to December even though it is still 30 November in UTC. Days are
stored as ``YYYY-MM-DD`` text, so a period is the half-open text range
``[start, end)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.coverage.errors import CoverageError, PeriodError
from schemas.bounds import EARLIEST, LATEST

#: Years a period may fall in: those of ``schemas.bounds``, where every time the hub
#: accepts lies (a period beyond them has no data, and year 9999 has no "next" period).
FIRST_YEAR, LAST_YEAR = EARLIEST.year, LATEST.year - 1

_PERIOD_RE = re.compile(r"^(\d{4})(?:-(0[1-9]|1[0-2])|-Q([1-4]))?$")


class Span(StrEnum):
    """How long a period lasts."""

    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month, quarter or year; ``index`` is the month (1–12), quarter (1–4) or 0."""

    year: int
    span: Span
    index: int

    @classmethod
    def parse(cls, text: str) -> Period:
        """``"2026-11"`` → November 2026, ``"2026-Q4"``, ``"2026"``; ``PeriodError`` otherwise."""
        m = _PERIOD_RE.fullmatch(text.strip())
        if m is None:
            raise PeriodError(text)
        year = int(m.group(1))
        if not FIRST_YEAR <= year <= LAST_YEAR:
            error = PeriodError(text)
            error.hint = f"{error.hint}, in the years {FIRST_YEAR}-{LAST_YEAR}"
            raise error
        if m.group(2):
            return cls(year, Span.MONTH, int(m.group(2)))
        if m.group(3):
            return cls(year, Span.QUARTER, int(m.group(3)))
        return cls(year, Span.YEAR, 0)

    @classmethod
    def month_of(cls, day: date) -> Period:
        """The month containing ``day``."""
        return cls(day.year, Span.MONTH, day.month)

    @property
    def label(self) -> str:
        """The text form, as parsed."""
        if self.span is Span.MONTH:
            return f"{self.year:04d}-{self.index:02d}"
        if self.span is Span.QUARTER:
            return f"{self.year:04d}-Q{self.index}"
        return f"{self.year:04d}"

    def __str__(self) -> str:
        return self.label

    @property
    def start(self) -> date:
        """The first day."""
        if self.span is Span.MONTH:
            return date(self.year, self.index, 1)
        if self.span is Span.QUARTER:
            return date(self.year, 3 * self.index - 2, 1)
        return date(self.year, 1, 1)

    @property
    def end(self) -> date:
        """The day after the last day (exclusive bound)."""
        return self.next().start

    def next(self) -> Period:
        """The period of the same span that follows."""
        if self.span is Span.MONTH:
            return Period(self.year + self.index // 12, Span.MONTH, self.index % 12 + 1)
        if self.span is Span.QUARTER:
            return Period(self.year + self.index // 4, Span.QUARTER, self.index % 4 + 1)
        return Period(self.year + 1, Span.YEAR, 0)

    def previous(self) -> Period:
        """The period of the same span before this one (the base of the trend)."""
        if self.span is Span.MONTH:
            if self.index == 1:
                return Period(self.year - 1, Span.MONTH, 12)
            return Period(self.year, Span.MONTH, self.index - 1)
        if self.span is Span.QUARTER:
            if self.index == 1:
                return Period(self.year - 1, Span.QUARTER, 4)
            return Period(self.year, Span.QUARTER, self.index - 1)
        return Period(self.year - 1, Span.YEAR, 0)

    def parts(self) -> list[Period]:
        """The next-smaller periods that make this one: a year's quarters, a quarter's months."""
        if self.span is Span.YEAR:
            return [Period(self.year, Span.QUARTER, q) for q in range(1, 5)]
        if self.span is Span.QUARTER:
            first = 3 * self.index - 2
            return [Period(self.year, Span.MONTH, m) for m in range(first, first + 3)]
        return []

    def labels_within(self) -> list[str]:
        """This period's label and those of every period inside it (for register reports)."""
        out = [self.label]
        for part in self.parts():
            out += part.labels_within()
        return out

    def contains(self, day: date) -> bool:
        """True when ``day`` falls in this period."""
        return self.start <= day < self.end

    @property
    def day_range(self) -> tuple[str, str]:
        """``(first day, day after the last)`` as ``YYYY-MM-DD`` text, for stored days."""
        return self.start.isoformat(), self.end.isoformat()


def load_timezone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ``CoverageError`` when the system does not know it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CoverageError(
            f"unknown time zone {name!r}",
            hint="set EDOC_COVERAGE_TIMEZONE to an IANA name such as Asia/Ho_Chi_Minh",
        ) from None


def local_day(moment: datetime, tz: tzinfo) -> date:
    """The calendar day of ``moment`` (timezone-aware) in ``tz``."""
    return moment.astimezone(tz).date()


def current_month(tz: tzinfo, now: datetime | None = None) -> Period:
    """The month it is now in ``tz`` (the default period of ``edoc coverage``)."""
    moment = now or datetime.now(tz)
    return Period.month_of(local_day(moment, tz))
