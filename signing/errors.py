"""Errors of the signing layer (trust store, PKI tooling, signer, profiles)."""

from __future__ import annotations

from schemas.errors import EdocError
from schemas.reasons import Reason


class SigningError(EdocError):
    """Base of the signing layer's errors."""


class TrustStoreError(SigningError):
    """Trust anchors or CRLs could not be loaded."""


class PKIError(SigningError):
    """The demo/test PKI tooling could not complete."""


class SignerError(SigningError):
    """A package could not be built or signed (bad key, certificate, or input file)."""


class ValidationTimeError(SigningError, ValueError):
    """A time given to the verifier (``at``, ``received_at``, ``now``) is unusable.

    Naive, or outside 2000–2199 UTC (``schemas.bounds``): the caller's mistake,
    not the package's, so it is raised rather than reported. A ``ValueError``
    too, for callers that caught the plain one this used to be.
    """

    exit_code = 2  # a bad option, as typer reports its own


class SignatureCheckError(SigningError):
    """One signature failed a check; ``reason`` is the stable reason code.

    Raised inside the verifier and turned into report entries — never escapes
    ``Verifier.verify``.
    """

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
