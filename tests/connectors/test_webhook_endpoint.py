"""The webhook adapter's local endpoint, mutual TLS, configuration errors, and a full round trip.

The round trip runs two adapters (A and B) and the router on a real broker:
A's system posts a document to A's endpoint, B's system receives it on its URL,
posts status 03 back, and A's system receives that status.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka.structs import ConsumerRecord
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from connectors.errors import HubUnreachableError, WebhookError
from connectors.sdk import Submitted
from connectors.webhook import InboxDeliverer, RetryPolicy, WebhookTarget, state_lock
from connectors.webhook_endpoint import AdapterConfig, make_endpoint, run_adapter
from schemas.package import parse_package
from signing.pki import DemoPKI
from signing.signer import Signer
from signing.verifier import Verifier
from tests._kafka import free_port
from tests.conftest import HUB, PDF, A, B, PackageFactory
from tests.connectors.test_webhook import SECRET, Receiver, wait_until
from tests.hub.router.test_kafka import router_settings, running_router


def signed_post(
    body: dict[str, Any] | bytes, *, at: int | None = None, nonce: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and its v2 headers, computed as docs/webhook.md says (not by the adapter)."""
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    stamp = str(int(time.time()) if at is None else at)
    nonce = nonce or uuid.uuid4().hex
    mac = hmac.new(SECRET, f"{stamp}.{nonce}.".encode() + raw, hashlib.sha256).hexdigest()
    return raw, {
        "X-Edoc-Timestamp": stamp,
        "X-Edoc-Nonce": nonce,
        "X-Edoc-Signature-V2": f"sha256={mac}",
        "Content-Type": "application/json",
    }


def document_request(to: list[str], subject: str = "V/v gửi qua webhook") -> dict[str, Any]:
    """The JSON an agency system posts to ``/documents`` (docs/webhook.md)."""
    return {
        "to": to,
        "document": {
            "code": {"number": "45", "notation": "STP-VP"},
            "promulgation": {"place": "Bắc Giang", "date": dt.date.today().isoformat()},
            "document_type": "Công văn",
            "subject": subject,
            "signer": {"full_name": "Nguyễn Văn A", "position": "Giám đốc"},
        },
        "attachments": [
            {"name": "cong-van.pdf", "content": base64.b64encode(PDF).decode()},
            {"name": "phu-luc.bin", "media_type": "application/zip", "content": "AAEC"},
        ],
    }


class FakeHub:
    """Stands in for ``HubClient.submit``: records packages, or fails like an absent broker."""

    def __init__(self, down: bool = False) -> None:
        self.down = down
        self.sent: list[bytes] = []

    async def submit(self, raw: bytes) -> Submitted:
        if self.down:
            raise HubUnreachableError("127.0.0.1:1", "connection refused")
        self.sent.append(raw)
        return Submitted(str(parse_package(raw).header.message_id), 0, len(self.sent) - 1)


@contextlib.asynccontextmanager
async def endpoint(
    pki: DemoPKI, hub: FakeHub, limit: int = 1 << 20
) -> AsyncIterator[httpx.AsyncClient]:
    issued = pki.agency(A)
    app = make_endpoint(
        A, Signer.from_files(issued.key, issued.chain), SECRET, hub.submit, max_package_bytes=limit
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://adapter") as client:
        yield client


# -- the endpoint, without a broker --------------------------------------------------------


async def test_a_posted_document_is_signed_by_the_agency_and_submitted(
    pki: DemoPKI, verifier: Verifier
) -> None:
    hub = FakeHub()
    mid = str(uuid.uuid4())
    async with endpoint(pki, hub) as client:
        raw, headers = signed_post(document_request([B]) | {"message_id": mid})
        response = await client.post("/documents", content=raw, headers=headers)
    assert response.status_code == 202
    assert response.json() == {"message_id": mid, "partition": 0, "offset": 0}
    parsed = parse_package(hub.sent[0])
    assert parsed.header.sender == A and parsed.header.to == [B]
    assert str(parsed.header.message_id) == mid, "the caller's id is kept (idempotent retries)"
    assert [a.name for a in parsed.header.attachments] == ["cong-van.pdf", "phu-luc.bin"]
    assert [a.media_type for a in parsed.header.attachments] == [
        "application/pdf",
        "application/zip",
    ]
    assert parsed.attachments["a1"] == PDF and parsed.attachments["a2"] == b"\x00\x01\x02"
    assert verifier.verify_bytes(hub.sent[0]).verdict == "ok"


async def test_a_posted_status_is_signed_and_submitted(pki: DemoPKI, verifier: Verifier) -> None:
    hub = FakeHub()
    ref = str(uuid.uuid4())
    async with endpoint(pki, hub) as client:
        body = {"ref_message_id": ref, "to": B, "code": "03", "description": "Đã vào sổ"}
        response = await client.post(
            "/statuses", content=signed_post(body)[0], headers=signed_post(body)[1]
        )
    assert response.status_code == 202
    header = parse_package(hub.sent[0]).header
    assert header.kind.value == "status" and header.to == [B]
    assert header.status is not None and str(header.status.ref_message_id) == ref
    assert header.status.code.value == "03" and header.status.description == "Đã vào sổ"
    assert verifier.verify_bytes(hub.sent[0]).verdict == "ok"


async def test_bad_requests_get_a_clear_400_and_nothing_is_sent(pki: DemoPKI) -> None:
    hub = FakeHub()
    good = document_request([B])
    bad_cases: list[tuple[str, dict[str, Any] | bytes, str]] = [
        ("/documents", b"{not json", "Invalid JSON"),
        ("/documents", good | {"colour": "red"}, "colour"),
        ("/documents", good | {"to": ["Sở Tư pháp"]}, "to.0"),
        ("/documents", good | {"to": [B, B]}, "recipient twice"),
        ("/documents", good | {"to": []}, "to"),
        ("/documents", {**good, "attachments": [{"name": "x.pdf", "content": "@@"}]}, "not base64"),
        ("/documents", {k: v for k, v in good.items() if k != "document"}, "document"),
        ("/statuses", {"ref_message_id": "nope", "to": B, "code": "03"}, "ref_message_id"),
        ("/statuses", {"ref_message_id": str(uuid.uuid4()), "to": B, "code": "99"}, "code"),
    ]
    async with endpoint(pki, hub) as client:
        for path, body, detail in bad_cases:
            raw, headers = signed_post(body)
            response = await client.post(path, content=raw, headers=headers)
            assert response.status_code == 400, (body, response.text)
            assert response.json()["reason"] == "invalid"
            assert detail in response.json()["detail"], response.json()
    assert hub.sent == []


async def test_only_requests_signed_with_the_secret_are_accepted(pki: DemoPKI) -> None:
    hub = FakeHub()
    raw, good = signed_post(document_request([B]))
    stamp, nonce = good["X-Edoc-Timestamp"], good["X-Edoc-Nonce"]
    other = hmac.new(b"other", f"{stamp}.{nonce}.".encode() + raw, hashlib.sha256).hexdigest()
    async with endpoint(pki, hub) as client:
        for headers in [
            {},
            good | {"X-Edoc-Signature-V2": "sha256=" + "0" * 64},
            good | {"X-Edoc-Signature-V2": f"sha256={other}"},
            # v1, the body alone: replayable, so no longer accepted here.
            {"X-Edoc-Signature": "sha256=" + hmac.new(SECRET, raw, hashlib.sha256).hexdigest()},
            {k: v for k, v in good.items() if k != "X-Edoc-Nonce"},
            {k: v for k, v in good.items() if k != "X-Edoc-Timestamp"},
            good | {"X-Edoc-Nonce": uuid.uuid4().hex},  # the nonce is covered
            good | {"X-Edoc-Timestamp": str(int(stamp) + 1)},  # so is the time
        ]:
            response = await client.post("/documents", content=raw, headers=headers)
            assert response.status_code == 401
            assert response.json()["reason"] == "unauthenticated"
        # A signature of other bytes does not cover these.
        _, other_headers = signed_post(document_request([B], subject="khác"))
        assert (
            await client.post("/documents", content=raw, headers=other_headers)
        ).status_code == 401
    assert hub.sent == []


async def test_too_large_and_hub_down_are_reported(pki: DemoPKI) -> None:
    async with endpoint(pki, FakeHub(), limit=4096) as client:
        raw, headers = signed_post(document_request([B]))  # the PDF alone is > 2 KiB
        big = await client.post("/documents", content=raw + b" " * 4096, headers=headers)
        assert big.status_code == 413 and big.json()["reason"] == "too_large"
        signed_too_big = await client.post("/documents", content=raw, headers=headers)
        assert signed_too_big.status_code == 413
        assert "the hub takes at most 4096" in signed_too_big.json()["detail"]
    down = FakeHub(down=True)
    async with endpoint(pki, down) as client:
        response = await client.post("/documents", content=raw, headers=headers)
    assert response.status_code == 503 and response.json()["reason"] == "unavailable"
    assert "not reachable" in response.json()["detail"]


# -- mutual TLS towards the agency system --------------------------------------------------


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = issuer or (name, key)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        builder = builder.add_extension(san, critical=False)
    if ca:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def tls_files(root: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files."""
    ca_key, srv_key, cli_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = _cert("Agency system test CA", ca_key, None, ca=True)
    out: dict[str, Path] = {}
    for name, cert, key in [
        ("ca", ca, ca_key),
        ("server", _cert("127.0.0.1", srv_key, (ca.subject, ca_key), server=True), srv_key),
        ("client", _cert("edoc adapter 000.00.02.H49", cli_key, (ca.subject, ca_key)), cli_key),
    ]:
        out[name] = root / f"{name}.pem"
        out[name].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        out[f"{name}-key"] = root / f"{name}.key.pem"
        out[f"{name}-key"].write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return out


def record(raw: bytes, offset: int = 7) -> ConsumerRecord:
    return ConsumerRecord(
        "edoc.inbox.000.00.02.H49", 0, offset, 0, 0, A.encode(), raw, None, 13, len(raw),
        (("edoc-verdict", b"ok"),),
    )  # fmt: skip


async def test_mutual_tls_delivery_presents_the_client_certificate(
    tmp_path: Path, signed_package: PackageFactory
) -> None:
    files = tls_files(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(files["ca"]))
    server_ctx.load_cert_chain(files["server"], files["server-key"])
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    raw = signed_package(A, [B])
    stop = asyncio.Event()
    with Receiver(tls=server_ctx).running() as receiver:
        with_cert = WebhookTarget(
            receiver.url,
            client_cert=files["client"],
            client_key=files["client-key"],
            ca=files["ca"],
        )
        deliverer = InboxDeliverer(B, "unused:9092", with_cert, tmp_path / "a")
        async with with_cert.client() as http:
            assert await deliverer.handle(http, record(raw), stop)
        hit = receiver.hits[-1]
        assert hit.body == raw and hit.status == 200
        assert "X-Edoc-Signature" not in hit.headers, "no secret given: TLS alone authenticates"
        assert "X-Edoc-Signature-V2" not in hit.headers and "X-Edoc-Nonce" not in hit.headers
        assert ("commonName", "edoc adapter 000.00.02.H49") in hit.client_cert["subject"][0]  # type: ignore[index]

        # Without a client certificate the handshake fails: retried, then dead-lettered.
        no_cert = WebhookTarget(receiver.url, SECRET, ca=files["ca"])
        policy = RetryPolicy(max_attempts=2, base_seconds=0.01, max_seconds=0.01)
        deliverer = InboxDeliverer(B, "unused:9092", no_cert, tmp_path / "b", policy=policy)
        async with no_cert.client() as http:
            assert await deliverer.handle(http, record(raw), stop)
    reason = json.loads(next((tmp_path / "b/dead-letter").glob("*.reason.json")).read_text())
    assert reason["attempts"] == 2 and reason["offset"] == 7


async def test_an_unreadable_record_is_still_delivered_with_safe_headers(tmp_path: Path) -> None:
    raw = b"not a package"
    rec = record(raw)
    rec.headers = (
        ("edoc-message-id", b"../../etc\r\nX-Evil: 1"),
        ("edoc-kind", b"document"),
    )
    with Receiver().running() as receiver:
        target = WebhookTarget(receiver.url, SECRET)
        deliverer = InboxDeliverer(B, "unused:9092", target, tmp_path)
        async with target.client() as http:
            assert await deliverer.handle(http, rec, asyncio.Event())
    hit = receiver.hits[0]
    assert hit.body == raw
    assert hit.headers["X-Edoc-Message-Id"] == ".._.._etc__X-Evil__1"
    assert "X-Evil" not in hit.headers


# -- configuration errors ------------------------------------------------------------------


def test_misconfigurations_are_refused_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(WebhookError, match="unauthenticated") as exc:
        WebhookTarget("https://agency.example/edoc")
    assert "--secret" in (exc.value.hint or "")
    with pytest.raises(WebhookError, match="needs an https"):
        WebhookTarget("http://agency.example/edoc", client_cert=tmp_path / "c.pem")
    with pytest.raises(WebhookError, match="not an HTTP URL"):
        WebhookTarget("ftp://agency.example", SECRET)
    with pytest.raises(WebhookError, match="cannot load TLS files"):
        WebhookTarget("https://x.example", client_cert=tmp_path / "missing.pem").verify()
    with pytest.raises(WebhookError, match="at least 1"):
        RetryPolicy(max_attempts=0)
    with state_lock(tmp_path), pytest.raises(WebhookError, match="another adapter"):  # noqa: SIM117
        with state_lock(tmp_path):
            pass


async def test_the_endpoint_is_not_started_without_a_secret(pki: DemoPKI, tmp_path: Path) -> None:
    issued = pki.agency(A)
    files = tls_files(tmp_path)
    cfg = AdapterConfig(
        agency=A,
        bootstrap="127.0.0.1:1",
        signer=Signer.from_files(issued.key, issued.chain),
        target=WebhookTarget(
            "https://127.0.0.1:1/x", client_cert=files["client"], client_key=files["client-key"]
        ),
        state_dir=tmp_path / "state",
    )
    with pytest.raises(WebhookError, match="needs the shared secret"):
        await run_adapter(cfg, asyncio.Event())


def test_cli_errors_are_one_line_without_traceback(pki: DemoPKI, tmp_path: Path) -> None:
    issued = pki.agency(A)
    base = [
        sys.executable, "-m", "edoc", "connector", "http", "--agency", A,
        "--key", str(issued.key), "--cert", str(issued.chain), "--url", "http://127.0.0.1:1/x",
    ]  # fmt: skip
    for extra, message in [
        (["--secret", "s", "--listen", "localhost"], "is not HOST:PORT"),
        (["--listen", "127.0.0.1:8099"], "deliveries would be unauthenticated"),
        (["--secret-file", str(tmp_path / "none")], "cannot read"),
    ]:
        res = subprocess.run(
            base + extra, capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path
        )
        assert res.returncode == 1, res.stderr
        assert message in res.stderr
        assert "Traceback" not in res.stderr


# -- the whole round trip on a real broker -------------------------------------------------


@contextlib.asynccontextmanager
async def adapter(cfg: AdapterConfig) -> AsyncIterator[None]:
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_adapter(cfg, stop, ready))
    async with asyncio.timeout(30):
        await ready.wait()
    try:
        yield
    finally:
        stop.set()
        await task


def adapter_config(
    pki: DemoPKI, code: str, url: str, port: int, *, state: Path, bootstrap: str
) -> AdapterConfig:
    issued = pki.agency(code)
    return AdapterConfig(
        agency=code,
        bootstrap=bootstrap,
        signer=Signer.from_files(issued.key, issued.chain),
        target=WebhookTarget(url, SECRET),
        state_dir=state,
        listen=("127.0.0.1", port),
        policy=RetryPolicy(max_attempts=3, base_seconds=0.05, max_seconds=0.2),
        group_id=f"webhook-{uuid.uuid4().hex[:8]}",
    )


def refers_to(package: bytes, mid: str) -> bool:
    """True for a status package about document ``mid``."""
    status = parse_package(package).header.status
    return status is not None and str(status.ref_message_id) == mid


@pytest.mark.kafka
async def test_round_trip_document_and_status_between_two_agency_systems(
    kafka_bootstrap: str, pki: DemoPKI, verifier: Verifier, tmp_path: Path
) -> None:
    port_a, port_b = free_port(), free_port()
    with Receiver().running() as system_a, Receiver().running() as system_b:
        cfg_a = adapter_config(
            pki, A, system_a.url, port_a, state=tmp_path / "a", bootstrap=kafka_bootstrap
        )
        cfg_b = adapter_config(
            pki, B, system_b.url, port_b, state=tmp_path / "b", bootstrap=kafka_bootstrap
        )
        async with (
            running_router(router_settings(kafka_bootstrap, pki)),
            adapter(cfg_a),
            adapter(cfg_b),
            httpx.AsyncClient(timeout=30) as http,
        ):
            raw, headers = signed_post(document_request([B], subject="V/v khứ hồi"))
            sent = await http.post(
                f"http://127.0.0.1:{port_a}/documents", content=raw, headers=headers
            )
            assert sent.status_code == 202, sent.text
            mid = sent.json()["message_id"]
            await wait_until(lambda: system_b.for_message(mid), wait=60)
            delivered = system_b.for_message(mid)[0]
            assert verifier.verify_bytes(delivered.body).verdict == "ok"
            assert parse_package(delivered.body).attachments["a1"] == PDF

            status = {"ref_message_id": mid, "to": A, "code": "03", "description": "Đã tiếp nhận"}
            raw, headers = signed_post(status)
            back = await http.post(
                f"http://127.0.0.1:{port_b}/statuses", content=raw, headers=headers
            )
            assert back.status_code == 202, back.text
            await wait_until(lambda: system_a.for_message(back.json()["message_id"]), wait=60)

            def receipt() -> list[Any]:
                return [
                    h
                    for h in system_a.hits
                    if h.headers["X-Edoc-From"] == HUB and refers_to(h.body, mid)
                ]

            await wait_until(receipt, wait=60)
    got = parse_package(system_a.for_message(back.json()["message_id"])[0].body).header
    assert got.sender == B and got.status is not None and got.status.code.value == "03"
    assert parse_package(receipt()[0].body).header.status.code.value == "01"  # type: ignore[union-attr]
