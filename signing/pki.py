"""A small PKI for tests and demos: root CA → issuing CA → agency and hub certificates.

Never for production: keys are written unencrypted. Layout of a PKI folder::

    root-ca.pem  root-ca.key.pem        self-signed trust anchor
    issuing-ca.pem  issuing-ca.key.pem  intermediate that signs leaves and the CRL
    crl/issuing-ca.crl.pem  crl/root-ca.crl.pem
    hub.pem  hub.key.pem  hub.chain.pem
    agencies/<code>.pem  <code>.key.pem  <code>.chain.pem (leaf + issuing CA)
    state.json                          revocations and CRL numbers
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from schemas.agency import check_agency_code
from signing.certs import ORGANIZATION_IDENTIFIER
from signing.errors import PKIError
from signing.keys import (
    SigningKey,
    certs_to_pem,
    generate_key,
    key_to_pem,
    load_cert_chain,
    load_private_key,
)

DOC_SIGNING_USAGE = frozenset({"digital_signature", "content_commitment"})
_KU_FIELDS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


def _key_usage(names: frozenset[str]) -> x509.KeyUsage:
    flags = {f: f in names for f in _KU_FIELDS}
    return x509.KeyUsage(**flags, encipher_only=False, decipher_only=False)


def make_certificate(
    *,
    subject: x509.Name,
    key: SigningKey,
    issuer: x509.Certificate | None,
    issuer_key: SigningKey,
    ca: bool,
    not_before: datetime,
    not_after: datetime,
    key_usage: frozenset[str] | None = None,
    crl_url: str | None = None,
    extended_key_usage: list[x509.ObjectIdentifier] | None = None,
) -> x509.Certificate:
    """Build one certificate; ``issuer`` None means self-signed.

    ``extended_key_usage`` adds an EKU extension (none by default, as for the
    document-signing certificates this PKI issues).
    """
    pub = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(pub)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
    )
    usage = (
        key_usage
        if key_usage is not None
        else (frozenset({"key_cert_sign", "crl_sign"}) if ca else DOC_SIGNING_USAGE)
    )
    if usage:
        builder = builder.add_extension(_key_usage(usage), critical=True)
    if extended_key_usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(extended_key_usage), critical=False)
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(pub), critical=False
        )
    if crl_url:
        point = x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(crl_url)],
            relative_name=None,
            reasons=None,
            crl_issuer=None,
        )
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def agency_name(code: str, name: str) -> x509.Name:
    """Subject of an agency certificate: organizationIdentifier carries the bare code."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
            x509.NameAttribute(ORGANIZATION_IDENTIFIER, code),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )


@dataclass(frozen=True)
class IssuedCert:
    """Where an issued certificate and its key were written."""

    cert: Path
    key: Path
    chain: Path


class DemoPKI:
    """A PKI folder (see the module docstring) with issue and revoke operations."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # -- paths -------------------------------------------------------------
    @property
    def root_cert(self) -> Path:
        """The trust anchor (give this to ``EDOC_TRUST_ANCHORS``)."""
        return self.root / "root-ca.pem"

    @property
    def crl_dir(self) -> Path:
        """Folder of the CRLs (give this to ``EDOC_CRLS``)."""
        return self.root / "crl"

    @property
    def hub(self) -> IssuedCert:
        """The hub's signing certificate, used for receipts and checkpoints."""
        return IssuedCert(
            self.root / "hub.pem", self.root / "hub.key.pem", self.root / "hub.chain.pem"
        )

    def agency(self, code: str) -> IssuedCert:
        """Files of an agency's certificate."""
        d = self.root / "agencies"
        return IssuedCert(d / f"{code}.pem", d / f"{code}.key.pem", d / f"{code}.chain.pem")

    # -- operations --------------------------------------------------------
    @classmethod
    def init(
        cls,
        root: Path,
        *,
        hub_code: str = "000.00.00.H49",
        key_type: str = "ec",
        days: int = 3650,
        crl_base_url: str | None = None,
        not_before: datetime | None = None,
    ) -> DemoPKI:
        """Create root CA, issuing CA, hub certificate and empty CRLs in ``root``.

        ``not_before`` back-dates the CAs (tests issue already-expired leaves
        that must still sit inside their CA's validity).
        """
        if (root / "root-ca.pem").exists():
            raise PKIError(f"{root} already holds a PKI", hint="choose an empty folder")
        root.mkdir(parents=True, exist_ok=True)
        (root / "crl").mkdir(exist_ok=True)
        (root / "agencies").mkdir(exist_ok=True)
        now = not_before or datetime.now(UTC) - timedelta(minutes=10)
        root_key = generate_key(key_type)
        root_name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "edoc-hub demo PKI"),
                x509.NameAttribute(NameOID.COMMON_NAME, "edoc-hub Demo Root CA"),
            ]
        )
        root_cert = make_certificate(
            subject=root_name,
            key=root_key,
            issuer=None,
            issuer_key=root_key,
            ca=True,
            not_before=now,
            not_after=now + timedelta(days=days),
        )
        inter_key = generate_key(key_type)
        inter_name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "edoc-hub demo PKI"),
                x509.NameAttribute(NameOID.COMMON_NAME, "edoc-hub Demo Issuing CA"),
            ]
        )
        root_crl = f"{crl_base_url.rstrip('/')}/root-ca.crl" if crl_base_url else None
        inter_cert = make_certificate(
            subject=inter_name,
            key=inter_key,
            issuer=root_cert,
            issuer_key=root_key,
            ca=True,
            not_before=now,
            not_after=now + timedelta(days=days),
            crl_url=root_crl,
        )
        pki = cls(root)
        pki._write(root / "root-ca.pem", certs_to_pem([root_cert]))
        pki._write(root / "root-ca.key.pem", key_to_pem(root_key))
        pki._write(root / "issuing-ca.pem", certs_to_pem([inter_cert]))
        pki._write(root / "issuing-ca.key.pem", key_to_pem(inter_key))
        state: dict[str, Any] = {
            "crl_base_url": crl_base_url,
            "revoked": {},
            "crl_number": 0,
            "agencies": {},
        }
        pki._save_state(state)
        pki.write_crls()
        pki._issue(hub_code, "edoc-hub", pki.hub, key_type=key_type, days=days // 2)
        return pki

    def issue(
        self,
        code: str,
        name: str,
        *,
        key_type: str = "ec",
        rsa_bits: int = 2048,
        curve: str = "P-256",
        days: int = 730,
        not_before: datetime | None = None,
        key_usage: frozenset[str] = DOC_SIGNING_USAGE,
        ca: bool = False,
        extended_key_usage: list[x509.ObjectIdentifier] | None = None,
    ) -> IssuedCert:
        """Issue a document-signing certificate for agency ``code``.

        ``ca`` and ``extended_key_usage`` make the wrong kinds of certificate
        the verifier must refuse (a CA as signer, a TLS server certificate).
        """
        try:
            check_agency_code(code)
        except ValueError as exc:
            raise PKIError(str(exc)) from None
        return self._issue(
            code,
            name,
            self.agency(code),
            key_type=key_type,
            rsa_bits=rsa_bits,
            curve=curve,
            days=days,
            not_before=not_before,
            key_usage=key_usage,
            ca=ca,
            extended_key_usage=extended_key_usage,
        )

    def _leaf(
        self,
        code: str,
        name: str,
        key: SigningKey,
        *,
        not_before: datetime | None,
        lifetime: timedelta,
        key_usage: frozenset[str] = DOC_SIGNING_USAGE,
        ca: bool = False,
        extended_key_usage: list[x509.ObjectIdentifier] | None = None,
    ) -> tuple[x509.Certificate, x509.Certificate]:
        """A document-signing certificate for ``code`` and the issuing CA that signed it."""
        self._require()
        inter = load_cert_chain(self.root / "issuing-ca.pem")[0]
        inter_key = load_private_key(self.root / "issuing-ca.key.pem")
        base = self._load_state().get("crl_base_url")
        start = not_before or datetime.now(UTC) - timedelta(minutes=10)
        cert = make_certificate(
            subject=agency_name(code, name),
            key=key,
            issuer=inter,
            issuer_key=inter_key,
            ca=ca,
            not_before=start,
            not_after=start + lifetime,
            key_usage=key_usage,
            crl_url=f"{base.rstrip('/')}/issuing-ca.crl" if base else None,
            extended_key_usage=extended_key_usage,
        )
        return cert, inter

    def _issue(
        self,
        code: str,
        name: str,
        dest: IssuedCert,
        *,
        key_type: str,
        days: int,
        rsa_bits: int = 2048,
        curve: str = "P-256",
        not_before: datetime | None = None,
        key_usage: frozenset[str] = DOC_SIGNING_USAGE,
        ca: bool = False,
        extended_key_usage: list[x509.ObjectIdentifier] | None = None,
    ) -> IssuedCert:
        key = generate_key(key_type, rsa_bits=rsa_bits, curve=curve)
        cert, inter = self._leaf(
            code,
            name,
            key,
            not_before=not_before,
            lifetime=timedelta(days=days),
            key_usage=key_usage,
            ca=ca,
            extended_key_usage=extended_key_usage,
        )
        dest.cert.parent.mkdir(parents=True, exist_ok=True)
        self._write(dest.cert, certs_to_pem([cert]))
        self._write(dest.key, key_to_pem(key))
        self._write(dest.chain, certs_to_pem([cert, inter]))
        state = self._load_state()
        state["agencies"][code] = format(cert.serial_number, "x")
        self._save_state(state)
        return dest

    def issue_extra(
        self,
        code: str,
        name: str,
        *,
        not_before: datetime | None = None,
        lifetime: timedelta = timedelta(days=365),
        revoked_at: datetime | None = None,
    ) -> tuple[SigningKey, list[x509.Certificate]]:
        """A second certificate for ``code`` kept in memory (the agency's files are untouched).

        For simulating bad actors: an expired one (a short ``lifetime`` that has
        passed) or a revoked one (``revoked_at``; the CRL is re-signed).
        """
        key = generate_key("ec")
        cert, inter = self._leaf(code, name, key, not_before=not_before, lifetime=lifetime)
        if revoked_at is not None:
            state = self._load_state()
            state["revoked"][format(cert.serial_number, "x")] = revoked_at.replace(
                microsecond=0
            ).isoformat()
            self._save_state(state)
            self.write_crls()
        return key, [cert, inter]

    def revoke(self, code: str, *, at: datetime | None = None) -> int:
        """Revoke the current certificate of ``code`` and re-sign the CRL; returns the serial."""
        self._require()
        state = self._load_state()
        if code not in state["agencies"]:
            raise PKIError(f"no certificate issued to {code} in {self.root}")
        serial = state["agencies"][code]
        when = (at or datetime.now(UTC)).replace(microsecond=0)
        state["revoked"][serial] = when.isoformat()
        self._save_state(state)
        self.write_crls()
        return int(serial, 16)

    def write_crls(
        self, *, next_update: timedelta = timedelta(days=7), this_update: datetime | None = None
    ) -> None:
        """(Re)write both CRLs, signed by their CAs, valid for ``next_update``.

        ``this_update`` back-dates them (tests use it to make an expired CRL).
        """
        state = self._load_state()
        state["crl_number"] += 1
        self._save_state(state)
        now = this_update or datetime.now(UTC) - timedelta(minutes=1)
        pairs: tuple[tuple[str, dict[str, str]], ...] = (
            ("issuing-ca", state["revoked"]),
            ("root-ca", {}),
        )
        for name, revoked in pairs:
            ca = load_cert_chain(self.root / f"{name}.pem")[0]
            ca_key = load_private_key(self.root / f"{name}.key.pem")
            builder = (
                x509.CertificateRevocationListBuilder()
                .issuer_name(ca.subject)
                .last_update(now)
                .next_update(now + next_update)
                .add_extension(x509.CRLNumber(state["crl_number"]), critical=False)
            )
            for serial, when in revoked.items():
                builder = builder.add_revoked_certificate(
                    x509.RevokedCertificateBuilder()
                    .serial_number(int(serial, 16))
                    .revocation_date(datetime.fromisoformat(when))
                    .build()
                )
            crl = builder.sign(ca_key, hashes.SHA256())
            self._write(self.crl_dir / f"{name}.crl.pem", crl.public_bytes(Encoding.PEM))

    # -- helpers -----------------------------------------------------------
    def _require(self) -> None:
        if not self.root_cert.exists():
            raise PKIError(f"{self.root} is not a PKI folder", hint="run `edoc pki init --out DIR`")

    def _load_state(self) -> dict:  # type: ignore[type-arg]
        data: dict = json.loads((self.root / "state.json").read_text())  # type: ignore[type-arg]
        return data

    def _save_state(self, state: dict) -> None:  # type: ignore[type-arg]
        self._write(self.root / "state.json", json.dumps(state, indent=2).encode())

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
