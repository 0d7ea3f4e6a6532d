"""``edoc directory import|show``: the agency directory."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hub.directory import load_directory_file, publish_agencies
from hub.settings import get_settings

app = typer.Typer(help="The agency directory (who may send and receive).", no_args_is_help=True)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="directory file (docs/directory.md)")],
    bootstrap: Annotated[
        str | None, typer.Option(help="Kafka bootstrap [default: EDOC_KAFKA_BOOTSTRAP]")
    ] = None,
) -> None:
    """Add or update agencies while the hub runs (their inbox topics are created)."""
    agencies = load_directory_file(file)
    address = bootstrap or get_settings().kafka_bootstrap
    asyncio.run(publish_agencies(address, agencies))
    typer.echo(f"published {len(agencies)} agencies to the hub at {address}")


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
