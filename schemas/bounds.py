"""Bounds on values where they enter: a time outside them is refused at parse time.

Python's ``datetime`` covers years 1–9999 only, so arithmetic on a value near an
edge (``astimezone(UTC)``, ``at ± skew``, a local reporting day) raises
``OverflowError`` far from where the value came in. Every datetime read from a
package, an event, a query parameter or a CLI option is checked here instead,
after conversion to UTC, against a range no genuine official document leaves.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

#: Earliest and latest instants (UTC) the hub accepts anywhere.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def check_instant(value: datetime) -> datetime:
    """Return ``value`` if it is timezone-aware and within [2000, 2200) UTC, else ValueError."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("a time needs a UTC offset (e.g. +07:00 or Z)")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("time out of range (years 2000-2199 UTC are accepted)") from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError("time out of range (years 2000-2199 UTC are accepted)")
    return value


#: An aware datetime within the hub's range (the offset the sender wrote is kept).
BoundedDatetime = Annotated[AwareDatetime, AfterValidator(check_instant)]
