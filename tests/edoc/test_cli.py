"""The ``edoc`` command as a user runs it: exit codes, JSON reports, one-line errors."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests._kafka import free_port
from tests.conftest import A, B


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
