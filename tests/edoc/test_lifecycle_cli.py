"""``edoc overdue`` and ``edoc status`` as an operator runs them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.lifecycle.service import apply_events
from hub.store.db import make_engine, migrate
from schemas.events import VerdictEvent


def test_overdue_hours_zero_lists_every_unhandled_delivery(
    tmp_path: Path, make_events: Callable[[int], list[VerdictEvent]]
) -> None:
    """``--hours 0`` means "now", not "the default": it lists what was just delivered."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'edoc.db'}"

    async def fill() -> None:
        engine = make_engine(url)
        await migrate(engine)
        await apply_events(engine, make_events(3))
        await engine.dispose()

    asyncio.run(fill())
    env = {**os.environ, "EDOC_DATABASE_URL": url, "EDOC_OVERDUE_HOURS": "8"}

    def overdue(*args: str) -> list[dict[str, object]]:
        res = subprocess.run(
            [sys.executable, "-m", "edoc", "overdue", "--json", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
        )
        assert res.returncode == 0, res.stderr
        rows: list[dict[str, object]] = json.loads(res.stdout)
        return rows

    assert overdue() == []  # nothing is 8 hours old yet
    assert len(overdue("--hours", "0")) >= 3


@pytest.mark.parametrize("hours", ["1e308", "inf", "nan", "-5", "87841"])
def test_overdue_hours_out_of_range_is_a_one_line_usage_error(tmp_path: Path, hours: str) -> None:
    # 1e308 overflowed timedelta and nan could not be converted: exit 70; -5 listed the future
    env = {**os.environ, "EDOC_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'edoc.db'}"}
    res = subprocess.run(
        [sys.executable, "-m", "edoc", "overdue", "--hours", hours],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: --hours") and "hint:" in lines[1]
    assert "from 0 to 87840" in lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["status", b"\xff"], "is not a message id"),
        (["status", "not-a-uuid"], "is not a message id"),
        (["overdue", "--agency", b"\xff"], "is not an agency code"),
        (["overdue", "--agency", "000.00.01"], "is not an agency code"),
    ],
)
def test_ids_and_codes_that_cannot_exist_are_usage_errors(
    tmp_path: Path, args: list[str | bytes], message: str
) -> None:
    # bytes that are not UTF-8 reach Python as lone surrogates, which the database
    # driver cannot encode: exit 70 ("internal error")
    env = {**os.environ, "EDOC_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'edoc.db'}"}
    res = subprocess.run(
        [
            sys.executable.encode(),
            b"-m",
            b"edoc",
            *(a if isinstance(a, bytes) else a.encode() for a in args),
        ],
        capture_output=True,
        timeout=120,
        env=env,
        check=False,
    )
    stderr = res.stderr.decode("utf-8", "replace")
    assert res.returncode == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 2 and message in lines[0] and "hint:" in lines[1]
