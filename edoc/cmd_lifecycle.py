"""``edoc overdue`` and ``edoc status``: where delivered documents stand."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from edoc.cmd_audit import OptionError
from hub.api.lifecycle import check_overdue_hours
from hub.errors import HubError
from hub.lifecycle.service import TrackedStatus, document_statuses, overdue, to_json
from hub.settings import get_settings
from hub.store.db import make_engine, migrate
from schemas.agency import AGENCY_CODE_RE

STATUS_NAMES = {
    None: "— chưa có / none",
    "01": "đã đến / arrived",
    "02": "từ chối / rejected",
    "03": "đã tiếp nhận / accepted",
    "04": "đã phân công / assigned",
    "05": "đang xử lý / processing",
    "06": "hoàn thành / completed",
    "13": "đề nghị thu hồi / recall requested",
    "15": "đồng ý thu hồi / recall accepted",
    "16": "từ chối thu hồi / recall refused",
}


def _print(rows: list[TrackedStatus], as_json: bool) -> None:
    if as_json:
        typer.echo(to_json(rows))
        return
    table = Table("delivered", "document", "from", "to", "status", "subject")
    for r in rows:
        table.add_row(
            r.delivered_at[:16].replace("T", " "),
            r.doc_code or r.message_id,
            r.sender,
            r.recipient,
            STATUS_NAMES.get(r.status, r.status or ""),
            (r.subject or "")[:50],
        )
    Console().print(table)


def overdue_cmd(
    agency: Annotated[str | None, typer.Option(help="as sender or recipient")] = None,
    hours: Annotated[float | None, typer.Option(help="default EDOC_OVERDUE_HOURS")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
) -> None:
    """Delivered documents that no recipient has accepted (status 03+) in time."""
    s = get_settings()
    try:
        threshold = check_overdue_hours(s.overdue_hours if hours is None else hours)
    except ValueError as exc:
        raise OptionError(f"--hours: {exc}", hint="e.g. --hours 48") from None
    if agency is not None and not AGENCY_CODE_RE.fullmatch(agency):
        raise OptionError(
            f"--agency {agency!r} is not an agency code",
            hint="agency codes look like 000.00.26.H49 (ddd.dd.dd.Xnn)",
        )

    async def _run() -> list[TrackedStatus]:
        engine = make_engine(s.database_url)
        try:
            await migrate(engine, app_role=s.database_app_role)
            return await overdue(
                engine,
                datetime.now(UTC),
                threshold,
                agency=agency,
            )
        finally:
            await engine.dispose()

    _print(asyncio.run(_run()), as_json)


def status_cmd(
    message_id: Annotated[str, typer.Argument(help="the document's message id")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
) -> None:
    """A document's latest status with each recipient."""
    try:
        message_id = str(uuid.UUID(message_id))
    except ValueError:
        raise OptionError(
            f"{message_id!r} is not a message id",
            hint="a message id is a UUID; find it with `edoc audit query`",
        ) from None
    s = get_settings()

    async def _run() -> list[TrackedStatus]:
        engine = make_engine(s.database_url)
        try:
            await migrate(engine, app_role=s.database_app_role)
            return await document_statuses(engine, message_id)
        finally:
            await engine.dispose()

    rows = asyncio.run(_run())
    if not rows:
        raise HubError(
            f"no delivered document {message_id}", hint="check the id with `edoc audit query`"
        )
    _print(rows, as_json)


def register(app: typer.Typer) -> None:
    """Add ``overdue`` and ``status`` to the root command."""
    app.command("overdue")(overdue_cmd)
    app.command("status")(status_cmd)
