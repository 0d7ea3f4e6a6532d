"""The package verifier: every check that decides a verdict, in numbered steps.

``Verifier.verify_bytes`` never raises for a bad package: whatever is wrong
becomes reason codes in the ``VerificationReport``. It raises only for a bad
call: ``ValidationTimeError`` when ``at``, ``received_at`` or ``now`` is naive
or outside 2000–2199 UTC. Every time the verifier computes with is therefore
bounded (``sent_at`` by the schema, these at entry, the clock skew at
construction), so ``at ± skew`` cannot overflow. Combination rule:

* every signature present must be valid (a bad co-signature taints the package);
* at least one signature must come from the sender — its certificate's
  organizationIdentifier equals the header's ``from`` — else ``sender_mismatch``;
* a package with no signature is ``unsigned``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from schemas.bounds import check_instant
from schemas.errors import MalformedPackageError
from schemas.header import Classification
from schemas.package import ParsedPackage, SignatureEntry, package_sha256, parse_package
from schemas.reasons import Reason
from schemas.report import AttachmentReport, SignatureReport, VerificationReport
from signing.certs import ParsedCert
from signing.crl import RevocationStatus
from signing.errors import SignatureCheckError, ValidationTimeError
from signing.policy import ChainValidator, check_validity, leaf_problems
from signing.profiles.base import SignatureProfile
from signing.profiles.cms import CmsProfile
from signing.profiles.jws import JwsProfile
from signing.profiles.xmldsig import XmlDsigProfile
from signing.trust import TrustStore

#: Detail prefix of a signature whose profile raised an unexpected exception.
PROFILE_BUG = "internal error in the signature profile"
#: Largest clock skew accepted: certificate validity is judged at ``at ± skew``.
MAX_CLOCK_SKEW = timedelta(days=1)


def default_profiles(*, allow_xmldsig_sha1: bool = False) -> dict[str, SignatureProfile]:
    """The profiles this hub implements, by wire name.

    ``allow_xmldsig_sha1`` accepts RSA-SHA1 / SHA-1 XML signatures (deployed
    edXML systems still make them) as a ``weak_algorithm`` warning.
    """
    return {
        "jws": JwsProfile(),
        "cms": CmsProfile(),
        "xmldsig": XmlDsigProfile(allow_sha1=allow_xmldsig_sha1),
    }


def _checked_times(**times: datetime | None) -> None:
    """Raise ``ValidationTimeError`` for a naive or out-of-range time given by the caller."""
    for name, value in times.items():
        if value is None:
            continue
        try:
            check_instant(value)
        except ValueError as exc:
            hint = "give a time with an offset, e.g. 2026-11-26T08:30:00+07:00"
            if value.utcoffset() is None:
                raise ValidationTimeError(
                    f"{name} must be timezone-aware, got {value!r}", hint=hint
                ) from None
            raise ValidationTimeError(f"{name} {value.isoformat()}: {exc}", hint=hint) from None


def _path_time(leaf: ParsedCert, extra: list[ParsedCert], at: datetime) -> datetime:
    """``at`` moved into the validity of the leaf and the supplied certificates.

    Falls back to the leaf alone when the supplied certificates share no common
    validity (e.g. an unrelated old certificate rides along).
    """
    lo = max(c.not_before for c in (leaf, *extra))
    hi = min(c.not_after for c in (leaf, *extra))
    if lo > hi:
        lo, hi = leaf.not_before, leaf.not_after
    return min(max(at, lo), hi)


def _in_range(when: datetime) -> bool:
    try:
        check_instant(when)
    except ValueError:
        return False
    return True


_ORDER = {r: i for i, r in enumerate(Reason)}


def _ordered(reasons: set[Reason]) -> list[Reason]:
    """Reason codes in their declaration order, so reports are stable."""
    return sorted(reasons, key=_ORDER.__getitem__)


class Verifier:
    """Verifies packages against a trust store and the document-signing policy."""

    def __init__(
        self,
        trust: TrustStore,
        *,
        profiles: Mapping[str, SignatureProfile] | None = None,
        clock_skew: timedelta = timedelta(minutes=5),
        freshness: timedelta = timedelta(minutes=15),
        revocation_fail_open: bool = False,
        max_package_bytes: int | None = None,
    ) -> None:
        if not timedelta(0) <= clock_skew <= MAX_CLOCK_SKEW:
            raise ValueError(f"clock_skew must be between 0 and {MAX_CLOCK_SKEW}, got {clock_skew}")
        self.trust = trust
        self.profiles = dict(profiles) if profiles is not None else default_profiles()
        self.clock_skew = clock_skew
        self.freshness = freshness
        self.revocation_fail_open = revocation_fail_open
        self.max_package_bytes = max_package_bytes
        self.chains = ChainValidator(trust.anchors)
        self._anchors_version = trust.anchors_version

    def verify_bytes(
        self,
        raw: bytes,
        *,
        at: datetime | None = None,
        received_at: datetime | None = None,
        now: datetime | None = None,
    ) -> VerificationReport:
        """Verify raw package bytes; unreadable input yields a ``malformed`` report."""
        _checked_times(at=at, received_at=received_at, now=now)
        # Step 0: size, before spending any effort on the content.
        if self.max_package_bytes is not None and len(raw) > self.max_package_bytes:
            return VerificationReport(
                verdict="rejected",
                reasons=[Reason.TOO_LARGE],
                package_sha256=package_sha256(raw),
                received_at=received_at,
                details=[f"package is {len(raw)} bytes, limit {self.max_package_bytes}"],
            )
        # Step 1: parse the envelope and the header.
        try:
            parsed = parse_package(raw)
        except MalformedPackageError as exc:
            return VerificationReport(
                verdict="rejected",
                reasons=[Reason.MALFORMED],
                package_sha256=package_sha256(raw),
                received_at=received_at,
                details=[exc.message],
            )
        return self.verify(parsed, at=at, received_at=received_at, now=now)

    def verify(
        self,
        parsed: ParsedPackage,
        *,
        at: datetime | None = None,
        received_at: datetime | None = None,
        now: datetime | None = None,
    ) -> VerificationReport:
        """Verify a parsed package. ``at`` overrides the validation time (default ``sent_at``).

        Times must be timezone-aware and within 2000–2199 UTC, else ``ValidationTimeError``.
        """
        _checked_times(at=at, received_at=received_at, now=now)
        header = parsed.header
        # Certificate and CRL times are in UTC; comparing like with like keeps
        # every check cheap (a foreign tzinfo costs a call per comparison).
        now = (now or datetime.now(UTC)).astimezone(UTC)
        reasons: set[Reason] = set()
        details: list[str] = []
        # Step 2: content policy — secret documents never travel through the hub.
        if header.document and header.document.classification is Classification.SECRET:
            reasons.add(Reason.CLASSIFIED)
            details.append("classification 'secret' is refused by policy")
        # Step 3: freshness of sent_at against the receive time (hub only).
        if received_at is not None and abs(received_at - header.sent_at) > self.freshness:
            reasons.add(Reason.STALE)
            details.append(
                f"sent_at {header.sent_at.isoformat()} is more than "
                f"{int(self.freshness.total_seconds())} s from receive time "
                f"{received_at.isoformat()}"
            )
        validation_time = at or header.sent_at
        # Step 4: every signature.
        sig_reports = [
            self._verify_signature(i, entry, parsed, at=validation_time.astimezone(UTC), now=now)
            for i, entry in enumerate(parsed.package.signatures)
        ]
        if not sig_reports:
            reasons.add(Reason.UNSIGNED)
            details.append("the package carries no signature")
        warnings: set[Reason] = set()
        for sr in sig_reports:
            reasons.update(sr.reasons)
            warnings.update(sr.warnings)
        # Step 5: sender binding — some signature must be by the sender itself
        # (its own validity is judged in step 4).
        signers = [sr.signer.organization_identifier for sr in sig_reports if sr.signer]
        if signers and header.sender not in signers:
            reasons.add(Reason.SENDER_MISMATCH)
            details.append(
                f"no signature by sender {header.sender}; signed by: "
                + ", ".join(sorted(s or "(no organizationIdentifier)" for s in signers))
            )
        # Step 6: attachments against the manifest.
        att_reports = self._check_attachments(parsed)
        if any(not a.valid for a in att_reports):
            reasons.add(Reason.DIGEST_MISMATCH)
        return VerificationReport(
            verdict="rejected" if reasons else "ok",
            reasons=_ordered(reasons),
            message_id=header.message_id,
            kind=header.kind,
            **{"from": header.sender},
            to=list(header.to),
            sent_at=header.sent_at,
            validation_time=validation_time,
            received_at=received_at,
            header_sha256=parsed.header_sha256,
            package_sha256=package_sha256(parsed.raw),
            signatures=sig_reports,
            attachments=att_reports,
            details=details,
            warnings=_ordered(warnings),
        )

    def _verify_signature(
        self,
        index: int,
        entry: SignatureEntry,
        parsed: ParsedPackage,
        *,
        at: datetime,
        now: datetime,
    ) -> SignatureReport:
        profile = self.profiles.get(entry.profile)
        if profile is None:
            return SignatureReport(
                index=index,
                profile=entry.profile,
                valid=False,
                reasons=[Reason.UNSUPPORTED_PROFILE],
                details=[
                    f"profile {entry.profile!r} not supported "
                    f"(have: {', '.join(sorted(self.profiles))})"
                ],
            )
        # 4a: decode and check the signature maths.
        try:
            result = profile.verify(entry.value, parsed.header_bytes)
        except SignatureCheckError as exc:
            return SignatureReport(
                index=index,
                profile=entry.profile,
                valid=False,
                reasons=[exc.reason],
                details=[exc.message],
            )
        except Exception as exc:
            # A profile bug must reject the package, never crash the hub; the
            # property tests assert this branch is never taken.
            return SignatureReport(
                index=index,
                profile=entry.profile,
                valid=False,
                reasons=[Reason.BAD_SIGNATURE],
                details=[f"{PROFILE_BUG}: {type(exc).__name__}: {exc}"],
            )
        leaf = result.signer_cert
        problems = list(result.problems)
        # 4b: leaf policy — key strength, key usage, validity at the validation time.
        problems += leaf_problems(leaf)
        problems += check_validity(leaf, at, self.clock_skew)
        # 4c: path to a trust anchor, built at a time inside the certificates'
        # validity so an expired certificate is reported as expired (4b, 4d),
        # not also as untrusted.
        chain: list[ParsedCert] = []
        try:
            chain = self._chains().validate(leaf, result.extra, _path_time(leaf, result.extra, at))
        except SignatureCheckError as exc:
            problems.append(exc)
        # 4d: validity of the CA certificates and revocation of every non-anchor
        # certificate in the path.
        for cert in chain[1:]:
            problems += check_validity(cert, at, self.clock_skew)
        for idx, cert in enumerate(chain[:-1]):
            problems += self._check_revocation(cert, chain[idx + 1], at, now, is_leaf=idx == 0)
        # 4e: this signature's own sender binding is judged at package level (step 5).
        reasons: list[Reason] = []
        for p in problems:
            if p.reason not in reasons:
                reasons.append(p.reason)
        details = [p.message for p in problems]
        details += [w.message for w in result.warnings] + result.notes
        signing_time = result.signing_time
        if signing_time is not None and not _in_range(signing_time):
            # Reported, never judged (docs/signing.md); a value no report can hold is dropped.
            details.append(f"signingTime {signing_time.isoformat()} is out of range; not reported")
            signing_time = None
        if leaf.organization_identifier is None:
            details.append("signer certificate has no organizationIdentifier")
        return SignatureReport(
            index=index,
            profile=entry.profile,
            algorithm=result.algorithm,
            valid=not reasons,
            reasons=reasons,
            signer=leaf.info,
            chain=[c.sha256 for c in chain] or [leaf.sha256],
            signing_time=signing_time,
            details=details,
            warnings=_ordered({w.reason for w in result.warnings}),
        )

    def _chains(self) -> ChainValidator:
        # The anchors changed since the validator was built: its cache is void.
        if self._anchors_version != self.trust.anchors_version:
            self.chains = ChainValidator(self.trust.anchors)
            self._anchors_version = self.trust.anchors_version
        return self.chains

    def _check_revocation(
        self,
        cert: ParsedCert,
        issuer: ParsedCert,
        at: datetime,
        now: datetime,
        *,
        is_leaf: bool,
    ) -> list[SignatureCheckError]:
        # CA certificates are checked only when their issuer's CRL can be had.
        result = self.trust.crls.check(cert, issuer, at, now, required=is_leaf)
        if result.status is RevocationStatus.REVOKED:
            return [SignatureCheckError(Reason.CERT_REVOKED, result.detail)]
        if result.status is RevocationStatus.UNKNOWN and not self.revocation_fail_open:
            return [SignatureCheckError(Reason.REVOCATION_UNKNOWN, result.detail)]
        return []

    @staticmethod
    def _check_attachments(parsed: ParsedPackage) -> list[AttachmentReport]:
        out: list[AttachmentReport] = []
        manifest = {a.id: a for a in parsed.header.attachments}
        for att_id, ref in manifest.items():
            data = parsed.attachments.get(att_id)
            if data is None:
                out.append(AttachmentReport(id=att_id, valid=False, detail="content missing"))
            elif len(data) != ref.size:
                out.append(
                    AttachmentReport(
                        id=att_id, valid=False, detail=f"size {len(data)}, manifest says {ref.size}"
                    )
                )
            elif hashlib.sha256(data).hexdigest() != ref.sha256:
                out.append(AttachmentReport(id=att_id, valid=False, detail="SHA-256 differs"))
            else:
                out.append(AttachmentReport(id=att_id, valid=True))
        for att_id in parsed.attachments.keys() - manifest.keys():
            out.append(
                AttachmentReport(id=att_id, valid=False, detail="not in the signed manifest")
            )
        return out
