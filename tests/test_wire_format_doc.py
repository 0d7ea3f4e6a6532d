"""docs/wire-format.md is precise enough: a package built with openssl alone verifies."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from signing.pki import DemoPKI
from signing.verifier import Verifier
from tests.conftest import A, B

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "examples" / "openssl-package.sh"


@pytest.mark.parametrize("profile", ["jws", "cms"])
def test_openssl_built_package_verifies(
    pki: DemoPKI, verifier: Verifier, tmp_path: Path, profile: str
) -> None:
    if profile not in verifier.profiles:
        pytest.fail(f"profile {profile} is documented but not implemented")
    assert shutil.which("openssl"), "openssl is installed by scripts/bootstrap.sh"
    pdf = tmp_path / "to-trinh.pdf"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n")
    out = tmp_path / "pkg.json"
    agency = pki.agency(B)  # B holds an RSA key, which the script's RS256 needs
    res = subprocess.run(
        [
            str(SCRIPT),
            str(agency.key),
            str(agency.cert),
            str(pki.root / "issuing-ca.pem"),
            B,
            A,
            str(pdf),
            str(out),
            profile,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    report = verifier.verify_bytes(out.read_bytes())
    assert report.verdict == "ok", report.to_json()
    assert str(report.message_id) == res.stdout.strip()
    assert report.signatures[0].profile == profile
