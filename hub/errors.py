"""Errors raised by the hub's services, launcher and store."""

from __future__ import annotations

from schemas.errors import EdocError


class HubError(EdocError):
    """Base of the hub's errors."""


class KafkaLauncherError(HubError):
    """The local development broker could not be fetched, formatted, started or stopped."""


class BrokerUnavailableError(HubError):
    """The Kafka bootstrap address does not answer."""

    def __init__(self, bootstrap: str, detail: str = "") -> None:
        msg = f"Kafka broker not reachable at {bootstrap}"
        if detail:
            msg += f" ({detail})"
        super().__init__(
            msg,
            hint="start one with `edoc local kafka start` or set EDOC_KAFKA_BOOTSTRAP",
        )
        self.bootstrap = bootstrap


class DirectoryError(HubError):
    """The agency directory file or an update to it is invalid."""


class StoreError(HubError):
    """The database cannot be reached, migrated, or refused an operation."""


class AppendOnlyViolation(StoreError):
    """Someone tried to change or delete a signature-log row."""
