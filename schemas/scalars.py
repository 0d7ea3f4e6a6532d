"""Scalar types of the wire with one reading each: exact integers, UUIDs, bounded dates and periods.

pydantic's strict mode (``parse_package`` validates with ``strict=True``)
already refuses ``"1"`` for an integer and ``1`` for a boolean, but a
``Literal[1]`` or an ``IntEnum`` still takes ``true`` and ``1.0``, because
``True == 1 == 1.0`` in Python. The types here close that gap in every mode,
so a Python caller that builds a header with ``priority=True`` fails as early
as a package that says ``"priority": true``.
"""

from __future__ import annotations

import re
import uuid
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Strict

from schemas.bounds import EARLIEST, LATEST


def exact_int(value: Any) -> Any:
    """Refuse ``bool`` and ``float`` where an integer is meant (``True == 1 == 1.0``)."""
    if isinstance(value, bool | float):
        raise ValueError(f"an integer is required, got {type(value).__name__} {value!r}")
    return value


#: The format version: the integer 1, not ``true`` or ``1.0``.
Version1 = Annotated[Literal[1], BeforeValidator(exact_int)]

#: An integer, not ``true``, ``1.0`` or ``"1"``; fields add their own bounds.
WireInt = Annotated[int, Strict()]

#: Largest count or size on the wire: exact in every JSON reader (JavaScript's
#: included) and in a signed 64-bit database column.
MAX_WIRE_INT = 2**53 - 1

#: A boolean that is ``true`` or ``false``, not ``1`` or ``"yes"``.
WireBool = Annotated[bool, Strict()]

_HEX = "[0-9a-fA-F]"
_UUID_RE = re.compile(f"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}")


def _uuid_spelling(value: Any) -> Any:
    # pydantic also reads 32 bare hex digits, "{...}" and "urn:uuid:..." as the
    # same UUID; a recipient's reader may not, so only the RFC 9562 form passes.
    if isinstance(value, str) and not _UUID_RE.fullmatch(value):
        raise ValueError("a UUID is written 8-4-4-4-12 hex digits, e.g. 0c7a3e52-3f0e-...")
    return value


#: A UUID in its hyphenated 8-4-4-4-12 spelling (either case).
WireUUID = Annotated[uuid.UUID, BeforeValidator(_uuid_spelling)]

#: Earliest and latest calendar dates a document may carry. Earlier than the
#: instants (2000-2199 UTC, ``schemas.bounds``) because a new document may answer
#: or repeal one promulgated long ago; 1900 is before any document the hub can meet.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(LATEST.year - 1, 12, 31)


def check_date(value: date) -> date:
    """Return ``value`` if it lies within 1900-01-01 … 2199-12-31, else ``ValueError``."""
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(
            f"date out of range ({EARLIEST_DATE.isoformat()} to {LATEST_DATE.isoformat()})"
        )
    return value


#: A calendar date within the hub's range.
BoundedDate = Annotated[date, AfterValidator(check_date)]

#: ``YYYY-MM``, ``YYYY-Qn`` or ``YYYY`` with ASCII digits.
PERIOD_RE = re.compile(r"([0-9]{4})(-(0[1-9]|1[0-2])|-Q[1-4])?")


def check_period(value: str) -> str:
    """Return ``value`` if it is a period whose year lies in the hub's range (2000–2199)."""
    m = PERIOD_RE.fullmatch(value)
    if m is None:
        raise ValueError("a period is YYYY-MM, YYYY-Qn or YYYY (e.g. 2026-11, 2026-Q4, 2026)")
    if not EARLIEST.year <= int(m.group(1)) < LATEST.year:
        raise ValueError(f"period year out of range ({EARLIEST.year} to {LATEST.year - 1})")
    return value


#: A register period within the hub's range.
Period = Annotated[str, AfterValidator(check_period)]
