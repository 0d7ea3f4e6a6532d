"""``edoc deadletter list|replay``: records the hub's services parked, and their replay."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hub.ops.deadletter import get_parked, list_parked, replay
from hub.settings import get_settings
from hub.store.db import make_engine

app = typer.Typer(
    help="Records a service could not process (edoc.deadletter): list them, replay them "
    "after a fix (docs/security.md).",
    no_args_is_help=True,
)


@app.command("list")
def list_(
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="newest records to show")] = 100,
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Show the newest parked records: service, error, where they came from, replayed or not."""
    items = asyncio.run(list_parked(get_settings(), limit))
    rows = [i.summary() for i in items]
    if fmt == "json":
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    if not rows:
        typer.echo("nothing is parked")
        return
    table = Table("offset", "service", "source", "parked at", "replayed", "error")
    for r in rows:
        done = r["replayed"]
        table.add_row(
            str(r["offset"]),
            r["service"] or "-",
            r["source"] or "-",
            r["parked_at"] or "-",
            f"{done['at']} by {done['by']}" if done else "no",
            r["error"],
        )
    Console().print(table)


@app.command("replay")
def replay_(
    offsets: Annotated[list[int] | None, typer.Argument(help="offsets on edoc.deadletter")] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="every listed record not replayed yet")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="with --all: records read")] = 1000,
) -> None:
    """Run parked records through their service's per-record work again (after a fix)."""
    settings = get_settings()
    if not offsets and not all_:
        raise typer.BadParameter("name offsets, or use --all")

    async def run() -> int:
        engine = make_engine(settings.database_url)
        failed = 0
        try:
            chosen = list(offsets or [])
            if all_:
                chosen += [
                    i.offset
                    for i in await list_parked(settings, limit)
                    if i.replayed is None and i.offset not in chosen
                ]
            for offset in sorted(chosen):
                item = await get_parked(settings, offset)
                try:
                    action = await replay(settings, engine, item)
                except Exception as exc:  # one that fails again must not stop the others
                    failed += 1
                    typer.echo(f"{offset}: {exc}", err=True)
                    continue
                typer.echo(f"{offset}: replayed in {action['service']} ({action['source']})")
        finally:
            await engine.dispose()
        return failed

    failed = asyncio.run(run())
    if failed:
        raise typer.Exit(1)


def register(root: typer.Typer) -> None:
    """Add ``deadletter`` to the root command."""
    root.add_typer(app, name="deadletter")
