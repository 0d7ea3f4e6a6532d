"""A PKI of its own for the signing tests, with one agency per certificate defect.

The shared ``pki`` fixture of tests/conftest.py is used by other packages'
tests; revoking or issuing odd certificates there would leak into them, so the
signing tests build ``spki`` (and an unrelated ``other_pki``) here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from schemas.header import (
    Classification,
    DocSigner,
    DocumentCode,
    DocumentMeta,
    Header,
    Kind,
    Promulgation,
    utc_now,
)
from signing.pki import DemoPKI
from signing.signer import Signer, attachment_ref, build_package
from signing.trust import TrustStore
from signing.verifier import Verifier

SENDER = "000.00.01.H49"  # EC P-256
RSA_AGENCY = "000.00.02.H49"  # RSA-2048
COSIGNER = "000.00.03.H49"  # EC P-256, a second agency
P384 = "000.00.04.H49"
EXPIRED = "000.00.21.H49"
FUTURE = "000.00.22.H49"
WEAK_RSA = "000.00.23.H49"  # RSA-1024
BAD_KU = "000.00.24.H49"  # keyEncipherment only
REVOKED = "000.00.25.H49"
CA_SIGNER = "000.00.26.H49"  # a CA certificate (cA TRUE) with the document-signing key usages
SERVER_AUTH = "000.00.27.H49"  # extendedKeyUsage serverAuth only: a TLS server certificate
EMAIL_CLIENT = "000.00.28.H49"  # extendedKeyUsage clientAuth + emailProtection, as tokens carry
RECIPIENT = "000.00.00.H49"
ATTACHMENT = b"%PDF-1.4\n% signing tests\n" + bytes(range(256)) * 4


@dataclass(frozen=True)
class Pkis:
    """The test PKI and an unrelated one whose root nobody trusts."""

    main: DemoPKI
    other: DemoPKI


@pytest.fixture(scope="session")
def pkis(tmp_path_factory: pytest.TempPathFactory) -> Pkis:
    """Root → issuing CA → one agency per case; built once per session."""
    base = tmp_path_factory.mktemp("signing-pki")
    now = datetime.now(UTC)
    # Back-dated CAs, so the expired leaf below still lies inside its issuer's validity.
    main = DemoPKI.init(base / "main", not_before=now - timedelta(days=800))
    month_ago = now - timedelta(days=30)  # so tests may validate at times in the past
    main.issue(SENDER, "Sở Nội vụ", not_before=month_ago)
    main.issue(RSA_AGENCY, "Sở Tư pháp", key_type="rsa", not_before=month_ago)
    main.issue(COSIGNER, "Sở Tài chính", not_before=month_ago)
    main.issue(P384, "Sở Y tế", curve="P-384", not_before=month_ago)
    main.issue(EXPIRED, "Hết hạn", not_before=now - timedelta(days=400), days=30)
    main.issue(FUTURE, "Chưa hiệu lực", not_before=now + timedelta(days=30))
    main.issue(WEAK_RSA, "Khóa yếu", key_type="rsa", rsa_bits=1024)
    main.issue(BAD_KU, "Sai mục đích", key_usage=frozenset({"key_encipherment"}))
    main.issue(REVOKED, "Bị thu hồi", not_before=month_ago)
    main.revoke(REVOKED, at=now - timedelta(days=1))
    main.issue(
        CA_SIGNER,
        "Là một CA",
        ca=True,
        key_usage=frozenset({"digital_signature", "content_commitment", "key_cert_sign"}),
    )
    main.issue(SERVER_AUTH, "Máy chủ web", extended_key_usage=[ExtendedKeyUsageOID.SERVER_AUTH])
    main.issue(
        EMAIL_CLIENT,
        "Sở Xây dựng",
        extended_key_usage=[ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION],
    )
    other = DemoPKI.init(base / "other")
    other.issue(SENDER, "Kẻ mạo danh")
    return Pkis(main, other)


@pytest.fixture(scope="session")
def spki(pkis: Pkis) -> DemoPKI:
    """The signing tests' PKI."""
    return pkis.main


def trust_for(pki: DemoPKI, *, crls: bool = True) -> TrustStore:
    """A trust store anchored at ``pki``'s root, with or without its CRLs."""
    return TrustStore.from_paths([pki.root_cert], [pki.crl_dir] if crls else [])


@pytest.fixture
def sverifier(spki: DemoPKI) -> Verifier:
    """A fresh verifier (empty caches) trusting ``spki`` with its CRLs."""
    return Verifier(trust_for(spki))


def header_for(
    sender: str = SENDER,
    *,
    sent_at: datetime | None = None,
    attachment: bytes = ATTACHMENT,
    classification: str = "public",
) -> Header:
    """A document header from ``sender`` with one attachment."""
    when = sent_at or utc_now()
    return Header(
        message_id=uuid.uuid4(),
        kind=Kind.DOCUMENT,
        **{"from": sender},
        to=[RECIPIENT],
        sent_at=when,
        document=DocumentMeta(
            code=DocumentCode(number="7", notation="SNV-VP"),
            promulgation=Promulgation(place="Bắc Giang", date=when.date()),
            document_type="Công văn",
            subject="Về việc thử nghiệm chữ ký số",
            signer=DocSigner(full_name="Lê Văn C", position="Giám đốc"),
            classification=Classification(classification),
        ),
        attachments=[attachment_ref("a1", "cong-van.pdf", attachment, "application/pdf")],
    )


def signer_for(pki: DemoPKI, code: str, profile: str = "jws") -> Signer:
    """``code``'s key with its chain (leaf + issuing CA) in ``profile``."""
    issued = pki.agency(code)
    return Signer.from_files(issued.key, issued.chain, profile=profile)


MakePackage = Callable[..., bytes]


@pytest.fixture(scope="session")
def make_package(pkis: Pkis) -> MakePackage:
    """``make_package(*signer_codes, sender=SENDER, profile="jws", pki=main, **header)``."""

    def factory(
        *codes: str,
        sender: str = SENDER,
        profile: str = "jws",
        pki: DemoPKI | None = None,
        **header_kw: object,
    ) -> bytes:
        header = header_for(sender, **header_kw)  # type: ignore[arg-type]
        signers = [signer_for(pki or pkis.main, c, profile) for c in (codes or (sender,))]
        return build_package(header, {"a1": ATTACHMENT}, signers).to_bytes()

    return factory


def scratch_pki(root: Path, **kw: object) -> DemoPKI:
    """A throwaway PKI for tests that revoke or rewrite CRLs."""
    pki = DemoPKI.init(root, **kw)  # type: ignore[arg-type]
    pki.issue(SENDER, "Sở Nội vụ")
    return pki
