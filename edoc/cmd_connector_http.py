"""``edoc connector http``: the HTTP webhook adapter of one agency (docs/webhook.md)."""

from __future__ import annotations

import asyncio
import ipaddress
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from connectors.errors import WebhookError
from connectors.webhook import RetryPolicy, WebhookTarget
from connectors.webhook_endpoint import AdapterConfig, run_adapter
from edoc.kafka_auth import connector_auth
from hub.settings import get_settings
from signing.signer import SIGNING_PROFILES, Signer

_err = Console(stderr=True)


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` → (host, port); refuses anything that is not an IP address and a port."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    try:
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(value)
        ipaddress.ip_address(host)
    except ValueError:
        raise WebhookError(
            f"--listen {value!r} is not HOST:PORT", hint="e.g. --listen 127.0.0.1:8090"
        ) from None
    return host, int(port)


def read_secret(secret: str | None, secret_file: Path | None) -> bytes | None:
    """The shared secret from ``--secret`` or (better: not visible in ``ps``) ``--secret-file``."""
    if secret is not None and secret_file is not None:
        raise WebhookError("give --secret or --secret-file, not both")
    if secret_file is not None:
        try:
            value = secret_file.read_text().strip()
        except OSError as exc:
            raise WebhookError(f"cannot read {secret_file}: {exc.strerror}") from None
        if not value:
            raise WebhookError(f"{secret_file} is empty", hint="put the shared secret in it")
        return value.encode()
    return secret.encode() if secret else None


def http(
    agency: Annotated[str, typer.Option(help="agency code, e.g. 000.00.02.H49")],
    key: Annotated[Path, typer.Option(help="agency signing key (PEM)")],
    cert: Annotated[Path, typer.Option(help="agency certificate (PEM)")],
    url: Annotated[str, typer.Option(help="the agency system's URL that receives the inbox")],
    chain: Annotated[Path | None, typer.Option(help="intermediate CA certificates (PEM)")] = None,
    profile: Annotated[
        str, typer.Option(help=f"signature profile: {'|'.join(SIGNING_PROFILES)}")
    ] = "jws",
    secret: Annotated[
        str | None, typer.Option(help="shared secret: HMAC of deliveries and of local requests")
    ] = None,
    secret_file: Annotated[
        Path | None, typer.Option(help="file holding the shared secret (instead of --secret)")
    ] = None,
    client_cert: Annotated[
        Path | None, typer.Option(help="client certificate (PEM) for mutual TLS towards the URL")
    ] = None,
    client_key: Annotated[Path | None, typer.Option(help="key of --client-cert (PEM)")] = None,
    ca: Annotated[
        Path | None, typer.Option(help="CA bundle the agency system's TLS certificate chains to")
    ] = None,
    listen: Annotated[
        str | None,
        typer.Option(help="HOST:PORT of the local endpoint (e.g. 127.0.0.1:8090); none: off"),
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(help="lock and dead-letter folder (default: ./edoc-webhook-<agency>)"),
    ] = None,
    group: Annotated[
        str | None, typer.Option(help="consumer group (default: agency-<agency>.webhook)")
    ] = None,
    max_attempts: Annotated[
        int | None,
        typer.Option(help="attempts before dead-lettering (default: EDOC_WEBHOOK_MAX_ATTEMPTS)"),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(help="seconds per delivery (default: EDOC_WEBHOOK_TIMEOUT_SECONDS)"),
    ] = None,
    bootstrap: Annotated[
        str | None, typer.Option(help="Kafka bootstrap (default: EDOC_KAFKA_BOOTSTRAP)")
    ] = None,
    legacy_signature: Annotated[
        bool,
        typer.Option(
            help="also sign deliveries the old way (X-Edoc-Signature, body only) for "
            "receivers not yet checking X-Edoc-Signature-V2"
        ),
    ] = True,
) -> None:
    """Deliver the agency's inbox to URL and accept documents and statuses to send, until Ctrl-C.

    Deliveries are POSTs of the package bytes, signed with X-Edoc-Timestamp,
    X-Edoc-Nonce and X-Edoc-Signature-V2 (sha256=<hex HMAC of
    "<timestamp>.<nonce>." + body>); failures are retried with backoff, then
    kept in STATE_DIR/dead-letter. The local endpoint (POST /documents,
    POST /statuses) needs the same headers and refuses replays. See docs/webhook.md.
    """
    s = get_settings()
    shared = read_secret(secret, secret_file)
    where = parse_listen(listen) if listen else None
    if where is not None and not ipaddress.ip_address(where[0]).is_loopback:
        _err.print(f"[yellow]warning:[/] the local endpoint listens on {where[0]}, not loopback")
    target = WebhookTarget(
        url,
        shared,
        client_cert=client_cert,
        client_key=client_key,
        ca=ca,
        timeout=timeout or s.webhook_timeout_seconds,
        legacy_signature=legacy_signature,
    )
    cfg = AdapterConfig(
        agency=agency,
        bootstrap=bootstrap or s.kafka_bootstrap,
        signer=Signer.from_files(key, cert, chain, profile),
        target=target,
        state_dir=state_dir or Path(f"edoc-webhook-{agency}"),
        listen=where,
        policy=RetryPolicy(
            max_attempts or s.webhook_max_attempts,
            s.webhook_backoff_seconds,
            s.webhook_backoff_max_seconds,
        ),
        group_id=group,
        max_package_bytes=s.max_package_bytes,
        auth=connector_auth(s),
    )

    async def _main() -> None:
        stop, ready = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        runner = asyncio.create_task(run_adapter(cfg, stop, ready))
        listening = asyncio.create_task(ready.wait())
        await asyncio.wait([runner, listening], return_when=asyncio.FIRST_COMPLETED)
        listening.cancel()
        if ready.is_set():
            endpoint = f"; local endpoint http://{where[0]}:{where[1]}" if where else ""
            _err.print(f"delivering the inbox of {agency} to {url}{endpoint}; Ctrl-C to stop")
        stats = await runner
        _err.print(
            f"stopped: {stats.delivered} delivered, {stats.dead_lettered} dead-lettered "
            f"(in {cfg.state_dir / 'dead-letter'})"
        )

    asyncio.run(_main())


def register(app: typer.Typer) -> None:
    """Add ``http`` to the ``connector`` group of ``app`` (creating the group if needed)."""
    for group_info in app.registered_groups:
        if group_info.name == "connector" and group_info.typer_instance is not None:
            group_info.typer_instance.command("http")(http)
            return
    connector_app = typer.Typer(help="Adapters between agency systems and the hub.")
    connector_app.command("http")(http)
    app.add_typer(connector_app, name="connector")
