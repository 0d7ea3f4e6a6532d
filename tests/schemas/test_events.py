"""Verdict events and reports, read back by the services: times bounded like a package's."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from schemas.events import VerdictEvent
from schemas.report import CertInfo, SignatureReport, VerificationReport

GOOD = "2026-12-02T08:30:00+07:00"


def _event(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "v": 1,
        "message_id": None,
        "package_sha256": "0" * 64,
        "kind": None,
        "from": None,
        "to": [],
        "verdict": "rejected",
        "reasons": ["malformed"],
        "received_at": GOOD,
        "decided_at": GOOD,
        "source": {"topic": "edoc.submit", "partition": 0, "offset": 7},
        "report": {"verdict": "rejected", "reasons": ["malformed"], "package_sha256": "0" * 64},
    }
    event.update(changes)
    return event


def test_event_reads() -> None:
    assert VerdictEvent.model_validate(_event()).received_at.year == 2026


@pytest.mark.parametrize("field", ["received_at", "decided_at"])
@pytest.mark.parametrize(
    "when", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-00:01", "1970-01-01T00:00:00Z"]
)
def test_event_times_out_of_range_are_refused(field: str, when: str) -> None:
    with pytest.raises(ValidationError, match=field):
        VerdictEvent.model_validate(_event(**{field: when}))


@pytest.mark.parametrize("field", ["sent_at", "validation_time", "received_at"])
def test_report_times_out_of_range_are_refused(field: str) -> None:
    report = {"verdict": "ok", "package_sha256": "0" * 64, field: "9999-12-31T23:59:59-00:01"}
    with pytest.raises(ValidationError, match=field):
        VerificationReport.model_validate(report)


def test_event_version_is_the_integer_1() -> None:
    with pytest.raises(ValidationError, match="v"):
        VerdictEvent.model_validate(_event(v=True))


def test_signing_time_is_bounded_certificate_validity_is_not() -> None:
    """A CA may write 9999-12-31 ("no expiry", RFC 5280); it is compared, never shifted."""
    cert = CertInfo(
        subject="CN=x",
        issuer="CN=y",
        serial="1",
        not_before="1990-01-01T00:00:00Z",
        not_after="9999-12-31T23:59:59Z",
        sha256="0" * 64,
    )
    assert cert.not_after.year == 9999
    with pytest.raises(ValidationError, match="signing_time"):
        SignatureReport(
            index=0,
            profile="cms",
            valid=True,
            signing_time="1950-01-01T00:00:00Z",
        )
