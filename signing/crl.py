"""Certificate revocation lists: loading, fetching, signature check, lookup at a time.

cryptography's path builder checks no revocation at all, so this module is the
hub's only source of revocation truth. Rules:

* a CRL is trusted only after its signature verifies against the issuing CA's
  key (and that CA may sign CRLs); a CRL that fails is ignored, never trusted,
  and the failure is visible in ``CrlStore.status()``;
* delta CRLs and CRLs whose scope is limited by an issuingDistributionPoint
  are not used — the hub cannot tell what they leave out;
* per issuer certificate the newest usable CRL (by thisUpdate, then CRL number) wins;
* with a ``CrlFetcher``, an issuer whose CRL is missing or past nextUpdate is
  fetched from the checked certificate's distribution points; a fetched CRL is
  kept until its nextUpdate; failures back off for ``fetcher.retry_after``.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes
from pydantic import BaseModel, ConfigDict

from signing.certs import ParsedCert, as_parsed, expand_paths
from signing.crlfetch import CrlFetcher, CrlFetchError, distribution_points
from signing.errors import TrustStoreError

#: A CRL without nextUpdate (RFC 5280 requires one) is treated as stale after this.
MAX_AGE_WITHOUT_NEXT_UPDATE = timedelta(days=1)


class RevocationStatus(StrEnum):
    """Outcome of a revocation lookup."""

    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"
    #: optional check (a CA certificate) and no CRL of its issuer can be had
    NOT_CHECKED = "not_checked"


@dataclass(frozen=True, slots=True)
class RevocationResult:
    """Status plus a sentence for the report."""

    status: RevocationStatus
    detail: str = ""


class CrlStatus(BaseModel):
    """What the operator sees about one issuer's CRL (``CrlStore.status()``)."""

    model_config = ConfigDict(frozen=True)

    issuer: str
    source: str | None = None
    this_update: datetime | None = None
    next_update: datetime | None = None
    crl_number: int | None = None
    revoked: int = 0
    verified: bool = False
    stale: bool = True
    last_error: str | None = None


def load_crl(data: bytes) -> x509.CertificateRevocationList:
    """Load a CRL from PEM or DER bytes (raises ValueError)."""
    if b"-----BEGIN X509 CRL-----" in data:
        return x509.load_pem_x509_crl(data)
    return x509.load_der_x509_crl(data)


def _expiry(crl: x509.CertificateRevocationList) -> datetime:
    return crl.next_update_utc or crl.last_update_utc + MAX_AGE_WITHOUT_NEXT_UPDATE


def _crl_number(crl: x509.CertificateRevocationList) -> int | None:
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except (x509.ExtensionNotFound, ValueError):
        return None


def _scope_problem(crl: x509.CertificateRevocationList) -> str | None:
    """Why the CRL's extensions make it unusable as a complete CRL, or None."""
    for ext in crl.extensions:
        if isinstance(ext.value, x509.DeltaCRLIndicator):
            return "delta CRLs are not used"
        if isinstance(ext.value, x509.IssuingDistributionPoint):
            idp = ext.value
            partial = (
                idp.only_contains_user_certs,
                idp.only_contains_ca_certs,
                idp.only_some_reasons,
                idp.indirect_crl,
                idp.only_contains_attribute_certs,
            )
            if any(partial):
                return "CRL scope is limited by issuingDistributionPoint"
        elif ext.critical and not isinstance(ext.value, _KNOWN_CRITICAL):
            return f"CRL has an unsupported critical extension {ext.oid.dotted_string}"
    return None


_KNOWN_CRITICAL = (x509.CRLNumber, x509.AuthorityKeyIdentifier)


def unusable_reason(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> str | None:
    """Why ``crl`` cannot be trusted for ``issuer``'s certificates, or None when it can."""
    if crl.issuer != issuer.subject:
        return f"CRL issuer {crl.issuer.rfc4514_string()} is not {issuer.subject.rfc4514_string()}"
    try:
        ku = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
        if not ku.crl_sign:
            return "the issuer's keyUsage lacks cRLSign"
    except x509.ExtensionNotFound:
        pass
    try:
        pub: CertificateIssuerPublicKeyTypes = issuer.public_key()  # type: ignore[assignment]
        if not crl.is_signature_valid(pub):
            return "CRL signature does not verify with the issuer's key"
        return _scope_problem(crl)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        return f"CRL cannot be checked: {exc}"


_serials = itertools.count()


@dataclass(slots=True)
class _Candidate:
    """A CRL as loaded from a file or ``add``; usable once an issuer's key verifies it."""

    crl: x509.CertificateRevocationList
    source: str
    name_der: bytes
    serial: int = field(default_factory=lambda: next(_serials))
    verified: bool = False
    error: str | None = None


@dataclass(slots=True)
class _Current:
    crl: x509.CertificateRevocationList
    source: str
    revoked: dict[int, datetime]
    expires: datetime


@dataclass(slots=True)
class _IssuerState:
    """Revocation knowledge about one issuer certificate."""

    issuer: ParsedCert
    name_der: bytes
    current: _Current | None = None
    last_error: str | None = None
    retry_at: datetime | None = None
    seen_version: int = -1
    tried: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


class CrlStore:
    """CRLs per issuer, from files, ``add`` and (optionally) HTTP distribution points.

    ``version`` increases on every CRL added or fetched, for callers that cache.
    Safe to share between threads.
    """

    def __init__(self, *, fetcher: CrlFetcher | None = None) -> None:
        self.fetcher = fetcher
        self._candidates: dict[bytes, list[_Candidate]] = {}
        self._issuers: dict[str, _IssuerState] = {}
        self._lock = threading.Lock()
        self.version = 0

    @classmethod
    def from_paths(cls, paths: list[Path], *, fetcher: CrlFetcher | None = None) -> CrlStore:
        """Load every CRL file (PEM or DER) named, directories expanded."""
        store = cls(fetcher=fetcher)
        for path in expand_paths(paths, (".pem", ".crl", ".der")):
            store.add_file(path)
        return store

    def add_file(self, path: Path) -> None:
        """Load one CRL file (PEM or DER), e.g. after the CA published a new one."""
        try:
            crl = load_crl(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise TrustStoreError(
                f"cannot load CRL {path}: {exc}", hint="give a PEM or DER X.509 CRL file"
            ) from None
        self.add(crl, source=f"file:{path}")

    def add(self, crl: x509.CertificateRevocationList, *, source: str = "added") -> None:
        """Add a CRL; its signature is checked against the issuer at the first lookup."""
        name = crl.issuer.public_bytes()
        with self._lock:
            self._candidates.setdefault(name, []).append(_Candidate(crl, source, name))
            self.version += 1

    # -- lookup ----------------------------------------------------------------
    def _state(self, issuer: ParsedCert) -> _IssuerState:
        st = self._issuers.get(issuer.sha256)
        if st is None:
            with self._lock:
                st = self._issuers.setdefault(
                    issuer.sha256, _IssuerState(issuer, issuer.cert.subject.public_bytes())
                )
        if st.seen_version == self.version:
            return st  # the common case: nothing added since this issuer was last looked at
        with st.lock:
            st.seen_version = self.version
            for cand in list(self._candidates.get(st.name_der, ())):
                if cand.serial in st.tried:
                    continue
                st.tried.add(cand.serial)
                why = unusable_reason(cand.crl, issuer.cert)
                if why is None:
                    cand.verified = True
                    self._install(st, cand.crl, cand.source)
                else:
                    cand.error = why
                    st.last_error = f"{cand.source}: {why}"
        return st

    @staticmethod
    def _install(st: _IssuerState, crl: x509.CertificateRevocationList, source: str) -> bool:
        known = st.current
        # Newer means a later thisUpdate; within the same second, a higher CRL number.
        if known is not None and (crl.last_update_utc, _crl_number(crl) or 0) <= (
            known.crl.last_update_utc,
            _crl_number(known.crl) or 0,
        ):
            return False
        revoked = {r.serial_number: r.revocation_date_utc for r in crl}
        st.current = _Current(crl, source, revoked, _expiry(crl))
        return True

    def _refresh(
        self, fetcher: CrlFetcher, st: _IssuerState, cert: ParsedCert, now: datetime
    ) -> None:
        """Fetch the issuer's CRL from ``cert``'s distribution points."""
        urls = distribution_points(cert)
        if not urls or (st.retry_at is not None and now < st.retry_at):
            return
        errors: list[str] = []
        for url in urls:
            try:
                crl = load_crl(fetcher.fetch(url))
            except CrlFetchError as exc:
                errors.append(exc.message)
                continue
            except ValueError as exc:
                errors.append(f"GET {url}: not a CRL: {exc}")
                continue
            why = unusable_reason(crl, st.issuer.cert)
            if why is None and _expiry(crl) < now:
                why = f"served CRL expired at {_expiry(crl).isoformat()}"
            if why is None and not self._install(st, crl, url):
                why = "served CRL is not newer than the one in use"
            if why is not None:
                errors.append(f"GET {url}: {why}")
                continue
            with self._lock:
                self.version += 1
            st.last_error, st.retry_at = None, None
            return
        st.last_error = "; ".join(errors)
        st.retry_at = now + fetcher.retry_after

    def _lookup(self, cert: ParsedCert, issuer: ParsedCert, now: datetime) -> _IssuerState:
        st = self._state(issuer)
        cur = st.current
        fetcher = self.fetcher
        if fetcher is not None and (cur is None or cur.expires < now):
            with st.lock:  # one fetch per issuer at a time; others wait for its result
                cur = st.current
                if cur is None or cur.expires < now:
                    self._refresh(fetcher, st, cert, now)
        return st

    def has_crl_for(self, issuer: x509.Certificate | ParsedCert) -> bool:
        """True when a signature-checked CRL of ``issuer`` is loaded."""
        return self._state(as_parsed(issuer)).current is not None

    def covers(
        self, cert: x509.Certificate | ParsedCert, issuer: x509.Certificate | ParsedCert
    ) -> bool:
        """Whether revocation of ``cert`` can be looked up at all.

        True when a CRL of its issuer is loaded, or a fetcher is configured and
        ``cert`` names an HTTP distribution point.
        """
        pc = as_parsed(cert)
        return self.has_crl_for(issuer) or (
            self.fetcher is not None and bool(distribution_points(pc))
        )

    def check(
        self,
        cert: x509.Certificate | ParsedCert,
        issuer: x509.Certificate | ParsedCert,
        at: datetime,
        now: datetime,
        *,
        required: bool = True,
    ) -> RevocationResult:
        """Was ``cert`` revoked at or before ``at``? ``now`` decides whether the CRL is stale.

        ``required=False`` (CA certificates) answers ``NOT_CHECKED`` instead of
        ``UNKNOWN`` when no CRL of the issuer is loaded and none can be fetched.
        """
        pc, pi = as_parsed(cert), as_parsed(issuer)
        st = self._lookup(pc, pi, now)
        entry = st.current
        err = f" (last error: {st.last_error})" if st.last_error else ""
        if entry is None and not required and st.last_error is None:
            return RevocationResult(
                RevocationStatus.NOT_CHECKED, "no CRL of the issuer is configured"
            )
        if entry is None:
            return RevocationResult(
                RevocationStatus.UNKNOWN,
                f"no CRL signed by {pi.info.subject} is available{err}",
            )
        revoked_at = entry.revoked.get(pc.cert.serial_number)
        if revoked_at is not None and revoked_at <= at:
            return RevocationResult(
                RevocationStatus.REVOKED,
                f"serial {pc.info.serial} revoked at {revoked_at.isoformat()} "
                f"(CRL from {entry.source})",
            )
        if entry.expires < now:
            return RevocationResult(
                RevocationStatus.UNKNOWN,
                f"CRL of {pi.info.subject} expired at {entry.expires.isoformat()}{err}",
            )
        return RevocationResult(RevocationStatus.GOOD)

    # -- operator view -----------------------------------------------------------
    def status(self, now: datetime) -> list[CrlStatus]:
        """Per issuer: the CRL in use, whether it is stale at ``now``, and the last error.

        CRLs loaded for an issuer no verified package has named yet are listed
        with ``verified=False`` (their signature is checked at first use).
        """
        out: list[CrlStatus] = []
        names_seen: set[bytes] = set()
        for st in list(self._issuers.values()):
            names_seen.add(st.name_der)
            cur = st.current
            out.append(
                CrlStatus(
                    issuer=st.issuer.info.subject,
                    source=cur.source if cur else None,
                    this_update=cur.crl.last_update_utc if cur else None,
                    next_update=cur.crl.next_update_utc if cur else None,
                    crl_number=_crl_number(cur.crl) if cur else None,
                    revoked=len(cur.revoked) if cur else 0,
                    verified=cur is not None,
                    stale=cur is None or cur.expires < now,
                    last_error=st.last_error,
                )
            )
        for name, cands in list(self._candidates.items()):
            if name in names_seen:
                continue
            for cand in cands:
                out.append(
                    CrlStatus(
                        issuer=cand.crl.issuer.rfc4514_string(),
                        source=cand.source,
                        this_update=cand.crl.last_update_utc,
                        next_update=cand.crl.next_update_utc,
                        crl_number=_crl_number(cand.crl),
                        revoked=len(cand.crl),
                        verified=False,
                        stale=_expiry(cand.crl) < now,
                        last_error=cand.error,
                    )
                )
        return out
