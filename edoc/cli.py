"""The ``edoc`` command: the composition root that mounts every package's commands.

``edoc`` is the only package allowed to import both ``hub`` and ``connectors``
(checked by import-linter). Errors derived from ``EdocError`` are printed as one
or two lines — never a traceback — and become the error's exit code. Exit 70
means a bug: no input, file or setting may cause it, so every failure a user can
provoke has to be an ``EdocError`` before it reaches ``main``.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
import stat
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import typer
from pydantic import ValidationError

from connectors.errors import HubUnreachableError
from edoc import (
    cmd_audit,
    cmd_connector,
    cmd_connector_http,
    cmd_coverage,
    cmd_deadletter,
    cmd_directory,
    cmd_docs,
    cmd_kafka,
    cmd_lifecycle,
    cmd_pki,
    cmd_provision,
    demo,
)
from hub.errors import BrokerUnavailableError, HubError
from hub.kafka.client import ACCESS_DENIED, ACCESS_DENIED_HINT, explain_unavailable
from hub.localkafka.cli import app as local_kafka_app
from hub.settings import get_settings
from schemas.errors import EdocError, MalformedPackageError
from schemas.reasons import Reason
from schemas.report import VerificationReport

app = typer.Typer(
    name="edoc",
    help="edoc-hub: exchange signed official e-documents between agencies over Kafka.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(cmd_pki.app, name="pki")
app.add_typer(cmd_directory.app, name="directory")
app.add_typer(cmd_provision.app, name="kafka")
local_app = typer.Typer(help="Local development services.", no_args_is_help=True)
local_app.add_typer(local_kafka_app, name="kafka")
app.add_typer(local_app, name="local")
app.command()(cmd_docs.sign)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check_package_file(path: Path, limit: int) -> None:
    """Refuse what ``edoc verify`` must not read whole: not a regular file, or too large.

    A directory or FIFO is unreadable (``MalformedPackageError``, exit 2); a file over
    ``limit`` bytes (``EDOC_MAX_PACKAGE_BYTES``) is refused as ``too_large`` — the report
    is printed and the exit code is 1, as the hub would refuse it — without loading it.
    """
    hint = "give the package's .json file"
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise MalformedPackageError(f"{path} is not a regular file", hint=hint)
        if info.st_size <= limit:
            return
        sha256 = _file_sha256(path)  # in chunks: the report names the package, memory stays flat
    except OSError as exc:
        raise MalformedPackageError(f"cannot read {path}: {exc.strerror}", hint=hint) from None
    report = VerificationReport(
        verdict="rejected",
        reasons=[Reason.TOO_LARGE],
        package_sha256=sha256,
        details=[f"package is {info.st_size} bytes, limit {limit} (EDOC_MAX_PACKAGE_BYTES)"],
    )
    typer.echo(report.to_json())
    raise typer.Exit(cmd_docs.EXIT_INVALID)


@app.command("verify")
@functools.wraps(cmd_docs.verify)
def verify(package: Path, at: datetime | None = None, **options: Any) -> None:
    """``edoc verify`` with its input checked first: file kind and size, ``--at`` range."""
    check_package_file(package, get_settings().max_package_bytes)
    cmd_docs.verify(package=package, at=cmd_audit.instant_option(at, "--at"), **options)


cmd_audit.register(app)
cmd_coverage.register(app)
cmd_kafka.register(app)
cmd_connector.register(app)
cmd_connector_http.register(app)
cmd_lifecycle.register(app)
cmd_deadletter.register(app)
demo.register(app)

#: Exit code for a bug: something no EdocError describes.
INTERNAL_ERROR = 70


def _explained(err: EdocError) -> EdocError:
    """A refused SASL login instead of "broker not reachable" when that is what happened.

    Kafka clients report both the same way at start; one more connection tells them
    apart (``hub.kafka.client.login_refusal``). Services run under ``edoc serve`` are
    explained there already.
    """
    if not isinstance(err, BrokerUnavailableError | HubUnreachableError):
        return err
    try:
        return asyncio.run(explain_unavailable(get_settings(), err))
    except (HubError, ValueError):  # settings unusable: keep the error we have
        return err


def main() -> None:
    """Console-script entry point."""
    level = os.environ.get("EDOC_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if level != "DEBUG":
        # aiokafka logs transient, retried conditions (coordinator not ready yet,
        # topic metadata still propagating) at ERROR; users see our own errors instead.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        app()
    except EdocError as caught:
        err = _explained(caught)
        typer.secho(f"error: {err.diagnostics()}", err=True, fg=typer.colors.RED)
        sys.exit(err.exit_code)
    except ACCESS_DENIED as exc:  # a service or tool whose Kafka user lacks a right
        typer.secho(
            f"error: Kafka refused access: {type(exc).__name__}: {exc}\n"
            f"  hint: {ACCESS_DENIED_HINT}",
            err=True,
            fg=typer.colors.RED,
        )
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except ValidationError as exc:
        if exc.title != "Settings":
            _internal_error(exc)
        first = exc.errors()[0]
        name = "EDOC_" + "_".join(str(p) for p in first["loc"]).upper()
        typer.secho(
            f"error: {name}: {first['msg']}\n"
            "  hint: fix that environment variable (docs/configuration.md lists them all)",
            err=True,
            fg=typer.colors.RED,
        )
        sys.exit(2)
    except Exception as exc:
        _internal_error(exc)


def _internal_error(exc: Exception) -> NoReturn:
    """Report a bug: one line and a hint, or the traceback with ``EDOC_DEBUG``."""
    if os.environ.get("EDOC_DEBUG"):
        raise exc
    typer.secho(
        f"internal error: {type(exc).__name__}: {exc}\n"
        "  hint: this is a bug; rerun with EDOC_DEBUG=1 for a traceback and report it",
        err=True,
        fg=typer.colors.RED,
    )
    sys.exit(INTERNAL_ERROR)


if __name__ == "__main__":
    main()
