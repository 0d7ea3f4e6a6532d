"""The ``edoc`` command as a user runs it: exit codes, JSON reports, one-line errors."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests._kafka import free_port
from tests.conftest import A, B

Result = subprocess.CompletedProcess[str]


def edoc(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edoc", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


@pytest.fixture(scope="module")
def cli_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli") / "pki"
    assert edoc("pki", "init", "--out", root).returncode == 0
    for code, name, key in ((A, "Sở Nội vụ", "ec"), (B, "Sở Tư pháp", "rsa")):
        res = edoc("pki", "issue", "--pki", root, "--agency", code, "--name", name, "--key", key)
        assert res.returncode == 0, res.stderr
    return root


@pytest.fixture(scope="module")
def package(cli_pki: Path) -> Path:
    out = cli_pki.parent / "pkg.json"
    pdf = cli_pki.parent / "cong-van.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%%EOF\n")
    res = edoc(
        "sign",
        "--key",
        cli_pki / f"agencies/{A}.key.pem",
        "--cert",
        cli_pki / f"agencies/{A}.pem",
        "--chain",
        cli_pki / "issuing-ca.pem",
        "--from",
        A,
        "--to",
        B,
        "--subject",
        "V/v kiểm thử",
        "--attach",
        pdf,
        "--out",
        out,
    )
    assert res.returncode == 0, res.stderr
    return out


def no_traceback(res: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in res.stderr + res.stdout


def test_sign_then_verify_ok(cli_pki: Path, package: Path) -> None:
    res = edoc(
        "verify", package, "--trust-anchor", cli_pki / "root-ca.pem", "--crl", cli_pki / "crl"
    )
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads(res.stdout)
    assert report["verdict"] == "ok"
    assert report["from"] == A and report["to"] == [B]
    assert report["signatures"][0]["signer"]["organization_identifier"] == A
    assert report["attachments"] == [{"id": "a1", "valid": True, "detail": ""}]


def test_verify_tampered_attachment_exits_1(cli_pki: Path, package: Path, tmp_path: Path) -> None:
    pkg = json.loads(package.read_text())
    pkg["attachments"][0]["content"] = base64.b64encode(b"%PDF-1.7\n%%EOF\n").decode()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(pkg))
    res = edoc("verify", bad, "--trust-anchor", cli_pki / "root-ca.pem", "--crl", cli_pki / "crl")
    assert res.returncode == 1
    assert json.loads(res.stdout)["reasons"] == ["digest_mismatch"]


def test_verify_without_crl_fails_closed(cli_pki: Path, package: Path) -> None:
    res = edoc("verify", package, "--trust-anchor", cli_pki / "root-ca.pem")
    assert res.returncode == 1
    assert json.loads(res.stdout)["reasons"] == ["revocation_unknown"]


@pytest.mark.parametrize(
    "content",
    [b"not json", b"[]", b'{"v":1,"header":"!!!","signatures":[]}', b'{"v":1,"header":"e30"}'],
)
def test_unreadable_package_exit_2_one_line(cli_pki: Path, tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    for res in (
        edoc("verify", bad, "--trust-anchor", cli_pki / "root-ca.pem"),
        edoc("send", bad, "--bootstrap", "127.0.0.1:9"),
    ):
        assert res.returncode == 2, res.stderr
        no_traceback(res)
        assert res.stderr.startswith("error: ")
        assert len(res.stderr.strip().splitlines()) <= 2  # message + hint


def test_missing_file_exit_2(tmp_path: Path) -> None:
    res = edoc("send", tmp_path / "nope.json")
    assert res.returncode == 2
    assert "cannot read" in res.stderr
    no_traceback(res)


def test_unreachable_broker_names_the_address(package: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    res = edoc("send", package, "--bootstrap", address)
    assert res.returncode == 1
    assert f"Kafka broker not reachable at {address}" in res.stderr
    no_traceback(res)


def test_sign_with_bad_recipient_code_is_a_clear_error(cli_pki: Path, tmp_path: Path) -> None:
    res = edoc(
        "sign",
        "--key",
        cli_pki / f"agencies/{A}.key.pem",
        "--cert",
        cli_pki / f"agencies/{A}.pem",
        "--from",
        A,
        "--to",
        "H49",
        "--subject",
        "x",
        "--out",
        tmp_path / "p.json",
    )
    assert res.returncode == 1
    assert "ddd.dd.dd.Xnn" in res.stderr
    no_traceback(res)


def run(*args: str | Path, env: dict[str, str] | None = None, **kw: Any) -> Result:
    """``edoc ARGS`` with extra environment, at most 30 s (a hang is a failure, not a wait)."""
    return subprocess.run(
        [sys.executable, "-m", "edoc", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
        check=False,
        **kw,
    )


def one_line_error(res: Result, code: int) -> None:
    """Exit ``code`` with the error and its hint on stderr, nothing else (no traceback)."""
    assert res.returncode == code, res.stdout + res.stderr
    no_traceback(res)
    assert "internal error" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and len(lines) == 2, res.stderr
    assert lines[1].startswith("  hint: ")


def test_verify_refuses_a_package_over_the_limit_without_loading_it(
    cli_pki: Path, package: Path, tmp_path: Path
) -> None:
    anchor = ["--trust-anchor", cli_pki / "root-ca.pem", "--crl", cli_pki / "crl"]
    res = run("verify", package, *anchor, env={"EDOC_MAX_PACKAGE_BYTES": "100"})
    assert res.returncode == 1, res.stderr
    report = json.loads(res.stdout)
    assert report["verdict"] == "rejected" and report["reasons"] == ["too_large"]
    assert report["package_sha256"] == hashlib.sha256(package.read_bytes()).hexdigest()
    assert f"package is {package.stat().st_size} bytes, limit 100" in report["details"][0]
    # 1 GiB (sparse) under a 600 MiB address-space limit: read whole, it was a MemoryError
    # (exit 70); checked by size first, it is refused by the default 16 MiB limit.
    huge = tmp_path / "huge.json"
    with huge.open("wb") as f:
        f.truncate(2**30)

    def cap_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (600 * 2**20, 600 * 2**20))

    res = run("verify", huge, *anchor, preexec_fn=cap_memory)
    assert res.returncode == 1, res.stderr
    assert json.loads(res.stdout)["reasons"] == ["too_large"]
    ok = run("verify", package, *anchor, preexec_fn=cap_memory)
    assert ok.returncode == 0, "the memory cap leaves room for an ordinary verification"


def test_verify_input_that_is_not_a_package_file(cli_pki: Path, tmp_path: Path) -> None:
    anchor = ["--trust-anchor", cli_pki / "root-ca.pem"]
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)  # reading it waited for a writer for ever
    folder = tmp_path / "folder.json"
    folder.mkdir()
    plain = tmp_path / "plain.json"
    plain.write_text("{}")
    for path, message in (
        (fifo, "is not a regular file"),
        (folder, "is not a regular file"),
        (tmp_path / "missing.json", "cannot read"),
        (plain / "inside.json", "cannot read"),  # a file used as a folder
    ):
        res = run("verify", path, *anchor)
        one_line_error(res, 2)
        assert message in res.stderr


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\xff\xfe\x00\x00" + bytes(range(256)) * 40,
        "\ufeff{}".encode(),
        "{}".encode("utf-16"),
        b"[" * 200_000 + b"]" * 200_000,
        b'{"v": 1, "header": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"v": ' + b"9" * 10_000 + b"}",
        b'{"v": 1e999, "header": "\\ud800", "signatures": [{"profile": "\\u0000"}]}',
        b'{"v": 1, "header": "' + b"A" * 1_000_001 + b'", "signatures": []}',
    ],
    ids=["empty", "binary", "bom", "utf16", "deep", "deep-header", "digits", "escapes", "long"],
)
def test_verify_never_fails_internally_on_junk(
    cli_pki: Path, tmp_path: Path, content: bytes
) -> None:
    bad = tmp_path / "junk.json"
    bad.write_bytes(content)
    res = run("verify", bad, "--trust-anchor", cli_pki / "root-ca.pem")
    assert res.returncode in (1, 2), res.stderr
    no_traceback(res)
    assert "internal error" not in res.stderr


@pytest.mark.parametrize(
    "at",
    [
        "0001-01-01",
        "1999-12-31T23:59:59Z",
        "2200-01-01T00:00:00Z",
        "9999-12-31T23:59:59-05:00",
        "0001-01-01T00:00:00+05:00",
    ],
)
def test_verify_at_out_of_range_is_a_usage_error(cli_pki: Path, package: Path, at: str) -> None:
    # "9999-12-31T23:59:59-05:00" overflowed converting to UTC: exit 70
    res = run("verify", package, "--trust-anchor", cli_pki / "root-ca.pem", "--at", at)
    one_line_error(res, 2)
    assert "--at" in res.stderr and "2000-2199" in res.stderr


def test_verify_at_within_range_still_decides(cli_pki: Path, package: Path) -> None:
    anchor = ["--trust-anchor", cli_pki / "root-ca.pem", "--crl", cli_pki / "crl"]
    res = run("verify", package, *anchor, "--at", "2026-01-01T00:00:00+23:59")
    assert res.returncode == 1, res.stderr  # before the certificates were issued
    assert "cert_not_yet_valid" in json.loads(res.stdout)["reasons"]


def test_a_broken_setting_is_named_not_an_internal_error(package: Path) -> None:
    res = run("verify", package, "--trust-anchor", package, env={"EDOC_MAX_PACKAGE_BYTES": "x"})
    one_line_error(res, 2)
    assert "EDOC_MAX_PACKAGE_BYTES" in res.stderr
