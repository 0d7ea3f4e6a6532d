"""Package verifications per second against the raw signature-verify rate, same run.

    .venv/bin/python bench/verify.py [--seconds 0.5] [--rounds 5] [--json OUT]

For each key (RSA-2048, EC P-256) and profile (jws, cms) it measures, on one
core, in interleaved rounds so machine noise hits both sides alike:

* raw      — ``public_key.verify`` of one signature over the header bytes
             (the floor no verifier can beat);
* cached   — ``Verifier.verify_bytes`` of a whole package with warm caches
             (the steady state: the same agencies sign all day);
* uncached — the same with the chain cache emptied before every package, so
             every package builds its certificate path;
* cold     — every cache emptied (chain, certificate parse, JWS header):
             the first package from a signer never seen before.

Each figure is the median of the rounds; ratios are against raw in the same
rounds. The package is a realistic document header with one 2 KiB attachment.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from schemas.header import DocSigner, DocumentCode, DocumentMeta, Header, Kind, Promulgation
from schemas.package import parse_package
from signing import policy
from signing.certs import parse_der
from signing.keys import load_private_key
from signing.pki import DemoPKI
from signing.profiles import jws
from signing.signer import Signer, attachment_ref, build_package
from signing.trust import TrustStore
from signing.verifier import Verifier

SENDER, RECIPIENT = "000.00.14.H49", "000.00.00.H49"
ATTACHMENT = bytes(range(256)) * 8


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``fn`` over about ``seconds`` (batched to hide timer cost)."""
    fn()
    n, batch = 0, 16
    start = time.perf_counter()
    end = start + seconds
    while True:
        for _ in range(batch):
            fn()
        n += batch
        now = time.perf_counter()
        if now >= end:
            return n / (now - start)


def make_header(sent_at: datetime) -> Header:
    """A document header like the ones departments send every day."""
    return Header(
        message_id=uuid.uuid4(),
        kind=Kind.DOCUMENT,
        **{"from": SENDER},
        to=[RECIPIENT],
        sent_at=sent_at,
        document=DocumentMeta(
            code=DocumentCode(number="166", notation="QĐ-UBND"),
            promulgation=Promulgation(place="Bắc Giang", date=date(2026, 1, 5)),
            document_type="Quyết định",
            subject="Ban hành Kế hoạch cải cách hành chính nhà nước",
            signer=DocSigner(full_name="Nguyễn Văn A", position="Chủ tịch"),
        ),
        attachments=[attachment_ref("a1", "quyet-dinh.pdf", ATTACHMENT, "application/pdf")],
    )


def raw_verifier(key_path: Path, header_bytes: bytes) -> Callable[[], None]:
    """One bare signature check of the kind the package carries."""
    key = load_private_key(key_path)
    data = header_bytes
    if isinstance(key, rsa.RSAPrivateKey):
        sig = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        rpub = key.public_key()
        return lambda: rpub.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
    sig = key.sign(data, ec.ECDSA(hashes.SHA256()))
    epub = key.public_key()
    return lambda: epub.verify(sig, data, ec.ECDSA(hashes.SHA256()))


def clear_all(verifier: Verifier) -> None:
    """Empty every cache the verification path uses."""
    verifier.chains.clear()
    parse_der.cache_clear()
    jws._decode_protected.cache_clear()
    policy._LEAF_CACHE.clear()


def bench_case(
    pki: DemoPKI, key_type: str, profile: str, seconds: float, rounds: int
) -> dict[str, float | str]:
    """Interleaved rounds of raw / cached / uncached / cold for one key and profile."""
    agency = DemoPKI(pki.root).issue(SENDER, "Sở Nội vụ", key_type=key_type)
    sent_at = datetime.now(UTC).replace(microsecond=0)
    header = make_header(sent_at)
    signer = Signer.from_files(agency.key, agency.chain, profile=profile)
    raw_pkg = build_package(header, {"a1": ATTACHMENT}, [signer]).to_bytes()
    verifier = Verifier(TrustStore.from_paths([pki.root_cert], [pki.crl_dir]))
    report = verifier.verify_bytes(raw_pkg, now=sent_at)
    if not report.ok:
        sys.exit(f"benchmark package does not verify: {report.to_json()}")
    raw = raw_verifier(agency.key, header.to_json_bytes())

    def cached() -> None:
        verifier.verify_bytes(raw_pkg, now=sent_at)

    def uncached() -> None:
        verifier.chains.clear()
        verifier.verify_bytes(raw_pkg, now=sent_at)

    def cold() -> None:
        clear_all(verifier)
        verifier.verify_bytes(raw_pkg, now=sent_at)

    series: dict[str, list[float]] = {"raw": [], "cached": [], "uncached": [], "cold": []}
    for _ in range(rounds):
        series["raw"].append(rate(raw, seconds))
        series["cached"].append(rate(cached, seconds))
        series["uncached"].append(rate(uncached, seconds))
        series["cold"].append(rate(cold, seconds))
    out: dict[str, float | str] = {
        "key": "RSA-2048" if key_type == "rsa" else "P-256",
        "profile": profile,
        "algorithm": str(report.signatures[0].algorithm),
    }
    for name, values in series.items():
        out[name] = statistics.median(values)
    for name in ("cached", "uncached", "cold"):
        out[f"{name}/raw"] = float(out[name]) / float(out["raw"])
    return out


def breakdown(pki: DemoPKI, key_type: str, profile: str, seconds: float, rounds: int) -> str:
    """Cost per call of each stage (µs, best of ``rounds``): where the time goes."""
    agency = DemoPKI(pki.root).issue(SENDER, "Sở Nội vụ", key_type=key_type)
    sent_at = datetime.now(UTC).replace(microsecond=0)
    header = make_header(sent_at)
    pkg = build_package(
        header, {"a1": ATTACHMENT}, [Signer.from_files(agency.key, agency.chain, profile=profile)]
    )
    raw_pkg = pkg.to_bytes()
    verifier = Verifier(TrustStore.from_paths([pki.root_cert], [pki.crl_dir]))
    parsed = parse_package(raw_pkg)
    value = pkg.signatures[0].value
    stages: dict[str, Callable[[], object]] = {
        "raw signature verify": raw_verifier(agency.key, header.to_json_bytes()),
        "parse_package (schemas)": lambda: parse_package(raw_pkg),
        "profile.verify": lambda: verifier.profiles[profile].verify(value, parsed.header_bytes),
        "Verifier.verify(parsed)": lambda: verifier.verify(parsed, now=sent_at),
        "Verifier.verify_bytes": lambda: verifier.verify_bytes(raw_pkg, now=sent_at),
    }
    lines = [f"{'RSA-2048' if key_type == 'rsa' else 'P-256'} {profile}:"]
    for name, fn in stages.items():
        best = min(1e6 / rate(fn, seconds) for _ in range(rounds))
        lines.append(f"  {name:26} {best:7.1f} µs")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run every case and print a table (and optionally JSON)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=0.5, help="length of one measurement")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds per case")
    ap.add_argument("--profiles", default="jws,cms", help="comma-separated profiles")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--breakdown", action="store_true", help="also print cost per stage")
    args = ap.parse_args(argv)
    pki = DemoPKI.init(Path(tempfile.mkdtemp(prefix="bench-pki-")) / "pki")
    if args.breakdown:
        for key_type in ("rsa", "ec"):
            for profile in args.profiles.split(","):
                print(breakdown(pki, key_type, profile, args.seconds / 2, args.rounds))
        print()
    rows = [
        bench_case(pki, key_type, profile, args.seconds, args.rounds)
        for key_type in ("rsa", "ec")
        for profile in args.profiles.split(",")
    ]
    head = (
        f"{'key':9} {'profile':7} {'algorithm':20} {'raw/s':>8} {'cached/s':>9} "
        f"{'ratio':>6} {'uncached/s':>10} {'ratio':>6} {'cold/s':>8} {'ratio':>6}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['key']!s:9} {r['profile']!s:7} {r['algorithm']!s:20} {r['raw']:8.0f} "
            f"{r['cached']:9.0f} {r['cached/raw']:6.0%} {r['uncached']:10.0f} "
            f"{r['uncached/raw']:6.0%} {r['cold']:8.0f} {r['cold/raw']:6.0%}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
