"""Errors of the coverage report: a bad period, an unknown agency, a bad time zone."""

from __future__ import annotations

from hub.errors import HubError


class CoverageError(HubError):
    """A coverage request or configuration cannot be honoured; the hint says what to pass."""


class PeriodError(CoverageError):
    """A period is not ``YYYY-MM``, ``YYYY-Qn`` or ``YYYY``."""

    def __init__(self, text: str) -> None:
        super().__init__(
            f"invalid period {text!r}",
            hint="use YYYY-MM (2026-11), YYYY-Qn (2026-Q4) or YYYY (2026)",
        )
        self.text = text


class UnknownAgencyError(CoverageError):
    """The agency asked for is not in the directory."""

    def __init__(self, code: str) -> None:
        super().__init__(
            f"agency {code} is not in the directory",
            hint="pass a code listed by `edoc directory show`",
        )
        self.code = code
