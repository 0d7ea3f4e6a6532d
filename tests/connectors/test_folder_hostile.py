"""The drop folder against hostile input, without a broker.

What another agency sends (attachment names above all) is written to the
recipient's disk; what appears in the outbox may be a link, a folder or a fifo.
Each case here once stopped the connector, sent a file it should not have, or
could have.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import ConsumerRecord

from connectors.agency import AgencyClient, Received
from connectors.errors import FolderError
from connectors.folder import OWN_FILES, FolderAdapter, safe_names
from connectors.sdk import InboxMessage, UnreadableMessage, inbox_message
from connectors.webhook import RetryPolicy
from schemas.package import parse_package
from signing.pki import DemoPKI
from signing.signer import Signer, attachment_ref, build_package
from tests.conftest import HUB, A, B, make_header

#: An ordinary Vietnamese file name: 234 characters (the schema allows 255), 315 bytes of UTF-8.
LONG_VI = (
    "Báo cáo kết quả thực hiện nhiệm vụ cải cách hành chính năm 2026 của Sở Nội vụ tỉnh Bắc Giang "
)
LONG_NAME = (LONG_VI * 3)[:230] + ".pdf"

#: Names a sending agency may put in its (signed, hub-accepted) attachment manifest.
HOSTILE = [
    "..",
    ".",
    "cong\x00van.pdf",
    LONG_NAME,
    "../../../.ssh/authorized_keys",
    "..\\..\\Windows\\win.ini",
    "/etc/cron.d/job",
    "header.json",
    "PACKAGE.JSON",
    "Attachments.json",
    "document.edxml",
    "báo cáo.pdf",
    "BÁO CÁO.pdf",
    unicodedata.normalize("NFD", "báo cáo.pdf"),
    "hop-dong\u202efdp.exe",
    "dong1\r\ndong2.pdf",
    "CON",
    "nul.txt",
    "COM1.pdf",
    'a:b*c?<d>|e".pdf',
    " .bashrc",
    "bien-ban. . ",
    "ê" * 200,
]


#: The adapter's other folders (nothing may appear there when receiving a document).
SUBFOLDERS = ("outbox", "sent", "failed", "status", "parked", ".state")


def client(pki: DemoPKI, code: str = B) -> AgencyClient:
    """A client that never connects (nothing here reaches Kafka)."""
    issued = pki.agency(code)
    return AgencyClient.from_files(code, issued.key, issued.chain, "127.0.0.1:1", hub_code=HUB)


def received(pki: DemoPKI, names: list[str], *, offset: int = 7) -> Received:
    """An inbox message from A whose attachments carry ``names`` and distinct contents."""
    contents = {f"a{i}": f"nội dung {i}: {n!r}".encode() for i, n in enumerate(names, start=1)}
    header = make_header(A, [B]).model_copy(
        update={
            "attachments": [
                attachment_ref(f"a{i}", n, contents[f"a{i}"]) for i, n in enumerate(names, start=1)
            ]
        }
    )
    issued = pki.agency(A)
    raw = build_package(header, contents, [Signer.from_files(issued.key, issued.chain)]).to_bytes()
    msg = InboxMessage(parse_package(raw), {"edoc-verdict": "ok"}, offset, datetime.now(UTC))
    return Received(msg, is_hub_receipt=False, report=None)


# -- names ---------------------------------------------------------------------------------


def test_safe_names_answers() -> None:
    got = dict(zip(HOSTILE, safe_names(HOSTILE), strict=True))
    assert got[".."] == "attachment-1"
    assert got["."] == "attachment-2"
    assert got["cong\x00van.pdf"] == "cong_van.pdf"
    assert got["../../../.ssh/authorized_keys"] == "_.._.._.ssh_authorized_keys"
    assert got["..\\..\\Windows\\win.ini"] == "_.._Windows_win.ini"
    assert got["/etc/cron.d/job"] == "_etc_cron.d_job"
    assert got["header.json"] == "header (2).json"
    assert got["PACKAGE.JSON"] == "PACKAGE (2).JSON"
    assert got["Attachments.json"] == "Attachments (2).json"
    assert got["document.edxml"] == "document (2).edxml"
    assert got["báo cáo.pdf"] == "báo cáo.pdf"
    assert got["BÁO CÁO.pdf"] == "BÁO CÁO (2).pdf", "same name ignoring case"
    assert got[unicodedata.normalize("NFD", "báo cáo.pdf")] == "báo cáo (3).pdf", "NFD = NFC"
    assert got["hop-dong\u202efdp.exe"] == "hop-dong_fdp.exe", "no right-to-left override"
    assert got["dong1\r\ndong2.pdf"] == "dong1__dong2.pdf"
    assert got["CON"] == "_CON"
    assert got["nul.txt"] == "_nul.txt"
    assert got["COM1.pdf"] == "_COM1.pdf"
    assert got['a:b*c?<d>|e".pdf'] == "a_b_c__d__e_.pdf"
    assert got[" .bashrc"] == "bashrc"
    assert got["bien-ban. . "] == "bien-ban"
    long = got[LONG_NAME]
    assert long.endswith(".pdf") and LONG_NAME.startswith(long[:-4])
    assert 250 <= len(long.encode()) <= 255, "cut on a character boundary, extension kept"
    assert len(got["ê" * 200].encode()) == 254, "two bytes per ê: 127 of them fit"
    assert safe_names(["\ud800.pdf"]) == ["_.pdf"], "a lone surrogate cannot be encoded"


def test_counters_and_extensions_stay_within_the_limit() -> None:
    names = safe_names([LONG_NAME] * 12)
    assert len({n.casefold() for n in names}) == 12
    assert all(len(n.encode()) <= 255 and n.endswith(".pdf") for n in names)
    assert names[11].endswith(" (12).pdf")


# -- receiving -----------------------------------------------------------------------------


def test_hostile_names_are_written_inside_the_message_folder_and_listed(
    pki: DemoPKI, tmp_path: Path
) -> None:
    adapter = FolderAdapter(client(pki), tmp_path / "b")
    item = received(pki, HOSTILE)
    folder = adapter.store(item)

    assert folder == adapter.root / "inbox" / str(item.message.header.message_id)
    written = sorted(p.name for p in folder.iterdir())
    assert len(written) == len(HOSTILE) + 3, written  # + attachments.json, header.json, package
    assert len({n.casefold() for n in written}) == len(written), "unique, ignoring case"
    assert all(len(n.encode()) <= 255 and n.isprintable() for n in written)
    assert (folder / "header.json").read_bytes() == item.message.package.header_bytes
    assert (folder / "package.json").read_bytes() == item.message.package.raw
    # Nothing was written outside the message's folder.
    everything = {p.relative_to(adapter.root) for p in adapter.root.rglob("*")}
    assert {p for p in everything if p.parts[0] == "inbox" and len(p.parts) > 2} == {
        Path("inbox", folder.name, n) for n in written
    }
    assert not [p for p in everything if p.parts[0] not in ("inbox", *SUBFOLDERS)]

    listing = json.loads((folder / "attachments.json").read_bytes())
    assert listing["message_id"] == folder.name
    assert [e["name"] for e in listing["attachments"]] == HOSTILE, "the sender's names, kept"
    for entry in listing["attachments"]:
        data = item.message.package.attachments[entry["id"]]
        assert (folder / entry["file"]).read_bytes() == data, entry
    assert listing["attachments"][7]["file"] == "header (2).json"


def test_storing_twice_writes_the_same_files(pki: DemoPKI, tmp_path: Path) -> None:
    adapter = FolderAdapter(client(pki), tmp_path / "b")
    item = received(pki, ["cv.pdf", "CV.pdf", ".."])
    first = sorted(p.name for p in adapter.store(item).iterdir())
    second = sorted(p.name for p in adapter.store(item).iterdir())  # re-delivered after a crash
    assert first == second == sorted([*OWN_FILES[:3], "cv.pdf", "CV (2).pdf", "attachment-3"])


# -- retry and park ------------------------------------------------------------------------


def adapter_with(pki: DemoPKI, root: Path, attempts: int = 3) -> FolderAdapter:
    return FolderAdapter(
        client(pki), root, store_retry=RetryPolicy(attempts, base_seconds=0.01, max_seconds=0.02)
    )


async def test_a_message_that_cannot_be_stored_is_retried_then_parked(
    pki: DemoPKI, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = adapter_with(pki, tmp_path / "b")
    item = received(pki, ["cv.pdf"], offset=42)
    mid = str(item.message.header.message_id)
    (adapter.root / "inbox" / mid).write_bytes(b"")  # a file where its folder must go

    assert await adapter.receive_one(item, asyncio.Event())

    base = adapter.root / "parked" / f"{42:012d}-{mid}"
    assert base.with_name(base.name + ".package.json").read_bytes() == item.message.package.raw
    reason = json.loads(base.with_name(base.name + ".reason.json").read_bytes())
    assert reason["message_id"] == mid and reason["offset"] == 42 and reason["from"] == A
    assert reason["attempts"] == 3 and reason["topic"] == f"edoc.inbox.{B}"
    assert reason["reason"].startswith("not stored after 3 attempt(s): FileExistsError")
    assert adapter.counts.parked == 1 and adapter.counts.received == 0
    status = json.loads((adapter.root / "connector.json").read_bytes())
    assert status["parked_total"] == 1 and status["this_run"]["parked"] == 1
    assert mid in status["last_error"]
    warnings = [r for r in caplog.records if "cannot store" in r.getMessage()]
    assert [r.levelname for r in warnings] == ["WARNING"] * 3
    assert any(r.levelname == "ERROR" and "parked" in r.getMessage() for r in caplog.records)

    # The next message is stored as usual.
    other = received(pki, ["cv.pdf"], offset=43)
    assert await adapter.receive_one(other, asyncio.Event())
    assert adapter.counts.received == 1


async def test_a_message_the_store_chokes_on_is_parked_without_waiting(
    pki: DemoPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = adapter_with(pki, tmp_path / "b", attempts=5)
    item = received(pki, ["cv.pdf"])

    def broken(_item: Received) -> Path:
        raise KeyError("a1")  # not a file-system error: it would fail the same way again

    monkeypatch.setattr(adapter, "store", broken)
    assert await adapter.receive_one(item, asyncio.Event())
    [reason] = (adapter.root / "parked").glob("*.reason.json")
    assert json.loads(reason.read_bytes())["attempts"] == 1


async def test_a_stop_during_the_backoff_parks_nothing(pki: DemoPKI, tmp_path: Path) -> None:
    adapter = FolderAdapter(client(pki), tmp_path / "b", store_retry=RetryPolicy(3, 30.0, 30.0))
    item = received(pki, ["cv.pdf"])
    (adapter.root / "inbox" / str(item.message.header.message_id)).write_bytes(b"")
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.2, stop.set)
    async with asyncio.timeout(5):
        assert not await adapter.receive_one(item, stop), "not handled: not committed"
    assert not list((adapter.root / "parked").iterdir())


async def test_a_folder_that_cannot_take_the_parked_copy_stops_the_connector(
    pki: DemoPKI, tmp_path: Path
) -> None:
    adapter = adapter_with(pki, tmp_path / "b")
    item = received(pki, ["cv.pdf"])
    for sub in ("inbox", "parked"):  # both gone, a file in their place
        os.rmdir(adapter.root / sub)
        (adapter.root / sub).write_bytes(b"")
    with pytest.raises(FolderError) as caught:
        await adapter.receive_one(item, asyncio.Event())
    assert "nor park it" in caught.value.message
    assert "inbox topic" in (caught.value.hint or "")
    assert adapter.counts.parked == 0


def test_an_unusable_folder_is_one_error_at_start(pki: DemoPKI, tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(FolderError, match="cannot set up in"):
        FolderAdapter(client(pki), tmp_path / "file")


# -- the outbox ----------------------------------------------------------------------------


@pytest.fixture
def sender(pki: DemoPKI, tmp_path: Path) -> FolderAdapter:
    return FolderAdapter(client(pki, A), tmp_path / "a", max_bytes=64 * 1024)


def meta(outbox: Path, stem: str) -> None:
    (outbox / f"{stem}.meta.json").write_text(json.dumps({"to": [B], "subject": "Thử"}))


def refused(adapter: FolderAdapter, stem: str) -> str:
    """The reason filed for ``stem``; nothing of it is left in outbox/ or signed."""
    assert not [p for p in (adapter.root / "outbox").iterdir() if p.name.startswith(stem)]
    assert not list((adapter.root / ".state" / "pending").iterdir()), "nothing signed"
    return (adapter.root / "failed" / f"{stem}.reason.txt").read_text()


async def test_a_symlinked_attachment_is_refused_not_sent(
    sender: FolderAdapter, tmp_path: Path
) -> None:
    secret = tmp_path / "agency.key.pem"
    secret.write_text("-----BEGIN PRIVATE KEY-----\n…")
    outbox = sender.root / "outbox"
    (outbox / "cv.pdf").symlink_to(secret)
    meta(outbox, "cv")
    assert not await sender.send_one("cv")
    assert "cv.pdf: a symbolic link; only regular files are sent" in refused(sender, "cv")
    assert (sender.root / "failed" / "cv.pdf").is_symlink(), "the link moved, not its target"
    assert secret.exists()


async def test_symlinked_meta_package_and_edxml_files_are_refused(
    sender: FolderAdapter, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps({"to": [B], "subject": "Thử"}))
    outbox = sender.root / "outbox"
    for stem, suffix in [("m", ".meta.json"), ("p", ".package.json"), ("x", ".edxml")]:
        (outbox / f"{stem}{suffix}").symlink_to(target)
        assert not await sender.send_one(stem)
        assert "a symbolic link" in refused(sender, stem)
    (outbox / "d.meta.json").symlink_to(tmp_path / "missing")  # dangling
    assert not await sender.send_one("d")
    assert "a symbolic link" in refused(sender, "d")


async def test_a_directory_or_an_oversized_file_is_refused(sender: FolderAdapter) -> None:
    outbox = sender.root / "outbox"
    (outbox / "dir.pdf").mkdir()
    meta(outbox, "dir")
    assert not await sender.send_one("dir")
    assert "dir.pdf: a directory" in refused(sender, "dir")
    assert (sender.root / "failed" / "dir.pdf").is_dir()

    (outbox / "big.pdf").write_bytes(b"x" * (64 * 1024 + 1))
    meta(outbox, "big")
    assert not await sender.send_one("big")
    assert "big.pdf: larger than 65536 bytes" in refused(sender, "big")

    for i in range(3):  # each within the bound, together over it
        (outbox / f"many.{i}.pdf").write_bytes(b"x" * 30_000)
    meta(outbox, "many")
    assert not await sender.send_one("many")
    assert "add up to more than 65536 bytes" in refused(sender, "many")


@contextlib.contextmanager
def unblocking(fifo: Path) -> Iterator[None]:
    """Give a reader stuck on ``fifo`` its end of file, whatever happens in the block."""
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


async def test_a_fifo_is_refused_without_blocking(sender: FolderAdapter) -> None:
    outbox = sender.root / "outbox"
    fifo = outbox / "pipe.pdf"
    os.mkfifo(fifo)
    meta(outbox, "pipe")
    with unblocking(fifo):
        # In a thread: a blocking read would otherwise hang the whole test run.
        build = asyncio.to_thread(asyncio.run, sender.send_one("pipe"))
        assert not await asyncio.wait_for(build, timeout=10)
    assert "pipe.pdf: a fifo" in refused(sender, "pipe")


async def test_a_dotted_stem_is_refused_instead_of_resent_for_ever(sender: FolderAdapter) -> None:
    outbox = sender.root / "outbox"
    (outbox / "cv.v2.pdf").write_bytes(b"%PDF-1.4")
    meta(outbox, "cv.v2")
    assert sender.ready() == ["cv.v2"]
    assert not await sender.send_one("cv.v2")
    assert "must not contain a dot" in (sender.root / "failed" / "cv.v2.reason.txt").read_text()
    assert sender.ready() == [], "the meta file left the outbox"

    # A package whose name has a dot leaves the outbox too (it used to be sent again and again).
    (outbox / "cv.v3.package.json").write_bytes(b"{not a package")
    assert not await sender.send_one("cv.v3")
    assert sender.ready() == []
    assert (sender.root / "failed" / "cv.v3.package.json").exists()


async def test_an_inbox_record_that_is_no_package_is_parked_and_the_next_stored(
    pki: DemoPKI, tmp_path: Path
) -> None:
    """E.g. a record kept from an older, looser hub: parked with why, never a stop."""
    adapter = adapter_with(pki, tmp_path / "b")
    junk = UnreadableMessage(b'{"v": 1, "header": "!!"}', {}, 41, datetime.now(UTC), "bad base64")
    assert await adapter.receive_one(junk, asyncio.Event())
    base = adapter.root / "parked" / f"{41:012d}-unreadable"
    assert base.with_name(base.name + ".package.json").read_bytes() == junk.raw
    reason = json.loads(base.with_name(base.name + ".reason.json").read_bytes())
    assert reason["offset"] == 41 and "bad base64" in reason["reason"]
    assert adapter.counts.parked == 1
    assert await adapter.receive_one(received(pki, ["cv.pdf"], offset=42), asyncio.Event())
    assert adapter.counts.received == 1


async def test_the_sdk_hands_over_an_unreadable_inbox_record_instead_of_raising() -> None:
    rec = ConsumerRecord("edoc.inbox.X", 0, 5, 0, 0, None, b"not json", None, 8, -1, [])
    msg = inbox_message(rec)
    assert isinstance(msg, UnreadableMessage) and msg.offset == 5 and msg.raw == b"not json"
