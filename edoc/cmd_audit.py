"""``edoc audit …``, ``edoc token …`` and ``edoc db upgrade``: the auditor's and admin's tools."""

from __future__ import annotations

import asyncio
import csv
import json
import stat
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from cryptography import x509
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.audit.bundle import build_bundle, verify_bundle
from hub.errors import HubError
from hub.settings import get_settings
from hub.store import log as logstore
from hub.store.db import make_engine, migrate
from hub.store.integrity import verify_integrity
from hub.store.log import MAX_SEQ, SignatureLog, parse_entry_key
from hub.store.tokens import create_token, list_tokens, revoke_token
from schemas.bounds import check_instant
from schemas.errors import EdocError
from schemas.log import LogEntry
from signing.keys import load_private_key
from signing.merkle import leaf_hash

audit_app = typer.Typer(help="Query and prove the signature log.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (shown once, stored hashed).", no_args_is_help=True)
db_app = typer.Typer(help="The hub database.", no_args_is_help=True)
_err = Console(stderr=True)
T = TypeVar("T")


class Format(StrEnum):
    """Output formats of ``audit query``."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"


class OptionError(EdocError):
    """A command-line value is unreadable or out of range; exit 2, like any usage error."""

    exit_code = 2


#: How to write a time on the command line.
TIME_HINT = "an ISO 8601 time in the years 2000-2199, e.g. 2026-11-01T08:00+07:00 (no offset: UTC)"


def instant_option(value: str | datetime | None, option: str) -> datetime | None:
    """The time given to ``option``, aware and within ``schemas.bounds``; else ``OptionError``.

    A time without an offset is UTC (as ``edoc verify --at`` has always read it).
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise OptionError(f"{option} {value!r} is not a time", hint=TIME_HINT) from None
    moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    try:
        return check_instant(moment)
    except ValueError as exc:
        raise OptionError(f"{option} {value.isoformat()}: {exc}", hint=TIME_HINT) from None


def _run(fn: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Open the configured database (migrated), run ``fn``, close."""

    async def _main() -> T:
        s = get_settings()
        engine = make_engine(s.database_url)
        try:
            await migrate(engine, app_role=s.database_app_role)
            return await fn(engine)
        finally:
            await engine.dispose()

    return asyncio.run(_main())


def read_file(path: Path, what: str) -> bytes:
    """The bytes of the regular file ``path``; ``HubError`` otherwise (a FIFO would block)."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise HubError(f"{what} {path} is not a regular file", hint=f"give the {what} file")
        return path.read_bytes()
    except OSError as exc:
        raise HubError(f"cannot read {what} {path}: {exc.strerror}") from None


def _hub_cert(path: Path | None) -> x509.Certificate:
    cert_path = path or get_settings().hub_cert
    if cert_path is None:
        raise HubError("no hub certificate given", hint="pass --hub-cert PEM or set EDOC_HUB_CERT")
    pem = read_file(cert_path, "hub certificate")
    try:
        return x509.load_pem_x509_certificates(pem)[0]
    except ValueError as exc:
        raise HubError(f"cannot load hub certificate {cert_path}: {exc}") from None


@audit_app.command()
def query(
    agency: Annotated[str | None, typer.Option(help="agency code")] = None,
    role: Annotated[str, typer.Option(help="sender | recipient | any")] = "any",
    since: Annotated[
        str | None,
        typer.Option(metavar="ISO-TIME", help="verified at or after (no offset: UTC)"),
    ] = None,
    until: Annotated[
        str | None, typer.Option(metavar="ISO-TIME", help="verified before (no offset: UTC)")
    ] = None,
    verdict: Annotated[str | None, typer.Option(help="ok | rejected")] = None,
    reason: Annotated[str | None, typer.Option(help="reason code")] = None,
    doc_code: Annotated[str | None, typer.Option(help="number/notation, e.g. 166/QĐ-UBND")] = None,
    signer_serial: Annotated[str | None, typer.Option(help="certificate serial (hex)")] = None,
    limit: Annotated[int, typer.Option(help="most entries to print")] = 100,
    fmt: Annotated[Format, typer.Option("--format", help="table | json | csv")] = Format.TABLE,
) -> None:
    """Entries of the signature log matching every filter, oldest first."""
    if not 1 <= limit <= MAX_SEQ:
        raise OptionError(f"--limit {limit} is out of range", hint="print at least 1 entry")
    q = logstore.Query(
        agency=agency,
        role=role,
        since=instant_option(since, "--since"),
        until=instant_option(until, "--until"),
        verdict=verdict,
        reason=reason,
        doc_code=doc_code,
        signer_serial=signer_serial,
        limit=limit,
    )
    entries = _run(lambda e: SignatureLog(e).query(q))
    cols = [
        "seq",
        "verified_at",
        "kind",
        "sender",
        "recipients",
        "doc",
        "verdict",
        "reasons",
        "signer_serial",
        "message_id",
    ]

    def row(e: LogEntry) -> list[str]:
        doc = f"{e.doc_number}/{e.doc_notation}" if e.doc_number else ""
        return [
            str(e.seq),
            e.verified_at,
            e.kind or "",
            e.sender or "",
            ",".join(e.recipients),
            doc,
            e.verdict,
            ",".join(e.reasons),
            e.signer_serial or "",
            e.message_id or "",
        ]

    if fmt is Format.JSON:
        typer.echo(
            json.dumps(
                [json.loads(e.model_dump_json()) for e in entries], ensure_ascii=False, indent=1
            )
        )
    elif fmt is Format.CSV:
        w = csv.writer(sys.stdout)
        w.writerow(cols)
        w.writerows(row(e) for e in entries)
    else:
        table = Table(*cols)
        for e in entries:
            table.add_row(*row(e))
        Console().print(table)


@audit_app.command()
def show(key: Annotated[str, typer.Argument(help="sequence number or message id")]) -> None:
    """One entry as JSON, with its leaf hash."""
    entry = _run(lambda e: SignatureLog(e).entry(parse_entry_key(key)))
    if entry is None:
        raise HubError(f"no log entry {key}")
    out = json.loads(entry.model_dump_json())
    out["leaf_hash"] = leaf_hash(entry.canonical_bytes()).hex()
    typer.echo(json.dumps(out, ensure_ascii=False, indent=1))


@audit_app.command()
def verify(
    hub_cert: Annotated[
        list[Path] | None,
        typer.Option(
            help="hub certificate; repeat it with the earlier ones after a key rotation "
            "[default: EDOC_HUB_CERT]"
        ),
    ] = None,
) -> None:
    """Recompute the log from the database and check it against every checkpoint."""
    cert = [_hub_cert(p) for p in hub_cert] if hub_cert else [_hub_cert(None)]
    with _err.status("Recomputing the signature log…"):
        report = _run(lambda e: verify_integrity(SignatureLog(e), cert))
    typer.echo(
        f"entries: {report.entries}, checkpoints verified: {report.checkpoints_checked}, "
        f"entries after the latest checkpoint: {report.uncovered}"
    )
    if report.ok:
        typer.echo("OK: the log matches every signed checkpoint")
        return
    for problem in report.problems:
        typer.secho(f"DIVERGENCE: {problem}", fg=typer.colors.RED)
    raise typer.Exit(1)


@audit_app.command()
def export(
    key: Annotated[str, typer.Argument(help="sequence number or message id")],
    out: Annotated[Path, typer.Option("--out", help="zip file to write")],
) -> None:
    """Write an offline evidence bundle for one entry."""
    s = get_settings()
    if s.hub_cert is None or s.hub_key is None:
        raise HubError(
            "EDOC_HUB_KEY and EDOC_HUB_CERT must be set",
            hint="the hub seals each bundle with its key and includes its certificate",
        )
    pem = read_file(s.hub_cert, "hub certificate (EDOC_HUB_CERT)")
    hub_key = load_private_key(s.hub_key)
    data = _run(lambda e: build_bundle(SignatureLog(e), parse_entry_key(key), pem, hub_key))
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise HubError(f"cannot write {out}: {exc.strerror}", hint="choose another --out") from None
    typer.echo(f"wrote {out} ({len(data)} bytes)")


@audit_app.command("verify-bundle")
def verify_bundle_cmd(
    bundle: Annotated[Path, typer.Argument(help="bundle zip from `edoc audit export`")],
    hub_cert: Annotated[Path, typer.Option(help="YOUR trusted copy of the hub certificate")],
    trust_anchor: Annotated[
        list[Path] | None, typer.Option(help="also re-validate the signer's chain to this root")
    ] = None,
) -> None:
    """Verify a bundle offline: no database, no Kafka. Exit 0 when every check passes."""
    data = read_file(bundle, "bundle")
    result = verify_bundle(data, _hub_cert(hub_cert), list(trust_anchor or []))
    for name, outcome in result.checks.items():
        typer.echo(f"{name:14} {outcome}")
    if not result.ok:
        raise typer.Exit(1)


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="operator | auditor | agency:CODE")],
    name: Annotated[str, typer.Option(help="who holds it")] = "",
) -> None:
    """Create a token; it is printed once and stored only as a hash."""
    token, info = _run(lambda e: create_token(e, role, name or role))
    _err.print(f"token {info.id} for role {info.role} — store it now, it is not shown again:")
    typer.echo(token)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="token id from `edoc token list`")],
) -> None:
    """Revoke a token."""
    if not _run(lambda e: revoke_token(e, token_id)):
        raise HubError(f"no active token with id {token_id}")
    typer.echo(f"revoked token {token_id}")


@token_app.command("list")
def token_list() -> None:
    """All tokens (never their secrets)."""
    table = Table("id", "role", "name", "created", "revoked")
    for t in _run(list_tokens):
        table.add_row(
            str(t.id),
            t.role,
            t.name,
            f"{t.created_at:%Y-%m-%d %H:%M}",
            f"{t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "",
        )
    Console().print(table)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the schema (EDOC_DATABASE_URL)."""

    async def _noop(_: AsyncEngine) -> None:
        return None

    _run(_noop)
    typer.echo("database is at the newest schema revision")


def register(app: typer.Typer) -> None:
    """Add ``audit``, ``token`` and ``db`` to the root command."""
    app.add_typer(audit_app, name="audit")
    app.add_typer(token_app, name="token")
    app.add_typer(db_app, name="db")
