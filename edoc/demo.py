"""``edoc demo``: a local broker, the router, and two agencies exchanging a signed PDF.

Everything it starts it also stops on Ctrl-C, including the Java broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import uuid
from datetime import UTC, datetime
from typing import Annotated

import httpx
import typer
from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr
from rich.console import Console

from connectors.sdk import HubClient, InboxMessage
from connectors.simulate import SimAgency, Simulator
from edoc.kafka_auth import connector_auth
from hub.directory import load_directory_file
from hub.kafka.client import client_config
from hub.localkafka.broker import LocalKafka
from hub.runtime.serve import serve
from hub.services import SERVICES
from hub.settings import Settings, get_settings
from hub.store.db import make_engine
from hub.store.tokens import create_token
from schemas import wire
from schemas.directory import Level
from schemas.header import (
    DocSigner,
    DocumentCode,
    DocumentMeta,
    Header,
    Kind,
    Promulgation,
    utc_now,
)
from schemas.package import Package, b64url_decode, b64url_encode, package_sha256
from signing.pki import DemoPKI
from signing.signer import Signer, attachment_ref, build_package

SENDER = ("000.00.01.H49", "Sở Nội vụ tỉnh Bắc Giang")
RECIPIENT = ("000.00.02.H49", "Sở Tư pháp tỉnh Bắc Giang")

_out = Console(soft_wrap=True)


def demo_pdf(title: str) -> bytes:
    """A small, valid one-page PDF (ASCII text; offsets computed so readers accept it)."""
    text = title.encode("latin-1", "replace")
    stream = b"BT /F1 18 Tf 72 720 Td (" + text + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


def _document(pdf: bytes) -> Header:
    now = utc_now()
    return Header(
        message_id=uuid.uuid4(),
        kind=Kind.DOCUMENT,
        **{"from": SENDER[0]},
        to=[RECIPIENT[0]],
        sent_at=now,
        document=DocumentMeta(
            code=DocumentCode(number="125", notation="SNV-CCHC"),
            promulgation=Promulgation(place="Bắc Giang", date=now.date()),
            document_type="Công văn",
            subject="V/v báo cáo kết quả cải cách hành chính quý IV",
            signer=DocSigner(full_name="Nguyễn Văn A", position="Giám đốc"),
        ),
        attachments=[attachment_ref("a1", "cong-van-125.pdf", pdf, "application/pdf")],
    )


def _tampered(pkg: Package) -> bytes:
    header = json.loads(b64url_decode(pkg.header))
    header["document"]["subject"] += " (sửa sau khi ký)"
    return pkg.model_copy(update={"header": b64url_encode(json.dumps(header).encode())}).to_bytes()


async def _verdicts(
    settings: Settings, wanted: set[str], wait: float, field: str = "message_id"
) -> dict[str, dict[str, object]]:
    """Verdict events whose ``field`` is in ``wanted``, read from ``edoc.events``."""
    consumer = AIOKafkaConsumer(
        wire.EVENTS,
        **client_config(settings),
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: dict[str, dict[str, object]] = {}
    try:
        async with asyncio.timeout(wait):
            while wanted - found.keys():
                for recs in (await consumer.getmany(timeout_ms=300)).values():
                    for rec in recs:
                        event = json.loads(rec.value)
                        if event.get(field) in wanted:
                            found[event[field]] = event
    finally:
        await consumer.stop()
    return found


async def _wait_for_api(settings: Settings, task: asyncio.Task[None]) -> None:
    """Return once the API answers /readyz; raise the services' error if they died."""
    url = f"http://{settings.api_host}:{settings.api_port}/readyz"
    async with httpx.AsyncClient() as client, asyncio.timeout(60):
        while True:
            if task.done():
                task.result()  # raises the service's error
                raise RuntimeError("the hub's services stopped during start-up")
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)


async def _auditor_token(settings: Settings) -> str:
    engine = make_engine(settings.database_url)
    try:
        token, _ = await create_token(engine, "auditor", "demo auditor")
    finally:
        await engine.dispose()
    return token


async def _scenario(settings: Settings, pki: DemoPKI) -> None:
    """A signs and sends a PDF to B; B receives it; A gets a receipt; a forgery is refused."""
    pdf = demo_pdf("Cong van 125/SNV-CCHC - bao cao cai cach hanh chinh")
    a = pki.agency(SENDER[0])
    signer = Signer.from_files(a.key, a.chain)
    pkg = build_package(_document(pdf), {"a1": pdf}, [signer])
    header = json.loads(b64url_decode(pkg.header))
    good_id = header["message_id"]
    bad = _tampered(build_package(_document(pdf), {"a1": pdf}, [signer]))
    bad_sha = package_sha256(bad)
    async with HubClient(settings.kafka_bootstrap, auth=connector_auth(settings)) as client:
        await client.submit(pkg.to_bytes())
        _out.print(
            f"[green]✓[/] {SENDER[1]} ({SENDER[0]}) signed and sent {good_id} "
            f"with cong-van-125.pdf ({len(pdf)} bytes)"
        )
        async for msg in client.inbox(RECIPIENT[0], idle_timeout=30):
            if isinstance(msg, InboxMessage) and str(msg.header.message_id) == good_id:
                _out.print(
                    f"[green]✓[/] {RECIPIENT[1]} ({RECIPIENT[0]}) received {good_id}: "
                    f"«{msg.header.document.subject if msg.header.document else ''}», "
                    f"hub verdict [bold]{msg.hub_verdict}[/]"
                )
                break
        else:
            raise TimeoutError("the demo document did not reach the recipient's inbox")
        async for msg in client.inbox(SENDER[0], idle_timeout=30):
            if not isinstance(msg, InboxMessage):
                continue
            st = msg.header.status
            if st is not None and str(st.ref_message_id) == good_id:
                _out.print(
                    f"[green]✓[/] {SENDER[0]} got the hub's signed receipt: status "
                    f"{st.code.value} ({st.description}) from {msg.header.sender}"
                )
                break
        await client.submit(bad)
    verdicts = await _verdicts(settings, {good_id}, 30)
    _out.print(f"[green]✓[/] verdict event for {good_id}: {verdicts[good_id]['verdict']}")
    tampered = await _verdicts(settings, {bad_sha}, 30, field="package_sha256")
    reasons = tampered[bad_sha]["reasons"]
    _out.print(
        f"[yellow]✗[/] a copy altered after signing was refused, not delivered: "
        f"{', '.join(map(str, reasons)) if isinstance(reasons, list) else reasons}"
    )


def _simulator(settings: Settings, pki: DemoPKI) -> Simulator:
    """Twelve agencies of the directory; its expired and revoked certificates are made now,
    before the hub loads the CRL."""
    members = [
        SimAgency(a.code, a.name)
        for a in load_directory_file(settings.directory_file)
        if a.active and a.code != settings.hub_code and a.level is not Level.PROVINCE
    ][:12]
    sim = Simulator(
        pki,
        members,
        settings.kafka_bootstrap,
        hub_code=settings.hub_code,
        auth=connector_auth(settings),
    )
    sim.prepare_bad_certificates()
    return sim


async def _simulate(sim: Simulator, rate: float, stop: asyncio.Event) -> None:
    """Background traffic until ``stop`` (bad actors included)."""
    try:
        await sim.send_register_reports(datetime.now(UTC).strftime("%Y-%m"))
        while not stop.is_set():
            await sim.run(rate, 5.0)
    finally:
        await sim.close()


async def run_demo(settings: Settings, stop: asyncio.Event, simulate_rate: float = 2.0) -> None:
    """The demo scenario against a running broker; returns when ``stop`` is set."""
    pki_dir = settings.var_dir / "demo" / "pki"
    if (pki_dir / "root-ca.pem").exists():
        pki = DemoPKI(pki_dir)
    else:
        pki = DemoPKI.init(pki_dir, hub_code=settings.hub_code)
    for code, name in (SENDER, RECIPIENT):
        if not pki.agency(code).cert.exists():
            pki.issue(code, name)
    sim = _simulator(settings, pki) if simulate_rate > 0 else None
    pki.write_crls()  # fresh CRLs every run, so revocation checks pass fail-closed
    settings = settings.model_copy(
        update={
            "trust_anchors": [pki.root_cert],
            "crls": [pki.crl_dir],
            "hub_key": pki.hub.key,
            "hub_cert": pki.hub.chain,
            "checkpoint_every_seconds": 5.0,
        }
    )
    task = asyncio.create_task(serve(settings, set(SERVICES), stop))
    await _wait_for_api(settings, task)
    try:
        _out.print(f"[green]✓[/] router, audit recorder and API running; PKI in {pki_dir}")
        await _scenario(settings, pki)
        token = await _auditor_token(settings)
        api = f"http://{settings.api_host}:{settings.api_port}"
        _out.print(f"\n[bold]Auditor API[/]: {api}/docs   (OpenAPI: {api}/openapi.json)")
        _out.print(f"  auditor token: {token}")
        _out.print(f"  curl -H 'Authorization: Bearer {token}' {api}/api/v1/audit/entries")
        _out.print(f"[bold]Console[/]: {api}/console   (sign in with the auditor token above)")
        _out.print(
            f"Kafka: {settings.kafka_bootstrap}   try: [bold]edoc inbox --agency {RECIPIENT[0]}[/]"
        )
        if simulate_rate > 0:
            _out.print(
                f"Simulated agencies send ~{simulate_rate:g} packages/s (some deliberately bad)."
            )
            assert sim is not None  # noqa: S101 -- made above when simulate_rate > 0
            sim_task = asyncio.create_task(_simulate(sim, simulate_rate, stop))
        _out.print("The hub keeps running. Press [bold]Ctrl-C[/] to stop everything.")
        await stop.wait()
        if simulate_rate > 0:
            await sim_task
    finally:
        stop.set()
        await task


def demo(
    keep_broker: Annotated[bool, typer.Option(help="leave the broker running on exit")] = False,
    simulate_rate: Annotated[
        float, typer.Option(help="background traffic of simulated agencies, packages/s (0: off)")
    ] = 2.0,
) -> None:
    """Start a local broker and the router, and send a signed PDF between two agencies."""
    settings = get_settings()
    kafka = LocalKafka()
    with _out.status("Fetching Kafka jars from Maven Central (first run only)…"):
        kafka.ensure_jars()
    with _out.status(f"Starting Kafka on {kafka.bootstrap}…"):
        started = kafka.start()
    _out.print(f"[green]✓[/] Kafka ready at {kafka.bootstrap}")
    settings = settings.model_copy(update={"kafka_bootstrap": kafka.bootstrap})
    if kafka.admin is not None:  # a secure broker: the demo runs everything as its super-user
        env = kafka.admin.env()
        settings = settings.model_copy(
            update={
                "kafka_security_protocol": env["EDOC_KAFKA_SECURITY_PROTOCOL"],
                "kafka_username": env["EDOC_KAFKA_USERNAME"],
                "kafka_password": SecretStr(env["EDOC_KAFKA_PASSWORD"]),
            }
        )

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_demo(settings, stop, simulate_rate)

    try:
        asyncio.run(_main())
    finally:
        if started and not keep_broker:
            with _out.status("Stopping Kafka…"), contextlib.suppress(Exception):
                kafka.stop()
            _out.print("[green]✓[/] stopped; no broker left running")


def register(app: typer.Typer) -> None:
    """Add ``demo`` to the root command."""
    app.command()(demo)
