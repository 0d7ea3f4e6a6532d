"""``edoc kafka provision|revoke|acls|users``: Kafka-level access of services and agencies.

Run as the super-user (``EDOC_KAFKA_USERNAME=edoc-admin``; on the local secure
broker: ``set -a; . .var/kafka/admin.env; set +a``). New passwords are shown
once — printed to stdout, or written to ``--secrets-dir`` as 0600 files — and
never logged. See docs/kafka-security.md.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hub.directory import load_directory_file
from hub.errors import HubError
from hub.kafka.security import acl as kafka_acl
from hub.kafka.security.provision import (
    IssuedCredential,
    Provisioner,
    ProvisionReport,
    write_private_file,
)
from hub.settings import Settings, get_settings
from schemas import wire
from schemas.directory import Agency

app = typer.Typer(
    help="Kafka users and ACLs of the hub's services and the agencies (SASL/SCRAM clusters).",
    no_args_is_help=True,
)
_err = Console(stderr=True)

SecretsDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--secrets-dir",
        help="write each new credential to DIR/<user>.env (mode 0600) instead of stdout",
    ),
]
RotateOpt = Annotated[
    bool, typer.Option("--rotate", help="issue new passwords also to users that have one")
]


def hand_out(report: ProvisionReport, settings: Settings, secrets_dir: Path | None) -> None:
    """Give each new credential to its holder exactly once: a 0600 file, or stdout."""
    for cred in report.issued:
        if secrets_dir is not None:
            path = secrets_dir / f"{cred.user}.env"
            write_private_file(path, cred.env(settings))
            _err.print(f"new credential for {cred.user}: {path}")
        else:
            typer.echo(_credential_block(cred, settings))
    if report.issued and secrets_dir is None:
        _err.print(
            "[yellow]These passwords are shown once and kept nowhere; hand each to its "
            "holder now.[/]"
        )
    _err.print(
        f"{len(report.issued)} credential(s) issued, {len(report.kept)} kept, "
        f"{len(report.revoked)} revoked; ACLs: {report.acls_added} added, "
        f"{report.acls_removed} removed"
    )


def _credential_block(cred: IssuedCredential, settings: Settings) -> str:
    who = f"agency {cred.agency}" if cred.agency else "hub service"
    return f"# {cred.user} ({who})\n{cred.env(settings)}"


async def provision_all(
    settings: Settings,
    agencies: list[Agency],
    *,
    services: list[str],
    rotate: bool,
    topics: bool = True,
) -> ProvisionReport:
    """Topics, then service users and ACLs, then agency users and ACLs."""
    report = ProvisionReport()
    async with Provisioner.connect(settings) as prov:
        if topics:
            await prov.ensure_topics(agencies)
        if services:
            report.merge(await prov.provision_services(services, rotate=rotate))
        report.merge(await prov.provision_agencies(agencies, rotate=rotate))
    return report


@app.command()
def provision(
    directory: Annotated[
        Path | None, typer.Option(help="directory file [default: EDOC_DIRECTORY_FILE]")
    ] = None,
    services: Annotated[
        str,
        typer.Option(
            help="hub services to provision, comma-separated, from "
            f"{','.join((*kafka_acl.HUB_SERVICES, kafka_acl.ALL_IN_ONE))}; '' for none"
        ),
    ] = ",".join(kafka_acl.HUB_SERVICES),
    secrets_dir: SecretsDirOpt = None,
    rotate: RotateOpt = False,
) -> None:
    """Create topics, users and ACLs; inactive agencies lose theirs. Safe to run again."""
    s = get_settings()
    agencies = load_directory_file(directory or s.directory_file)
    chosen = [x.strip() for x in services.split(",") if x.strip()]
    known = (*kafka_acl.HUB_SERVICES, kafka_acl.ALL_IN_ONE)
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise HubError(f"unknown service(s): {', '.join(unknown)}", hint=f"choose from {known}")
    report = asyncio.run(provision_all(s, agencies, services=chosen, rotate=rotate))
    hand_out(report, s, secrets_dir)


@app.command()
def revoke(
    user: Annotated[str, typer.Argument(help="user name, e.g. agency-000.00.01.h49")],
) -> None:
    """Remove a user's ACLs and SCRAM credential (an agency: also deactivate it)."""
    s = get_settings()

    async def _run() -> ProvisionReport:
        async with Provisioner.connect(s) as prov:
            return await prov.revoke(user)

    report = asyncio.run(_run())
    _err.print(
        f"{user}: {report.acls_removed} ACLs removed"
        + ("; credential deleted" if report.revoked else "; had no credential")
    )


@app.command()
def acls(
    user: Annotated[str | None, typer.Option(help="only this user")] = None,
) -> None:
    """List the ACLs the broker holds."""
    s = get_settings()

    async def _run() -> list[kafka_acl.AclBinding]:
        async with Provisioner.connect(s) as prov:
            return await prov.admin.describe_acls(kafka_acl.user(user) if user else None)

    table = Table("principal", "operation", "resource", "name", "pattern")
    for b in asyncio.run(_run()):
        table.add_row(
            b.principal,
            b.operation.name,
            b.resource_type.name.lower(),
            b.name,
            b.pattern.name.lower(),
        )
    Console().print(table)


@app.command()
def users() -> None:
    """List the SCRAM users the broker knows (names and mechanisms, never secrets)."""
    s = get_settings()

    async def _run() -> list[tuple[str, str]]:
        async with Provisioner.connect(s) as prov:
            found = await prov.admin.describe_scram()
        return [(u, ", ".join(i.mechanisms)) for u, i in sorted(found.items())]

    for name, mechs in asyncio.run(_run()):
        agency = wire.agency_of_user(name)
        typer.echo(f"{name}\t{mechs}\t{'agency ' + agency if agency else ''}".rstrip())
