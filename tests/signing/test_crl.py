"""CRLs: files, HTTP fetching from distribution points, signature checks, operator status."""

from __future__ import annotations

import functools
import http.server
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from schemas.reasons import Reason
from signing.certs import as_parsed
from signing.crl import CrlStore, RevocationStatus, load_crl, unusable_reason
from signing.crlfetch import CrlFetcher, distribution_points
from signing.keys import load_cert_chain, load_private_key
from signing.pki import DemoPKI
from signing.trust import TrustStore
from signing.verifier import Verifier
from tests.signing.conftest import SENDER, MakePackage, Pkis, scratch_pki

BASE = "http://crl.test/pki"


class FakeCrlServer:
    """An ``httpx.MockTransport`` answering ``BASE/<name>`` from ``folder/<name>.pem``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.calls = 0
        self.transport = httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        path = self.folder / f"{request.url.path.rsplit('/', 1)[-1]}.pem"
        if not path.is_file():
            return httpx.Response(404)
        return httpx.Response(200, content=path.read_bytes())


@pytest.fixture
def net_pki(tmp_path: Path) -> DemoPKI:
    """A PKI whose certificates name ``BASE`` as their CRL distribution point."""
    return scratch_pki(tmp_path / "pki", crl_base_url=BASE)


def _verifier(pki: DemoPKI, fetcher: CrlFetcher, *, files: bool = False) -> Verifier:
    trust = TrustStore.from_paths([pki.root_cert], [pki.crl_dir] if files else [], fetcher=fetcher)
    return Verifier(trust)


def test_distribution_points_are_read(net_pki: DemoPKI) -> None:
    leaf = as_parsed(load_cert_chain(net_pki.agency(SENDER).cert)[0])
    inter = as_parsed(load_cert_chain(net_pki.root / "issuing-ca.pem")[0])
    assert distribution_points(leaf) == (f"{BASE}/issuing-ca.crl",)
    assert distribution_points(inter) == (f"{BASE}/root-ca.crl",)


def test_fetch_then_cache_until_next_update(net_pki: DemoPKI, make_package: MakePackage) -> None:
    server = FakeCrlServer(net_pki.crl_dir)
    v = _verifier(net_pki, CrlFetcher(transport=server.transport))
    raw = make_package(pki=net_pki)
    assert v.verify_bytes(raw).ok
    # One fetch for the leaf's issuer, one for the intermediate's (root CRL).
    assert server.calls == 2
    assert v.verify_bytes(raw).ok
    assert server.calls == 2
    status = {s.issuer: s for s in v.trust.crls.status(datetime.now(UTC))}
    assert {s.source for s in status.values()} == {f"{BASE}/issuing-ca.crl", f"{BASE}/root-ca.crl"}
    assert all(s.verified and not s.stale and s.last_error is None for s in status.values())
    # Past nextUpdate the CRLs are fetched again (the server now has newer ones).
    later = datetime.now(UTC) + timedelta(days=8)
    net_pki.write_crls(next_update=timedelta(days=30))
    assert v.verify_bytes(raw, now=later).ok
    assert server.calls == 4


def test_fetch_errors_are_reported_and_backed_off(
    net_pki: DemoPKI, make_package: MakePackage, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    server = FakeCrlServer(empty)  # every CRL answers 404
    fetcher = CrlFetcher(transport=server.transport, retry_after=timedelta(minutes=1))
    v = _verifier(net_pki, fetcher)
    raw = make_package(pki=net_pki)
    now = datetime.now(UTC)
    report = v.verify_bytes(raw, now=now)
    assert report.reasons == [Reason.REVOCATION_UNKNOWN]
    assert "HTTP 404" in report.signatures[0].details[0]
    calls = server.calls
    assert v.verify_bytes(raw, now=now + timedelta(seconds=30)).reasons == [
        Reason.REVOCATION_UNKNOWN
    ]
    assert server.calls == calls
    errors = [s for s in v.trust.crls.status(now) if s.last_error]
    assert errors and all(s.stale and "HTTP 404" in str(s.last_error) for s in errors)
    # After the back-off the server is asked again; fail-open accepts meanwhile.
    v.verify_bytes(raw, now=now + timedelta(minutes=2))
    assert server.calls > calls
    v_open = Verifier(v.trust, revocation_fail_open=True)
    assert v_open.verify_bytes(raw, now=now + timedelta(minutes=2, seconds=1)).ok


@pytest.mark.parametrize(
    ("response", "detail"),
    [
        (httpx.ConnectError("connection refused"), "ConnectError"),
        (httpx.ReadTimeout("slow"), "timed out"),
        (httpx.Response(200, content=b"<html>captive portal</html>"), "not a CRL"),
        (httpx.Response(500), "HTTP 500"),
    ],
)
def test_fetch_failures_become_unknown(
    net_pki: DemoPKI, make_package: MakePackage, response: object, detail: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(response, Exception):
            raise response
        assert isinstance(response, httpx.Response)
        return response

    v = _verifier(net_pki, CrlFetcher(transport=httpx.MockTransport(handler)))
    report = v.verify_bytes(make_package(pki=net_pki))
    assert report.reasons == [Reason.REVOCATION_UNKNOWN]
    assert detail in report.signatures[0].details[0]


def test_fetched_crl_of_another_ca_is_refused(
    net_pki: DemoPKI, pkis: Pkis, make_package: MakePackage
) -> None:
    server = FakeCrlServer(pkis.other.crl_dir)  # right names, wrong CA
    v = _verifier(net_pki, CrlFetcher(transport=server.transport))
    report = v.verify_bytes(make_package(pki=net_pki))
    assert report.reasons == [Reason.REVOCATION_UNKNOWN]
    assert "does not verify with the issuer's key" in report.signatures[0].details[0]


def test_expired_file_crl_is_refreshed_over_http(
    net_pki: DemoPKI, make_package: MakePackage
) -> None:
    server = FakeCrlServer(net_pki.crl_dir)
    v = _verifier(net_pki, CrlFetcher(transport=server.transport), files=True)
    raw = make_package(pki=net_pki)
    assert v.verify_bytes(raw).ok
    assert server.calls == 0
    net_pki.write_crls(next_update=timedelta(days=30))
    assert v.verify_bytes(raw, now=datetime.now(UTC) + timedelta(days=8)).ok
    assert server.calls == 2


def test_served_crl_already_expired_is_refused(net_pki: DemoPKI, make_package: MakePackage) -> None:
    net_pki.write_crls(this_update=datetime.now(UTC) - timedelta(days=10))
    v = _verifier(net_pki, CrlFetcher(transport=FakeCrlServer(net_pki.crl_dir).transport))
    report = v.verify_bytes(make_package(pki=net_pki))
    assert report.reasons == [Reason.REVOCATION_UNKNOWN]
    assert "served CRL expired" in report.signatures[0].details[0]


# -- a real HTTP server on 127.0.0.1 -------------------------------------------------
class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def translate_path(self, path: str) -> str:
        # The PKI names ".../issuing-ca.crl"; the files on disk are "*.crl.pem".
        return super().translate_path(path) + ".pem"


@pytest.fixture
def crl_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An ``http.server`` in a thread serving ``tmp_path/pki/crl``; yields (base URL, root)."""
    root = tmp_path / "pki"
    handler = functools.partial(_Quiet, directory=str(root / "crl"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_real_http_server_revocation(
    crl_server: tuple[str, Path], make_package: MakePackage
) -> None:
    base, root = crl_server
    pki = scratch_pki(root, crl_base_url=base)
    with CrlFetcher(timeout=5.0) as fetcher:
        v = _verifier(pki, fetcher)
        raw = make_package(pki=pki)
        assert v.verify_bytes(raw).ok
        assert fetcher.fetches == 2
        pki.revoke(SENDER, at=datetime.now(UTC) - timedelta(minutes=1))
        # The cached CRL is current until nextUpdate; a fresh store sees the revocation.
        assert v.verify_bytes(raw).ok
        v2 = _verifier(pki, fetcher)
        report = v2.verify_bytes(raw)
        assert report.reasons == [Reason.CERT_REVOKED]
        assert base in report.signatures[0].details[0]


def test_real_http_server_unreachable(tmp_path: Path, make_package: MakePackage) -> None:
    # A port nothing listens on: bind, note the port, close.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    pki = scratch_pki(tmp_path / "pki", crl_base_url=f"http://127.0.0.1:{port}")
    with CrlFetcher(timeout=2.0) as fetcher:
        report = _verifier(pki, fetcher).verify_bytes(make_package(pki=pki))
    assert report.reasons == [Reason.REVOCATION_UNKNOWN]
    assert "ConnectError" in report.signatures[0].details[0]


# -- CRL acceptance rules ---------------------------------------------------------
def _ca(pki: DemoPKI, name: str = "issuing-ca") -> tuple[x509.Certificate, object]:
    return load_cert_chain(pki.root / f"{name}.pem")[0], load_private_key(
        pki.root / f"{name}.key.pem"
    )


def _crl(
    issuer: x509.Certificate, key: object, *, ext: x509.ExtensionType | None = None,
    revoked: int | None = None, when: datetime | None = None,
) -> x509.CertificateRevocationList:  # fmt: skip
    now = when or datetime.now(UTC) - timedelta(minutes=1)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(now)
        .next_update(now + timedelta(days=1))
        .add_extension(x509.CRLNumber(99), critical=False)
    )
    if ext is not None:
        builder = builder.add_extension(ext, critical=True)
    if revoked is not None:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(revoked).revocation_date(now).build()
        )
    return builder.sign(key, hashes.SHA256())  # type: ignore[arg-type]


def test_crl_with_bad_signature_is_ignored(pkis: Pkis) -> None:
    """A CRL under our CA's name but signed by someone else revokes nothing."""
    issuer, _ = _ca(pkis.main)
    _, other_key = _ca(pkis.other)
    leaf = load_cert_chain(pkis.main.agency(SENDER).cert)[0]
    forged = _crl(issuer, other_key, revoked=leaf.serial_number)
    store = CrlStore()
    store.add(forged, source="forged")
    now = datetime.now(UTC)
    result = store.check(leaf, issuer, now, now)
    assert result.status is RevocationStatus.UNKNOWN
    assert "does not verify" in result.detail
    # The genuine CRL, loaded next to it, decides.
    store.add(load_crl((pkis.main.crl_dir / "issuing-ca.crl.pem").read_bytes()), source="real")
    assert store.check(leaf, issuer, now, now).status is RevocationStatus.GOOD
    (entry,) = [s for s in store.status(now) if s.issuer == issuer.subject.rfc4514_string()]
    assert entry.source == "real" and entry.verified
    assert entry.last_error is not None and "forged" in entry.last_error


@pytest.mark.parametrize(
    ("ext", "why"),
    [
        (x509.DeltaCRLIndicator(1), "delta CRLs"),
        (
            x509.IssuingDistributionPoint(
                full_name=None, relative_name=None, only_contains_user_certs=True,
                only_contains_ca_certs=False, only_some_reasons=None, indirect_crl=False,
                only_contains_attribute_certs=False,
            ),
            "scope is limited",
        ),
    ],
)  # fmt: skip
def test_partial_crls_are_not_used(pkis: Pkis, ext: x509.ExtensionType, why: str) -> None:
    issuer, key = _ca(pkis.main)
    assert why in str(unusable_reason(_crl(issuer, key, ext=ext), issuer))
    assert unusable_reason(_crl(issuer, key), issuer) is None


def test_issuer_without_crl_sign_cannot_vouch(pkis: Pkis) -> None:
    """A CRL 'signed' by the leaf itself: right key, but the leaf may not sign CRLs."""
    leaf = load_cert_chain(pkis.main.agency(SENDER).cert)[0]
    key = load_private_key(pkis.main.agency(SENDER).key)
    assert "cRLSign" in str(unusable_reason(_crl(leaf, key), leaf))


def test_newest_crl_wins_and_status_lists_unused(pkis: Pkis, tmp_path: Path) -> None:
    issuer, key = _ca(pkis.main)
    leaf = load_cert_chain(pkis.main.agency(SENDER).cert)[0]
    now = datetime.now(UTC)
    old = _crl(issuer, key, revoked=leaf.serial_number, when=now - timedelta(hours=2))
    new = _crl(issuer, key, when=now - timedelta(hours=1))
    store = CrlStore()
    (tmp_path / "old.crl").write_bytes(old.public_bytes(Encoding.DER))
    store.add_file(tmp_path / "old.crl")
    store.add(new, source="new")
    # Nothing looked up yet: both listed, unverified.
    assert [s.verified for s in store.status(now)] == [False, False]
    assert store.check(leaf, issuer, now, now).status is RevocationStatus.GOOD
    (entry,) = store.status(now)
    assert entry.source == "new" and entry.crl_number == 99 and entry.revoked == 0
