"""The simulator's traffic through a real router: each kind gets the verdict it should."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from connectors.simulate import BAD_KINDS, CERT_BAD_KINDS, SimAgency, Simulator
from schemas.package import package_sha256
from signing.pki import DemoPKI
from tests.conftest import HUB, A, B, C
from tests.hub.router.test_kafka import read_events, router_settings, running_router

pytestmark = pytest.mark.kafka

EXPECTED = {
    "document": [],
    "status": [],
    "register": [],
    "bad:tampered": ["bad_signature"],
    "bad:wrong_signer": ["sender_mismatch"],
    "bad:unknown_recipient": ["unknown_recipient"],
    "bad:secret": ["classified"],
    "bad:replay": ["duplicate"],
    "bad:stale": ["stale"],
    "bad:expired_cert": ["cert_expired"],
    "bad:revoked_cert": ["cert_revoked"],
}


async def test_every_simulated_kind_gets_its_verdict(kafka_bootstrap: str, pki: DemoPKI) -> None:
    agencies = [
        SimAgency(A, "Sở Nội vụ"),
        SimAgency(B, "Sở Tư pháp"),
        SimAgency(C, "Sở Tài chính"),
        SimAgency("000.00.04.H49", "Sở Kế hoạch và Đầu tư"),
    ]
    sim = Simulator(pki, agencies, kafka_bootstrap, hub_code=HUB, bad_share=0.35, seed=7)
    sim.prepare_bad_certificates()  # before the router loads the CRLs
    async with running_router(router_settings(kafka_bootstrap, pki)):
        await sim.send_register_reports("2026-11")
        await sim.run(rate=15, duration=5)
        wanted = {package_sha256(raw): kind for kind, raw in sim.journal}
        verdicts: dict[str, list[str]] = {}
        try:
            async with asyncio.timeout(120):
                while len(verdicts) < len(wanted):
                    for e in await read_events(kafka_bootstrap):
                        if e.get("package_sha256") in wanted:
                            verdicts[e["package_sha256"]] = e["reasons"]
        except TimeoutError:
            missing = Counter(k for sha, k in wanted.items() if sha not in verdicts)
            raise AssertionError(f"no verdict for: {dict(missing)}") from None
    await sim.close()
    kinds = Counter(wanted.values())
    every = {f"bad:{k}" for k in (*BAD_KINDS, *CERT_BAD_KINDS)}
    assert every <= kinds.keys(), f"every bad actor appears: {kinds}"
    assert kinds["status"] > 0 and kinds["document"] > 0 and kinds["register"] == 4
    for sha, kind in wanted.items():
        assert verdicts[sha] == EXPECTED[kind], f"{kind}: {verdicts[sha]}"
