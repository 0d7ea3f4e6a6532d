"""The drop-folder adapter: an agency system exchanges documents through a directory.

Layout under ``DIR``::

    outbox/   the agency system drops documents here:
              <stem>.meta.json (written LAST) + attachments <stem>.<ext> …,
              or a complete signed package <stem>.package.json,
              or an edXML document <stem>.edxml (renamed into place when complete)
    sent/     documents that were signed and submitted, with <stem>.sent.json
    failed/   documents that could not be sent, with <stem>.reason.txt
    inbox/    received documents: <message id>/ with the attachments, attachments.json
              (sender's name → file written), header.json, document.edxml (when the
              sender sent edXML), package.json (written last)
    status/   received statuses and hub receipts: <message id>.json (and .edxml)
    parked/   received messages that could not be stored: <offset>-<id>.package.json
              and .reason.json
    connector.json  counts for operators: sent, failed, received, parked
    .state/   pending/<stem>.package.json — a package signed but not yet filed as sent

Nothing is lost across a crash: a document is signed once into ``.state/pending``
before it is submitted, and a restart re-submits those exact bytes (same
``message_id``), which the hub accepts at most once. Received messages are
written (and fsynced) before the Kafka offset is committed.

What another agency sends is written safely: attachment names become file
names only through ``safe_names``; a message that cannot be stored is retried,
then parked; only a folder that cannot take even the parked copy stops the
connector (``FolderError``). Outbox entries are read only when they are regular
files (``read_regular``: no links, folders or fifos) within ``max_bytes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import logging
import os
import shutil
import stat
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.agency import AgencyClient, Received
from connectors.edxml import SUFFIX as EDXML_SUFFIX
from connectors.edxml import EdxmlAdapter
from connectors.errors import FolderError, OutboxEntryRefused
from connectors.sdk import UnreadableMessage
from connectors.webhook import RetryPolicy
from schemas import wire
from schemas.errors import EdocError, MalformedPackageError, describe_validation_error
from schemas.header import Classification, DocSigner, DocumentCode, DocumentMeta, Promulgation
from schemas.package import parse_package

log = logging.getLogger(__name__)

#: Longest file name of the common file systems (ext4, XFS, btrfs: 255 bytes; NTFS: 255 UTF-16).
MAX_NAME_BYTES = 255
#: What the connector writes in inbox/<message id>/ itself: no attachment takes these names.
OWN_FILES = ("package.json", "header.json", "attachments.json", "document.edxml")
#: Names Windows refuses whatever the extension (a drop folder is often an SMB share).
WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"{dev}{n}" for dev in ("COM", "LPT") for n in [*"123456789", "¹", "²", "³"]]
)
#: Path separators and what Windows forbids in names.
_FORBIDDEN = frozenset('/\\<>:"|?*')
#: Control, format (bidi overrides, zero-width), surrogate and line/paragraph separators.
_INVISIBLE = frozenset(["Cc", "Cf", "Cs", "Zl", "Zp"])


class DropMeta(BaseModel):
    """The ``<stem>.meta.json`` an agency system writes next to a document's files."""

    model_config = ConfigDict(extra="forbid")

    to: list[str] = Field(min_length=1, max_length=500)
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


# -- file names ------------------------------------------------------------------------------


def fit_name(stem: str, suffix: str = "", limit: int = MAX_NAME_BYTES) -> str:
    """``stem + suffix`` within ``limit`` bytes of UTF-8: a long stem is cut on a character
    boundary; the suffix (extension, counter) is kept whole."""
    room = max(limit - len(suffix.encode()), 0)
    if len(stem.encode()) <= room:
        return stem + suffix
    cut = stem.encode()[:room].decode("utf-8", "ignore")
    return (cut.rstrip(" .") or cut) + suffix


def _split_ext(name: str) -> tuple[str, str]:
    """``("báo cáo", ".pdf")``; no extension when it is absent or too long to be one."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or not 0 < len(ext.encode()) <= 16:
        return name, ""
    return stem, "." + ext


def _clean(name: str) -> str:
    """The sender's name with nothing a file system or a file manager could misread."""
    name = unicodedata.normalize("NFC", name)
    name = "".join(
        "_" if ch in _FORBIDDEN or unicodedata.category(ch) in _INVISIBLE else ch for ch in name
    )
    # Leading dots hide a file ("." and ".." are directories); Windows drops trailing dots.
    name = name.strip().lstrip(".").rstrip(". ")
    if name.split(".", 1)[0].rstrip().upper() in WINDOWS_RESERVED:
        name = "_" + name
    return name


def safe_names(names: Sequence[str], *, limit: int = MAX_NAME_BYTES) -> list[str]:
    """File names for attachments named ``names`` by their sender, in the same order.

    Each is NFC-normalised; path separators, ``<>:"|?*``, control and format
    characters become ``_``; leading dots and trailing dots and spaces go; a
    Windows device name (``CON``, ``NUL.txt``, ``COM1``…) gets a ``_`` prefix; an
    empty result becomes ``attachment-<n>``; a name over ``limit`` bytes of
    UTF-8 is shortened keeping its extension. Names equal, ignoring case, to
    the connector's own files or to an earlier attachment get `` (2)``, `` (3)``…
    before the extension, so no file is ever overwritten on any file system.
    """
    taken = {own.casefold() for own in OWN_FILES}
    out: list[str] = []
    for position, name in enumerate(names, start=1):
        stem, ext = _split_ext(_clean(name) or f"attachment-{position}")
        candidate, n = fit_name(stem, ext, limit), 1
        while candidate.casefold() in taken:
            n += 1
            candidate = fit_name(stem, f" ({n}){ext}", limit)
        taken.add(candidate.casefold())
        out.append(candidate)
    return out


# -- safe file access ------------------------------------------------------------------------


def _atomic_write(path: Path, data: bytes) -> None:
    # A short temporary name starting with a dot never meets a file written here, and stays
    # within the name limit even when the final name uses all of it.
    tmp = path.with_name(".tmp-" + hashlib.sha256(path.name.encode()).hexdigest()[:16])
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


_KINDS = {stat.S_IFLNK: "a symbolic link", stat.S_IFDIR: "a directory", stat.S_IFIFO: "a fifo"}


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes.

    Symbolic links are refused (one could make the connector send any file it can
    read), as are directories, fifos (reading one would block for ever) and devices.
    The file is opened without following links and checked again once open, so it
    cannot be swapped for a link in between.
    """

    def refuse(mode: int) -> OutboxEntryRefused:
        what = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
        return OutboxEntryRefused(
            f"{path.name}: {what}; only regular files are sent",
            hint="write the file itself into outbox/, not a link or a folder",
        )

    if not stat.S_ISREG(mode := os.lstat(path).st_mode):
        raise refuse(mode)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise refuse(stat.S_IFLNK) from None
        raise
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(mode := os.fstat(fh.fileno()).st_mode):
            raise refuse(mode)
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise OutboxEntryRefused(
            f"{path.name}: larger than {limit} bytes", hint="the hub takes no larger package"
        )
    return data


# -- the adapter -----------------------------------------------------------------------------


@dataclass
class FolderCounts:
    """What the adapter did since it started (written to ``connector.json``)."""

    sent: int = 0
    failed: int = 0
    received: int = 0
    parked: int = 0
    last_error: str | None = None


@dataclass
class FolderAdapter:
    """Moves documents between ``root`` and the hub for one agency."""

    client: AgencyClient
    root: Path
    place: str = "Bắc Giang"
    #: Bound of one outbox file, and of one document's files together.
    max_bytes: int = wire.DEFAULT_MAX_PACKAGE_BYTES
    #: Storing a received message: attempts and backoff before it is parked.
    store_retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(5, 1.0, 30.0))
    counts: FolderCounts = field(default_factory=FolderCounts)

    def __post_init__(self) -> None:
        self.started_at = datetime.now(UTC)
        self._reported = 0.0
        try:
            for sub in ("outbox", "sent", "failed", "inbox", "status", "parked", ".state/pending"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._unusable("set up", exc) from None

    def _unusable(self, doing: str, exc: OSError) -> FolderError:
        return FolderError(
            f"cannot {doing} in {self.root}: {exc.strerror or exc}",
            hint="free space or fix the folder's permissions, then start the connector again; "
            "nothing received is lost (it stays in the agency's inbox topic)",
        )

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
        own = {f"{stem}.meta.json", f"{stem}.package.json", f"{stem}{EDXML_SUFFIX}"}
        return sorted(
            p
            for p in (self.root / "outbox").iterdir()
            if p.name in own or p.name.split(".", 1)[0] == stem
        )

    def _build(self, stem: str) -> bytes:
        outbox = self.root / "outbox"
        package_file = outbox / f"{stem}.package.json"
        if os.path.lexists(package_file):
            raw = read_regular(package_file, self.max_bytes)
            parse_package(raw)  # a broken package fails here, with the reason filed
            return raw
        edxml_file = outbox / f"{stem}{EDXML_SUFFIX}"
        if os.path.lexists(edxml_file):
            adapter = EdxmlAdapter(self.client.signer, agency=self.client.code)
            return adapter.to_package(read_regular(edxml_file, self.max_bytes))
        if "." in stem:
            raise MalformedPackageError(
                f"{stem}.meta.json: the name before .meta.json must not contain a dot",
                hint="attachments are matched as <stem>.<ext>; rename e.g. to "
                f"{stem.replace('.', '-')}.meta.json",
            )
        try:
            meta = DropMeta.model_validate_json(
                read_regular(outbox / f"{stem}.meta.json", self.max_bytes)
            )
        except ValidationError as exc:
            raise MalformedPackageError(
                f"{stem}.meta.json: {describe_validation_error(exc)}"
            ) from None
        attachments: dict[str, bytes] = {}
        for p in self._files_of(stem):
            if p.name.endswith(".meta.json"):
                continue
            attachments[p.name] = read_regular(p, self.max_bytes)
            total = sum(len(data) for data in attachments.values())
            if total > self.max_bytes:
                raise OutboxEntryRefused(
                    f"{stem}: the attachments add up to more than {self.max_bytes} bytes",
                    hint="the hub takes no larger package; send them as several documents",
                )
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
            self.counts.failed += 1
            self.counts.last_error = reason
            log.warning("cannot send %s: %s", stem, reason)
            self.report(force=True)
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
        self.counts.sent += 1
        return True

    def _file(self, stem: str, where: str, record: dict[str, Any]) -> None:
        dest = self.root / where
        try:
            for path in self._files_of(stem):
                shutil.move(path, dest / path.name)  # a link or a fifo moves as itself
            suffix = ".sent.json" if where == "sent" else ".reason.txt"
            body = (
                json.dumps(record, ensure_ascii=False, indent=1)
                if where == "sent"
                else record["reason"]
            )
            _atomic_write(dest / fit_name(stem, suffix), (body + "\n").encode())
        except OSError as exc:
            raise self._unusable(f"file {stem} under {where}/", exc) from None

    async def send_ready(self) -> int:
        """Send everything ready now; returns how many were submitted."""
        try:
            stems = self.ready()
        except OSError as exc:
            raise self._unusable("read outbox/", exc) from None
        sent = 0
        for stem in stems:
            sent += await self.send_one(stem)
        self.report()
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
        folder.mkdir(parents=True, exist_ok=True)
        refs = msg.header.attachments
        listing = []
        for ref, name in zip(refs, safe_names([r.name for r in refs]), strict=True):
            data = msg.package.attachments.get(ref.id)
            if data is not None:
                _atomic_write(folder / name, data)
            # The sender's name, kept for display: the file has the safe one.
            entry = {"id": ref.id, "name": ref.name, "file": name if data is not None else None}
            listing.append(entry | ref.model_dump(include={"media_type", "size", "sha256"}))
        manifest = {"message_id": mid, "attachments": listing}
        text = json.dumps(manifest, ensure_ascii=False, indent=1) + "\n"
        _atomic_write(folder / "attachments.json", text.encode())
        _atomic_write(folder / "header.json", msg.package.header_bytes)
        if EdxmlAdapter.is_edxml_package(msg.package):  # the sender's own signed edXML
            _atomic_write(folder / "document.edxml", EdxmlAdapter.from_package(msg.package))
        _atomic_write(folder / "package.json", msg.package.raw)  # written last: the "complete" mark
        return folder

    async def receive_one(self, item: Received | UnreadableMessage, stop: asyncio.Event) -> bool:
        """Store ``item``, retrying with backoff, else park it; False if stopped before either.

        A file-system error is retried (a full disk may be freed); any other error
        comes from the message itself and would recur, so that message is parked at
        once, as is a record that is no readable package. Only when parking fails
        too is the folder unusable: ``FolderError``.
        """
        if isinstance(item, UnreadableMessage):
            self.park_unreadable(item)
            return True
        mid = item.message.header.message_id
        errors: list[str] = []
        for attempt in range(1, self.store_retry.max_attempts + 1):
            try:
                self.store(item)
            except OSError as exc:
                errors.append(f"{type(exc).__name__}: {exc.strerror or exc}")
            except Exception as exc:  # whatever one message does, it must not stop the inbox
                errors.append(f"{type(exc).__name__}: {exc}")
                log.warning("cannot store %s: %s", mid, errors[-1])
                break
            else:
                self.counts.received += 1
                self.report()
                return True
            log.warning("cannot store %s (attempt %d): %s", mid, attempt, errors[-1])
            if attempt < self.store_retry.max_attempts:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.store_retry.delay(attempt))
                if stop.is_set():
                    return False
        self.park(item, errors)
        return True

    def park(self, item: Received, errors: list[str]) -> Path:
        """Keep a message that could not be stored in parked/, with why; count it."""
        msg = item.message
        mid = str(msg.header.message_id)
        reason = {
            "message_id": mid,
            "kind": msg.header.kind.value,
            "from": msg.header.sender,
            "attempts": len(errors),
            "reason": f"not stored after {len(errors)} attempt(s): {errors[-1]}",
            "errors": errors,
        }
        return self._park(msg.offset, mid, msg.package.raw, reason)

    def park_unreadable(self, msg: UnreadableMessage) -> Path:
        """Keep an inbox record that is no readable package in parked/, with why; count it."""
        reason = {"reason": f"not a readable package: {msg.error}", "errors": [msg.error]}
        return self._park(msg.offset, "unreadable", msg.raw, reason)

    def _park(self, offset: int, mid: str, raw: bytes, reason: dict[str, Any]) -> Path:
        name = f"{offset:012d}-{mid}"
        reason |= {
            "topic": wire.inbox(self.client.code),
            "offset": offset,
            "parked_at": datetime.now(UTC).isoformat(),
        }
        parked = self.root / "parked"
        try:
            parked.mkdir(parents=True, exist_ok=True)
            _atomic_write(parked / f"{name}.package.json", raw)
            text = json.dumps(reason, ensure_ascii=False, indent=1) + "\n"
            _atomic_write(parked / f"{name}.reason.json", text.encode())  # last: entry complete
        except OSError as exc:
            raise self._unusable(f"store received message {mid} nor park it", exc) from None
        self.counts.parked += 1
        self.counts.last_error = f"{mid}: {reason['reason']}"
        log.error("parked %s in %s: %s", mid, parked, reason["reason"])
        self.report(force=True)
        return parked / f"{name}.reason.json"

    # -- running ----------------------------------------------------------
    def report(self, *, force: bool = False, running: bool = True) -> None:
        """Write ``connector.json`` (at most every 5 s unless ``force``); never fails."""
        if not force and time.monotonic() - self._reported < 5.0:
            return
        self._reported = time.monotonic()
        try:
            parked_total = sum(1 for _ in (self.root / "parked").glob("*.reason.json"))
            state = {
                "agency": self.client.code,
                "running": running,
                "pid": os.getpid(),
                "started_at": self.started_at.isoformat(),
                "updated_at": datetime.now(UTC).isoformat(),
                "this_run": {k: v for k, v in vars(self.counts).items() if k != "last_error"},
                "parked_total": parked_total,
                "last_error": self.counts.last_error,
            }
            text = json.dumps(state, ensure_ascii=False, indent=1) + "\n"
            _atomic_write(self.root / "connector.json", text.encode())
        except OSError as exc:
            log.warning("cannot write %s: %s", self.root / "connector.json", exc)

    async def run(self, stop: asyncio.Event, *, poll: float = 1.0) -> None:
        """Send from outbox/ and receive into inbox/ until ``stop`` or an error.

        The receiving task is watched: if it ends with an error (the folder cannot
        take even a parked message, Kafka refuses the agency), sending stops too
        and the error is raised here rather than lost.
        """
        self.report(force=True)
        receiver = asyncio.create_task(self._receive(stop), name="folder-receive")
        stopped = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set() and not receiver.done():
                await self.send_ready()
                await asyncio.wait(
                    [receiver, stopped], timeout=poll, return_when=asyncio.FIRST_COMPLETED
                )
        finally:
            stop.set()
            stopped.cancel()
            try:
                await receiver
            finally:
                self.report(force=True, running=False)

    async def _receive(self, stop: asyncio.Event) -> None:
        group = wire.agency_group(self.client.code, "folder")  # allowed by the agency's Kafka ACLs
        inbox = self.client.inbox(follow=True, group_id=group, stop=stop)
        async with contextlib.aclosing(inbox):
            async for item in inbox:
                # The client commits the offset once we ask for the next one: not when
                # stopped before the message was stored or parked.
                if not await self.receive_one(item, stop):
                    return
