"""``edoc sign`` and ``edoc verify``: build and check packages offline (no Kafka)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from schemas.errors import MalformedPackageError
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
from signing.errors import SignerError
from signing.signer import Signer, build_package, read_attachments
from signing.trust import TrustStore
from signing.verifier import Verifier, default_profiles

#: ``edoc verify`` exit codes.
EXIT_VALID, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2


def _codes(value: str) -> list[str]:
    return [c.strip() for c in value.split(",") if c.strip()]


def sign(
    key: Annotated[Path, typer.Option("--key", help="signer's private key (PEM)")],
    cert: Annotated[Path, typer.Option("--cert", help="signer's certificate (PEM)")],
    from_: Annotated[str, typer.Option("--from", help="sending agency code")],
    to: Annotated[str, typer.Option("--to", help="recipient codes, comma-separated")],
    subject: Annotated[
        str, typer.Option("--subject", help="trích yếu: what the document is about")
    ],
    out: Annotated[Path, typer.Option("--out", help="package file to write (.json)")],
    chain: Annotated[
        Path | None, typer.Option("--chain", help="intermediate CA certs (PEM)")
    ] = None,
    profile: Annotated[str, typer.Option(help="signature profile: jws or cms")] = "jws",
    attach: Annotated[
        list[Path] | None, typer.Option("--attach", help="file to attach; repeat")
    ] = None,
    number: Annotated[str, typer.Option(help="document number (số)")] = "1",
    notation: Annotated[str, typer.Option(help="document notation (ký hiệu), e.g. QĐ-UBND")] = "CV",
    doc_type: Annotated[str, typer.Option("--type", help="document type")] = "Công văn",
    place: Annotated[str, typer.Option(help="place of promulgation")] = "Bắc Giang",
    signed_by: Annotated[str, typer.Option(help="official who signed the document")] = "",
    classification: Annotated[Classification, typer.Option(help="public | internal | secret")] = (
        Classification.PUBLIC
    ),
    message_id: Annotated[str | None, typer.Option(help="UUID; random by default")] = None,
) -> None:
    """Sign a document header with attachments into a package file."""
    signer = Signer.from_files(key, cert, chain, profile)
    refs, contents = read_attachments(list(attach or []))
    now = utc_now()
    try:
        header = Header(
            message_id=uuid.UUID(message_id) if message_id else uuid.uuid4(),
            kind=Kind.DOCUMENT,
            **{"from": from_},
            to=_codes(to),
            sent_at=now,
            document=DocumentMeta(
                code=DocumentCode(number=number, notation=notation),
                promulgation=Promulgation(place=place, date=now.date()),
                document_type=doc_type,
                subject=subject,
                signer=DocSigner(full_name=signed_by or signer.chain[0].subject.rfc4514_string()),
                classification=classification,
            ),
            attachments=refs,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SignerError(f"cannot build header: {where}: {first['msg']}") from None
    except ValueError as exc:
        raise SignerError(f"cannot build header: {exc}") from None
    package = build_package(header, contents, [signer])
    try:
        out.write_bytes(package.to_bytes())
    except OSError as exc:
        raise SignerError(f"cannot write {out}: {exc.strerror}") from None
    typer.echo(f"{out}: message {header.message_id} from {from_} to {', '.join(header.to)}")


def verify(
    package: Annotated[Path, typer.Argument(help="package file (.json)")],
    trust_anchor: Annotated[
        list[Path],
        typer.Option("--trust-anchor", help="trusted root CA (PEM file or folder); repeat"),
    ],
    crl: Annotated[
        list[Path] | None, typer.Option("--crl", help="CRL file or folder; repeat")
    ] = None,
    at: Annotated[
        datetime | None, typer.Option("--at", help="validation time (ISO 8601); default sent_at")
    ] = None,
    revocation_fail_open: Annotated[
        bool, typer.Option(help="accept when no current CRL is available")
    ] = False,
    allow_sha1: Annotated[
        bool, typer.Option(help="accept SHA-1 XML signatures (edXML) as a warning")
    ] = False,
) -> None:
    """Verify a package and print the JSON report. Exit 0 valid, 1 invalid, 2 unreadable."""
    try:
        raw = package.read_bytes()
    except OSError as exc:
        raise MalformedPackageError(f"cannot read {package}: {exc.strerror}") from None
    verifier = Verifier(
        TrustStore.from_paths(list(trust_anchor), list(crl or [])),
        revocation_fail_open=revocation_fail_open,
        profiles=default_profiles(allow_xmldsig_sha1=allow_sha1),
    )
    when = at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at
    report = verifier.verify_bytes(raw, at=when)
    typer.echo(report.to_json())
    if report.ok:
        raise typer.Exit(EXIT_VALID)
    if report.reasons == ["malformed"]:
        raise MalformedPackageError(
            f"{package}: {report.details[0] if report.details else 'unreadable'}"
        )
    raise typer.Exit(EXIT_INVALID)


def register(app: typer.Typer) -> None:
    """Add ``sign`` and ``verify`` to the root command."""
    app.command()(sign)
    app.command()(verify)
