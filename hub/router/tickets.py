"""Reprocess tickets: let an operator re-submit a refused package without it turning ``stale``.

A package refused, say, because the sender's CRL had expired is re-submitted by
an operator once the CRL is renewed — often more than the freshness window
after it first arrived. The console therefore attaches a *ticket*: the original
receive time, signed with the hub key over the package's SHA-256. The router
checks the ticket with the hub certificate and, only if it verifies, judges
freshness against that original time. An agency cannot forge one (it has no
hub key), so the freshness check still stops backdated packages.

Header ``edoc-reprocess-ticket``: ``<UTC time, YYYY-MM-DDTHH:MM:SS.ffffffZ>|<base64 signature>``
over the bytes ``edoc-reprocess/v1|<package sha256>|<that time>``.
"""

from __future__ import annotations

import base64
import binascii
import logging
from datetime import UTC, datetime

from cryptography import x509

from signing.blob import sign_blob, verify_blob
from signing.errors import SigningError
from signing.keys import SigningKey

log = logging.getLogger(__name__)

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _payload(package_sha256: str, when: str) -> bytes:
    return f"edoc-reprocess/v1|{package_sha256}|{when}".encode()


def make_ticket(key: SigningKey, package_sha256: str, received_at: datetime) -> str:
    """A ticket vouching that ``package_sha256`` first reached the hub at ``received_at``."""
    when = received_at.astimezone(UTC).strftime(_FORMAT)
    signature = sign_blob(key, _payload(package_sha256, when))
    return f"{when}|{base64.b64encode(signature).decode()}"


def read_ticket(value: str, hub_cert: x509.Certificate, package_sha256: str) -> datetime | None:
    """The original receive time if the ticket is the hub's for this package, else None."""
    when, sep, sig_b64 = value.partition("|")
    if not sep:
        return None
    try:
        received_at = datetime.strptime(when, _FORMAT).replace(tzinfo=UTC)
        verify_blob(
            hub_cert, base64.b64decode(sig_b64, validate=True), _payload(package_sha256, when)
        )
    except (ValueError, binascii.Error, SigningError) as exc:
        log.warning("ignoring an invalid reprocess ticket: %s", exc)
        return None
    return received_at
