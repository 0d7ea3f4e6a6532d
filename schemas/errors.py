"""The root of every edoc-hub error.

Error tree (each package adds its own branch, mostly in its ``errors.py``)::

    EdocError                          schemas.errors — base; carries a hint
    ├── MalformedPackageError          the package cannot be read (reason ``malformed``)
    ├── signing.errors.SigningError
    │   ├── TrustStoreError            trust anchors / CRLs cannot be loaded
    │   ├── PKIError                   demo PKI tooling failed
    │   ├── SignerError                a package cannot be signed
    │   ├── ValidationTimeError        a caller's time is naive or outside 2000–2199
    │   ├── SignatureCheckError        a detached signature (seal, ticket) does not verify
    │   ├── CrlFetchError              a CRL cannot be fetched
    │   ├── CheckpointError, ProofError  signed notes and Merkle proofs (with their evidence)
    │   └── EdxmlError                 edXML: syntax, content, unsigned content
    ├── hub.errors.HubError
    │   ├── KafkaLauncherError         the local broker cannot be fetched/started
    │   ├── BrokerUnavailableError     the configured bootstrap is unreachable
    │   ├── KafkaLoginRefused          the brokers refuse this user's SASL login
    │   ├── DirectoryError             the agency directory is invalid
    │   ├── StoreError                 the database (AppendOnlyViolation: a rewrite was tried)
    │   ├── CoverageError              periods and agencies of coverage reports
    │   ├── KafkaSecurityError         ACL / SCRAM administration failed
    │   ├── BundleError                an evidence bundle cannot be built or read
    │   ├── RejectedNotFoundError      no such record on edoc.rejected
    │   └── DeadLetterError            a parked record cannot be found or replayed
    └── connectors.errors.ConnectorError
        ├── HubUnreachableError, KafkaAccessDenied
        ├── FolderError, OutboxEntryRefused
        └── WebhookError (RequestRefused)

Only the CLI turns these into exit codes; it prints ``str(err)`` and the hint,
never a traceback.
"""

from __future__ import annotations

from pydantic import ValidationError


class EdocError(Exception):
    """Base of all edoc-hub errors: a message plus a hint saying what to do next."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def diagnostics(self) -> str:
        """Human-readable one- or two-line description for a terminal."""
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class MalformedPackageError(EdocError):
    """The package is not readable: not JSON, bad base64, or a header that fails the schema.

    Maps to reason code ``malformed`` and to exit code 2 of ``edoc verify``.
    """

    exit_code = 2


def describe_validation_error(err: ValidationError) -> str:
    """``where: what`` of the first problem (and how many more), for one-line messages."""
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(root)"
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"
