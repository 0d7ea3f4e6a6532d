"""``edoc connector folder`` and ``edoc simulate``: agency-side tools."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from connectors.agency import AgencyClient
from connectors.folder import FolderAdapter
from connectors.simulate import SimAgency, Simulator
from connectors.webhook import RetryPolicy
from edoc.kafka_auth import connector_auth
from hub.directory import load_directory_file
from hub.settings import get_settings
from schemas.directory import Level
from signing.pki import DemoPKI

connector_app = typer.Typer(
    help="Adapters between agency systems and the hub.", no_args_is_help=True
)
_err = Console(stderr=True)

KeyOpt = Annotated[Path, typer.Option("--key", help="agency private key (PEM)")]
CertOpt = Annotated[Path, typer.Option("--cert", help="agency certificate (PEM)")]


@connector_app.command("folder")
def folder(
    agency: Annotated[str, typer.Option(help="agency code")],
    directory: Annotated[Path, typer.Option("--dir", help="the exchange folder")],
    key: KeyOpt,
    cert: CertOpt,
    chain: Annotated[Path | None, typer.Option(help="intermediate CA certificates")] = None,
    profile: Annotated[str, typer.Option(help="jws or cms")] = "jws",
    trust_anchor: Annotated[
        list[Path] | None, typer.Option(help="re-verify received packages against this root")
    ] = None,
    bootstrap: Annotated[
        str | None, typer.Option(help="Kafka [default: EDOC_KAFKA_BOOTSTRAP]")
    ] = None,
    store_attempts: Annotated[
        int,
        typer.Option(min=1, max=100, help="attempts to store a received message before parking it"),
    ] = 5,
) -> None:
    """Send what appears in DIR/outbox, receive into DIR/inbox and DIR/status, until Ctrl-C.

    A received message that cannot be stored is retried with backoff, then kept in
    DIR/parked with the reason (counted in DIR/connector.json). If the folder cannot
    take even that, the connector stops with an error (exit code 1); the message
    stays in the inbox topic and is received again at the next start.
    """
    s = get_settings()
    client = AgencyClient.from_files(
        agency,
        key,
        cert,
        bootstrap or s.kafka_bootstrap,
        chain=chain,
        profile=profile,
        trust_anchors=list(trust_anchor or []) or None,
        hub_code=s.hub_code,
        auth=connector_auth(s),
    )
    adapter = FolderAdapter(
        client,
        directory,
        max_bytes=s.max_package_bytes,
        store_retry=RetryPolicy(store_attempts, base_seconds=1.0, max_seconds=30.0),
    )

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        _err.print(f"watching {directory}/outbox for {agency}; Ctrl-C to stop")
        try:
            await adapter.run(stop)
        finally:
            await client.close()
            n = adapter.counts
            _err.print(
                f"stopped: {n.sent} sent, {n.failed} failed, {n.received} received, "
                f"{n.parked} parked (in {directory / 'parked'})"
            )

    asyncio.run(_main())


def simulate(
    rate: Annotated[float, typer.Option(help="packages per second")] = 20.0,
    duration: Annotated[float, typer.Option(help="seconds to run")] = 30.0,
    agencies: Annotated[
        int, typer.Option(help="how many agencies of the directory take part")
    ] = 10,
    bad_share: Annotated[float, typer.Option(help="share of bad actors' packages, 0–1")] = 0.1,
    pki_dir: Annotated[Path | None, typer.Option("--pki", help="PKI the hub trusts")] = None,
    seed: Annotated[int | None, typer.Option(help="random seed for a repeatable run")] = None,
    bootstrap: Annotated[
        str | None, typer.Option(help="Kafka [default: EDOC_KAFKA_BOOTSTRAP]")
    ] = None,
) -> None:
    """Realistic provincial traffic, bad actors included, with register reports for this month."""
    s = get_settings()
    pki_path = pki_dir or s.var_dir / "demo" / "pki"
    pki = (
        DemoPKI(pki_path)
        if (pki_path / "root-ca.pem").exists()
        else DemoPKI.init(pki_path, hub_code=s.hub_code)
    )
    members = [
        SimAgency(a.code, a.name)
        for a in load_directory_file(s.directory_file)
        if a.active and a.code != s.hub_code and a.level is not Level.PROVINCE
    ][:agencies]
    sim = Simulator(
        pki,
        members,
        bootstrap or s.kafka_bootstrap,
        hub_code=s.hub_code,
        bad_share=bad_share,
        seed=seed,
        auth=connector_auth(s),
    )
    total = int(rate * duration)

    async def _main() -> None:
        try:
            await sim.send_register_reports(datetime.now(UTC).strftime("%Y-%m"))
            with Progress(
                TextColumn("[bold]simulating"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeRemainingColumn(),
                console=_err,
            ) as progress:
                task = progress.add_task("sim", total=total)
                await sim.run(rate, duration, on_sent=lambda _k: progress.advance(task))
        finally:
            await sim.close()

    asyncio.run(_main())
    table = Table("kind", "sent")
    for kind, n in sorted(sim.stats.sent.items()):
        table.add_row(kind, str(n))
    table.add_row("[bold]total", str(sim.stats.total))
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add ``connector`` and ``simulate`` to the root command."""
    app.add_typer(connector_app, name="connector")
    app.command()(simulate)
