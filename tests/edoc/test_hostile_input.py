"""No package can stop the hub: ``edoc serve`` (every service) and a recipient's drop folder
on a real broker take the hostile packages of the security review, then an ordinary one.

Every package gets a verdict, the ordinary document reaches the recipient's folder, every
service is still running and ``/readyz`` answers 200 (docs/security.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from connectors.folder import FolderAdapter
from hub.kafka.client import ensure_hub_topics
from hub.runtime.serve import serve
from hub.services import SERVICES
from hub.settings import Settings
from schemas.package import b64url_decode, b64url_encode, package_sha256
from signing.pki import DemoPKI
from signing.signer import Signer, build_package
from tests._postgres import free_port
from tests.conftest import PDF, A, B, make_header
from tests.connectors.test_folder import client
from tests.hub.router.test_kafka import read_events, router_settings, submit

pytestmark = pytest.mark.kafka


def header_dict(**changes: Any) -> dict[str, Any]:
    """A genuine document header from A to B as JSON, with ``changes`` applied."""
    h: dict[str, Any] = json.loads(make_header(A, [B]).to_json_bytes())
    h.update(changes)
    return h


def signed(pki: DemoPKI, header: dict[str, Any], files: dict[str, bytes] | None = None) -> bytes:
    """``header`` signed by A (a valid signature over hostile content)."""
    issued = pki.agency(A)
    raw = json.dumps(header, ensure_ascii=False).encode()
    return build_package(
        raw, files or {"a1": PDF}, [Signer.from_files(issued.key, issued.chain)]
    ).to_bytes()


def with_signature(header: dict[str, Any], signature: dict[str, str]) -> bytes:
    """``header`` carrying one arbitrary signature entry (no valid signature at all)."""
    encoded = b64url_encode(json.dumps(header).encode())
    return json.dumps({"v": 1, "header": encoded, "signatures": [signature]}).encode()


def named(pki: DemoPKI, name: str) -> bytes:
    """An accepted document whose one attachment has the file name ``name``."""
    h = header_dict()
    h["attachments"][0]["name"] = name
    return signed(pki, h)


def hostile_packages(pki: DemoPKI) -> dict[str, bytes]:
    return {
        "sent_at year 1, empty signature": with_signature(
            header_dict(sent_at="0001-01-01T00:00:00+01:00"), {"profile": "x", "value": ""}
        ),
        "sent_at 9999 with -00:01, empty signature": with_signature(
            header_dict(sent_at="9999-12-31T23:59:59-00:01"), {"profile": "jws", "value": ""}
        ),
        "sent_at 9999 signed with a real certificate": signed(
            pki, header_dict(sent_at="9999-12-31T23:58:00Z")
        ),
        "unsigned, sent_at 9999": with_signature(
            header_dict(sent_at="9999-12-31T20:00:00Z"), {"profile": "cms", "value": "AA=="}
        ),
        "duplicate classification keys": b'{"v":1,"header":"'
        + b64url_encode(
            json.dumps(header_dict())[:-1].encode()
            + b',"classification":"secret","classification":"public"}'
        ).encode()
        + b'","signatures":[],"attachments":[]}',
        "attachment ..": named(pki, ".."),
        "attachment .": named(pki, "."),
        "attachment with NUL": named(pki, "báo\x00cáo.pdf"),
        "attachment name over 255 bytes": named(pki, "Báo cáo tổng hợp " * 20 + ".pdf"),
        "attachment named like the connector's own file": named(pki, "header.json"),
        "not JSON at all": b"\xff\xfe not json",
        "empty": b"",
    }


async def test_hostile_packages_never_stop_the_hub_or_the_recipient(
    kafka_bootstrap: str, pki: DemoPKI, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    port = free_port()
    settings: Settings = router_settings(kafka_bootstrap, pki, tag).model_copy(
        update={
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}",
            "audit_group": f"audit-{tag}",
            "coverage_group": f"coverage-{tag}",
            "lifecycle_group": f"lifecycle-{tag}",
            "gateway_group_prefix": f"gateway-{tag}-",
            "api_port": port,
        }
    )
    await ensure_hub_topics(settings)
    stop = asyncio.Event()
    hub = asyncio.create_task(serve(settings, set(SERVICES), stop))
    b_stop = asyncio.Event()
    b = FolderAdapter(client(pki, B, kafka_bootstrap), tmp_path / "b")
    recipient = asyncio.create_task(b.run(b_stop, poll=0.2))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            async with asyncio.timeout(60):
                while True:
                    try:
                        if (await http.get("/readyz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.3)
            hostile = hostile_packages(pki)
            ordinary = named(pki, "Công văn 125.pdf")
            await submit(kafka_bootstrap, *hostile.values(), ordinary)
            mid = json.loads(b64url_decode(json.loads(ordinary)["header"]))["message_id"]
            async with asyncio.timeout(90):
                while not (b.root / "inbox" / mid / "Công văn 125.pdf").exists():
                    assert not hub.done() and not recipient.done(), "a service stopped"
                    await asyncio.sleep(0.3)
            # Every package has its verdict.
            verdicts = {e["package_sha256"]: e for e in await read_events(kafka_bootstrap)}
            missing = [name for name, raw in hostile.items() if package_sha256(raw) not in verdicts]
            assert not missing, f"no verdict for {missing}"
            reasons = {
                name: verdicts[package_sha256(raw)]["reasons"] for name, raw in hostile.items()
            }
            for name in (
                "sent_at year 1, empty signature",
                "sent_at 9999 with -00:01, empty signature",
                "sent_at 9999 signed with a real certificate",
                "unsigned, sent_at 9999",
                "duplicate classification keys",
                "not JSON at all",
                "empty",
            ):
                assert reasons[name] == ["malformed"], (name, reasons[name])
            # Hostile file names are delivered (they are validly signed) but stored safely.
            for name in ("attachment ..", "attachment .", "attachment with NUL"):
                assert verdicts[package_sha256(hostile[name])]["verdict"] == "ok", name
            await asyncio.sleep(2)  # let coverage, lifecycle and the recorder take them all
            assert not hub.done() and not recipient.done(), "a service stopped"
            ready = await http.get("/readyz")
            assert ready.status_code == 200, ready.text
            # No service needed a restart either.
            for name in SERVICES:
                assert not REGISTRY.get_sample_value(
                    "edoc_service_restarts_total", {"service": name}
                )
        # Nothing was written outside the recipient's folder (a name '..' stayed inside).
        left = set(os.listdir(tmp_path))
        assert left <= {"b", "hub.db", "hub.db-wal", "hub.db-shm"}, left
    finally:
        b_stop.set()
        stop.set()
        await asyncio.gather(recipient, hub, return_exceptions=True)
        await b.client.close()
    assert hub.exception() is None and recipient.exception() is None
