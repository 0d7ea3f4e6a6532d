"""``edoc pki init|issue|revoke``: the demo/test PKI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hub.settings import get_settings
from signing.pki import DemoPKI

app = typer.Typer(
    help="A test/demo PKI: root CA, issuing CA, hub and agency certificates, CRLs.",
    no_args_is_help=True,
)


@app.command()
def init(
    out: Annotated[Path, typer.Option("--out", help="folder to create the PKI in")],
    hub_code: Annotated[
        str | None, typer.Option(help="agency code in the hub certificate [default: EDOC_HUB_CODE]")
    ] = None,
    key: Annotated[str, typer.Option(help="key type: ec or rsa")] = "ec",
    crl_base_url: Annotated[
        str | None, typer.Option(help="base URL written into CRL distribution points")
    ] = None,
) -> None:
    """Create a root CA, an issuing CA, the hub's certificate and empty CRLs."""
    pki = DemoPKI.init(
        out, hub_code=hub_code or get_settings().hub_code, key_type=key, crl_base_url=crl_base_url
    )
    typer.echo(f"trust anchor: {pki.root_cert}")
    typer.echo(f"CRLs:         {pki.crl_dir}")
    typer.echo(f"hub cert:     {pki.hub.cert}")


@app.command()
def issue(
    pki: Annotated[Path, typer.Option("--pki", help="PKI folder made by `edoc pki init`")],
    agency: Annotated[str, typer.Option("--agency", help="agency code, e.g. 000.00.14.H49")],
    name: Annotated[str, typer.Option("--name", help="agency name for the certificate subject")],
    key: Annotated[str, typer.Option(help="key type: ec (P-256) or rsa (2048)")] = "ec",
    days: Annotated[int, typer.Option(help="validity in days")] = 730,
) -> None:
    """Issue a document-signing certificate (organizationIdentifier = agency code)."""
    issued = DemoPKI(pki).issue(agency, name, key_type=key, days=days)
    typer.echo(f"certificate: {issued.cert}")
    typer.echo(f"key:         {issued.key}")
    typer.echo(f"chain:       {issued.chain}")


@app.command()
def revoke(
    pki: Annotated[Path, typer.Option("--pki", help="PKI folder made by `edoc pki init`")],
    agency: Annotated[str, typer.Option("--agency", help="agency whose certificate to revoke")],
) -> None:
    """Revoke an agency's current certificate and re-sign the CRL."""
    serial = DemoPKI(pki).revoke(agency)
    typer.echo(f"revoked serial {serial:x}; CRL updated in {DemoPKI(pki).crl_dir}")
