"""The drop-folder adapter: an agency system exchanges documents through a directory.

Layout under ``DIR``::

    outbox/   the agency system drops documents here:
              <stem>.meta.json (written LAST) + attachments <stem>.<ext> …,
              or a complete signed package <stem>.package.json,
              or an edXML document <stem>.edxml (renamed into place when complete)
    sent/     documents that were signed and submitted, with <stem>.sent.json
    failed/   documents that could not be sent, with <stem>.reason.txt
    inbox/    received documents: <message id>/package.json, header.json, attachments
              (and document.edxml when the sender sent edXML)
    status/   received statuses and hub receipts: <message id>.json (and .edxml)
    .state/   pending/<stem>.package.json — a package signed but not yet filed as sent

Nothing is lost across a crash: a document is signed once into ``.state/pending``
before it is submitted, and a restart re-submits those exact bytes (same
``message_id``), which the hub accepts at most once. Received messages are
written (and fsynced) before the Kafka offset is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.agency import AgencyClient, Received
from connectors.edxml import SUFFIX as EDXML_SUFFIX
from connectors.edxml import EdxmlAdapter
from connectors.sdk import agency_group
from schemas.errors import EdocError, MalformedPackageError, describe_validation_error
from schemas.header import Classification, DocSigner, DocumentCode, DocumentMeta, Promulgation
from schemas.package import parse_package

log = logging.getLogger(__name__)


class DropMeta(BaseModel):
    """The ``<stem>.meta.json`` an agency system writes next to a document's files."""

    model_config = ConfigDict(extra="forbid")

    to: list[str] = Field(min_length=1)
    subject: str
    number: str = "1"
    notation: str = "CV"
    document_type: str = "Công văn"
    place: str = ""
    signed_by: str = ""
    position: str = ""
    priority: int = Field(default=0, ge=0, le=3)
    due_date: date | None = None
    classification: Classification = Classification.PUBLIC


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


@dataclass
class FolderAdapter:
    """Moves documents between ``root`` and the hub for one agency."""

    client: AgencyClient
    root: Path
    place: str = "Bắc Giang"

    def __post_init__(self) -> None:
        for sub in ("outbox", "sent", "failed", "inbox", "status", ".state/pending"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    # -- outgoing ---------------------------------------------------------
    def ready(self) -> list[str]:
        """Stems in the outbox whose meta or package file is complete, plus pending ones."""
        outbox = self.root / "outbox"
        stems = {p.name[: -len(".meta.json")] for p in outbox.glob("*.meta.json")}
        stems |= {p.name[: -len(".package.json")] for p in outbox.glob("*.package.json")}
        stems |= {p.name[: -len(EDXML_SUFFIX)] for p in outbox.glob(f"*{EDXML_SUFFIX}")}
        stems |= {
            p.name[: -len(".package.json")]
            for p in (self.root / ".state/pending").glob("*.package.json")
        }
        return sorted(stems)

    def _files_of(self, stem: str) -> list[Path]:
        return sorted(
            p for p in (self.root / "outbox").iterdir() if p.name.split(".", 1)[0] == stem
        )

    def _build(self, stem: str) -> bytes:
        outbox = self.root / "outbox"
        package_file = outbox / f"{stem}.package.json"
        if package_file.exists():
            raw = package_file.read_bytes()
            parse_package(raw)  # a broken package fails here, with the reason filed
            return raw
        edxml_file = outbox / f"{stem}{EDXML_SUFFIX}"
        if edxml_file.exists():
            adapter = EdxmlAdapter(self.client.signer, agency=self.client.code)
            return adapter.read(edxml_file)  # not edXML: a precise error, filed under failed/
        try:
            meta = DropMeta.model_validate_json((outbox / f"{stem}.meta.json").read_bytes())
        except ValidationError as exc:
            raise MalformedPackageError(
                f"{stem}.meta.json: {describe_validation_error(exc)}"
            ) from None
        attachments = {
            p.name: p.read_bytes()
            for p in self._files_of(stem)
            if not p.name.endswith(".meta.json")
        }
        today = datetime.now(UTC).date()
        doc = DocumentMeta(
            code=DocumentCode(number=meta.number, notation=meta.notation),
            promulgation=Promulgation(place=meta.place or self.place, date=today),
            document_type=meta.document_type,
            subject=meta.subject,
            signer=DocSigner(full_name=meta.signed_by or self.client.code, position=meta.position),
            priority=meta.priority,
            due_date=meta.due_date,
            classification=meta.classification,
        )
        return self.client.document(meta.to, doc, attachments)

    async def send_one(self, stem: str) -> bool:
        """Sign (once) and submit one document; file it under sent/ or failed/."""
        pending = self.root / ".state/pending" / f"{stem}.package.json"
        try:
            if pending.exists():
                raw = pending.read_bytes()  # signed before a restart: same bytes, same id
            else:
                raw = self._build(stem)
                _atomic_write(pending, raw)
        except (EdocError, ValidationError, ValueError, OSError) as exc:
            if isinstance(exc, EdocError):
                reason = exc.diagnostics()
            elif isinstance(exc, ValidationError):
                reason = f"{stem}: {describe_validation_error(exc)}"
            else:
                reason = f"{stem}: {exc}"
            self._file(stem, "failed", {"reason": reason})
            log.warning("cannot send %s: %s", stem, reason)
            return False
        submitted = await self.client.submit(raw)
        self._file(
            stem,
            "sent",
            {
                "message_id": submitted.message_id,
                "partition": submitted.partition,
                "offset": submitted.offset,
                "sent_at": datetime.now(UTC).isoformat(),
            },
        )
        pending.unlink(missing_ok=True)
        return True

    def _file(self, stem: str, where: str, record: dict[str, Any]) -> None:
        dest = self.root / where
        for path in self._files_of(stem):
            shutil.move(path, dest / path.name)
        suffix = ".sent.json" if where == "sent" else ".reason.txt"
        body = (
            json.dumps(record, ensure_ascii=False, indent=1)
            if where == "sent"
            else record["reason"]
        )
        _atomic_write(dest / f"{stem}{suffix}", (body + "\n").encode())

    async def send_ready(self) -> int:
        """Send everything ready now; returns how many were submitted."""
        sent = 0
        for stem in self.ready():
            sent += await self.send_one(stem)
        return sent

    # -- incoming ---------------------------------------------------------
    def store(self, item: Received) -> Path:
        """Write a received message to inbox/ or status/ (idempotent by message id)."""
        msg = item.message
        mid = str(msg.header.message_id)
        if msg.header.document is None:
            path = self.root / "status" / f"{mid}.json"
            body = json.loads(msg.package.header_bytes)
            body["_hub"] = {"receipt": item.is_hub_receipt, "verdict": msg.hub_verdict}
            _atomic_write(path, json.dumps(body, ensure_ascii=False, indent=1).encode())
            if EdxmlAdapter.is_edxml_package(msg.package):
                _atomic_write(
                    path.with_suffix(EDXML_SUFFIX), EdxmlAdapter.from_package(msg.package)
                )
            return path
        folder = self.root / "inbox" / mid
        folder.mkdir(exist_ok=True)
        for ref in msg.header.attachments:
            data = msg.package.attachments.get(ref.id)
            if data is not None:
                _atomic_write(folder / Path(ref.name).name, data)
        _atomic_write(folder / "header.json", msg.package.header_bytes)
        if EdxmlAdapter.is_edxml_package(msg.package):  # the sender's own signed edXML
            _atomic_write(folder / "document.edxml", EdxmlAdapter.from_package(msg.package))
        _atomic_write(folder / "package.json", msg.package.raw)  # written last: the "complete" mark
        return folder

    async def run(self, stop: asyncio.Event, *, poll: float = 1.0) -> None:
        """Send from outbox/ and receive into inbox/ until ``stop``."""
        receiver = asyncio.create_task(self._receive(stop))
        try:
            while not stop.is_set():
                await self.send_ready()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=poll)
        finally:
            stop.set()
            await receiver

    async def _receive(self, stop: asyncio.Event) -> None:
        group = agency_group(self.client.code, "folder")  # allowed by the agency's Kafka ACLs
        async for item in self.client.inbox(follow=True, group_id=group, stop=stop):
            self.store(item)  # the client commits the offset once we ask for the next one
