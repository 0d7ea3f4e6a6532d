"""One JSON line per decision, with the message id and the agency."""

from __future__ import annotations

import json
import logging

from hub.runtime.logs import JsonFormatter


def test_extra_fields_become_json_members() -> None:
    record = logging.makeLogRecord(
        {
            "name": "hub.router.decide",
            "levelno": logging.INFO,
            "levelname": "INFO",
            "msg": "decision %s",
            "args": ("m-1",),
            "message_id": "m-1",
            "agency": "000.00.01.H49",
            "reasons": ["stale"],
        }
    )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    out = json.loads(line)
    assert out["message"] == "decision m-1"
    assert out["message_id"] == "m-1"
    assert out["agency"] == "000.00.01.H49"
    assert out["reasons"] == ["stale"]
    assert out["level"] == "info"
