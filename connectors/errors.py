"""Errors raised on the agency side (SDK and adapters)."""

from __future__ import annotations

from schemas.errors import EdocError


class ConnectorError(EdocError):
    """Base of the connectors' errors."""


class HubUnreachableError(ConnectorError):
    """The hub's Kafka bootstrap address does not answer."""

    def __init__(self, bootstrap: str, detail: str = "", *, user: str | None = None) -> None:
        msg = f"Kafka broker not reachable at {bootstrap}"
        hint = "check EDOC_KAFKA_BOOTSTRAP, or start a broker: `edoc local kafka start`"
        if user:  # a refused SCRAM login closes the connection: it looks the same
            hint += f"; or the login of {user} was refused (password, or a deactivated agency)"
        super().__init__(f"{msg} ({detail})" if detail else msg, hint=hint)
        self.bootstrap = bootstrap


class KafkaAccessDenied(ConnectorError):
    """The hub's Kafka refused this agency's login or the topic/group it asked for."""

    def __init__(self, what: str, detail: str) -> None:
        super().__init__(
            f"Kafka refused {what} ({detail})",
            hint="check EDOC_KAFKA_USERNAME/EDOC_KAFKA_PASSWORD (the credentials the hub operator "
            "gave the agency); an agency reads only its own inbox and uses consumer groups "
            "named agency-<code>.* (docs/kafka-security.md)",
        )


class FolderError(ConnectorError):
    """The drop folder cannot be used: not even a received message's parked copy fits in it."""


class OutboxEntryRefused(ConnectorError):
    """An outbox entry is not sent: a link, a folder, a fifo, or too large (filed in failed/)."""


class WebhookError(ConnectorError):
    """The HTTP webhook adapter is misconfigured or cannot keep its state (docs/webhook.md)."""


class RequestRefused(WebhookError):
    """The adapter's local endpoint refuses a request: HTTP ``status``, stable ``reason``."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
