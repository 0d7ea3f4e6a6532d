"""Stable reason codes carried in verdicts, rejections and status 02 receipts.

Codes are part of the wire contract: add new ones, never rename or remove.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a package was accepted or refused (``ok`` only ever appears alone)."""

    OK = "ok"
    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    DIGEST_MISMATCH = "digest_mismatch"
    UNTRUSTED_CHAIN = "untrusted_chain"
    CERT_EXPIRED = "cert_expired"
    CERT_NOT_YET_VALID = "cert_not_yet_valid"
    CERT_REVOKED = "cert_revoked"
    REVOCATION_UNKNOWN = "revocation_unknown"
    KEY_USAGE = "key_usage"
    WEAK_KEY = "weak_key"
    WEAK_ALGORITHM = "weak_algorithm"
    SENDER_MISMATCH = "sender_mismatch"
    UNKNOWN_SENDER = "unknown_sender"
    UNKNOWN_RECIPIENT = "unknown_recipient"
    DUPLICATE = "duplicate"
    STALE = "stale"
    TOO_LARGE = "too_large"
    CLASSIFIED = "classified"
    #: added: the package names a signature profile this hub does not implement
    UNSUPPORTED_PROFILE = "unsupported_profile"
    #: added: the package carries no signature at all
    UNSIGNED = "unsigned"
    #: added: a status refers to a document the hub never delivered to its sender
    UNKNOWN_REFERENCE = "unknown_reference"
    #: added: the hub failed while deciding (a defect in the hub, never the sender's fault
    #: alone); the package is refused and kept on ``edoc.rejected`` for reprocessing
    UNPROCESSABLE = "unprocessable"
    #: added: an XML document carries content its signature does not cover
    UNSIGNED_CONTENT = "unsigned_content"


#: One line per code, for reports, receipts and the console.
DESCRIPTIONS: dict[Reason, str] = {
    Reason.OK: "all checks passed",
    Reason.MALFORMED: "the package or its header cannot be read or fails the schema",
    Reason.BAD_SIGNATURE: "a signature does not verify over the header bytes or cannot be decoded",
    Reason.DIGEST_MISMATCH: "an attachment's bytes do not match the manifest's size or SHA-256",
    Reason.UNTRUSTED_CHAIN: "the signer certificate does not chain to a trusted anchor",
    Reason.CERT_EXPIRED: "a certificate had expired at the validation time",
    Reason.CERT_NOT_YET_VALID: "a certificate was not yet valid at the validation time",
    Reason.CERT_REVOKED: "a certificate was revoked at or before the validation time",
    Reason.REVOCATION_UNKNOWN: "no current CRL was available to check revocation",
    Reason.KEY_USAGE: "the signer certificate is not for document signing (keyUsage, "
    "extendedKeyUsage, or a CA certificate)",
    Reason.WEAK_KEY: "the signer key is weaker than RSA-2048 or EC P-256",
    Reason.WEAK_ALGORITHM: "the signature algorithm is not allowed",
    Reason.SENDER_MISMATCH: "the signer's organizationIdentifier is not the header's sender",
    Reason.UNKNOWN_SENDER: "the sender is not an active agency in the directory",
    Reason.UNKNOWN_RECIPIENT: "a recipient is not an active agency in the directory",
    Reason.DUPLICATE: "this message_id was already accepted",
    Reason.STALE: "sent_at is outside the freshness window around the receive time",
    Reason.TOO_LARGE: "the package exceeds the configured size limit",
    Reason.CLASSIFIED: "secret documents must never travel through the hub",
    Reason.UNSUPPORTED_PROFILE: "a signature uses a profile this hub does not implement",
    Reason.UNSIGNED: "the package carries no signature",
    Reason.UNKNOWN_REFERENCE: "the status answers a document the hub did not deliver to its sender",
    Reason.UNPROCESSABLE: "the hub could not process this package; an operator can reprocess it",
    Reason.UNSIGNED_CONTENT: "the XML carries content its signature does not cover",
}
