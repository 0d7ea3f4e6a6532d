"""Shared fixtures: a demo PKI with three agencies, package factories."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from schemas.header import (
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

A, B, C = "000.00.01.H49", "000.00.02.H49", "000.00.03.H49"
HUB = "000.00.99.H49"
PDF = b"%PDF-1.4\n% test attachment\n" + bytes(range(256)) * 8


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DemoPKI:
    """Root → issuing CA → agencies A (EC), B (RSA), C (EC)."""
    p = DemoPKI.init(tmp_path_factory.mktemp("pki") / "pki", hub_code=HUB)
    p.issue(A, "Sở Nội vụ")
    p.issue(B, "Sở Tư pháp", key_type="rsa")
    p.issue(C, "Sở Tài chính")
    return p


@pytest.fixture(scope="session")
def verifier(pki: DemoPKI) -> Verifier:
    """A verifier trusting the test PKI with its CRLs."""
    return Verifier(TrustStore.from_paths([pki.root_cert], [pki.crl_dir]))


def make_header(
    sender: str = A,
    to: list[str] | None = None,
    *,
    data: bytes = PDF,
    sent_at: datetime | None = None,
    subject: str = "V/v thử nghiệm trục liên thông",
) -> Header:
    """A document header from ``sender`` to ``to`` with one PDF attachment."""
    now = sent_at or utc_now()
    return Header(
        message_id=uuid.uuid4(),
        kind=Kind.DOCUMENT,
        **{"from": sender},
        to=to or [B],
        sent_at=now,
        document=DocumentMeta(
            code=DocumentCode(number="12", notation="SNV-VP"),
            promulgation=Promulgation(place="Bắc Giang", date=now.date()),
            document_type="Công văn",
            subject=subject,
            signer=DocSigner(full_name="Trần Thị B", position="Phó Giám đốc"),
        ),
        attachments=[attachment_ref("a1", "van-ban.pdf", data, "application/pdf")],
    )


PackageFactory = Callable[..., bytes]


@pytest.fixture(scope="session")
def signed_package(pki: DemoPKI) -> PackageFactory:
    """``signed_package(sender=A, to=[B], signer=None)`` → package bytes signed by the sender."""

    def factory(
        sender: str = A, to: list[str] | None = None, signer: str | None = None, **kw: object
    ) -> bytes:
        issued = pki.agency(signer or sender)
        header = make_header(sender, to, **kw)  # type: ignore[arg-type]
        return build_package(
            header, {"a1": PDF}, [Signer.from_files(issued.key, issued.chain)]
        ).to_bytes()

    return factory


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A scratch folder."""
    return tmp_path
