"""Reprocess tickets: only the hub's own, for the same package, move the receive time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.router.tickets import make_ticket, read_ticket
from signing.keys import load_cert_chain, load_private_key
from signing.pki import DemoPKI
from tests.conftest import A


def test_hub_ticket_gives_the_original_time_and_nothing_else_does(pki: DemoPKI) -> None:
    key = load_private_key(pki.hub.key)
    cert = load_cert_chain(pki.hub.cert)[0]
    first = datetime.now(UTC).replace(microsecond=123456) - timedelta(hours=3)
    ticket = make_ticket(key, "ab" * 32, first)
    assert read_ticket(ticket, cert, "ab" * 32) == first
    assert read_ticket(ticket, cert, "cd" * 32) is None, "bound to the package"
    agency_key = load_private_key(pki.agency(A).key)
    forged = make_ticket(agency_key, "ab" * 32, first)
    assert read_ticket(forged, cert, "ab" * 32) is None, "an agency cannot make one"
    later = ticket.replace(first.strftime("%Y"), str(first.year - 1), 1)
    assert read_ticket(later, cert, "ab" * 32) is None, "the time is signed"
    for junk in ("", "no separator", "2026-01-01T00:00:00.000000Z|!!!"):
        assert read_ticket(junk, cert, "ab" * 32) is None
