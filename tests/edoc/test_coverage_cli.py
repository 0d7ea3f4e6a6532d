"""``edoc coverage`` as an operator runs it: table, JSON, CSV, filters, errors, no tracebacks."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.coverage.facts import facts_from_event
from hub.coverage.store import CoverageStore
from hub.store.db import make_engine, migrate
from tests.hub.coverage.traffic import (
    C1,
    C2,
    C3,
    DISTRICT,
    S1,
    TZ,
    document,
    local,
    month_of_traffic,
    verdict,
)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    db = tmp_path_factory.mktemp("cli") / "edoc.db"

    async def fill() -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{db}")
        await migrate(engine)
        events = [*month_of_traffic(2026, 11), verdict(document(S1, [C1], local(2026, 10, 15)))]
        await CoverageStore(engine).apply([f for e in events if (f := facts_from_event(e, TZ))])
        await engine.dispose()

    asyncio.run(fill())
    return {**os.environ, "EDOC_DATABASE_URL": f"sqlite+aiosqlite:///{db}", "COLUMNS": "160"}


def edoc(env: dict[str, str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edoc", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_json_has_the_numbers_of_the_period(env: dict[str, str]) -> None:
    res = edoc(env, "coverage", "--period", "2026-11", "--format", "json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    rows = {r["code"]: r for r in report["rows"]}
    assert rows[S1]["indicators"]["e_documents"]["value"] == 71.43  # 5 / (5 + 2 paper)
    assert rows[S1]["indicators"]["e_documents"]["trend"] == -28.57
    assert rows[C3]["indicators"]["e_documents"]["value"] is None
    assert C3 in report["unknown"]
    # SHA-1 signatures (traffic.month_of_traffic): counted apart, still valid
    assert (rows[S1]["counts"]["valid"], rows[S1]["counts"]["signed_weak"]) == (5, 2)
    assert rows[DISTRICT]["counts"]["signed_weak"] == 1


def test_table_with_level_and_agency(env: dict[str, str]) -> None:
    res = edoc(env, "coverage", "--period", "2026-11", "--agency", DISTRICT)
    assert res.returncode == 0, res.stderr
    for code in (DISTRICT, C1, C2, C3):
        assert code in res.stdout
    assert S1 not in res.stdout.split("Furthest below target")[0]
    assert "22.22" in res.stdout  # the district with its communes: 2 / (3 + 6)
    assert "SHA-1" in res.stdout
    district_row = next(line for line in res.stdout.splitlines() if DISTRICT in line)
    cells = [c.strip() for c in district_row.strip().strip("│").split("│")]
    assert cells[-1] == "1", f"the SHA-1 column (last): one document; {cells}"
    assert "Furthest below target" in res.stdout
    res = edoc(env, "coverage", "--period", "2026-11", "--level", "district")
    assert res.returncode == 0, res.stderr
    assert DISTRICT in res.stdout and C1 not in res.stdout.split("Furthest")[0]


def test_csv_has_one_line_per_row(env: dict[str, str]) -> None:
    res = edoc(env, "coverage", "--period", "2026-Q4", "--format", "csv", "--agency", DISTRICT)
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [r["code"] for r in rows] == [DISTRICT, C1, C2, C3]
    assert rows[0]["period"] == "2026-Q4" and rows[0]["e_documents_value"] == "22.22"
    assert rows[3]["status"] == "unknown" and rows[3]["e_documents_value"] == ""
    assert rows[1]["invalid_signatures"] == "bad_signature=1;sender_mismatch=1"
    assert [r["signed_weak"] for r in rows] == ["1", "0", "0", "0"]
    assert rows[0]["agencies_signing_weak"] == "1"


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        # a period is a usage error (exit 2), like every out-of-range time on the command line
        (["--period", "2026-13"], "invalid period '2026-13'", 2),
        (["--period", "9999"], "invalid period '9999'", 2),
        (["--period", "0001-01"], "invalid period '0001-01'", 2),
        (["--period", "2200-Q1"], "invalid period '2200-Q1'", 2),
        (["--period", "2026-11", "--agency", "000.00.77.H49"], "not in the directory", 1),
        (["--period", "2026-11", "--agency", "Sở Nội vụ"], "is not an agency code", 1),
        (["--period", "2026-11", "--laggards", "-1"], "cannot list -1 laggards", 1),
    ],
)
def test_user_errors_are_one_line_with_a_hint(
    env: dict[str, str], args: list[str], message: str, code: int
) -> None:
    res = edoc(env, "coverage", *args)
    assert res.returncode == code, res.stderr
    assert message in res.stderr and "hint:" in res.stderr
    assert "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 2  # the error and its hint


def test_without_a_period_it_reports_the_current_month(env: dict[str, str]) -> None:
    res = edoc(env, "coverage", "--format", "json", "--level", "province")
    assert res.returncode == 0, res.stderr
    assert len(json.loads(res.stdout)["period"]) == len("2026-11")
