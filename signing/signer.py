"""Building and signing packages (agency side, hub receipts, tests and demos)."""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pybase64
from cryptography import x509

from schemas.header import AttachmentRef, Header
from schemas.package import AttachmentContent, Package, SignatureEntry, b64url_encode
from signing.edxml.sign import sign_edxml
from signing.errors import SignerError
from signing.keys import SigningKey, load_cert_chain, load_private_key
from signing.profiles import cms, jws

#: Profiles this module can produce over header bytes.
SIGNING_PROFILES = ("jws", "cms")
#: The profile that signs an edXML document rather than header bytes (``Signer.sign_edxml``).
EDXML_PROFILE = "xmldsig"


@dataclass(frozen=True)
class Signer:
    """A key with its certificate chain (leaf first) and the profile to sign with."""

    key: SigningKey
    chain: list[x509.Certificate]
    profile: str = "jws"

    @classmethod
    def from_files(
        cls, key: Path, cert: Path, chain: Path | None = None, profile: str = "jws"
    ) -> Signer:
        """Load a PEM key, its certificate and optional extra chain certificates."""
        certs = load_cert_chain(cert) + (load_cert_chain(chain) if chain else [])
        # A chain file that repeats the leaf is common; keep each certificate once.
        unique: list[x509.Certificate] = []
        for c in certs:
            if c not in unique:
                unique.append(c)
        return cls(load_private_key(key), unique, profile)

    def sign(self, header_bytes: bytes) -> SignatureEntry:
        """Detached signature over ``header_bytes`` in this signer's profile."""
        if self.profile == "jws":
            return SignatureEntry(profile="jws", value=jws.sign(header_bytes, self.key, self.chain))
        if self.profile == "cms":
            # Intermediates ride along (openssl cms -certfile) so any hub can build the path.
            return SignatureEntry(profile="cms", value=cms.sign(header_bytes, self.key, self.chain))
        if self.profile == EDXML_PROFILE:
            raise SignerError(
                "profile 'xmldsig' signs an edXML document, not header bytes",
                hint="use Signer.sign_edxml, or connectors.edxml.EdxmlAdapter for packages",
            )
        raise SignerError(
            f"cannot sign with profile {self.profile!r}", hint=f"use one of {SIGNING_PROFILES}"
        )

    def sign_edxml(self, document: bytes) -> bytes:
        """``document`` (edXML) with this signer's enveloped XML-DSig added (profile ``xmldsig``).

        The result is what ``signing.edxml.edxml_package`` turns into a package.
        """
        return sign_edxml(document, self.key, self.chain)


def attachment_ref(
    att_id: str, name: str, data: bytes, media_type: str | None = None
) -> AttachmentRef:
    """The manifest entry for ``data``."""
    mt = media_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    return AttachmentRef(
        id=att_id, name=name, media_type=mt, size=len(data), sha256=hashlib.sha256(data).hexdigest()
    )


def read_attachments(paths: list[Path]) -> tuple[list[AttachmentRef], dict[str, bytes]]:
    """Manifest entries and contents for files, with ids ``a1``, ``a2`` …"""
    refs: list[AttachmentRef] = []
    contents: dict[str, bytes] = {}
    for i, path in enumerate(paths, start=1):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SignerError(f"cannot read attachment {path}: {exc.strerror}") from None
        att_id = f"a{i}"
        refs.append(attachment_ref(att_id, path.name, data))
        contents[att_id] = data
    return refs, contents


def build_package(
    header: Header | bytes, attachments: Mapping[str, bytes], signers: list[Signer]
) -> Package:
    """Serialise (or take) the header bytes, sign them with every signer, attach contents."""
    header_bytes = header.to_json_bytes() if isinstance(header, Header) else header
    if not signers:
        raise SignerError("a package needs at least one signer")
    return Package(
        header=b64url_encode(header_bytes),
        signatures=[s.sign(header_bytes) for s in signers],
        attachments=[
            AttachmentContent(id=k, content=pybase64.b64encode(v).decode())
            for k, v in attachments.items()
        ],
    )
