"""Errors raised on the agency side (SDK and adapters)."""

from __future__ import annotations

from schemas.errors import EdocError


class ConnectorError(EdocError):
    """Base of the connectors' errors."""


class HubUnreachableError(ConnectorError):
    """The hub's Kafka bootstrap address does not answer."""

    def __init__(self, bootstrap: str, detail: str = "") -> None:
        msg = f"Kafka broker not reachable at {bootstrap}"
        super().__init__(
            f"{msg} ({detail})" if detail else msg,
            hint="check EDOC_KAFKA_BOOTSTRAP, or start a broker: `edoc local kafka start`",
        )
        self.bootstrap = bootstrap


class WebhookError(ConnectorError):
    """The HTTP webhook adapter is misconfigured or cannot keep its state (docs/webhook.md)."""


class RequestRefused(WebhookError):
    """The adapter's local endpoint refuses a request: HTTP ``status``, stable ``reason``."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
