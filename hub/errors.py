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


class ServiceReplacedError(HubError):
    """Another process took this service's place (e.g. a router fenced by its replacement).

    ``edoc serve`` does not restart a service for this: the process stops, so a
    frozen or duplicate process cannot keep coming back (docs/security.md).
    """


class KafkaLoginRefused(HubError):
    """The brokers answer but refuse this process's SASL login (user, password, or revoked)."""

    def __init__(self, bootstrap: str, user: str, detail: str = "") -> None:
        msg = f"Kafka at {bootstrap} refused the login of user {user!r}: authentication failed"
        if detail:
            msg += f" ({detail})"
        super().__init__(
            msg,
            hint="check EDOC_KAFKA_USERNAME and EDOC_KAFKA_PASSWORD (and "
            "EDOC_KAFKA_SASL_MECHANISM) against the credentials issued for this user "
            "(`edoc kafka provision`); a revoked user or a deactivated agency is refused "
            "the same way",
        )
        self.bootstrap = bootstrap
        self.user = user


class DirectoryError(HubError):
    """The agency directory file or an update to it is invalid."""


class StoreError(HubError):
    """The database cannot be reached, migrated, or refused an operation."""


class AppendOnlyViolation(StoreError):
    """Someone tried to change or delete a signature-log row."""
