"""``edoc send``, ``edoc inbox`` and ``edoc serve``: talking to the hub over Kafka."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Annotated

import typer

from connectors.sdk import HubClient, UnreadableMessage
from edoc.kafka_auth import connector_auth
from hub.runtime.logs import configure_json_logging
from hub.runtime.serve import serve
from hub.services import SERVICES
from hub.settings import get_settings
from schemas.errors import MalformedPackageError

BootstrapOpt = Annotated[
    str | None,
    typer.Option("--bootstrap", help="Kafka bootstrap address [default: EDOC_KAFKA_BOOTSTRAP]"),
]


def send(
    package: Annotated[Path, typer.Argument(help="package file (.json) made by `edoc sign`")],
    bootstrap: BootstrapOpt = None,
) -> None:
    """Submit a signed package to the hub (topic edoc.submit)."""
    try:
        raw = package.read_bytes()
    except OSError as exc:
        raise MalformedPackageError(f"cannot read {package}: {exc.strerror}") from None

    async def _send() -> None:
        address = bootstrap or get_settings().kafka_bootstrap
        async with HubClient(address, auth=connector_auth()) as client:
            sub = await client.submit(raw)
        typer.echo(
            f"submitted {sub.message_id} "
            f"(edoc.submit partition {sub.partition} offset {sub.offset})"
        )

    asyncio.run(_send())


def inbox(
    agency: Annotated[str, typer.Option("--agency", help="agency code whose inbox to read")],
    follow: Annotated[bool, typer.Option("--follow", help="keep waiting for new messages")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    bootstrap: BootstrapOpt = None,
) -> None:
    """Print the messages delivered to an agency's inbox."""

    async def _read() -> None:
        address = bootstrap or get_settings().kafka_bootstrap
        async with HubClient(address, auth=connector_auth()) as client:
            async for msg in client.inbox(agency, follow=follow):
                if isinstance(msg, UnreadableMessage):  # shown, and the reading goes on
                    typer.echo(f"offset {msg.offset}: unreadable record: {msg.error}", err=True)
                    continue
                h = msg.header
                subject = h.document.subject if h.document else (h.status.code if h.status else "")
                if as_json:
                    typer.echo(
                        json.dumps(
                            {
                                "message_id": str(h.message_id),
                                "kind": h.kind.value,
                                "from": h.sender,
                                "subject": subject,
                                "verdict": msg.hub_verdict,
                                "offset": msg.offset,
                                "attachments": [a.name for a in h.attachments],
                            },
                            ensure_ascii=False,
                        )
                    )
                else:
                    atts = ", ".join(a.name for a in h.attachments) or "-"
                    typer.echo(
                        f"{msg.timestamp:%Y-%m-%d %H:%M:%S} {h.message_id} {h.kind.value} "
                        f"from {h.sender} verdict={msg.hub_verdict} «{subject}» [{atts}]"
                    )

    asyncio.run(_read())


def serve_cmd(
    only: Annotated[
        str | None, typer.Option("--only", help=f"comma-separated services: {','.join(SERVICES)}")
    ] = None,
) -> None:
    """Run the hub's services until Ctrl-C (SIGINT) or SIGTERM."""
    chosen = {s.strip() for s in only.split(",") if s.strip()} if only else None
    # A service logs one JSON object per line (one per routing decision) for log shippers.
    configure_json_logging(os.environ.get("EDOC_LOG_LEVEL", "INFO").upper())
    asyncio.run(serve(get_settings(), chosen))


def register(app: typer.Typer) -> None:
    """Add ``send``, ``inbox`` and ``serve`` to the root command."""
    app.command()(send)
    app.command()(inbox)
    app.command("serve")(serve_cmd)
