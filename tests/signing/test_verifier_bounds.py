"""Times at the edges of ``datetime``: a package is malformed, a caller's time a typed error.

Before the bounds, ``sent_at`` near year 1 or 9999 made the verifier raise
``OverflowError`` (``validation_time.astimezone(UTC)``, ``at ± clock_skew``):
one package stopped the router.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from schemas.package import b64url_encode
from schemas.reasons import Reason
from signing.errors import ValidationTimeError
from signing.pki import DemoPKI
from signing.profiles.base import ProfileResult
from signing.profiles.cms import CmsProfile
from signing.verifier import Verifier
from tests.signing.conftest import RECIPIENT, SENDER, MakePackage, signer_for, trust_for

EDGES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-00:01", "9999-12-31T23:58:00Z"]


def _status_header(sent_at: str) -> bytes:
    return json.dumps(
        {
            "message_id": str(uuid.uuid4()),
            "kind": "status",
            "from": SENDER,
            "to": [RECIPIENT],
            "sent_at": sent_at,
            "status": {"code": "03", "ref_message_id": str(uuid.uuid4())},
        }
    ).encode()


@pytest.mark.parametrize("sent_at", EDGES)
@pytest.mark.parametrize("signature", ["placeholder", "jws", "cms"])
def test_sent_at_at_the_edge_of_datetime_is_malformed(
    spki: DemoPKI, sverifier: Verifier, sent_at: str, signature: str
) -> None:
    """Any signature entry was enough; the last edge needed a decodable certificate."""
    header = _status_header(sent_at)
    if signature == "placeholder":
        entry = {"profile": "x", "value": ""}
    else:
        entry = signer_for(spki, SENDER, signature).sign(header).model_dump()
    raw = json.dumps({"v": 1, "header": b64url_encode(header), "signatures": [entry]}).encode()
    report = sverifier.verify_bytes(raw)
    assert report.reasons == [Reason.MALFORMED]
    assert "sent_at" in report.details[0]


ONE_MINUTE_WEST = timezone(-timedelta(minutes=1))


@pytest.mark.parametrize("name", ["at", "received_at", "now"])
@pytest.mark.parametrize(
    "when",
    [
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=ONE_MINUTE_WEST),
        datetime(9999, 12, 31, 23, 58, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
    ],
)
def test_a_callers_time_out_of_range_is_a_typed_error(
    make_package: MakePackage, sverifier: Verifier, name: str, when: datetime
) -> None:
    """``edoc verify --at 0001-01-01`` is the caller's mistake: raised at entry, not deep inside."""
    raw = make_package()
    with pytest.raises(ValidationTimeError, match=f"{name} .*out of range") as info:
        sverifier.verify_bytes(raw, **{name: when})
    assert info.value.exit_code == 2 and info.value.hint
    # Before anything else: even a package refused at step 0 or 1 does not get that far.
    with pytest.raises(ValidationTimeError):
        sverifier.verify_bytes(b"not json", **{name: when})


def test_validation_time_at_the_range_edge_still_verifies(
    make_package: MakePackage, sverifier: Verifier
) -> None:
    # Far from the certificate's life, so expired: judged, not crashed.
    late = datetime(2199, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert sverifier.verify_bytes(make_package(), at=late).reasons == [Reason.CERT_EXPIRED]


def test_clock_skew_is_bounded(spki: DemoPKI) -> None:
    with pytest.raises(ValueError, match="clock_skew"):
        Verifier(trust_for(spki), clock_skew=timedelta(days=800_000))
    with pytest.raises(ValueError, match="clock_skew"):
        Verifier(trust_for(spki), clock_skew=timedelta(seconds=-1))


class _OddSigningTime:
    """The cms profile, reporting a signingTime no report can hold (a signer's clock at 1950)."""

    name = "cms"

    def __init__(self, when: datetime) -> None:
        self.when = when

    def verify(self, value: str, header_bytes: bytes) -> ProfileResult:
        result = CmsProfile().verify(value, header_bytes)
        result.signing_time = self.when
        return result


@pytest.mark.parametrize(
    "when", [datetime(1950, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, tzinfo=UTC)]
)
def test_signing_time_out_of_range_is_noted_not_reported(
    make_package: MakePackage, spki: DemoPKI, when: datetime
) -> None:
    """signingTime is reported, never judged: a value out of range leaves the verdict alone."""
    v = Verifier(trust_for(spki), profiles={"cms": _OddSigningTime(when)})
    report = v.verify_bytes(make_package(profile="cms"))
    assert report.ok, report.to_json()
    assert report.signatures[0].signing_time is None
    assert any("signingTime" in d and "out of range" in d for d in report.signatures[0].details)
