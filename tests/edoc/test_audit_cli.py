"""``edoc audit``/``edoc token`` as an auditor runs them, and offline evidence bundles."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.audit.bundle import BundleError, verify_bundle
from hub.store.db import make_engine, migrate
from hub.store.log import SignatureLog
from schemas.events import VerdictEvent
from signing.checkpoint import Checkpoint
from signing.keys import SigningKey, load_cert_chain
from signing.pki import DemoPKI
from tests.conftest import B

Events = Callable[[int], list[VerdictEvent]]


@pytest.fixture
def audit_env(
    tmp_path: Path,
    pki: DemoPKI,
    make_events: Events,
    hub_key: SigningKey,
) -> dict[str, str]:
    db = tmp_path / "edoc.db"

    async def fill() -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{db}")
        await migrate(engine)
        log = SignatureLog(engine)
        await log.append(make_events(7))
        size = await log.size()
        cp = Checkpoint(
            "test/log", size, await log.root(size), datetime.now(UTC).replace(microsecond=0)
        )
        await log.add_checkpoint(cp.sign(hub_key, "000.00.99.H49"))
        await engine.dispose()

    asyncio.run(fill())
    return {
        **os.environ,
        "EDOC_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "EDOC_HUB_CERT": str(pki.hub.chain),
        "EDOC_HUB_KEY": str(pki.hub.key),
        "DB_PATH": str(db),
    }


def edoc(env: dict[str, str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edoc", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_export_and_verify_bundle_offline(
    audit_env: dict[str, str], pki: DemoPKI, tmp_path: Path
) -> None:
    bundle = tmp_path / "evidence.zip"
    res = edoc(audit_env, "audit", "export", "3", "--out", bundle)
    assert res.returncode == 0, res.stderr
    offline = {k: v for k, v in audit_env.items() if k not in ("EDOC_DATABASE_URL",)}
    offline["EDOC_DATABASE_URL"] = "postgresql+asyncpg://nobody@127.0.0.1:9/none"  # unusable
    res = edoc(
        offline,
        "audit",
        "verify-bundle",
        bundle,
        "--hub-cert",
        pki.hub.cert,
        "--trust-anchor",
        pki.root_cert,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    for check in ("entry", "checkpoint", "inclusion", "header", "signature[0]", "chain"):
        assert check in res.stdout
    assert "FAILED" not in res.stdout


def test_any_changed_byte_fails_the_bundle(
    audit_env: dict[str, str], pki: DemoPKI, tmp_path: Path
) -> None:
    bundle = tmp_path / "evidence.zip"
    assert edoc(audit_env, "audit", "export", "0", "--out", bundle).returncode == 0
    data = bundle.read_bytes()
    cert = load_cert_chain(pki.hub.cert)[0]
    assert verify_bundle(data, cert).ok
    for i in range(len(data)):
        changed = bytearray(data)
        changed[i] ^= 0x01
        try:
            result = verify_bundle(bytes(changed), cert)
        except BundleError:
            continue  # refused as unreadable: also a failure to verify
        assert not result.ok, f"byte {i} of {len(data)} changed, bundle still verifies"


def test_audit_verify_names_the_divergence(audit_env: dict[str, str]) -> None:
    ok = edoc(audit_env, "audit", "verify")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "OK" in ok.stdout
    con = sqlite3.connect(audit_env["DB_PATH"])
    con.execute("DROP TRIGGER log_entries_no_update")
    con.execute("UPDATE log_entries SET subject = 'sửa trái phép' WHERE seq = 5")
    con.commit()
    con.close()
    bad = edoc(audit_env, "audit", "verify")
    assert bad.returncode == 1
    assert "entry 5" in bad.stdout
    assert "Traceback" not in bad.stderr


def test_query_formats_and_tokens(audit_env: dict[str, str]) -> None:
    res = edoc(
        audit_env, "audit", "query", "--agency", B, "--role", "recipient", "--format", "json"
    )
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert rows and all(B in r["recipients"] for r in rows)
    csv_out = edoc(audit_env, "audit", "query", "--verdict", "rejected", "--format", "csv")
    lines = csv_out.stdout.strip().splitlines()
    assert lines[0].startswith("seq,") and len(lines) > 1
    assert all(",rejected," in line for line in lines[1:])
    token = edoc(audit_env, "token", "create", "--role", "auditor", "--name", "Thanh tra tỉnh")
    assert token.returncode == 0 and token.stdout.startswith("edoc_")
    bad_role = edoc(audit_env, "token", "create", "--role", "admin")
    assert bad_role.returncode == 1 and "invalid role" in bad_role.stderr
    listing = edoc(audit_env, "token", "list")
    assert "Thanh tra tỉnh" in listing.stdout
    assert token.stdout.strip() not in listing.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["audit", "query", "--since", "0001-01-01"],
        ["audit", "query", "--since", "9999-12-31T23:59:59-05:00"],
        ["audit", "query", "--until", "0001-01-01T00:00:00+05:00"],
        ["audit", "query", "--until", "2200-01-01T00:00:00Z"],
        ["audit", "query", "--since", "yesterday"],
        ["audit", "query", "--limit", "0"],
        ["audit", "query", "--limit", "100000000000000000000000000000"],
    ],
)
def test_out_of_range_options_are_one_line_usage_errors(
    audit_env: dict[str, str], args: list[str]
) -> None:
    # year 1 / 9999 overflowed on the way to UTC and --limit beyond 64 bits in the driver:
    # "internal error", exit 70
    res = edoc(audit_env, *args)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: --") and "hint:" in lines[1]
    assert "Traceback" not in res.stderr


def test_times_in_range_and_keys_no_entry_has(audit_env: dict[str, str]) -> None:
    every = json.loads(edoc(audit_env, "audit", "query", "--format", "json").stdout)
    for since in ("2000-01-01", "2000-01-01T07:00:00+07:00", "2026-01-01T00:00:00+23:59"):
        res = edoc(audit_env, "audit", "query", "--since", since, "--format", "json")
        assert res.returncode == 0, res.stderr
        assert len(json.loads(res.stdout)) == len(every) == 7
    later = edoc(audit_env, "audit", "query", "--until", "2001-01-01", "--format", "json")
    assert json.loads(later.stdout) == []
    # a LIKE pattern is no reason code
    res = edoc(audit_env, "audit", "query", "--reason", "%", "--format", "json")
    assert res.returncode == 0 and json.loads(res.stdout) == []
    for key in ("100000000000000000000000000000", "²", "١٢", "9" * 5000):
        res = edoc(audit_env, "audit", "show", key)
        assert res.returncode == 1, res.stderr
        assert res.stderr.startswith("error: no log entry") and "Traceback" not in res.stderr
    res = edoc(audit_env, "token", "revoke", "100000000000000000000000000000")
    assert res.returncode == 1 and "no active token" in res.stderr
    # bytes that are not UTF-8 arrive as lone surrogates the database cannot take
    for option in ("--agency", "--verdict", "--reason", "--doc-code", "--signer-serial"):
        res = subprocess.run(
            [sys.executable.encode(), b"-m", b"edoc", b"audit", b"query", option.encode(), b"\xff"],
            capture_output=True,
            timeout=120,
            env=audit_env,
            check=False,
        )
        assert res.returncode == 0, (option, res.stderr)
        assert b"internal error" not in res.stderr


def test_bundle_and_certificate_must_be_regular_files(
    audit_env: dict[str, str], pki: DemoPKI, tmp_path: Path
) -> None:
    fifo = tmp_path / "bundle.zip"
    os.mkfifo(fifo)  # reading it waited for a writer for ever
    cert = str(pki.hub.chain)
    for args, message in (
        (["audit", "verify-bundle", fifo, "--hub-cert", cert], "bundle"),
        (["audit", "verify-bundle", cert, "--hub-cert", tmp_path], "hub certificate"),
        (["audit", "verify", "--hub-cert", fifo], "hub certificate"),
    ):
        res = subprocess.run(
            [sys.executable, "-m", "edoc", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=30,
            env=audit_env,
            check=False,
        )
        assert res.returncode == 1, res.stderr
        assert res.stderr.startswith(f"error: {message} ") and "not a regular file" in res.stderr
