"""The webhook adapter's local endpoint against hostile requests, and its replay window.

Whatever a request carries, the answer is a 4xx with a reason, never a 500,
and nothing reaches the hub. A request is accepted once: a copy is refused,
and so is one signed more than five minutes away from the adapter's clock.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.webhook import ReplayGuard, sign_request, signature_ok
from connectors.webhook_endpoint import make_endpoint
from signing.pki import DemoPKI
from signing.signer import Signer
from tests._ci import unavailable
from tests.conftest import PDF, A, B
from tests.connectors.test_webhook import SECRET
from tests.connectors.test_webhook_endpoint import FakeHub, document_request, signed_post


class Clock:
    """A clock the test moves (Unix seconds)."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


@contextlib.asynccontextmanager
async def endpoint(
    pki: DemoPKI, hub: FakeHub, guard: ReplayGuard | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    issued = pki.agency(A)
    app = make_endpoint(
        A,
        Signer.from_files(issued.key, issued.chain),
        SECRET,
        hub.submit,
        max_package_bytes=1 << 20,
        guard=guard,
    )
    # raise_app_exceptions=False: a crash must show as the 500 a client would get.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://adapter") as client:
        yield client


# -- signatures ----------------------------------------------------------------------------


def test_the_v1_check_answers_any_text_without_raising() -> None:
    body = b'{"x": 1}'
    good = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    assert signature_ok(SECRET, body, good)
    assert signature_ok(SECRET, body, f"  {good.upper().replace('SHA256', 'sha256')} ")
    for hostile in ["sha256=é", "sha256=" + "đ" * 64, "\x00", "", "sha256=" + "a" * 10_000]:
        assert not signature_ok(SECRET, body, hostile)  # compare_digest raised TypeError


async def test_non_ascii_huge_and_repeated_signature_headers_get_401(pki: DemoPKI) -> None:
    hub = FakeHub()
    raw, good = signed_post(document_request([B]))
    cases: list[list[tuple[str, str | bytes]]] = [
        [*good.items(), ("X-Edoc-Signature-V2", "sha256=é".encode("latin-1"))],
        [(k, v) for k, v in good.items() if k != "X-Edoc-Signature-V2"]
        + [("X-Edoc-Signature-V2", b"sha256=\xe9" + b"0" * 63)],
        [(k, v) for k, v in good.items() if k != "X-Edoc-Nonce"]
        + [("X-Edoc-Nonce", "n" * 100_000)],
        [(k, v) for k, v in good.items() if k != "X-Edoc-Timestamp"]
        + [("X-Edoc-Timestamp", "9" * 400)],
        [(k, v) for k, v in good.items() if k != "X-Edoc-Timestamp"] + [("X-Edoc-Timestamp", "-1")],
        [(k, v) for k, v in good.items() if k != "X-Edoc-Timestamp"]
        + [("X-Edoc-Timestamp", "1.8e9")],
        [*good.items(), ("X-Edoc-Nonce", good["X-Edoc-Nonce"])],  # twice
        [*good.items(), ("X-Edoc-Signature", "sha256=ü".encode("latin-1"))],  # v1: ignored
    ]
    async with endpoint(pki, hub) as client:
        for headers in cases[:-1]:
            response = await client.post("/documents", content=raw, headers=headers)
            assert response.status_code == 401, (headers, response.text)
            assert response.json()["reason"] == "unauthenticated"
        assert (await client.post("/documents", content=raw, headers=cases[-1])).status_code == 202
    assert len(hub.sent) == 1


HOSTILE_BODIES: list[tuple[str, bytes | dict[str, Any], int, str]] = [
    ("not JSON", b"{not json", 400, "Invalid JSON"),
    ("not UTF-8", b'{"to": ["\xff\xfe"]}', 400, "Invalid JSON"),
    ("nested 10,000 deep", b"[" * 10_000 + b"]" * 10_000, 400, "recursion limit"),
    ("a 5,000-digit number", b'{"to": 1' + b"0" * 5000 + b"}", 400, "Invalid JSON"),
    ("a lone surrogate", b'{"to": ["\\ud800"]}', 400, "Invalid JSON"),
    ("empty", b"", 400, "Invalid JSON"),
    ("JSON null", b"null", 400, "(root)"),
    ("name ..", {"name": ".."}, 400, "attachments.0.name"),
    ("name .", {"name": "."}, 400, "attachments.0.name"),
    ("name with NUL", {"name": "cv\x00.pdf"}, 400, "attachments.0.name"),
    ("name with a path", {"name": "../../etc/passwd"}, 400, "attachments.0.name"),
    ("name with a backslash", {"name": "..\\boot.ini"}, 400, "attachments.0.name"),
    ("name with a newline", {"name": "a\nb.pdf"}, 400, "attachments.0.name"),
    ("name with RLO", {"name": "cv\u202efdp.exe"}, 400, "attachments.0.name"),
    ("name of 256 characters", {"name": "a" * 256}, 400, "attachments.0.name"),
    ("media type of NULs", {"media_type": "\x00\x00\x00"}, 400, "media_type"),
    ("media type with CRLF", {"media_type": "text/plain\r\nX: y"}, 400, "media_type"),
    ("steering type 10^30", {"steering_type": 10**30}, 400, "steering_type"),
    ("due date 9999-12-31", {"due_date": "9999-12-31"}, 400, "due_date"),
    ("promulgated in year 1", {"date": "0001-01-01"}, 400, "promulgation.date"),
    ("a 100,000-character place", {"to_places": ["x" * 100_000]}, 400, "to_places"),
    ("101 attachments", {"many": 101}, 400, "attachments"),
]


def hostile_document(change: bytes | dict[str, Any]) -> bytes:
    """A document request with one hostile change (or raw bytes as they are)."""
    if isinstance(change, bytes):
        return change
    req = document_request([B])
    att = {"name": "cv.pdf", "content": base64.b64encode(PDF).decode()}
    if "name" in change or "media_type" in change:
        req["attachments"] = [att | change]
    elif "many" in change:
        req["attachments"] = [att] * change["many"]
    elif "date" in change:
        req["document"]["promulgation"]["date"] = change["date"]
    else:
        req["document"] |= change
    return json.dumps(req, ensure_ascii=False).encode()


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [pytest.param(b, s, d, id=i) for i, b, s, d in HOSTILE_BODIES],
)
async def test_hostile_bodies_get_a_4xx_and_nothing_is_sent(
    pki: DemoPKI, body: bytes | dict[str, Any], status: int, detail: str
) -> None:
    hub = FakeHub()
    raw, headers = signed_post(hostile_document(body))
    async with endpoint(pki, hub) as client:
        response = await client.post("/documents", content=raw, headers=headers)
    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]
    assert hub.sent == []


async def test_a_hostile_status_reason_is_refused(pki: DemoPKI) -> None:
    hub = FakeHub()
    body = {"ref_message_id": str(uuid.uuid4()), "to": B, "code": "02", "reasons": ["x" * 501]}
    raw, headers = signed_post(body)
    async with endpoint(pki, hub) as client:
        response = await client.post("/statuses", content=raw, headers=headers)
    assert response.status_code == 400 and "reasons.0" in response.json()["detail"]
    assert hub.sent == []


# -- replays -------------------------------------------------------------------------------


async def test_a_copy_of_a_request_is_refused(pki: DemoPKI) -> None:
    hub = FakeHub()
    raw, headers = signed_post(document_request([B]))
    async with endpoint(pki, hub) as client:
        first = await client.post("/documents", content=raw, headers=headers)
        again = await client.post("/documents", content=raw, headers=headers)
        statuses = {"ref_message_id": str(uuid.uuid4()), "to": B, "code": "03"}
        raw_st, headers_st = signed_post(statuses, nonce=headers["X-Edoc-Nonce"])
        other_body = await client.post("/statuses", content=raw_st, headers=headers_st)
    assert first.status_code == 202
    assert again.status_code == 401 and again.json()["reason"] == "replayed"
    assert other_body.status_code == 401 and other_body.json()["reason"] == "replayed"
    assert len(hub.sent) == 1, "the document left once"


async def test_timestamps_outside_five_minutes_are_refused(pki: DemoPKI) -> None:
    clock = Clock()
    guard = ReplayGuard(SECRET, clock=clock)
    clock.now += 1000  # the adapter has been running a while
    now = int(clock.now)
    hub = FakeHub()
    async with endpoint(pki, hub, guard) as client:
        for at, status, reason in [
            (now - 301, 401, "stale"),
            (now + 301, 401, "stale"),
            (now - 300, 202, None),
            (now + 300, 202, None),
            (now, 202, None),
            (0, 401, "stale"),
            (10**11, 401, "stale"),
        ]:
            raw, headers = signed_post(document_request([B]), at=at)
            response = await client.post("/documents", content=raw, headers=headers)
            assert response.status_code == status, (at - now, response.text)
            if reason:
                assert response.json()["reason"] == reason
                assert f"adapter's clock ({now})" in response.json()["detail"]
    assert len(hub.sent) == 3


async def test_requests_signed_before_the_adapter_started_are_refused(pki: DemoPKI) -> None:
    """A restart forgets the nonces: what was signed before it could be a copy."""
    clock = Clock()
    hub = FakeHub()
    async with endpoint(pki, hub, ReplayGuard(SECRET, clock=clock)) as client:
        raw, headers = signed_post(document_request([B]), at=int(clock.now) - 5)
        response = await client.post("/documents", content=raw, headers=headers)
    assert response.status_code == 401 and response.json()["reason"] == "stale"
    assert "before the adapter started" in response.json()["detail"]


def test_nonces_are_forgotten_after_the_window_and_memory_is_bounded() -> None:
    clock = Clock()
    guard = ReplayGuard(SECRET, clock=clock, max_nonces=3)
    body = b"{}"

    def check(headers: dict[str, str]) -> None:
        guard.check(
            body,
            headers["X-Edoc-Timestamp"],
            headers["X-Edoc-Nonce"],
            headers["X-Edoc-Signature-V2"],
        )

    signed = [sign_request(SECRET, body, now=clock.now) for _ in range(3)]
    for headers in signed:
        check(headers)
    # Wrong signatures never take memory.
    for _ in range(10):
        forged = sign_request(b"not the secret", body, now=clock.now)
        with pytest.raises(Exception, match="wrong X-Edoc-Signature-V2"):
            check(forged)
    with pytest.raises(Exception, match="too many requests") as full:
        check(sign_request(SECRET, body, now=clock.now))
    assert full.value.status == 429  # type: ignore[attr-defined]
    clock.now += 301  # the three are out of the window: forgotten, and refused as stale
    with pytest.raises(Exception, match="is -301 s from"):
        check(signed[0])
    check(sign_request(SECRET, body, now=clock.now))
    assert len(guard._seen) == 1


def test_the_adapter_accepts_what_the_adapter_signs() -> None:
    """The deliverer's signing and the endpoint's checking agree (and a copy is refused)."""
    guard = ReplayGuard(SECRET)
    body = json.dumps({"x": "Văn bản"}, ensure_ascii=False).encode()
    headers = sign_request(SECRET, body)
    args = (headers["X-Edoc-Timestamp"], headers["X-Edoc-Nonce"], headers["X-Edoc-Signature-V2"])
    guard.check(body, *args)
    with pytest.raises(Exception, match="already used"):
        guard.check(body, *args)


def test_the_documented_openssl_recipe_gives_the_same_signature(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        unavailable("openssl", "not on PATH")  # fails on CI, skips elsewhere
    body = json.dumps(document_request([B]), ensure_ascii=False).encode()
    (tmp_path / "body.json").write_bytes(body)
    headers = sign_request(SECRET, body)
    script = (  # docs/webhook.md, "Signatures"
        'printf \'%s.%s.\' "$TS" "$NONCE" | cat - body.json'
        " | openssl dgst -sha256 -hmac \"$SECRET\" -r | cut -d' ' -f1"
    )
    env = {
        "PATH": "/usr/bin:/bin:/usr/local/bin",
        "TS": headers["X-Edoc-Timestamp"],
        "NONCE": headers["X-Edoc-Nonce"],
        "SECRET": SECRET.decode(),
    }
    out = subprocess.run(
        ["sh", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    assert "sha256=" + out.stdout.strip() == headers["X-Edoc-Signature-V2"]
