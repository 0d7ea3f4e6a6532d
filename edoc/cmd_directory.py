"""``edoc directory import|show``: the agency directory."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from edoc.cmd_provision import SecretsDirOpt, hand_out, provision_all
from hub.directory import directory_json, load_directory_file, publish_agencies
from hub.errors import DirectoryError
from hub.kafka.client import client_config
from hub.kafka.security import strimzi
from hub.settings import get_settings

app = typer.Typer(help="The agency directory (who may send and receive).", no_args_is_help=True)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="directory file (docs/directory.md)")],
    bootstrap: Annotated[
        str | None, typer.Option(help="Kafka bootstrap [default: EDOC_KAFKA_BOOTSTRAP]")
    ] = None,
    provision: Annotated[
        bool,
        typer.Option(
            "--provision",
            help="also give each active agency its Kafka user and ACLs and remove those of "
            "inactive ones (SASL clusters; run as edoc-admin)",
        ),
    ] = False,
    secrets_dir: SecretsDirOpt = None,
) -> None:
    """Add or update agencies while the hub runs (their inbox topics are created)."""
    agencies = load_directory_file(file)
    s = get_settings()
    if bootstrap:
        s = s.model_copy(update={"kafka_bootstrap": bootstrap})
    if provision:  # before publishing: an agency can connect as soon as it is routable
        report = asyncio.run(provision_all(s, agencies, services=[], rotate=False))
        hand_out(report, s, secrets_dir)
    asyncio.run(publish_agencies(client_config(s), agencies))
    typer.echo(f"published {len(agencies)} agencies to the hub at {s.kafka_bootstrap}")


@app.command()
def export(
    file: Annotated[
        Path | None, typer.Argument(help="directory file [default: EDOC_DIRECTORY_FILE]")
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="strimzi (KafkaTopics + KafkaUsers) or json")
    ] = "strimzi",
    cluster: Annotated[str, typer.Option(help="Strimzi Kafka cluster name")] = "edoc",
    namespace: Annotated[str | None, typer.Option(help="metadata.namespace to set")] = None,
) -> None:
    """Print the directory as Strimzi resources (users, ACLs, topics) or as a directory file."""
    s = get_settings()
    agencies = load_directory_file(file or s.directory_file)
    if fmt == "strimzi":
        typer.echo(strimzi.export(s, agencies, cluster=cluster, namespace=namespace), nl=False)
    elif fmt == "json":
        typer.echo(directory_json(agencies))
    else:
        raise DirectoryError(f"unknown export format {fmt!r}", hint="use strimzi or json")


@app.command()
def show(
    file: Annotated[
        Path | None, typer.Argument(help="directory file [default: EDOC_DIRECTORY_FILE]")
    ] = None,
) -> None:
    """Validate a directory file and print it as a table."""
    agencies = load_directory_file(file or get_settings().directory_file)
    table = Table("code", "name", "level", "parent", "active")
    for a in agencies:
        table.add_row(a.code, a.name, a.level.value, a.parent or "", "yes" if a.active else "no")
    Console().print(table)
